//! A map: its descriptor and its storage, safe to share between running programs and the host.

use super::arena::{Arena, stride};
use super::cpu::current_cpu;
use super::error::{BPF_EXIST, BPF_NOEXIST, MapError, check_update_flags};
use super::hash::HashStore;
use super::ringbuf::RingBuf;
use super::spec::{MapSpec, MapType};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use xbpf_isa::Region;

/// Default limit on the memory one map may take (values, per-CPU copies, ring data).
pub const DEFAULT_MAX_MAP_BYTES: u64 = 1 << 30;

/// What a program gets from `bpf_map_lookup_elem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Host address of the value (this CPU's copy for per-CPU maps).
    Value(u64),
    /// The id of the inner map of a map-in-map.
    InnerMap(u32),
}

#[derive(Debug)]
struct QueueState {
    /// Oldest element's slot and number of elements.
    tail: usize,
    len: usize,
}

#[derive(Debug)]
enum Storage {
    Array(Arena),
    Hash(HashStore),
    Queue {
        arena: Arena,
        lifo: bool,
        state: Mutex<QueueState>,
    },
    Ring(RingBuf),
    /// Program arrays and array-of-maps: slot -> id.
    IdArray(Mutex<Vec<Option<u32>>>),
    /// Hash-of-maps: key -> id.
    IdHash(Mutex<BTreeMap<Vec<u8>, u32>>),
    /// Perf event arrays: records output by programs, with the CPU index they went to.
    PerfEvents(Mutex<VecDeque<(u32, Vec<u8>)>>),
}

/// A map instance.
#[derive(Debug)]
pub struct Map {
    spec: MapSpec,
    cpus: usize,
    storage: Storage,
}

/// Most records a perf event array keeps before dropping new ones (like a full perf buffer).
const MAX_PERF_RECORDS: usize = 65536;

impl Map {
    /// Creates a map from its descriptor; per-CPU maps get `cpus` copies of each value.
    pub fn new(spec: &MapSpec, cpus: usize, max_bytes: u64) -> Result<Map, MapError> {
        let cpus = cpus.max(1);
        let invalid = |reason: &str| MapError::InvalidDefinition {
            name: spec.name.clone(),
            reason: reason.into(),
        };
        let entries = spec.max_entries as usize;
        let value_stride = stride(spec.value_size);
        let arena = |copies: usize| {
            let bytes = (entries as u64)
                .checked_mul(value_stride as u64)
                .and_then(|b| b.checked_mul(copies as u64))
                .unwrap_or(u64::MAX);
            if bytes > max_bytes {
                return Err(MapError::TooLarge {
                    name: spec.name.clone(),
                    bytes,
                    limit: max_bytes,
                });
            }
            Arena::new(bytes as usize).ok_or(MapError::TooLarge {
                name: spec.name.clone(),
                bytes,
                limit: max_bytes,
            })
        };
        let need = |ok: bool, reason: &str| if ok { Ok(()) } else { Err(invalid(reason)) };
        let storage = match spec.map_type {
            MapType::Devmap | MapType::Cpumap | MapType::Xskmap => {
                need(spec.key_size == 4, "keys must be 4 bytes")?;
                need(
                    spec.value_size == 4 || spec.value_size == 8,
                    "values must be 4 or 8 bytes",
                )?;
                need(entries > 0, "max_entries must be positive")?;
                Storage::Array(arena(1)?)
            }
            MapType::DevmapHash => {
                need(spec.key_size == 4, "keys must be 4 bytes")?;
                need(
                    spec.value_size == 4 || spec.value_size == 8,
                    "values must be 4 or 8 bytes",
                )?;
                need(entries > 0, "max_entries must be positive")?;
                Storage::Hash(HashStore::new(arena(1)?, entries, value_stride, 1, false))
            }
            MapType::Array | MapType::PercpuArray => {
                need(spec.key_size == 4, "array keys must be 4 bytes")?;
                need(spec.value_size > 0, "values must not be empty")?;
                need(entries > 0, "max_entries must be positive")?;
                let copies = if spec.map_type.is_per_cpu() { cpus } else { 1 };
                let arena = arena(copies)?;
                if let Some(data) = &spec.initial_data {
                    need(
                        data.len() <= spec.value_size as usize,
                        "initial data is larger than the value",
                    )?;
                    arena.write(0, data);
                }
                Storage::Array(arena)
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                need(spec.key_size > 0, "keys must not be empty")?;
                need(spec.value_size > 0, "values must not be empty")?;
                need(entries > 0, "max_entries must be positive")?;
                let copies = if spec.map_type.is_per_cpu() { cpus } else { 1 };
                let lru = matches!(spec.map_type, MapType::LruHash | MapType::LruPercpuHash);
                Storage::Hash(HashStore::new(
                    arena(copies)?,
                    entries,
                    value_stride,
                    copies,
                    lru,
                ))
            }
            MapType::Queue | MapType::Stack => {
                need(spec.key_size == 0, "queue and stack maps have no keys")?;
                need(spec.value_size > 0, "values must not be empty")?;
                need(entries > 0, "max_entries must be positive")?;
                Storage::Queue {
                    arena: arena(1)?,
                    lifo: spec.map_type == MapType::Stack,
                    state: Mutex::new(QueueState { tail: 0, len: 0 }),
                }
            }
            MapType::Ringbuf => {
                need(
                    spec.max_entries.is_power_of_two() && spec.max_entries >= 8,
                    "ring buffer size must be a power of two",
                )?;
                let bytes = u64::from(spec.max_entries);
                if bytes > max_bytes {
                    return Err(MapError::TooLarge {
                        name: spec.name.clone(),
                        bytes,
                        limit: max_bytes,
                    });
                }
                Storage::Ring(RingBuf::new(
                    Arena::new(bytes as usize)
                        .ok_or_else(|| invalid("cannot allocate the ring"))?,
                ))
            }
            MapType::ProgArray | MapType::ArrayOfMaps => {
                need(
                    spec.key_size == 4 && spec.value_size == 4,
                    "keys and values must be 4 bytes",
                )?;
                need(entries > 0, "max_entries must be positive")?;
                need(entries as u64 * 8 <= max_bytes, "too many entries")?;
                Storage::IdArray(Mutex::new(vec![None; entries]))
            }
            MapType::HashOfMaps => {
                need(
                    spec.key_size > 0 && spec.value_size == 4,
                    "values must be 4 bytes",
                )?;
                need(entries > 0, "max_entries must be positive")?;
                Storage::IdHash(Mutex::new(BTreeMap::new()))
            }
            MapType::PerfEventArray => Storage::PerfEvents(Mutex::new(VecDeque::new())),
            other => {
                return Err(invalid(&format!("map type {other} is not supported")));
            }
        };
        if spec.map_type.holds_maps() && spec.inner.is_none() {
            return Err(invalid("map-in-map needs an inner map definition"));
        }
        Ok(Map {
            spec: spec.clone(),
            cpus,
            storage,
        })
    }

    /// The memory the map may come to hold, as charged against a runtime's total limit
    /// (`RuntimeConfig::max_total_map_bytes`): every entry at its declared key and value size
    /// (values once per CPU for per-CPU maps), or the buffer size of a ring buffer. Fixed at
    /// creation, so a map charges its whole capacity up front, like Linux's memlock accounting.
    pub fn charged_bytes(&self) -> u64 {
        Map::charge(&self.spec, self.cpus)
    }

    /// What a map of this definition is charged (see [`Map::charged_bytes`]).
    pub fn charge(spec: &MapSpec, cpus: usize) -> u64 {
        if spec.map_type == MapType::Ringbuf {
            return u64::from(spec.max_entries);
        }
        let copies = if spec.map_type.is_per_cpu() {
            cpus.max(1) as u64
        } else {
            1
        };
        let entry = (stride(spec.value_size) as u64)
            .saturating_mul(copies)
            .saturating_add(u64::from(spec.key_size));
        u64::from(spec.max_entries).saturating_mul(entry)
    }

    /// The definition the map was created from.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The map's type.
    pub fn map_type(&self) -> MapType {
        self.spec.map_type
    }

    /// Number of per-CPU copies of each value (1 for maps that are not per-CPU).
    pub fn copies(&self) -> usize {
        if self.spec.map_type.is_per_cpu() {
            self.cpus
        } else {
            1
        }
    }

    /// The memory programs may access: value storage (read-only when the map is read-only for
    /// programs) and ring buffer data.
    pub fn region(&self) -> Option<Region> {
        let writable = !self.spec.is_read_only_for_programs() && !self.is_redirect_map();
        let region = match &self.storage {
            Storage::Array(arena) => arena.region(writable),
            Storage::Hash(store) => store.arena().region(writable),
            Storage::Ring(ring) => ring.arena().region(true),
            _ => return None,
        };
        (region.len > 0).then_some(region)
    }

    /// Whether this is a redirect target map (devmap, cpumap, xskmap): programs read entries
    /// and redirect to them, only the host writes them, and an all-zero entry is empty.
    pub fn is_redirect_map(&self) -> bool {
        matches!(
            self.spec.map_type,
            MapType::Devmap | MapType::DevmapHash | MapType::Cpumap | MapType::Xskmap
        )
    }

    /// Whether a redirect map has a target at `key`.
    pub fn redirect_target(&self, key: &[u8]) -> bool {
        self.is_redirect_map()
            && self
                .lookup(key)
                .is_ok_and(|value| value.iter().any(|b| *b != 0))
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.spec.key_size as usize {
            return Err(MapError::WrongSize {
                what: "key",
                expected: self.spec.key_size as usize,
                found: key.len(),
            });
        }
        Ok(())
    }

    fn array_index(&self, key: &[u8]) -> Result<usize, MapError> {
        self.check_key(key)?;
        let index = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
        if index >= self.spec.max_entries {
            return Err(MapError::IndexOutOfRange {
                index,
                max_entries: self.spec.max_entries,
            });
        }
        Ok(index as usize)
    }

    fn slot_size(&self) -> usize {
        stride(self.spec.value_size) * self.copies()
    }

    /// Offset of this CPU's copy within a slot.
    fn cpu_offset(&self) -> usize {
        if self.spec.map_type.is_per_cpu() {
            current_cpu(self.cpus) * stride(self.spec.value_size)
        } else {
            0
        }
    }

    /// `bpf_map_lookup_elem` from a program.
    pub fn lookup_for_program(&self, key: &[u8]) -> Result<Option<Lookup>, MapError> {
        if self.is_redirect_map() && !self.redirect_target(key) {
            return Ok(None);
        }
        Ok(match &self.storage {
            Storage::Array(arena) => match self.array_index(key) {
                Ok(index) => Some(Lookup::Value(
                    arena.addr(index * self.slot_size() + self.cpu_offset()),
                )),
                Err(MapError::IndexOutOfRange { .. }) => None,
                Err(e) => return Err(e),
            },
            Storage::Hash(store) => {
                self.check_key(key)?;
                store
                    .find(key)
                    .map(|offset| Lookup::Value(store.arena().addr(offset + self.cpu_offset())))
            }
            Storage::IdArray(_) | Storage::IdHash(_) if self.spec.map_type.holds_maps() => {
                self.id_at(key)?.map(Lookup::InnerMap)
            }
            _ => return Err(MapError::Unsupported("lookup from a program")),
        })
    }

    /// The id stored at `key` of a program array or map-in-map.
    pub fn id_at(&self, key: &[u8]) -> Result<Option<u32>, MapError> {
        match &self.storage {
            Storage::IdArray(slots) => match self.array_index(key) {
                Ok(index) => Ok(lock(slots).get(index).copied().flatten()),
                Err(MapError::IndexOutOfRange { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            Storage::IdHash(slots) => {
                self.check_key(key)?;
                Ok(lock(slots).get(key).copied())
            }
            _ => Err(MapError::Unsupported("reading ids")),
        }
    }

    /// Stores `id` at `key` of a program array or map-in-map (the caller checked that it names
    /// a compatible program or map).
    pub fn set_id(&self, key: &[u8], id: u32, flags: u64) -> Result<(), MapError> {
        let mode = check_update_flags(flags)?;
        match &self.storage {
            Storage::IdArray(slots) => {
                let index = self.array_index(key)?;
                let mut slots = lock(slots);
                if mode == BPF_NOEXIST && slots[index].is_some() {
                    return Err(MapError::Exists);
                }
                slots[index] = Some(id);
                Ok(())
            }
            Storage::IdHash(slots) => {
                self.check_key(key)?;
                let mut slots = lock(slots);
                let exists = slots.contains_key(key);
                match (mode, exists) {
                    (BPF_NOEXIST, true) => return Err(MapError::Exists),
                    (BPF_EXIST, false) => return Err(MapError::NotFound),
                    (_, false) if slots.len() >= self.spec.max_entries as usize => {
                        return Err(MapError::Full);
                    }
                    _ => {}
                }
                slots.insert(key.to_vec(), id);
                Ok(())
            }
            _ => Err(MapError::Unsupported("storing ids")),
        }
    }

    /// Every id stored in a program array or map-in-map.
    pub fn ids(&self) -> Vec<(Vec<u8>, u32)> {
        match &self.storage {
            Storage::IdArray(slots) => lock(slots)
                .iter()
                .enumerate()
                .filter_map(|(i, id)| id.map(|id| ((i as u32).to_le_bytes().to_vec(), id)))
                .collect(),
            Storage::IdHash(slots) => lock(slots).iter().map(|(k, v)| (k.clone(), *v)).collect(),
            _ => Vec::new(),
        }
    }

    /// `bpf_map_update_elem` from a program: per-CPU maps update this CPU's copy only.
    pub fn update_for_program(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.update_value(key, value, flags, false)
    }

    /// Updates from the host. Per-CPU maps take either one value (copied to every CPU) or
    /// `copies()` values of `stride(value_size)` bytes each.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.update_value(key, value, flags, true)
    }

    fn update_value(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        host: bool,
    ) -> Result<(), MapError> {
        let mode = check_update_flags(flags)?;
        let value_size = self.spec.value_size as usize;
        let stride = stride(self.spec.value_size);
        let copies = self.copies();
        let all_cpus = host && copies > 1 && value.len() == stride * copies;
        if !all_cpus && value.len() != value_size {
            return Err(MapError::WrongSize {
                what: "value",
                expected: value_size,
                found: value.len(),
            });
        }
        // Which copies to write: from a program, this CPU's; from the host, all of them.
        let fill = |arena: &Arena, slot: usize| {
            if all_cpus {
                for cpu in 0..copies {
                    arena.write(
                        slot + cpu * stride,
                        &value[cpu * stride..cpu * stride + value_size],
                    );
                }
            } else if host {
                for cpu in 0..copies {
                    arena.write(slot + cpu * stride, value);
                }
            } else {
                arena.write(slot + self.cpu_offset(), value);
            }
        };
        match &self.storage {
            Storage::Array(arena) => {
                let index = self.array_index(key)?;
                if mode == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                fill(arena, index * self.slot_size());
                Ok(())
            }
            Storage::Hash(store) => {
                self.check_key(key)?;
                store.upsert(key, mode, |arena, slot, _| fill(arena, slot))
            }
            Storage::Queue { .. } => Err(MapError::Unsupported("update (use push)")),
            _ => Err(MapError::Unsupported("update")),
        }
    }

    /// `bpf_map_delete_elem`.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        match &self.storage {
            Storage::Hash(store) => {
                self.check_key(key)?;
                store.delete(key)
            }
            Storage::IdArray(slots) => {
                let index = self.array_index(key)?;
                lock(slots)[index]
                    .take()
                    .map(|_| ())
                    .ok_or(MapError::NotFound)
            }
            Storage::IdHash(slots) => {
                self.check_key(key)?;
                lock(slots)
                    .remove(key)
                    .map(|_| ())
                    .ok_or(MapError::NotFound)
            }
            Storage::Array(arena) if self.is_redirect_map() => {
                let index = self.array_index(key)?;
                arena.zero(index * self.slot_size(), self.slot_size());
                Ok(())
            }
            Storage::Array(_) => Err(MapError::InvalidFlags(0)),
            _ => Err(MapError::Unsupported("delete")),
        }
    }

    /// Looks a value up from the host: every CPU's copy, `stride(value_size)` bytes apart, for
    /// per-CPU maps; the value itself otherwise.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let slot = match &self.storage {
            Storage::Array(arena) => (arena, self.array_index(key)? * self.slot_size()),
            Storage::Hash(store) => {
                self.check_key(key)?;
                (store.arena(), store.find(key).ok_or(MapError::NotFound)?)
            }
            Storage::IdArray(_) | Storage::IdHash(_) => {
                return self
                    .id_at(key)?
                    .map(|id| id.to_le_bytes().to_vec())
                    .ok_or(MapError::NotFound);
            }
            _ => return Err(MapError::Unsupported("lookup")),
        };
        Ok(self.read_slot(slot.0, slot.1))
    }

    fn read_slot(&self, arena: &Arena, slot: usize) -> Vec<u8> {
        if self.copies() == 1 {
            arena.read(slot, self.spec.value_size as usize)
        } else {
            arena.read(slot, self.slot_size())
        }
    }

    /// Every (key, value) pair, keys in ascending byte order, values as `lookup` returns them.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries = match &self.storage {
            Storage::Array(arena) => (0..self.spec.max_entries)
                .map(|i| {
                    (
                        i.to_le_bytes().to_vec(),
                        self.read_slot(arena, i as usize * self.slot_size()),
                    )
                })
                .collect(),
            Storage::Hash(store) => store
                .entries()
                .into_iter()
                .map(|(key, slot)| (key, self.read_slot(store.arena(), slot)))
                .collect(),
            Storage::Queue { arena, state, .. } => {
                let state = lock(state);
                let stride = stride(self.spec.value_size);
                (0..state.len)
                    .map(|i| {
                        let slot = (state.tail + i) % self.spec.max_entries as usize;
                        (
                            Vec::new(),
                            arena.read(slot * stride, self.spec.value_size as usize),
                        )
                    })
                    .collect()
            }
            Storage::IdArray(_) | Storage::IdHash(_) => self
                .ids()
                .into_iter()
                .map(|(k, id)| (k, id.to_le_bytes().to_vec()))
                .collect(),
            Storage::Ring(_) | Storage::PerfEvents(_) => Vec::new(),
        };
        if !matches!(self.storage, Storage::Queue { .. }) {
            entries.sort();
        }
        entries
    }

    /// `bpf_map_push_elem` (queue and stack maps). With `BPF_EXIST`, a full map drops its
    /// oldest element to make room.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        let Storage::Queue { arena, state, .. } = &self.storage else {
            return Err(MapError::Unsupported("push"));
        };
        if flags & !BPF_EXIST != 0 {
            return Err(MapError::InvalidFlags(flags));
        }
        if value.len() != self.spec.value_size as usize {
            return Err(MapError::WrongSize {
                what: "value",
                expected: self.spec.value_size as usize,
                found: value.len(),
            });
        }
        let capacity = self.spec.max_entries as usize;
        let mut state = lock(state);
        if state.len == capacity {
            if flags != BPF_EXIST {
                return Err(MapError::Full);
            }
            state.tail = (state.tail + 1) % capacity;
            state.len -= 1;
        }
        let slot = (state.tail + state.len) % capacity;
        arena.write(slot * stride(self.spec.value_size), value);
        state.len += 1;
        Ok(())
    }

    /// `bpf_map_pop_elem` (`remove`) or `bpf_map_peek_elem`: the oldest element of a queue,
    /// the newest of a stack.
    pub fn pop(&self, remove: bool) -> Result<Vec<u8>, MapError> {
        let Storage::Queue { arena, lifo, state } = &self.storage else {
            return Err(MapError::Unsupported("pop"));
        };
        let capacity = self.spec.max_entries as usize;
        let mut state = lock(state);
        if state.len == 0 {
            return Err(MapError::NotFound);
        }
        let slot = if *lifo {
            (state.tail + state.len - 1) % capacity
        } else {
            state.tail
        };
        let value = arena.read(
            slot * stride(self.spec.value_size),
            self.spec.value_size as usize,
        );
        if remove {
            state.len -= 1;
            if !*lifo {
                state.tail = (state.tail + 1) % capacity;
            }
        }
        Ok(value)
    }

    /// The ring buffer of a `ringbuf` map.
    pub fn ring(&self) -> Option<&RingBuf> {
        match &self.storage {
            Storage::Ring(ring) => Some(ring),
            _ => None,
        }
    }

    /// Appends a record to a perf event array (`bpf_perf_event_output`).
    pub fn perf_output(&self, cpu: u32, data: &[u8]) -> Result<(), MapError> {
        let Storage::PerfEvents(records) = &self.storage else {
            return Err(MapError::Unsupported("perf event output"));
        };
        let mut records = lock(records);
        if records.len() >= MAX_PERF_RECORDS {
            return Err(MapError::Full);
        }
        records.push_back((cpu, data.to_vec()));
        Ok(())
    }

    /// Takes every record output to a perf event array, oldest first, with its CPU.
    pub fn drain_perf_records(&self) -> Vec<(u32, Vec<u8>)> {
        match &self.storage {
            Storage::PerfEvents(records) => lock(records).drain(..).collect(),
            _ => Vec::new(),
        }
    }

    /// Number of CPUs per-CPU values are kept for.
    pub fn cpus(&self) -> usize {
        self.cpus
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
