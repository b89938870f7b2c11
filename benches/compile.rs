//! Preparation time: how long each engine takes to turn a program into something it can run
//! (for a JIT, compile time), beside rbpf's JIT compiler.
//!
//! Two programs: `switch`, the largest workload (274 instructions), and `large`, the eight
//! workloads' bytecode concatenated over and over until it has at least `LARGE_LEN`
//! instructions (real compiler output, every piece keeping its relative jumps valid). rbpf's JIT
//! writes into one 4 KiB page of code, which `large` does not fit, so rbpf is measured on
//! `switch` only. Each group's throughput is its program's length, so `scripts/bench-report`
//! reports time per 1,000 instructions.
//!
//! Benchmark ids: `compile_switch/ENGINE`, `compile_large/ENGINE` (`Engine::prepare` with
//! bounds checks on; for the interpreter, its pre-decoding) and `compile_switch/rbpf-jit`
//! (`EbpfVmRaw::jit_compile`).

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use support::clock::BenchClock;
use xbpf::isa::{ExecConfig, Program};

const LARGE_LEN: usize = 10_000;

/// The workloads' bytecode repeated to at least `LARGE_LEN` instructions.
fn large_bytecode(workloads: &[support::Workload]) -> Vec<u8> {
    let mut bytecode = Vec::new();
    while bytecode.len() / 8 < LARGE_LEN {
        for workload in workloads {
            bytecode.extend_from_slice(&workload.bytecode);
        }
    }
    bytecode
}

fn bench_program(c: &mut Criterion<BenchClock>, name: &str, bytecode: &[u8], with_rbpf: bool) {
    let program = Program::from_bytes(bytecode).expect("the program is valid");
    let config = ExecConfig::default();
    let mut group = c.benchmark_group(format!("compile_{name}"));
    group.throughput(Throughput::Elements(program.len() as u64));
    for engine in xbpf::engines::all_engines() {
        engine
            .prepare(&program, &config)
            .unwrap_or_else(|error| panic!("{} cannot prepare {name}: {error}", engine.name()));
        group.bench_function(engine.name(), |b| {
            b.iter(|| engine.prepare(black_box(&program), &config))
        });
    }

    #[cfg(all(target_arch = "x86_64", unix))]
    if with_rbpf {
        let mut vm = rbpf::EbpfVmRaw::new(Some(bytecode)).expect("rbpf accepts the program");
        group.bench_function("rbpf-jit", |b| {
            b.iter(|| vm.jit_compile().expect("rbpf compiles the program"))
        });
    }
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    let _ = with_rbpf;
    group.finish();
}

fn compile(c: &mut Criterion<BenchClock>) {
    let workloads = support::workloads();
    let switch = workloads
        .iter()
        .find(|workload| workload.name == "switch")
        .expect("the switch workload");
    bench_program(c, "switch", &switch.bytecode, true);
    bench_program(c, "large", &large_bytecode(&workloads), false);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = compile
}
criterion_main!(benches);
