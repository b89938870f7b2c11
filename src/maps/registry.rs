//! The maps of a runtime, by id. Programs refer to a map by an opaque handle (what a `lddw` map
//! reference resolves to): an address in the upper half of the address space, where no host
//! user memory lives, so even an unverified program that dereferences it hits the bounds
//! checks. Helpers turn handles back into maps here and reject anything else.

use super::map::Map;
use std::sync::{Arc, RwLock};
use xbpf_isa::Region;

/// A map's id in its registry (1-based, never reused while the registry lives).
pub type MapId = u32;

const HANDLE_BASE: u64 = 0xffff_a000_0000_0000;
const HANDLE_SHIFT: u32 = 4;

/// The handle programs use for map `id`.
pub fn handle_of(id: MapId) -> u64 {
    HANDLE_BASE | (u64::from(id) << HANDLE_SHIFT)
}

/// The id a handle names, if it is well-formed.
pub fn id_of_handle(handle: u64) -> Option<MapId> {
    let offset = handle.checked_sub(HANDLE_BASE)?;
    if offset & ((1 << HANDLE_SHIFT) - 1) != 0 {
        return None;
    }
    MapId::try_from(offset >> HANDLE_SHIFT).ok()
}

/// Maps by id, shared by the host and every helper.
#[derive(Debug, Default)]
pub struct MapRegistry {
    maps: RwLock<Vec<Arc<Map>>>,
}

impl MapRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        MapRegistry::default()
    }

    /// Adds a map; returns its id.
    pub fn insert(&self, map: Map) -> MapId {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        maps.push(Arc::new(map));
        maps.len() as MapId
    }

    /// The map with this id.
    pub fn get(&self, id: MapId) -> Option<Arc<Map>> {
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.get((id as usize).checked_sub(1)?).cloned()
    }

    /// The map a program handle names.
    pub fn by_handle(&self, handle: u64) -> Option<Arc<Map>> {
        self.get(id_of_handle(handle)?)
    }

    /// Number of maps.
    pub fn len(&self) -> usize {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there is no map.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory of every map, for the regions of a run.
    pub fn regions(&self) -> Vec<Region> {
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.iter().filter_map(|map| map.region()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_reject_garbage() {
        assert_eq!(id_of_handle(handle_of(7)), Some(7));
        assert_eq!(id_of_handle(handle_of(7) + 1), None);
        assert_eq!(id_of_handle(0x1000), None);
        assert_eq!(MapRegistry::new().by_handle(handle_of(1)).map(|_| ()), None);
    }
}
