//! Constant blinding: the JIT-spray defence (Linux's `bpf_jit_blind_constants`).
//!
//! The immediates of a program (ALU and jump-compare operands, `lddw` constants, store values,
//! packet offsets, memory offsets that need more than one byte) are chosen by whoever wrote the
//! program; a JIT that copied them into executable memory as they are would let that author
//! place chosen byte sequences (machine code, read at an unintended offset) in it. With
//! blinding on ([`crate::Jit::with_constant_blinding`]), each back end's encoder never writes
//! such a constant `c`: it writes `c ^ k` and `k` for a fresh key `k`, and code that computes
//! `c` at run time (`mov t, c ^ k; xor t, k`), then uses `t` where the immediate would have
//! been. Neither written value is known to the program's author.
//!
//! Not blinded: shift counts and bit numbers (6 bits at most), memory offsets that fit in a
//! signed byte (one byte, next to bytes the JIT chooses), helper ids (a `call` only compiles
//! when the host registered that id), branch displacements (the JIT's layout decides them) and
//! the JIT's own constants (context offsets, pcs, exit codes, addresses of Rust routines).
//!
//! Keys are drawn from SipHash (std's `RandomState`, whose 128-bit key comes from the OS's
//! random source) of a counter, so each compilation gets its own unpredictable stream, and
//! keys seen in one compiled program say nothing about another's. Every pass of a compilation
//! replays the same stream, so passes emit identical instruction sequences.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// The stream of blinding keys of one compilation.
#[derive(Clone, Debug)]
pub struct Keys {
    hasher: RandomState,
    counter: u64,
}

impl Keys {
    /// A stream from a fresh random key.
    pub fn random() -> Keys {
        Keys {
            hasher: RandomState::new(),
            counter: 0,
        }
    }

    /// The next key. No byte of it is zero, so every byte of a blinded value differs from the
    /// constant's.
    pub fn next_key(&mut self) -> u64 {
        loop {
            let key = self.hasher.hash_one(self.counter);
            self.counter += 1;
            if key.to_le_bytes().iter().all(|byte| *byte != 0) {
                return key;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_replay_when_cloned_and_differ_between_compilations() {
        let mut first = Keys::random();
        let mut replay = first.clone();
        let keys: Vec<u64> = (0..64).map(|_| first.next_key()).collect();
        assert!(
            keys.iter()
                .all(|key| key.to_le_bytes().iter().all(|b| *b != 0))
        );
        assert_eq!(keys, (0..64).map(|_| replay.next_key()).collect::<Vec<_>>());
        let mut other = Keys::random();
        assert_ne!(keys, (0..64).map(|_| other.next_key()).collect::<Vec<_>>());
        let mut distinct = keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), keys.len());
    }
}
