//! The input memory of a run: 8-byte aligned (so in-bounds atomics never straddle a cache
//! line) and between unused guard words, so wild accesses relative to some other buffer (an
//! engine's stack) never land in it, whatever the allocator does.
//!
//! Every engine of one comparison runs on the same buffer, reset between runs, so addresses
//! derived from r1 are the same on all of them.

/// Guard words on each side: more than generated programs reach past the stack (8 KiB).
const GUARD_WORDS: usize = 1024;

/// An aligned, guarded byte buffer.
pub struct AlignedMemory {
    words: Vec<u64>,
    initial: Vec<u8>,
}

impl AlignedMemory {
    /// A buffer holding `bytes`.
    pub fn new(bytes: &[u8]) -> AlignedMemory {
        let mut memory = AlignedMemory {
            words: vec![0; bytes.len().div_ceil(8) + 2 * GUARD_WORDS],
            initial: bytes.to_vec(),
        };
        memory.reset();
        memory
    }

    /// Puts the initial contents back.
    pub fn reset(&mut self) {
        guarded_bytes(&mut self.words, self.initial.len()).copy_from_slice(&self.initial);
    }

    /// The bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        guarded_bytes(&mut self.words, self.initial.len())
    }

    /// Address of the first byte (0 for an empty buffer, as `RunInput::with_memory` passes).
    pub fn start(&mut self) -> u64 {
        let bytes = self.bytes_mut();
        if bytes.is_empty() {
            0
        } else {
            bytes.as_ptr() as u64
        }
    }
}

/// The `len` bytes after the leading guard of `words`.
fn guarded_bytes(words: &mut [u64], len: usize) -> &mut [u8] {
    assert!(len <= (words.len() - 2 * GUARD_WORDS) * 8);
    // SAFETY: past the leading guard the words own at least `len` initialised bytes (checked
    // above), and u8 has no alignment requirement; the slice borrows `words` mutably.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().add(GUARD_WORDS).cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_restores_contents_at_the_same_address() {
        let mut memory = AlignedMemory::new(&[1, 2, 3]);
        let start = memory.start();
        assert_eq!(start % 8, 0);
        memory.bytes_mut()[0] = 9;
        memory.reset();
        assert_eq!(memory.bytes_mut(), &[1, 2, 3]);
        assert_eq!(memory.start(), start);
        assert_eq!(AlignedMemory::new(&[]).start(), 0);
    }
}
