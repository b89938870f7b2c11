//! x86-64 machine instructions as small value types.
//!
//! Instruction selection builds these values and hands them to the [`Encoder`], the single place
//! that turns them into bytes. Only the forms the JIT needs exist, each with the operand kinds it
//! is used with.
//!
//! [`Encoder`]: super::encoder::Encoder

use dynasmrt::DynamicLabel;

/// A general-purpose register, numbered as in the instruction encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Gpr {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rbx = 3,
    Rsp = 4,
    Rbp = 5,
    Rsi = 6,
    Rdi = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
}

impl Gpr {
    /// The register's number in the encoding (what dynasm's dynamic registers take).
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Operand size of register operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: writing a register zero-extends it to 64 bits.
    W32,
    /// 64-bit.
    W64,
}

/// Size of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B8,
    B16,
    B32,
    B64,
}

impl Size {
    /// Size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B8 => 1,
            Size::B16 => 2,
            Size::B32 => 4,
            Size::B64 => 8,
        }
    }
}

/// A memory operand `[base + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    pub base: Gpr,
    pub disp: i32,
}

impl Mem {
    pub const fn new(base: Gpr, disp: i32) -> Mem {
        Mem { base, disp }
    }
}

/// An immediate taken from the program (chosen by its author). The encoder writes it into the
/// code as it is, or, with constant blinding, computes it into `scratch` from two values that
/// do not reveal it (see [`crate::blinding`]) and uses the register instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramImm {
    /// Sign-extended to the operand width.
    pub value: i32,
    /// A register the blinded form may overwrite (never an operand of the instruction).
    pub scratch: Gpr,
}

/// The second operand of two-operand arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    Reg(Gpr),
    /// One of the JIT's own constants, sign-extended to the operand width.
    Imm(i32),
    /// A constant from the program, sign-extended to the operand width.
    Program(ProgramImm),
}

/// Two-operand arithmetic and comparisons (`dst = dst OP src`, flags only for `Cmp`/`Test`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

/// Shift operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftOp {
    Shl,
    Shr,
    Sar,
}

/// Shift count: `cl` (masked by the hardware to the operand width) or a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftCount {
    Cl,
    Imm(u8),
}

/// Read-modify-write operations with a `lock` prefix (no result register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockOp {
    Add,
    Or,
    And,
    Xor,
}

/// Condition codes of `jcc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// Equal / zero.
    E,
    /// Not equal / not zero.
    Ne,
    /// Unsigned above.
    A,
    /// Unsigned above or equal (no carry).
    Ae,
    /// Unsigned below (carry).
    B,
    /// Unsigned below or equal.
    Be,
    /// Signed greater.
    G,
    /// Signed greater or equal.
    Ge,
    /// Signed less.
    L,
    /// Signed less or equal.
    Le,
    /// Sign flag set.
    S,
}

/// A code location the encoder binds and jumps to.
pub type Label = DynamicLabel;

/// Loops start at a multiple of this many bytes, so that a short loop body spans as few
/// instruction-fetch blocks as it can wherever the code before it ends.
pub const LOOP_ALIGN: usize = 16;

/// One machine instruction (or label binding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inst {
    /// Binds a label to the current position.
    Bind(Label),
    /// No-ops up to the next multiple of [`LOOP_ALIGN`] bytes, before a loop's first
    /// instruction (see `Encoder` for the first of two passes).
    AlignLoop,
    /// `mov dst, src` (32-bit form zero-extends).
    Mov { w: Width, dst: Gpr, src: Gpr },
    /// Loads one of the JIT's own 64-bit constants with the shortest encoding that does not
    /// touch the flags.
    MovImm { dst: Gpr, imm: u64 },
    /// Loads a 64-bit constant from the program. Blinded, it clobbers the flags, and `scratch`
    /// for constants that are not 32-bit values zero- or sign-extended.
    MovConst { dst: Gpr, imm: u64, scratch: Gpr },
    /// `dst = base + imm` at width `w` (a `lea`) for a constant from the program. Blinded, it
    /// clobbers the flags; `dst` and `base` must differ.
    AddConst {
        w: Width,
        dst: Gpr,
        base: Gpr,
        imm: i32,
    },
    /// `op dst, src` for registers and immediates.
    Alu {
        op: AluOp,
        w: Width,
        dst: Gpr,
        src: Operand,
    },
    /// `op dst, [mem]` (for `Cmp`, `Sub`, `Add`, ...).
    AluLoad {
        op: AluOp,
        w: Width,
        dst: Gpr,
        src: Mem,
    },
    /// `op size [mem], src` (memory destination, no lock).
    AluStore {
        op: AluOp,
        size: Size,
        dst: Mem,
        src: Operand,
    },
    /// `imul dst, src`.
    Imul { w: Width, dst: Gpr, src: Gpr },
    /// `imul dst, dst, imm` with a constant from the program.
    ImulImm { w: Width, dst: Gpr, imm: ProgramImm },
    /// Shift `dst` by `count`.
    Shift {
        op: ShiftOp,
        w: Width,
        dst: Gpr,
        count: ShiftCount,
    },
    /// `neg dst`.
    Neg { w: Width, dst: Gpr },
    /// `div src` / `idiv src`: divides rdx:rax (edx:eax).
    Div { w: Width, signed: bool, src: Gpr },
    /// `cdq` / `cqo`: sign-extends rax into rdx.
    SignExtendAcc { w: Width },
    /// `movzx dst32, src8/16` (zero-extends to 64 bits).
    MovZx { dst: Gpr, src: Gpr, from: Size },
    /// `movsx`/`movsxd`: sign-extends the low `from` bits of src to `w`.
    MovSx {
        w: Width,
        dst: Gpr,
        src: Gpr,
        from: Size,
    },
    /// Loads `size` bytes, zero- or sign-extending them to 64 bits.
    Load {
        size: Size,
        sign_extend: bool,
        dst: Gpr,
        src: Mem,
    },
    /// Stores the low `size` bytes of a register.
    Store { size: Size, dst: Mem, src: Gpr },
    /// Stores a constant from the program (truncated to `size`; sign-extended for 8-byte
    /// stores). The scratch register must not be the base of `dst`.
    StoreImm {
        size: Size,
        dst: Mem,
        imm: ProgramImm,
    },
    /// `lea dst, [mem]`.
    Lea { w: Width, dst: Gpr, src: Mem },
    /// `lea dst, [base + index]`: `dst = base + index` at width `w`, flags untouched.
    LeaSum {
        w: Width,
        dst: Gpr,
        base: Gpr,
        index: Gpr,
    },
    /// `bswap dst` (32-bit form zero-extends).
    Bswap { w: Width, dst: Gpr },
    /// `ror dst16, 8`: swaps the two low bytes, leaving the rest of the register alone.
    Swap16 { dst: Gpr },
    /// `lock op [mem], src`.
    Locked {
        op: LockOp,
        w: Width,
        dst: Mem,
        src: Gpr,
    },
    /// `lock xadd [mem], src`.
    Xadd { w: Width, dst: Mem, src: Gpr },
    /// `xchg [mem], src` (implicitly locked).
    Xchg { w: Width, dst: Mem, src: Gpr },
    /// `lock cmpxchg [mem], src`: compares with rax/eax.
    CmpXchg { w: Width, dst: Mem, src: Gpr },
    /// `jmp label`.
    Jmp(Label),
    /// `jcc label`.
    Jcc(Cond, Label),
    /// `call label` (rel32).
    Call(Label),
    /// `call reg`.
    CallReg(Gpr),
    /// `ret`.
    Ret,
    /// `push reg`.
    Push(Gpr),
    /// `pop reg`.
    Pop(Gpr),
}
