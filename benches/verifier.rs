//! Verifier time on real programs: every program of `../shared/verifier-corpus` that is
//! expected to pass and that the verifier accepts with the program type its section names (or a
//! generic 64-byte context for sections without one), verified one after the other.
//!
//! Benchmark id: `verify_corpus/all`, with the programs' total instruction count as throughput,
//! so `scripts/bench-report` reports time per 1,000 instructions.

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use support::clock::BenchClock;
use xbpf::elf::ElfObject;
use xbpf::isa::Program;
use xbpf::program_types::{RegsArch, for_section, map_descriptors};
use xbpf::verifier::{MapDescriptor, ProgramType, VerifierConfig, verify};

struct Case {
    program: Program,
    program_type: ProgramType,
    maps: Vec<MapDescriptor>,
}

/// The corpus programs expected to pass that the verifier accepts here.
fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/verifier-corpus");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).unwrap_or_else(|error| {
        panic!(
            "verifier corpus not found ({}: {error}); the shared folder must be beside the \
             repository",
            dir.display()
        )
    });
    let mut objects: HashMap<String, Option<ElfObject>> = HashMap::new();
    let mut cases = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [object, section, function, "pass", ..] = fields[..] else {
            continue;
        };
        let elf = objects.entry(object.to_string()).or_insert_with(|| {
            std::fs::read(dir.join(object))
                .ok()
                .and_then(|bytes| ElfObject::parse(&bytes).ok())
        });
        let Some(elf) = elf else { continue };
        let Some(elf_program) = elf.program(section, function) else {
            continue;
        };
        let Ok(program) = Program::new(elf_program.insns.clone()) else {
            continue;
        };
        let program_type =
            for_section(section, RegsArch::X86_64).unwrap_or_else(|| ProgramType::generic(64));
        let maps = map_descriptors(elf);
        if verify(&program, &program_type, &maps, &VerifierConfig::default()).is_ok() {
            cases.push(Case {
                program,
                program_type,
                maps,
            });
        }
    }
    assert!(!cases.is_empty(), "no corpus program verifies");
    cases
}

fn verifier(c: &mut Criterion<BenchClock>) {
    let cases = cases();
    let instructions: usize = cases.iter().map(|case| case.program.len()).sum();
    eprintln!(
        "verify_corpus: {} programs, {instructions} instructions",
        cases.len()
    );
    let config = VerifierConfig::default();
    let mut group = c.benchmark_group("verify_corpus");
    group.throughput(Throughput::Elements(instructions as u64));
    group.bench_function("all", |b| {
        b.iter(|| {
            for case in &cases {
                let report = verify(
                    black_box(&case.program),
                    &case.program_type,
                    &case.maps,
                    &config,
                );
                black_box(report.is_ok());
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = verifier
}
criterion_main!(benches);
