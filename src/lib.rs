//! # xbpf
//!
//! A userspace eBPF runtime: a reference interpreter, JIT compilers, a verifier and a
//! conformance runner for RFC 9669 bytecode. This crate is the facade over the workspace
//! crates, plus program loading and the engine registry the CLI uses.

pub mod elf;
pub mod engines;
pub mod format;
pub mod helpers;
pub mod maps;
pub mod program_types;
pub mod runtime;

pub use xbpf_conformance as conformance;
pub use xbpf_interp as interp;
pub use xbpf_isa as isa;
pub use xbpf_jit as jit;
pub use xbpf_verifier as verifier;
