//! The real-world verifier corpus (../shared/verifier-corpus/expected.tsv): every unsafe
//! program is rejected, every malformed object fails to load, every program PREVAIL accepts
//! is accepted, and the safe programs PREVAIL wrongly rejects stay accepted (at least the 50
//! proven so far; the patterns behind them are in verifier/tests/corpus_patterns.rs).

use std::path::Path;
use xbpf::corpus::{self, Expected, Verdict};
use xbpf::verifier::VerifierConfig;

#[test]
fn corpus_verdicts_meet_expectations() {
    let table = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus/expected.tsv"
    ));
    assert!(
        table.exists(),
        "the verifier corpus is missing: expected {}",
        table.display()
    );
    let rows = corpus::read_table(table).expect("the corpus table reads");
    assert_eq!(rows.len(), 336, "the corpus lists 336 programs");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = corpus::run_all(
        table.parent().unwrap(),
        &rows,
        &VerifierConfig::default(),
        threads,
        None,
    );
    let mut misses = Vec::new();
    let mut precise = 0;
    for result in &results {
        let describe = || {
            let why = match &result.verdict {
                Verdict::Accepted(_) => "accepted".to_string(),
                Verdict::Rejected(rejection) => rejection.to_string(),
                Verdict::LoadFailed(message) => message.clone(),
            };
            format!(
                "{} {}/{} ({}): {why}",
                result.row.object,
                result.row.section,
                result.row.function,
                result.row.expected.name()
            )
        };
        match result.row.expected {
            Expected::SafePrevailRejects => precise += usize::from(result.passed()),
            _ if !result.passed() => misses.push(describe()),
            _ => {}
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n\n"));
    assert!(
        precise >= 50,
        "only {precise} of the 64 safe programs PREVAIL rejects are accepted"
    );
}

#[test]
fn bpf_elf_map_outer_maps_find_their_inner_template_by_id() {
    // Cilium's maglev hash-of-maps names its 4078-byte inner array by inner_id; reading
    // inner_idx instead gave it the first map of the section (28-byte values).
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus/cilium/bpf_xdp_snat_linux.o"
    ));
    let bytes = std::fs::read(path).expect("the verifier corpus");
    let object = xbpf::elf::ElfObject::parse(&bytes).expect("the object loads");
    for name in ["cilium_lb4_maglev", "cilium_lb6_maglev"] {
        let outer = object
            .maps()
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is a map of the object"));
        let inner = outer.inner.as_deref().expect("an inner map template");
        assert_eq!(inner.value_size, 4078, "{name}");
    }
}
