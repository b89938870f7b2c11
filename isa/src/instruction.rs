//! The decoded form of an instruction: one enum variant per kind of operation, with every field
//! typed. `decode` accepts exactly the encodings RFC 9669 defines (with reserved fields zero);
//! `encode` is its inverse.

use crate::insn::{Insn, op};
use crate::prelude::*;
use core::fmt;

/// A register number, 0 to 10. r10 is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(u8);

impl Reg {
    /// r0: return value of calls and of the program.
    pub const R0: Reg = Reg(0);
    /// r1: first argument.
    pub const R1: Reg = Reg(1);
    /// r2: second argument.
    pub const R2: Reg = Reg(2);
    /// r6: first callee-saved register.
    pub const R6: Reg = Reg(6);
    /// r10: frame pointer, read-only.
    pub const R10: Reg = Reg(10);
    /// Number of registers (r0 to r10).
    pub const COUNT: usize = 11;

    /// Returns the register with that number, if it is 0..=10.
    pub const fn new(number: u8) -> Option<Reg> {
        if number <= 10 {
            Some(Reg(number))
        } else {
            None
        }
    }

    /// The register number.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The register number as an index into a register file.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%r{}", self.0)
    }
}

/// Operand width of ALU, jump and atomic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: operands are the low halves, results are zero-extended.
    W32,
    /// 64-bit.
    W64,
}

impl Width {
    /// Width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// The second operand of ALU, jump and store instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A register.
    Reg(Reg),
    /// The 32-bit immediate (sign-extended to 64 bits for 64-bit operations).
    Imm(i32),
}

/// ALU operations (RFC 9669 section 4.1). Signed division and modulo are separate variants
/// even though they share the opcode with their unsigned forms (offset 1 selects them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// `dst /= src`, unsigned (division by zero gives 0).
    Div,
    /// `dst /= src`, signed (v4; division by zero gives 0).
    SDiv,
    /// `dst
    /// = src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src` (count masked to the width).
    Lsh,
    /// `dst >>= src`, logical (count masked to the width).
    Rsh,
    /// `dst %= src`, unsigned (modulo zero leaves dst).
    Mod,
    /// `dst %= src`, signed (v4; modulo zero leaves dst).
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// `dst >>= src`, arithmetic (count masked to the width).
    Arsh,
}

impl AluOp {
    /// The operation's 4-bit code (upper nibble of the opcode).
    pub const fn code(self) -> u8 {
        match self {
            AluOp::Add => op::ALU_ADD,
            AluOp::Sub => op::ALU_SUB,
            AluOp::Mul => op::ALU_MUL,
            AluOp::Div | AluOp::SDiv => op::ALU_DIV,
            AluOp::Or => op::ALU_OR,
            AluOp::And => op::ALU_AND,
            AluOp::Lsh => op::ALU_LSH,
            AluOp::Rsh => op::ALU_RSH,
            AluOp::Mod | AluOp::SMod => op::ALU_MOD,
            AluOp::Xor => op::ALU_XOR,
            AluOp::Mov => op::ALU_MOV,
            AluOp::Arsh => op::ALU_ARSH,
        }
    }

    /// The assembler mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Sub => "sub",
            AluOp::Mul => "mul",
            AluOp::Div => "div",
            AluOp::SDiv => "sdiv",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Lsh => "lsh",
            AluOp::Rsh => "rsh",
            AluOp::Mod => "mod",
            AluOp::SMod => "smod",
            AluOp::Xor => "xor",
            AluOp::Mov => "mov",
            AluOp::Arsh => "arsh",
        }
    }

    /// All operations, for tables and generators.
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];
}

/// Byte-order operations (RFC 9669 section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Convert to little-endian (`le16/32/64`): a truncation on a little-endian host.
    ToLe,
    /// Convert to big-endian (`be16/32/64`).
    ToBe,
    /// Unconditional swap (`bswap16/32/64`, ISA v4).
    Swap,
}

/// Memory access size (RFC 9669 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemSize {
    /// 1 byte.
    B,
    /// 2 bytes (half word).
    H,
    /// 4 bytes (word).
    W,
    /// 8 bytes (double word).
    DW,
}

impl MemSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            MemSize::B => 1,
            MemSize::H => 2,
            MemSize::W => 4,
            MemSize::DW => 8,
        }
    }

    const fn code(self) -> u8 {
        match self {
            MemSize::B => op::SIZE_B,
            MemSize::H => op::SIZE_H,
            MemSize::W => op::SIZE_W,
            MemSize::DW => op::SIZE_DW,
        }
    }

    const fn from_code(code: u8) -> MemSize {
        match code & 0x18 {
            op::SIZE_B => MemSize::B,
            op::SIZE_H => MemSize::H,
            op::SIZE_W => MemSize::W,
            _ => MemSize::DW,
        }
    }

    /// Mnemonic suffix: b, h, w, dw.
    pub const fn suffix(self) -> &'static str {
        match self {
            MemSize::B => "b",
            MemSize::H => "h",
            MemSize::W => "w",
            MemSize::DW => "dw",
        }
    }
}

/// Conditions of conditional jumps (RFC 9669 section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `dst == src`
    Eq,
    /// `dst > src`, unsigned.
    Gt,
    /// `dst >= src`, unsigned.
    Ge,
    /// `dst & src != 0`
    Set,
    /// `dst != src`
    Ne,
    /// `dst > src`, signed.
    Sgt,
    /// `dst >= src`, signed.
    Sge,
    /// `dst < src`, unsigned.
    Lt,
    /// `dst <= src`, unsigned.
    Le,
    /// `dst < src`, signed.
    Slt,
    /// `dst <= src`, signed.
    Sle,
}

impl JmpCond {
    /// The condition's 4-bit code.
    pub const fn code(self) -> u8 {
        match self {
            JmpCond::Eq => op::JMP_JEQ,
            JmpCond::Gt => op::JMP_JGT,
            JmpCond::Ge => op::JMP_JGE,
            JmpCond::Set => op::JMP_JSET,
            JmpCond::Ne => op::JMP_JNE,
            JmpCond::Sgt => op::JMP_JSGT,
            JmpCond::Sge => op::JMP_JSGE,
            JmpCond::Lt => op::JMP_JLT,
            JmpCond::Le => op::JMP_JLE,
            JmpCond::Slt => op::JMP_JSLT,
            JmpCond::Sle => op::JMP_JSLE,
        }
    }

    const fn from_code(code: u8) -> Option<JmpCond> {
        Some(match code {
            op::JMP_JEQ => JmpCond::Eq,
            op::JMP_JGT => JmpCond::Gt,
            op::JMP_JGE => JmpCond::Ge,
            op::JMP_JSET => JmpCond::Set,
            op::JMP_JNE => JmpCond::Ne,
            op::JMP_JSGT => JmpCond::Sgt,
            op::JMP_JSGE => JmpCond::Sge,
            op::JMP_JLT => JmpCond::Lt,
            op::JMP_JLE => JmpCond::Le,
            op::JMP_JSLT => JmpCond::Slt,
            op::JMP_JSLE => JmpCond::Sle,
            _ => return None,
        })
    }

    /// The assembler mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            JmpCond::Eq => "jeq",
            JmpCond::Gt => "jgt",
            JmpCond::Ge => "jge",
            JmpCond::Set => "jset",
            JmpCond::Ne => "jne",
            JmpCond::Sgt => "jsgt",
            JmpCond::Sge => "jsge",
            JmpCond::Lt => "jlt",
            JmpCond::Le => "jle",
            JmpCond::Slt => "jslt",
            JmpCond::Sle => "jsle",
        }
    }

    /// Evaluates the condition on two operands already reduced to the jump's width
    /// (for 32-bit jumps, pass the low halves zero-extended; signed conditions reinterpret
    /// them at that width).
    pub fn holds(self, width: Width, a: u64, b: u64) -> bool {
        let (sa, sb) = match width {
            Width::W32 => (a as u32 as i32 as i64, b as u32 as i32 as i64),
            Width::W64 => (a as i64, b as i64),
        };
        match self {
            JmpCond::Eq => a == b,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Set => a & b != 0,
            JmpCond::Ne => a != b,
            JmpCond::Sgt => sa > sb,
            JmpCond::Sge => sa >= sb,
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Slt => sa < sb,
            JmpCond::Sle => sa <= sb,
        }
    }

    /// All conditions, for tables and generators.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];
}

/// Atomic read-modify-write operations (RFC 9669 section 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`
    Add,
    /// `*addr
    /// = src`
    Or,
    /// `*addr &= src`
    And,
    /// `*addr ^= src`
    Xor,
    /// Exchange: always fetches.
    Xchg,
    /// Compare with r0 and exchange: always loads the old value into r0.
    CmpXchg,
}

impl AtomicOp {
    /// The assembler mnemonic without width suffix.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            AtomicOp::Add => "add",
            AtomicOp::Or => "or",
            AtomicOp::And => "and",
            AtomicOp::Xor => "xor",
            AtomicOp::Xchg => "xchg",
            AtomicOp::CmpXchg => "cmpxchg",
        }
    }
}

/// The `src` field of `lddw`, selecting what the 64-bit immediate means
/// (RFC 9669 section 5.4). Only `Imm` is a plain constant; the others are resolved by a loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadImmKind {
    /// 0: the 64-bit constant itself.
    Imm,
    /// 1: map by file descriptor.
    MapByFd,
    /// 2: address of a map value (fd + offset).
    MapValueByFd,
    /// 3: address of a platform variable.
    Variable,
    /// 4: address of a function (code address).
    Code,
    /// 5: map by index.
    MapByIndex,
    /// 6: address of a map value (map index + offset).
    MapValueByIndex,
}

impl LoadImmKind {
    /// The `src` field value.
    pub const fn code(self) -> u8 {
        match self {
            LoadImmKind::Imm => 0,
            LoadImmKind::MapByFd => 1,
            LoadImmKind::MapValueByFd => 2,
            LoadImmKind::Variable => 3,
            LoadImmKind::Code => 4,
            LoadImmKind::MapByIndex => 5,
            LoadImmKind::MapValueByIndex => 6,
        }
    }

    const fn from_code(code: u8) -> Option<LoadImmKind> {
        Some(match code {
            0 => LoadImmKind::Imm,
            1 => LoadImmKind::MapByFd,
            2 => LoadImmKind::MapValueByFd,
            3 => LoadImmKind::Variable,
            4 => LoadImmKind::Code,
            5 => LoadImmKind::MapByIndex,
            6 => LoadImmKind::MapValueByIndex,
            _ => return None,
        })
    }
}

/// Addressing of the legacy packet loads (RFC 9669 section 5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketMode {
    /// Offset is the immediate.
    Abs,
    /// Offset is the register plus the immediate.
    Ind(Reg),
}

/// What a `call` instruction calls (RFC 9669 section 4.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// src 0: a helper function by static id.
    Helper(i32),
    /// src 1: a local (bpf-to-bpf) function, at pc + 1 + offset.
    Local(i32),
    /// src 2: a platform-specific function (kfunc) by BTF id.
    Kfunc(i32),
}

/// One decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `dst = dst OP src` (`dst = src` for `Mov`).
    Alu {
        /// 32- or 64-bit operation.
        width: Width,
        /// The operation.
        op: AluOp,
        /// The destination (and first operand) register.
        dst: Reg,
        /// The second operand.
        src: Source,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit operation.
        width: Width,
        /// The register negated.
        dst: Reg,
    },
    /// `dst = sign_extend(low from_bits of src)` (v4 `movsx`).
    MovSx {
        /// The width of the result (32-bit results are zero-extended).
        width: Width,
        /// The destination register.
        dst: Reg,
        /// The source register.
        src: Reg,
        /// How many low bits of src are sign-extended: 8, 16 or 32.
        from_bits: u8,
    },
    /// Byte order conversion of the low `bits` of dst.
    Endian {
        /// The conversion.
        order: ByteOrder,
        /// How many low bits are converted: 16, 32 or 64.
        bits: u8,
        /// The register converted.
        dst: Reg,
    },
    /// `dst = imm64` (two slots); for non-`Imm` kinds the value is resolved by a loader.
    LoadImm64 {
        /// The destination register.
        dst: Reg,
        /// What the immediate means (the src field's pseudo-source).
        kind: LoadImmKind,
        /// The 64-bit immediate (the two slots' imm fields).
        imm: u64,
    },
    /// `dst = *(size *)(src + off)`, sign-extended when `sign_extend`.
    Load {
        /// The access size.
        size: MemSize,
        /// Whether the loaded value is sign-extended (v4 `ldxs*`) instead of zero-extended.
        sign_extend: bool,
        /// The destination register.
        dst: Reg,
        /// The base address register.
        src: Reg,
        /// The offset added to the base address.
        off: i16,
    },
    /// `*(size *)(dst + off) = src`.
    Store {
        /// The access size.
        size: MemSize,
        /// The base address register.
        dst: Reg,
        /// The offset added to the base address.
        off: i16,
        /// The value stored: a register (`stx`) or the immediate (`st`).
        src: Source,
    },
    /// Atomic read-modify-write of `*(width *)(dst + off)` with src.
    Atomic {
        /// 4 or 8 bytes.
        width: Width,
        /// The operation.
        op: AtomicOp,
        /// Whether the old value is loaded into src (always for `Xchg` and `CmpXchg`).
        fetch: bool,
        /// The base address register.
        dst: Reg,
        /// The operand register (and the destination of fetched values).
        src: Reg,
        /// The offset added to the base address.
        off: i16,
    },
    /// Legacy packet load into r0, in network byte order converted to host order.
    LoadPacket {
        /// The access size (1, 2 or 4 bytes).
        size: MemSize,
        /// Absolute or register-relative.
        mode: PacketMode,
        /// The packet offset (added to the register for `Ind`).
        imm: i32,
    },
    /// Unconditional jump by `off` slots (`ja`, offset field) or `imm` slots (`ja32`).
    Ja {
        /// The jump offset, in slots from the next instruction.
        off: i32,
        /// Whether this is `ja32` (offset in the imm field, JMP32 class).
        long: bool,
    },
    /// Conditional jump to pc + 1 + off.
    Jump {
        /// 32-bit (JMP32) or 64-bit comparison.
        width: Width,
        /// The condition.
        cond: JmpCond,
        /// The first operand.
        dst: Reg,
        /// The second operand.
        src: Source,
        /// The jump offset, in slots from the next instruction.
        off: i16,
    },
    /// `call` (helper, local function or kfunc).
    Call(CallTarget),
    /// `callx`: call the helper whose id the register holds.
    Callx(Reg),
    /// Return from the current function (or the program).
    Exit,
}

/// Why a slot does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No instruction has this opcode.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A field has a value the opcode does not allow.
    #[error("opcode {opcode:#04x}: {field} must be {expected} (is {value})")]
    BadField {
        /// The opcode.
        opcode: u8,
        /// The field's name (`src`, `off`, `imm`, ...).
        field: &'static str,
        /// Its value.
        value: i64,
        /// What the opcode allows there.
        expected: &'static str,
    },
    /// A register number above 10.
    #[error("register r{0} does not exist (r0 to r10)")]
    BadRegister(u8),
    /// The program ends in the middle of an `lddw`.
    #[error("lddw is missing its second slot")]
    TruncatedLddw,
    /// The second slot of an `lddw` has fields other than imm set.
    #[error("second slot of lddw must have only its imm set")]
    BadLddwSecondSlot,
}

fn field(insn: Insn, name: &'static str, value: i64, expected: &'static str) -> DecodeError {
    DecodeError::BadField {
        opcode: insn.opcode,
        field: name,
        value,
        expected,
    }
}

fn reg(number: u8) -> Result<Reg, DecodeError> {
    Reg::new(number).ok_or(DecodeError::BadRegister(number))
}

fn require_zero(insn: Insn, name: &'static str, value: i64) -> Result<(), DecodeError> {
    if value == 0 {
        Ok(())
    } else {
        Err(field(insn, name, value, "0"))
    }
}

impl Instruction {
    /// Decodes the instruction starting at `slot`; `next` is the following slot, needed only by
    /// `lddw`. Returns the instruction and how many slots it occupies (1 or 2).
    pub fn decode(slot: Insn, next: Option<Insn>) -> Result<(Instruction, usize), DecodeError> {
        let class = slot.class();
        let decoded = match class {
            op::CLASS_ALU | op::CLASS_ALU64 => decode_alu(slot)?,
            op::CLASS_JMP | op::CLASS_JMP32 => decode_jmp(slot)?,
            op::CLASS_LD => return decode_ld(slot, next),
            op::CLASS_LDX => decode_ldx(slot)?,
            op::CLASS_ST | op::CLASS_STX => decode_store(slot)?,
            _ => unreachable!("class is three bits"),
        };
        Ok((decoded, 1))
    }

    /// Number of slots the instruction occupies.
    pub fn slots(&self) -> usize {
        match self {
            Instruction::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// Encodes the instruction into its one or two slots.
    pub fn encode(&self) -> Vec<Insn> {
        match *self {
            Instruction::Alu {
                width,
                op: alu,
                dst,
                src,
            } => {
                let class = alu_class(width);
                let off = match alu {
                    AluOp::SDiv | AluOp::SMod => 1,
                    _ => 0,
                };
                let (srcbit, src_reg, imm) = source_fields(src);
                vec![Insn::new(
                    class | srcbit | alu.code(),
                    dst.0,
                    src_reg,
                    off,
                    imm,
                )]
            }
            Instruction::Neg { width, dst } => {
                vec![Insn::new(alu_class(width) | op::ALU_NEG, dst.0, 0, 0, 0)]
            }
            Instruction::MovSx {
                width,
                dst,
                src,
                from_bits,
            } => vec![Insn::new(
                alu_class(width) | op::SRC_X | op::ALU_MOV,
                dst.0,
                src.0,
                from_bits as i16,
                0,
            )],
            Instruction::Endian { order, bits, dst } => {
                let opcode = match order {
                    ByteOrder::ToLe => op::CLASS_ALU | op::SRC_K | op::ALU_END,
                    ByteOrder::ToBe => op::CLASS_ALU | op::SRC_X | op::ALU_END,
                    ByteOrder::Swap => op::CLASS_ALU64 | op::SRC_K | op::ALU_END,
                };
                vec![Insn::new(opcode, dst.0, 0, 0, bits as i32)]
            }
            Instruction::LoadImm64 { dst, kind, imm } => vec![
                Insn::new(op::LDDW, dst.0, kind.code(), 0, imm as u32 as i32),
                Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
            ],
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let mode = if sign_extend {
                    op::MODE_MEMSX
                } else {
                    op::MODE_MEM
                };
                vec![Insn::new(
                    op::CLASS_LDX | mode | size.code(),
                    dst.0,
                    src.0,
                    off,
                    0,
                )]
            }
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => match src {
                Source::Imm(imm) => vec![Insn::new(
                    op::CLASS_ST | op::MODE_MEM | size.code(),
                    dst.0,
                    0,
                    off,
                    imm,
                )],
                Source::Reg(src) => vec![Insn::new(
                    op::CLASS_STX | op::MODE_MEM | size.code(),
                    dst.0,
                    src.0,
                    off,
                    0,
                )],
            },
            Instruction::Atomic {
                width,
                op: atomic,
                fetch,
                dst,
                src,
                off,
            } => {
                let size = match width {
                    Width::W32 => op::SIZE_W,
                    Width::W64 => op::SIZE_DW,
                };
                let imm = match atomic {
                    AtomicOp::Add => op::ATOMIC_ADD,
                    AtomicOp::Or => op::ATOMIC_OR,
                    AtomicOp::And => op::ATOMIC_AND,
                    AtomicOp::Xor => op::ATOMIC_XOR,
                    AtomicOp::Xchg => op::ATOMIC_XCHG,
                    AtomicOp::CmpXchg => op::ATOMIC_CMPXCHG,
                } | if fetch { op::ATOMIC_FETCH } else { 0 };
                vec![Insn::new(
                    op::CLASS_STX | op::MODE_ATOMIC | size,
                    dst.0,
                    src.0,
                    off,
                    imm,
                )]
            }
            Instruction::LoadPacket { size, mode, imm } => {
                let (mode_bits, src) = match mode {
                    PacketMode::Abs => (op::MODE_ABS, 0),
                    PacketMode::Ind(reg) => (op::MODE_IND, reg.0),
                };
                vec![Insn::new(
                    op::CLASS_LD | mode_bits | size.code(),
                    0,
                    src,
                    0,
                    imm,
                )]
            }
            Instruction::Ja { off, long } => {
                if long {
                    vec![Insn::new(op::CLASS_JMP32 | op::JMP_JA, 0, 0, 0, off)]
                } else {
                    vec![Insn::new(op::CLASS_JMP | op::JMP_JA, 0, 0, off as i16, 0)]
                }
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let class = match width {
                    Width::W32 => op::CLASS_JMP32,
                    Width::W64 => op::CLASS_JMP,
                };
                let (srcbit, src_reg, imm) = source_fields(src);
                vec![Insn::new(
                    class | srcbit | cond.code(),
                    dst.0,
                    src_reg,
                    off,
                    imm,
                )]
            }
            Instruction::Call(target) => {
                let (src, imm) = match target {
                    CallTarget::Helper(id) => (0, id),
                    CallTarget::Local(off) => (1, off),
                    CallTarget::Kfunc(id) => (2, id),
                };
                vec![Insn::new(op::CALL, 0, src, 0, imm)]
            }
            Instruction::Callx(reg) => vec![Insn::new(op::CALLX, reg.0, 0, 0, 0)],
            Instruction::Exit => vec![Insn::new(op::EXIT, 0, 0, 0, 0)],
        }
    }

    /// The register this instruction writes, if any (r0 for calls and legacy packet loads;
    /// the src register for fetching atomics).
    pub fn written_register(&self) -> Option<Reg> {
        match *self {
            Instruction::Alu { dst, .. }
            | Instruction::Neg { dst, .. }
            | Instruction::MovSx { dst, .. }
            | Instruction::Endian { dst, .. }
            | Instruction::LoadImm64 { dst, .. }
            | Instruction::Load { dst, .. } => Some(dst),
            Instruction::Atomic {
                op: AtomicOp::CmpXchg,
                ..
            }
            | Instruction::LoadPacket { .. }
            | Instruction::Call(_)
            | Instruction::Callx(_) => Some(Reg::R0),
            Instruction::Atomic {
                fetch: true, src, ..
            } => Some(src),
            _ => None,
        }
    }

    /// The relative target of a jump or local call (target = pc + 1 + offset).
    pub fn branch_offset(&self) -> Option<i64> {
        match *self {
            Instruction::Ja { off, .. } => Some(off as i64),
            Instruction::Jump { off, .. } => Some(off as i64),
            Instruction::Call(CallTarget::Local(off)) => Some(off as i64),
            _ => None,
        }
    }
}

const fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => op::CLASS_ALU,
        Width::W64 => op::CLASS_ALU64,
    }
}

fn source_fields(src: Source) -> (u8, u8, i32) {
    match src {
        Source::Reg(reg) => (op::SRC_X, reg.0, 0),
        Source::Imm(imm) => (op::SRC_K, 0, imm),
    }
}

fn width_of(class: u8) -> Width {
    if class == op::CLASS_ALU64 || class == op::CLASS_JMP {
        Width::W64
    } else {
        Width::W32
    }
}

/// Reads the second operand of an ALU or jump instruction; the unused field must be zero.
fn decode_source(insn: Insn) -> Result<Source, DecodeError> {
    if insn.opcode & op::SRC_X != 0 {
        require_zero(insn, "imm", insn.imm as i64)?;
        Ok(Source::Reg(reg(insn.src)?))
    } else {
        require_zero(insn, "src", insn.src as i64)?;
        Ok(Source::Imm(insn.imm))
    }
}

/// RFC 9669 section 4.1 and 4.2: arithmetic, byte swap.
fn decode_alu(insn: Insn) -> Result<Instruction, DecodeError> {
    let class = insn.class();
    let width = width_of(class);
    let dst = reg(insn.dst)?;
    let code = insn.opcode & 0xf0;
    let alu = match code {
        op::ALU_ADD => AluOp::Add,
        op::ALU_SUB => AluOp::Sub,
        op::ALU_MUL => AluOp::Mul,
        op::ALU_OR => AluOp::Or,
        op::ALU_AND => AluOp::And,
        op::ALU_LSH => AluOp::Lsh,
        op::ALU_RSH => AluOp::Rsh,
        op::ALU_XOR => AluOp::Xor,
        op::ALU_ARSH => AluOp::Arsh,
        op::ALU_DIV | op::ALU_MOD => {
            let signed = match insn.off {
                0 => false,
                1 => true,
                other => return Err(field(insn, "offset", other as i64, "0 or 1")),
            };
            let src = decode_source(insn)?;
            let alu = match (code, signed) {
                (op::ALU_DIV, false) => AluOp::Div,
                (op::ALU_DIV, true) => AluOp::SDiv,
                (_, false) => AluOp::Mod,
                (_, true) => AluOp::SMod,
            };
            return Ok(Instruction::Alu {
                width,
                op: alu,
                dst,
                src,
            });
        }
        op::ALU_MOV => {
            if insn.opcode & op::SRC_X != 0 && insn.off != 0 {
                let valid = match width {
                    Width::W64 => matches!(insn.off, 8 | 16 | 32),
                    Width::W32 => matches!(insn.off, 8 | 16),
                };
                if !valid {
                    let expected = if width == Width::W64 {
                        "0, 8, 16 or 32"
                    } else {
                        "0, 8 or 16"
                    };
                    return Err(field(insn, "offset", insn.off as i64, expected));
                }
                require_zero(insn, "imm", insn.imm as i64)?;
                return Ok(Instruction::MovSx {
                    width,
                    dst,
                    src: reg(insn.src)?,
                    from_bits: insn.off as u8,
                });
            }
            AluOp::Mov
        }
        op::ALU_NEG => {
            if insn.opcode & op::SRC_X != 0 {
                return Err(DecodeError::UnknownOpcode(insn.opcode));
            }
            require_zero(insn, "src", insn.src as i64)?;
            require_zero(insn, "offset", insn.off as i64)?;
            require_zero(insn, "imm", insn.imm as i64)?;
            return Ok(Instruction::Neg { width, dst });
        }
        op::ALU_END => {
            let order = match (class, insn.opcode & op::SRC_X) {
                (op::CLASS_ALU, op::SRC_K) => ByteOrder::ToLe,
                (op::CLASS_ALU, _) => ByteOrder::ToBe,
                (_, op::SRC_K) => ByteOrder::Swap,
                _ => return Err(DecodeError::UnknownOpcode(insn.opcode)),
            };
            require_zero(insn, "src", insn.src as i64)?;
            require_zero(insn, "offset", insn.off as i64)?;
            if !matches!(insn.imm, 16 | 32 | 64) {
                return Err(field(insn, "imm", insn.imm as i64, "16, 32 or 64"));
            }
            return Ok(Instruction::Endian {
                order,
                bits: insn.imm as u8,
                dst,
            });
        }
        _ => return Err(DecodeError::UnknownOpcode(insn.opcode)),
    };
    require_zero(insn, "offset", insn.off as i64)?;
    Ok(Instruction::Alu {
        width,
        op: alu,
        dst,
        src: decode_source(insn)?,
    })
}

/// RFC 9669 section 4.3: jumps, calls and exit.
fn decode_jmp(insn: Insn) -> Result<Instruction, DecodeError> {
    let class = insn.class();
    let code = insn.opcode & 0xf0;
    let is_x = insn.opcode & op::SRC_X != 0;
    match code {
        op::JMP_JA => {
            if is_x {
                return Err(DecodeError::UnknownOpcode(insn.opcode));
            }
            require_zero(insn, "dst", insn.dst as i64)?;
            require_zero(insn, "src", insn.src as i64)?;
            if class == op::CLASS_JMP {
                require_zero(insn, "imm", insn.imm as i64)?;
                Ok(Instruction::Ja {
                    off: insn.off as i32,
                    long: false,
                })
            } else {
                require_zero(insn, "offset", insn.off as i64)?;
                Ok(Instruction::Ja {
                    off: insn.imm,
                    long: true,
                })
            }
        }
        op::JMP_CALL if class == op::CLASS_JMP => {
            require_zero(insn, "offset", insn.off as i64)?;
            if is_x {
                require_zero(insn, "src", insn.src as i64)?;
                require_zero(insn, "imm", insn.imm as i64)?;
                return Ok(Instruction::Callx(reg(insn.dst)?));
            }
            require_zero(insn, "dst", insn.dst as i64)?;
            let target = match insn.src {
                0 => CallTarget::Helper(insn.imm),
                1 => CallTarget::Local(insn.imm),
                2 => CallTarget::Kfunc(insn.imm),
                other => return Err(field(insn, "src", other as i64, "0, 1 or 2")),
            };
            Ok(Instruction::Call(target))
        }
        op::JMP_EXIT if class == op::CLASS_JMP && !is_x => {
            require_zero(insn, "dst", insn.dst as i64)?;
            require_zero(insn, "src", insn.src as i64)?;
            require_zero(insn, "offset", insn.off as i64)?;
            require_zero(insn, "imm", insn.imm as i64)?;
            Ok(Instruction::Exit)
        }
        _ => {
            let cond = JmpCond::from_code(code).ok_or(DecodeError::UnknownOpcode(insn.opcode))?;
            Ok(Instruction::Jump {
                width: width_of(class),
                cond,
                dst: reg(insn.dst)?,
                src: decode_source(insn)?,
                off: insn.off,
            })
        }
    }
}

/// RFC 9669 sections 5.4 and 5.5: `lddw` and the legacy packet loads.
fn decode_ld(insn: Insn, next: Option<Insn>) -> Result<(Instruction, usize), DecodeError> {
    let size = MemSize::from_code(insn.opcode);
    match insn.opcode & 0xe0 {
        op::MODE_IMM if size == MemSize::DW => {
            let dst = reg(insn.dst)?;
            let kind = LoadImmKind::from_code(insn.src)
                .ok_or_else(|| field(insn, "src", insn.src as i64, "0 to 6"))?;
            require_zero(insn, "offset", insn.off as i64)?;
            let next = next.ok_or(DecodeError::TruncatedLddw)?;
            if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(DecodeError::BadLddwSecondSlot);
            }
            let imm = (insn.imm as u32 as u64) | ((next.imm as u32 as u64) << 32);
            Ok((Instruction::LoadImm64 { dst, kind, imm }, 2))
        }
        mode @ (op::MODE_ABS | op::MODE_IND) if size != MemSize::DW => {
            require_zero(insn, "dst", insn.dst as i64)?;
            require_zero(insn, "offset", insn.off as i64)?;
            let mode = if mode == op::MODE_ABS {
                require_zero(insn, "src", insn.src as i64)?;
                PacketMode::Abs
            } else {
                PacketMode::Ind(reg(insn.src)?)
            };
            Ok((
                Instruction::LoadPacket {
                    size,
                    mode,
                    imm: insn.imm,
                },
                1,
            ))
        }
        _ => Err(DecodeError::UnknownOpcode(insn.opcode)),
    }
}

/// RFC 9669 section 5.1 and 5.2: register loads, including v4 sign-extending loads.
fn decode_ldx(insn: Insn) -> Result<Instruction, DecodeError> {
    let size = MemSize::from_code(insn.opcode);
    let sign_extend = match insn.opcode & 0xe0 {
        op::MODE_MEM => false,
        op::MODE_MEMSX if size != MemSize::DW => true,
        _ => return Err(DecodeError::UnknownOpcode(insn.opcode)),
    };
    require_zero(insn, "imm", insn.imm as i64)?;
    Ok(Instruction::Load {
        size,
        sign_extend,
        dst: reg(insn.dst)?,
        src: reg(insn.src)?,
        off: insn.off,
    })
}

/// RFC 9669 sections 5.1 and 5.3: stores and atomic operations.
fn decode_store(insn: Insn) -> Result<Instruction, DecodeError> {
    let size = MemSize::from_code(insn.opcode);
    let dst = reg(insn.dst)?;
    match (insn.class(), insn.opcode & 0xe0) {
        (op::CLASS_ST, op::MODE_MEM) => {
            require_zero(insn, "src", insn.src as i64)?;
            Ok(Instruction::Store {
                size,
                dst,
                off: insn.off,
                src: Source::Imm(insn.imm),
            })
        }
        (op::CLASS_STX, op::MODE_MEM) => {
            require_zero(insn, "imm", insn.imm as i64)?;
            Ok(Instruction::Store {
                size,
                dst,
                off: insn.off,
                src: Source::Reg(reg(insn.src)?),
            })
        }
        (op::CLASS_STX, op::MODE_ATOMIC) if matches!(size, MemSize::W | MemSize::DW) => {
            let width = if size == MemSize::W {
                Width::W32
            } else {
                Width::W64
            };
            let (atomic, fetch) = match insn.imm {
                op::ATOMIC_XCHG => (AtomicOp::Xchg, true),
                op::ATOMIC_CMPXCHG => (AtomicOp::CmpXchg, true),
                imm => {
                    let atomic = match imm & !op::ATOMIC_FETCH {
                        op::ATOMIC_ADD => AtomicOp::Add,
                        op::ATOMIC_OR => AtomicOp::Or,
                        op::ATOMIC_AND => AtomicOp::And,
                        op::ATOMIC_XOR => AtomicOp::Xor,
                        _ => {
                            return Err(field(
                                insn,
                                "imm",
                                imm as i64,
                                "an atomic operation (0x00, 0x40, 0x50, 0xa0 [|1], 0xe1, 0xf1)",
                            ));
                        }
                    };
                    (atomic, imm & op::ATOMIC_FETCH != 0)
                }
            };
            Ok(Instruction::Atomic {
                width,
                op: atomic,
                fetch,
                dst,
                src: reg(insn.src)?,
                off: insn.off,
            })
        }
        _ => Err(DecodeError::UnknownOpcode(insn.opcode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(slots: &[Insn]) {
        let (instruction, used) = Instruction::decode(slots[0], slots.get(1).copied()).unwrap();
        assert_eq!(used, instruction.slots());
        assert_eq!(instruction.encode(), slots[..used].to_vec());
    }

    #[test]
    fn every_valid_single_slot_opcode_round_trips() {
        let mut decoded = 0;
        for opcode in 0..=255u8 {
            for (src, off, imm) in [
                (0u8, 0i16, 0i32),
                (1, 0, 0),
                (0, 1, 0),
                (0, 8, 0),
                (1, 8, 0),
            ] {
                for imm in [imm, 16, 0x41, 0xf1] {
                    let slot = Insn::new(opcode, 1, src, off, imm);
                    if opcode == op::LDDW {
                        continue;
                    }
                    if Instruction::decode(slot, None).is_ok() {
                        round_trip(&[slot]);
                        decoded += 1;
                    }
                }
            }
        }
        assert!(decoded > 200, "only {decoded} encodings decoded");
    }

    #[test]
    fn lddw_round_trips_and_needs_its_second_slot() {
        let slots = [
            Insn::new(op::LDDW, 2, 0, 0, 0x55667788),
            Insn::new(0, 0, 0, 0, 0x11223344),
        ];
        round_trip(&slots);
        let (instruction, _) = Instruction::decode(slots[0], Some(slots[1])).unwrap();
        assert_eq!(
            instruction,
            Instruction::LoadImm64 {
                dst: Reg::R2,
                kind: LoadImmKind::Imm,
                imm: 0x1122334455667788
            }
        );
        assert_eq!(
            Instruction::decode(slots[0], None),
            Err(DecodeError::TruncatedLddw)
        );
    }

    #[test]
    fn reserved_fields_must_be_zero() {
        // exit with a non-zero imm
        assert!(Instruction::decode(Insn::new(op::EXIT, 0, 0, 0, 1), None).is_err());
        // add64 imm with a source register
        assert!(Instruction::decode(Insn::new(0x07, 0, 1, 0, 1), None).is_err());
        // mov32 with offset 32 is not a movsx form
        assert!(Instruction::decode(Insn::new(0xbc, 0, 1, 32, 0), None).is_err());
        // neg with the register source bit
        assert!(Instruction::decode(Insn::new(0x8f, 0, 0, 0, 0), None).is_err());
    }

    #[test]
    fn bad_registers_are_rejected() {
        assert_eq!(
            Instruction::decode(Insn::new(0xb7, 11, 0, 0, 0), None),
            Err(DecodeError::BadRegister(11))
        );
    }

    #[test]
    fn signed_conditions_use_the_jump_width() {
        assert!(JmpCond::Slt.holds(Width::W32, 0xffff_ffff, 0));
        assert!(!JmpCond::Slt.holds(Width::W64, 0xffff_ffff, 0));
        assert!(JmpCond::Set.holds(Width::W64, 6, 2));
    }
}
