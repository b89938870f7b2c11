//! The pre-decoded program the interpreter runs: one 16-byte [`Op`] per instruction slot, with
//! the operation fully resolved into a flat [`Kind`] (operation, width and operand source) and
//! jump targets made absolute; plus, for metered runs, each fuel block's length at its first
//! instruction.
//!
//! Keeping one `Op` per slot makes an `Op`'s index its pc, so errors need no translation. Some
//! slots then start a fused sequence (see `crate::fuse`): one `Op` that does the work of the next
//! two or three instructions. The slots it covers keep their own ops, for jumps into them.

use crate::prelude::*;
use xbpf_isa::exec::ExecConfig;
use xbpf_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Instruction, JmpCond, LoadImmKind, MemSize, PacketMode,
    PrepareError, Program, Source, Width,
};

/// What an [`Op`] does. One variant per combination the dispatch loop distinguishes, so each is
/// handled by a single match arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    // RFC 9669 §4.1 Arithmetic instructions: `{op}{width}{Imm|Reg}`.
    Add64Imm,
    Add64Reg,
    Add32Imm,
    Add32Reg,
    Sub64Imm,
    Sub64Reg,
    Sub32Imm,
    Sub32Reg,
    Mul64Imm,
    Mul64Reg,
    Mul32Imm,
    Mul32Reg,
    Div64Imm,
    Div64Reg,
    Div32Imm,
    Div32Reg,
    SDiv64Imm,
    SDiv64Reg,
    SDiv32Imm,
    SDiv32Reg,
    Or64Imm,
    Or64Reg,
    Or32Imm,
    Or32Reg,
    And64Imm,
    And64Reg,
    And32Imm,
    And32Reg,
    Lsh64Imm,
    Lsh64Reg,
    Lsh32Imm,
    Lsh32Reg,
    Rsh64Imm,
    Rsh64Reg,
    Rsh32Imm,
    Rsh32Reg,
    Mod64Imm,
    Mod64Reg,
    Mod32Imm,
    Mod32Reg,
    SMod64Imm,
    SMod64Reg,
    SMod32Imm,
    SMod32Reg,
    Xor64Imm,
    Xor64Reg,
    Xor32Imm,
    Xor32Reg,
    Mov64Imm,
    Mov64Reg,
    Mov32Imm,
    Mov32Reg,
    Arsh64Imm,
    Arsh64Reg,
    Arsh32Imm,
    Arsh32Reg,
    Neg64,
    Neg32,
    MovSx64From8,
    MovSx64From16,
    MovSx64From32,
    MovSx32From8,
    MovSx32From16,
    // RFC 9669 §4.2 Byte swap instructions.
    Le16,
    Le32,
    Le64,
    Be16,
    Be32,
    Be64,
    Swap16,
    Swap32,
    Swap64,
    // RFC 9669 §5.4 64-bit immediate instructions: constant in `imm` (low) and `off` (high).
    Lddw,
    /// The second slot of an `lddw`. Never executed: validation rejects jumps into it and the
    /// `lddw` steps over it.
    LddwSecondSlot,
    // RFC 9669 §5.1 Regular load and store operations and §5.2 Sign-extension load operations.
    LdxB,
    LdxH,
    LdxW,
    LdxDW,
    LdxSB,
    LdxSH,
    LdxSW,
    StB,
    StH,
    StW,
    StDW,
    StxB,
    StxH,
    StxW,
    StxDW,
    // RFC 9669 §5.3 Atomic operations.
    AtomicAdd32,
    AtomicOr32,
    AtomicAnd32,
    AtomicXor32,
    AtomicFetchAdd32,
    AtomicFetchOr32,
    AtomicFetchAnd32,
    AtomicFetchXor32,
    AtomicXchg32,
    AtomicCmpXchg32,
    AtomicAdd64,
    AtomicOr64,
    AtomicAnd64,
    AtomicXor64,
    AtomicFetchAdd64,
    AtomicFetchOr64,
    AtomicFetchAnd64,
    AtomicFetchXor64,
    AtomicXchg64,
    AtomicCmpXchg64,
    // RFC 9669 §5.5 Legacy BPF packet access instructions.
    /// Offset `imm`, access size in `off`.
    PacketAbs,
    /// Offset `src + imm`, access size in `off`.
    PacketInd,
    // RFC 9669 §4.3 Jump instructions: `J{cond}{width}{Imm|Reg}`, target absolute in `off`.
    Ja,
    Jeq64Imm,
    Jeq64Reg,
    Jeq32Imm,
    Jeq32Reg,
    Jne64Imm,
    Jne64Reg,
    Jne32Imm,
    Jne32Reg,
    Jset64Imm,
    Jset64Reg,
    Jset32Imm,
    Jset32Reg,
    Jgt64Imm,
    Jgt64Reg,
    Jgt32Imm,
    Jgt32Reg,
    Jge64Imm,
    Jge64Reg,
    Jge32Imm,
    Jge32Reg,
    Jlt64Imm,
    Jlt64Reg,
    Jlt32Imm,
    Jlt32Reg,
    Jle64Imm,
    Jle64Reg,
    Jle32Imm,
    Jle32Reg,
    Jsgt64Imm,
    Jsgt64Reg,
    Jsgt32Imm,
    Jsgt32Reg,
    Jsge64Imm,
    Jsge64Reg,
    Jsge32Imm,
    Jsge32Reg,
    Jslt64Imm,
    Jslt64Reg,
    Jslt32Imm,
    Jslt32Reg,
    Jsle64Imm,
    Jsle64Reg,
    Jsle32Imm,
    Jsle32Reg,
    // RFC 9669 §4.3.1 Helper functions and §4.3.2 Program-local functions.
    CallHelper,
    CallLocal,
    Callx,
    Exit,
    // Fused sequences (`crate::fuse`). `Mov{op}64{Imm|Reg}`: `mov dst, src` then `{op} dst, X`
    // (ALU64), i.e. `dst = src op X` with X the immediate or `src2`.
    MovAdd64Imm,
    MovAdd64Reg,
    MovSub64Imm,
    MovSub64Reg,
    MovMul64Imm,
    MovMul64Reg,
    MovDiv64Imm,
    MovDiv64Reg,
    MovMod64Imm,
    MovMod64Reg,
    MovOr64Imm,
    MovOr64Reg,
    MovAnd64Imm,
    MovAnd64Reg,
    MovXor64Imm,
    MovXor64Reg,
    MovLsh64Imm,
    MovLsh64Reg,
    MovRsh64Imm,
    MovRsh64Reg,
    MovArsh64Imm,
    MovArsh64Reg,
    /// `lsh dst, imm` then `rsh dst, off` (zero-extension idiom).
    LshRsh,
    /// `lsh dst, imm` then `arsh dst, off` (sign-extension idiom).
    LshArsh,
    /// `mov dst, src`, `lsh dst, imm`, `rsh dst, off`.
    MovLshRsh,
    /// `mov dst, src`, `lsh dst, imm`, `arsh dst, off`.
    MovLshArsh,
    /// `mov dst, imm` (ALU64) then `ja` to `off`.
    MovImmJa,
    /// `mov dst, imm; jCC ..., +1; mov dst, off` (a conditional select): `dst = imm`, then
    /// `dst = off` unless the jump in the next slot is taken; continues three slots on.
    SelectImm,
}

impl Kind {
    /// `J{cond}{width}{Imm|Reg}`: the conditional jumps are declared together, from `Jeq64Imm`
    /// to `Jsle32Reg`.
    pub fn is_conditional_jump(self) -> bool {
        (Kind::Jeq64Imm as u8..=Kind::Jsle32Reg as u8).contains(&(self as u8))
    }

    /// The condition, the width and whether the operand is the immediate of a conditional
    /// jump: its kinds come in groups of four (`64Imm`, `64Reg`, `32Imm`, `32Reg`) per
    /// condition, in the order of [`CONDITIONS`] (see `jump_kind`).
    #[inline(always)]
    pub fn jump_parts(self) -> (JmpCond, Width, bool) {
        let index = usize::from((self as u8).wrapping_sub(Kind::Jeq64Imm as u8));
        let cond = CONDITIONS[(index / 4).min(CONDITIONS.len() - 1)];
        let width = if index % 4 < 2 {
            Width::W64
        } else {
            Width::W32
        };
        (cond, width, index % 2 == 0)
    }
}

/// The jump conditions in the order their kinds are declared.
pub(crate) const CONDITIONS: [JmpCond; 11] = [
    JmpCond::Eq,
    JmpCond::Ne,
    JmpCond::Set,
    JmpCond::Gt,
    JmpCond::Ge,
    JmpCond::Lt,
    JmpCond::Le,
    JmpCond::Sgt,
    JmpCond::Sge,
    JmpCond::Slt,
    JmpCond::Sle,
];

/// A register number known to be r0 to r10, so that indexing the register file with it needs
/// no bounds check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RegIndex {
    #[default]
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
}

impl From<xbpf_isa::Reg> for RegIndex {
    fn from(reg: xbpf_isa::Reg) -> RegIndex {
        use RegIndex::*;
        [R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10][usize::from(reg.number()).min(10)]
    }
}

/// `Op::next` of a conditional jump that falls through to the next slot.
pub(crate) const FALL_THROUGH: u32 = u32::MAX;

/// One pre-decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Op {
    pub kind: Kind,
    /// Destination register (for `callx`, the register holding the helper id).
    pub dst: RegIndex,
    /// Source register (register forms, loads, atomics, `ldind`).
    pub src: RegIndex,
    /// Second source register of fused three-address forms (`MovAdd64Reg`: `dst = src + src2`).
    pub src2: RegIndex,
    /// The immediate: ALU and jump operand, stored value, helper id, packet offset, the low
    /// half of an `lddw` constant, or the left shift count of a fused shift pair.
    pub imm: i32,
    /// The memory offset of loads, stores and atomics, the absolute target of jumps and local
    /// calls, the high half of an `lddw` constant, the access size of packet loads, or the right
    /// shift count of a fused shift pair.
    pub off: i32,
    /// Where a conditional jump continues when not taken: [`FALL_THROUGH`], or the target of
    /// the `ja` that follows it, folded in (`crate::fuse`).
    pub next: u32,
}

const _: () = assert!(core::mem::size_of::<Op>() == 16);

impl Op {
    pub(crate) fn new(kind: Kind) -> Op {
        Op {
            kind,
            dst: RegIndex::R0,
            src: RegIndex::R0,
            src2: RegIndex::R0,
            imm: 0,
            off: 0,
            next: FALL_THROUGH,
        }
    }

    fn dst(self, reg: xbpf_isa::Reg) -> Op {
        Op {
            dst: reg.into(),
            ..self
        }
    }

    fn src(self, reg: xbpf_isa::Reg) -> Op {
        Op {
            src: reg.into(),
            ..self
        }
    }

    fn imm(self, imm: i32) -> Op {
        Op { imm, ..self }
    }

    fn off(self, off: i32) -> Op {
        Op { off, ..self }
    }

    /// The destination register as an index into the register file.
    #[inline(always)]
    pub fn d(&self) -> usize {
        self.dst as usize
    }

    /// The source register as an index into the register file.
    #[inline(always)]
    pub fn s(&self) -> usize {
        self.src as usize
    }

    /// The second source register as an index into the register file.
    #[inline(always)]
    pub fn s2(&self) -> usize {
        self.src2 as usize
    }

    /// The immediate sign-extended to 64 bits (RFC 9669 §4.1); 32-bit operations use its low
    /// half, which is the immediate itself.
    #[inline(always)]
    pub fn imm64(&self) -> u64 {
        self.imm as i64 as u64
    }

    /// The memory offset sign-extended to 64 bits, to add to a base register.
    #[inline(always)]
    pub fn mem_offset(&self) -> u64 {
        self.off as i64 as u64
    }

    /// The absolute target pc of a jump or local call.
    #[inline(always)]
    pub fn target(&self) -> usize {
        self.off as u32 as usize
    }

    /// The 64-bit constant of an `lddw`.
    #[inline(always)]
    pub fn lddw_constant(&self) -> u64 {
        u64::from(self.imm as u32) | (u64::from(self.off as u32) << 32)
    }

    fn register_or_imm(self, src: Source) -> Op {
        match src {
            Source::Reg(reg) => self.src(reg),
            Source::Imm(imm) => self.imm(imm),
        }
    }
}

/// The pre-decoded program: one op per slot, and for metered runs the fuel each pc charges.
pub(crate) struct Code {
    pub ops: Box<[Op]>,
    /// Fuel charged when execution reaches each pc: the length of the fuel block it starts, 0
    /// inside a block. Empty when the program runs without a fuel limit.
    pub fuel: Box<[u32]>,
}

/// Translates a validated program into ops, one per slot, and fuses common sequences.
/// `check_preparable` must have accepted the program for this configuration.
pub(crate) fn translate(program: &Program, config: &ExecConfig) -> Result<Code, PrepareError> {
    let mut ops = translate_unfused(program)?;
    let metered = config.fuel.is_some();
    crate::fuse::fuse(program, &mut ops, metered);
    let fuel = if metered {
        (0..program.len())
            .map(|pc| program.fuel_block_len(pc))
            .collect()
    } else {
        Box::default()
    };
    Ok(Code {
        ops: ops.into_boxed_slice(),
        fuel,
    })
}

/// One op per slot, each doing exactly its own instruction.
pub(crate) fn translate_unfused(program: &Program) -> Result<Vec<Op>, PrepareError> {
    // Targets are stored in 31 bits; Linux caps programs at 1 million instructions.
    if program.len() > i32::MAX as usize {
        return Err(PrepareError::Engine {
            engine: crate::ENGINE_NAME,
            message: format!("{} instructions is more than it can address", program.len()),
        });
    }
    let mut code = vec![Op::new(Kind::LddwSecondSlot); program.len()];
    for (pc, instruction) in program.instructions() {
        let mut op = translate_one(pc, instruction)?;
        if let Some(offset) = instruction.branch_offset() {
            op.off = (pc as i64 + 1 + offset) as i32;
        }
        code[pc] = op;
    }
    Ok(code)
}

fn translate_one(pc: usize, instruction: &Instruction) -> Result<Op, PrepareError> {
    Ok(match *instruction {
        Instruction::Alu {
            width,
            op,
            dst,
            src,
        } => Op::new(alu_kind(width, op, src))
            .dst(dst)
            .register_or_imm(src),
        Instruction::Neg { width, dst } => Op::new(match width {
            Width::W64 => Kind::Neg64,
            Width::W32 => Kind::Neg32,
        })
        .dst(dst),
        Instruction::MovSx {
            width,
            dst,
            src,
            from_bits,
        } => {
            let kind = match (width, from_bits) {
                (Width::W64, 8) => Kind::MovSx64From8,
                (Width::W64, 16) => Kind::MovSx64From16,
                (Width::W64, _) => Kind::MovSx64From32,
                (Width::W32, 8) => Kind::MovSx32From8,
                (Width::W32, _) => Kind::MovSx32From16,
            };
            Op::new(kind).dst(dst).src(src)
        }
        Instruction::Endian { order, bits, dst } => {
            let kind = match (order, bits) {
                (ByteOrder::ToLe, 16) => Kind::Le16,
                (ByteOrder::ToLe, 32) => Kind::Le32,
                (ByteOrder::ToLe, _) => Kind::Le64,
                (ByteOrder::ToBe, 16) => Kind::Be16,
                (ByteOrder::ToBe, 32) => Kind::Be32,
                (ByteOrder::ToBe, _) => Kind::Be64,
                (ByteOrder::Swap, 16) => Kind::Swap16,
                (ByteOrder::Swap, 32) => Kind::Swap32,
                (ByteOrder::Swap, _) => Kind::Swap64,
            };
            Op::new(kind).dst(dst)
        }
        Instruction::LoadImm64 { dst, kind, imm } => {
            if kind != LoadImmKind::Imm {
                return Err(unsupported(pc, format!("unresolved lddw {kind:?}")));
            }
            Op::new(Kind::Lddw)
                .dst(dst)
                .imm(imm as u32 as i32)
                .off((imm >> 32) as u32 as i32)
        }
        Instruction::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => {
            let kind = match (size, sign_extend) {
                (MemSize::B, false) => Kind::LdxB,
                (MemSize::H, false) => Kind::LdxH,
                (MemSize::W, false) => Kind::LdxW,
                (MemSize::DW, _) => Kind::LdxDW,
                (MemSize::B, true) => Kind::LdxSB,
                (MemSize::H, true) => Kind::LdxSH,
                (MemSize::W, true) => Kind::LdxSW,
            };
            Op::new(kind).dst(dst).src(src).off(i32::from(off))
        }
        Instruction::Store {
            size,
            dst,
            off,
            src,
        } => {
            let kind = match (size, src) {
                (MemSize::B, Source::Imm(_)) => Kind::StB,
                (MemSize::H, Source::Imm(_)) => Kind::StH,
                (MemSize::W, Source::Imm(_)) => Kind::StW,
                (MemSize::DW, Source::Imm(_)) => Kind::StDW,
                (MemSize::B, Source::Reg(_)) => Kind::StxB,
                (MemSize::H, Source::Reg(_)) => Kind::StxH,
                (MemSize::W, Source::Reg(_)) => Kind::StxW,
                (MemSize::DW, Source::Reg(_)) => Kind::StxDW,
            };
            Op::new(kind)
                .dst(dst)
                .off(i32::from(off))
                .register_or_imm(src)
        }
        Instruction::Atomic {
            width,
            op,
            fetch,
            dst,
            src,
            off,
        } => Op::new(atomic_kind(width, op, fetch))
            .dst(dst)
            .src(src)
            .off(i32::from(off)),
        Instruction::LoadPacket { size, mode, imm } => {
            let op = Op::new(Kind::PacketAbs).imm(imm).off(size.bytes() as i32);
            match mode {
                PacketMode::Abs => op,
                PacketMode::Ind(reg) => Op {
                    kind: Kind::PacketInd,
                    ..op.src(reg)
                },
            }
        }
        Instruction::Ja { .. } => Op::new(Kind::Ja),
        Instruction::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => Op::new(jump_kind(width, cond, src))
            .dst(dst)
            .register_or_imm(src),
        Instruction::Call(CallTarget::Helper(id)) => Op::new(Kind::CallHelper).imm(id),
        Instruction::Call(CallTarget::Local(_)) => Op::new(Kind::CallLocal),
        Instruction::Call(CallTarget::Kfunc(id)) => {
            return Err(unsupported(pc, format!("kfunc call {id}")));
        }
        Instruction::Callx(reg) => Op::new(Kind::Callx).dst(reg),
        Instruction::Exit => Op::new(Kind::Exit),
    })
}

fn unsupported(pc: usize, what: String) -> PrepareError {
    PrepareError::Unsupported {
        pc,
        engine: crate::ENGINE_NAME,
        what,
    }
}

/// Picks one of the four kinds `[64-bit imm, 64-bit reg, 32-bit imm, 32-bit reg]`.
fn by_width_and_source(kinds: [Kind; 4], width: Width, src: Source) -> Kind {
    let [imm64, reg64, imm32, reg32] = kinds;
    match (width, src) {
        (Width::W64, Source::Imm(_)) => imm64,
        (Width::W64, Source::Reg(_)) => reg64,
        (Width::W32, Source::Imm(_)) => imm32,
        (Width::W32, Source::Reg(_)) => reg32,
    }
}

fn alu_kind(width: Width, op: AluOp, src: Source) -> Kind {
    use Kind::*;
    let kinds = match op {
        AluOp::Add => [Add64Imm, Add64Reg, Add32Imm, Add32Reg],
        AluOp::Sub => [Sub64Imm, Sub64Reg, Sub32Imm, Sub32Reg],
        AluOp::Mul => [Mul64Imm, Mul64Reg, Mul32Imm, Mul32Reg],
        AluOp::Div => [Div64Imm, Div64Reg, Div32Imm, Div32Reg],
        AluOp::SDiv => [SDiv64Imm, SDiv64Reg, SDiv32Imm, SDiv32Reg],
        AluOp::Or => [Or64Imm, Or64Reg, Or32Imm, Or32Reg],
        AluOp::And => [And64Imm, And64Reg, And32Imm, And32Reg],
        AluOp::Lsh => [Lsh64Imm, Lsh64Reg, Lsh32Imm, Lsh32Reg],
        AluOp::Rsh => [Rsh64Imm, Rsh64Reg, Rsh32Imm, Rsh32Reg],
        AluOp::Mod => [Mod64Imm, Mod64Reg, Mod32Imm, Mod32Reg],
        AluOp::SMod => [SMod64Imm, SMod64Reg, SMod32Imm, SMod32Reg],
        AluOp::Xor => [Xor64Imm, Xor64Reg, Xor32Imm, Xor32Reg],
        AluOp::Mov => [Mov64Imm, Mov64Reg, Mov32Imm, Mov32Reg],
        AluOp::Arsh => [Arsh64Imm, Arsh64Reg, Arsh32Imm, Arsh32Reg],
    };
    by_width_and_source(kinds, width, src)
}

fn jump_kind(width: Width, cond: JmpCond, src: Source) -> Kind {
    use Kind::*;
    let kinds = match cond {
        JmpCond::Eq => [Jeq64Imm, Jeq64Reg, Jeq32Imm, Jeq32Reg],
        JmpCond::Ne => [Jne64Imm, Jne64Reg, Jne32Imm, Jne32Reg],
        JmpCond::Set => [Jset64Imm, Jset64Reg, Jset32Imm, Jset32Reg],
        JmpCond::Gt => [Jgt64Imm, Jgt64Reg, Jgt32Imm, Jgt32Reg],
        JmpCond::Ge => [Jge64Imm, Jge64Reg, Jge32Imm, Jge32Reg],
        JmpCond::Lt => [Jlt64Imm, Jlt64Reg, Jlt32Imm, Jlt32Reg],
        JmpCond::Le => [Jle64Imm, Jle64Reg, Jle32Imm, Jle32Reg],
        JmpCond::Sgt => [Jsgt64Imm, Jsgt64Reg, Jsgt32Imm, Jsgt32Reg],
        JmpCond::Sge => [Jsge64Imm, Jsge64Reg, Jsge32Imm, Jsge32Reg],
        JmpCond::Slt => [Jslt64Imm, Jslt64Reg, Jslt32Imm, Jslt32Reg],
        JmpCond::Sle => [Jsle64Imm, Jsle64Reg, Jsle32Imm, Jsle32Reg],
    };
    by_width_and_source(kinds, width, src)
}

fn atomic_kind(width: Width, op: AtomicOp, fetch: bool) -> Kind {
    use Kind::*;
    match (width, op, fetch) {
        (Width::W32, AtomicOp::Add, false) => AtomicAdd32,
        (Width::W32, AtomicOp::Or, false) => AtomicOr32,
        (Width::W32, AtomicOp::And, false) => AtomicAnd32,
        (Width::W32, AtomicOp::Xor, false) => AtomicXor32,
        (Width::W32, AtomicOp::Add, true) => AtomicFetchAdd32,
        (Width::W32, AtomicOp::Or, true) => AtomicFetchOr32,
        (Width::W32, AtomicOp::And, true) => AtomicFetchAnd32,
        (Width::W32, AtomicOp::Xor, true) => AtomicFetchXor32,
        (Width::W32, AtomicOp::Xchg, _) => AtomicXchg32,
        (Width::W32, AtomicOp::CmpXchg, _) => AtomicCmpXchg32,
        (Width::W64, AtomicOp::Add, false) => AtomicAdd64,
        (Width::W64, AtomicOp::Or, false) => AtomicOr64,
        (Width::W64, AtomicOp::And, false) => AtomicAnd64,
        (Width::W64, AtomicOp::Xor, false) => AtomicXor64,
        (Width::W64, AtomicOp::Add, true) => AtomicFetchAdd64,
        (Width::W64, AtomicOp::Or, true) => AtomicFetchOr64,
        (Width::W64, AtomicOp::And, true) => AtomicFetchAnd64,
        (Width::W64, AtomicOp::Xor, true) => AtomicFetchXor64,
        (Width::W64, AtomicOp::Xchg, _) => AtomicXchg64,
        (Width::W64, AtomicOp::CmpXchg, _) => AtomicCmpXchg64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::{Insn, Reg};

    fn program(instructions: &[Instruction]) -> Program {
        Program::new(instructions.iter().flat_map(Instruction::encode).collect()).unwrap()
    }

    #[test]
    fn jump_targets_become_absolute_and_fuel_marks_block_starts() {
        let program = program(&[
            Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: Reg::R0,
                src: Source::Imm(0),
            },
            Instruction::Jump {
                width: Width::W64,
                cond: JmpCond::Ne,
                dst: Reg::R0,
                src: Source::Imm(3),
                off: -2,
            },
            Instruction::Exit,
        ]);
        let config = ExecConfig {
            fuel: Some(10),
            ..ExecConfig::default()
        };
        let code = translate(&program, &config).unwrap();
        assert_eq!(code.ops[1].kind, Kind::Jne64Imm);
        assert_eq!(code.ops[1].target(), 0);
        assert_eq!(code.ops[1].imm64(), 3);
        assert_eq!(code.fuel.as_ref(), [2, 0, 1]);
        // without a fuel limit, no fuel is charged
        assert!(
            translate(&program, &ExecConfig::default())
                .unwrap()
                .fuel
                .is_empty()
        );
    }

    #[test]
    fn conditional_jumps_are_exactly_the_jcc_kinds() {
        let mut jumps = Vec::new();
        for cond in CONDITIONS {
            for width in [Width::W64, Width::W32] {
                for src in [Source::Imm(0), Source::Reg(Reg::R1)] {
                    let kind = jump_kind(width, cond, src);
                    let imm = matches!(src, Source::Imm(_));
                    assert_eq!(kind.jump_parts(), (cond, width, imm), "{kind:?}");
                    jumps.push(kind);
                }
            }
        }
        // 44 distinct kinds, all inside a range of 44: the range is exactly the jumps.
        jumps.sort_by_key(|kind| *kind as u8);
        jumps.dedup();
        assert_eq!(jumps.len(), 44);
        assert!(jumps.iter().all(|kind| kind.is_conditional_jump()));
        assert_eq!(Kind::Jsle32Reg as u8 - Kind::Jeq64Imm as u8 + 1, 44);
    }

    #[test]
    fn lddw_keeps_its_whole_constant() {
        let program = Program::new(vec![
            Insn::new(0x18, 1, 0, 0, 0x5566_7788),
            Insn::new(0, 0, 0, 0, 0x1122_3344),
            Insn::new(0x95, 0, 0, 0, 0),
        ])
        .unwrap();
        let code = translate(&program, &ExecConfig::default()).unwrap();
        assert_eq!(code.ops[0].lddw_constant(), 0x1122_3344_5566_7788);
        assert_eq!(code.ops[1].kind, Kind::LddwSecondSlot);
    }
}
