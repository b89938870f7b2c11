//! Maps in portable Rust: array, hash, per-CPU array and hash, LRU hash, queue, stack, ring
//! buffer, perf event array, program array, array and hash of maps.
//!
//! Memory model: each map's values live in one fixed arena allocated at creation, which never
//! moves or shrinks while the map lives, because `bpf_map_lookup_elem` hands programs raw
//! pointers into it. The arena is declared as a region of every run, so even unverified
//! programs (with runtime bounds checks) can only touch map memory that exists. Maps are
//! `Send + Sync` with interior locking: several programs and the host may use one at once.

pub mod arena;
pub mod cpu;
pub mod error;
pub mod hash;
pub mod map;
pub mod registry;
pub mod ringbuf;
pub mod spec;

pub use error::{BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapError};
pub use map::{DEFAULT_MAX_MAP_BYTES, Lookup, Map};
pub use registry::{MapId, MapRegistry, handle_of, id_of_handle};
pub use spec::{MapOrigin, MapSpec, MapType, SlotTarget};

#[cfg(test)]
mod tests;
