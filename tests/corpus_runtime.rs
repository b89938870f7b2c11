//! Every corpus program Linux can load either prepares in the runtime or fails at load time
//! with a clear reason: a Linux helper this userspace runtime does not implement (named), or
//! a map type it does not implement, or a map definition Linux refuses too (an array whose
//! keys are not 4 bytes). Nothing else (relocation, resolution, validation) fails.

use std::collections::BTreeMap;
use std::path::Path;
use xbpf::runtime::{Runtime, RuntimeError};

#[test]
fn corpus_programs_prepare_or_name_what_is_missing() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus"
    ));
    let table = std::fs::read_to_string(dir.join("expected.tsv")).expect("the verifier corpus");
    let mut prepared = 0;
    let mut missing_helpers: BTreeMap<String, usize> = BTreeMap::new();
    let mut missing_maps: BTreeMap<String, usize> = BTreeMap::new();
    let mut other = Vec::new();
    let mut objects: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        // malformed objects, and the one whose bytecode is invalid on purpose
        if fields[3] == "reject_load" || fields[0] == "invalid/invalid-lddw.o" {
            continue;
        }
        objects
            .entry(fields[0])
            .or_default()
            .push((fields[1], fields[2]));
    }
    for (object, programs) in objects {
        let runtime = Runtime::new(Box::new(xbpf::interp::Interpreter));
        let bytes = std::fs::read(dir.join(object)).unwrap();
        let loaded = match runtime.load_elf(&bytes) {
            Ok(loaded) => loaded,
            Err(RuntimeError::Map { source, .. })
                if source.to_string().contains("not supported")
                    || source.to_string().contains("array keys must be 4 bytes") =>
            {
                *missing_maps.entry(source.to_string()).or_default() += programs.len();
                continue;
            }
            Err(error) => {
                other.push(format!("{object}: {error}"));
                continue;
            }
        };
        for (section, function) in programs {
            match runtime.load_program(&loaded, section, function) {
                Ok(_) => prepared += 1,
                Err(RuntimeError::UnknownHelper {
                    name: Some(name), ..
                }) => {
                    *missing_helpers.entry(name.to_owned()).or_default() += 1;
                }
                Err(error) => other.push(format!("{object} {section}/{function}: {error}")),
            }
        }
    }
    eprintln!(
        "prepared {prepared}; missing helpers {missing_helpers:?}; missing maps {missing_maps:?}"
    );
    assert!(
        other.is_empty(),
        "unexpected failures:\n{}",
        other.join("\n")
    );
    assert!(prepared >= 140, "only {prepared} corpus programs prepared");
}
