//! Shared helpers of the JIT integration tests.

#![allow(dead_code)]

use std::path::PathBuf;
use xbpf_isa::{Insn, Instruction, Program};

/// The shared test data directory (`../shared` from the repository root).
pub fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    assert!(
        dir.is_dir(),
        "the shared test data folder is missing: {} (tests need ../shared next to the repository)",
        dir.display()
    );
    dir
}

/// Builds and validates a program from decoded instructions.
pub fn program(instructions: &[Instruction]) -> Program {
    let slots: Vec<Insn> = instructions.iter().flat_map(|i| i.encode()).collect();
    Program::new(slots).expect("test program must validate")
}

/// Decodes a hex string into bytes.
pub fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

use std::sync::Arc;
use xbpf_isa::{
    AluOp, AtomicOp, CallTarget, Engine, ExecConfig, ExecError, HelperTable, JmpCond, LoadImmKind,
    MemSize, PacketMode, Reg, RunInput, Source, Width,
};

pub fn r(number: u8) -> Reg {
    Reg::new(number).unwrap()
}

pub fn imm(value: i32) -> Source {
    Source::Imm(value)
}

pub fn reg(number: u8) -> Source {
    Source::Reg(r(number))
}

pub fn alu(width: Width, op: AluOp, dst: u8, src: Source) -> Instruction {
    Instruction::Alu {
        width,
        op,
        dst: r(dst),
        src,
    }
}

pub fn alu64(op: AluOp, dst: u8, src: Source) -> Instruction {
    alu(Width::W64, op, dst, src)
}

pub fn mov64(dst: u8, src: Source) -> Instruction {
    alu64(AluOp::Mov, dst, src)
}

pub fn lddw(dst: u8, value: u64) -> Instruction {
    Instruction::LoadImm64 {
        dst: r(dst),
        kind: LoadImmKind::Imm,
        imm: value,
    }
}

pub fn exit() -> Instruction {
    Instruction::Exit
}

pub fn ja(off: i32) -> Instruction {
    Instruction::Ja { off, long: false }
}

pub fn jump(width: Width, cond: JmpCond, dst: u8, src: Source, off: i16) -> Instruction {
    Instruction::Jump {
        width,
        cond,
        dst: r(dst),
        src,
        off,
    }
}

pub fn call_local(off: i32) -> Instruction {
    Instruction::Call(CallTarget::Local(off))
}

pub fn call_helper(id: i32) -> Instruction {
    Instruction::Call(CallTarget::Helper(id))
}

pub fn callx(register: u8) -> Instruction {
    Instruction::Callx(r(register))
}

pub fn ldx(size: MemSize, dst: u8, src: u8, off: i16) -> Instruction {
    Instruction::Load {
        size,
        sign_extend: false,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn ldxs(size: MemSize, dst: u8, src: u8, off: i16) -> Instruction {
    Instruction::Load {
        size,
        sign_extend: true,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn st(size: MemSize, dst: u8, off: i16, value: i32) -> Instruction {
    Instruction::Store {
        size,
        dst: r(dst),
        off,
        src: Source::Imm(value),
    }
}

pub fn stx(size: MemSize, dst: u8, off: i16, src: u8) -> Instruction {
    Instruction::Store {
        size,
        dst: r(dst),
        off,
        src: reg(src),
    }
}

pub fn atomic(width: Width, op: AtomicOp, fetch: bool, dst: u8, src: u8, off: i16) -> Instruction {
    Instruction::Atomic {
        width,
        op,
        fetch,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn ld_abs(size: MemSize, offset: i32) -> Instruction {
    Instruction::LoadPacket {
        size,
        mode: PacketMode::Abs,
        imm: offset,
    }
}

pub fn ld_ind(size: MemSize, register: u8, offset: i32) -> Instruction {
    Instruction::LoadPacket {
        size,
        mode: PacketMode::Ind(r(register)),
        imm: offset,
    }
}

/// A configuration with these helpers and fuel.
pub fn config(helpers: HelperTable, fuel: Option<u64>) -> ExecConfig {
    ExecConfig {
        fuel,
        helpers: Arc::new(helpers),
        ..ExecConfig::default()
    }
}

/// Compiles with the JIT and runs once.
pub fn run_with(
    instructions: &[Instruction],
    config: &ExecConfig,
    input: &RunInput<'_>,
) -> Result<u64, ExecError> {
    let program = program(instructions);
    let mut executable = xbpf_jit::Jit::new()
        .prepare(&program, config)
        .expect("the JIT compiles every valid program");
    executable.run(input)
}

/// Runs with the default configuration, r1..r5 = `args` and no memory.
pub fn run_args(instructions: &[Instruction], args: [u64; 5]) -> Result<u64, ExecError> {
    let mut input = RunInput::empty();
    input.args = args;
    run_with(instructions, &ExecConfig::default(), &input)
}

/// Runs with the default configuration and no input.
pub fn run(instructions: &[Instruction]) -> Result<u64, ExecError> {
    run_args(instructions, [0; 5])
}

/// A byte buffer with 8-byte alignment (atomics in generated programs stay within a word),
/// placed between unused guard words: wild accesses of generated programs relative to some
/// other buffer (an engine's stack) can never land in it, whatever the allocator does.
pub struct AlignedMemory {
    words: Vec<u64>,
    len: usize,
}

/// Guard words on each side: more than generated programs reach past the stack (8 KiB).
const GUARD_WORDS: usize = 1024;

impl AlignedMemory {
    pub fn new(bytes: &[u8]) -> AlignedMemory {
        let mut memory = AlignedMemory {
            words: vec![0; bytes.len().div_ceil(8) + 2 * GUARD_WORDS],
            len: bytes.len(),
        };
        memory.bytes_mut().copy_from_slice(bytes);
        memory
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: past the leading guard the words own at least `len` initialised bytes, and u8
        // has no alignment requirement; the returned slice borrows `self` mutably.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.words.as_mut_ptr().add(GUARD_WORDS).cast::<u8>(),
                self.len,
            )
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift) for seeded generator runs.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// An error with its host address removed (addresses differ between runs on different
/// buffers); everything else is kept.
pub fn without_addresses(error: &ExecError) -> ExecError {
    match error {
        ExecError::OutOfBounds {
            pc, access, size, ..
        } => ExecError::OutOfBounds {
            pc: *pc,
            access: *access,
            addr: 0,
            size: *size,
        },
        other => other.clone(),
    }
}

/// The JIT variants whose code differs on this host besides the calling convention: on ARM64,
/// with the CPU's optional extensions (LSE atomics where present) and with the baseline
/// instruction set only (exclusive load/store loops).
pub fn isa_variants() -> Vec<(&'static str, xbpf_jit::Jit)> {
    let jit = xbpf_jit::Jit::new();
    if cfg!(target_arch = "aarch64") {
        vec![
            ("jit", jit),
            ("jit (baseline ISA)", jit.with_isa_extensions(false)),
        ]
    } else {
        vec![("jit", jit)]
    }
}

/// Every kind of code this host's JIT generates: both x86-64 calling conventions, or the ARM64
/// code with and without optional extensions.
pub fn code_variants() -> Vec<(String, xbpf_jit::Jit)> {
    #[cfg(target_arch = "x86_64")]
    {
        use xbpf_jit::CallingConvention;
        [CallingConvention::SystemV, CallingConvention::Windows]
            .into_iter()
            .map(|convention| {
                (
                    format!("{convention:?}"),
                    xbpf_jit::Jit::with_calling_convention(convention),
                )
            })
            .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    isa_variants()
        .into_iter()
        .map(|(name, jit)| (name.to_string(), jit))
        .collect()
}
