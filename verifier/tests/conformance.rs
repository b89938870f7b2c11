//! Every bpf_conformance program verifies under the conformance program type, and its expected
//! result lies in the computed exit range.

use xbpf_isa::Program;
use xbpf_verifier::{ProgramType, VerifierConfig, verify};

const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/manifest.tsv"
);

struct Row {
    file: String,
    mem_bytes: u32,
    expected: u64,
    bytes: Vec<u8>,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(MANIFEST).unwrap_or_else(|e| {
        panic!("the conformance manifest {MANIFEST} is missing ({e}): the shared test data must be present")
    });
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (file, mem, expected, hex) = (
        col("file"),
        col("mem_bytes"),
        col("expected_r0"),
        col("program_hex"),
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let hex_text = fields[hex];
            let bytes = (0..hex_text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex_text[i..i + 2], 16).expect("hex"))
                .collect();
            Row {
                file: fields[file].to_string(),
                mem_bytes: fields[mem].parse().expect("mem_bytes"),
                expected: u64::from_str_radix(fields[expected].trim_start_matches("0x"), 16)
                    .expect("expected_r0"),
                bytes,
            }
        })
        .collect()
}

#[test]
fn every_conformance_program_verifies_with_its_result_in_the_exit_range() {
    let rows = manifest();
    assert_eq!(rows.len(), 313, "the manifest lists the 313 upstream tests");
    let config = VerifierConfig::default();
    let mut failures = Vec::new();
    let mut exact = 0;
    for row in &rows {
        let program = Program::from_bytes(&row.bytes).expect("manifest programs are valid");
        match verify(
            &program,
            &ProgramType::conformance(row.mem_bytes),
            &[],
            &config,
        ) {
            Ok(report) => match report.exit_range {
                Some(range) if range.contains(row.expected) => {
                    if range.as_constant() == Some(row.expected) {
                        exact += 1;
                    }
                }
                other => failures.push(format!(
                    "{}: expected r0 {:#x} outside the exit range {:?}",
                    row.file,
                    row.expected,
                    other.map(|r| r.to_string())
                )),
            },
            Err(rejection) => failures.push(format!("{}: rejected\n{rejection}", row.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The analysis is precise enough to pin most self-checking programs' result down.
    eprintln!("{exact} of {} exit values are exact", rows.len());
    assert!(exact > 250, "only {exact} exit values are exact");
}
