//! Register liveness per basic block (a backward dataflow over each function's blocks): which
//! of r0..r9 may be read before being written from a block's start. The analysis forgets dead
//! registers on every edge, so states that differ only in values never read again merge at
//! joins instead of being kept apart or joined into a coarser state (what Linux's state
//! pruning does with its liveness marks).

use crate::prelude::*;

use crate::cfg::Function;
use xbpf_isa::{AtomicOp, CallTarget, Instruction, PacketMode, Program, Reg, Source};

/// A set of registers r0..r9, one bit each.
pub type RegSet = u16;

const ARGUMENTS: RegSet = 0b11_1110; // r1..r5
const SCRATCH: RegSet = 0b11_1111; // r0..r5

fn bit(reg: Reg) -> RegSet {
    if reg == Reg::R10 { 0 } else { 1 << reg.index() }
}

fn source_bit(src: Source) -> RegSet {
    match src {
        Source::Reg(reg) => bit(reg),
        Source::Imm(_) => 0,
    }
}

/// The registers an instruction reads and the ones it certainly writes.
pub fn uses_and_defs(instruction: &Instruction) -> (RegSet, RegSet) {
    match *instruction {
        Instruction::Alu { op, dst, src, .. } => {
            let reads_dst = if op == xbpf_isa::AluOp::Mov {
                0
            } else {
                bit(dst)
            };
            (reads_dst | source_bit(src), bit(dst))
        }
        Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } => (bit(dst), bit(dst)),
        Instruction::MovSx { dst, src, .. } => (bit(src), bit(dst)),
        Instruction::LoadImm64 { dst, .. } => (0, bit(dst)),
        Instruction::Load { dst, src, .. } => (bit(src), bit(dst)),
        Instruction::Store { dst, src, .. } => (bit(dst) | source_bit(src), 0),
        Instruction::Atomic {
            op,
            fetch,
            dst,
            src,
            ..
        } => {
            if op == AtomicOp::CmpXchg {
                (bit(dst) | bit(src) | 1, 1)
            } else if fetch {
                (bit(dst) | bit(src), bit(src))
            } else {
                (bit(dst) | bit(src), 0)
            }
        }
        Instruction::LoadPacket { mode, .. } => match mode {
            PacketMode::Ind(reg) => (bit(reg), 1),
            PacketMode::Abs => (0, 1),
        },
        // A callee reads its arguments and leaves r0..r5 as it likes; r6..r9 are restored.
        Instruction::Call(CallTarget::Local(_)) => (ARGUMENTS, SCRATCH),
        // Helpers may read any argument register; r1..r5 keep their values.
        Instruction::Call(_) => (ARGUMENTS, 1),
        Instruction::Callx(reg) => (ARGUMENTS | bit(reg), 1),
        Instruction::Jump { dst, src, .. } => (bit(dst) | source_bit(src), 0),
        Instruction::Ja { .. } => (0, 0),
        Instruction::Exit => (1, 0),
    }
}

/// The registers live at the start of each block of `function` (indexed by node).
pub fn live_in(program: &Program, function: &Function) -> Vec<RegSet> {
    let graph = &function.graph;
    let count = graph.node_count();
    // Each block's summary: live-in = uses | (live-out & !defs).
    let summaries: Vec<(RegSet, RegSet)> = graph
        .node_indices()
        .map(|node| {
            let block = graph[node];
            let mut instructions = Vec::new();
            let mut pc = block.start;
            while pc < block.end {
                match program.instruction(pc) {
                    Some(instruction) => {
                        instructions.push(*instruction);
                        pc += instruction.slots();
                    }
                    None => pc += 1,
                }
            }
            let (mut uses, mut defs) = (0, 0);
            for instruction in instructions.iter().rev() {
                let (u, d) = uses_and_defs(instruction);
                uses = (uses & !d) | u;
                defs |= d;
                // An exit ends the path: nothing after it is read.
                if matches!(instruction, Instruction::Exit) {
                    uses = u;
                    defs = RegSet::MAX;
                }
            }
            (uses, defs)
        })
        .collect();
    let mut live = vec![0 as RegSet; count];
    let mut changed = true;
    while changed {
        changed = false;
        for node in graph.node_indices().rev() {
            let out = function
                .outgoing(node)
                .fold(0, |acc, (_, target, _)| acc | live[target.index()]);
            let (uses, defs) = summaries[node.index()];
            let value = uses | (out & !defs);
            if value != live[node.index()] {
                live[node.index()] = value;
                changed = true;
            }
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfg::Cfg;
    use xbpf_isa::assemble;

    #[test]
    fn registers_overwritten_before_use_are_dead() {
        let program = Program::new(
            assemble(
                "mov %r2, 1\nmov %r3, 2\njeq %r1, 0, +2\nmov %r2, 5\nja +1\nmov %r3, 7\n\
                 mov %r0, %r2\nexit",
            )
            .unwrap(),
        )
        .unwrap();
        let cfg = Cfg::build(&program).unwrap();
        let function = cfg.function(0).unwrap();
        let live = live_in(&program, function);
        let at = |pc| live[function.block_at(pc).unwrap().index()];
        assert_eq!(at(0), 0b10, "only r1 is read before being written");
        assert_eq!(at(3), 0, "r2 is overwritten and r3 never read on this path");
        assert_eq!(at(5), 0b100, "r2 flows to the exit through this block");
        assert_eq!(at(6), 0b100);
    }

    #[test]
    fn calls_read_arguments_and_keep_callee_saved_registers() {
        let (uses, defs) = uses_and_defs(&Instruction::Call(CallTarget::Helper(1)));
        assert_eq!((uses, defs), (ARGUMENTS, 1), "helpers keep r1..r5");
        let (uses, defs) = uses_and_defs(&Instruction::Call(CallTarget::Local(3)));
        assert_eq!((uses, defs), (ARGUMENTS, SCRATCH));
        // `ja +0` ends the first block, so the call starts the second.
        let program = Program::new(
            assemble(
                "mov %r6, 1\nmov %r7, 2\nja +0\ncall local f\nmov %r0, %r6\nexit\n\
                 f:\nmov %r0, 0\nexit",
            )
            .unwrap(),
        )
        .unwrap();
        let cfg = Cfg::build(&program).unwrap();
        let function = cfg.function(0).unwrap();
        let live = live_in(&program, function);
        assert_eq!(
            live[function.entry_node.index()],
            ARGUMENTS,
            "r1..r5 reach the call; r6 and r7 are written before anything reads them"
        );
        assert_eq!(
            live[function.block_at(3).unwrap().index()],
            ARGUMENTS | 1 << 6,
            "the call may read r1..r5 and keeps r6, read after it; r7 is never read"
        );
        let callee = cfg.function(6).unwrap();
        let live = live_in(&program, callee);
        assert_eq!(
            live[callee.entry_node.index()],
            0,
            "the callee reads no register"
        );
    }
}
