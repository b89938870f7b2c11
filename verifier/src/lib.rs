//! # xbpf-verifier
//!
//! An abstract-interpretation verifier for eBPF programs.

pub mod cfg;
pub mod checks;
pub mod concrete;
pub mod domain;
pub mod helpers;
pub mod maps;
pub mod program_type;
pub mod wto;
