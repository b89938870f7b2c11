//! # xbpf
//!
//! A userspace eBPF runtime. This crate is the facade over the workspace crates.

pub use xbpf_interp as interp;
pub use xbpf_isa as isa;
