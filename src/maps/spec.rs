//! Map descriptors: what a map is (type, sizes, flags), independent of any storage. The ELF
//! loader produces them, the verifier types map accesses with them, the runtime creates maps
//! from them.

use std::fmt;

/// Linux map types (`enum bpf_map_type`), by their ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH` (1).
    Hash,
    /// `BPF_MAP_TYPE_ARRAY` (2).
    Array,
    /// `BPF_MAP_TYPE_PROG_ARRAY` (3).
    ProgArray,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (4).
    PerfEventArray,
    /// `BPF_MAP_TYPE_PERCPU_HASH` (5).
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY` (6).
    PercpuArray,
    /// `BPF_MAP_TYPE_STACK_TRACE` (7).
    StackTrace,
    /// `BPF_MAP_TYPE_CGROUP_ARRAY` (8).
    CgroupArray,
    /// `BPF_MAP_TYPE_LRU_HASH` (9).
    LruHash,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH` (10).
    LruPercpuHash,
    /// `BPF_MAP_TYPE_LPM_TRIE` (11).
    LpmTrie,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS` (12).
    ArrayOfMaps,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS` (13).
    HashOfMaps,
    /// `BPF_MAP_TYPE_DEVMAP` (14).
    Devmap,
    /// `BPF_MAP_TYPE_SOCKMAP` (15).
    Sockmap,
    /// `BPF_MAP_TYPE_CPUMAP` (16).
    Cpumap,
    /// `BPF_MAP_TYPE_XSKMAP` (17).
    Xskmap,
    /// `BPF_MAP_TYPE_SOCKHASH` (18).
    Sockhash,
    /// `BPF_MAP_TYPE_CGROUP_STORAGE` (19).
    CgroupStorage,
    /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY` (20).
    ReuseportSockarray,
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE` (21).
    PercpuCgroupStorage,
    /// `BPF_MAP_TYPE_QUEUE` (22).
    Queue,
    /// `BPF_MAP_TYPE_STACK` (23).
    Stack,
    /// `BPF_MAP_TYPE_SK_STORAGE` (24).
    SkStorage,
    /// `BPF_MAP_TYPE_DEVMAP_HASH` (25).
    DevmapHash,
    /// `BPF_MAP_TYPE_STRUCT_OPS` (26).
    StructOps,
    /// `BPF_MAP_TYPE_RINGBUF` (27).
    Ringbuf,
    /// `BPF_MAP_TYPE_INODE_STORAGE` (28).
    InodeStorage,
    /// `BPF_MAP_TYPE_TASK_STORAGE` (29).
    TaskStorage,
    /// `BPF_MAP_TYPE_BLOOM_FILTER` (30).
    BloomFilter,
    /// `BPF_MAP_TYPE_USER_RINGBUF` (31).
    UserRingbuf,
    /// `BPF_MAP_TYPE_CGRP_STORAGE` (32).
    CgrpStorage,
    /// `BPF_MAP_TYPE_ARENA` (33).
    Arena,
    /// An id this version does not know.
    Unknown(u32),
}

const NAMED: [(u32, MapType, &str); 33] = [
    (1, MapType::Hash, "hash"),
    (2, MapType::Array, "array"),
    (3, MapType::ProgArray, "prog_array"),
    (4, MapType::PerfEventArray, "perf_event_array"),
    (5, MapType::PercpuHash, "percpu_hash"),
    (6, MapType::PercpuArray, "percpu_array"),
    (7, MapType::StackTrace, "stack_trace"),
    (8, MapType::CgroupArray, "cgroup_array"),
    (9, MapType::LruHash, "lru_hash"),
    (10, MapType::LruPercpuHash, "lru_percpu_hash"),
    (11, MapType::LpmTrie, "lpm_trie"),
    (12, MapType::ArrayOfMaps, "array_of_maps"),
    (13, MapType::HashOfMaps, "hash_of_maps"),
    (14, MapType::Devmap, "devmap"),
    (15, MapType::Sockmap, "sockmap"),
    (16, MapType::Cpumap, "cpumap"),
    (17, MapType::Xskmap, "xskmap"),
    (18, MapType::Sockhash, "sockhash"),
    (19, MapType::CgroupStorage, "cgroup_storage"),
    (20, MapType::ReuseportSockarray, "reuseport_sockarray"),
    (21, MapType::PercpuCgroupStorage, "percpu_cgroup_storage"),
    (22, MapType::Queue, "queue"),
    (23, MapType::Stack, "stack"),
    (24, MapType::SkStorage, "sk_storage"),
    (25, MapType::DevmapHash, "devmap_hash"),
    (26, MapType::StructOps, "struct_ops"),
    (27, MapType::Ringbuf, "ringbuf"),
    (28, MapType::InodeStorage, "inode_storage"),
    (29, MapType::TaskStorage, "task_storage"),
    (30, MapType::BloomFilter, "bloom_filter"),
    (31, MapType::UserRingbuf, "user_ringbuf"),
    (32, MapType::CgrpStorage, "cgrp_storage"),
    (33, MapType::Arena, "arena"),
];

impl MapType {
    /// The type with this Linux id.
    pub fn from_id(id: u32) -> MapType {
        NAMED
            .iter()
            .find(|(known, _, _)| *known == id)
            .map_or(MapType::Unknown(id), |(_, ty, _)| *ty)
    }

    /// The Linux id.
    pub fn id(self) -> u32 {
        match self {
            MapType::Unknown(id) => id,
            known => NAMED
                .iter()
                .find(|(_, ty, _)| *ty == known)
                .map_or(0, |(id, _, _)| *id),
        }
    }

    /// The name without the `BPF_MAP_TYPE_` prefix, lower case (`hash`, `percpu_array`).
    pub fn name(self) -> &'static str {
        NAMED
            .iter()
            .find(|(_, ty, _)| *ty == self)
            .map_or("unknown", |(_, _, name)| *name)
    }

    /// The type named `name` (as `name()` spells it).
    pub fn from_name(name: &str) -> Option<MapType> {
        NAMED
            .iter()
            .find(|(_, _, known)| *known == name)
            .map(|(_, ty, _)| *ty)
    }

    /// Whether values hold other maps (map-in-map).
    pub fn holds_maps(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }

    /// Whether each CPU has its own copy of every value.
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruPercpuHash
                | MapType::PercpuCgroupStorage
        )
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapType::Unknown(id) => write!(f, "unknown map type {id}"),
            known => f.write_str(known.name()),
        }
    }
}

/// `BPF_F_NO_PREALLOC`.
pub const F_NO_PREALLOC: u32 = 1 << 0;
/// `BPF_F_RDONLY_PROG`: programs may read but not write values.
pub const F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`.
pub const F_MMAPABLE: u32 = 1 << 10;

/// Where a map definition came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOrigin {
    /// A `struct bpf_map_def` in a legacy `maps` section.
    Legacy,
    /// A BTF-defined map in `.maps`.
    Btf,
    /// A global data section (`.data`, `.rodata`, `.bss`, `.rodata.str1.1`...), one element
    /// holding the whole section.
    GlobalData,
    /// Declared by the host (not from an object file).
    Host,
}

/// What an initial slot of a map-in-map or program array refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotTarget {
    /// Another map of the same object, by index.
    Map(usize),
    /// A program of the same object: (section, function).
    Program {
        /// The program's section.
        section: String,
        /// The program's function.
        function: String,
    },
}

/// The description of a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// The map's name (its symbol, or the section name for global data).
    pub name: String,
    /// The map's type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// The most elements the map holds.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// For map-in-map: the definition every inner map must match.
    pub inner: Option<Box<MapSpec>>,
    /// For global data maps: the initial bytes of the single value.
    pub initial_data: Option<Vec<u8>>,
    /// For map-in-map and program arrays: slots filled at creation (`.values = { ... }`).
    pub initial_slots: Vec<(u32, SlotTarget)>,
    /// Where the definition came from.
    pub origin: MapOrigin,
}

impl MapSpec {
    /// A map declared by a host, with no inner map or initial data.
    pub fn new(
        name: impl Into<String>,
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapSpec {
        MapSpec {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            inner: None,
            initial_data: None,
            initial_slots: Vec::new(),
            origin: MapOrigin::Host,
        }
    }

    /// Whether programs may only read the values (`.rodata`, `BPF_F_RDONLY_PROG`).
    pub fn is_read_only_for_programs(&self) -> bool {
        self.flags & F_RDONLY_PROG != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_types_round_trip_through_ids_and_names() {
        for id in 1..=33 {
            let ty = MapType::from_id(id);
            assert_eq!(ty.id(), id);
            assert_eq!(MapType::from_name(ty.name()), Some(ty));
        }
        assert_eq!(MapType::from_id(99), MapType::Unknown(99));
        assert_eq!(MapType::from_id(99).id(), 99);
        assert_eq!(MapType::from_id(27).to_string(), "ringbuf");
    }
}
