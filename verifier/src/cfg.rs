//! Control-flow graphs: the program split into functions (the entry and every local call
//! target), each a petgraph graph of basic blocks with fall-through and taken edges, and its
//! weak topological order.

use crate::prelude::*;

use crate::wto::{self, WtoElement};
use alloc::collections::BTreeMap;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use xbpf_isa::{Instruction, Program};

/// A maximal straight-line run of instructions `[start, end)` (pcs; an `lddw` counts two).
/// Calls do not end blocks: the analysis runs callees in the middle of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The pc of the first instruction.
    pub start: usize,
    /// The pc after the last instruction (the next block's start).
    pub end: usize,
    /// The pc of the last instruction.
    pub last: usize,
}

/// How control reaches a successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The next instruction (after a non-jump, or when a conditional jump is not taken).
    FallThrough,
    /// A jump target (`ja`, or a conditional jump taken).
    Taken,
}

/// One function: the blocks between its entry and the next function's entry.
#[derive(Debug)]
pub struct Function {
    /// The pc of the function's first instruction (0, or a local call target).
    pub entry: usize,
    /// The pc after its last instruction (the next function's entry, or the program's end).
    pub end: usize,
    /// The basic blocks and the edges between them.
    pub graph: DiGraph<Block, EdgeKind>,
    /// The block starting at `entry`.
    pub entry_node: NodeIndex,
    /// The weak topological order of the blocks reachable from the entry.
    pub wto: Vec<WtoElement>,
    block_at: BTreeMap<usize, NodeIndex>,
    loop_heads: Vec<bool>,
}

impl Function {
    /// The block starting at `pc`.
    pub fn block_at(&self, pc: usize) -> Option<NodeIndex> {
        self.block_at.get(&pc).copied()
    }

    /// Whether the block heads a loop (a component of the weak topological order).
    pub fn is_loop_head(&self, node: NodeIndex) -> bool {
        self.loop_heads[node.index()]
    }

    /// The edges into a block.
    pub fn incoming(&self, node: NodeIndex) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + '_ {
        use petgraph::visit::EdgeRef;
        self.graph
            .edges_directed(node, petgraph::Direction::Incoming)
            .map(|e| (e.id(), e.source()))
    }

    /// The edges out of a block with their kinds.
    pub fn outgoing(
        &self,
        node: NodeIndex,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex, EdgeKind)> + '_ {
        use petgraph::visit::EdgeRef;
        self.graph
            .edges_directed(node, petgraph::Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
    }
}

/// Why the program's control flow cannot be analysed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CfgError {
    /// A jump (at `pc`) whose target lies outside the function it belongs to.
    #[error("jump to {target} leaves the function starting at {function}")]
    JumpOutOfFunction {
        /// The jump.
        pc: usize,
        /// Where it goes.
        target: usize,
        /// The entry of the function the jump belongs to.
        function: usize,
    },
    /// Execution can fall through from the end of one function into the next.
    #[error("execution falls through into the function starting at {next}")]
    FallsIntoFunction {
        /// The last instruction of the function, which is not a jump or exit.
        pc: usize,
        /// The entry of the next function.
        next: usize,
    },
}

impl CfgError {
    /// The instruction the error is about.
    pub fn pc(&self) -> usize {
        match *self {
            CfgError::JumpOutOfFunction { pc, .. } | CfgError::FallsIntoFunction { pc, .. } => pc,
        }
    }
}

/// Every function of a program.
#[derive(Debug)]
pub struct Cfg {
    /// The functions, by entry pc.
    pub functions: BTreeMap<usize, Function>,
}

fn target(pc: usize, offset: i64) -> usize {
    (pc as i64 + 1 + offset) as usize
}

impl Cfg {
    /// Builds the graphs. The program is validated, so targets are instruction boundaries.
    pub fn build(program: &Program) -> Result<Cfg, CfgError> {
        let entries: Vec<usize> = program.functions().iter().copied().collect();
        let mut functions = BTreeMap::new();
        for (i, &entry) in entries.iter().enumerate() {
            let end = entries.get(i + 1).copied().unwrap_or(program.len());
            functions.insert(entry, build_function(program, entry, end)?);
        }
        Ok(Cfg { functions })
    }

    /// The function whose entry is `entry`.
    pub fn function(&self, entry: usize) -> Option<&Function> {
        self.functions.get(&entry)
    }
}

fn build_function(program: &Program, entry: usize, end: usize) -> Result<Function, CfgError> {
    let mut leader = vec![false; end - entry];
    leader[0] = true;
    for (pc, instruction) in program.instructions() {
        if pc < entry || pc >= end {
            continue;
        }
        let jump = match instruction {
            Instruction::Ja { .. } | Instruction::Jump { .. } => instruction.branch_offset(),
            _ => None,
        };
        if let Some(offset) = jump {
            let t = target(pc, offset);
            if t < entry || t >= end {
                return Err(CfgError::JumpOutOfFunction {
                    pc,
                    target: t,
                    function: entry,
                });
            }
            leader[t - entry] = true;
        }
        let ends = matches!(
            instruction,
            Instruction::Ja { .. } | Instruction::Jump { .. } | Instruction::Exit
        );
        let next = pc + instruction.slots();
        if ends && next < end {
            leader[next - entry] = true;
        }
    }

    let mut graph = DiGraph::new();
    let mut block_at = BTreeMap::new();
    let mut start = entry;
    let mut last = entry;
    for (pc, _) in program.instructions() {
        if pc < entry || pc >= end {
            continue;
        }
        if pc != start && leader[pc - entry] {
            let node = graph.add_node(Block {
                start,
                end: pc,
                last,
            });
            block_at.insert(start, node);
            start = pc;
        }
        last = pc;
    }
    let node = graph.add_node(Block { start, end, last });
    block_at.insert(start, node);

    for node in graph.node_indices().collect::<Vec<_>>() {
        let block = graph[node];
        let instruction = program
            .instruction(block.last)
            .copied()
            .unwrap_or(Instruction::Exit);
        let mut successors = Vec::new();
        match instruction {
            Instruction::Exit => {}
            Instruction::Ja { .. } => {
                let t = target(block.last, instruction.branch_offset().unwrap_or(0));
                successors.push((t, EdgeKind::Taken));
            }
            Instruction::Jump { .. } => {
                let t = target(block.last, instruction.branch_offset().unwrap_or(0));
                successors.push((t, EdgeKind::Taken));
                successors.push((block.end, EdgeKind::FallThrough));
            }
            _ => successors.push((block.end, EdgeKind::FallThrough)),
        }
        for (pc, kind) in successors {
            if pc >= end {
                return Err(CfgError::FallsIntoFunction {
                    pc: block.last,
                    next: pc,
                });
            }
            let succ = block_at[&pc];
            graph.add_edge(node, succ, kind);
        }
    }

    let entry_node = block_at[&entry];
    let wto = wto::build(&graph, entry_node);
    let mut loop_heads = vec![false; graph.node_count()];
    wto::for_each_head(&wto, &mut |head| loop_heads[head.index()] = true);
    Ok(Function {
        entry,
        end,
        graph,
        entry_node,
        wto,
        block_at,
        loop_heads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::{Insn, JmpCond, Reg, Source, Width};

    fn encode(instructions: &[Instruction]) -> Program {
        let slots: Vec<Insn> = instructions.iter().flat_map(|i| i.encode()).collect();
        Program::new(slots).unwrap()
    }

    #[test]
    fn blocks_split_at_jumps_and_targets() {
        // 0: jeq r1, 0, +1; 1: mov r0, 1; 2: exit
        let program = encode(&[
            Instruction::Jump {
                width: Width::W64,
                cond: JmpCond::Eq,
                dst: Reg::R1,
                src: Source::Imm(0),
                off: 1,
            },
            Instruction::Alu {
                width: Width::W64,
                op: xbpf_isa::AluOp::Mov,
                dst: Reg::R0,
                src: Source::Imm(1),
            },
            Instruction::Exit,
        ]);
        let cfg = Cfg::build(&program).unwrap();
        let f = cfg.function(0).unwrap();
        assert_eq!(f.graph.node_count(), 3);
        let b0 = f.block_at(0).unwrap();
        let kinds: Vec<(usize, EdgeKind)> = f
            .outgoing(b0)
            .map(|(_, n, k)| (f.graph[n].start, k))
            .collect();
        assert!(kinds.contains(&(2, EdgeKind::Taken)));
        assert!(kinds.contains(&(1, EdgeKind::FallThrough)));
    }

    #[test]
    fn jumps_between_functions_are_rejected() {
        // 0: call +2 (to 3); 1: exit; 2: ja -3 (out of... no: into function 0); 3: ja -2; 4: exit
        let program = encode(&[
            Instruction::Call(xbpf_isa::CallTarget::Local(2)),
            Instruction::Exit,
            Instruction::Exit,
            Instruction::Ja {
                off: -3,
                long: false,
            },
            Instruction::Exit,
        ]);
        assert!(matches!(
            Cfg::build(&program),
            Err(CfgError::JumpOutOfFunction {
                pc: 3,
                target: 1,
                function: 3
            })
        ));
    }
}
