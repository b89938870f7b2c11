//! Golden bytes: every program of the bpf_conformance suite assembles to the bytes recorded in
//! `manifest.tsv` (which the upstream assembler produces).

use std::fs;
use std::path::{Path, PathBuf};
use xbpf_isa::{Insn, Program, assemble, disassemble, insn::slots_to_bytes};

fn conformance_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance"
    ));
    assert!(
        dir.join("manifest.tsv").is_file(),
        "the shared conformance data is missing: expected {}/manifest.tsv \
         (the `shared` folder must sit beside the repository)",
        dir.display()
    );
    dir.to_path_buf()
}

/// The sections of a `.data` file that matter here, split as FORMAT.md section 3 describes
/// (directive lines are classified after removing comments). Asm lines keep their comments so
/// that the assembler's own comment handling is exercised.
#[derive(Default)]
struct Sections {
    asm: String,
    raw: Option<Vec<String>>,
}

fn split_sections(text: &str) -> Sections {
    #[derive(PartialEq)]
    enum Current {
        None,
        Asm,
        Raw,
        Other,
    }
    let mut sections = Sections::default();
    let mut current = Current::None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let code = line.split('#').next().unwrap_or("");
        if code.contains("--") {
            current = if code.contains("asm") {
                Current::Asm
            } else if code.contains("raw") && !code.contains("result") && !code.contains("mem") {
                Current::Raw
            } else {
                Current::Other
            };
            if current == Current::Raw {
                sections.raw.get_or_insert_with(Vec::new);
            }
            continue;
        }
        match current {
            Current::Asm => {
                sections.asm.push_str(line);
                sections.asm.push('\n');
            }
            Current::Raw => sections
                .raw
                .get_or_insert_with(Vec::new)
                .extend(code.split_whitespace().map(str::to_string)),
            Current::None | Current::Other => {}
        }
    }
    sections
}

/// A `-- raw` token: one whole 64-bit slot, hex with `0x` or decimal, stored little-endian.
fn raw_slot(token: &str) -> Insn {
    let value = match token.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => token.parse(),
    }
    .unwrap_or_else(|error| panic!("bad raw token {token:?}: {error}"));
    Insn::from_bytes(value.to_le_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Every conformance program is valid, and its disassembly reassembles to the same slots.
fn check_disassembly(slots: &[Insn]) -> Result<(), String> {
    Program::new(slots.to_vec()).map_err(|error| format!("not a valid program: {error}"))?;
    let text = disassemble(slots);
    match assemble(&text) {
        Ok(again) if again == slots => Ok(()),
        Ok(again) => Err(format!(
            "disassembly reassembles differently:\n{text}{again:?}"
        )),
        Err(error) => Err(format!("disassembly does not reassemble: {error}\n{text}")),
    }
}

#[test]
fn every_conformance_program_assembles_to_the_manifest_bytes_and_round_trips() {
    let dir = conformance_dir();
    let manifest = fs::read_to_string(dir.join("manifest.tsv")).expect("read manifest.tsv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in manifest.lines() {
        if row.starts_with('#') || row.starts_with("file\t") || row.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = row.split('\t').collect();
        assert_eq!(columns.len(), 8, "manifest row has 8 columns: {row}");
        let (file, expected_hex) = (columns[0], columns[7]);
        let path = dir.join("tests").join(file);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        let sections = split_sections(&text);
        checked += 1;
        match assemble(&sections.asm) {
            Ok(slots) => {
                let actual = hex(&slots_to_bytes(&slots));
                if actual != expected_hex {
                    failures.push(format!(
                        "{file}: assembled\n  {actual}\nexpected\n  {expected_hex}"
                    ));
                }
                if let Err(problem) = check_disassembly(&slots) {
                    failures.push(format!("{file}: {problem}"));
                }
            }
            Err(error) => failures.push(format!("{file}: {error}")),
        }
        // The raw section, when present, takes precedence upstream; it must be the same program.
        if let Some(raw) = sections.raw {
            let slots: Vec<Insn> = raw.iter().map(|token| raw_slot(token)).collect();
            let raw_hex = hex(&slots_to_bytes(&slots));
            if raw_hex != expected_hex {
                failures.push(format!("{file}: raw section {raw_hex} != {expected_hex}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 313, "number of tests in manifest.tsv");
}
