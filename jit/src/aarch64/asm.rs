//! AArch64 machine instructions as small value types.
//!
//! Instruction selection builds these values and hands them to the [`Encoder`], the single place
//! that turns them into bytes. Only the forms the JIT needs exist. Immediates that an encoding
//! cannot hold are reported by the encoder as an error, never assembled wrongly; the predicates
//! here ([`add_immediate`], [`logical_immediate`], [`Mem::offset_fits`]) let selection choose a
//! form that fits beforehand.
//!
//! [`Encoder`]: super::encoder::Encoder

use dynasmrt::DynamicLabel;

/// A general-purpose register, numbered as in the encoding. `Zr` is register 31 in the operand
/// positions where 31 means the zero register (the stack pointer has its own operand kinds).
// Every register exists, so that names match encodings, even those the JIT never uses.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Gpr {
    X0 = 0,
    X1 = 1,
    X2 = 2,
    X3 = 3,
    X4 = 4,
    X5 = 5,
    X6 = 6,
    X7 = 7,
    X8 = 8,
    X9 = 9,
    X10 = 10,
    X11 = 11,
    X12 = 12,
    X13 = 13,
    X14 = 14,
    X15 = 15,
    X16 = 16,
    X17 = 17,
    X18 = 18,
    X19 = 19,
    X20 = 20,
    X21 = 21,
    X22 = 22,
    X23 = 23,
    X24 = 24,
    X25 = 25,
    X26 = 26,
    X27 = 27,
    X28 = 28,
    X29 = 29,
    X30 = 30,
    Zr = 31,
}

impl Gpr {
    /// The register's number in the encoding (what dynasm's dynamic registers take).
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// The base register of a memory operand: a general-purpose register or the stack pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Base {
    Reg(Gpr),
    Sp,
}

/// Operand size of register operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (`w` registers): writing a register zero-extends it to 64 bits.
    W32,
    /// 64-bit (`x` registers).
    W64,
}

impl Width {
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
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

/// A memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    /// `[base, #offset]`: a scaled unsigned 12-bit offset or an unscaled signed 9-bit one.
    Offset { base: Base, offset: i32 },
    /// `[base, index]`.
    Index { base: Base, index: Gpr },
}

impl Mem {
    pub const fn at(base: Gpr, offset: i32) -> Mem {
        Mem::Offset {
            base: Base::Reg(base),
            offset,
        }
    }

    /// Whether `[base, #offset]` can address an access of `size`: a multiple of the size
    /// below 4096 times it (`ldr`), or any offset in -256..=255 (`ldur`).
    pub const fn offset_fits(size: Size, offset: i32) -> bool {
        let bytes = size.bytes() as i32;
        (offset >= 0 && offset % bytes == 0 && offset / bytes < 4096)
            || (offset >= -256 && offset <= 255)
    }
}

/// Addressing of load/store pair instructions (offsets are multiples of 8 in -512..=504).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairMode {
    /// `[base, #offset]`.
    Offset,
    /// `[base, #offset]!`: base += offset, then the access.
    PreIndex,
    /// `[base], #offset`: the access, then base += offset.
    PostIndex,
}

/// Three-register data processing (`dst = a OP b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    /// `subs`: a subtraction that sets the flags.
    Subs,
    And,
    Orr,
    Eor,
    Mul,
    Udiv,
    Sdiv,
    /// Shifts by a register: the count is taken modulo the width, as eBPF wants.
    Lsl,
    Lsr,
    Asr,
}

/// Bitwise operations with a logical (bitmask) immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicOp {
    And,
    Orr,
    Eor,
}

/// Shifts by a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftOp {
    Lsl,
    Lsr,
    Asr,
}

/// Sign and zero extensions of a register's low bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtendOp {
    /// Sign-extends the low 8 bits (to 32 or 64 bits).
    Sxtb,
    /// Sign-extends the low 16 bits.
    Sxth,
    /// Sign-extends the low 32 bits to 64 (64-bit only).
    Sxtw,
    /// Zero-extends the low 16 bits (32-bit form only; it clears the upper half too).
    Uxth,
}

/// Move-wide instructions: one 16-bit chunk at a 16-bit aligned position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveWide {
    /// `movz`: the chunk, zeros elsewhere.
    Zero,
    /// `movn`: the inverse of the chunk, ones elsewhere.
    Not,
    /// `movk`: replaces the chunk, keeping the other bits.
    Keep,
}

/// ARMv8.1 LSE read-modify-write instructions (all with acquire-release ordering, `al`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LseOp {
    /// `ldaddal`: memory += src.
    Add,
    /// `ldsetal`: memory |= src.
    Set,
    /// `ldclral`: memory &= !src.
    Clr,
    /// `ldeoral`: memory ^= src.
    Eor,
    /// `swpal`: memory = src.
    Swp,
}

/// Condition codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Ne,
    /// Unsigned higher or same (carry set).
    Hs,
    /// Unsigned lower (carry clear).
    Lo,
    /// Unsigned higher.
    Hi,
    /// Unsigned lower or same.
    Ls,
    /// Signed greater or equal.
    Ge,
    /// Signed less.
    Lt,
    /// Signed greater.
    Gt,
    /// Signed less or equal.
    Le,
}

impl Cond {
    /// The condition that holds exactly when this one does not.
    pub const fn invert(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
        }
    }
}

/// A code location the encoder binds and branches to.
pub type Label = DynamicLabel;

/// One machine instruction (or label binding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inst {
    /// Binds a label to the current position.
    Bind(Label),
    /// `mov dst, src` (the 32-bit form zero-extends).
    Mov { w: Width, dst: Gpr, src: Gpr },
    /// `movz`/`movn`/`movk dst, #imm, lsl #shift` (`shift` is 0 or 16, or also 32 and 48 for
    /// 64-bit).
    MoveWide {
        op: MoveWide,
        w: Width,
        dst: Gpr,
        imm: u16,
        shift: u8,
    },
    /// Loads a constant of the program: the shortest sequence ([`move_constant`]), or with
    /// constant blinding, `value ^ key` into `dst` and `key` into `scratch` (both move-wide
    /// sequences of fixed length) and `eor dst, dst, scratch` (see the encoder). Values below
    /// 2^32 are loaded into the 32-bit register (zero-extending).
    MovConst { dst: Gpr, value: u64, scratch: Gpr },
    /// `mov dst, sp`.
    MovFromSp { dst: Gpr },
    /// `mov sp, src`.
    MovToSp { src: Gpr },
    /// `op dst, a, b`.
    Alu {
        op: AluOp,
        w: Width,
        dst: Gpr,
        a: Gpr,
        b: Gpr,
    },
    /// `add`/`sub dst, src, #imm` ([`add_immediate`] must hold for `imm`).
    AddImm {
        sub: bool,
        w: Width,
        dst: Gpr,
        src: Gpr,
        imm: u32,
    },
    /// `subs dst, src, #imm`: a subtraction that sets the flags ([`add_immediate`] must hold).
    SubsImm {
        w: Width,
        dst: Gpr,
        src: Gpr,
        imm: u32,
    },
    /// `and`/`orr`/`eor dst, src, #imm` ([`logical_immediate`] must hold for `imm`).
    LogicImm {
        op: LogicOp,
        w: Width,
        dst: Gpr,
        src: Gpr,
        imm: u64,
    },
    /// `cmp a, b` (flags of `a - b`).
    Cmp { w: Width, a: Gpr, b: Gpr },
    /// `cmp a, #imm`, or `cmn a, #imm` (flags of `a + imm`) when `negate`.
    CmpImm {
        negate: bool,
        w: Width,
        a: Gpr,
        imm: u32,
    },
    /// `tst a, b` (flags of `a & b`).
    Tst { w: Width, a: Gpr, b: Gpr },
    /// `tst a, #imm` ([`logical_immediate`] must hold).
    TstImm { w: Width, a: Gpr, imm: u64 },
    /// `msub dst, a, b, acc`: `dst = acc - a * b`.
    Msub {
        w: Width,
        dst: Gpr,
        a: Gpr,
        b: Gpr,
        acc: Gpr,
    },
    /// Shift by a constant in 1..width.
    ShiftImm {
        op: ShiftOp,
        w: Width,
        dst: Gpr,
        src: Gpr,
        amount: u8,
    },
    /// `neg dst, src`.
    Neg { w: Width, dst: Gpr, src: Gpr },
    /// `mvn dst, src`.
    Mvn { w: Width, dst: Gpr, src: Gpr },
    /// `rev dst, src`: reverses the bytes of the whole register.
    Rev { w: Width, dst: Gpr, src: Gpr },
    /// `rev16 dst, src`: swaps the bytes of each 16-bit half-word.
    Rev16 { w: Width, dst: Gpr, src: Gpr },
    /// Sign or zero extension.
    Extend {
        op: ExtendOp,
        w: Width,
        dst: Gpr,
        src: Gpr,
    },
    /// Loads `size` bytes, zero-extending them, or sign-extending them to 64 bits.
    Load {
        size: Size,
        sign_extend: bool,
        dst: Gpr,
        mem: Mem,
    },
    /// Stores the low `size` bytes of a register.
    Store { size: Size, src: Gpr, mem: Mem },
    /// `ldp`/`stp a, b` (64-bit registers).
    Pair {
        load: bool,
        a: Gpr,
        b: Gpr,
        base: Base,
        offset: i32,
        mode: PairMode,
    },
    /// `str src, [sp, #-16]!`: pushes one register in a 16-byte slot.
    Push { src: Gpr },
    /// `ldr dst, [sp], #16`.
    Pop { dst: Gpr },
    /// `ldaxr dst, [addr]`: load-acquire exclusive.
    LoadExclusive { w: Width, dst: Gpr, addr: Gpr },
    /// `stlxr status, src, [addr]`: store-release exclusive; `status` (32-bit) is 0 on success.
    StoreExclusive {
        w: Width,
        status: Gpr,
        src: Gpr,
        addr: Gpr,
    },
    /// `clrex`: drops the exclusive monitor.
    Clrex,
    /// `ld<op>al`/`swpal src, old, [addr]`: `old` receives the previous memory value.
    Lse {
        op: LseOp,
        w: Width,
        src: Gpr,
        old: Gpr,
        addr: Gpr,
    },
    /// `casal compare, src, [addr]`: stores src if memory equals `compare`; `compare`
    /// receives the previous memory value either way.
    Cas {
        w: Width,
        compare: Gpr,
        src: Gpr,
        addr: Gpr,
    },
    /// `b label` (+-128 MiB).
    B(Label),
    /// `bl label` (+-128 MiB).
    Bl(Label),
    /// `b.cond label` (+-1 MiB, or an inverted branch over a `b` when far).
    BCond(Cond, Label),
    /// `cbz`/`cbnz reg, label` (+-1 MiB, or an inverted branch over a `b` when far).
    Cbz {
        nonzero: bool,
        w: Width,
        reg: Gpr,
        label: Label,
    },
    /// `tbz`/`tbnz reg, #bit, label` (+-32 KiB, or an inverted branch over a `b` when far).
    Tbz {
        nonzero: bool,
        reg: Gpr,
        bit: u8,
        label: Label,
    },
    /// `blr reg`.
    Blr(Gpr),
    /// `ret` (to x30).
    Ret,
}

/// The 16-bit chunks of a value, lowest first.
fn chunks(value: u64, count: usize) -> impl Iterator<Item = (u8, u16)> {
    (0..count).map(move |index| ((16 * index) as u8, (value >> (16 * index)) as u16))
}

/// Emits the shortest sequence loading `value` into `dst`: one `movz`/`movn`/`orr` where it
/// fits, else `movz` (or `movn`) and a `movk` per remaining 16-bit chunk. Values below 2^32 go
/// into the 32-bit register, which zero-extends.
pub fn move_constant(dst: Gpr, value: u64, emit: &mut impl FnMut(Inst)) {
    let mut move_wide = |op, w, imm, shift| {
        emit(Inst::MoveWide {
            op,
            w,
            dst,
            imm,
            shift,
        })
    };
    if let Ok(value) = u32::try_from(value) {
        let (low, high) = (value as u16, (value >> 16) as u16);
        let w = Width::W32;
        if high == 0 {
            move_wide(MoveWide::Zero, w, low, 0);
        } else if low == 0 {
            move_wide(MoveWide::Zero, w, high, 16);
        } else if high == 0xffff {
            move_wide(MoveWide::Not, w, !low, 0);
        } else if low == 0xffff {
            move_wide(MoveWide::Not, w, !high, 16);
        } else if logical_immediate(w, u64::from(value)) {
            emit(Inst::LogicImm {
                op: LogicOp::Orr,
                w,
                dst,
                src: Gpr::Zr,
                imm: u64::from(value),
            });
        } else {
            move_wide(MoveWide::Zero, w, low, 0);
            move_wide(MoveWide::Keep, w, high, 16);
        }
        return;
    }
    let zeros = chunks(value, 4).filter(|(_, chunk)| *chunk == 0).count();
    let ones = chunks(value, 4)
        .filter(|(_, chunk)| *chunk == 0xffff)
        .count();
    if zeros.max(ones) < 3 && logical_immediate(Width::W64, value) {
        emit(Inst::LogicImm {
            op: LogicOp::Orr,
            w: Width::W64,
            dst,
            src: Gpr::Zr,
            imm: value,
        });
        return;
    }
    // Start from all ones (movn) when more chunks are 0xffff than 0, else from zeros.
    let (background, first) = if ones > zeros {
        (0xffff, MoveWide::Not)
    } else {
        (0, MoveWide::Zero)
    };
    let mut started = false;
    for (shift, chunk) in chunks(value, 4) {
        if chunk == background {
            continue;
        }
        if started {
            move_wide(MoveWide::Keep, Width::W64, chunk, shift);
        } else {
            let imm = if first == MoveWide::Not {
                !chunk
            } else {
                chunk
            };
            move_wide(first, Width::W64, imm, shift);
            started = true;
        }
    }
    if !started {
        // Every chunk is 0xffff.
        move_wide(MoveWide::Not, Width::W64, 0, 0);
    }
}

/// Whether `add`/`sub`/`cmp` can take `imm`: 12 bits, optionally shifted left by 12.
pub const fn add_immediate(imm: u64) -> bool {
    imm < (1 << 12) || (imm & 0xfff == 0 && imm < (1 << 24))
}

/// Whether `and`/`orr`/`eor`/`tst` of `width` can take `imm` as a bitmask immediate. Only the low
/// 32 bits count for 32-bit operations.
pub fn logical_immediate(w: Width, imm: u64) -> bool {
    match w {
        Width::W32 => dynasmrt::aarch64::encode_logical_immediate_32bit(imm as u32).is_some(),
        Width::W64 => dynasmrt::aarch64::encode_logical_immediate_64bit(imm).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_predicates_match_the_encodings() {
        assert!(add_immediate(0) && add_immediate(4095) && add_immediate(0x7ff000));
        assert!(!add_immediate(4097) && !add_immediate(0x1000_0000));
        assert!(logical_immediate(Width::W64, 0xff) && logical_immediate(Width::W64, !0xff));
        assert!(!logical_immediate(Width::W64, 0) && !logical_immediate(Width::W64, u64::MAX));
        assert!(
            logical_immediate(Width::W32, 0xffff_0000_ffff) && !logical_immediate(Width::W32, 0)
        );
        assert!(Mem::offset_fits(Size::B64, 32760) && !Mem::offset_fits(Size::B64, 32768));
        assert!(Mem::offset_fits(Size::B64, -256) && !Mem::offset_fits(Size::B64, -257));
        assert!(Mem::offset_fits(Size::B32, 3) && !Mem::offset_fits(Size::B32, 258));
    }
}
