//! Helper-call and map-operation cost through the runtime, on every engine: loops of
//! `ITERATIONS` iterations whose body is one helper call (or nothing, the baseline), run with
//! `Runtime::run`. The group's throughput is the iteration count, so `scripts/bench-report`
//! reports time per iteration; minus the `empty` loop's, that is the cost of one call.
//!
//! Benchmark ids: `runtime_ENGINE/empty`, `/helper` (`bpf_get_numa_node_id`: a helper that
//! returns 0, so pure call overhead), `/array_lookup` (`bpf_map_lookup_elem` on an array map),
//! `/hash_lookup` (on a hash map holding the key), `/hash_update` (`bpf_map_update_elem` of one
//! key of a hash map, which replaces its value).

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use support::clock::BenchClock;
use xbpf::helpers::id;
use xbpf::maps::{MapSpec, MapType};
use xbpf::runtime::Runtime;

const ITERATIONS: u32 = 1000;

/// A loop of `ITERATIONS` iterations of `body` (r6 counts; r7 holds the map; a 4-byte key 7 at
/// r10-4 and an 8-byte value at r10-16), then `exit` with r0 = 0.
fn looped(body: &str) -> String {
    format!(
        "mov %r6, 0\nstw [%r10-4], 7\nstdw [%r10-16], 1\nlddw %r7, map_by_index 0\n\
         L:\n{body}\nadd %r6, 1\njlt %r6, {ITERATIONS}, L\nmov %r0, 0\nexit\n"
    )
}

fn lookup() -> String {
    format!(
        "mov %r1, %r7\nmov %r2, %r10\nadd %r2, -4\ncall {}",
        id::MAP_LOOKUP_ELEM
    )
}

fn update() -> String {
    format!(
        "mov %r1, %r7\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 0\n\
         call {}",
        id::MAP_UPDATE_ELEM
    )
}

fn programs() -> Vec<(&'static str, MapType, String)> {
    vec![
        ("empty", MapType::Array, looped("")),
        (
            "helper",
            MapType::Array,
            looped(&format!("call {}", id::GET_NUMA_NODE_ID)),
        ),
        ("array_lookup", MapType::Array, looped(&lookup())),
        ("hash_lookup", MapType::Hash, looped(&lookup())),
        ("hash_update", MapType::Hash, looped(&update())),
    ]
}

fn runtime(c: &mut Criterion<BenchClock>) {
    for engine in xbpf::engines::all_engines() {
        let name = engine.name();
        let runtime = Runtime::new(engine);
        let mut group = c.benchmark_group(format!("runtime_{name}"));
        group.throughput(Throughput::Elements(u64::from(ITERATIONS)));
        for (bench, map_type, source) in programs() {
            let map = runtime
                .create_map(&MapSpec::new(bench, map_type, 4, 8, 64))
                .expect("creates the map");
            // key 7 is in the map, so lookups find it
            let fill = runtime
                .load_asm(&looped(&update()), &[map])
                .expect("loads the program that fills the map");
            runtime.run(fill, &mut []).expect("fills the map");
            let program = runtime
                .load_asm(&source, &[map])
                .unwrap_or_else(|error| panic!("{bench} on {name}: {error}"));
            assert_eq!(runtime.run(program, &mut []).expect("runs"), 0, "{bench}");
            group.bench_function(bench, |b| {
                b.iter(|| black_box(runtime.run(program, &mut [])))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = runtime
}
criterion_main!(benches);
