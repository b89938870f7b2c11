//! Limits of the embedding runtime (`xbpf::runtime::Runtime`) a host can rely on, on every
//! engine of this build: the size of one map and of all maps together, the length of a tail-call
//! chain, and fuel and a wall-clock deadline through `RuntimeConfig`. After each stop the runtime keeps working.
//!
//! (`tests/limits.rs` covers the engine-level limits: fuel, program size, call depth,
//! interrupts.)

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use xbpf::engines::all_engines;
use xbpf::helpers::tail_call::MAX_TAIL_CALLS;
use xbpf::isa::ExecError;
use xbpf::isa::exec::Interrupt;
use xbpf::maps::{MapError, MapSpec, MapType};
use xbpf::runtime::{Runtime, RuntimeConfig, RuntimeError};

fn runtimes(config: &RuntimeConfig) -> Vec<(&'static str, Runtime)> {
    all_engines()
        .into_iter()
        .map(|engine| (engine.name(), Runtime::with_config(engine, config.clone())))
        .collect()
}

#[test]
fn maps_larger_than_the_limit_are_refused() {
    let config = RuntimeConfig {
        max_map_bytes: 1 << 20,
        ..RuntimeConfig::default()
    };
    for (engine, runtime) in runtimes(&config) {
        // 2048 values of 1 KiB: 2 MiB
        for map_type in [MapType::Array, MapType::Hash, MapType::PercpuArray] {
            let spec = MapSpec::new("big", map_type, 4, 1024, 2048);
            match runtime.create_map(&spec) {
                Err(RuntimeError::Map {
                    source: MapError::TooLarge { limit, .. },
                    ..
                }) => assert_eq!(limit, 1 << 20, "{engine}: {map_type:?}"),
                other => panic!("{engine}: {map_type:?}: {:?}", other.map(|_| ())),
            }
        }
        // Absurd declarations (4 GiB entries) are refused, not allocated.
        let spec = MapSpec::new("absurd", MapType::Hash, 64, 1 << 20, u32::MAX);
        assert!(runtime.create_map(&spec).is_err(), "{engine}");
        // Maps within the limit are still created.
        let spec = MapSpec::new("small", MapType::Array, 4, 1024, 512);
        assert!(runtime.create_map(&spec).is_ok(), "{engine}");
    }
}

#[test]
fn maps_together_stay_within_the_total_limit() {
    let config = RuntimeConfig {
        max_total_map_bytes: 3 << 20,
        ..RuntimeConfig::default()
    };
    for (engine, runtime) in runtimes(&config) {
        // 1 MiB of values plus 4-byte keys each: two fit, the third does not.
        let spec = |name: &str| MapSpec::new(name, MapType::Hash, 4, 1024, 1024);
        let first = runtime.create_map(&spec("first")).unwrap();
        runtime.create_map(&spec("second")).unwrap();
        let in_use = runtime.map_bytes();
        assert_eq!(in_use, 2 * 1024 * (1024 + 4), "{engine}");
        match runtime.create_map(&spec("third")) {
            Err(RuntimeError::Map {
                source:
                    MapError::TotalTooLarge {
                        in_use: reported,
                        limit,
                        ..
                    },
                ..
            }) => {
                assert_eq!((reported, limit), (in_use, 3 << 20), "{engine}");
            }
            other => panic!("{engine}: {:?}", other.map(|_| ())),
        }
        // A refused map charges nothing; a smaller one still fits, and the maps created
        // before keep working.
        assert_eq!(runtime.map_bytes(), in_use, "{engine}");
        let small = MapSpec::new("small", MapType::Array, 4, 8, 16);
        runtime.create_map(&small).unwrap();
        let map = runtime.map(first).unwrap();
        map.update(&7u32.to_le_bytes(), &[1; 1024], 0).unwrap();
        assert_eq!(
            map.lookup(&7u32.to_le_bytes()).unwrap(),
            vec![1; 1024],
            "{engine}"
        );
        // Per-CPU maps are charged once per CPU.
        let percpu = MapSpec::new("percpu", MapType::PercpuArray, 4, 1 << 16, 8);
        let cpus = runtime.config().cpus as u64;
        if 8 * (4 + (1 << 16) * cpus) + runtime.map_bytes() > 3 << 20 {
            assert!(runtime.create_map(&percpu).is_err(), "{engine}");
        } else {
            runtime.create_map(&percpu).unwrap();
        }
    }
}

/// Counts its runs in map 1 (an array of one u64), then tail-calls slot 0 of map 0, which
/// holds the program itself; when the tail call fails, returns 7.
const SELF_TAIL_CALL: &str = "
    mov %r6, %r1
    stw [%r10-4], 0
    lddw %r1, map_by_fd 1
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, +2
    mov %r1, 1
    lock add [%r0], %r1
    mov %r1, %r6
    lddw %r2, map_by_fd 0
    mov %r3, 0
    call 12
    mov %r0, 7
    exit
";

#[test]
fn tail_call_chains_stop_after_the_limit() {
    for fuel in [None, Some(100)] {
        let config = RuntimeConfig {
            fuel,
            ..RuntimeConfig::default()
        };
        for (engine, runtime) in runtimes(&config) {
            let programs = runtime
                .create_map(&MapSpec::new("programs", MapType::ProgArray, 4, 4, 1))
                .unwrap();
            let counter = runtime
                .create_map(&MapSpec::new("runs", MapType::Array, 4, 8, 1))
                .unwrap();
            let program = runtime
                .load_asm(SELF_TAIL_CALL, &[programs, counter])
                .unwrap_or_else(|error| panic!("{engine}: {error}"));
            runtime.set_program_slot(programs, 0, program).unwrap();
            let runs = || {
                let value = runtime
                    .map(counter)
                    .unwrap()
                    .lookup(&0u32.to_le_bytes())
                    .unwrap();
                u64::from_le_bytes(value.try_into().unwrap())
            };
            let mut ctx = [0u8; 8];
            // The first run and MAX_TAIL_CALLS tail calls, then the failed one falls through.
            assert_eq!(
                runtime.run(program, &mut ctx).unwrap(),
                7,
                "{engine}, fuel {fuel:?}"
            );
            let chain = u64::from(MAX_TAIL_CALLS) + 1;
            assert_eq!(runs(), chain, "{engine}, fuel {fuel:?}");
            // The count is per top-level run: the next run gets a whole chain again.
            assert_eq!(runtime.run(program, &mut ctx).unwrap(), 7);
            assert_eq!(runs(), 2 * chain, "{engine}, fuel {fuel:?}");
        }
    }
}

const ENDLESS: &str = "mov %r0, 0\nloop:\nadd %r0, 1\nja loop";
const COUNT_TO_100: &str = "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 100, loop\nexit";

#[test]
fn runtime_fuel_stops_endless_programs() {
    let config = RuntimeConfig {
        fuel: Some(10_000),
        ..RuntimeConfig::default()
    };
    for (engine, runtime) in runtimes(&config) {
        let endless = runtime.load_asm(ENDLESS, &[]).unwrap();
        let result = runtime.run(endless, &mut []);
        assert!(
            matches!(result, Err(RuntimeError::Exec(ExecError::OutOfFuel { .. }))),
            "{engine}: {result:?}"
        );
        let bounded = runtime.load_asm(COUNT_TO_100, &[]).unwrap();
        assert_eq!(runtime.run(bounded, &mut []).unwrap(), 100, "{engine}");
    }
}

#[test]
fn a_runtime_deadline_stops_endless_programs() {
    let interrupt = Interrupt::new();
    let config = RuntimeConfig {
        interrupt: Some(interrupt.clone()),
        ..RuntimeConfig::default()
    };
    for (engine, runtime) in runtimes(&config) {
        interrupt.reset();
        let endless = runtime.load_asm(ENDLESS, &[]).unwrap();
        let bounded = runtime.load_asm(COUNT_TO_100, &[]).unwrap();
        let (done, finished) = mpsc::channel();
        let runtime = std::sync::Arc::new(runtime);
        let running = std::sync::Arc::clone(&runtime);
        thread::spawn(move || {
            let _ = done.send(running.run(endless, &mut []).map_err(|e| e.to_string()));
        });
        thread::sleep(Duration::from_millis(50));
        interrupt.trigger();
        let result = finished
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{engine}: the deadline did not stop the run"));
        let expected = "interrupted by the host";
        assert!(
            matches!(&result, Err(message) if message.contains(expected)),
            "{engine}: {result:?}"
        );
        interrupt.reset();
        assert_eq!(runtime.run(bounded, &mut []).unwrap(), 100, "{engine}");
    }
}
