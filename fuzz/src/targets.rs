//! The body of each fuzz target, as plain functions: `fuzz_targets/*.rs` call them, and the
//! crate's tests replay seeds through them on stable Rust. A target panics when it finds a bug.

use crate::case::{Case, Input};
use crate::compare::{jits, observes_stack_address, run_twice};
use crate::memory::AlignedMemory;
use crate::soundness;
use std::sync::{Arc, LazyLock};
use xbpf_conformance::runner::{Options, Target, run_on_engine, run_suite};
use xbpf_interp::Interpreter;
use xbpf_isa::insn::slots_from_bytes;
use xbpf_isa::{Engine, ExecConfig, HelperTable, Insn, Program, assemble, disassemble};
use xbpf_verifier::{MapDescriptor, MapType, ProgramType, VerifierConfig, verify};

/// Checks a valid program's text form: the disassembly reassembles to the same slots, every
/// instruction's own text (relative targets) assembles to its encoding, and that encoding is
/// the slots it was decoded from.
fn check_round_trip(program: &Program) {
    let slots = program.slots();
    let text = disassemble(slots);
    let reassembled = assemble(&text)
        .unwrap_or_else(|error| panic!("disassembly does not assemble: {error}\n{text}"));
    assert_eq!(
        reassembled, slots,
        "disassembly reassembles to other slots\n{text}"
    );
    assert_eq!(
        Program::new(reassembled).as_ref(),
        Ok(program),
        "the reassembled program differs"
    );
    for (pc, instruction) in program.instructions() {
        let encoded = instruction.encode();
        assert_eq!(
            encoded,
            slots[pc..pc + encoded.len()],
            "pc {pc}: {instruction} encodes to other slots than it was decoded from"
        );
        let line = instruction.to_string();
        let assembled = assemble(&line)
            .unwrap_or_else(|error| panic!("pc {pc}: `{line}` does not assemble: {error}"));
        assert_eq!(
            assembled, encoded,
            "pc {pc}: `{line}` assembles differently"
        );
    }
    let fuel_total: u64 = (0..slots.len())
        .map(|pc| u64::from(program.fuel_block_len(pc)))
        .sum();
    assert_eq!(
        fuel_total,
        program.instructions().count() as u64,
        "fuel blocks do not cover every instruction once"
    );
}

/// (1) Decoder and validator on raw bytes; disassembler round trip on valid programs.
pub fn decode(data: &[u8]) {
    let whole = &data[..data.len() / 8 * 8];
    let slots: Vec<Insn> = slots_from_bytes(whole).unwrap_or_default();
    // The disassembler takes any slots, valid or not.
    let text = disassemble(&slots);
    match Program::from_bytes(data) {
        Ok(program) => {
            assert_eq!(program.to_bytes(), data);
            check_round_trip(&program);
        }
        Err(_) => {
            let _ = assemble(&text);
        }
    }
}

/// (2) Assembler on arbitrary text: whatever assembles and validates round-trips through the
/// disassembler.
pub fn assemble_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(slots) = assemble(text) else {
        return;
    };
    let _ = disassemble(&slots);
    if let Ok(program) = Program::new(slots) {
        check_round_trip(&program);
    }
}

static RANDOM_HELPERS: LazyLock<Arc<HelperTable>> =
    LazyLock::new(|| Arc::new(xbpf_isa::random::helpers()));

/// (3) Interpreter vs JIT (both x86-64 calling conventions), with bounds checks: the same
/// result or error and the same memory, on two runs.
pub fn differential(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let Some(case) = Case::from_input(&input) else {
        return;
    };
    let config = ExecConfig {
        fuel: case.fuel,
        helpers: Arc::clone(&RANDOM_HELPERS),
        ..ExecConfig::default()
    };
    let reference = Interpreter.prepare(&case.program, &config);
    let compare = case.generated || !observes_stack_address(&case.program);
    let mut memory = AlignedMemory::new(&case.memory);
    let expected = match reference {
        Ok(mut reference) => Some(run_twice(reference.as_mut(), &case, &mut memory)),
        Err(_) => None,
    };
    for (name, jit) in jits() {
        let compiled = jit.prepare(&case.program, &config);
        let mut compiled = match (compiled, &expected) {
            (Ok(compiled), Some(_)) => compiled,
            (Err(_), None) => continue,
            (Ok(_), None) => panic!("{name} prepares a program the interpreter does not"),
            (Err(error), Some(_)) => {
                panic!("{name} cannot prepare a program the interpreter prepares: {error}")
            }
        };
        let got = run_twice(compiled.as_mut(), &case, &mut memory);
        if compare {
            assert_eq!(
                Some(&got),
                expected.as_ref(),
                "{name} differs from the interpreter (fuel {:?}, memory {:02x?})\n{}",
                case.fuel,
                case.memory,
                disassemble(case.program.slots())
            );
        }
    }
}

/// Maps programs may reference by index in `verify` (hash, array, map-in-map, read-only
/// array, ring buffer, program array), as in the verifier's tests.
fn test_maps() -> Vec<MapDescriptor> {
    let mut read_only = MapDescriptor::new(MapType::Array, 4, 32, 1);
    read_only.read_only = true;
    let mut outer = MapDescriptor::new(MapType::ArrayOfMaps, 4, 4, 4);
    outer.inner = Some(Box::new(MapDescriptor::new(MapType::Hash, 4, 8, 16)));
    vec![
        MapDescriptor::new(MapType::Hash, 4, 16, 128),
        MapDescriptor::new(MapType::Array, 4, 64, 1),
        outer,
        read_only,
        MapDescriptor::new(MapType::RingBuf, 0, 0, 4096),
        MapDescriptor::new(MapType::ProgArray, 4, 4, 8),
    ]
}

/// The program type of selector bits 0-2.
fn program_type(selector: u8, memory_len: usize) -> ProgramType {
    match selector & 7 {
        0 => ProgramType::conformance(memory_len as u32),
        1 => ProgramType::conformance(0),
        2 => ProgramType::xdp(),
        3 => ProgramType::socket_filter(),
        4 => ProgramType::tc_classifier(),
        5 => ProgramType::generic(64),
        6 => ProgramType::conformance(512),
        _ => soundness::program_type(memory_len),
    }
}

/// The verifier configuration of selector bits 3-4.
fn verifier_config(selector: u8) -> VerifierConfig {
    let default = VerifierConfig::default();
    match (selector >> 3) & 3 {
        0 => default,
        1 => VerifierConfig {
            check_termination: true,
            ..default
        },
        2 => VerifierConfig {
            max_disjuncts: 1,
            collect_invariants: true,
            ..default
        },
        _ => VerifierConfig {
            check_division_by_zero: true,
            allow_pointer_leaks: true,
            widening_delay: 0,
            narrowing_iterations: 0,
            ..default
        },
    }
}

/// (4) The verifier never panics, whatever the program, program type and configuration; its
/// reports and rejections render; with selector bit 5 it gives the same result twice.
pub fn verify_any(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let Some(case) = Case::from_input(&input) else {
        return;
    };
    let selector = input.selector();
    let ty = program_type(selector, case.memory.len());
    let config = verifier_config(selector);
    let maps = test_maps();
    let result = verify(&case.program, &ty, &maps, &config);
    if selector & 0x20 != 0 {
        assert_eq!(
            verify(&case.program, &ty, &maps, &config),
            result,
            "the verifier gives another result on the same input"
        );
    }
    match result {
        Ok(report) => {
            let _ = xbpf_verifier::diagnostics::text::render_report(&report);
            let _ = xbpf_verifier::diagnostics::json::report(&report).render();
        }
        Err(rejection) => {
            assert!(
                rejection.pc < case.program.len(),
                "rejection at pc {} outside the program",
                rejection.pc
            );
            let _ = rejection.to_string();
            let _ = xbpf_verifier::diagnostics::json::rejection(&rejection).render();
        }
    }
}

/// (5) Whatever the verifier accepts runs without a memory fault on the interpreter and the
/// JIT without bounds checks, with r0 in the exit range.
pub fn soundness(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let Some(case) = Case::from_input(&input) else {
        return;
    };
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let config = soundness::verifier_config(input.selector());
    if let Err(violation) = soundness::check(&case, seed, &config) {
        panic!(
            "unsound: {violation}\nfuel {:?}, verifier configuration {config:?}\n{}",
            case.fuel,
            disassemble(case.program.slots())
        );
    }
}

/// (6) The conformance `.data` parser and the runner's preparation on arbitrary text; the
/// plugin protocol's hex parsing.
pub fn conformance_data(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(2, '\n');
    let first = lines.next().unwrap_or("");
    let _ = xbpf_conformance::PluginRequest::parse(Some(first), lines.next().unwrap_or(""));
    let _ = xbpf_conformance::hex::parse_result(text);
    let Ok(file) = xbpf_conformance::data::parse(text) else {
        return;
    };
    let slots = match (&file.raw, &file.asm) {
        (Some(raw), _) => raw.clone(),
        (None, Some(asm)) => assemble(asm).unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    let _ = xbpf_conformance::classify::classify(&slots);
    let options = Options {
        fuel: Some(10_000),
        ..Options::default()
    };
    if !slots.is_empty() {
        let _ = run_on_engine(&Interpreter, &slots, &file.mem, &options);
    }
    // The runner itself reads files: once through a file, as `xbpf conformance` would.
    let path = std::env::temp_dir().join(format!("xbpf-fuzz-{}.data", std::process::id()));
    if std::fs::write(&path, text).is_ok() {
        let results = run_suite(
            std::slice::from_ref(&path),
            &[Target::Engine(&Interpreter)],
            &options,
        );
        let _ = xbpf_conformance::render_text(&results);
        let _ = xbpf_conformance::render_json(&results);
        let _ = std::fs::remove_file(&path);
    }
}

/// (7) The ELF loader: parsing and inspecting any bytes, verifying each program as the type
/// its section names, and loading the object into a runtime (maps created, programs resolved
/// and prepared) never panic.
pub fn elf(data: &[u8]) {
    use xbpf::elf::ElfObject;
    use xbpf::program_types::{RegsArch, for_section, line_table, map_descriptors};
    use xbpf::runtime::{Runtime, RuntimeConfig};

    let _ = xbpf::elf::inspect(data);
    let Ok(object) = ElfObject::parse(data) else {
        return;
    };
    let maps = map_descriptors(&object);
    for program in object.programs() {
        for pc in 0..program.insns.len() {
            let _ = program.line_at(pc);
        }
        let (Ok(valid), Some(ty)) = (
            Program::new(program.insns.clone()),
            for_section(&program.section, RegsArch::X86_64),
        ) else {
            continue;
        };
        // Large objects verify slowly; the verify target covers the verifier itself.
        if valid.len() <= 4096 {
            let config = VerifierConfig {
                line_table: Some(line_table(program)),
                ..VerifierConfig::default()
            };
            if let Err(rejection) = verify(&valid, &ty, &maps, &config) {
                let _ = rejection.to_string();
            }
        }
    }
    // Small maps: an object may declare many, and the runtime has no limit on their total.
    let runtime = Runtime::with_config(
        Box::new(Interpreter),
        RuntimeConfig {
            fuel: Some(10_000),
            max_map_bytes: 1 << 16,
            ..RuntimeConfig::default()
        },
    );
    let Ok(loaded) = runtime.load_elf(data) else {
        return;
    };
    for program in loaded.elf().programs() {
        let _ = runtime.load_program(&loaded, &program.section, &program.function);
    }
}
