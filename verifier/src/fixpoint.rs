//! The fixpoint iterator: each function is analysed for each call context (its chain of call
//! sites), following its weak topological order: a loop is iterated at its head until the
//! head's state is stable (joining first, widening after a few rounds), then narrowed by a few
//! plain descending rounds. Local calls analyse the callee with the caller's state in a new
//! frame, so every check sees the values of its actual context.
//!
//! Checks run in a last pass over the stable states: during the iteration a failed check only
//! makes the analysis continue from a sound over-approximation, since states before widening
//! or narrowing settle are not final.

use crate::prelude::*;

use crate::cfg::{Cfg, EdgeKind, Function};
use crate::checks::{Check, Violation};
use crate::config::VerifierConfig;
use crate::domain::disjunction::Disjunction;
use crate::domain::interval::{Scalar, Thresholds};
use crate::domain::stack::StackFrame;
use crate::domain::state::State;
use crate::domain::types::{Region, ValueType};
use crate::liveness::{self, RegSet};
use crate::report::{RegisterValue, Rejection, Stats};
use crate::transfer::{Flow, Machine};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use petgraph::graph::NodeIndex;
use xbpf_isa::exec::MAX_CALL_FRAMES;
use xbpf_isa::{CallTarget, Instruction, Program};

/// After this many rounds at one loop head, its disjuncts are merged into one so that
/// widening alone decides termination.
const COLLAPSE_AFTER: u32 = 12;

/// A loop head that has not stabilised after this many rounds means a bug in a widening
/// operator; the analysis gives up (rejecting: an unstable state proves nothing).
const GIVE_UP_AFTER: u32 = 200;

pub(crate) type Rejected = Box<Rejection>;

/// The analysis of a whole program.
pub(crate) struct Analyzer<'a> {
    pub program: &'a Program,
    pub cfg: &'a Cfg,
    pub machine: Machine<'a>,
    pub config: &'a VerifierConfig,
    pub thresholds: Thresholds,
    /// r0 at program exits, joined (checking pass).
    pub exit: Option<Scalar>,
    /// Loop-head visits at program exits (termination check).
    pub loop_bound: Option<i64>,
    pub invariants: BTreeMap<usize, Vec<String>>,
    /// Live registers at each block start, per function entry.
    pub liveness: BTreeMap<usize, Rc<Vec<RegSet>>>,
    pub stats: Stats,
}

/// The analysis of one function in one call context.
struct FunctionRun<'f> {
    func: &'f Function,
    /// Call sites leading here (outermost first).
    chain: Vec<usize>,
    /// Entries of the functions active in this context (for recursion).
    active: Vec<usize>,
    entry: Disjunction,
    pre: Vec<Option<Disjunction>>,
    edge_out: Vec<Option<Disjunction>>,
    /// Whether some state ever flowed along each edge (for rejection paths).
    edge_feasible: Vec<bool>,
    block_exits: Vec<Option<Disjunction>>,
    /// Live registers at each block start.
    live: Rc<Vec<RegSet>>,
    checking: bool,
    /// Whether the blocks being executed belong to a loop (their pre-states are kept).
    in_component: bool,
}

impl<'a> Analyzer<'a> {
    fn cap(&self) -> usize {
        self.config.max_disjuncts.max(1)
    }

    /// Analyses the function at `entry_pc` from `entry`; returns its exit states. With
    /// `checking`, every check is enforced on the stable states.
    pub fn analyze(
        &mut self,
        entry_pc: usize,
        entry: Disjunction,
        chain: Vec<usize>,
        active: Vec<usize>,
        checking: bool,
    ) -> Result<Disjunction, Rejected> {
        let func = self
            .cfg
            .function(entry_pc)
            .expect("local call targets are functions");
        self.stats.function_analyses += 1;
        let nodes = func.graph.node_count();
        let live = self
            .liveness
            .entry(entry_pc)
            .or_insert_with(|| Rc::new(liveness::live_in(self.program, func)))
            .clone();
        let mut run = FunctionRun {
            func,
            chain,
            active,
            entry,
            pre: vec![None; nodes],
            edge_out: vec![None; func.graph.edge_count()],
            edge_feasible: vec![false; func.graph.edge_count()],
            block_exits: vec![None; nodes],
            live,
            checking: false,
            in_component: false,
        };
        // A block outside every loop is executed once, from its final state (all its
        // predecessors come before it in the order), so it is checked right away and its
        // states are dropped once its successors took them. A loop is iterated to its
        // fixpoint first, then its blocks are checked in one more pass.
        for element in &func.wto {
            match element {
                crate::wto::WtoElement::Vertex(node) => {
                    let n = node.index();
                    run.pre[n] = Some(self.incoming(&mut run, *node, true));
                    run.checking = checking;
                    run.in_component = false;
                    self.execute(&mut run, *node)?;
                }
                crate::wto::WtoElement::Component { head, body } => {
                    run.checking = false;
                    run.in_component = true;
                    self.component(&mut run, *head, body)?;
                    if checking {
                        run.checking = true;
                        let mut order = vec![*head];
                        flatten(body, &mut order);
                        for node in order {
                            self.execute(&mut run, node)?;
                        }
                    }
                }
            }
        }
        let mut exits = Disjunction::new();
        for block in run.block_exits.iter().flatten() {
            exits = exits.join(block, self.cap());
        }
        Ok(exits)
    }

    fn iterate(
        &mut self,
        run: &mut FunctionRun<'_>,
        elements: &[crate::wto::WtoElement],
    ) -> Result<(), Rejected> {
        for element in elements {
            match element {
                crate::wto::WtoElement::Vertex(node) => {
                    run.pre[node.index()] = Some(self.incoming(run, *node, false));
                    self.execute(run, *node)?;
                }
                crate::wto::WtoElement::Component { head, body } => {
                    self.component(run, *head, body)?;
                }
            }
        }
        Ok(())
    }

    fn component(
        &mut self,
        run: &mut FunctionRun<'_>,
        head: NodeIndex,
        body: &[crate::wto::WtoElement],
    ) -> Result<(), Rejected> {
        let h = head.index();
        let mut round = 0u32;
        loop {
            let incoming = self.incoming(run, head, false);
            let next = match run.pre[h].take() {
                None => incoming,
                Some(old) => {
                    let next = if round < self.config.widening_delay {
                        old.join(&incoming, self.cap())
                    } else if round >= COLLAPSE_AFTER {
                        let joined = old.join(&incoming, 1);
                        let widened = old
                            .collapse()
                            .zip(joined.collapse())
                            .map(|(o, j)| o.widen(&j, &self.thresholds));
                        widened.map(Disjunction::single).unwrap_or(joined)
                    } else {
                        old.widen(&incoming, self.cap(), &self.thresholds)
                    };
                    if next.is_subset_of(&old) {
                        run.pre[h] = Some(old);
                        break;
                    }
                    next
                }
            };
            run.pre[h] = Some(next);
            self.execute(run, head)?;
            self.iterate(run, body)?;
            round += 1;
            if round >= GIVE_UP_AFTER {
                let start = run.func.graph[head].start;
                let state = run.pre[h]
                    .as_ref()
                    .and_then(Disjunction::collapse)
                    .unwrap_or_else(|| run.entry.collapse().expect("entry states exist"));
                let violation = Violation::new(
                    Check::Unsupported,
                    format!("the analysis of the loop at {start} did not stabilise"),
                    &[],
                );
                return Err(self.reject(run, head, start, &state, violation));
            }
        }
        for _ in 0..self.config.narrowing_iterations {
            let incoming = self.incoming(run, head, false);
            if run.pre[h]
                .as_ref()
                .is_some_and(|current| current.is_subset_of(&incoming))
            {
                break;
            }
            run.pre[h] = Some(incoming);
            self.execute(run, head)?;
            self.iterate(run, body)?;
        }
        Ok(())
    }

    /// The join of the states flowing into a block; with `consume`, the edges' states are
    /// taken (nothing reads them again).
    fn incoming(&self, run: &mut FunctionRun<'_>, node: NodeIndex, consume: bool) -> Disjunction {
        let mut result = if node == run.func.entry_node {
            run.entry.clone()
        } else {
            Disjunction::new()
        };
        for (edge, _) in run.func.incoming(node) {
            let slot = &mut run.edge_out[edge.index()];
            if consume {
                if let Some(states) = slot.take() {
                    result.absorb(states, self.cap());
                }
            } else if let Some(states) = slot {
                result.join_from(states, self.cap());
            }
        }
        result
    }

    /// Runs a block from its pre-state, storing the states on its out-edges and its exits.
    fn execute(&mut self, run: &mut FunctionRun<'_>, node: NodeIndex) -> Result<(), Rejected> {
        self.stats.block_executions += 1;
        let n = node.index();
        let block = run.func.graph[node];
        // Blocks outside loops run once: their pre-state is not needed afterwards.
        let pre = if run.func.is_loop_head(node) || run.in_component {
            run.pre[n].clone().unwrap_or_default()
        } else {
            run.pre[n].take().unwrap_or_default()
        };
        self.stats.max_disjuncts = self.stats.max_disjuncts.max(pre.len());
        let mut states: Vec<State> = pre.into_states().collect();
        if self.config.check_termination && run.func.is_loop_head(node) {
            for state in &mut states {
                state.count_loop_iteration();
                if run.checking && state.extra.loop_count.1 == i64::MAX {
                    let violation = Violation::new(
                        Check::UnboundedLoop,
                        format!(
                            "the loop at {} has no bound the analysis can find",
                            block.start
                        ),
                        &[],
                    );
                    return Err(self.reject(run, node, block.start, state, violation));
                }
            }
        }
        let mut exits: Vec<State> = Vec::new();
        let mut taken: Vec<State> = Vec::new();
        let mut pc = block.start;
        while pc < block.end {
            let Some(instruction) = self.program.instruction(pc).copied() else {
                pc += 1;
                continue;
            };
            if run.checking && self.config.collect_invariants {
                let text: Vec<String> = states.iter().map(ToString::to_string).collect();
                let line = if text.is_empty() {
                    "unreachable".to_string()
                } else {
                    text.join(" | ")
                };
                self.invariants.entry(pc).or_default().push(line);
            }
            match instruction {
                Instruction::Exit => {
                    for state in states.drain(..) {
                        if let Some(state) = self.exit(run, node, pc, state)? {
                            exits.push(state);
                        }
                    }
                }
                Instruction::Call(CallTarget::Local(offset)) => {
                    states = self.local_call(run, node, pc, offset, states)?;
                }
                Instruction::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    ..
                } => {
                    let mut fall = Vec::new();
                    for state in states.drain(..) {
                        match self.machine.branch(&state, width, cond, dst, src) {
                            Ok(branches) => {
                                taken.extend(branches.taken);
                                fall.extend(branches.fall_through);
                            }
                            Err(violation) => {
                                if run.checking {
                                    return Err(self.reject(run, node, pc, &state, violation));
                                }
                                taken.push(state.clone());
                                fall.push(state);
                            }
                        }
                    }
                    states = fall;
                }
                Instruction::Ja { .. } => {
                    taken.append(&mut states);
                }
                Instruction::LoadPacket { .. } => {
                    // A load outside the packet ends the program with r0 = 0.
                    if run.checking && !states.is_empty() {
                        self.record_exit(Scalar::constant(0), None);
                    }
                    self.step_all(run, node, pc, &instruction, &mut states)?;
                }
                _ => self.step_all(run, node, pc, &instruction, &mut states)?,
            }
            pc += instruction.slots();
        }

        let cap = self.cap();
        let gather = |list: Vec<State>| {
            let mut d = Disjunction::new();
            for s in list {
                d.add(s, cap);
            }
            d
        };
        let mut taken = Some(taken);
        let mut fall = Some(states);
        for (edge, target, kind) in run.func.outgoing(node).collect::<Vec<_>>() {
            let mut out = match kind {
                EdgeKind::Taken => taken.take().unwrap_or_default(),
                EdgeKind::FallThrough => fall.take().unwrap_or_default(),
            };
            let live = run.live[target.index()];
            for state in &mut out {
                state.forget_dead(live);
            }
            let out = gather(out);
            run.edge_feasible[edge.index()] = !out.is_empty();
            run.edge_out[edge.index()] = Some(out);
        }
        run.block_exits[n] = Some(gather(exits));
        Ok(())
    }

    fn step_all(
        &mut self,
        run: &FunctionRun<'_>,
        node: NodeIndex,
        pc: usize,
        instruction: &Instruction,
        states: &mut Vec<State>,
    ) -> Result<(), Rejected> {
        let mut i = 0;
        while i < states.len() {
            // Transfer functions check before they write registers, so a failed step leaves
            // the registers it names as they were.
            match self.machine.step(&mut states[i], pc, instruction) {
                Ok(Flow::Next) => i += 1,
                Ok(Flow::Dead) => {
                    states.swap_remove(i);
                }
                Err(violation) => {
                    if run.checking {
                        return Err(self.reject(run, node, pc, &states[i], violation));
                    }
                    self.machine.havoc_after(&mut states[i], instruction);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    fn record_exit(&mut self, r0: Scalar, loop_count: Option<i64>) {
        self.exit = Some(match self.exit {
            Some(e) => e.join(&r0),
            None => r0,
        });
        if let Some(count) = loop_count {
            self.loop_bound = Some(self.loop_bound.map_or(count, |b| b.max(count)));
        }
    }

    /// `exit`: the end of the program in the entry function, a return elsewhere.
    fn exit(
        &mut self,
        run: &FunctionRun<'_>,
        node: NodeIndex,
        pc: usize,
        state: State,
    ) -> Result<Option<State>, Rejected> {
        let r0 = state.regs[0];
        let violation = if !r0.is_initialized() {
            Some(Violation::new(
                Check::UninitializedRegister,
                "r0 (the return value) is read before it is written",
                &[0],
            ))
        } else if run.chain.is_empty() {
            if !r0.is_number() && !self.config.allow_pointer_leaks {
                Some(Violation::new(
                    Check::PointerLeak,
                    format!("the program returns r0 = {r0}, a pointer, to the host"),
                    &[0],
                ))
            } else {
                self.machine.program_type.return_range.and_then(|(lo, hi)| {
                    let inside = r0.is_number() && lo <= r0.scalar.smin && r0.scalar.smax <= hi;
                    (!inside).then(|| {
                        Violation::new(
                            Check::ReturnValue,
                            format!(
                                "r0 = {r0} at exit; {} programs must return a number in [{lo}, {hi}]",
                                self.machine.program_type.name
                            ),
                            &[0],
                        )
                    })
                })
            }
        } else if matches!(r0.ty, ValueType::Pointer(Region::Stack(d), _) if d as usize == state.depth())
        {
            Some(Violation::new(
                Check::StackPointerEscape,
                format!("the function returns r0 = {r0}, a pointer to its own stack frame"),
                &[0],
            ))
        } else {
            None
        };
        if let Some(violation) = violation
            && run.checking
        {
            return Err(self.reject(run, node, pc, &state, violation));
        }
        if run.chain.is_empty() {
            if run.checking {
                let scalar = if r0.is_number() {
                    r0.scalar
                } else {
                    Scalar::TOP
                };
                let count = self
                    .config
                    .check_termination
                    .then_some(state.extra.loop_count.1);
                self.record_exit(scalar, count);
            }
            return Ok(None);
        }
        Ok(Some(state))
    }

    /// A bpf-to-bpf call: the callee is analysed in this context, from these states.
    fn local_call(
        &mut self,
        run: &FunctionRun<'_>,
        node: NodeIndex,
        pc: usize,
        offset: i32,
        states: Vec<State>,
    ) -> Result<Vec<State>, Rejected> {
        if states.is_empty() {
            return Ok(states);
        }
        let target = (pc as i64 + 1 + offset as i64) as usize;
        let depth = states[0].depth();
        let violation = if run.active.contains(&target) {
            Some(Violation::new(
                Check::Recursion,
                format!(
                    "the call to {target} is recursive (active functions: {:?})",
                    run.active
                ),
                &[],
            ))
        } else if depth + 1 >= MAX_CALL_FRAMES {
            Some(Violation::new(
                Check::CallDepth,
                format!(
                    "the call to {target} would make {} frames active (at most {MAX_CALL_FRAMES})",
                    depth + 2
                ),
                &[],
            ))
        } else {
            None
        };
        if let Some(violation) = violation {
            if run.checking {
                return Err(self.reject(run, node, pc, &states[0], violation));
            }
            // The call faults at run time: nothing continues past it.
            return Ok(Vec::new());
        }
        let mut entry = Disjunction::new();
        for mut state in states {
            let frame = if self.machine.program_type.stack_initialized {
                StackFrame::initialized()
            } else {
                StackFrame::new()
            };
            state.push_frame(pc, frame);
            entry.add(state, self.cap());
        }
        let mut chain = run.chain.clone();
        chain.push(pc);
        let mut active = run.active.clone();
        active.push(target);
        let exits = self.analyze(target, entry, chain, active, run.checking)?;
        let mut result = Vec::new();
        for mut state in exits.into_states() {
            if state.pop_frame() {
                result.push(state);
            }
        }
        Ok(result)
    }

    /// Builds the rejection for a failed check at `pc` in `state`.
    fn reject(
        &self,
        run: &FunctionRun<'_>,
        node: NodeIndex,
        pc: usize,
        state: &State,
        violation: Violation,
    ) -> Rejected {
        let registers = violation
            .registers
            .iter()
            .map(|&r| RegisterValue {
                register: r,
                value: Machine::describe(state, r),
            })
            .collect();
        let mut path = run.chain.clone();
        path.extend(self.path_to(run, node));
        if path.last() != Some(&pc) {
            path.push(pc);
        }
        let source = self
            .config
            .line_table
            .as_ref()
            .and_then(|table| table.lookup(pc).cloned());
        Box::new(Rejection {
            pc,
            instruction: self.program.instruction(pc).copied(),
            check: violation.check,
            message: violation.message,
            registers,
            path,
            call_stack: run.chain.clone(),
            location: source,
        })
    }

    /// Block starts along a shortest feasible path from the function entry to `node`.
    fn path_to(&self, run: &FunctionRun<'_>, node: NodeIndex) -> Vec<usize> {
        let graph = &run.func.graph;
        let mut parent: Vec<Option<NodeIndex>> = vec![None; graph.node_count()];
        let mut seen = vec![false; graph.node_count()];
        let mut queue = VecDeque::from([run.func.entry_node]);
        seen[run.func.entry_node.index()] = true;
        while let Some(current) = queue.pop_front() {
            if current == node {
                break;
            }
            for (edge, next, _) in run.func.outgoing(current) {
                let feasible = run.edge_feasible[edge.index()];
                if feasible && !seen[next.index()] {
                    seen[next.index()] = true;
                    parent[next.index()] = Some(current);
                    queue.push_back(next);
                }
            }
        }
        let mut path = vec![graph[node].start];
        let mut current = node;
        while let Some(p) = parent[current.index()] {
            path.push(graph[p].start);
            current = p;
        }
        path.reverse();
        path
    }
}

fn flatten(elements: &[crate::wto::WtoElement], out: &mut Vec<NodeIndex>) {
    for element in elements {
        match element {
            crate::wto::WtoElement::Vertex(node) => out.push(*node),
            crate::wto::WtoElement::Component { head, body } => {
                out.push(*head);
                flatten(body, out);
            }
        }
    }
}
