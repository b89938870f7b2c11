//! Concurrency stress: many threads run programs through one [`Runtime`] (the interpreter, the
//! JIT, the JIT with constant blinding), all updating the same maps, while the host reads,
//! updates and deletes map elements at the same time. Checks:
//!
//! - no lost updates: every run takes a ticket with a 64-bit `lock fetch add` on an array
//!   value, and the tickets of all runs are exactly 0..runs, each once; a 32-bit `lock add`
//!   and a `lock cmpxchg` retry loop on other counters both end at exactly the number of runs;
//! - hash map integrity under concurrent program updates and deletes and host updates and
//!   deletes: every element left holds a value written for its own key (programs') or the
//!   host's last write (host keys);
//! - no crash, no error from any run.
//!
//! Under Miri only the interpreter runs (generated code cannot be interpreted), with fewer
//! threads and runs.

use std::collections::HashMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use xbpf::isa::Engine;
use xbpf::maps::{BPF_ANY, MapId, MapSpec, MapType};
use xbpf::runtime::Runtime;

#[cfg(not(miri))]
const THREADS: u64 = 8;
#[cfg(miri)]
const THREADS: u64 = 3;

#[cfg(not(miri))]
const RUNS_PER_THREAD: u64 = 20_000;
#[cfg(miri)]
const RUNS_PER_THREAD: u64 = 12;

/// Keys each thread's runs update (key = thread * KEYS_PER_THREAD + run % KEYS_PER_THREAD).
const KEYS_PER_THREAD: u64 = 4;
/// Keys only the host writes, above every program key.
const HOST_KEYS: std::ops::Range<u32> = 1000..1016;

/// r1 points to the context: key (u32), delete flag (u32), value (u64).
///
/// 1. counters[0]: ticket = lock fetch add 1 at +0 (64-bit); lock add32 1 at +8.
/// 2. counters[1]: +1 by a cmpxchg loop at +0.
/// 3. latest[key] = value (bpf_map_update_elem); then, if the delete flag is set,
///    bpf_map_delete_elem(latest, key).
///
/// Returns the ticket, or -1 when a lookup finds nothing, -2 when the update fails.
const PROGRAM: &str = "
    mov %r6, %r1
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_by_index 0
    call 1
    jeq %r0, 0, missing
    mov %r7, 1
    lock fetch add [%r0], %r7
    mov %r1, 1
    lock add32 [%r0+8], %r1
    stw [%r10-4], 1
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_by_index 0
    call 1
    jeq %r0, 0, missing
    mov %r8, %r0
retry:
    ldxdw %r1, [%r8]
    mov %r0, %r1
    mov %r9, %r1
    add %r9, 1
    lock cmpxchg [%r8], %r9
    jne %r0, %r1, retry
    ldxw %r1, [%r6]
    stxw [%r10-8], %r1
    ldxdw %r1, [%r6+8]
    stxdw [%r10-16], %r1
    lddw %r1, map_by_index 1
    mov %r2, %r10
    add %r2, -8
    mov %r3, %r10
    add %r3, -16
    mov %r4, 0
    call 2
    jne %r0, 0, full
    ldxw %r1, [%r6+4]
    jeq %r1, 0, done
    lddw %r1, map_by_index 1
    mov %r2, %r10
    add %r2, -8
    call 3
done:
    mov %r0, %r7
    exit
missing:
    mov %r0, -1
    exit
full:
    mov %r0, -2
    exit
";

struct Maps {
    counters: MapId,
    latest: MapId,
}

fn create_maps(runtime: &Runtime) -> Maps {
    let counters = runtime
        .create_map(&MapSpec::new("counters", MapType::Array, 4, 16, 2))
        .unwrap();
    let latest = runtime
        .create_map(&MapSpec::new("latest", MapType::Hash, 4, 8, 64))
        .unwrap();
    Maps { counters, latest }
}

fn context(key: u32, delete: bool, value: u64) -> [u8; 16] {
    let mut ctx = [0u8; 16];
    ctx[..4].copy_from_slice(&key.to_le_bytes());
    ctx[4..8].copy_from_slice(&u32::from(delete).to_le_bytes());
    ctx[8..].copy_from_slice(&value.to_le_bytes());
    ctx
}

/// One worker: its own copy of the program (a prepared program runs on one thread at a time),
/// `RUNS_PER_THREAD` runs; returns the tickets it got.
fn worker(runtime: &Runtime, maps: &Maps, thread: u64, start: &Barrier) -> Vec<u64> {
    let program = runtime
        .load_asm(PROGRAM, &[maps.counters, maps.latest])
        .unwrap();
    start.wait();
    (0..RUNS_PER_THREAD)
        .map(|run| {
            let key = (thread * KEYS_PER_THREAD + run % KEYS_PER_THREAD) as u32;
            let mut ctx = context(key, run.is_multiple_of(3), thread << 32 | run);
            let ticket = runtime.run(program, &mut ctx).unwrap();
            assert!(
                ticket < THREADS * RUNS_PER_THREAD,
                "thread {thread} run {run}: r0 = {ticket:#x}"
            );
            ticket
        })
        .collect()
}

/// The host, while workers run: reads both maps, writes and deletes its own keys, deletes
/// program keys. Returns the last value it wrote to each host key still present.
fn host(
    runtime: &Runtime,
    maps: &Maps,
    running: &AtomicBool,
    start: &Barrier,
) -> HashMap<u32, u64> {
    let counters = runtime.map(maps.counters).unwrap();
    let latest = runtime.map(maps.latest).unwrap();
    let mut written = HashMap::new();
    start.wait();
    let mut round = 0u64;
    while running.load(Ordering::Acquire) || round < 4 {
        round += 1;
        for key in [0u32, 1] {
            assert_eq!(counters.lookup(&key.to_le_bytes()).unwrap().len(), 16);
        }
        for (key, value) in latest.entries() {
            assert_eq!((key.len(), value.len()), (4, 8));
        }
        let host_key = HOST_KEYS.start + (round % HOST_KEYS.len() as u64) as u32;
        if round.is_multiple_of(5) {
            let _ = latest.delete(&host_key.to_le_bytes());
            written.remove(&host_key);
        } else {
            let value = round << 8 | u64::from(host_key - HOST_KEYS.start);
            latest
                .update(&host_key.to_le_bytes(), &value.to_le_bytes(), BPF_ANY)
                .unwrap();
            written.insert(host_key, value);
        }
        // A program key, while programs update and delete it.
        let program_key = (round % (THREADS * KEYS_PER_THREAD)) as u32;
        let _ = latest.delete(&program_key.to_le_bytes());
        std::thread::yield_now();
    }
    written
}

fn stress(engine: Box<dyn Engine>) {
    let runtime = Runtime::new(engine);
    let maps = create_maps(&runtime);
    let running = AtomicBool::new(true);
    // Everyone starts at once, after the workers prepared their programs.
    let start = Barrier::new(THREADS as usize + 1);
    let (tickets, host_writes) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (runtime, maps, start) = (&runtime, &maps, &start);
                scope.spawn(move || worker(runtime, maps, thread, start))
            })
            .collect();
        let host = scope.spawn(|| host(&runtime, &maps, &running, &start));
        let tickets: Vec<u64> = workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect();
        running.store(false, Ordering::Release);
        (tickets, host.join().unwrap())
    });

    let runs = THREADS * RUNS_PER_THREAD;
    let mut sorted = tickets;
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..runs),
        "tickets are not 0..{runs}, each once"
    );
    let counters = runtime.map(maps.counters).unwrap();
    let slot = |key: u32| counters.lookup(&key.to_le_bytes()).unwrap();
    let first = slot(0);
    assert_eq!(
        u64::from_le_bytes(first[..8].try_into().unwrap()),
        runs,
        "fetch add"
    );
    assert_eq!(
        u32::from_le_bytes(first[8..12].try_into().unwrap()),
        runs as u32,
        "add32"
    );
    assert_eq!(
        u64::from_le_bytes(slot(1)[..8].try_into().unwrap()),
        runs,
        "cmpxchg loop"
    );

    let latest = runtime.map(maps.latest).unwrap();
    for (key, value) in latest.entries() {
        let key = u32::from_le_bytes(key.try_into().unwrap());
        let value = u64::from_le_bytes(value.try_into().unwrap());
        if HOST_KEYS.contains(&key) {
            assert_eq!(Some(&value), host_writes.get(&key), "host key {key}");
        } else {
            // written by thread `value >> 32` in run `value as u32`, for exactly this key
            let (thread, run) = (value >> 32, value & 0xffff_ffff);
            assert!(
                thread < THREADS && run < RUNS_PER_THREAD,
                "key {key}: {value:#x}"
            );
            assert_eq!(
                u64::from(key),
                thread * KEYS_PER_THREAD + run % KEYS_PER_THREAD,
                "key {key} holds a value written for another key: {value:#x}"
            );
        }
    }
    for key in host_writes.keys() {
        assert!(
            latest.lookup(&key.to_le_bytes()).is_ok(),
            "host key {key} lost"
        );
    }
}

#[test]
fn interpreter_runs_keep_shared_maps_consistent() {
    stress(Box::new(xbpf::interp::Interpreter));
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[cfg_attr(miri, ignore = "Miri cannot run generated code")]
#[test]
fn jit_runs_keep_shared_maps_consistent() {
    stress(Box::new(xbpf::jit::Jit::new()));
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[cfg_attr(miri, ignore = "Miri cannot run generated code")]
#[test]
fn blinded_jit_runs_keep_shared_maps_consistent() {
    stress(Box::new(xbpf::jit::Jit::new().with_constant_blinding(true)));
}
