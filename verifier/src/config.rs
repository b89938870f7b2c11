//! Verifier options.

use crate::prelude::*;

use alloc::collections::BTreeMap;

/// Where an instruction comes from in the source (from BTF line info, which a loader extracts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// The source file's path, as the debug info records it.
    pub file: String,
    /// The line (1-based).
    pub line: u32,
    /// The column (1-based; 0 when unknown).
    pub column: u32,
    /// The source line's text, when known.
    pub text: Option<String>,
}

/// Source locations by pc: each entry covers the pcs from its own up to the next entry's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineTable {
    entries: BTreeMap<usize, SourceLocation>,
}

impl LineTable {
    /// An empty table.
    pub fn new() -> LineTable {
        LineTable::default()
    }

    /// Says that the instructions from `pc` on come from `location`.
    pub fn insert(&mut self, pc: usize, location: SourceLocation) {
        self.entries.insert(pc, location);
    }

    /// The location of the instruction at `pc`.
    pub fn lookup(&self, pc: usize) -> Option<&SourceLocation> {
        self.entries.range(..=pc).next_back().map(|(_, loc)| loc)
    }
}

/// What the verifier checks and how hard it tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Require every loop to have a bound the analysis finds.
    pub check_termination: bool,
    /// Reject divisions and modulos whose divisor may be zero (the instruction semantics
    /// define them, so this is off by default).
    pub check_division_by_zero: bool,
    /// Allow pointers to be stored where the host can read them (maps, context, packet) and
    /// returned in r0.
    pub allow_pointer_leaks: bool,
    /// Record the invariant before every instruction in the report.
    pub collect_invariants: bool,
    /// How many states are kept apart at a program point when they disagree on types,
    /// nullness, zero/constant flags or initialised stack bytes (1 merges everything, as plain
    /// abstract interpretation does). Liveness keeps most programs far below it; Cilium's
    /// largest parsers need about a hundred around their flag-encoded bounds checks.
    pub max_disjuncts: usize,
    /// Loop iterations joined before widening starts.
    pub widening_delay: u32,
    /// Descending iterations after a loop stabilised, to recover bounds widening lost.
    pub narrowing_iterations: u32,
    /// Source locations for diagnostics.
    pub line_table: Option<LineTable>,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            check_termination: false,
            check_division_by_zero: false,
            allow_pointer_leaks: false,
            collect_invariants: false,
            max_disjuncts: 128,
            widening_delay: 2,
            narrowing_iterations: 2,
            line_table: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_table_entries_cover_following_pcs() {
        let mut table = LineTable::new();
        let loc = |line| SourceLocation {
            file: "prog.c".into(),
            line,
            column: 1,
            text: None,
        };
        table.insert(0, loc(10));
        table.insert(5, loc(12));
        assert_eq!(table.lookup(3).unwrap().line, 10);
        assert_eq!(table.lookup(5).unwrap().line, 12);
        assert_eq!(table.lookup(100).unwrap().line, 12);
    }
}
