//! Every object of the verifier corpus loads, except the malformed ones, which fail with a
//! clear error; each program the corpus lists is found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xbpf::elf::ElfObject;

fn corpus() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus"
    ));
    assert!(
        dir.join("expected.tsv").is_file(),
        "the verifier corpus is missing: expected {}/expected.tsv",
        dir.display()
    );
    dir.to_path_buf()
}

struct Row {
    section: String,
    function: String,
    expected: String,
}

fn expectations(dir: &Path) -> BTreeMap<String, Vec<Row>> {
    let text = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        rows.entry(fields[0].to_owned()).or_default().push(Row {
            section: fields[1].to_owned(),
            function: fields[2].to_owned(),
            expected: fields[3].to_owned(),
        });
    }
    rows
}

#[test]
fn corpus_objects_load_and_malformed_ones_fail_clearly() {
    let dir = corpus();
    let rows = expectations(&dir);
    assert!(
        rows.len() > 100,
        "expected.tsv lists {} objects",
        rows.len()
    );
    let mut failures = Vec::new();
    let mut programs_found = 0;
    for (object, rows) in &rows {
        let bytes = std::fs::read(dir.join(object)).unwrap();
        let must_fail = rows.iter().any(|row| row.expected == "reject_load");
        match (ElfObject::parse(&bytes), must_fail) {
            (Ok(_), true) => failures.push(format!("{object}: loaded, but is malformed")),
            (Err(error), true) => {
                let message = error.to_string();
                assert!(message.len() > 20, "{object}: unclear error `{message}`");
            }
            (Err(error), false) => failures.push(format!("{object}: {error}")),
            (Ok(loaded), false) => {
                for row in rows {
                    match loaded.program(&row.section, &row.function) {
                        Some(program) => {
                            assert!(!program.insns.is_empty());
                            assert_eq!(program.functions[0], (0, row.function.clone()));
                            programs_found += 1;
                        }
                        None => failures.push(format!(
                            "{object}: no program {}/{} (has {:?})",
                            row.section,
                            row.function,
                            loaded
                                .programs()
                                .iter()
                                .map(|p| format!("{}/{}", p.section, p.function))
                                .collect::<Vec<_>>()
                        )),
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        programs_found, 327,
        "every safe and unsafe program is found"
    );
}

#[test]
fn unlisted_invalid_objects_fail_to_load() {
    let dir = corpus();
    let rows = expectations(&dir);
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("invalid")).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        if rows.contains_key(&name) {
            continue;
        }
        let error = ElfObject::parse(&std::fs::read(&path).unwrap())
            .expect_err(&format!("{name} should not load"));
        assert!(!error.to_string().is_empty());
        checked += 1;
    }
    assert!(checked >= 2, "checked {checked} unlisted objects");
}

fn load(object: &str) -> ElfObject {
    let bytes = std::fs::read(corpus().join(object)).unwrap();
    ElfObject::parse(&bytes).unwrap_or_else(|e| panic!("{object}: {e}"))
}

/// Every local call lands on a linked function's entry, and every map reference names a map.
#[test]
fn linked_programs_are_self_contained() {
    let dir = corpus();
    let mut calls = 0;
    for object in expectations(&dir).keys() {
        let Ok(loaded) = ElfObject::parse(&std::fs::read(dir.join(object)).unwrap()) else {
            continue;
        };
        for program in loaded.programs() {
            let entries: Vec<usize> = program.functions.iter().map(|(pc, _)| *pc).collect();
            let mut pc = 0;
            while pc < program.insns.len() {
                let insn = program.insns[pc];
                if insn.opcode == 0x85 && insn.src == 1 {
                    let target = pc as i64 + 1 + i64::from(insn.imm);
                    assert!(
                        entries.contains(&(target as usize)),
                        "{object} {}/{} pc {pc}: call to {target}, not a function entry {entries:?}",
                        program.section,
                        program.function
                    );
                    calls += 1;
                }
                if insn.opcode == 0x18 {
                    if matches!(insn.src, 5 | 6) {
                        assert!(
                            (insn.imm as usize) < loaded.maps().len(),
                            "{object} pc {pc}"
                        );
                    }
                    pc += 1;
                }
                pc += 1;
            }
        }
    }
    assert!(calls > 0);
}

#[test]
fn subprograms_are_linked_after_their_caller() {
    let object = load("build/bpf2bpf.o");
    let program = object.program("test", "func").unwrap();
    let names: Vec<&str> = program.functions.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["func", "add2", "add1"]);
    assert!(!program.line_info.is_empty());
    assert!(
        program
            .line_info
            .iter()
            .all(|line| line.pc < program.insns.len())
    );
    let last = &program.line_info[program.line_info.len() - 1];
    assert!(last.file.ends_with(".c"), "{last:?}");
    assert!(program.line_at(last.pc).is_some());
}

#[test]
fn globals_are_single_element_arrays_addressed_by_offset() {
    let object = load("build/global_variable.o");
    let names: Vec<&str> = object.maps().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, [".bss", ".rodata", ".data"]);
    let data = &object.maps()[2];
    assert_eq!(data.max_entries, 1);
    assert_eq!(data.value_size, 40);
    assert_eq!(
        data.initial_data.as_deref().map(|d| d[0..4].to_vec()),
        Some(vec![1, 0, 0, 0])
    );
    assert!(object.maps()[1].is_read_only_for_programs());
    let program = object.program(".text", "func").unwrap();
    let value_refs: Vec<(i32, i32)> = program
        .insns
        .windows(2)
        .filter(|w| w[0].opcode == 0x18 && w[0].src == 6)
        .map(|w| (w[0].imm, w[1].imm))
        .collect();
    assert!(value_refs.contains(&(1, 0)), "{value_refs:?}");
    assert!(value_refs.iter().all(|(map, _)| (0..3).contains(map)));
}

#[test]
fn map_in_map_definitions_carry_their_inner_map() {
    use xbpf::maps::{MapType, SlotTarget};
    for object in ["build/map_in_map.o", "build/map_in_map_legacy.o"] {
        let object = load(object);
        let outer = object
            .maps()
            .iter()
            .find(|m| m.map_type == MapType::ArrayOfMaps)
            .unwrap();
        let inner = outer.inner.as_ref().expect("inner map");
        assert_eq!(inner.map_type, MapType::Array);
        assert_eq!(inner.key_size, 4);
    }
    let object = load("build/map_in_map.o");
    assert_eq!(
        object.maps()[1].initial_slots,
        vec![(0, SlotTarget::Map(0))]
    );
}

mod mutation {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Flipping bytes of real objects gives errors or objects, never panics.
        #[test]
        fn mutated_objects_never_panic(
            which in 0usize..6,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        ) {
            let objects = [
                "build/bpf2bpf.o",
                "build/map_in_map.o",
                "build/global_variable.o",
                "build/prog_array.o",
                "linux/sockex3_kern.o",
                "build/map_in_map_legacy.o",
            ];
            let mut bytes = std::fs::read(corpus().join(objects[which])).unwrap();
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] ^= value;
            }
            let _ = ElfObject::parse(&bytes);
        }

        /// Truncated objects are errors, not panics.
        #[test]
        fn truncated_objects_never_panic(which in 0usize..3, cut in any::<prop::sample::Index>()) {
            let objects = ["build/bpf2bpf.o", "build/map_in_map.o", "build/global_variable.o"];
            let bytes = std::fs::read(corpus().join(objects[which])).unwrap();
            let _ = ElfObject::parse(&bytes[..cut.index(bytes.len())]);
        }
    }
}
