//! Sequences selected together: clang's idioms that one x86 instruction does, such as widening
//! a value (which eBPF without `movsx`, before v4, spells as a shift pair) or adding to a copy.
//!
//! | sequence | x86 |
//! |---|---|
//! | `lsh d, 32; rsh d, 32` | `mov d32, d32` |
//! | `mov d, s; lsh d, 32; rsh d, 32` | `mov d32, s32` |
//! | `lsh d, K; arsh d, K` (K = 32, 48, 56) | `movsx d, d32/16/8` |
//! | `mov d, s; lsh d, K; arsh d, K` | `movsx d, s32/16/8` |
//! | `mov d, s; add d, imm` | `lea d, [s + imm]` |
//! | `mov d, s; add d, x` | `lea d, [s + x]` |
//!
//! The copy-then-add pair (clang's way of computing an address from a base it keeps) is
//! selected when both are 64-bit, both 32-bit, or a 64-bit copy then a 32-bit add (whose
//! low 32 bits are those of `s + x` either way).
//!
//! A copy `mov d, s` whose only reader is a conditional jump a few instructions on, after which
//! `d` is dead (`crate::liveness`), is left out: the jump compares `s` instead. Nothing between
//! them may read `d`, write `d` or `s`, transfer control or be a jump target; a fuel block may
//! start there and an access there may fail, since a run that stops shows no registers. (clang
//! copies a value to compare it and keep the original, e.g. in strcmp's loop.)
//!
//! A conditional jump over an unconditional one, `jCC +1; ja L` (clang's loop latch when the
//! loop exits forward), becomes one jump to L on the inverse condition.
//!
//! A sequence is selected together only when no instruction after its first is a jump target
//! or starts a fuel block (for the jump pair, a fuel block only matters when fuel is metered):
//! then nothing can enter it in the middle, the fuel charged before its first instruction
//! covers all of it, and none of its instructions can fail.
//!
//! Within a block, [`upper_zero_after`] tracks which registers are known to hold values below
//! 2^32, so that a 64-bit unsigned division of two such values uses the (faster) 32-bit divide:
//! the quotient and remainder are the same, and so is the division-by-zero rule.

use super::select::branch_target;
use crate::analysis::Analysis;
use crate::liveness;
use xbpf_isa::{AluOp, Instruction, JmpCond, Program, Reg, Source, Width};

/// How a widening sequence extends the low bits of its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extension {
    /// Zero-extend the low 32 bits.
    Zero32,
    /// Sign-extend the low 8, 16 or 32 bits.
    Sign(u8),
}

/// A sequence of `len` instructions that computes `dst = extend(src)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Widening {
    pub len: usize,
    pub dst: Reg,
    pub src: Reg,
    pub extension: Extension,
}

/// A sequence of instructions selected together, or a copy left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequence {
    Widening(Widening),
    JumpOverJa(JumpOverJa),
    CopyAdd(CopyAdd),
    ForwardedCopy(ForwardedCopy),
}

/// The sequence starting at `pc`, if any; `fuel` when fuel is metered. Every instruction is
/// asked, so this looks at the instruction once and tries only the sequences it can start.
pub fn sequence_at(
    program: &Program,
    analysis: &Analysis,
    fuel: bool,
    pc: usize,
) -> Option<Sequence> {
    match program.instruction(pc)? {
        Instruction::Alu {
            op: AluOp::Lsh,
            src: Source::Imm(_),
            ..
        } => widening_at(program, analysis, pc).map(Sequence::Widening),
        Instruction::Alu {
            op: AluOp::Mov,
            src: Source::Reg(_),
            ..
        } => widening_at(program, analysis, pc)
            .map(Sequence::Widening)
            .or_else(|| copy_add_at(program, analysis, pc).map(Sequence::CopyAdd))
            .or_else(|| forwarded_copy_at(program, analysis, pc).map(Sequence::ForwardedCopy)),
        Instruction::Jump { off: 1, .. } => {
            jump_over_ja_at(program, analysis, fuel, pc).map(Sequence::JumpOverJa)
        }
        _ => None,
    }
}

/// `jCC +1; ja L` at `pc`, selected as one jump to L on the inverse condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpOverJa {
    /// The conditional jump's comparison (its target is pc + 2, where the code falls through).
    pub width: Width,
    pub cond: JmpCond,
    pub dst: Reg,
    pub src: Source,
    /// L, the `ja`'s target.
    pub target: usize,
}

/// The jump pair starting at `pc`, if any; `fuel` when fuel is metered.
pub fn jump_over_ja_at(
    program: &Program,
    analysis: &Analysis,
    fuel: bool,
    pc: usize,
) -> Option<JumpOverJa> {
    let Instruction::Jump {
        width,
        cond,
        dst,
        src,
        off: 1,
    } = *program.instruction(pc)?
    else {
        return None;
    };
    let Instruction::Ja { off, .. } = *program.instruction(pc + 1)? else {
        return None;
    };
    if analysis.is_target(pc + 1) || (fuel && program.fuel_block_len(pc + 1) > 0) {
        return None;
    }
    // The `ja` is at pc + 1.
    let target = branch_target(pc + 1, i64::from(off));
    Some(JumpOverJa {
        width,
        cond,
        dst,
        src,
        target,
    })
}

/// `mov d, s; add d, addend` at `pc`, selected as `d = s + addend` (a `lea`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyAdd {
    pub width: Width,
    pub dst: Reg,
    pub base: Reg,
    /// What the `add` adds, with `d` already replaced by `s` (a copy of it by then).
    pub addend: Source,
}

/// `(width, dst, src)` of the register copy `mov dst, src` at `pc`, if that is one.
fn register_copy_at(program: &Program, pc: usize) -> Option<(Width, Reg, Reg)> {
    match *program.instruction(pc)? {
        Instruction::Alu {
            width,
            op: AluOp::Mov,
            dst,
            src: Source::Reg(src),
        } => Some((width, dst, src)),
        _ => None,
    }
}

/// The copy-then-add pair starting at `pc`, if any.
pub fn copy_add_at(program: &Program, analysis: &Analysis, pc: usize) -> Option<CopyAdd> {
    let (copy_width, dst, base) = register_copy_at(program, pc)?;
    let Instruction::Alu {
        width,
        op: AluOp::Add,
        dst: add_dst,
        src: addend,
    } = *program.instruction(pc + 1)?
    else {
        return None;
    };
    // A 32-bit copy zero-extends: a 64-bit add would see the upper half cleared.
    let widths_fit = copy_width == Width::W64 || width == Width::W32;
    if add_dst != dst
        || base == dst
        || !widths_fit
        || analysis.is_target(pc + 1)
        || program.fuel_block_len(pc + 1) > 0
    {
        return None;
    }
    let addend = match addend {
        Source::Reg(reg) if reg == dst => Source::Reg(base),
        other => other,
    };
    Some(CopyAdd {
        width,
        dst,
        base,
        addend,
    })
}

/// A copy left out: the conditional jump at `jump_pc` reads `src` where it names `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardedCopy {
    pub jump_pc: usize,
    pub dst: Reg,
    pub src: Reg,
}

impl ForwardedCopy {
    /// `reg`, or the copy's source where `reg` is its destination.
    pub fn map(self, reg: Reg) -> Reg {
        if reg == self.dst { self.src } else { reg }
    }
}

/// How far past a copy its jump may be.
const FORWARD_REACH: usize = 4;

/// The copy at `pc` that can be left out, if it is one.
pub fn forwarded_copy_at(
    program: &Program,
    analysis: &Analysis,
    pc: usize,
) -> Option<ForwardedCopy> {
    let (width, dst, src) = register_copy_at(program, pc)?;
    if width != Width::W64 || dst == src || dst == Reg::R10 {
        return None;
    }
    let has_local_functions = program.functions().len() > 1;
    let (dst_bit, src_bit) = (1u16 << dst.number(), 1u16 << src.number());
    let mut at = pc + 1;
    while at <= pc + FORWARD_REACH {
        if analysis.is_target(at) {
            return None;
        }
        let instruction = program.instruction(at)?;
        let reads = liveness::reads(instruction, has_local_functions);
        if let Instruction::Jump { .. } = instruction {
            let dead_after = !liveness::read_later(program, at, dst);
            return (reads & dst_bit != 0 && dead_after).then_some(ForwardedCopy {
                jump_pc: at,
                dst,
                src,
            });
        }
        let transfers = matches!(
            instruction,
            Instruction::Ja { .. }
                | Instruction::Exit
                | Instruction::Call(_)
                | Instruction::Callx(_)
        );
        if transfers
            || reads & dst_bit != 0
            || liveness::may_write(instruction) & (dst_bit | src_bit) != 0
        {
            return None;
        }
        at += instruction.slots();
    }
    None
}

/// The widening sequence starting at `pc`, if any.
pub fn widening_at(program: &Program, analysis: &Analysis, pc: usize) -> Option<Widening> {
    let inside = |pc: usize| !analysis.is_target(pc) && program.fuel_block_len(pc) == 0;
    let instruction = |pc: usize| program.instruction(pc).copied();
    // Every instruction is asked: most are neither a `mov` nor a `lsh`, and leave here.
    let (src, shifts_at) = match instruction(pc)? {
        Instruction::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Source::Reg(src),
        } if inside(pc + 1) => (Some((dst, src)), pc + 1),
        Instruction::Alu {
            width: Width::W64,
            op: AluOp::Lsh,
            src: Source::Imm(_),
            ..
        } => (None, pc),
        _ => return None,
    };
    if !inside(shifts_at + 1) {
        return None;
    }
    let (dst, left) = shift_by_imm(instruction(shifts_at)?, AluOp::Lsh)?;
    let right_op = match instruction(shifts_at + 1)? {
        Instruction::Alu { op, .. } => op,
        _ => return None,
    };
    let (right_dst, right) = shift_by_imm(instruction(shifts_at + 1)?, right_op)?;
    if right_dst != dst || left != right {
        return None;
    }
    let extension = match (right_op, left) {
        (AluOp::Rsh, 32) => Extension::Zero32,
        (AluOp::Arsh, 32) => Extension::Sign(32),
        (AluOp::Arsh, 48) => Extension::Sign(16),
        (AluOp::Arsh, 56) => Extension::Sign(8),
        _ => return None,
    };
    let src = match src {
        Some((mov_dst, src)) if mov_dst == dst => src,
        Some(_) => return None,
        None => dst,
    };
    Some(Widening {
        len: shifts_at + 2 - pc,
        dst,
        src,
        extension,
    })
}

/// The registers (bit n for rn) known to hold values below 2^32 after `instruction`, given
/// those known before it. Sound, not complete: anything not recognised is forgotten.
pub fn upper_zero_after(known: u16, instruction: &Instruction) -> u16 {
    let bit = |reg: Reg| 1u16 << reg.number();
    let is_known = |reg: Reg| known & bit(reg) != 0;
    let set = |reg: Reg, value: bool| (known & !bit(reg)) | if value { bit(reg) } else { 0 };
    match *instruction {
        // 32-bit results are zero-extended
        Instruction::Alu {
            width: Width::W32,
            dst,
            ..
        } => set(dst, true),
        Instruction::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        } => {
            let value = match (op, src) {
                (AluOp::Mov, Source::Reg(src)) => is_known(src),
                (AluOp::Mov, Source::Imm(imm)) => imm >= 0,
                (AluOp::And, Source::Imm(imm)) => imm >= 0 || is_known(dst),
                (AluOp::And, Source::Reg(src)) => is_known(dst) || is_known(src),
                (AluOp::Rsh, Source::Imm(count)) => count & 63 >= 32 || is_known(dst),
                // unsigned quotients and remainders are at most the dividend
                (AluOp::Div | AluOp::Mod, _) => is_known(dst),
                _ => false,
            };
            set(dst, value)
        }
        Instruction::Load {
            size,
            sign_extend: false,
            dst,
            ..
        } => set(dst, size != xbpf_isa::MemSize::DW),
        // fetching forms write src, cmpxchg writes r0
        Instruction::Atomic { src, .. } => known & !bit(src) & !bit(Reg::R0),
        _ => match instruction.written_register() {
            Some(reg) => set(reg, false),
            None => known,
        },
    }
}

/// `(dst, count)` of a 64-bit shift `op` by an immediate.
fn shift_by_imm(instruction: Instruction, op: AluOp) -> Option<(Reg, i32)> {
    match instruction {
        Instruction::Alu {
            width: Width::W64,
            op: found,
            dst,
            src: Source::Imm(count),
        } if found == op => Some((dst, count & 63)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::assemble;

    fn widening(source: &str, pc: usize) -> Option<Widening> {
        let program = Program::new(assemble(source).unwrap()).unwrap();
        let analysis = Analysis::new(&program);
        widening_at(&program, &analysis, pc)
    }

    #[test]
    fn finds_the_idioms() {
        let zext = widening("lsh %r3, 32\nrsh %r3, 32\nexit", 0).unwrap();
        assert_eq!((zext.len, zext.extension), (2, Extension::Zero32));
        assert_eq!(
            (zext.dst, zext.src),
            (Reg::new(3).unwrap(), Reg::new(3).unwrap())
        );
        let copy = widening("mov %r0, %r1\nlsh %r0, 56\narsh %r0, 56\nexit", 0).unwrap();
        assert_eq!((copy.len, copy.extension), (3, Extension::Sign(8)));
        assert_eq!((copy.dst, copy.src), (Reg::R0, Reg::R1));
    }

    fn copy_add(source: &str) -> Option<CopyAdd> {
        let program = Program::new(assemble(source).unwrap()).unwrap();
        copy_add_at(&program, &Analysis::new(&program), 0)
    }

    #[test]
    fn finds_copy_then_add() {
        let r = |n| Reg::new(n).unwrap();
        let found = |width, dst, base, addend| {
            Some(CopyAdd {
                width,
                dst: r(dst),
                base: r(base),
                addend,
            })
        };
        assert_eq!(
            copy_add("mov %r3, %r1\nadd %r3, %r2\nexit"),
            found(Width::W64, 3, 1, Source::Reg(r(2)))
        );
        assert_eq!(
            copy_add("mov %r3, %r1\nadd %r3, -7\nexit"),
            found(Width::W64, 3, 1, Source::Imm(-7))
        );
        assert_eq!(
            copy_add("mov32 %r3, %r1\nadd32 %r3, 1\nexit"),
            found(Width::W32, 3, 1, Source::Imm(1))
        );
        assert_eq!(
            copy_add("mov %r3, %r1\nadd32 %r3, 1\nexit"),
            found(Width::W32, 3, 1, Source::Imm(1))
        );
        // adding the copy to itself doubles the source
        assert_eq!(
            copy_add("mov %r3, %r1\nadd %r3, %r3\nexit"),
            found(Width::W64, 3, 1, Source::Reg(r(1)))
        );
        // a zero-extending copy then a 64-bit add, another register, a self-copy, a jump
        // into the add, another operation
        assert_eq!(copy_add("mov32 %r3, %r1\nadd %r3, 1\nexit"), None);
        assert_eq!(copy_add("mov %r3, %r1\nadd %r4, 1\nexit"), None);
        assert_eq!(copy_add("mov %r3, %r3\nadd %r3, 1\nexit"), None);
        assert_eq!(copy_add("mov %r3, %r1\nadd %r3, 1\nja -2\nexit"), None);
        assert_eq!(copy_add("mov %r3, %r1\nsub %r3, 1\nexit"), None);
    }

    fn forwarded(source: &str, pc: usize) -> Option<ForwardedCopy> {
        let program = Program::new(assemble(source).unwrap()).unwrap();
        forwarded_copy_at(&program, &Analysis::new(&program), pc)
    }

    #[test]
    fn leaves_out_copies_only_a_jump_reads() {
        let r = |n| Reg::new(n).unwrap();
        let strcmp = "ldxb %r3, [%r1]\nmov %r4, %r2\nmov %r0, %r2\njne %r4, %r3, +1\nexit\nexit";
        assert_eq!(
            forwarded(strcmp, 1),
            Some(ForwardedCopy {
                jump_pc: 3,
                dst: r(4),
                src: r(2)
            })
        );
        assert_eq!(forwarded(strcmp, 2), None, "r0 is read by both exits");
        let source_changes = "mov %r4, %r2\nadd %r2, 1\njne %r4, %r3, +1\nexit\nexit";
        assert_eq!(forwarded(source_changes, 0), None);
        let entered = "ja +1\nmov %r4, %r2\njne %r4, %r3, +1\nexit\nexit";
        assert_eq!(forwarded(entered, 1), None);
        let too_far = format!(
            "mov %r4, %r2\n{}jne %r4, %r3, +1\nexit\nexit",
            "mov %r5, 1\n".repeat(FORWARD_REACH)
        );
        assert_eq!(forwarded(&too_far, 0), None);
    }

    fn known_after(source: &str) -> u16 {
        let program = Program::new(assemble(source).unwrap()).unwrap();
        program.instructions().fold(0, |known, (_, instruction)| {
            upper_zero_after(known, instruction)
        })
    }

    #[test]
    fn tracks_values_below_two_to_the_32() {
        assert_eq!(known_after("mov32 %r1, %r2\nexit"), 1 << 1);
        assert_eq!(known_after("mov %r1, 5\nmov %r2, %r1\nexit"), 0b110);
        assert_eq!(known_after("mov %r1, -5\nexit"), 0);
        assert_eq!(known_after("lsh %r3, 32\nrsh %r3, 32\nexit"), 1 << 3);
        assert_eq!(known_after("rsh %r3, 31\nexit"), 0);
        assert_eq!(
            known_after("ldxw %r4, [%r1]\nldxdw %r5, [%r1]\nexit"),
            1 << 4
        );
        assert_eq!(known_after("ldxsw %r4, [%r1]\nexit"), 0);
        assert_eq!(known_after("mov32 %r1, 7\ndiv %r1, %r2\nexit"), 1 << 1);
        // anything else forgets: a 64-bit add may carry into the upper half
        assert_eq!(known_after("mov32 %r1, 7\nadd %r1, %r1\nexit"), 0);
        assert_eq!(known_after("mov32 %r0, 7\ncall 1\nexit"), 0);
        // atomics forget r0 and their source register, whichever they write
        let atomic = "mov32 %r0, 7\nmov32 %r2, 7\nmov32 %r3, 7\nlock cmpxchg [%r1], %r2\nexit";
        assert_eq!(known_after(atomic), 1 << 3);
    }

    #[test]
    fn leaves_everything_else_alone() {
        // different counts, registers, or a shift that is not one of the widths
        assert_eq!(widening("lsh %r3, 32\nrsh %r3, 31\nexit", 0), None);
        assert_eq!(widening("lsh %r3, 32\nrsh %r2, 32\nexit", 0), None);
        assert_eq!(widening("lsh %r3, 40\narsh %r3, 40\nexit", 0), None);
        assert_eq!(widening("lsh32 %r3, 16\narsh32 %r3, 16\nexit", 0), None);
        // the mov writes another register than the shifts: only the pair is taken
        let pair = widening("mov %r0, %r1\nlsh %r2, 32\nrsh %r2, 32\nexit", 1).unwrap();
        assert_eq!(pair.len, 2);
        assert_eq!(
            widening("mov %r0, %r1\nlsh %r2, 32\nrsh %r2, 32\nexit", 0),
            None
        );
        // a jump into the middle
        assert_eq!(widening("ja +1\nlsh %r3, 32\nrsh %r3, 32\nexit", 1), None);
        let into_shifts = "mov %r3, %r1\nlsh %r3, 32\nrsh %r3, 32\njeq %r3, 0, -3\nexit";
        assert_eq!(widening(into_shifts, 0), None);
        assert_eq!(widening(into_shifts, 1).map(|w| w.len), Some(2));
    }
}
