//! Instruction selection: arithmetic, byte swaps, constants and jumps. Memory and calls are in
//! `memory.rs` and `calls.rs`.

use super::asm::{
    AluOp as X86Alu, Cond, Gpr, Inst, Operand, ProgramImm, ShiftCount, ShiftOp, Size, Width,
};
use super::codegen::Codegen;
use super::peephole::JumpOverJa;
use super::regs::{self, RAX, RCX, RDX};
use crate::error::CompileError;
use xbpf_isa::{AluOp, ByteOrder, Instruction, JmpCond, Source, Width as EbpfWidth};

fn width(width: EbpfWidth) -> Width {
    match width {
        EbpfWidth::W32 => Width::W32,
        EbpfWidth::W64 => Width::W64,
    }
}

/// A constant from the program, blinded (when blinding is on) in rax, which no eBPF register
/// uses and which is free wherever arithmetic and comparisons are selected.
fn program_operand(value: i32) -> Operand {
    Operand::Program(ProgramImm {
        value,
        scratch: RAX,
    })
}

fn condition(cond: JmpCond) -> Cond {
    match cond {
        JmpCond::Eq => Cond::E,
        JmpCond::Ne | JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::A,
        JmpCond::Ge => Cond::Ae,
        JmpCond::Lt => Cond::B,
        JmpCond::Le => Cond::Be,
        JmpCond::Sgt => Cond::G,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::L,
        JmpCond::Sle => Cond::Le,
    }
}

/// The condition under which a `j{cond}` is not taken.
fn inverse_condition(cond: JmpCond) -> Cond {
    match cond {
        JmpCond::Eq => Cond::Ne,
        JmpCond::Ne | JmpCond::Set => Cond::E,
        JmpCond::Gt => Cond::Be,
        JmpCond::Ge => Cond::B,
        JmpCond::Lt => Cond::Ae,
        JmpCond::Le => Cond::A,
        JmpCond::Sgt => Cond::Le,
        JmpCond::Sge => Cond::L,
        JmpCond::Slt => Cond::Ge,
        JmpCond::Sle => Cond::G,
    }
}

impl Codegen<'_> {
    /// `jCC +1; ja L` as one jump to L when the condition does not hold (see `peephole`).
    pub fn jump_unless(&mut self, pair: JumpOverJa) -> Result<(), CompileError> {
        let target = self.target(pair.target)?;
        self.compare(width(pair.width), pair.cond, regs::ebpf(pair.dst), pair.src);
        self.emit(Inst::Jcc(inverse_condition(pair.cond), target));
        Ok(())
    }

    /// Emits the native code of the instruction at `pc`.
    pub fn select(&mut self, pc: usize, instruction: &Instruction) -> Result<(), CompileError> {
        match *instruction {
            Instruction::Alu {
                width: w,
                op,
                dst,
                src,
            } => {
                let w = match (op, src) {
                    // both operands below 2^32: the 32-bit divide gives the same result
                    (AluOp::Div | AluOp::Mod, Source::Reg(src))
                        if w == EbpfWidth::W64
                            && self.upper_zero & (1 << dst.number()) != 0
                            && self.upper_zero & (1 << src.number()) != 0 =>
                    {
                        Width::W32
                    }
                    _ => width(w),
                };
                self.alu(w, op, regs::ebpf(dst), src);
            }
            Instruction::Neg { width: w, dst } => self.emit(Inst::Neg {
                w: width(w),
                dst: regs::ebpf(dst),
            }),
            Instruction::MovSx {
                width: w,
                dst,
                src,
                from_bits,
            } => {
                let from = match from_bits {
                    8 => Size::B8,
                    16 => Size::B16,
                    _ => Size::B32,
                };
                self.emit(Inst::MovSx {
                    w: width(w),
                    dst: regs::ebpf(dst),
                    src: regs::ebpf(src),
                    from,
                });
            }
            Instruction::Endian { order, bits, dst } => self.endian(order, bits, regs::ebpf(dst)),
            Instruction::LoadImm64 { dst, imm, .. } => self.mov_const(regs::ebpf(dst), imm),
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
                self.emit(Inst::Jmp(target));
            }
            Instruction::Jump {
                width: w,
                cond,
                dst,
                src,
                off,
            } => {
                let target = self.target(branch_target(pc, i64::from(off)))?;
                self.compare(width(w), cond, regs::ebpf(dst), src);
                self.emit(Inst::Jcc(condition(cond), target));
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

    /// `mov dst32, dst32`: clears the upper half, as every 32-bit eBPF result must.
    /// A widening sequence (`peephole`) as one instruction.
    pub fn widen(&mut self, widening: super::peephole::Widening) {
        use super::peephole::Extension;
        let (dst, src) = (regs::ebpf(widening.dst), regs::ebpf(widening.src));
        match widening.extension {
            Extension::Zero32 => self.emit(Inst::Mov {
                w: Width::W32,
                dst,
                src,
            }),
            Extension::Sign(bits) => self.emit(Inst::MovSx {
                w: Width::W64,
                dst,
                src,
                from: match bits {
                    8 => Size::B8,
                    16 => Size::B16,
                    _ => Size::B32,
                },
            }),
        }
    }

    /// `mov d, s; add d, x` as one `lea` (see `peephole`).
    pub fn copy_add(&mut self, pair: super::peephole::CopyAdd) {
        let (w, dst, base) = (
            width(pair.width),
            regs::ebpf(pair.dst),
            regs::ebpf(pair.base),
        );
        match pair.addend {
            Source::Reg(index) => self.emit(Inst::LeaSum {
                w,
                dst,
                base,
                index: regs::ebpf(index),
            }),
            Source::Imm(imm) => self.emit(Inst::AddConst { w, dst, base, imm }),
        }
    }

    fn zero_extend(&mut self, dst: Gpr) {
        self.emit(Inst::Mov {
            w: Width::W32,
            dst,
            src: dst,
        });
    }

    /// `dst = 0`.
    fn zero(&mut self, dst: Gpr) {
        self.emit(Inst::Alu {
            op: X86Alu::Xor,
            w: Width::W32,
            dst,
            src: Operand::Reg(dst),
        });
    }

    /// Loads a 64-bit constant from the program into an eBPF register.
    fn mov_const(&mut self, dst: Gpr, imm: u64) {
        if imm == 0 {
            self.zero(dst);
        } else {
            self.emit(Inst::MovConst {
                dst,
                imm,
                scratch: RAX,
            });
        }
    }

    fn alu(&mut self, w: Width, op: AluOp, dst: Gpr, src: Source) {
        let simple = |op| match op {
            AluOp::Add => Some(X86Alu::Add),
            AluOp::Sub => Some(X86Alu::Sub),
            AluOp::And => Some(X86Alu::And),
            AluOp::Or => Some(X86Alu::Or),
            AluOp::Xor => Some(X86Alu::Xor),
            _ => None,
        };
        if let Some(x86) = simple(op) {
            let src = match src {
                Source::Reg(reg) => Operand::Reg(regs::ebpf(reg)),
                Source::Imm(imm) => program_operand(imm),
            };
            self.emit(Inst::Alu {
                op: x86,
                w,
                dst,
                src,
            });
            return;
        }
        match op {
            AluOp::Mov => match src {
                Source::Reg(reg) => self.emit(Inst::Mov {
                    w,
                    dst,
                    src: regs::ebpf(reg),
                }),
                Source::Imm(imm) => {
                    let value = match w {
                        Width::W64 => imm as i64 as u64,
                        Width::W32 => u64::from(imm as u32),
                    };
                    self.mov_const(dst, value);
                }
            },
            AluOp::Mul => match src {
                Source::Reg(reg) => self.emit(Inst::Imul {
                    w,
                    dst,
                    src: regs::ebpf(reg),
                }),
                Source::Imm(value) => self.emit(Inst::ImulImm {
                    w,
                    dst,
                    imm: ProgramImm {
                        value,
                        scratch: RAX,
                    },
                }),
            },
            AluOp::Lsh => self.shift(ShiftOp::Shl, w, dst, src),
            AluOp::Rsh => self.shift(ShiftOp::Shr, w, dst, src),
            AluOp::Arsh => self.shift(ShiftOp::Sar, w, dst, src),
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => match src {
                Source::Imm(imm) => self.divide_by_constant(w, op, dst, imm),
                Source::Reg(reg) => self.divide_by_register(w, op, dst, regs::ebpf(reg)),
            },
            AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Or | AluOp::Xor => {}
        }
    }

    /// Shifts: x86 masks the count to the operand width exactly as eBPF does.
    fn shift(&mut self, op: ShiftOp, w: Width, dst: Gpr, src: Source) {
        let mask = match w {
            Width::W32 => 31,
            Width::W64 => 63,
        };
        match src {
            Source::Imm(imm) => {
                let count = (imm & mask) as u8;
                if count != 0 {
                    self.emit(Inst::Shift {
                        op,
                        w,
                        dst,
                        count: ShiftCount::Imm(count),
                    });
                } else if w == Width::W32 {
                    self.zero_extend(dst);
                }
            }
            Source::Reg(reg) => {
                self.emit(Inst::Mov {
                    w: Width::W32,
                    dst: RCX,
                    src: regs::ebpf(reg),
                });
                self.emit(Inst::Shift {
                    op,
                    w,
                    dst,
                    count: ShiftCount::Cl,
                });
                if w == Width::W32 {
                    // A count of 0 leaves the register untouched; the result must still be
                    // zero-extended.
                    self.zero_extend(dst);
                }
            }
        }
    }

    /// What `dst` becomes when the divisor is 0: div 0, mod dst (Linux semantics).
    fn divide_by_zero(&mut self, w: Width, op: AluOp, dst: Gpr) {
        match op {
            AluOp::Div | AluOp::SDiv => self.zero(dst),
            _ if w == Width::W32 => self.zero_extend(dst),
            _ => {}
        }
    }

    /// What `dst` becomes for a signed division by -1 (x86 `idiv` would trap on INT_MIN):
    /// sdiv negates (INT_MIN stays INT_MIN), smod gives 0.
    fn divide_by_minus_one(&mut self, w: Width, op: AluOp, dst: Gpr) {
        match op {
            AluOp::SDiv => self.emit(Inst::Neg { w, dst }),
            _ => self.zero(dst),
        }
    }

    /// rdx:rax / divisor, result into dst (quotient or remainder).
    fn hardware_divide(&mut self, w: Width, op: AluOp, dst: Gpr, divisor: Gpr) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        self.emit(Inst::Mov {
            w,
            dst: RAX,
            src: dst,
        });
        if signed {
            self.emit(Inst::SignExtendAcc { w });
        } else {
            self.zero(RDX);
        }
        self.emit(Inst::Div {
            w,
            signed,
            src: divisor,
        });
        let result = match op {
            AluOp::Div | AluOp::SDiv => RAX,
            _ => RDX,
        };
        self.emit(Inst::Mov {
            w,
            dst,
            src: result,
        });
    }

    fn divide_by_constant(&mut self, w: Width, op: AluOp, dst: Gpr, imm: i32) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        if imm == 0 {
            return self.divide_by_zero(w, op, dst);
        }
        if signed && imm == -1 {
            return self.divide_by_minus_one(w, op, dst);
        }
        // The divisor as the operation sees it: sign-extended for 64-bit operations.
        let divisor = match w {
            Width::W64 => imm as i64 as u64,
            Width::W32 => u64::from(imm as u32),
        };
        if !signed && divisor.is_power_of_two() {
            let shift = divisor.trailing_zeros() as u8;
            if op == AluOp::Div {
                if shift == 0 {
                    if w == Width::W32 {
                        self.zero_extend(dst);
                    }
                } else {
                    self.emit(Inst::Shift {
                        op: ShiftOp::Shr,
                        w,
                        dst,
                        count: ShiftCount::Imm(shift),
                    });
                }
                return;
            }
            if let Ok(mask) = i32::try_from(divisor - 1) {
                self.emit(Inst::Alu {
                    op: X86Alu::And,
                    w,
                    dst,
                    src: program_operand(mask),
                });
                return;
            }
        }
        self.emit(Inst::MovConst {
            dst: RCX,
            imm: divisor,
            scratch: RAX,
        });
        self.hardware_divide(w, op, dst, RCX);
    }

    fn divide_by_register(&mut self, w: Width, op: AluOp, dst: Gpr, src: Gpr) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let zero = self.new_label();
        let done = self.new_label();
        self.emit(Inst::Alu {
            op: X86Alu::Test,
            w,
            dst: src,
            src: Operand::Reg(src),
        });
        self.emit(Inst::Jcc(Cond::E, zero));
        let minus_one = signed.then(|| self.new_label());
        if let Some(minus_one) = minus_one {
            self.emit(Inst::Alu {
                op: X86Alu::Cmp,
                w,
                dst: src,
                src: Operand::Imm(-1),
            });
            self.emit(Inst::Jcc(Cond::E, minus_one));
        }
        self.hardware_divide(w, op, dst, src);
        self.emit(Inst::Jmp(done));
        if let Some(minus_one) = minus_one {
            self.emit(Inst::Bind(minus_one));
            self.divide_by_minus_one(w, op, dst);
            self.emit(Inst::Jmp(done));
        }
        self.emit(Inst::Bind(zero));
        self.divide_by_zero(w, op, dst);
        self.emit(Inst::Bind(done));
    }

    /// Byte order conversions of the low `bits` of dst; the result is zero-extended.
    fn endian(&mut self, order: ByteOrder, bits: u8, dst: Gpr) {
        match (order, bits) {
            (ByteOrder::ToLe, 16) => self.emit(Inst::MovZx {
                dst,
                src: dst,
                from: Size::B16,
            }),
            (ByteOrder::ToLe, 32) => self.zero_extend(dst),
            (ByteOrder::ToLe, _) => {}
            (_, 16) => {
                self.emit(Inst::Swap16 { dst });
                self.emit(Inst::MovZx {
                    dst,
                    src: dst,
                    from: Size::B16,
                });
            }
            (_, 32) => self.emit(Inst::Bswap { w: Width::W32, dst }),
            (_, _) => self.emit(Inst::Bswap { w: Width::W64, dst }),
        }
    }

    /// Sets the flags for a conditional jump.
    fn compare(&mut self, w: Width, cond: JmpCond, dst: Gpr, src: Source) {
        let (op, src) = match (cond, src) {
            (JmpCond::Set, Source::Reg(reg)) => (X86Alu::Test, Operand::Reg(regs::ebpf(reg))),
            (JmpCond::Set, Source::Imm(imm)) => (X86Alu::Test, program_operand(imm)),
            // Against 0, `test` sets every flag the conditions read exactly as `cmp` would.
            (_, Source::Imm(0)) => (X86Alu::Test, Operand::Reg(dst)),
            (_, Source::Reg(reg)) => (X86Alu::Cmp, Operand::Reg(regs::ebpf(reg))),
            (_, Source::Imm(imm)) => (X86Alu::Cmp, program_operand(imm)),
        };
        self.emit(Inst::Alu { op, w, dst, src });
    }
}

/// The target of a branch at `pc` (validated by `Program`).
pub fn branch_target(pc: usize, offset: i64) -> usize {
    (pc as i64 + 1 + offset) as usize
}
