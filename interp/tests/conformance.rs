//! The bpf_conformance suite: every test of `shared/conformance/manifest.tsv` runs on the
//! interpreter with its `-- mem` bytes and must return the expected r0.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use xbpf_interp::Interpreter;
use xbpf_isa::{Engine, ExecConfig, HelperTable, Program, RunInput};

fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    assert!(
        dir.join("manifest.tsv").is_file(),
        "the conformance suite is missing: expected {} (the shared folder must sit beside the \
         repository)",
        dir.display()
    );
    dir
}

struct Case {
    file: String,
    mem_bytes: usize,
    expected: u64,
    program: Vec<u8>,
}

fn parse_hex_bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex program"))
        .collect()
}

fn manifest(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("manifest.tsv")).expect("read manifest.tsv");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("file\t") && !line.is_empty())
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                columns.len(),
                8,
                "manifest row with {} columns: {line}",
                columns.len()
            );
            let expected = columns[5].trim_start_matches("0x");
            Case {
                file: columns[0].to_string(),
                mem_bytes: columns[4].parse().expect("mem_bytes column"),
                expected: u64::from_str_radix(expected, 16).expect("expected_r0 column"),
                program: parse_hex_bytes(columns[7]),
            }
        })
        .collect()
}

/// The `-- mem` section of a `.data` file (FORMAT.md §3): comments removed, directives found
/// by substring in the runner's priority order, bytes as whitespace-separated hex tokens up to
/// the first token that is not hex.
fn memory_section(text: &str) -> Vec<u8> {
    let mut in_mem = false;
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.split('#').next().unwrap_or("");
        if line.contains("--") {
            in_mem = !line.contains("asm") && !line.contains("result") && line.contains("mem");
            continue;
        }
        if in_mem {
            tokens.extend(line.split_whitespace().map(str::to_string));
        }
    }
    tokens
        .iter()
        .map_while(|token| u8::from_str_radix(token.trim_start_matches("0x"), 16).ok())
        .collect()
}

#[test]
fn every_conformance_test_passes() {
    let dir = conformance_dir();
    let cases = manifest(&dir);
    assert_eq!(cases.len(), 313, "manifest rows");

    // Helper 5 returns its first argument, as in uBPF and rbpf.
    let mut helpers = HelperTable::new();
    helpers.register(5, "return_r1", |_, args| Ok(args[0]));
    let config = ExecConfig {
        helpers: Arc::new(helpers),
        ..ExecConfig::default()
    };

    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(dir.join("tests").join(&case.file))
            .unwrap_or_else(|error| panic!("read {}: {error}", case.file));
        let mut memory = memory_section(&text);
        assert_eq!(memory.len(), case.mem_bytes, "{}: memory size", case.file);
        let program = match Program::from_bytes(&case.program) {
            Ok(program) => program,
            Err(error) => {
                failures.push(format!("{}: invalid program: {error}", case.file));
                continue;
            }
        };
        let mut executable = match Interpreter.prepare(&program, &config) {
            Ok(executable) => executable,
            Err(error) => {
                failures.push(format!("{}: prepare: {error}", case.file));
                continue;
            }
        };
        match executable.run(&RunInput::with_memory(&mut memory)) {
            Ok(r0) if r0 == case.expected => {}
            Ok(r0) => failures.push(format!(
                "{}: r0 = {r0:#x}, expected {:#x}",
                case.file, case.expected
            )),
            Err(error) => failures.push(format!("{}: {error}", case.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance tests failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
