//! Instruction selection: arithmetic, byte swaps, constants and jumps. Memory and calls are in
//! `memory.rs` and `calls.rs`.
//!
//! AArch64 does most of eBPF's corner cases by itself: `udiv`/`sdiv` return 0 for a zero
//! divisor and INT_MIN for INT_MIN / -1 without trapping, so `msub` after them leaves a
//! dividend unchanged by a zero divisor and gives 0 for INT_MIN % -1; register shifts take the
//! count modulo the width; every write to a `w` register zero-extends it.

use super::asm::{
    AluOp as ArmAlu, Cond, ExtendOp, Gpr, Inst, Label, LogicOp, ShiftOp, Width, add_immediate,
    logical_immediate, move_constant,
};
use super::codegen::Codegen;
use super::regs::{self, T1, T2};
use crate::error::CompileError;
use xbpf_isa::{AluOp, ByteOrder, Instruction, JmpCond, Source, Width as EbpfWidth};

fn width(width: EbpfWidth) -> Width {
    match width {
        EbpfWidth::W32 => Width::W32,
        EbpfWidth::W64 => Width::W64,
    }
}

/// The value an immediate operand has for an operation of width `w`: sign-extended to 64 bits,
/// or its low 32 bits.
fn operand(w: Width, imm: i32) -> u64 {
    match w {
        Width::W64 => imm as i64 as u64,
        Width::W32 => u64::from(imm as u32),
    }
}

fn condition(cond: JmpCond) -> Cond {
    match cond {
        JmpCond::Eq => Cond::Eq,
        JmpCond::Ne | JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::Hi,
        JmpCond::Ge => Cond::Hs,
        JmpCond::Lt => Cond::Lo,
        JmpCond::Le => Cond::Ls,
        JmpCond::Sgt => Cond::Gt,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::Lt,
        JmpCond::Sle => Cond::Le,
    }
}

impl Codegen<'_> {
    /// Emits the native code of the instruction at `pc`.
    pub fn select(&mut self, pc: usize, instruction: &Instruction) -> Result<(), CompileError> {
        match *instruction {
            Instruction::Alu {
                width: w,
                op,
                dst,
                src,
            } => self.alu(width(w), op, regs::ebpf(dst), src),
            Instruction::Neg { width: w, dst } => {
                let dst = regs::ebpf(dst);
                self.emit(Inst::Neg {
                    w: width(w),
                    dst,
                    src: dst,
                });
            }
            Instruction::MovSx {
                width: w,
                dst,
                src,
                from_bits,
            } => self.move_sign_extended(width(w), regs::ebpf(dst), regs::ebpf(src), from_bits),
            Instruction::Endian { order, bits, dst } => self.endian(order, bits, regs::ebpf(dst)),
            Instruction::LoadImm64 { dst, imm, .. } => self.mov_const(regs::ebpf(dst), imm, T1),
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => self.load(pc, size, sign_extend, dst, src, off),
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => self.store(pc, size, dst, off, src),
            Instruction::Atomic {
                width: w,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(pc, width(w), op, fetch, dst, src, off),
            Instruction::LoadPacket { size, mode, imm } => self.load_packet(size, mode, imm),
            Instruction::Ja { off, .. } => {
                let target = self.target(branch_target(pc, i64::from(off)))?;
                self.emit(Inst::B(target));
            }
            Instruction::Jump {
                width: w,
                cond,
                dst,
                src,
                off,
            } => {
                let target = self.target(branch_target(pc, i64::from(off)))?;
                self.jump(width(w), cond, regs::ebpf(dst), src, target);
            }
            Instruction::Call(target) => self.call(pc, target)?,
            Instruction::Callx(reg) => self.call_by_register(pc, regs::ebpf(reg)),
            Instruction::Exit => self.exit(pc),
        }
        Ok(())
    }

    /// `mov dst, src` unless they are the same register (64-bit moves only).
    pub fn mov64(&mut self, dst: Gpr, src: Gpr) {
        if dst != src {
            self.emit(Inst::Mov {
                w: Width::W64,
                dst,
                src,
            });
        }
    }

    /// `mov wdst, wdst`: clears the upper half, as every 32-bit eBPF result must.
    fn zero_extend(&mut self, dst: Gpr) {
        self.emit(Inst::Mov {
            w: Width::W32,
            dst,
            src: dst,
        });
    }

    /// Loads one of the JIT's own constants in as few instructions as possible.
    pub fn mov_imm(&mut self, dst: Gpr, value: u64) {
        move_constant(dst, value, &mut |inst| self.emit(inst));
    }

    /// Loads a constant of the program (blinded by the encoder when blinding is on), using
    /// `scratch` for the blinding key.
    fn mov_const(&mut self, dst: Gpr, value: u64, scratch: Gpr) {
        self.emit(Inst::MovConst {
            dst,
            value,
            scratch,
        });
    }

    /// Puts the value of an immediate operand of the program, at width `w`, in `dst` (a
    /// scratch register or an eBPF register; one of the other scratch registers takes the
    /// blinding key).
    fn materialize(&mut self, w: Width, dst: Gpr, imm: i32) {
        let scratch = if dst == T1 { T2 } else { T1 };
        self.mov_const(dst, operand(w, imm), scratch);
    }

    /// Whether the program's constants are blinded: then they never go into immediate fields,
    /// only through [`Inst::MovConst`].
    fn blinding(&self) -> bool {
        self.options.constant_blinding
    }

    fn alu3(&mut self, op: ArmAlu, w: Width, dst: Gpr, b: Gpr) {
        self.emit(Inst::Alu {
            op,
            w,
            dst,
            a: dst,
            b,
        });
    }

    fn alu(&mut self, w: Width, op: AluOp, dst: Gpr, src: Source) {
        let register_op = match op {
            AluOp::Add => Some(ArmAlu::Add),
            AluOp::Sub => Some(ArmAlu::Sub),
            AluOp::And => Some(ArmAlu::And),
            AluOp::Or => Some(ArmAlu::Orr),
            AluOp::Xor => Some(ArmAlu::Eor),
            AluOp::Mul => Some(ArmAlu::Mul),
            AluOp::Lsh => Some(ArmAlu::Lsl),
            AluOp::Rsh => Some(ArmAlu::Lsr),
            AluOp::Arsh => Some(ArmAlu::Asr),
            AluOp::Mov | AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod => None,
        };
        match (op, src) {
            (AluOp::Mov, Source::Reg(reg)) => self.emit(Inst::Mov {
                w,
                dst,
                src: regs::ebpf(reg),
            }),
            (AluOp::Mov, Source::Imm(imm)) => self.materialize(w, dst, imm),
            (AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod, Source::Reg(reg)) => {
                self.divide(w, op, dst, regs::ebpf(reg));
            }
            (AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod, Source::Imm(imm)) => {
                self.divide_by_constant(w, op, dst, imm);
            }
            (AluOp::Add | AluOp::Sub, Source::Imm(imm)) => {
                self.add_constant(w, op == AluOp::Sub, dst, dst, imm);
            }
            (AluOp::And | AluOp::Or | AluOp::Xor, Source::Imm(imm))
                if !self.blinding() && logical_immediate(w, operand(w, imm)) =>
            {
                let op = match op {
                    AluOp::And => LogicOp::And,
                    AluOp::Or => LogicOp::Orr,
                    _ => LogicOp::Eor,
                };
                self.emit(Inst::LogicImm {
                    op,
                    w,
                    dst,
                    src: dst,
                    imm: operand(w, imm),
                });
            }
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Imm(imm)) => {
                let op = match op {
                    AluOp::Lsh => ShiftOp::Lsl,
                    AluOp::Rsh => ShiftOp::Lsr,
                    _ => ShiftOp::Asr,
                };
                self.shift_by_constant(op, w, dst, imm);
            }
            (_, Source::Reg(reg)) => {
                if let Some(arm) = register_op {
                    self.alu3(arm, w, dst, regs::ebpf(reg));
                }
            }
            (_, Source::Imm(imm)) => {
                if let Some(arm) = register_op {
                    self.materialize(w, T1, imm);
                    self.alu3(arm, w, dst, T1);
                }
            }
        }
    }

    /// `dst = src + imm` (or `- imm`), wrapping at the width, for a constant of the program.
    pub fn add_constant(&mut self, w: Width, sub: bool, dst: Gpr, src: Gpr, imm: i32) {
        self.add(w, sub, dst, src, imm, self.blinding());
    }

    /// `dst = base + off` for a memory offset: one that fits in a signed byte is not blinded
    /// (see [`crate::blinding`]).
    pub fn add_offset(&mut self, dst: Gpr, base: Gpr, off: i32) {
        let blind = self.blinding() && i8::try_from(off).is_err();
        self.add(Width::W64, false, dst, base, off, blind);
    }

    /// `dst = src + imm` (or `- imm`): an immediate field unless `blind`.
    fn add(&mut self, w: Width, sub: bool, dst: Gpr, src: Gpr, imm: i32, blind: bool) {
        let magnitude = i64::from(imm).unsigned_abs();
        if !blind && add_immediate(magnitude) {
            // Adding -x is subtracting x, at either width.
            self.emit(Inst::AddImm {
                sub: sub ^ (imm < 0),
                w,
                dst,
                src,
                imm: magnitude as u32,
            });
        } else {
            self.materialize(w, T1, imm);
            let op = if sub { ArmAlu::Sub } else { ArmAlu::Add };
            self.emit(Inst::Alu {
                op,
                w,
                dst,
                a: src,
                b: T1,
            });
        }
    }

    fn shift_by_constant(&mut self, op: ShiftOp, w: Width, dst: Gpr, imm: i32) {
        let amount = (imm as u32 & (w.bits() - 1)) as u8;
        if amount != 0 {
            self.emit(Inst::ShiftImm {
                op,
                w,
                dst,
                src: dst,
                amount,
            });
        } else if w == Width::W32 {
            self.zero_extend(dst);
        }
    }

    /// Division and modulo by a register, with eBPF's results for every divisor (see the
    /// module documentation).
    fn divide(&mut self, w: Width, op: AluOp, dst: Gpr, divisor: Gpr) {
        let divide = match op {
            AluOp::SDiv | AluOp::SMod => ArmAlu::Sdiv,
            _ => ArmAlu::Udiv,
        };
        match op {
            AluOp::Div | AluOp::SDiv => self.alu3(divide, w, dst, divisor),
            _ => {
                self.emit(Inst::Alu {
                    op: divide,
                    w,
                    dst: T2,
                    a: dst,
                    b: divisor,
                });
                self.emit(Inst::Msub {
                    w,
                    dst,
                    a: T2,
                    b: divisor,
                    acc: dst,
                });
            }
        }
    }

    fn divide_by_constant(&mut self, w: Width, op: AluOp, dst: Gpr, imm: i32) {
        let divisor = operand(w, imm);
        if divisor.is_power_of_two() && matches!(op, AluOp::Div | AluOp::Mod) {
            let shift = divisor.trailing_zeros() as u8;
            if op == AluOp::Div {
                if shift != 0 {
                    self.emit(Inst::ShiftImm {
                        op: ShiftOp::Lsr,
                        w,
                        dst,
                        src: dst,
                        amount: shift,
                    });
                } else if w == Width::W32 {
                    self.zero_extend(dst);
                }
            } else if shift == 0 {
                self.mov_imm(dst, 0);
            } else if self.blinding() {
                // The mask comes from the program's constant: `and` with it computed.
                self.mov_const(T1, divisor - 1, T2);
                self.alu3(ArmAlu::And, w, dst, T1);
            } else {
                self.emit(Inst::LogicImm {
                    op: LogicOp::And,
                    w,
                    dst,
                    src: dst,
                    imm: divisor - 1,
                });
            }
            return;
        }
        self.materialize(w, T1, imm);
        self.divide(w, op, dst, T1);
    }

    fn move_sign_extended(&mut self, w: Width, dst: Gpr, src: Gpr, from_bits: u8) {
        let op = match from_bits {
            8 => ExtendOp::Sxtb,
            16 => ExtendOp::Sxth,
            _ if w == Width::W64 => ExtendOp::Sxtw,
            // 32 bits of a 32-bit operation: a plain (zero-extending) move.
            _ => {
                return self.emit(Inst::Mov {
                    w: Width::W32,
                    dst,
                    src,
                });
            }
        };
        self.emit(Inst::Extend { op, w, dst, src });
    }

    /// Byte order conversions of the low `bits` of dst; the result is zero-extended.
    fn endian(&mut self, order: ByteOrder, bits: u8, dst: Gpr) {
        let uxth = Inst::Extend {
            op: ExtendOp::Uxth,
            w: Width::W32,
            dst,
            src: dst,
        };
        match (order, bits) {
            (ByteOrder::ToLe, 16) => self.emit(uxth),
            (ByteOrder::ToLe, 32) => self.zero_extend(dst),
            (ByteOrder::ToLe, _) => {}
            (_, 16) => {
                self.emit(Inst::Rev16 {
                    w: Width::W32,
                    dst,
                    src: dst,
                });
                self.emit(uxth);
            }
            (_, 32) => self.emit(Inst::Rev {
                w: Width::W32,
                dst,
                src: dst,
            }),
            (_, _) => self.emit(Inst::Rev {
                w: Width::W64,
                dst,
                src: dst,
            }),
        }
    }

    /// A conditional jump to `target`.
    fn jump(&mut self, w: Width, cond: JmpCond, dst: Gpr, src: Source, target: Label) {
        match (cond, src) {
            (JmpCond::Set, Source::Reg(reg)) => self.emit(Inst::Tst {
                w,
                a: dst,
                b: regs::ebpf(reg),
            }),
            (JmpCond::Set, Source::Imm(imm)) => {
                let mask = operand(w, imm);
                if mask == 0 {
                    // dst & 0 is never set.
                    return;
                }
                if mask.is_power_of_two() {
                    return self.emit(Inst::Tbz {
                        nonzero: true,
                        reg: dst,
                        bit: mask.trailing_zeros() as u8,
                        label: target,
                    });
                }
                if !self.blinding() && logical_immediate(w, mask) {
                    self.emit(Inst::TstImm {
                        w,
                        a: dst,
                        imm: mask,
                    });
                } else {
                    self.materialize(w, T1, imm);
                    self.emit(Inst::Tst { w, a: dst, b: T1 });
                }
            }
            (JmpCond::Eq | JmpCond::Ne, Source::Imm(0)) => {
                return self.emit(Inst::Cbz {
                    nonzero: cond == JmpCond::Ne,
                    w,
                    reg: dst,
                    label: target,
                });
            }
            (_, Source::Reg(reg)) => self.emit(Inst::Cmp {
                w,
                a: dst,
                b: regs::ebpf(reg),
            }),
            (_, Source::Imm(imm)) => self.compare_with_constant(w, dst, imm),
        }
        self.emit(Inst::BCond(condition(cond), target));
    }

    /// Sets the flags as `cmp dst, imm` would at width `w`.
    fn compare_with_constant(&mut self, w: Width, dst: Gpr, imm: i32) {
        let value = operand(w, imm);
        let negated = i64::from(imm).unsigned_abs();
        if self.blinding() {
            self.materialize(w, T1, imm);
            self.emit(Inst::Cmp { w, a: dst, b: T1 });
        } else if add_immediate(value) {
            self.emit(Inst::CmpImm {
                negate: false,
                w,
                a: dst,
                imm: value as u32,
            });
        } else if imm < 0 && add_immediate(negated) {
            // `cmn dst, -imm` sets every flag as `cmp dst, imm` does for any imm but 0 and the
            // width's INT_MIN, neither of which gets here.
            self.emit(Inst::CmpImm {
                negate: true,
                w,
                a: dst,
                imm: negated as u32,
            });
        } else {
            self.materialize(w, T1, imm);
            self.emit(Inst::Cmp { w, a: dst, b: T1 });
        }
    }
}

/// The target of a branch at `pc` (validated by `Program`).
pub fn branch_target(pc: usize, offset: i64) -> usize {
    (pc as i64 + 1 + offset) as usize
}
