//! Bounded disjunctions of states (trace partitioning).
//!
//! At a join, states that agree on the partition key (register types, nullness, spilled
//! pointers) merge; states that disagree stay apart, up to a cap. This keeps, for instance, "r0
//! is null, r6 = 0" apart from "r0 is a map value, r6 = 1", or a pointer-typed path apart from a
//! number-typed one, where a single join would lose the type (the imprecision behind most of
//! PREVAIL's false positives) while costing no more than plain joins when paths agree.

use super::interval::Thresholds;
use super::state::{PartitionKey, State};

/// A set of states, at most `cap` of them, distinct in their partition keys.
#[derive(Clone, Debug, Default)]
pub struct Disjunction {
    states: Vec<(PartitionKey, State)>,
}

impl Disjunction {
    pub fn new() -> Disjunction {
        Disjunction { states: Vec::new() }
    }

    pub fn single(state: State) -> Disjunction {
        Disjunction {
            states: vec![(state.key(), state)],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn states(&self) -> impl Iterator<Item = &State> {
        self.states.iter().map(|(_, s)| s)
    }

    pub fn into_states(self) -> impl Iterator<Item = State> {
        self.states.into_iter().map(|(_, s)| s)
    }

    /// Adds a state: joined with the state of the same key, else kept apart while there is
    /// room, else joined with the most similar state.
    pub fn add(&mut self, state: State, cap: usize) {
        let key = state.key();
        self.insert(key, state, cap, |a, b| a.join(b));
    }

    fn insert(
        &mut self,
        key: PartitionKey,
        state: State,
        cap: usize,
        merge: impl Fn(&State, &State) -> State,
    ) {
        if let Some(i) = self.states.iter().position(|(k, _)| *k == key) {
            let merged = merge(&self.states[i].1, &state);
            self.replace(i, merged, &merge);
        } else if self.states.len() < cap.max(1) {
            self.states.push((key, state));
        } else {
            let i = self.closest(&key);
            let merged = merge(&self.states[i].1, &state);
            self.replace(i, merged, &merge);
        }
    }

    /// Puts a merged state at `i`; if its key changed into another state's key, merges those.
    fn replace(&mut self, i: usize, state: State, merge: &impl Fn(&State, &State) -> State) {
        let key = state.key();
        self.states[i] = (key, state);
        if let Some(j) = (0..self.states.len()).find(|&j| j != i && self.states[j].0 == key) {
            let (_, other) = self.states.remove(j);
            let i = if j < i { i - 1 } else { i };
            let merged = merge(&self.states[i].1, &other);
            self.replace(i, merged, merge);
        }
    }

    fn closest(&self, key: &PartitionKey) -> usize {
        (0..self.states.len())
            .max_by_key(|&i| self.states[i].0.similarity(key))
            .unwrap_or(0)
    }

    /// The union of two disjunctions.
    pub fn join(&self, other: &Disjunction, cap: usize) -> Disjunction {
        let mut result = self.clone();
        for (key, state) in &other.states {
            result.insert(*key, state.clone(), cap, |a, b| a.join(b));
        }
        result
    }

    /// Widening of `self` (older) by `newer`, key by key.
    pub fn widen(&self, newer: &Disjunction, cap: usize, thresholds: &Thresholds) -> Disjunction {
        let mut result = self.clone();
        for (key, state) in &newer.states {
            result.insert(*key, state.clone(), cap, |a, b| a.widen(b, thresholds));
        }
        result
    }

    /// All states joined into one (or none).
    pub fn collapse(&self) -> Option<State> {
        let mut states = self.states();
        let first = states.next()?.clone();
        Some(states.fold(first, |acc, s| acc.join(s)))
    }

    /// Whether every state of `self` is covered by a state of `other`.
    pub fn is_subset_of(&self, other: &Disjunction) -> bool {
        self.states.iter().all(|(key, state)| {
            other
                .states
                .iter()
                .find(|(k, _)| k == key)
                .is_some_and(|(_, o)| state.is_subset_of(o))
                || other.states.iter().any(|(_, o)| state.is_subset_of(o))
        })
    }
}
