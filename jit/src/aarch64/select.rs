//! Instruction selection: arithmetic, byte swaps, constants and jumps. Memory and calls are in
//! `memory.rs` and `calls.rs`.
//!
//! AArch64 does most of eBPF's corner cases by itself: `udiv`/`sdiv` return 0 for a zero
//! divisor and INT_MIN for INT_MIN / -1 without trapping, so `msub` after them leaves a
//! dividend unchanged by a zero divisor and gives 0 for INT_MIN % -1; register shifts take the
//! count modulo the width; every write to a `w` register zero-extends it.

use super::asm::{
    AluOp as ArmAlu, Cond, ExtendOp, Gpr, Inst, Label, LogicOp, MoveWide, ShiftOp, Width,
    add_immediate, logical_immediate,
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

/// The 16-bit chunks of a value, lowest first.
fn chunks(value: u64, count: usize) -> impl Iterator<Item = (u8, u16)> {
    (0..count).map(move |index| ((16 * index) as u8, (value >> (16 * index)) as u16))
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
            Instruction::LoadImm64 { dst, imm, .. } => self.mov_imm(regs::ebpf(dst), imm),
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

    fn move_wide(&mut self, op: MoveWide, w: Width, dst: Gpr, imm: u16, shift: u8) {
        self.emit(Inst::MoveWide {
            op,
            w,
            dst,
            imm,
            shift,
        });
    }

    /// Loads a 32-bit constant, zero-extended, in as few instructions as possible.
    pub fn mov_imm32(&mut self, dst: Gpr, value: u32) {
        let (low, high) = (value as u16, (value >> 16) as u16);
        if high == 0 {
            self.move_wide(MoveWide::Zero, Width::W32, dst, low, 0);
        } else if low == 0 {
            self.move_wide(MoveWide::Zero, Width::W32, dst, high, 16);
        } else if high == 0xffff {
            self.move_wide(MoveWide::Not, Width::W32, dst, !low, 0);
        } else if low == 0xffff {
            self.move_wide(MoveWide::Not, Width::W32, dst, !high, 16);
        } else if logical_immediate(Width::W32, u64::from(value)) {
            self.emit(Inst::LogicImm {
                op: LogicOp::Orr,
                w: Width::W32,
                dst,
                src: Gpr::Zr,
                imm: u64::from(value),
            });
        } else {
            self.move_wide(MoveWide::Zero, Width::W32, dst, low, 0);
            self.move_wide(MoveWide::Keep, Width::W32, dst, high, 16);
        }
    }

    /// Loads a 64-bit constant in as few instructions as possible: one `movz`/`movn`/`orr`
    /// where it fits, else `movz` (or `movn`) and a `movk` per remaining 16-bit chunk.
    pub fn mov_imm(&mut self, dst: Gpr, value: u64) {
        if let Ok(value) = u32::try_from(value) {
            return self.mov_imm32(dst, value);
        }
        let zeros = chunks(value, 4).filter(|(_, chunk)| *chunk == 0).count();
        let ones = chunks(value, 4)
            .filter(|(_, chunk)| *chunk == 0xffff)
            .count();
        if zeros.max(ones) < 3 && logical_immediate(Width::W64, value) {
            self.emit(Inst::LogicImm {
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
                self.move_wide(MoveWide::Keep, Width::W64, dst, chunk, shift);
            } else {
                let imm = if first == MoveWide::Not {
                    !chunk
                } else {
                    chunk
                };
                self.move_wide(first, Width::W64, dst, imm, shift);
                started = true;
            }
        }
        if !started {
            // Every chunk is 0xffff.
            self.move_wide(MoveWide::Not, Width::W64, dst, 0, 0);
        }
    }

    /// Puts the value of an immediate operand of width `w` in `dst`.
    fn materialize(&mut self, w: Width, dst: Gpr, imm: i32) {
        match w {
            Width::W64 => self.mov_imm(dst, operand(w, imm)),
            Width::W32 => self.mov_imm32(dst, imm as u32),
        }
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
                if logical_immediate(w, operand(w, imm)) =>
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

    /// `dst = src + imm` (or `- imm`), wrapping at the width.
    pub fn add_constant(&mut self, w: Width, sub: bool, dst: Gpr, src: Gpr, imm: i32) {
        let magnitude = i64::from(imm).unsigned_abs();
        if add_immediate(magnitude) {
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
                if logical_immediate(w, mask) {
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
        if add_immediate(value) {
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
