//! What verification returns: a report for accepted programs, a rejection otherwise.

use crate::prelude::*;

use crate::checks::Check;
use crate::config::SourceLocation;
use crate::domain::interval::Scalar;
use alloc::collections::BTreeMap;
use core::fmt;
use xbpf_isa::Instruction;

/// The values r0 may hold when the program exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRange {
    /// Smallest value, as signed.
    pub smin: i64,
    /// Largest value, as signed.
    pub smax: i64,
    /// Smallest value, as unsigned.
    pub umin: u64,
    /// Largest value, as unsigned.
    pub umax: u64,
    scalar: Scalar,
}

impl ExitRange {
    pub(crate) fn new(scalar: Scalar) -> ExitRange {
        ExitRange {
            smin: scalar.smin,
            smax: scalar.smax,
            umin: scalar.umin,
            umax: scalar.umax,
            scalar,
        }
    }

    /// Whether r0 may be `value` at exit.
    pub fn contains(&self, value: u64) -> bool {
        self.scalar.contains(value)
    }

    /// The value, when the analysis pins it down.
    pub fn as_constant(&self) -> Option<u64> {
        self.scalar.as_constant()
    }
}

impl fmt::Display for ExitRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.scalar)
    }
}

/// Counters of the analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions in the program.
    pub instructions: usize,
    /// Function analyses (one per call context and fixpoint round).
    pub function_analyses: usize,
    /// Basic blocks executed abstractly.
    pub block_executions: usize,
    /// The most states kept apart at one program point.
    pub max_disjuncts: usize,
}

/// The result of verifying a safe program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The values r0 may hold at exit (`None` when no exit is reachable).
    pub exit_range: Option<ExitRange>,
    /// With the termination check: an upper bound on loop-head visits of any run.
    pub loop_bound: Option<u64>,
    /// With `collect_invariants`: the state before each reachable instruction (one line per
    /// call context).
    pub invariants: BTreeMap<usize, Vec<String>>,
    /// Counters of the analysis.
    pub stats: Stats,
}

/// A register's abstract value where a check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterValue {
    /// The register number (0..=10).
    pub register: u8,
    /// Its abstract value, as text.
    pub value: String,
}

/// Why a program was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", crate::diagnostics::text::render(self))]
pub struct Rejection {
    /// The instruction where the check failed.
    pub pc: usize,
    /// The instruction at `pc`, if `pc` is the start of one.
    pub instruction: Option<Instruction>,
    /// The check that failed.
    pub check: Check,
    /// What exactly failed.
    pub message: String,
    /// The registers involved and their abstract values before the instruction.
    pub registers: Vec<RegisterValue>,
    /// A feasible path to the instruction: call sites of the active callers, then the start
    /// of each basic block from the function entry, ending with `pc`.
    pub path: Vec<usize>,
    /// The pcs of the calls that led to the function containing `pc` (outermost first).
    pub call_stack: Vec<usize>,
    /// Where the instruction comes from in the source, when the config has a line table.
    pub location: Option<SourceLocation>,
}
