use super::*;
use crate::maps::{DEFAULT_MAX_MAP_BYTES, MapSpec};

fn env() -> (HelperEnv, HelperTable) {
    let env = HelperEnv {
        maps: Arc::new(MapRegistry::new()),
        host: Arc::new(HostInfo::new(2)),
        callbacks: Weak::new(),
    };
    let mut table = HelperTable::new();
    register_linux_helpers(&mut table, &env);
    (env, table)
}

#[test]
fn csum_diff_sums_negated_old_and_new_words() {
    let (_, table) = env();
    let mut data = [0u8; 8];
    data[..4].copy_from_slice(&0x0000_0001u32.to_le_bytes());
    data[4..].copy_from_slice(&0x0000_0003u32.to_le_bytes());
    let mut input = RunInput::empty();
    let region = input.add_memory(&mut data);
    let memory = MemoryMap::new(input.regions().to_vec());
    let args = [region.start, 4, region.start + 4, 4, 0];
    // !1 + 3 = 0xffff_fffe + 3 = 0x1_0000_0001 -> folded 2
    assert_eq!(
        table.call(u64::from(id::CSUM_DIFF), &memory, args, 0),
        Ok(2)
    );
    let bad = [region.start, 3, region.start, 4, 0];
    assert_eq!(
        table.call(u64::from(id::CSUM_DIFF), &memory, bad, 0),
        Ok(EINVAL as u64)
    );
}

#[test]
fn helpers_reject_values_that_are_not_map_handles() {
    let (_, table) = env();
    let error = table
        .call(
            u64::from(id::MAP_LOOKUP_ELEM),
            &MemoryMap::default(),
            [0x1234, 0, 0, 0, 0],
            3,
        )
        .unwrap_err();
    assert!(error.to_string().contains("is not a map"), "{error}");
}

#[test]
fn ring_buffer_submit_needs_a_reserved_record() {
    let (env, table) = env();
    let ring = Map::new(
        &MapSpec::new("rb", MapType::Ringbuf, 0, 0, 64),
        1,
        DEFAULT_MAX_MAP_BYTES,
    )
    .unwrap();
    let handle = handle_of(env.maps.insert(ring));
    let memory = MemoryMap::default();
    let addr = table
        .call(
            u64::from(id::RINGBUF_RESERVE),
            &memory,
            [handle, 8, 0, 0, 0],
            0,
        )
        .unwrap();
    assert_ne!(addr, 0);
    let submit = u64::from(id::RINGBUF_SUBMIT);
    assert_eq!(table.call(submit, &memory, [addr, 0, 0, 0, 0], 1), Ok(0));
    assert!(table.call(submit, &memory, [addr, 0, 0, 0, 0], 2).is_err());
    assert_eq!(
        table.call(
            u64::from(id::RINGBUF_QUERY),
            &memory,
            [handle, 1, 0, 0, 0],
            3
        ),
        Ok(64)
    );
}

#[test]
fn comm_is_truncated_and_nul_terminated() {
    let (_, table) = env();
    let mut buffer = [0xffu8; 4];
    let mut input = RunInput::empty();
    let region = input.add_memory(&mut buffer);
    let memory = MemoryMap::new(input.regions().to_vec());
    let call = table.call(
        u64::from(id::GET_CURRENT_COMM),
        &memory,
        [region.start, 4, 0, 0, 0],
        0,
    );
    assert_eq!(call, Ok(0));
    assert_eq!(buffer, *b"xbp\0");
}

#[test]
fn probe_reads_refuse_unwritable_destinations_before_allocating() {
    let (_, table) = env();
    // a 4 GiB read into nowhere fails as a memory fault, without zeroing 4 GiB first
    let error = table
        .call(
            u64::from(id::PROBE_READ),
            &MemoryMap::default(),
            [0x1000, u64::from(u32::MAX), 0, 0, 0],
            4,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("outside every region"),
        "{error}"
    );
}
