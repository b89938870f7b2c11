//! The bpf_conformance suite on the JIT: every test of the manifest, its memory from the
//! `.data` file, helper 5 returning its first argument.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use std::sync::Arc;
use xbpf_isa::{Engine, ExecConfig, HelperTable, Program, RunInput};
use xbpf_jit::Jit;

struct Case {
    file: String,
    expected: u64,
    program: Vec<u8>,
}

fn manifest() -> Vec<Case> {
    let path = common::shared_dir().join("conformance/manifest.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines().filter(|line| !line.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, expected, hex) = (column("file"), column("expected_r0"), column("program_hex"));
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Case {
                file: fields[file].to_string(),
                expected: u64::from_str_radix(fields[expected].trim_start_matches("0x"), 16)
                    .unwrap(),
                program: common::hex_bytes(fields[hex]),
            }
        })
        .collect()
}

/// The `-- mem` section of a `.data` file: hex bytes, comments removed.
fn memory(file: &str) -> Vec<u8> {
    let path = common::shared_dir().join("conformance/tests").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_mem = false;
    let mut bytes = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        if line.contains("--") {
            in_mem = line.contains("mem");
            continue;
        }
        if in_mem {
            for token in line.split_whitespace() {
                match u8::from_str_radix(token.trim_start_matches("0x"), 16) {
                    Ok(byte) => bytes.push(byte),
                    Err(_) => break,
                }
            }
        }
    }
    bytes
}

fn config(bounds_checks: bool) -> ExecConfig {
    let mut helpers = HelperTable::new();
    helpers.register(5, "return_r1", |_, args| Ok(args[0]));
    ExecConfig {
        helpers: Arc::new(helpers),
        bounds_checks,
        ..ExecConfig::default()
    }
}

fn run_suite(jit: Jit) {
    run_suite_with(jit, true);
}

/// Every test of the suite stays inside its memory, so it also runs without bounds checks.
fn run_suite_with(jit: Jit, bounds_checks: bool) {
    let cases = manifest();
    assert_eq!(cases.len(), 313, "the manifest should list the whole suite");
    let config = config(bounds_checks);
    let mut failures = Vec::new();
    for case in &cases {
        let program = match Program::from_bytes(&case.program) {
            Ok(program) => program,
            Err(error) => {
                failures.push(format!("{}: invalid program: {error}", case.file));
                continue;
            }
        };
        let mut executable = match jit.prepare(&program, &config) {
            Ok(executable) => executable,
            Err(error) => {
                failures.push(format!("{}: prepare failed: {error}", case.file));
                continue;
            }
        };
        let mut mem = memory(&case.file);
        let input = RunInput::with_memory(&mut mem);
        match executable.run(&input) {
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

#[test]
fn conformance_suite_passes_with_the_host_convention() {
    run_suite(Jit::new());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn conformance_suite_passes_with_the_other_x86_64_convention() {
    use xbpf_jit::CallingConvention;
    let other = match CallingConvention::host() {
        CallingConvention::SystemV => CallingConvention::Windows,
        CallingConvention::Windows => CallingConvention::SystemV,
    };
    run_suite(Jit::with_calling_convention(other));
}

#[test]
fn conformance_suite_passes_with_the_baseline_instruction_set() {
    run_suite(Jit::new().with_isa_extensions(false));
}

#[test]
fn conformance_suite_passes_with_constant_blinding() {
    for (_, jit) in common::code_variants() {
        run_suite(jit.with_constant_blinding(true));
    }
}

#[test]
fn conformance_suite_passes_with_constant_blinding_and_without_bounds_checks() {
    for blinding in [false, true] {
        run_suite_with(Jit::new().with_constant_blinding(blinding), false);
    }
}
