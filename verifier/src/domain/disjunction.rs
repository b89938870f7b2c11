//! Bounded disjunctions of states (trace partitioning).
//!
//! At a join, states that agree on the partition key (register types, nullness, spilled
//! pointers) merge; states that disagree stay apart, up to a cap. This keeps, for instance, "r0
//! is null, r6 = 0" apart from "r0 is a map value, r6 = 1", or a pointer-typed path apart from a
//! number-typed one, where a single join would lose the type (the imprecision behind most of
//! PREVAIL's false positives) while costing no more than plain joins when paths agree.

use crate::prelude::*;

use super::interval::Thresholds;
use super::state::{PartitionKey, State};

/// A set of states, at most `cap` of them, distinct in their partition keys. States are boxed:
/// they are a few kilobytes each, and the vector grows, shrinks and reorders often.
#[derive(Clone, Debug, Default)]
pub struct Disjunction {
    states: Vec<(PartitionKey, Box<State>)>,
}

impl Disjunction {
    /// No state: the program point is unreachable.
    pub fn new() -> Disjunction {
        Disjunction { states: Vec::new() }
    }

    /// Exactly one state.
    pub fn single(state: State) -> Disjunction {
        Disjunction {
            states: vec![(state.key(), Box::new(state))],
        }
    }

    /// Whether there is no state (unreachable).
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The number of states kept apart.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// The states.
    pub fn states(&self) -> impl Iterator<Item = &State> {
        self.states.iter().map(|(_, s)| s.as_ref())
    }

    /// The states, by value.
    pub fn into_states(self) -> impl Iterator<Item = State> {
        self.states.into_iter().map(|(_, s)| *s)
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
            self.states.push((key, Box::new(state)));
        } else {
            // Full: merge the two most similar states, the new one included, so that the
            // distinctions that matter most (register types and flags) are the last to go.
            self.states.push((key, Box::new(state)));
            let (i, j) = self.most_similar_pair();
            let (_, other) = self.states.swap_remove(j);
            let merged = merge(&self.states[i].1, &other);
            self.replace(i, merged, &merge);
        }
    }

    /// The indices `i < j` of the two states whose keys share the most components.
    fn most_similar_pair(&self) -> (usize, usize) {
        let mut best = (0, 1, 0);
        for j in 1..self.states.len() {
            for i in 0..j {
                let similarity = self.states[i].0.similarity(&self.states[j].0);
                if similarity > best.2 || (i, j) == (0, 1) {
                    best = (i, j, similarity.max(best.2));
                    if similarity >= PartitionKey::CLOSEST {
                        return (i, j);
                    }
                }
            }
        }
        (best.0, best.1)
    }

    /// Puts a merged state at `i`; if its key changed into another state's key, merges those.
    fn replace(&mut self, i: usize, state: State, merge: &impl Fn(&State, &State) -> State) {
        let key = state.key();
        self.states[i] = (key, Box::new(state));
        if let Some(j) = (0..self.states.len()).find(|&j| j != i && self.states[j].0 == key) {
            let (_, other) = self.states.remove(j);
            let i = if j < i { i - 1 } else { i };
            let merged = merge(&self.states[i].1, &other);
            self.replace(i, merged, merge);
        }
    }

    /// The union of two disjunctions.
    pub fn join(&self, other: &Disjunction, cap: usize) -> Disjunction {
        let mut result = self.clone();
        result.join_from(other, cap);
        result
    }

    /// Adds the states of `other` (joining as [`Disjunction::add`] does).
    pub fn join_from(&mut self, other: &Disjunction, cap: usize) {
        for (key, state) in &other.states {
            self.insert(*key, state.as_ref().clone(), cap, |a, b| a.join(b));
        }
    }

    /// Adds the states of `other`, moving them.
    pub fn absorb(&mut self, other: Disjunction, cap: usize) {
        if self.states.is_empty() && other.states.len() <= cap.max(1) {
            *self = other;
            return;
        }
        for (key, state) in other.states {
            self.insert(key, *state, cap, |a, b| a.join(b));
        }
    }

    /// Widening of `self` (older) by `newer`, key by key.
    pub fn widen(&self, newer: &Disjunction, cap: usize, thresholds: &Thresholds) -> Disjunction {
        let mut result = self.clone();
        for (key, state) in &newer.states {
            result.insert(*key, state.as_ref().clone(), cap, |a, b| {
                a.widen(b, thresholds)
            });
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
