//! # xbpf-isa
//!
//! The eBPF instruction set as RFC 9669 defines it: raw slots ([`Insn`]), decoded instructions
//! ([`Instruction`]), validated programs ([`Program`]), and the execution ABI shared by every
//! engine ([`exec`]): memory regions, helpers, run inputs, errors and the [`Engine`] trait; plus
//! the assembler ([`assemble`]) and disassembler ([`disassemble`]) of the bpf_conformance syntax.

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
