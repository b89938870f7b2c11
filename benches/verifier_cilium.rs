//! Verifier speed on the largest real programs of the corpus (../shared/verifier-corpus),
//! one benchmark each: Cilium's biggest tail-call programs (with the program types the corpus
//! gives them: XDP for the bpf_xdp objects, tc for the others). The object is parsed once;
//! each iteration verifies the prepared program. (benches/verifier.rs times the whole corpus.)
//!
//! cargo bench --bench verifier_cilium

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::time::Duration;
use support::clock::BenchClock;
use xbpf::corpus;
use xbpf::elf::ElfObject;
use xbpf::verifier::VerifierConfig;

/// (object, section, function) of the programs measured.
const PROGRAMS: &[(&str, &str, &str)] = &[
    (
        "cilium/bpf_xdp_dsr_linux_v1_1.o",
        "2/15",
        "tail_nodeport_nat_ipv4",
    ),
    (
        "cilium/bpf_xdp_snat_linux.o",
        "2/16",
        "tail_nodeport_nat_ipv6",
    ),
    (
        "cilium/bpf_xdp_snat_linux.o",
        "2/24",
        "tail_handle_nat_fwd_ipv6",
    ),
    ("cilium/bpf_lxc.o", "2/10", "2/10"),
    ("cilium/bpf_lxc.o", "from-container", "from-container"),
    ("cilium/bpf_netdev.o", "from-netdev", "from-netdev"),
];

fn corpus_dir() -> &'static Path {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus"
    ));
    assert!(
        dir.join("expected.tsv").exists(),
        "the verifier corpus is missing: expected {}/expected.tsv",
        dir.display()
    );
    dir
}

fn largest_cilium_programs(c: &mut Criterion<BenchClock>) {
    let dir = corpus_dir();
    let config = VerifierConfig::default();
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for &(object, section, function) in PROGRAMS {
        let bytes = std::fs::read(dir.join(object)).expect("a corpus object");
        let elf = ElfObject::parse(&bytes).expect("the object loads");
        let program = elf
            .program(section, function)
            .unwrap_or_else(|| panic!("{object} has no {section}/{function}"));
        let prepared = corpus::prepare(&elf, object, program, None).expect("the program validates");
        let name = format!(
            "{}:{section}/{function} ({} insns)",
            object.trim_start_matches("cilium/"),
            prepared.program.len()
        );
        // Verdicts are part of what is measured: a rejection would cut the work short.
        prepared
            .verify(&config)
            .unwrap_or_else(|r| panic!("{name} is safe:\n{r}"));
        group.bench_function(name, |b| b.iter(|| prepared.verify(&config)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = largest_cilium_programs
}
criterion_main!(benches);
