//! Run time of the eight workloads of `../shared/bench` on every engine of this build (with and
//! without runtime bounds checks), on rbpf's interpreter and JIT (x86-64 Unix only), and written
//! directly in Rust (the floor), all in the same run so their ratios are comparable.
//!
//! Benchmark ids: `WORKLOAD/ENGINE/checked`, `WORKLOAD/ENGINE/unchecked` (`ExecConfig::
//! bounds_checks`), `WORKLOAD/rbpf-interp`, `WORKLOAD/rbpf-jit`, `WORKLOAD/native`.
//! `scripts/bench-report` turns the results into docs/performance.md.
//!
//! Memory reset: every run gets a fresh copy of the workload's memory, made by criterion's
//! `iter_batched` setup, outside the timed part. For xbpf engines the setup also builds the
//! `RunInput`, so a timed iteration is exactly one `Executable::run`. Each routine hands the
//! memory back so that freeing it is not timed either, with r0 when the engine returns one:
//! every engine's result is unwrapped to r0 inside the routine, as rbpf's are. (Passing the
//! whole `Result` through `black_box` instead would copy it to the stack with wide loads that
//! straddle the engine's narrower stores of it, a store-forwarding stall of about 5 ns on AMD
//! Zen that no caller matching on the result pays.)

mod support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use support::clock::BenchClock;
use support::{OwnedInput, Workload};

fn bench_workload(c: &mut Criterion<BenchClock>, workload: &Workload) {
    support::check_executed_count(workload);
    let mut group = c.benchmark_group(&workload.name);
    for engine in xbpf::engines::all_engines() {
        for bounds_checks in [true, false] {
            let mut executable = support::prepare_checked(engine.as_ref(), workload, bounds_checks);
            let checks = if bounds_checks {
                "checked"
            } else {
                "unchecked"
            };
            group.bench_function(format!("{}/{checks}", engine.name()), |b| {
                b.iter_batched(
                    || Box::new(OwnedInput::new(&workload.memory)),
                    |owned| {
                        let r0 = executable.run(black_box(owned.input())).expect("xbpf run");
                        (r0, owned)
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    for (jit, id) in [(false, "rbpf-interp"), (true, "rbpf-jit")] {
        let vm = support::rbpf_peer::vm(workload, jit);
        group.bench_function(id, |b| {
            b.iter_batched(
                || workload.memory.clone(),
                |mut memory| {
                    (
                        support::rbpf_peer::run(&vm, jit, black_box(&mut memory)),
                        memory,
                    )
                },
                BatchSize::LargeInput,
            )
        });
    }

    let native = support::native::by_name(&workload.name)
        .unwrap_or_else(|| panic!("no native version of {}", workload.name));
    let mut memory = workload.memory.clone();
    assert_eq!(
        native(&mut memory),
        workload.r0,
        "{}: the native version returned the wrong r0",
        workload.name
    );
    group.bench_function("native", |b| {
        b.iter_batched(
            || workload.memory.clone(),
            |mut memory| {
                black_box(native(black_box(&mut memory)));
                memory
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn workloads(c: &mut Criterion<BenchClock>) {
    support::clock::record(&BenchClock::from_env());
    for workload in support::workloads() {
        bench_workload(c, &workload);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = workloads
}
criterion_main!(benches);
