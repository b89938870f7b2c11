//! Map descriptors: what the verifier knows of each map a program references.
//!
//! Programs reach maps through `lddw` with a map pseudo-source whose immediate is an index into
//! the table the caller passes; inner maps of map-in-map descriptors get ids after the outer
//! ones.

use crate::prelude::*;

use crate::domain::types::MapId;

/// Map types (Linux numbering for `from_linux`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`
    Hash,
    /// `BPF_MAP_TYPE_ARRAY`
    Array,
    /// `BPF_MAP_TYPE_PROG_ARRAY`
    ProgArray,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`
    PerfEventArray,
    /// `BPF_MAP_TYPE_PERCPU_HASH`
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PercpuArray,
    /// `BPF_MAP_TYPE_STACK_TRACE`
    StackTrace,
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`
    CgroupArray,
    /// `BPF_MAP_TYPE_LRU_HASH`
    LruHash,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`
    LruPercpuHash,
    /// `BPF_MAP_TYPE_LPM_TRIE`
    LpmTrie,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`
    ArrayOfMaps,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`
    HashOfMaps,
    /// `BPF_MAP_TYPE_DEVMAP`
    Devmap,
    /// `BPF_MAP_TYPE_SOCKMAP`
    Sockmap,
    /// `BPF_MAP_TYPE_CPUMAP`
    Cpumap,
    /// `BPF_MAP_TYPE_XSKMAP`
    Xskmap,
    /// `BPF_MAP_TYPE_SOCKHASH`
    Sockhash,
    /// `BPF_MAP_TYPE_QUEUE`
    Queue,
    /// `BPF_MAP_TYPE_STACK`
    Stack,
    /// `BPF_MAP_TYPE_RINGBUF`
    RingBuf,
    /// Any other Linux map type id.
    Other(u32),
}

impl MapType {
    /// The type with this Linux `BPF_MAP_TYPE_*` number.
    pub fn from_linux(id: u32) -> MapType {
        match id {
            1 => MapType::Hash,
            2 => MapType::Array,
            3 => MapType::ProgArray,
            4 => MapType::PerfEventArray,
            5 => MapType::PercpuHash,
            6 => MapType::PercpuArray,
            7 => MapType::StackTrace,
            8 => MapType::CgroupArray,
            9 => MapType::LruHash,
            10 => MapType::LruPercpuHash,
            11 => MapType::LpmTrie,
            12 => MapType::ArrayOfMaps,
            13 => MapType::HashOfMaps,
            14 => MapType::Devmap,
            15 => MapType::Sockmap,
            16 => MapType::Cpumap,
            17 => MapType::Xskmap,
            18 => MapType::Sockhash,
            22 => MapType::Queue,
            23 => MapType::Stack,
            27 => MapType::RingBuf,
            other => MapType::Other(other),
        }
    }

    /// Whether a lookup yields a map (map-in-map) rather than a value.
    pub fn holds_maps(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }

    /// Whether `lddw` may address a value directly (global variables live in array maps).
    pub fn allows_direct_value_access(self) -> bool {
        matches!(self, MapType::Array)
    }
}

/// What the verifier needs to know about one map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDescriptor {
    /// The map's type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// The most entries the map holds.
    pub max_entries: u32,
    /// The template of the maps stored in a map-in-map.
    pub inner: Option<Box<MapDescriptor>>,
    /// Whether the program may not write values (frozen `.rodata`, say).
    pub read_only: bool,
}

impl MapDescriptor {
    /// A writable map without inner map.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapDescriptor {
            map_type,
            key_size,
            value_size,
            max_entries,
            inner: None,
            read_only: false,
        }
    }
}

impl MapDescriptor {
    /// Whether every check treats the two maps alike: same type, key and value sizes,
    /// writability and inner map. The number of entries matters to no check (keys of array
    /// maps are not bounds-checked by the verifier: a lookup out of range returns null).
    pub fn same_shape(&self, other: &MapDescriptor) -> bool {
        self.map_type == other.map_type
            && self.key_size == other.key_size
            && self.value_size == other.value_size
            && self.read_only == other.read_only
            && match (&self.inner, &other.inner) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same_shape(b),
                _ => false,
            }
    }
}

/// The maps of one verification: the caller's table, then inner maps.
#[derive(Clone, Debug, Default)]
pub struct MapTable {
    maps: Vec<MapDescriptor>,
    inner_of: Vec<Option<MapId>>,
    outer_count: usize,
}

impl MapTable {
    /// Flattens the descriptors (each inner map template gets its own id).
    pub fn new(maps: &[MapDescriptor]) -> MapTable {
        let mut table = MapTable {
            maps: maps.to_vec(),
            inner_of: vec![None; maps.len()],
            outer_count: maps.len(),
        };
        let mut next = 0;
        while next < table.maps.len() {
            if let Some(inner) = table.maps[next].inner.clone() {
                let id = table.maps.len() as MapId;
                table.maps.push(*inner);
                table.inner_of.push(None);
                table.inner_of[next] = Some(id);
            }
            next += 1;
        }
        table
    }

    /// The map a program references by index (`lddw` immediate). Maps of the same shape (see
    /// [`MapDescriptor::same_shape`]) are indistinguishable to every check, so they share one id (the first such map's):
    /// then a register holding one of several such maps (`m = c ? &a : &b`) keeps a map
    /// type across joins.
    pub fn by_index(&self, index: u64) -> Option<MapId> {
        if index >= self.outer_count as u64 {
            return None;
        }
        let map = &self.maps[index as usize];
        let first = self.maps[..self.outer_count]
            .iter()
            .position(|other| other.same_shape(map))
            .unwrap_or(index as usize);
        Some(first as MapId)
    }

    /// The descriptor of the map with this id.
    pub fn get(&self, id: MapId) -> Option<&MapDescriptor> {
        self.maps.get(id as usize)
    }

    /// The id of the inner map template of a map-in-map.
    pub fn inner(&self, id: MapId) -> Option<MapId> {
        self.inner_of.get(id as usize).copied().flatten()
    }

    /// The number of maps, inner map templates included.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there is no map.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_maps_get_their_own_ids() {
        let mut outer = MapDescriptor::new(MapType::ArrayOfMaps, 4, 4, 8);
        outer.inner = Some(Box::new(MapDescriptor::new(MapType::Hash, 8, 16, 100)));
        let table = MapTable::new(&[MapDescriptor::new(MapType::Array, 4, 8, 1), outer]);
        assert_eq!(table.by_index(1), Some(1));
        let twins = MapTable::new(&[
            MapDescriptor::new(MapType::Hash, 4, 8, 10),
            MapDescriptor::new(MapType::Hash, 4, 16, 10),
            MapDescriptor::new(MapType::Hash, 4, 8, 99),
        ]);
        assert_eq!(twins.by_index(2), Some(0), "same-shaped maps share an id");
        assert_eq!(twins.by_index(1), Some(1));
        assert_eq!(
            table.by_index(2),
            None,
            "inner maps are not referenced by index"
        );
        let inner = table.inner(1).unwrap();
        assert_eq!(table.get(inner).unwrap().value_size, 16);
        assert_eq!(MapType::from_linux(12), MapType::ArrayOfMaps);
    }
}
