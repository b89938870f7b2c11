use super::*;
use std::sync::Arc;

fn map(spec: MapSpec, cpus: usize) -> Map {
    Map::new(&spec, cpus, DEFAULT_MAX_MAP_BYTES).unwrap()
}

fn key(index: u32) -> [u8; 4] {
    index.to_le_bytes()
}

fn value_at(lookup: Option<Lookup>, len: usize) -> Vec<u8> {
    let Some(Lookup::Value(addr)) = lookup else {
        panic!("no value: {lookup:?}");
    };
    // SAFETY: the address comes from a live map's arena and `len` is its value size.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len).to_vec() }
}

#[test]
fn arrays_hand_out_stable_pointers_into_their_arena() {
    let array = map(MapSpec::new("a", MapType::Array, 4, 5, 3), 1);
    array.update(&key(1), &[1, 2, 3, 4, 5], BPF_ANY).unwrap();
    let first = array.lookup_for_program(&key(1)).unwrap();
    assert_eq!(value_at(first, 5), vec![1, 2, 3, 4, 5]);
    array.update(&key(1), &[9; 5], BPF_EXIST).unwrap();
    assert_eq!(array.lookup_for_program(&key(1)).unwrap(), first);
    assert_eq!(value_at(first, 5), vec![9; 5]);
    let region = array.region().unwrap();
    assert_eq!(region.len, 24, "values are 8-byte aligned");
    let Some(Lookup::Value(addr)) = first else {
        unreachable!()
    };
    assert!(region.allows(addr, 5, xbpf_isa::Access::Write));
    assert_eq!(array.lookup_for_program(&key(3)).unwrap(), None);
    assert_eq!(
        array.update(&key(0), &[0; 5], BPF_NOEXIST),
        Err(MapError::Exists)
    );
    assert!(array.delete(&key(0)).is_err());
    assert!(matches!(
        array.update(&key(0), &[0; 4], BPF_ANY),
        Err(MapError::WrongSize { .. })
    ));
    assert_eq!(array.entries().len(), 3);
}

#[test]
fn global_data_starts_with_its_initial_bytes_and_rodata_is_read_only() {
    let mut spec = MapSpec::new(".rodata", MapType::Array, 4, 4, 1);
    spec.initial_data = Some(vec![10, 0, 0, 0]);
    spec.flags = spec::F_RDONLY_PROG;
    let rodata = map(spec, 1);
    assert_eq!(rodata.lookup(&key(0)).unwrap(), vec![10, 0, 0, 0]);
    assert!(!rodata.region().unwrap().writable);
}

#[test]
fn per_cpu_maps_keep_a_copy_per_cpu() {
    let array = map(MapSpec::new("p", MapType::PercpuArray, 4, 4, 2), 3);
    array.update(&key(0), &[7, 0, 0, 0], BPF_ANY).unwrap();
    assert_eq!(
        array.lookup(&key(0)).unwrap(),
        [7, 0, 0, 0, 0, 0, 0, 0].repeat(3)
    );
    let lookup = array.lookup_for_program(&key(0)).unwrap();
    array
        .update_for_program(&key(0), &[8, 0, 0, 0], BPF_ANY)
        .unwrap();
    assert_eq!(value_at(lookup, 4), vec![8, 0, 0, 0]);
    let all = array.lookup(&key(0)).unwrap();
    assert_eq!(all.chunks(8).filter(|v| v[0] == 8).count(), 1, "{all:?}");
    let hash = map(MapSpec::new("h", MapType::PercpuHash, 2, 8, 4), 2);
    let both: Vec<u8> = (0..16).collect();
    hash.update(b"ab", &both, BPF_ANY).unwrap();
    assert_eq!(hash.lookup(b"ab").unwrap(), both);
}

#[test]
fn hash_maps_insert_update_delete_and_fill_up() {
    let hash = map(MapSpec::new("h", MapType::Hash, 2, 4, 2), 1);
    hash.update(b"k1", &[1, 0, 0, 0], BPF_ANY).unwrap();
    hash.update(b"k2", &[2, 0, 0, 0], BPF_NOEXIST).unwrap();
    assert_eq!(
        hash.update(b"k3", &[3, 0, 0, 0], BPF_ANY),
        Err(MapError::Full)
    );
    assert_eq!(hash.lookup(b"k2").unwrap(), vec![2, 0, 0, 0]);
    let pointer = hash.lookup_for_program(b"k1").unwrap();
    hash.delete(b"k1").unwrap();
    assert_eq!(hash.lookup_for_program(b"k1").unwrap(), None);
    hash.update(b"k3", &[3, 0, 0, 0], BPF_ANY).unwrap();
    assert_eq!(
        value_at(pointer, 4),
        vec![3, 0, 0, 0],
        "slot reused, memory still valid"
    );
    assert_eq!(
        hash.entries(),
        vec![
            (b"k2".to_vec(), vec![2, 0, 0, 0]),
            (b"k3".to_vec(), vec![3, 0, 0, 0])
        ]
    );
    assert_eq!(MapError::Full.errno(), -7);
}

#[test]
fn queues_are_fifo_and_stacks_lifo() {
    let queue = map(MapSpec::new("q", MapType::Queue, 0, 4, 2), 1);
    let stack = map(MapSpec::new("s", MapType::Stack, 0, 4, 2), 1);
    for m in [&queue, &stack] {
        m.push(&key(1), 0).unwrap();
        m.push(&key(2), 0).unwrap();
        assert_eq!(m.push(&key(3), 0), Err(MapError::Full));
        m.push(&key(3), BPF_EXIST).unwrap();
    }
    assert_eq!(queue.pop(false).unwrap(), key(2));
    assert_eq!(queue.pop(true).unwrap(), key(2));
    assert_eq!(queue.pop(true).unwrap(), key(3));
    assert_eq!(stack.pop(true).unwrap(), key(3));
    assert_eq!(stack.pop(true).unwrap(), key(2));
    assert_eq!(stack.pop(true), Err(MapError::NotFound));
}

#[test]
fn id_maps_hold_programs_and_inner_maps() {
    let programs = map(MapSpec::new("progs", MapType::ProgArray, 4, 4, 4), 1);
    programs.set_id(&key(2), 9, BPF_ANY).unwrap();
    assert_eq!(programs.id_at(&key(2)).unwrap(), Some(9));
    assert_eq!(programs.id_at(&key(7)).unwrap(), None);
    assert!(programs.lookup_for_program(&key(2)).is_err());
    let mut outer = MapSpec::new("outer", MapType::HashOfMaps, 4, 4, 1);
    outer.inner = Some(Box::new(MapSpec::new("inner", MapType::Array, 4, 4, 1)));
    let outer = map(outer, 1);
    outer.set_id(&key(5), 3, BPF_ANY).unwrap();
    assert_eq!(outer.set_id(&key(6), 4, BPF_ANY), Err(MapError::Full));
    assert_eq!(
        outer.lookup_for_program(&key(5)).unwrap(),
        Some(Lookup::InnerMap(3))
    );
    let no_inner = MapSpec::new("x", MapType::ArrayOfMaps, 4, 4, 1);
    assert!(Map::new(&no_inner, 1, DEFAULT_MAX_MAP_BYTES).is_err());
}

#[test]
fn oversized_and_unsupported_maps_are_refused() {
    let huge = MapSpec::new("huge", MapType::Array, 4, 1 << 20, 1 << 20);
    assert!(matches!(
        Map::new(&huge, 1, DEFAULT_MAX_MAP_BYTES),
        Err(MapError::TooLarge { .. })
    ));
    let trie = MapSpec::new("t", MapType::LpmTrie, 8, 4, 4);
    assert!(
        Map::new(
            &MapSpec::new("d", MapType::Devmap, 4, 2, 4),
            1,
            DEFAULT_MAX_MAP_BYTES
        )
        .is_err()
    );
    let error = Map::new(&trie, 1, DEFAULT_MAX_MAP_BYTES).unwrap_err();
    assert!(error.to_string().contains("lpm_trie"), "{error}");
}

#[test]
fn maps_are_shared_between_threads() {
    let registry = Arc::new(MapRegistry::new());
    let id = registry.insert(map(MapSpec::new("h", MapType::Hash, 4, 8, 1024), 1));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || {
                let map = registry.by_handle(handle_of(id)).unwrap();
                for i in 0..200u32 {
                    let k = (t * 1000 + i).to_le_bytes();
                    map.update(&k, &u64::from(i).to_le_bytes(), BPF_ANY)
                        .unwrap();
                    if i % 2 == 0 {
                        map.delete(&k).unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(registry.get(id).unwrap().entries().len(), 400);
    assert_eq!(registry.regions().len(), 1);
}

#[test]
fn redirect_maps_have_empty_entries_until_the_host_sets_them() {
    let devmap = map(MapSpec::new("tx", MapType::Devmap, 4, 4, 4), 1);
    assert!(!devmap.redirect_target(&key(1)));
    assert_eq!(devmap.lookup_for_program(&key(1)).unwrap(), None);
    devmap
        .update(&key(1), &7u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    assert!(devmap.redirect_target(&key(1)));
    assert!(devmap.lookup_for_program(&key(1)).unwrap().is_some());
    assert!(
        !devmap.region().unwrap().writable,
        "programs only read redirect maps"
    );
    devmap.delete(&key(1)).unwrap();
    assert!(!devmap.redirect_target(&key(1)));
}
