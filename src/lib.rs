//! # xbpf
//!
//! A userspace eBPF runtime: a reference interpreter, JIT compilers, a verifier and a
//! conformance runner for RFC 9669 bytecode. This crate is the facade over the workspace
//! crates, plus program loading and the engine registry the CLI uses.
//!
//! A host embeds it through [`runtime::Runtime`]: pick an engine, register the helpers the
//! host offers, load programs (clang-built ELF objects with their maps, or assembly), then run
//! them on a context the program reads and writes through r1:
//!
//! ```
//! use xbpf::engines::engine_by_name;
//! use xbpf::isa::HelperError;
//! use xbpf::runtime::Runtime;
//!
//! let mut runtime = Runtime::new(engine_by_name("interp").expect("always built"));
//! // Helper 0x10000: the host doubles its first argument.
//! runtime.register_helper(0x10000, "double", |_context, args| -> Result<u64, HelperError> {
//!     Ok(args[0] * 2)
//! });
//! // r0 = double(*(u32 *)(ctx + 0)) + 1
//! let program = runtime.load_asm("ldxw %r1, [%r1]\ncall 0x10000\nadd %r0, 1\nexit", &[])?;
//! let mut ctx = 20u32.to_le_bytes();
//! assert_eq!(runtime.run(program, &mut ctx)?, 41);
//! # Ok::<(), xbpf::runtime::RuntimeError>(())
//! ```
//!
//! `examples/host` in the repository is a complete plugin sandbox with its own hook type and
//! verification; `xbpf-capi` offers the same runtime to C hosts.

#![warn(missing_docs)]

pub mod corpus;
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
