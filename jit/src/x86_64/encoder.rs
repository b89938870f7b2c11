//! The one place where x86-64 machine code bytes are produced (through dynasm).
//!
//! Jumps to labels are sized as they are emitted when their target is already bound (backward
//! jumps: rel8 when the distance fits), and otherwise by a two-pass scheme: the first pass
//! emits every forward jump in its rel32 form and records how far it went; an optional second
//! pass uses the rel8 form for every jump whose first-pass distance fits in a byte. Code only
//! shrinks between the passes, so such a jump (and every backward jump short in the first
//! pass) still fits in the second pass. The passes must emit the same instruction sequence,
//! which they do because selection is deterministic.
//!
//! Constants from the program ([`Operand::Program`], [`Inst::MovConst`], [`Inst::AddConst`],
//! [`Inst::ImulImm`], [`Inst::StoreImm`]) pass through [`Encoder::blind`] first: with constant
//! blinding on, it emits code computing each constant into a register from `c ^ k` and `k` (a
//! fresh key, both immediates in fixed-size forms, so sizes do not depend on the keys) and
//! rewrites the instruction to use the register; with it off, the byte encoding takes the
//! constant as a plain immediate.

// dynasm's expansion converts register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use super::asm::{
    AluOp, Cond, Gpr, Inst, LOOP_ALIGN, Label, LockOp, Mem, Operand, ProgramImm, ShiftCount,
    ShiftOp, Size, Width,
};
use crate::blinding::Keys;
use crate::error::CompileError;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynasmApi, DynasmLabelApi, VecAssembler, dynasm};

/// Which jumps (by emission order) may use the rel8 form, and whether another pass follows.
#[derive(Clone, Debug, Default)]
pub struct JumpPlan {
    short: Vec<bool>,
    /// This is the first of two passes: loop alignment pads with the most it could ever need,
    /// so that no distance grows in the second pass, whatever alignment it finds.
    first_of_two: bool,
}

impl JumpPlan {
    /// The plan of the first of two passes (every forward jump long).
    pub fn first_of_two() -> JumpPlan {
        JumpPlan {
            short: Vec::new(),
            first_of_two: true,
        }
    }

    /// Whether the `index`-th jump may be short. Jumps the plan does not know are long.
    fn is_short(&self, index: usize) -> bool {
        self.short.get(index).copied().unwrap_or(false)
    }

    /// How many jumps the plan lets use the short form.
    #[cfg(test)]
    pub fn short_count(&self) -> usize {
        self.short.iter().filter(|short| **short).count()
    }
}

/// A jump emitted in this pass: where its encoding ends and where it goes.
#[derive(Clone, Copy, Debug)]
struct JumpRecord {
    end: usize,
    target: Label,
}

/// Encodes [`Inst`] values into a byte buffer.
pub struct Encoder {
    ops: VecAssembler<X64Relocation>,
    plan: JumpPlan,
    jumps: Vec<JumpRecord>,
    /// The blinding keys, when the program's constants are blinded.
    keys: Option<Keys>,
    /// The first instruction that could not be encoded (a JIT bug, reported by `finish`).
    error: Option<String>,
}

/// The recommended multi-byte no-ops, by length (index 0 is unused).
const NOPS: [&[u8]; 10] = [
    &[],
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// `len` bytes of no-ops, in as few instructions as the table allows.
fn emit_nops(ops: &mut VecAssembler<X64Relocation>, mut len: usize) {
    while len > 0 {
        let nop = NOPS[len.min(NOPS.len() - 1)];
        ops.extend(nop.iter().copied());
        len -= nop.len();
    }
}

/// `[base + disp]` with the shortest displacement encoding.
macro_rules! with_mem {
    ($ops:ident, $mem:expr, [$($pre:tt)*] [$($post:tt)*]) => {{
        let mem: Mem = $mem;
        let base = mem.base.code();
        let disp = mem.disp;
        match i8::try_from(disp) {
            Ok(disp8) => dynasm!($ops ; .arch x64 ; $($pre)* [BYTE Rq(base) + disp8] $($post)*),
            Err(_) => dynasm!($ops ; .arch x64 ; $($pre)* [Rq(base) + disp] $($post)*),
        }
    }};
}

/// Calls `$callback!(mnemonic, args...)` with the mnemonic of an [`AluOp`]. The second form
/// takes the code for `cmp` and `test` separately, for their sign-extended imm8 forms: `test`
/// has none, and dynasm picks the imm32 form of `cmp` even when given a byte.
macro_rules! alu_mnemonic {
    ($op:expr, $callback:ident!($($args:tt)*), cmp => $cmp:expr, test => $test:expr) => {
        match $op {
            AluOp::Add => $callback!(add, $($args)*),
            AluOp::Sub => $callback!(sub, $($args)*),
            AluOp::And => $callback!(and, $($args)*),
            AluOp::Or => $callback!(or, $($args)*),
            AluOp::Xor => $callback!(xor, $($args)*),
            AluOp::Cmp => $cmp,
            AluOp::Test => $test,
        }
    };
    ($op:expr, $callback:ident!($($args:tt)*)) => {
        match $op {
            AluOp::Add => $callback!(add, $($args)*),
            AluOp::Sub => $callback!(sub, $($args)*),
            AluOp::And => $callback!(and, $($args)*),
            AluOp::Or => $callback!(or, $($args)*),
            AluOp::Xor => $callback!(xor, $($args)*),
            AluOp::Cmp => $callback!(cmp, $($args)*),
            AluOp::Test => $callback!(test, $($args)*),
        }
    };
}

macro_rules! alu_reg_reg {
    ($m:ident, $ops:ident, $w:expr, $dst:expr, $src:expr) => {
        match $w {
            Width::W64 => dynasm!($ops ; .arch x64 ; $m Rq($dst), Rq($src)),
            Width::W32 => dynasm!($ops ; .arch x64 ; $m Rd($dst), Rd($src)),
        }
    };
}

macro_rules! alu_reg_imm8 {
    ($m:ident, $ops:ident, $w:expr, $dst:expr, $imm:expr) => {
        match $w {
            Width::W64 => dynasm!($ops ; .arch x64 ; $m Rq($dst), BYTE $imm),
            Width::W32 => dynasm!($ops ; .arch x64 ; $m Rd($dst), BYTE $imm),
        }
    };
}

macro_rules! alu_reg_imm32 {
    ($m:ident, $ops:ident, $w:expr, $dst:expr, $imm:expr) => {
        match $w {
            Width::W64 => dynasm!($ops ; .arch x64 ; $m Rq($dst), DWORD $imm),
            Width::W32 => dynasm!($ops ; .arch x64 ; $m Rd($dst), DWORD $imm),
        }
    };
}

macro_rules! alu_reg_mem {
    ($m:ident, $ops:ident, $w:expr, $dst:expr, $mem:expr) => {
        match $w {
            Width::W64 => with_mem!($ops, $mem, [$m Rq($dst), QWORD] []),
            Width::W32 => with_mem!($ops, $mem, [$m Rd($dst), DWORD] []),
        }
    };
}

/// `op size [mem], imm` with the full-size immediate.
macro_rules! alu_mem_imm {
    ($m:ident, $ops:ident, $size:expr, $mem:expr, $imm:expr) => {{
        let imm: i32 = $imm;
        match $size {
            Size::B8 => {
                let imm = imm as i8;
                with_mem!($ops, $mem, [$m BYTE] [, BYTE imm])
            }
            Size::B16 => {
                let imm = imm as i16;
                with_mem!($ops, $mem, [$m WORD] [, WORD imm])
            }
            Size::B32 => with_mem!($ops, $mem, [$m DWORD] [, DWORD imm]),
            Size::B64 => with_mem!($ops, $mem, [$m QWORD] [, DWORD imm]),
        }
    }};
}

macro_rules! alu_mem_reg {
    ($m:ident, $ops:ident, $size:expr, $mem:expr, $src:expr) => {
        match $size {
            Size::B8 => with_mem!($ops, $mem, [$m BYTE] [, Rb($src)]),
            Size::B16 => with_mem!($ops, $mem, [$m WORD] [, Rw($src)]),
            Size::B32 => with_mem!($ops, $mem, [$m DWORD] [, Rd($src)]),
            Size::B64 => with_mem!($ops, $mem, [$m QWORD] [, Rq($src)]),
        }
    };
}

macro_rules! shift {
    ($m:ident, $ops:ident, $w:expr, $dst:expr, $count:expr) => {
        match ($w, $count) {
            (Width::W64, ShiftCount::Cl) => dynasm!($ops ; .arch x64 ; $m Rq($dst), cl),
            (Width::W32, ShiftCount::Cl) => dynasm!($ops ; .arch x64 ; $m Rd($dst), cl),
            (Width::W64, ShiftCount::Imm(n)) => {
                let n = n as i8;
                dynasm!($ops ; .arch x64 ; $m Rq($dst), BYTE n)
            }
            (Width::W32, ShiftCount::Imm(n)) => {
                let n = n as i8;
                dynasm!($ops ; .arch x64 ; $m Rd($dst), BYTE n)
            }
        }
    };
}

/// Calls `$callback!(mnemonic, args...)` with the `jcc` mnemonic of a [`Cond`].
macro_rules! jcc_mnemonic {
    ($cond:expr, $callback:ident!($($args:tt)*)) => {
        match $cond {
            Cond::E => $callback!(je, $($args)*),
            Cond::Ne => $callback!(jne, $($args)*),
            Cond::A => $callback!(ja, $($args)*),
            Cond::Ae => $callback!(jae, $($args)*),
            Cond::B => $callback!(jb, $($args)*),
            Cond::Be => $callback!(jbe, $($args)*),
            Cond::G => $callback!(jg, $($args)*),
            Cond::Ge => $callback!(jge, $($args)*),
            Cond::L => $callback!(jl, $($args)*),
            Cond::Le => $callback!(jle, $($args)*),
            Cond::S => $callback!(js, $($args)*),
        }
    };
}

macro_rules! jump {
    ($m:ident, $ops:ident, $short:expr, $label:expr) => {
        if $short {
            dynasm!($ops ; .arch x64 ; $m BYTE =>$label)
        } else {
            dynasm!($ops ; .arch x64 ; $m =>$label)
        }
    };
}

macro_rules! lock_mnemonic {
    ($op:expr, $callback:ident!($($args:tt)*)) => {
        match $op {
            LockOp::Add => $callback!(add, $($args)*),
            LockOp::Or => $callback!(or, $($args)*),
            LockOp::And => $callback!(and, $($args)*),
            LockOp::Xor => $callback!(xor, $($args)*),
        }
    };
}

macro_rules! locked {
    ($m:ident, $ops:ident, $w:expr, $mem:expr, $src:expr) => {
        match $w {
            Width::W64 => with_mem!($ops, $mem, [lock $m QWORD] [, Rq($src)]),
            Width::W32 => with_mem!($ops, $mem, [lock $m DWORD] [, Rd($src)]),
        }
    };
}

/// `cmp reg, imm8` (opcode 0x83 /7 ib), written out byte by byte because dynasm selects the
/// imm32 form of `cmp` for every immediate.
fn cmp_reg_imm8(ops: &mut VecAssembler<X64Relocation>, w: Width, dst: u8, imm: i8) {
    const REX: u8 = 0x40;
    const REX_W: u8 = 0x08;
    const REX_B: u8 = 0x01;
    let rex_b = if dst >= 8 { REX_B } else { 0 };
    match w {
        Width::W64 => ops.push(REX | REX_W | rex_b),
        Width::W32 if rex_b != 0 => ops.push(REX | rex_b),
        Width::W32 => {}
    }
    const MOD_REGISTER: u8 = 0b11 << 6;
    const CMP_EXTENSION: u8 = 7 << 3;
    ops.push(0x83);
    ops.push(MOD_REGISTER | CMP_EXTENSION | (dst & 7));
    ops.push(imm as u8);
}

impl Encoder {
    /// An encoder whose jumps follow `plan` (the default plan makes every jump rel32), and
    /// which blinds the program's constants with `keys` when given.
    ///
    /// The buffers are sized for a program of `instructions` eBPF instructions up front:
    /// growing them by doubling cost large programs more reallocations and page faults than
    /// the encoding itself.
    pub fn new(plan: JumpPlan, instructions: usize, keys: Option<Keys>) -> Encoder {
        // About 16 bytes of code, one label (a jump target or a trap) and two label references
        // (jumps, stub calls) per instruction at most, in practice.
        let ops = VecAssembler::new_with_capacity(
            0,
            instructions * 16 + 256,
            0,
            0,
            instructions + 64,
            0,
            instructions * 2 + 64,
        );
        Encoder {
            ops,
            plan,
            jumps: Vec::with_capacity(instructions + 16),
            keys,
            error: None,
        }
    }

    /// A fresh label.
    pub fn new_label(&mut self) -> Label {
        self.ops.new_dynamic_label()
    }

    /// Bytes emitted so far.
    pub fn offset(&self) -> usize {
        self.ops.offset().0
    }

    /// Resolves label references and returns the code and the jump plan for a next pass.
    pub fn finish(mut self) -> Result<(Vec<u8>, JumpPlan), CompileError> {
        if let Some(error) = self.error {
            return Err(CompileError::Assembler(error));
        }
        self.ops
            .commit()
            .map_err(|error| CompileError::Assembler(error.to_string()))?;
        let labels = self.ops.labels();
        let mut short = Vec::with_capacity(self.jumps.len());
        for jump in &self.jumps {
            let target = labels
                .resolve_dynamic(jump.target)
                .map_err(|error| CompileError::Assembler(error.to_string()))?;
            let distance = target.0 as i64 - jump.end as i64;
            short.push(i8::try_from(distance).is_ok());
        }
        let code = self
            .ops
            .finalize()
            .map_err(|error| CompileError::Assembler(error.to_string()))?;
        Ok((
            code,
            JumpPlan {
                short,
                first_of_two: false,
            },
        ))
    }

    /// Whether the next jump, to `target`, may use the rel8 form: the plan says so, or the
    /// target is already bound (a backward jump) within reach of a 2-byte jump.
    fn next_jump_is_short(&self, target: Label) -> bool {
        if self.plan.is_short(self.jumps.len()) {
            return true;
        }
        match self.ops.labels().resolve_dynamic(target) {
            Ok(bound) => i8::try_from(bound.0 as i64 - (self.offset() as i64 + 2)).is_ok(),
            Err(_) => false,
        }
    }

    fn record_jump(&mut self, target: Label) {
        let end = self.offset();
        self.jumps.push(JumpRecord { end, target });
    }

    /// Emits one instruction.
    #[inline]
    pub fn emit(&mut self, inst: Inst) {
        if self.keys.is_none() {
            self.encode(inst);
        } else if let Some(inst) = self.blind(inst) {
            self.encode(inst);
        }
    }

    /// Computes the program constant of `inst` into a register and returns the instruction
    /// rewritten to use it (`None` when nothing is left to emit). Instructions without one are
    /// returned as they are.
    fn blind(&mut self, inst: Inst) -> Option<Inst> {
        match inst {
            Inst::Alu {
                op,
                w,
                dst,
                src: Operand::Program(imm),
            } => {
                let src = self.blinded_operand(imm, &[dst], inst)?;
                Some(Inst::Alu { op, w, dst, src })
            }
            Inst::AluStore {
                op,
                size,
                dst,
                src: Operand::Program(imm),
            } => {
                let src = self.blinded_operand(imm, &[dst.base], inst)?;
                Some(Inst::AluStore { op, size, dst, src })
            }
            Inst::ImulImm { w, dst, imm } => {
                let Operand::Reg(src) = self.blinded_operand(imm, &[dst], inst)? else {
                    return None;
                };
                Some(Inst::Imul { w, dst, src })
            }
            Inst::StoreImm { size, dst, imm } => {
                let Operand::Reg(src) = self.blinded_operand(imm, &[dst.base], inst)? else {
                    return None;
                };
                Some(Inst::Store { size, dst, src })
            }
            Inst::AddConst { w, dst, base, imm } => {
                if dst == base {
                    return self.fail("blinded add into its own base", inst);
                }
                self.blinded_imm32(imm, dst);
                Some(Inst::Alu {
                    op: AluOp::Add,
                    w,
                    dst,
                    src: Operand::Reg(base),
                })
            }
            Inst::MovConst { dst, imm, scratch } => {
                self.blinded_mov(dst, imm, scratch, inst);
                None
            }
            other => Some(other),
        }
    }

    /// Records that `inst` cannot be encoded as it is (a JIT bug).
    fn fail(&mut self, why: &str, inst: Inst) -> Option<Inst> {
        self.error.get_or_insert_with(|| format!("{why}: {inst:?}"));
        None
    }

    /// `imm` computed into its scratch register, which must not be one of `operands`.
    fn blinded_operand(
        &mut self,
        imm: ProgramImm,
        operands: &[Gpr],
        inst: Inst,
    ) -> Option<Operand> {
        if operands.contains(&imm.scratch) {
            self.fail("blinding scratch register is an operand", inst)?;
        }
        self.blinded_imm32(imm.value, imm.scratch);
        Some(Operand::Reg(imm.scratch))
    }

    fn next_key(&mut self) -> u64 {
        self.keys.as_mut().map_or(0, Keys::next_key)
    }

    /// `dst = value` sign-extended to 64 bits, from `value ^ key` and `key` (both imm32, and
    /// `sext(a) ^ sext(b) = sext(a ^ b)`).
    fn blinded_imm32(&mut self, value: i32, dst: Gpr) {
        let key = self.next_key() as u32 as i32;
        let (dst, masked) = (dst.code(), value ^ key);
        let ops = &mut self.ops;
        dynasm!(ops ; .arch x64 ; mov Rq(dst), DWORD masked ; xor Rq(dst), DWORD key);
    }

    /// `dst = imm` from `imm ^ key` and `key`: in 32-bit registers (which zero-extend) for
    /// values below 2^32, sign-extended imm32s for values that are sign-extended 32-bit ones,
    /// else two 64-bit immediates and `scratch`.
    fn blinded_mov(&mut self, dst: Gpr, imm: u64, scratch: Gpr, inst: Inst) {
        if let Ok(value) = u32::try_from(imm) {
            let key = self.next_key() as u32;
            let (dst, masked, key) = (dst.code(), (value ^ key) as i32, key as i32);
            let ops = &mut self.ops;
            dynasm!(ops ; .arch x64 ; mov Rd(dst), DWORD masked ; xor Rd(dst), DWORD key);
        } else if let Ok(value) = i32::try_from(imm as i64) {
            self.blinded_imm32(value, dst);
        } else if scratch == dst {
            self.fail("blinded 64-bit constant without a scratch register", inst);
        } else {
            let key = self.next_key();
            let (dst, scratch) = (dst.code(), scratch.code());
            let (masked, key) = ((imm ^ key) as i64, key as i64);
            let ops = &mut self.ops;
            dynasm!(ops ; .arch x64
                ; mov Rq(dst), QWORD masked
                ; mov Rq(scratch), QWORD key
                ; xor Rq(dst), Rq(scratch)
            );
        }
    }

    /// Encodes an instruction in which any program constant is a plain immediate.
    fn encode(&mut self, inst: Inst) {
        let ops = &mut self.ops;
        match inst {
            Inst::Bind(label) => dynasm!(ops ; .arch x64 ; =>label),
            Inst::AlignLoop => {
                let padding = if self.plan.first_of_two {
                    LOOP_ALIGN - 1
                } else {
                    (LOOP_ALIGN - ops.offset().0 % LOOP_ALIGN) % LOOP_ALIGN
                };
                emit_nops(ops, padding);
            }
            Inst::Mov { w, dst, src } => {
                let (dst, src) = (dst.code(), src.code());
                match w {
                    Width::W64 => dynasm!(ops ; .arch x64 ; mov Rq(dst), Rq(src)),
                    Width::W32 => dynasm!(ops ; .arch x64 ; mov Rd(dst), Rd(src)),
                }
            }
            // Unblinded program constants are plain immediates.
            Inst::MovImm { dst, imm } | Inst::MovConst { dst, imm, .. } => {
                let dst = dst.code();
                if let Ok(imm32) = u32::try_from(imm) {
                    let imm32 = imm32 as i32;
                    dynasm!(ops ; .arch x64 ; mov Rd(dst), DWORD imm32)
                } else if let Ok(simm32) = i32::try_from(imm as i64) {
                    dynasm!(ops ; .arch x64 ; mov Rq(dst), DWORD simm32)
                } else {
                    let imm64 = imm as i64;
                    dynasm!(ops ; .arch x64 ; mov Rq(dst), QWORD imm64)
                }
            }
            Inst::Alu { op, w, dst, src } => {
                let dst = dst.code();
                match src {
                    Operand::Reg(src) => {
                        let src = src.code();
                        alu_mnemonic!(op, alu_reg_reg!(ops, w, dst, src))
                    }
                    // Program constants are here only when they are not blinded.
                    Operand::Imm(imm) | Operand::Program(ProgramImm { value: imm, .. }) => {
                        match i8::try_from(imm) {
                            Ok(imm8) => alu_mnemonic!(
                                op,
                                alu_reg_imm8!(ops, w, dst, imm8),
                                cmp => cmp_reg_imm8(ops, w, dst, imm8),
                                test => alu_reg_imm32!(test, ops, w, dst, imm)
                            ),
                            Err(_) => alu_mnemonic!(op, alu_reg_imm32!(ops, w, dst, imm)),
                        }
                    }
                }
            }
            Inst::AluLoad { op, w, dst, src } => {
                let dst = dst.code();
                alu_mnemonic!(op, alu_reg_mem!(ops, w, dst, src))
            }
            Inst::AluStore { op, size, dst, src } => match src {
                // dynasm always picks the imm32 forms for memory operands. Program constants
                // are here only when they are not blinded.
                Operand::Imm(imm) | Operand::Program(ProgramImm { value: imm, .. }) => {
                    alu_mnemonic!(op, alu_mem_imm!(ops, size, dst, imm))
                }
                Operand::Reg(src) => {
                    let src = src.code();
                    alu_mnemonic!(op, alu_mem_reg!(ops, size, dst, src))
                }
            },
            Inst::Imul { w, dst, src } => {
                let (dst, src) = (dst.code(), src.code());
                match w {
                    Width::W64 => dynasm!(ops ; .arch x64 ; imul Rq(dst), Rq(src)),
                    Width::W32 => dynasm!(ops ; .arch x64 ; imul Rd(dst), Rd(src)),
                }
            }
            Inst::ImulImm { w, dst, imm } => {
                let (dst, src, imm) = (dst.code(), dst.code(), imm.value);
                match (w, i8::try_from(imm)) {
                    (Width::W64, Ok(imm8)) => {
                        dynasm!(ops ; .arch x64 ; imul Rq(dst), Rq(src), BYTE imm8)
                    }
                    (Width::W64, Err(_)) => {
                        dynasm!(ops ; .arch x64 ; imul Rq(dst), Rq(src), DWORD imm)
                    }
                    (Width::W32, Ok(imm8)) => {
                        dynasm!(ops ; .arch x64 ; imul Rd(dst), Rd(src), BYTE imm8)
                    }
                    (Width::W32, Err(_)) => {
                        dynasm!(ops ; .arch x64 ; imul Rd(dst), Rd(src), DWORD imm)
                    }
                }
            }
            Inst::Shift { op, w, dst, count } => {
                let dst = dst.code();
                match op {
                    ShiftOp::Shl => shift!(shl, ops, w, dst, count),
                    ShiftOp::Shr => shift!(shr, ops, w, dst, count),
                    ShiftOp::Sar => shift!(sar, ops, w, dst, count),
                }
            }
            Inst::Neg { w, dst } => {
                let dst = dst.code();
                match w {
                    Width::W64 => dynasm!(ops ; .arch x64 ; neg Rq(dst)),
                    Width::W32 => dynasm!(ops ; .arch x64 ; neg Rd(dst)),
                }
            }
            Inst::Div { w, signed, src } => {
                let src = src.code();
                match (w, signed) {
                    (Width::W64, false) => dynasm!(ops ; .arch x64 ; div Rq(src)),
                    (Width::W64, true) => dynasm!(ops ; .arch x64 ; idiv Rq(src)),
                    (Width::W32, false) => dynasm!(ops ; .arch x64 ; div Rd(src)),
                    (Width::W32, true) => dynasm!(ops ; .arch x64 ; idiv Rd(src)),
                }
            }
            Inst::SignExtendAcc { w } => match w {
                Width::W64 => dynasm!(ops ; .arch x64 ; cqo),
                Width::W32 => dynasm!(ops ; .arch x64 ; cdq),
            },
            Inst::MovZx { dst, src, from } => {
                let (dst, src) = (dst.code(), src.code());
                match from {
                    Size::B8 => dynasm!(ops ; .arch x64 ; movzx Rd(dst), Rb(src)),
                    Size::B16 => dynasm!(ops ; .arch x64 ; movzx Rd(dst), Rw(src)),
                    Size::B32 | Size::B64 => dynasm!(ops ; .arch x64 ; mov Rd(dst), Rd(src)),
                }
            }
            Inst::MovSx { w, dst, src, from } => {
                let (dst, src) = (dst.code(), src.code());
                match (w, from) {
                    (Width::W64, Size::B8) => dynasm!(ops ; .arch x64 ; movsx Rq(dst), Rb(src)),
                    (Width::W64, Size::B16) => dynasm!(ops ; .arch x64 ; movsx Rq(dst), Rw(src)),
                    (Width::W64, Size::B32) => dynasm!(ops ; .arch x64 ; movsxd Rq(dst), Rd(src)),
                    (Width::W64, Size::B64) => dynasm!(ops ; .arch x64 ; mov Rq(dst), Rq(src)),
                    (Width::W32, Size::B8) => dynasm!(ops ; .arch x64 ; movsx Rd(dst), Rb(src)),
                    (Width::W32, Size::B16) => dynasm!(ops ; .arch x64 ; movsx Rd(dst), Rw(src)),
                    (Width::W32, Size::B32 | Size::B64) => {
                        dynasm!(ops ; .arch x64 ; mov Rd(dst), Rd(src))
                    }
                }
            }
            Inst::Load {
                size,
                sign_extend,
                dst,
                src,
            } => {
                let dst = dst.code();
                match (size, sign_extend) {
                    (Size::B8, false) => with_mem!(ops, src, [movzx Rd(dst), BYTE] []),
                    (Size::B16, false) => with_mem!(ops, src, [movzx Rd(dst), WORD] []),
                    (Size::B32, false) => with_mem!(ops, src, [mov Rd(dst), DWORD] []),
                    (Size::B8, true) => with_mem!(ops, src, [movsx Rq(dst), BYTE] []),
                    (Size::B16, true) => with_mem!(ops, src, [movsx Rq(dst), WORD] []),
                    (Size::B32, true) => with_mem!(ops, src, [movsxd Rq(dst), DWORD] []),
                    (Size::B64, _) => with_mem!(ops, src, [mov Rq(dst), QWORD] []),
                }
            }
            Inst::Store { size, dst, src } => {
                let src = src.code();
                alu_mem_reg!(mov, ops, size, dst, src)
            }
            Inst::StoreImm { size, dst, imm } => match (size, imm.value) {
                (Size::B8, imm) => {
                    let imm = imm as i8;
                    with_mem!(ops, dst, [mov BYTE] [, BYTE imm])
                }
                (Size::B16, imm) => {
                    let imm = imm as i16;
                    with_mem!(ops, dst, [mov WORD] [, WORD imm])
                }
                (Size::B32, imm) => with_mem!(ops, dst, [mov DWORD] [, DWORD imm]),
                (Size::B64, imm) => with_mem!(ops, dst, [mov QWORD] [, DWORD imm]),
            },
            // Unblinded program constants: a `lea`.
            Inst::AddConst { w, dst, base, imm } => self.encode(Inst::Lea {
                w,
                dst,
                src: Mem::new(base, imm),
            }),
            Inst::Lea { w, dst, src } => {
                let dst = dst.code();
                match w {
                    Width::W64 => with_mem!(ops, src, [lea Rq(dst),] []),
                    Width::W32 => with_mem!(ops, src, [lea Rd(dst),] []),
                }
            }
            Inst::LeaSum {
                w,
                dst,
                base,
                index,
            } => {
                let (dst, base, index) = (dst.code(), base.code(), index.code());
                match w {
                    Width::W64 => dynasm!(ops ; .arch x64 ; lea Rq(dst), [Rq(base) + Rq(index)]),
                    Width::W32 => dynasm!(ops ; .arch x64 ; lea Rd(dst), [Rq(base) + Rq(index)]),
                }
            }
            Inst::Bswap { w, dst } => {
                let dst = dst.code();
                match w {
                    Width::W64 => dynasm!(ops ; .arch x64 ; bswap Rq(dst)),
                    Width::W32 => dynasm!(ops ; .arch x64 ; bswap Rd(dst)),
                }
            }
            Inst::Swap16 { dst } => {
                let dst = dst.code();
                dynasm!(ops ; .arch x64 ; ror Rw(dst), BYTE 8)
            }
            Inst::Locked { op, w, dst, src } => {
                let src = src.code();
                lock_mnemonic!(op, locked!(ops, w, dst, src))
            }
            Inst::Xadd { w, dst, src } => {
                let src = src.code();
                locked!(xadd, ops, w, dst, src)
            }
            Inst::CmpXchg { w, dst, src } => {
                let src = src.code();
                locked!(cmpxchg, ops, w, dst, src)
            }
            Inst::Xchg { w, dst, src } => {
                let src = src.code();
                match w {
                    Width::W64 => with_mem!(ops, dst, [xchg QWORD] [, Rq(src)]),
                    Width::W32 => with_mem!(ops, dst, [xchg DWORD] [, Rd(src)]),
                }
            }
            Inst::Jmp(label) => {
                let short = self.next_jump_is_short(label);
                let ops = &mut self.ops;
                jump!(jmp, ops, short, label);
                self.record_jump(label);
            }
            Inst::Jcc(cond, label) => {
                let short = self.next_jump_is_short(label);
                let ops = &mut self.ops;
                jcc_mnemonic!(cond, jump!(ops, short, label));
                self.record_jump(label);
            }
            Inst::Call(label) => dynasm!(ops ; .arch x64 ; call =>label),
            Inst::CallReg(reg) => {
                let reg = reg.code();
                dynasm!(ops ; .arch x64 ; call Rq(reg))
            }
            Inst::Ret => dynasm!(ops ; .arch x64 ; ret),
            Inst::Push(reg) => {
                let reg = reg.code();
                dynasm!(ops ; .arch x64 ; push Rq(reg))
            }
            Inst::Pop(reg) => {
                let reg = reg.code();
                dynasm!(ops ; .arch x64 ; pop Rq(reg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::asm::Gpr;
    use super::*;

    fn listing(insts: &[Inst]) -> Vec<String> {
        let mut encoder = Encoder::new(JumpPlan::default(), 4, None);
        for inst in insts {
            encoder.emit(*inst);
        }
        let (code, _) = encoder.finish().unwrap();
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
        let mem = Mem::new(Gpr::R13, -8);
        let far = Mem::new(Gpr::Rbp, 0x100);
        let cases: Vec<(Inst, &str)> = vec![
            (
                Inst::Alu {
                    op: AluOp::Cmp,
                    w: Width::W64,
                    dst: Gpr::R13,
                    src: Operand::Imm(-3),
                },
                "cmp r13,0xFFFFFFFFFFFFFFFD",
            ),
            (
                Inst::Alu {
                    op: AluOp::Cmp,
                    w: Width::W32,
                    dst: Gpr::Rsi,
                    src: Operand::Imm(5),
                },
                "cmp esi,5",
            ),
            (
                Inst::Alu {
                    op: AluOp::Cmp,
                    w: Width::W32,
                    dst: Gpr::R9,
                    src: Operand::Imm(100000),
                },
                "cmp r9d,0x186A0",
            ),
            (
                Inst::Alu {
                    op: AluOp::Test,
                    w: Width::W64,
                    dst: Gpr::Rdi,
                    src: Operand::Imm(1),
                },
                "test rdi,1",
            ),
            (
                Inst::MovImm {
                    dst: Gpr::R8,
                    imm: u64::MAX,
                },
                "mov r8,0xFFFFFFFFFFFFFFFF",
            ),
            (
                Inst::MovImm {
                    dst: Gpr::R8,
                    imm: 0x1_0000_0000,
                },
                "mov r8,0x100000000",
            ),
            (
                Inst::Load {
                    size: Size::B16,
                    sign_extend: true,
                    dst: Gpr::Rbx,
                    src: mem,
                },
                "movsx rbx,word ptr [r13-8]",
            ),
            (
                Inst::Store {
                    size: Size::B8,
                    dst: far,
                    src: Gpr::Rsi,
                },
                "mov [rbp+0x100],sil",
            ),
            (
                Inst::StoreImm {
                    size: Size::B64,
                    dst: mem,
                    imm: ProgramImm {
                        value: -1,
                        scratch: Gpr::Rcx,
                    },
                },
                "mov qword ptr [r13-8],0xFFFFFFFFFFFFFFFF",
            ),
            (
                Inst::Xadd {
                    w: Width::W32,
                    dst: mem,
                    src: Gpr::R12,
                },
                "lock xadd [r13-8],r12d",
            ),
            (
                Inst::AluStore {
                    op: AluOp::Sub,
                    size: Size::B64,
                    dst: far,
                    src: Operand::Imm(3),
                },
                "sub qword ptr [rbp+0x100],3",
            ),
            (
                Inst::MovSx {
                    w: Width::W32,
                    dst: Gpr::Rdi,
                    src: Gpr::Rsi,
                    from: Size::B8,
                },
                "movsx edi,sil",
            ),
            (Inst::Swap16 { dst: Gpr::Rax }, "ror ax,8"),
        ];
        for (inst, expected) in cases {
            assert_eq!(listing(&[inst]), vec![expected.to_string()], "{inst:?}");
        }
    }

    /// rbp and r13 as a base and r12 anywhere need special ModRM/SIB forms; every pair of the
    /// registers eBPF registers live in must still mean `base + index`.
    #[test]
    fn lea_sum_adds_any_two_registers() {
        let names = |gpr: Gpr, w: Width| {
            let name = format!("{gpr:?}").to_lowercase();
            match (w, name.strip_prefix('r').and_then(|n| n.parse::<u8>().ok())) {
                (Width::W64, _) => name,
                (Width::W32, Some(_)) => format!("{name}d"),
                (Width::W32, None) => format!("e{}", &name[1..]),
            }
        };
        let gprs: Vec<Gpr> = (0..=10)
            .map(|n| super::super::regs::ebpf(super::super::regs::reg(n)))
            .collect();
        for w in [Width::W64, Width::W32] {
            for &dst in &gprs {
                for &base in &gprs {
                    for &index in &gprs {
                        let inst = Inst::LeaSum {
                            w,
                            dst,
                            base,
                            index,
                        };
                        let (b, i) = (names(base, Width::W64), names(index, Width::W64));
                        let expected = [format!("lea {},[{b}+{i}]", names(dst, w))];
                        let alternative = [format!("lea {},[{i}+{b}]", names(dst, w))];
                        let got = listing(&[inst]);
                        assert!(got == expected || got == alternative, "{inst:?}: {got:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn jumps_are_short_only_where_the_first_pass_proved_they_fit() {
        let program = |plan: JumpPlan, filler: usize| {
            let mut encoder = Encoder::new(plan, 4, None);
            let near = encoder.new_label();
            let far = encoder.new_label();
            encoder.emit(Inst::Jcc(Cond::E, near));
            encoder.emit(Inst::Jmp(far));
            encoder.emit(Inst::Bind(near));
            for _ in 0..filler {
                encoder.emit(Inst::Ret);
            }
            encoder.emit(Inst::Bind(far));
            encoder.finish().unwrap()
        };
        let (long, plan) = program(JumpPlan::default(), 200);
        assert_eq!(plan.short_count(), 1);
        let (short, plan) = program(plan, 200);
        assert_eq!(
            long.len() - short.len(),
            4,
            "only the jcc shrinks (6 -> 2 bytes)"
        );
        assert_eq!(plan.short_count(), 1);
        let (_, plan) = program(JumpPlan::default(), 100);
        assert_eq!(plan.short_count(), 2);
    }

    /// Encodes `insts` with blinding and simulates the `mov`/`xor`/`add` immediates they
    /// produce: the final value of each register written, and the code.
    fn blinded(
        insts: &[Inst],
    ) -> Result<(std::collections::HashMap<u32, u64>, Vec<u8>), CompileError> {
        use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};
        let mut encoder = Encoder::new(JumpPlan::default(), 4, Some(Keys::random()));
        for inst in insts {
            encoder.emit(*inst);
        }
        let (code, _) = encoder.finish()?;
        // (number, whether the 32-bit register) of a general-purpose register
        let number = |register: Register| {
            let (value, eax, rax) = (register as u32, Register::EAX as u32, Register::RAX as u32);
            match value.checked_sub(eax) {
                Some(index) if index < 16 => (index, true),
                _ => (value - rax, false),
            }
        };
        let mut values = std::collections::HashMap::<u32, u64>::new();
        for instruction in Decoder::new(64, &code, DecoderOptions::NONE).iter() {
            let (dst, narrow) = number(instruction.op0_register());
            let operand = match instruction.op1_kind() {
                OpKind::Register => values[&number(instruction.op1_register()).0],
                OpKind::Immediate64 | OpKind::Immediate32to64 => instruction.immediate(1),
                OpKind::Immediate32 => instruction.immediate(1) as u32 as u64,
                other => panic!("unexpected operand {other:?} in {instruction}"),
            };
            let old = values.get(&dst).copied().unwrap_or(0);
            let value = match instruction.mnemonic() {
                Mnemonic::Mov => operand,
                Mnemonic::Xor => old ^ operand,
                Mnemonic::Add => old.wrapping_add(operand),
                other => panic!("unexpected {other:?}"),
            };
            let value = if narrow { value as u32 as u64 } else { value };
            values.insert(dst, value);
        }
        Ok((values, code))
    }

    fn reg(gpr: Gpr) -> u32 {
        u32::from(gpr.code())
    }

    #[test]
    fn blinded_constants_are_computed_not_written() {
        let constant = 0x4142_4344;
        let cases: Vec<(Inst, Gpr, u64)> = vec![
            (
                Inst::MovConst {
                    dst: Gpr::Rsi,
                    imm: constant,
                    scratch: Gpr::Rax,
                },
                Gpr::Rsi,
                constant,
            ),
            (
                Inst::MovConst {
                    dst: Gpr::Rsi,
                    imm: -0x4142_4344i64 as u64,
                    scratch: Gpr::Rax,
                },
                Gpr::Rsi,
                -0x4142_4344i64 as u64,
            ),
            (
                Inst::MovConst {
                    dst: Gpr::Rsi,
                    imm: 0x4142_4344_4546_4748,
                    scratch: Gpr::Rax,
                },
                Gpr::Rsi,
                0x4142_4344_4546_4748,
            ),
            (
                Inst::Alu {
                    op: AluOp::Add,
                    w: Width::W64,
                    dst: Gpr::Rdi,
                    src: Operand::Program(ProgramImm {
                        value: -0x4142_4344,
                        scratch: Gpr::Rax,
                    }),
                },
                Gpr::Rax,
                -0x4142_4344i64 as u64,
            ),
            (
                Inst::AddConst {
                    w: Width::W64,
                    dst: Gpr::Rax,
                    base: Gpr::Rdi,
                    imm: 0x4142_4344,
                },
                Gpr::Rax,
                0x4142_4344 + 7,
            ),
        ];
        for (inst, register, expected) in cases {
            let mov_rdi_7 = Inst::MovImm {
                dst: Gpr::Rdi,
                imm: 7,
            };
            let (values, code) = blinded(&[mov_rdi_7, inst]).unwrap();
            assert_eq!(
                values.get(&reg(register)),
                Some(&expected),
                "{inst:?} {values:x?}"
            );
            for pattern in [&expected.to_le_bytes()[..4], &expected.to_le_bytes()[4..]] {
                assert!(
                    pattern == [0; 4]
                        || pattern == [0xff; 4]
                        || !code.windows(4).any(|w| w == pattern),
                    "{inst:?}: {pattern:x?} in {code:x?}"
                );
            }
            // The same length whatever the keys.
            assert_eq!(blinded(&[mov_rdi_7, inst]).unwrap().1.len(), code.len());
        }
    }

    #[test]
    fn blinding_with_a_scratch_register_that_is_an_operand_is_an_error() {
        let bad = [
            Inst::Alu {
                op: AluOp::Add,
                w: Width::W64,
                dst: Gpr::Rax,
                src: Operand::Program(ProgramImm {
                    value: 5,
                    scratch: Gpr::Rax,
                }),
            },
            Inst::AddConst {
                w: Width::W64,
                dst: Gpr::Rax,
                base: Gpr::Rax,
                imm: 5,
            },
            Inst::MovConst {
                dst: Gpr::Rax,
                imm: u64::MAX / 3,
                scratch: Gpr::Rax,
            },
            Inst::StoreImm {
                size: Size::B32,
                dst: Mem::new(Gpr::Rcx, 0),
                imm: ProgramImm {
                    value: 5,
                    scratch: Gpr::Rcx,
                },
            },
        ];
        for inst in bad {
            assert!(
                matches!(blinded(&[inst]), Err(CompileError::Assembler(_))),
                "{inst:?}"
            );
        }
    }
}
