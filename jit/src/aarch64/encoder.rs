//! The one place where AArch64 machine code bytes are produced (through dynasm).
//!
//! Conditional branches reach +-1 MiB (`b.cond`, `cbz`) or +-32 KiB (`tbz`); `b` and `bl` reach
//! +-128 MiB. Branch lengths are chosen by relaxation: the first pass emits every conditional
//! branch in its short form and records where it went; a branch found out of reach becomes, in
//! the next pass, the inverted branch over an unconditional `b`. Code only grows between passes,
//! so a branch that went long stays long, and passes repeat until none changes (in practice at
//! most one more pass, and none for programs whose code is below 32 KiB).
//!
//! Every immediate is checked against its encoding before dynasm sees it, so an out-of-range
//! value becomes a [`CompileError`], never a panic or a wrong instruction.
//!
//! The program's constants arrive as [`Inst::MovConst`] (selection never puts them in
//! immediate fields when blinding is on). Without blinding it becomes the shortest move
//! sequence; with blinding, the encoder draws a key `k` and emits `movz`/`movk` of `c ^ k`,
//! `movz`/`movk` of `k` into the scratch register and an `eor`: every chunk is written, so the
//! length depends only on whether `c` fits in 32 bits, never on the key.

// dynasm's expansion converts register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use super::asm::{
    AluOp, Base, Cond, ExtendOp, Gpr, Inst, Label, LogicOp, LseOp, Mem, MoveWide, PairMode,
    ShiftOp, Size, Width, add_immediate, logical_immediate, move_constant,
};
use crate::blinding::Keys;
use crate::error::CompileError;
use dynasmrt::aarch64::Aarch64Relocation;
use dynasmrt::{DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

/// Which conditional branches (by emission order) use the long form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JumpPlan {
    long: Vec<bool>,
    /// Every conditional branch is long (the fallback that always reaches).
    all_long: bool,
}

impl JumpPlan {
    /// A plan where every conditional branch is long.
    pub fn all_long() -> JumpPlan {
        JumpPlan {
            long: Vec::new(),
            all_long: true,
        }
    }

    fn is_long(&self, index: usize) -> bool {
        self.all_long || self.long.get(index).copied().unwrap_or(false)
    }

    /// How many branches the plan makes long.
    #[cfg(test)]
    pub fn long_count(&self) -> usize {
        self.long.iter().filter(|long| **long).count()
    }
}

/// A conditional branch emitted in this pass.
#[derive(Clone, Copy, Debug)]
struct BranchRecord {
    /// Offset of the short-form branch instruction (unused for long ones).
    at: usize,
    target: Label,
    /// Bits of the signed word offset of the short form.
    reach_bits: u32,
    long: bool,
}

/// What a pass produced.
pub enum Finished {
    /// The code, every branch in reach.
    Code(Vec<u8>),
    /// Some short branches were out of reach: emit again with this plan.
    Relax(JumpPlan),
}

/// Encodes [`Inst`] values into a byte buffer.
pub struct Encoder {
    ops: VecAssembler<Aarch64Relocation>,
    plan: JumpPlan,
    branches: Vec<BranchRecord>,
    /// The first instruction that could not be encoded.
    error: Option<String>,
    /// The blinding keys, when the program's constants are blinded.
    keys: Option<Keys>,
}

/// `$m W.., W..` or `$m X.., X..` by width, for instructions whose operands are all plain
/// registers.
macro_rules! regs {
    ($ops:ident, $w:expr, $m:ident, $d:expr, $a:expr) => {
        match $w {
            Width::W32 => dynasm!($ops ; .arch aarch64 ; $m W($d), W($a)),
            Width::W64 => dynasm!($ops ; .arch aarch64 ; $m X($d), X($a)),
        }
    };
    ($ops:ident, $w:expr, $m:ident, $d:expr, $a:expr, $b:expr) => {
        match $w {
            Width::W32 => dynasm!($ops ; .arch aarch64 ; $m W($d), W($a), W($b)),
            Width::W64 => dynasm!($ops ; .arch aarch64 ; $m X($d), X($a), X($b)),
        }
    };
    ($ops:ident, $w:expr, $m:ident, $d:expr, $a:expr, $b:expr, $c:expr) => {
        match $w {
            Width::W32 => dynasm!($ops ; .arch aarch64 ; $m W($d), W($a), W($b), W($c)),
            Width::W64 => dynasm!($ops ; .arch aarch64 ; $m X($d), X($a), X($b), X($c)),
        }
    };
}

/// `$m reg, [base, #offset]` in the scaled (`$scaled`) or unscaled (`$unscaled`) form, or
/// `$scaled reg, [base, index]`. `$R` is the register family of the data register.
macro_rules! memory {
    ($ops:ident, $scaled:ident, $unscaled:ident, $R:ident($reg:expr), $mem:expr, $size:expr) => {{
        match $mem {
            Mem::Offset { base, offset } => {
                let base = base_code(base);
                let bytes = $size.bytes() as i32;
                if offset >= 0 && offset % bytes == 0 && offset / bytes < 4096 {
                    let offset = offset as u32;
                    dynasm!($ops ; .arch aarch64 ; $scaled $R($reg), [XSP(base), #offset])
                } else {
                    dynasm!($ops ; .arch aarch64 ; $unscaled $R($reg), [XSP(base), #offset])
                }
            }
            Mem::Index { base, index } => {
                let base = base_code(base);
                let index = index.code();
                dynasm!($ops ; .arch aarch64 ; $scaled $R($reg), [XSP(base), X(index)])
            }
        }
    }};
}

/// `b.cond label` for a [`Cond`] (dynasm takes the condition only as a literal).
macro_rules! bcond {
    ($ops:ident, $cond:expr, $label:expr) => {
        match $cond {
            Cond::Eq => dynasm!($ops ; .arch aarch64 ; b.eq =>$label),
            Cond::Ne => dynasm!($ops ; .arch aarch64 ; b.ne =>$label),
            Cond::Hs => dynasm!($ops ; .arch aarch64 ; b.hs =>$label),
            Cond::Lo => dynasm!($ops ; .arch aarch64 ; b.lo =>$label),
            Cond::Hi => dynasm!($ops ; .arch aarch64 ; b.hi =>$label),
            Cond::Ls => dynasm!($ops ; .arch aarch64 ; b.ls =>$label),
            Cond::Ge => dynasm!($ops ; .arch aarch64 ; b.ge =>$label),
            Cond::Lt => dynasm!($ops ; .arch aarch64 ; b.lt =>$label),
            Cond::Gt => dynasm!($ops ; .arch aarch64 ; b.gt =>$label),
            Cond::Le => dynasm!($ops ; .arch aarch64 ; b.le =>$label),
        }
    };
}

/// The number of a base register (31 is the stack pointer in base positions).
fn base_code(base: Base) -> u8 {
    match base {
        Base::Reg(reg) => reg.code(),
        Base::Sp => 31,
    }
}

/// Word-offset bits of the short branch forms.
const BCOND_REACH_BITS: u32 = 19;
const TBZ_REACH_BITS: u32 = 14;

/// Why `inst` cannot be encoded, if it cannot.
fn invalid(inst: &Inst) -> Option<String> {
    let why = |text: &str| Some(format!("{text}: {inst:?}"));
    match *inst {
        Inst::MoveWide { w, shift, .. } => {
            let positions: &[u8] = match w {
                Width::W32 => &[0, 16],
                Width::W64 => &[0, 16, 32, 48],
            };
            if !positions.contains(&shift) {
                return why("move-wide shift out of range");
            }
        }
        Inst::AddImm { dst, src, imm, .. } => {
            if dst == Gpr::Zr || src == Gpr::Zr {
                return why("register 31 is the stack pointer in add immediate");
            }
            if !add_immediate(u64::from(imm)) {
                return why("arithmetic immediate out of range");
            }
        }
        Inst::SubsImm { src, imm, .. } => {
            if src == Gpr::Zr {
                return why("register 31 is the stack pointer in subs immediate");
            }
            if !add_immediate(u64::from(imm)) {
                return why("arithmetic immediate out of range");
            }
        }
        Inst::CmpImm { a, imm, .. } => {
            if a == Gpr::Zr {
                return why("register 31 is the stack pointer in cmp immediate");
            }
            if !add_immediate(u64::from(imm)) {
                return why("comparison immediate out of range");
            }
        }
        Inst::LogicImm { w, dst, imm, .. } => {
            if dst == Gpr::Zr {
                return why("register 31 is the stack pointer in a logical immediate");
            }
            if !logical_immediate(w, imm) {
                return why("not a bitmask immediate");
            }
        }
        Inst::TstImm { w, imm, .. } if !logical_immediate(w, imm) => {
            return why("not a bitmask immediate");
        }
        Inst::ShiftImm { w, amount, .. } if amount == 0 || u32::from(amount) >= w.bits() => {
            return why("shift amount out of range");
        }
        Inst::Extend { op, w, .. } => {
            let fits = match op {
                ExtendOp::Sxtb | ExtendOp::Sxth => true,
                ExtendOp::Sxtw => w == Width::W64,
                ExtendOp::Uxth => w == Width::W32,
            };
            if !fits {
                return why("no such extension at this width");
            }
        }
        Inst::Load { size, mem, .. } | Inst::Store { size, mem, .. } => match mem {
            Mem::Offset { base, offset } => {
                if base == Base::Reg(Gpr::Zr) {
                    return why("the zero register is no base");
                }
                if !Mem::offset_fits(size, offset) {
                    return why("memory offset out of range");
                }
            }
            Mem::Index {
                base: Base::Reg(Gpr::Zr),
                ..
            } => return why("the zero register is no base"),
            Mem::Index { .. } => {}
        },
        Inst::Pair { base, offset, .. } => {
            if base == Base::Reg(Gpr::Zr) {
                return why("the zero register is no base");
            }
            if offset % 8 != 0 || !(-512..=504).contains(&offset) {
                return why("pair offset out of range");
            }
        }
        Inst::LoadExclusive { addr, .. }
        | Inst::StoreExclusive { addr, .. }
        | Inst::Lse { addr, .. }
        | Inst::Cas { addr, .. }
            if addr == Gpr::Zr =>
        {
            return why("the zero register is no base");
        }
        Inst::Tbz { bit, .. } if bit >= 64 => return why("bit number out of range"),
        Inst::MovConst { dst, scratch, .. } => {
            if dst == Gpr::Zr || scratch == Gpr::Zr {
                return why("a constant into the zero register");
            }
            if dst == scratch {
                return why("the blinding scratch register is the destination");
            }
        }
        _ => {}
    }
    None
}

impl Encoder {
    /// An encoder whose conditional branches follow `plan`, and which blinds the program's
    /// constants with `keys` when given.
    ///
    /// The buffers are sized for a program of `instructions` eBPF instructions up front:
    /// growing them by doubling cost large programs more reallocations and page faults than
    /// the encoding itself.
    pub fn new(plan: JumpPlan, instructions: usize, keys: Option<Keys>) -> Encoder {
        // About 24 bytes of code, one label (a branch target or a trap) and two label
        // references (branches, stub calls) per instruction at most, in practice.
        let ops = VecAssembler::new_with_capacity(
            0,
            instructions * 24 + 512,
            0,
            0,
            instructions + 64,
            0,
            instructions * 2 + 64,
        );
        Encoder {
            ops,
            plan,
            branches: Vec::with_capacity(instructions + 16),
            error: None,
            keys,
        }
    }

    /// `dst = value` computed from `value ^ key` and `key` (in `scratch`), in 32-bit registers
    /// for values below 2^32.
    fn blinded_constant(&mut self, dst: Gpr, value: u64, scratch: Gpr) {
        let key = self.keys.as_mut().map_or(0, Keys::next_key);
        let (w, key, chunks) = match u32::try_from(value) {
            Ok(_) => (Width::W32, key & 0xffff_ffff, 2),
            Err(_) => (Width::W64, key, 4),
        };
        for (reg, word) in [(dst, value ^ key), (scratch, key)] {
            for index in 0..chunks {
                let op = if index == 0 {
                    MoveWide::Zero
                } else {
                    MoveWide::Keep
                };
                self.emit(Inst::MoveWide {
                    op,
                    w,
                    dst: reg,
                    imm: (word >> (16 * index)) as u16,
                    shift: 16 * index as u8,
                });
            }
        }
        self.emit(Inst::Alu {
            op: AluOp::Eor,
            w,
            dst,
            a: dst,
            b: scratch,
        });
    }

    /// A fresh label.
    pub fn new_label(&mut self) -> Label {
        self.ops.new_dynamic_label()
    }

    /// Bytes emitted so far.
    pub fn offset(&self) -> usize {
        self.ops.offset().0
    }

    /// Checks every short branch against its target; returns the code if all are in reach.
    pub fn finish(self) -> Result<Finished, CompileError> {
        if let Some(error) = self.error {
            return Err(CompileError::Assembler(error));
        }
        let labels = self.ops.labels();
        let mut long = Vec::with_capacity(self.branches.len());
        let mut relax = false;
        for branch in &self.branches {
            let target = labels
                .resolve_dynamic(branch.target)
                .map_err(|error| CompileError::Assembler(error.to_string()))?;
            let words = (target.0 as i64 - branch.at as i64) >> 2;
            let reach = 1i64 << (branch.reach_bits - 1);
            let out_of_reach = !branch.long && !(-reach..reach).contains(&words);
            relax |= out_of_reach;
            long.push(branch.long || out_of_reach);
        }
        if relax {
            return Ok(Finished::Relax(JumpPlan {
                long,
                all_long: self.plan.all_long,
            }));
        }
        let code = self
            .ops
            .finalize()
            .map_err(|error| CompileError::Assembler(error.to_string()))?;
        Ok(Finished::Code(code))
    }

    /// Whether the next conditional branch is long, recording it.
    fn next_branch(&mut self, target: Label, reach_bits: u32) -> bool {
        let long = self.plan.is_long(self.branches.len());
        let at = self.offset();
        self.branches.push(BranchRecord {
            at,
            target,
            reach_bits,
            long,
        });
        long
    }

    /// Emits one instruction.
    pub fn emit(&mut self, inst: Inst) {
        if self.error.is_some() {
            return;
        }
        if let Some(error) = invalid(&inst) {
            self.error = Some(error);
            return;
        }
        if let Inst::MovConst {
            dst,
            value,
            scratch,
        } = inst
        {
            if self.keys.is_some() {
                self.blinded_constant(dst, value, scratch);
            } else {
                move_constant(dst, value, &mut |inst| self.emit(inst));
            }
            return;
        }
        let ops = &mut self.ops;
        match inst {
            // Expanded above.
            Inst::MovConst { .. } => {}
            Inst::Bind(label) => dynasm!(ops ; .arch aarch64 ; =>label),
            Inst::Mov { w, dst, src } => regs!(ops, w, mov, dst.code(), src.code()),
            Inst::MoveWide {
                op,
                w,
                dst,
                imm,
                shift,
            } => {
                let (dst, imm, shift) = (dst.code(), u32::from(imm), u32::from(shift));
                match (op, w) {
                    (MoveWide::Zero, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; movz W(dst), #imm, LSL #shift)
                    }
                    (MoveWide::Zero, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; movz X(dst), #imm, LSL #shift)
                    }
                    (MoveWide::Not, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; movn W(dst), #imm, LSL #shift)
                    }
                    (MoveWide::Not, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; movn X(dst), #imm, LSL #shift)
                    }
                    (MoveWide::Keep, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; movk W(dst), #imm, LSL #shift)
                    }
                    (MoveWide::Keep, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; movk X(dst), #imm, LSL #shift)
                    }
                }
            }
            Inst::MovFromSp { dst } => {
                let dst = dst.code();
                dynasm!(ops ; .arch aarch64 ; mov XSP(dst), sp)
            }
            Inst::MovToSp { src } => {
                let src = src.code();
                dynasm!(ops ; .arch aarch64 ; mov sp, XSP(src))
            }
            Inst::Alu { op, w, dst, a, b } => {
                let (d, a, b) = (dst.code(), a.code(), b.code());
                match op {
                    AluOp::Add => regs!(ops, w, add, d, a, b),
                    AluOp::Sub => regs!(ops, w, sub, d, a, b),
                    AluOp::Subs => regs!(ops, w, subs, d, a, b),
                    AluOp::And => regs!(ops, w, and, d, a, b),
                    AluOp::Orr => regs!(ops, w, orr, d, a, b),
                    AluOp::Eor => regs!(ops, w, eor, d, a, b),
                    AluOp::Mul => regs!(ops, w, mul, d, a, b),
                    AluOp::Udiv => regs!(ops, w, udiv, d, a, b),
                    AluOp::Sdiv => regs!(ops, w, sdiv, d, a, b),
                    AluOp::Lsl => regs!(ops, w, lsl, d, a, b),
                    AluOp::Lsr => regs!(ops, w, lsr, d, a, b),
                    AluOp::Asr => regs!(ops, w, asr, d, a, b),
                }
            }
            Inst::AddImm {
                sub,
                w,
                dst,
                src,
                imm,
            } => {
                let (d, s) = (dst.code(), src.code());
                let (imm, shift) = if imm < (1 << 12) {
                    (imm, 0)
                } else {
                    (imm >> 12, 12)
                };
                match (sub, w) {
                    (false, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; add WSP(d), WSP(s), #imm, LSL #shift)
                    }
                    (false, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; add XSP(d), XSP(s), #imm, LSL #shift)
                    }
                    (true, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; sub WSP(d), WSP(s), #imm, LSL #shift)
                    }
                    (true, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; sub XSP(d), XSP(s), #imm, LSL #shift)
                    }
                }
            }
            Inst::SubsImm { w, dst, src, imm } => {
                let (d, s) = (dst.code(), src.code());
                let (imm, shift) = if imm < (1 << 12) {
                    (imm, 0)
                } else {
                    (imm >> 12, 12)
                };
                match w {
                    Width::W32 => {
                        dynasm!(ops ; .arch aarch64 ; subs W(d), WSP(s), #imm, LSL #shift)
                    }
                    Width::W64 => {
                        dynasm!(ops ; .arch aarch64 ; subs X(d), XSP(s), #imm, LSL #shift)
                    }
                }
            }
            Inst::LogicImm {
                op,
                w,
                dst,
                src,
                imm,
            } => {
                let (d, s) = (dst.code(), src.code());
                let imm32 = imm as u32;
                match (op, w) {
                    (LogicOp::And, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; and WSP(d), W(s), #imm32)
                    }
                    (LogicOp::And, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; and XSP(d), X(s), #imm)
                    }
                    (LogicOp::Orr, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; orr WSP(d), W(s), #imm32)
                    }
                    (LogicOp::Orr, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; orr XSP(d), X(s), #imm)
                    }
                    (LogicOp::Eor, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; eor WSP(d), W(s), #imm32)
                    }
                    (LogicOp::Eor, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; eor XSP(d), X(s), #imm)
                    }
                }
            }
            Inst::Cmp { w, a, b } => regs!(ops, w, cmp, a.code(), b.code()),
            Inst::CmpImm { negate, w, a, imm } => {
                let a = a.code();
                let (imm, shift) = if imm < (1 << 12) {
                    (imm, 0)
                } else {
                    (imm >> 12, 12)
                };
                match (negate, w) {
                    (false, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; cmp WSP(a), #imm, LSL #shift)
                    }
                    (false, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; cmp XSP(a), #imm, LSL #shift)
                    }
                    (true, Width::W32) => {
                        dynasm!(ops ; .arch aarch64 ; cmn WSP(a), #imm, LSL #shift)
                    }
                    (true, Width::W64) => {
                        dynasm!(ops ; .arch aarch64 ; cmn XSP(a), #imm, LSL #shift)
                    }
                }
            }
            Inst::Tst { w, a, b } => regs!(ops, w, tst, a.code(), b.code()),
            Inst::TstImm { w, a, imm } => {
                let a = a.code();
                match w {
                    Width::W32 => {
                        let imm = imm as u32;
                        dynasm!(ops ; .arch aarch64 ; tst W(a), #imm)
                    }
                    Width::W64 => dynasm!(ops ; .arch aarch64 ; tst X(a), #imm),
                }
            }
            Inst::Msub { w, dst, a, b, acc } => {
                regs!(ops, w, msub, dst.code(), a.code(), b.code(), acc.code())
            }
            Inst::ShiftImm {
                op,
                w,
                dst,
                src,
                amount,
            } => {
                let (d, s, n) = (dst.code(), src.code(), u32::from(amount));
                match (op, w) {
                    (ShiftOp::Lsl, Width::W32) => dynasm!(ops ; .arch aarch64 ; lsl W(d), W(s), #n),
                    (ShiftOp::Lsl, Width::W64) => dynasm!(ops ; .arch aarch64 ; lsl X(d), X(s), #n),
                    (ShiftOp::Lsr, Width::W32) => dynasm!(ops ; .arch aarch64 ; lsr W(d), W(s), #n),
                    (ShiftOp::Lsr, Width::W64) => dynasm!(ops ; .arch aarch64 ; lsr X(d), X(s), #n),
                    (ShiftOp::Asr, Width::W32) => dynasm!(ops ; .arch aarch64 ; asr W(d), W(s), #n),
                    (ShiftOp::Asr, Width::W64) => dynasm!(ops ; .arch aarch64 ; asr X(d), X(s), #n),
                }
            }
            Inst::Neg { w, dst, src } => regs!(ops, w, neg, dst.code(), src.code()),
            Inst::Mvn { w, dst, src } => regs!(ops, w, mvn, dst.code(), src.code()),
            Inst::Rev { w, dst, src } => regs!(ops, w, rev, dst.code(), src.code()),
            Inst::Rev16 { w, dst, src } => regs!(ops, w, rev16, dst.code(), src.code()),
            Inst::Extend { op, w, dst, src } => {
                let (d, s) = (dst.code(), src.code());
                match (op, w) {
                    (ExtendOp::Sxtb, Width::W32) => dynasm!(ops ; .arch aarch64 ; sxtb W(d), W(s)),
                    (ExtendOp::Sxtb, Width::W64) => dynasm!(ops ; .arch aarch64 ; sxtb X(d), W(s)),
                    (ExtendOp::Sxth, Width::W32) => dynasm!(ops ; .arch aarch64 ; sxth W(d), W(s)),
                    (ExtendOp::Sxth, Width::W64) => dynasm!(ops ; .arch aarch64 ; sxth X(d), W(s)),
                    (ExtendOp::Sxtw, _) => dynasm!(ops ; .arch aarch64 ; sxtw X(d), W(s)),
                    (ExtendOp::Uxth, _) => dynasm!(ops ; .arch aarch64 ; uxth W(d), W(s)),
                }
            }
            Inst::Load {
                size,
                sign_extend,
                dst,
                mem,
            } => {
                let d = dst.code();
                match (size, sign_extend) {
                    (Size::B8, false) => memory!(ops, ldrb, ldurb, W(d), mem, size),
                    (Size::B16, false) => memory!(ops, ldrh, ldurh, W(d), mem, size),
                    (Size::B32, false) => memory!(ops, ldr, ldur, W(d), mem, size),
                    (Size::B8, true) => memory!(ops, ldrsb, ldursb, X(d), mem, size),
                    (Size::B16, true) => memory!(ops, ldrsh, ldursh, X(d), mem, size),
                    (Size::B32, true) => memory!(ops, ldrsw, ldursw, X(d), mem, size),
                    (Size::B64, _) => memory!(ops, ldr, ldur, X(d), mem, size),
                }
            }
            Inst::Store { size, src, mem } => {
                let s = src.code();
                match size {
                    Size::B8 => memory!(ops, strb, sturb, W(s), mem, size),
                    Size::B16 => memory!(ops, strh, sturh, W(s), mem, size),
                    Size::B32 => memory!(ops, str, stur, W(s), mem, size),
                    Size::B64 => memory!(ops, str, stur, X(s), mem, size),
                }
            }
            Inst::Pair {
                load,
                a,
                b,
                base,
                offset,
                mode,
            } => {
                let (a, b, base) = (a.code(), b.code(), base_code(base));
                match (load, mode) {
                    (true, PairMode::Offset) => {
                        dynasm!(ops ; .arch aarch64 ; ldp X(a), X(b), [XSP(base), #offset])
                    }
                    (true, PairMode::PreIndex) => {
                        dynasm!(ops ; .arch aarch64 ; ldp X(a), X(b), [XSP(base), #offset]!)
                    }
                    (true, PairMode::PostIndex) => {
                        dynasm!(ops ; .arch aarch64 ; ldp X(a), X(b), [XSP(base)], #offset)
                    }
                    (false, PairMode::Offset) => {
                        dynasm!(ops ; .arch aarch64 ; stp X(a), X(b), [XSP(base), #offset])
                    }
                    (false, PairMode::PreIndex) => {
                        dynasm!(ops ; .arch aarch64 ; stp X(a), X(b), [XSP(base), #offset]!)
                    }
                    (false, PairMode::PostIndex) => {
                        dynasm!(ops ; .arch aarch64 ; stp X(a), X(b), [XSP(base)], #offset)
                    }
                }
            }
            Inst::Push { src } => {
                let s = src.code();
                dynasm!(ops ; .arch aarch64 ; str X(s), [sp, #-16]!)
            }
            Inst::Pop { dst } => {
                let d = dst.code();
                dynasm!(ops ; .arch aarch64 ; ldr X(d), [sp], #16)
            }
            Inst::LoadExclusive { w, dst, addr } => {
                let (d, a) = (dst.code(), addr.code());
                match w {
                    Width::W32 => dynasm!(ops ; .arch aarch64 ; ldaxr W(d), [XSP(a)]),
                    Width::W64 => dynasm!(ops ; .arch aarch64 ; ldaxr X(d), [XSP(a)]),
                }
            }
            Inst::StoreExclusive {
                w,
                status,
                src,
                addr,
            } => {
                let (st, s, a) = (status.code(), src.code(), addr.code());
                match w {
                    Width::W32 => dynasm!(ops ; .arch aarch64 ; stlxr W(st), W(s), [XSP(a)]),
                    Width::W64 => dynasm!(ops ; .arch aarch64 ; stlxr W(st), X(s), [XSP(a)]),
                }
            }
            Inst::Clrex => dynasm!(ops ; .arch aarch64 ; clrex),
            Inst::Lse {
                op,
                w,
                src,
                old,
                addr,
            } => {
                let (s, o, a) = (src.code(), old.code(), addr.code());
                macro_rules! lse {
                    ($m:ident) => {
                        match w {
                            Width::W32 => dynasm!(ops ; .arch aarch64 ; $m W(s), W(o), [XSP(a)]),
                            Width::W64 => dynasm!(ops ; .arch aarch64 ; $m X(s), X(o), [XSP(a)]),
                        }
                    };
                }
                match op {
                    LseOp::Add => lse!(ldaddal),
                    LseOp::Set => lse!(ldsetal),
                    LseOp::Clr => lse!(ldclral),
                    LseOp::Eor => lse!(ldeoral),
                    LseOp::Swp => lse!(swpal),
                }
            }
            Inst::Cas {
                w,
                compare,
                src,
                addr,
            } => {
                let (c, s, a) = (compare.code(), src.code(), addr.code());
                match w {
                    Width::W32 => dynasm!(ops ; .arch aarch64 ; casal W(c), W(s), [XSP(a)]),
                    Width::W64 => dynasm!(ops ; .arch aarch64 ; casal X(c), X(s), [XSP(a)]),
                }
            }
            Inst::B(label) => dynasm!(ops ; .arch aarch64 ; b =>label),
            Inst::Bl(label) => dynasm!(ops ; .arch aarch64 ; bl =>label),
            Inst::Blr(reg) => {
                let r = reg.code();
                dynasm!(ops ; .arch aarch64 ; blr X(r))
            }
            Inst::Ret => dynasm!(ops ; .arch aarch64 ; ret),
            Inst::BCond(cond, label) => {
                if self.next_branch(label, BCOND_REACH_BITS) {
                    let skip = self.new_label();
                    let ops = &mut self.ops;
                    bcond!(ops, cond.invert(), skip);
                    dynasm!(ops ; .arch aarch64 ; b =>label ; =>skip);
                } else {
                    let ops = &mut self.ops;
                    bcond!(ops, cond, label);
                }
            }
            Inst::Cbz {
                nonzero,
                w,
                reg,
                label,
            } => {
                let long = self.next_branch(label, BCOND_REACH_BITS);
                let (nonzero, target) = if long {
                    (!nonzero, self.new_label())
                } else {
                    (nonzero, label)
                };
                let r = reg.code();
                let ops = &mut self.ops;
                match (nonzero, w) {
                    (false, Width::W32) => dynasm!(ops ; .arch aarch64 ; cbz W(r), =>target),
                    (false, Width::W64) => dynasm!(ops ; .arch aarch64 ; cbz X(r), =>target),
                    (true, Width::W32) => dynasm!(ops ; .arch aarch64 ; cbnz W(r), =>target),
                    (true, Width::W64) => dynasm!(ops ; .arch aarch64 ; cbnz X(r), =>target),
                }
                if long {
                    dynasm!(ops ; .arch aarch64 ; b =>label ; =>target);
                }
            }
            Inst::Tbz {
                nonzero,
                reg,
                bit,
                label,
            } => {
                let long = self.next_branch(label, TBZ_REACH_BITS);
                let (nonzero, target) = if long {
                    (!nonzero, self.new_label())
                } else {
                    (nonzero, label)
                };
                let (r, bit) = (reg.code(), u32::from(bit));
                let ops = &mut self.ops;
                match (nonzero, bit < 32) {
                    (false, true) => dynasm!(ops ; .arch aarch64 ; tbz W(r), #bit, =>target),
                    (false, false) => dynasm!(ops ; .arch aarch64 ; tbz X(r), #bit, =>target),
                    (true, true) => dynasm!(ops ; .arch aarch64 ; tbnz W(r), #bit, =>target),
                    (true, false) => dynasm!(ops ; .arch aarch64 ; tbnz X(r), #bit, =>target),
                }
                if long {
                    dynasm!(ops ; .arch aarch64 ; b =>label ; =>target);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(encoder: Encoder) -> Vec<u8> {
        match encoder.finish().unwrap() {
            Finished::Code(code) => code,
            Finished::Relax(plan) => panic!("unexpected relaxation: {plan:?}"),
        }
    }

    fn listing(insts: &[Inst]) -> Vec<String> {
        let mut encoder = Encoder::new(JumpPlan::default(), 4, None);
        for inst in insts {
            encoder.emit(*inst);
        }
        let code = code(encoder);
        let mut out = String::new();
        super::super::disasm::disassemble(&code, 0..code.len(), &mut out);
        out.lines()
            .map(|line| {
                line.split_whitespace()
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn instructions_encode_to_what_they_say() {
        let cases: Vec<(Inst, &str)> = vec![
            (
                Inst::MoveWide {
                    op: MoveWide::Keep,
                    w: Width::W64,
                    dst: Gpr::X3,
                    imm: 0xbeef,
                    shift: 48,
                },
                "movk x3, #0xbeef, lsl #48",
            ),
            (
                Inst::AddImm {
                    sub: true,
                    w: Width::W64,
                    dst: Gpr::X24,
                    src: Gpr::X24,
                    imm: 0x200,
                },
                "sub x24, x24, #0x200",
            ),
            (
                Inst::CmpImm {
                    negate: true,
                    w: Width::W32,
                    a: Gpr::X1,
                    imm: 0x5000,
                },
                "cmn w1, #0x5, lsl #12",
            ),
            (
                Inst::LogicImm {
                    op: LogicOp::And,
                    w: Width::W64,
                    dst: Gpr::X2,
                    src: Gpr::X2,
                    imm: 0xff00,
                },
                "and x2, x2, #0xff00",
            ),
            (
                Inst::Load {
                    size: Size::B16,
                    sign_extend: true,
                    dst: Gpr::X20,
                    mem: Mem::at(Gpr::X24, -8),
                },
                "ldursh x20, [x24, #-0x8]",
            ),
            (
                Inst::Store {
                    size: Size::B64,
                    src: Gpr::Zr,
                    mem: Mem::at(Gpr::X9, 4088),
                },
                "str xzr, [x9, #0xff8]",
            ),
            (
                Inst::Lse {
                    op: LseOp::Clr,
                    w: Width::W32,
                    src: Gpr::X11,
                    old: Gpr::X10,
                    addr: Gpr::X9,
                },
                "ldclral w11, w10, [x9]",
            ),
            (
                Inst::Cas {
                    w: Width::W64,
                    compare: Gpr::X10,
                    src: Gpr::X1,
                    addr: Gpr::X9,
                },
                "casal x10, x1, [x9]",
            ),
            (
                Inst::StoreExclusive {
                    w: Width::W64,
                    status: Gpr::X12,
                    src: Gpr::X11,
                    addr: Gpr::X9,
                },
                "stlxr w12, x11, [x9]",
            ),
            (
                Inst::Msub {
                    w: Width::W32,
                    dst: Gpr::X0,
                    a: Gpr::X11,
                    b: Gpr::X1,
                    acc: Gpr::X0,
                },
                "msub w0, w11, w1, w0",
            ),
            (
                Inst::Pair {
                    load: false,
                    a: Gpr::X29,
                    b: Gpr::X30,
                    base: Base::Sp,
                    offset: -16,
                    mode: PairMode::PreIndex,
                },
                "stp x29, x30, [sp, #-0x10]!",
            ),
            (Inst::Push { src: Gpr::X30 }, "str x30, [sp, #-0x10]!"),
            (
                Inst::Extend {
                    op: ExtendOp::Sxtw,
                    w: Width::W64,
                    dst: Gpr::X0,
                    src: Gpr::X2,
                },
                "sxtw x0, w2",
            ),
        ];
        for (inst, expected) in cases {
            assert_eq!(listing(&[inst]), vec![expected.to_string()], "{inst:?}");
        }
    }

    #[test]
    fn unencodable_immediates_are_errors_not_panics() {
        let bad = [
            Inst::AddImm {
                sub: false,
                w: Width::W64,
                dst: Gpr::X0,
                src: Gpr::X0,
                imm: 4097,
            },
            Inst::LogicImm {
                op: LogicOp::Orr,
                w: Width::W64,
                dst: Gpr::X0,
                src: Gpr::X0,
                imm: 0,
            },
            Inst::Load {
                size: Size::B64,
                sign_extend: false,
                dst: Gpr::X0,
                mem: Mem::at(Gpr::X1, 32768),
            },
            Inst::MoveWide {
                op: MoveWide::Zero,
                w: Width::W32,
                dst: Gpr::X0,
                imm: 1,
                shift: 32,
            },
            Inst::ShiftImm {
                op: ShiftOp::Lsl,
                w: Width::W32,
                dst: Gpr::X0,
                src: Gpr::X0,
                amount: 32,
            },
        ];
        for inst in bad {
            let mut encoder = Encoder::new(JumpPlan::default(), 1, None);
            encoder.emit(inst);
            assert!(
                matches!(encoder.finish(), Err(CompileError::Assembler(_))),
                "{inst:?}"
            );
        }
    }

    /// A conditional branch over `filler` bytes of code, and one tbz back over them.
    fn far_branches(plan: JumpPlan, filler: usize) -> Result<Finished, CompileError> {
        let mut encoder = Encoder::new(plan, filler / 4 + 4, None);
        let start = encoder.new_label();
        let end = encoder.new_label();
        encoder.emit(Inst::Bind(start));
        encoder.emit(Inst::BCond(Cond::Eq, end));
        for _ in 0..filler / 4 {
            encoder.emit(Inst::Ret);
        }
        encoder.emit(Inst::Tbz {
            nonzero: true,
            reg: Gpr::X1,
            bit: 40,
            label: start,
        });
        encoder.emit(Inst::Bind(end));
        encoder.finish()
    }

    #[test]
    fn branches_out_of_reach_become_long_and_near_ones_stay_short() {
        // 40 KiB: b.eq reaches, tbz (+-32 KiB) does not.
        let Ok(Finished::Relax(plan)) = far_branches(JumpPlan::default(), 40 << 10) else {
            panic!("the tbz must be out of reach");
        };
        assert_eq!(plan.long_count(), 1);
        let Ok(Finished::Code(code)) = far_branches(plan, 40 << 10) else {
            panic!("one relaxation is enough");
        };
        let mut out = String::new();
        let tail = code.len() - 8;
        super::super::disasm::disassemble(&code, tail..code.len(), &mut out);
        assert!(out.contains("tbz x1, #0x28"), "{out}");
        assert!(out.lines().nth(1).unwrap().contains(" b "), "{out}");
        let mut out = String::new();
        super::super::disasm::disassemble(&code, 0..4, &mut out);
        assert!(out.contains("b.eq"), "{out}");

        // 2 MiB: both are out of reach.
        let Ok(Finished::Relax(plan)) = far_branches(JumpPlan::default(), 2 << 20) else {
            panic!("both branches must be out of reach");
        };
        assert_eq!(plan.long_count(), 2);
        assert!(matches!(far_branches(plan, 2 << 20), Ok(Finished::Code(_))));
        assert!(matches!(
            far_branches(JumpPlan::all_long(), 2 << 20),
            Ok(Finished::Code(_))
        ));
    }

    /// Encodes one `MovConst` with blinding and simulates the code (move-wide instructions and
    /// `eor` of registers): the value left in each register, and the code words.
    fn blinded(inst: Inst) -> Result<([u64; 32], Vec<u32>), CompileError> {
        let mut encoder = Encoder::new(JumpPlan::default(), 4, Some(Keys::random()));
        encoder.emit(inst);
        let Finished::Code(code) = encoder.finish()? else {
            panic!("no branches to relax");
        };
        let words: Vec<u32> = code
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes(word.try_into().unwrap()))
            .collect();
        let mut regs = [0u64; 32];
        for &word in &words {
            let rd = (word & 31) as usize;
            let mask = if word >> 31 == 1 {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            let shift = 16 * ((word >> 21) & 3);
            let chunk = u64::from((word >> 5) & 0xffff) << shift;
            regs[rd] = match word & 0x7f80_0000 {
                0x5280_0000 => chunk,
                0x7280_0000 => (regs[rd] & !(0xffff << shift)) | chunk,
                _ if word & 0x7f20_fc00 == 0x4a00_0000 => {
                    regs[((word >> 5) & 31) as usize] ^ regs[((word >> 16) & 31) as usize]
                }
                _ => panic!("unexpected instruction {word:#x}"),
            } & mask;
        }
        Ok((regs, words))
    }

    #[test]
    fn blinded_constants_are_computed_not_written() {
        for value in [0x4142_4344, 0xfedc_ba98_7654_3210, u64::MAX, 0, 0xffff_fe5d] {
            let inst = Inst::MovConst {
                dst: Gpr::X3,
                value,
                scratch: Gpr::X10,
            };
            let (regs, words) = blinded(inst).unwrap();
            assert_eq!(regs[3], value, "{value:#x}");
            // 2 or 4 move-wides for each of the two registers and the eor, whatever the key
            let expected = if value >> 32 == 0 { 5 } else { 9 };
            assert_eq!(words.len(), expected, "{value:#x}");
            // The key has no zero byte: each chunk written into dst differs from the value's.
            for (index, word) in words[..expected / 2].iter().enumerate() {
                let written = (word >> 5) & 0xffff;
                assert_ne!(
                    u64::from(written),
                    (value >> (16 * index)) & 0xffff,
                    "{value:#x}"
                );
            }
        }
        let same_register = Inst::MovConst {
            dst: Gpr::X3,
            value: 1,
            scratch: Gpr::X3,
        };
        assert!(matches!(
            blinded(same_register),
            Err(CompileError::Assembler(_))
        ));
    }
}
