//! Whether a register may still be read after an instruction: a search along the program's
//! control flow from there, conservative wherever a register's fate is not plain (calls,
//! atomics, legacy packet loads) and wherever the search would go far. A register
//! [`read_later`] says `false` for is not read again before it is written, on any path, so a
//! back end may leave a copy into it out.
//!
//! A query, not a whole-program analysis: back ends ask about a few registers at a few places,
//! and a fixed-point over every instruction cost more than the rest of compilation did.
//!
//! Register sets are bit sets: bit n for rn.

use xbpf_isa::{AluOp, CallTarget, Instruction, PacketMode, Program, Reg, Source};

/// Every register, r0 to r10.
pub const ALL: u16 = (1 << Reg::COUNT) - 1;

/// r1 to r5, what helper calls read.
const ARGUMENTS: u16 = 0b11_1110;

fn bit(reg: Reg) -> u16 {
    1 << reg.number()
}

fn source(src: Source) -> u16 {
    match src {
        Source::Reg(reg) => bit(reg),
        Source::Imm(_) => 0,
    }
}

/// The registers `instruction` may read. Local calls read everything (the callee is not looked
/// into); so does an `exit` in a program with local functions, which may return to a caller.
pub fn reads(instruction: &Instruction, has_local_functions: bool) -> u16 {
    match *instruction {
        Instruction::Alu {
            op: AluOp::Mov,
            src,
            ..
        } => source(src),
        Instruction::Alu { dst, src, .. } => bit(dst) | source(src),
        Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } => bit(dst),
        Instruction::MovSx { src, .. } => bit(src),
        Instruction::LoadImm64 { .. } | Instruction::Ja { .. } => 0,
        Instruction::Load { src, .. } => bit(src),
        Instruction::Store { dst, src, .. } => bit(dst) | source(src),
        Instruction::Atomic { dst, src, .. } => bit(dst) | bit(src) | bit(Reg::R0),
        Instruction::Jump { dst, src, .. } => bit(dst) | source(src),
        Instruction::Call(CallTarget::Helper(_)) => ARGUMENTS,
        Instruction::Callx(reg) => ARGUMENTS | bit(reg),
        Instruction::Call(_) | Instruction::LoadPacket { .. } => ALL,
        Instruction::Exit if has_local_functions => ALL,
        Instruction::Exit => bit(Reg::R0),
    }
}

/// The registers `instruction` writes whenever execution goes on to another instruction
/// (an under-approximation): the one it names as written, except for a local call, whose
/// callee may return without writing r0.
fn kills(instruction: &Instruction) -> u16 {
    match instruction {
        Instruction::Call(CallTarget::Local(_)) => 0,
        _ => instruction.written_register().map_or(0, bit),
    }
}

/// The registers `instruction` may write (an over-approximation: a local call may write any).
pub fn may_write(instruction: &Instruction) -> u16 {
    match *instruction {
        Instruction::Call(CallTarget::Local(_)) => ALL,
        Instruction::LoadPacket { mode, .. } => {
            // r0, and whatever the packet modes' semantics touch: assume the arguments too.
            bit(Reg::R0)
                | ARGUMENTS
                | match mode {
                    PacketMode::Abs => 0,
                    PacketMode::Ind(reg) => bit(reg),
                }
        }
        _ => match instruction.written_register() {
            Some(reg) => bit(reg),
            None => 0,
        },
    }
}

/// How many instructions [`read_later`] looks at before it gives up (and answers `true`).
const SEARCH_BUDGET: usize = 64;

/// Whether some instruction may read `reg` after the one at `pc` executes, before writing it.
pub fn read_later(program: &Program, pc: usize, reg: Reg) -> bool {
    let has_local_functions = program.functions().len() > 1;
    let reg = bit(reg);
    // Fixed-size, so a query allocates nothing: each instruction looked at adds at most two
    // pcs to the work list.
    let mut seen = [0usize; SEARCH_BUDGET];
    let mut seen_len = 0;
    let mut work = [0usize; 2 * SEARCH_BUDGET + 2];
    let mut work_len = 0;
    for next in successors(program, pc) {
        work[work_len] = next;
        work_len += 1;
    }
    while work_len > 0 {
        work_len -= 1;
        let at = work[work_len];
        if seen[..seen_len].contains(&at) {
            continue;
        }
        if seen_len == SEARCH_BUDGET {
            return true;
        }
        seen[seen_len] = at;
        seen_len += 1;
        let Some(instruction) = program.instruction(at) else {
            // past the end, or into an lddw's second slot: not something to reason about
            return true;
        };
        if reads(instruction, has_local_functions) & reg != 0 {
            return true;
        }
        if kills(instruction) & reg == 0 {
            for next in successors(program, at) {
                work[work_len] = next;
                work_len += 1;
            }
        }
    }
    false
}

/// Where execution may go after the instruction at `pc` (a local call's callee aside: the
/// call counts as reading every register).
fn successors(program: &Program, pc: usize) -> impl Iterator<Item = usize> {
    let instruction = program.instruction(pc);
    let target = instruction
        .and_then(Instruction::branch_offset)
        .and_then(|offset| usize::try_from(pc as i64 + 1 + offset).ok());
    let (next, target) = match instruction {
        None | Some(Instruction::Exit) => (None, None),
        Some(Instruction::Ja { .. }) => (None, target),
        Some(Instruction::Jump { .. }) => (Some(pc + 1), target),
        Some(other) => (Some(pc + other.slots()), None),
    };
    next.into_iter().chain(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::assemble;

    /// For each pc, the registers `read_later` says may be read after it.
    fn live_after(source: &str) -> Vec<u16> {
        let program = Program::new(assemble(source).unwrap()).unwrap();
        (0..program.len())
            .map(|pc| {
                (0..Reg::COUNT as u8)
                    .filter(|&n| read_later(&program, pc, Reg::new(n).unwrap()))
                    .fold(0, |set, n| set | 1 << n)
            })
            .collect()
    }

    const R: [u16; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    #[test]
    fn straight_line_code() {
        let live = live_after("mov %r1, 1\nmov %r2, %r1\nadd %r2, %r3\nmov %r0, %r2\nexit");
        assert_eq!(live, vec![R[1] | R[3], R[2] | R[3], R[2], R[0], 0]);
    }

    #[test]
    fn loops_carry_liveness_back() {
        // r4 is read at the loop head before being written again: live around the loop.
        let source = "mov %r4, 0\nadd %r4, 1\nmov %r5, %r4\njlt %r4, 10, -3\nmov %r0, %r5\nexit";
        let live = live_after(source);
        assert_eq!(live[0], R[4]);
        assert_eq!(live[2], R[4] | R[5]);
        assert_eq!(live[3], R[4] | R[5]);
    }

    #[test]
    fn calls_and_exits() {
        // A helper reads r1 to r5 and writes r0; a local call or an exit that may return to a
        // caller reads everything.
        let helper = live_after("mov %r0, 1\ncall 1\nexit");
        assert_eq!(helper[0], ARGUMENTS);
        let local = live_after("mov %r7, 1\ncall local f\nexit\nf:\nmov %r0, 2\nexit");
        assert_eq!(local[0], ALL);
        assert_eq!(local[3], ALL, "a callee's exit may return anywhere");
        let atomic = live_after("mov %r0, 1\nlock cmpxchg [%r1], %r2\nexit");
        assert_eq!(atomic[0], R[0] | R[1] | R[2]);
    }

    #[test]
    fn gives_up_far_away() {
        // r4 is read only after more instructions than the search looks at
        let source = format!(
            "mov %r4, 1\n{}mov %r0, %r4\nexit",
            "mov %r5, 1\n".repeat(SEARCH_BUDGET)
        );
        assert_ne!(live_after(&source)[0] & R[4], 0);
        let near = format!("mov %r4, 1\n{}mov %r4, 2\nexit", "mov %r5, 1\n".repeat(10));
        assert_eq!(live_after(&near)[0] & R[4], 0);
    }
}
