//! Every fuzz target on the shared test data, on stable Rust (`cargo test` in fuzz/): the
//! bpf_conformance programs and files, and the verifier corpus's ELF objects. The fuzzers
//! start from the same inputs (fuzz/seeds.py), so this catches a target that fails on its
//! seeds before a campaign starts.

use std::path::PathBuf;
use xbpf_fuzz::targets;

fn shared() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    assert!(
        dir.join("conformance/manifest.tsv").is_file(),
        "the shared test data is missing: {} (it must sit beside the repository)",
        dir.display()
    );
    dir
}

/// (file, program bytes) of every conformance test.
fn conformance_programs() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(shared().join("conformance/manifest.tsv")).unwrap();
    let mut lines = text.lines().filter(|line| !line.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = |name| header.iter().position(|h| *h == name).unwrap();
    let (file, hex) = (column("file"), column("program_hex"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let bytes = (0..fields[hex].len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&fields[hex][i..i + 2], 16).unwrap())
                .collect();
            (fields[file].to_string(), bytes)
        })
        .collect()
}

/// The raw-program input layout of fuzz/src/case.rs.
fn raw_case(selector: u8, memory: &[u8], program: &[u8]) -> Vec<u8> {
    let mut data = vec![1 | (selector << 1)];
    data.extend((memory.len() as u16).to_le_bytes());
    data.extend(0xffffu16.to_le_bytes());
    data.extend(memory);
    data.extend(program);
    data
}

#[test]
fn engine_and_verifier_targets_pass_on_conformance_programs() {
    let programs = conformance_programs();
    assert_eq!(programs.len(), 313);
    for (index, (_, program)) in programs.iter().enumerate() {
        let memory: Vec<u8> = (0..64).collect();
        targets::decode(program);
        targets::differential(&raw_case(0, &memory, program));
        targets::soundness(&raw_case(0, &memory, program));
        targets::verify_any(&raw_case(index as u8 % 64, &memory, program));
    }
}

#[test]
fn text_targets_pass_on_conformance_files() {
    let mut count = 0;
    for entry in std::fs::read_dir(shared().join("conformance/tests")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        targets::conformance_data(&text);
        targets::assemble_text(&text);
        count += 1;
    }
    assert!(count >= 313, "{count} files");
}

#[test]
fn elf_target_passes_on_the_verifier_corpus() {
    let mut stack = vec![shared().join("verifier-corpus")];
    let mut objects = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "o") {
                targets::elf(&std::fs::read(&path).unwrap());
                objects += 1;
            }
        }
    }
    assert!(objects >= 100, "{objects} objects");
}

#[test]
fn generated_programs_pass_every_engine_target() {
    for seed in 0u32..200 {
        let mut data = vec![(seed as u8) & 0xfe];
        let mut state = u64::from(seed) | 1;
        data.extend((0..2048).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }));
        targets::differential(&data);
        targets::soundness(&data);
        targets::verify_any(&data);
    }
}
