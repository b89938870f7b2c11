//! Hash maps (plain, per-CPU, LRU, LRU per-CPU): a key index behind a mutex, values in slots of
//! a fixed arena. Deleting an element frees its slot for reuse; the memory stays valid, so a
//! pointer a program still holds reads the next occupant or zeroes, never freed memory.

use super::arena::Arena;
use super::error::{BPF_EXIST, BPF_NOEXIST, MapError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    index: HashMap<Vec<u8>, usize>,
    /// The key in each used slot (for LRU eviction).
    keys: HashMap<usize, Vec<u8>>,
    free: Vec<usize>,
    /// Never-used slots start here (slots below were handed out at least once).
    fresh: usize,
    /// LRU bookkeeping: slot -> last use tick, and tick -> slot.
    last_use: HashMap<usize, u64>,
    by_use: BTreeMap<u64, usize>,
    clock: u64,
}

impl State {
    fn touch(&mut self, slot: usize) {
        self.clock += 1;
        if let Some(old) = self.last_use.insert(slot, self.clock) {
            self.by_use.remove(&old);
        }
        self.by_use.insert(self.clock, slot);
    }

    fn forget(&mut self, slot: usize) {
        if let Some(old) = self.last_use.remove(&slot) {
            self.by_use.remove(&old);
        }
    }
}

/// Storage of a hash-type map.
#[derive(Debug)]
pub struct HashStore {
    arena: Arena,
    max_entries: usize,
    /// Bytes per slot: `cpus` values of `stride` bytes.
    slot_size: usize,
    stride: usize,
    lru: bool,
    state: Mutex<State>,
}

impl HashStore {
    /// Storage for `max_entries` elements of `cpus` values of `stride` bytes each, in `arena`;
    /// with `lru`, a full map evicts its least recently used element instead of failing.
    pub fn new(arena: Arena, max_entries: usize, stride: usize, cpus: usize, lru: bool) -> Self {
        HashStore {
            arena,
            max_entries,
            slot_size: stride * cpus,
            stride,
            lru,
            state: Mutex::new(State::default()),
        }
    }

    /// The memory holding the values.
    pub fn arena(&self) -> &Arena {
        &self.arena
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the index inconsistent in a way that
        // matters for memory safety (slots are always in bounds), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offset of the slot holding `key`, marking it used (LRU).
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let mut state = self.state();
        let slot = *state.index.get(key)?;
        if self.lru {
            state.touch(slot);
        }
        Some(slot * self.slot_size)
    }

    /// Inserts or updates `key`; `write` fills the slot (given its offset and whether it is new).
    pub fn upsert(
        &self,
        key: &[u8],
        mode: u64,
        write: impl FnOnce(&Arena, usize, bool),
    ) -> Result<(), MapError> {
        let mut state = self.state();
        if let Some(&slot) = state.index.get(key) {
            if mode == BPF_NOEXIST {
                return Err(MapError::Exists);
            }
            if self.lru {
                state.touch(slot);
            }
            write(&self.arena, slot * self.slot_size, false);
            return Ok(());
        }
        if mode == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        let slot = if let Some(slot) = state.free.pop() {
            slot
        } else if state.fresh < self.max_entries {
            state.fresh += 1;
            state.fresh - 1
        } else if self.lru {
            let (_, victim) = state.by_use.pop_first().ok_or(MapError::Full)?;
            state.last_use.remove(&victim);
            if let Some(key) = state.keys.remove(&victim) {
                state.index.remove(&key);
            }
            victim
        } else {
            return Err(MapError::Full);
        };
        self.arena.zero(slot * self.slot_size, self.slot_size);
        write(&self.arena, slot * self.slot_size, true);
        state.index.insert(key.to_vec(), slot);
        if self.lru {
            state.keys.insert(slot, key.to_vec());
            state.touch(slot);
        }
        Ok(())
    }

    /// Removes `key` (its slot is reused by a later insertion).
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let mut state = self.state();
        let slot = state.index.remove(key).ok_or(MapError::NotFound)?;
        state.keys.remove(&slot);
        state.forget(slot);
        state.free.push(slot);
        Ok(())
    }

    /// Every key with its slot offset, in no particular order.
    pub fn entries(&self) -> Vec<(Vec<u8>, usize)> {
        self.state()
            .index
            .iter()
            .map(|(key, slot)| (key.clone(), slot * self.slot_size))
            .collect()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.state().index.len()
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of one value (one CPU's copy for per-CPU maps).
    pub fn stride(&self) -> usize {
        self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::error::BPF_ANY;

    fn store(max: usize, lru: bool) -> HashStore {
        HashStore::new(Arena::new(max * 8).unwrap(), max, 8, 1, lru)
    }

    #[test]
    fn deleted_slots_are_reused_and_memory_stays() {
        let map = store(2, false);
        map.upsert(b"a", BPF_ANY, |a, o, _| a.write(o, &[1]))
            .unwrap();
        map.upsert(b"b", BPF_ANY, |a, o, _| a.write(o, &[2]))
            .unwrap();
        assert_eq!(map.upsert(b"c", BPF_ANY, |_, _, _| {}), Err(MapError::Full));
        let a = map.find(b"a").unwrap();
        map.delete(b"a").unwrap();
        assert_eq!(map.delete(b"a"), Err(MapError::NotFound));
        map.upsert(b"c", BPF_ANY, |ar, o, _| ar.write(o, &[3]))
            .unwrap();
        assert_eq!(map.find(b"c"), Some(a));
        assert_eq!(map.arena().read(a, 1), vec![3]);
        assert_eq!(
            map.upsert(b"c", BPF_NOEXIST, |_, _, _| {}),
            Err(MapError::Exists)
        );
        assert_eq!(
            map.upsert(b"z", BPF_EXIST, |_, _, _| {}),
            Err(MapError::NotFound)
        );
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let map = store(2, true);
        map.upsert(b"a", BPF_ANY, |_, _, _| {}).unwrap();
        map.upsert(b"b", BPF_ANY, |_, _, _| {}).unwrap();
        map.find(b"a");
        map.upsert(b"c", BPF_ANY, |_, _, _| {}).unwrap();
        assert!(map.find(b"a").is_some());
        assert!(map.find(b"b").is_none());
        assert!(map.find(b"c").is_some());
        assert_eq!(map.len(), 2);
    }
}
