//! Every file of the bpf_conformance suite parses, assembles to the golden bytes of
//! manifest.tsv, and has the manifest's memory size, result and classification.

use std::path::{Path, PathBuf};
use xbpf_conformance::classify::{CpuVersion, classify};
use xbpf_conformance::data::parse;

fn shared() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    assert!(
        path.join("manifest.tsv").is_file(),
        "bpf_conformance data expected at {} (../shared beside the repository)",
        path.display()
    );
    path
}

#[test]
fn every_suite_file_matches_the_manifest() {
    let shared = shared();
    let manifest = std::fs::read_to_string(shared.join("manifest.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines() {
        if line.starts_with('#') || line.starts_with("file\t") {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let [
            name,
            min_cpu,
            groups,
            _slots,
            mem_bytes,
            expected,
            _features,
            program_hex,
        ] = columns[..]
        else {
            panic!("manifest row has {} columns: {line}", columns.len());
        };
        let text = std::fs::read_to_string(shared.join("tests").join(name)).unwrap();
        let file = parse(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
        let slots = match (&file.raw, &file.asm) {
            (Some(raw), _) => raw.clone(),
            (None, Some(asm)) => {
                xbpf_isa::assemble(asm).unwrap_or_else(|error| panic!("{name}: {error}"))
            }
            (None, None) => panic!("{name}: no program"),
        };
        let bytes = xbpf_isa::insn::slots_to_bytes(&slots);
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, program_hex, "{name}: assembled bytes");
        assert_eq!(
            file.mem.len(),
            mem_bytes.parse::<usize>().unwrap(),
            "{name}: memory"
        );
        let expected = u64::from_str_radix(expected.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(file.result, Some(expected), "{name}: result");
        let requirements = classify(&slots);
        assert_eq!(
            requirements.version,
            min_cpu.parse::<CpuVersion>().unwrap(),
            "{name}: CPU version"
        );
        let mut names: Vec<String> = requirements.groups.iter().map(|g| g.to_string()).collect();
        let mut listed: Vec<&str> = groups.split(',').collect();
        names.sort();
        listed.sort();
        assert_eq!(names, listed, "{name}: groups");
        checked += 1;
    }
    assert_eq!(checked, 313);
}
