//! # xbpf-isa
//!
//! The eBPF instruction set as RFC 9669 defines it: raw slots ([`Insn`]), decoded instructions
//! ([`Instruction`]), validated programs ([`Program`]), and the execution ABI shared by every
//! engine ([`exec`]): memory regions, helpers, run inputs, errors and the [`Engine`] trait; plus
//! the assembler ([`assemble`]) and disassembler ([`disassemble`]) of the bpf_conformance syntax.
//!
//! The crate builds without `std` (`default-features = false`), needing only `alloc`, so
//! embedded hosts can use it with the interpreter.

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

/// The `alloc` names the `std` prelude would provide, for `no_std` builds.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

pub mod asm;
pub mod disasm;
pub mod exec;
pub mod insn;
pub mod instruction;
pub mod program;
#[cfg(feature = "random")]
pub mod random;

pub use asm::{AsmError, AsmErrorKind, assemble};
pub use disasm::disassemble;
pub use exec::{
    Access, Engine, ExecConfig, ExecError, Executable, HelperContext, HelperError, HelperTable,
    MemoryMap, PrepareError, Region, RunInput,
};
pub use insn::{Insn, SLOT_SIZE};
pub use instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, DecodeError, Instruction, JmpCond, LoadImmKind,
    MemSize, PacketMode, Reg, Source, Width,
};
pub use program::{Program, ValidationError};
