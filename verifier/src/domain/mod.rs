//! Abstract domains: scalars (intervals and known bits), value types, the zone of difference
//! constraints, the byte-level stack, and the state that combines them.

pub mod disjunction;
pub mod interval;
pub mod stack;
pub mod state;
pub mod tnum;
pub mod types;
pub mod zone;
