//! Soundness at scale: random programs from the generator (`xbpf_isa::random`) are verified as
//! conformance programs; every accepted one must run on the interpreter and on the JIT compiled
//! WITHOUT bounds checks, over several memory contents, without a memory fault, with r0 inside
//! the report's exit range, and with the same results on both engines (see below).
//!
//! `XBPF_JIT_SOUNDNESS_CASES` sets the number of programs (default 2000); `XBPF_JIT_SOUNDNESS_SEED`
//! shifts the seeds, so a failure names the seed that reproduces it. The fuzz target
//! `soundness` (fuzz/) checks the same property on fuzzer-chosen and raw programs.
//!
//! The program type is the conformance one (r1 = memory of the case's size, r2 = its size)
//! plus prototypes for the generator's helpers. Every prototype promises no more than the
//! helper does (numbers in, a number out, no writes to memory the verifier tracks): the
//! generator's `store` helper, id 5, is replaced by the conformance helper (returns r1), whose
//! prototype id 5 already has. Programs that may compute with their stack address (which
//! differs between engines) are checked for faults and exit ranges but their results are not
//! compared: generated programs pass `r10 + k` to helper 5, which returns it.

use arbitrary::Unstructured;
use std::sync::Arc;
use xbpf_interp::Interpreter;
use xbpf_isa::random::{RandomCase, helper_id, helpers, random_program};
use xbpf_isa::{
    Engine, ExecConfig, ExecError, Executable, HelperTable, Instruction, PacketMode, Program, Reg,
    RunInput, Source,
};
use xbpf_verifier::{
    ArgKind, HelperPrototype, ProgramType, Report, RetKind, VerifierConfig, verify,
};

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
        Err(_) => default,
    }
}

fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn program_type(memory_len: usize) -> ProgramType {
    let mut ty = ProgramType::conformance(memory_len as u32);
    let first_arg = [
        ArgKind::Anything,
        ArgKind::DontCare,
        ArgKind::DontCare,
        ArgKind::DontCare,
        ArgKind::DontCare,
    ];
    for (id, name) in [
        (helper_id::SUM, "sum"),
        (helper_id::MIX, "mix"),
        (helper_id::FAIL_IF_ODD, "fail_if_odd"),
        (helper_id::LOAD, "load"),
    ] {
        ty.helpers.insert(
            id as i32,
            HelperPrototype::new(name, &first_arg, RetKind::Integer),
        );
    }
    ty
}

/// Every configuration must be sound; seeds take turns: the default, without disjunction,
/// widening at once without narrowing, and with the termination check.
fn verifier_config(seed: u64) -> VerifierConfig {
    let default = VerifierConfig::default();
    match seed % 4 {
        0 => default,
        1 => VerifierConfig {
            max_disjuncts: 1,
            ..default
        },
        2 => VerifierConfig {
            widening_delay: 0,
            narrowing_iterations: 0,
            ..default
        },
        _ => VerifierConfig {
            check_termination: true,
            ..default
        },
    }
}

fn helper_table() -> HelperTable {
    let mut table = helpers();
    table.register(5, "conformance_return_r1", |_, args| Ok(args[0]));
    table
}

/// 8-byte aligned memory (generated atomics stay within a word), at a stable address.
struct Memory {
    words: Vec<u64>,
    len: usize,
}

impl Memory {
    fn new(len: usize) -> Memory {
        Memory {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    fn load(&mut self, contents: &[u8]) -> &mut [u8] {
        let bytes = self.bytes_mut();
        bytes.copy_from_slice(contents);
        bytes
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the words own at least `len` initialised bytes and u8 has no alignment
        // requirement; the slice borrows `self` mutably.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// The case's memory, zeros, ones and pseudo-random bytes.
fn memory_variants(case: &RandomCase, seed: u64) -> Vec<Vec<u8>> {
    let len = case.memory.len();
    vec![
        case.memory.clone(),
        vec![0; len],
        vec![0xff; len],
        pseudo_random_bytes(seed.wrapping_mul(31).wrapping_add(7), len),
    ]
}

/// A run of an accepted program: no memory fault, and r0 in the exit range. Running out of
/// fuel, the call depth limit and helper errors are not memory faults.
fn check_run(result: &Result<u64, ExecError>, report: &Report) -> Result<(), String> {
    match result {
        Ok(r0) => match report.exit_range {
            Some(range) if range.contains(*r0) => Ok(()),
            Some(range) => Err(format!("r0 = {r0:#x} is outside the exit range {range}")),
            None => Err(format!(
                "exited with r0 = {r0:#x} though the verifier found no reachable exit"
            )),
        },
        Err(error @ ExecError::OutOfBounds { .. }) => Err(format!("memory fault: {error}")),
        Err(_) => Ok(()),
    }
}

/// Whether the program reads r10 other than as the base address of a memory access: then its
/// results may depend on where the engine's stack is.
fn observes_stack_address(program: &Program) -> bool {
    let fp = |reg: Reg| reg == Reg::R10;
    let fp_source = |src: Source| matches!(src, Source::Reg(reg) if fp(reg));
    program
        .instructions()
        .any(|(_, instruction)| match *instruction {
            Instruction::Alu { src, .. } | Instruction::Store { src, .. } => fp_source(src),
            Instruction::Jump { dst, src, .. } => fp(dst) || fp_source(src),
            Instruction::MovSx { src, .. } | Instruction::Atomic { src, .. } => fp(src),
            Instruction::LoadPacket {
                mode: PacketMode::Ind(src),
                ..
            } => fp(src),
            Instruction::Callx(reg) => fp(reg),
            _ => false,
        })
}

/// The engines an accepted program runs on without bounds checks (besides the interpreter,
/// which always checks).
fn unchecked_engines() -> Vec<Box<dyn Engine>> {
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        vec![Box::new(xbpf_jit::Jit::new())]
    } else {
        Vec::new()
    }
}

#[test]
fn accepted_random_programs_never_fault_and_exit_in_range() {
    let cases = env_number("XBPF_JIT_SOUNDNESS_CASES", 2000);
    let first_seed = env_number("XBPF_JIT_SOUNDNESS_SEED", 0);
    let helpers = Arc::new(helper_table());
    let (mut accepted, mut compared, mut ran_to_exit) = (0u64, 0u64, 0u64);
    for seed in first_seed..first_seed + cases {
        let bytes = pseudo_random_bytes(seed, 8192);
        let case = random_program(&mut Unstructured::new(&bytes)).expect("generator never fails");
        let config = verifier_config(seed);
        let Ok(report) = verify(
            &case.program,
            &program_type(case.memory.len()),
            &[],
            &config,
        ) else {
            continue;
        };
        accepted += 1;
        let checked = ExecConfig {
            fuel: case.fuel,
            bounds_checks: true,
            helpers: Arc::clone(&helpers),
            interrupt: None,
        };
        let unchecked = ExecConfig {
            bounds_checks: false,
            ..checked.clone()
        };
        let listing = || xbpf_isa::disassemble(case.program.slots());
        let mut interpreter = Interpreter
            .prepare(&case.program, &checked)
            .unwrap_or_else(|error| panic!("seed {seed}: interpreter: {error}"));
        let mut compiled: Vec<Box<dyn Executable>> = unchecked_engines()
            .iter()
            .map(|engine| {
                engine
                    .prepare(&case.program, &unchecked)
                    .unwrap_or_else(|error| panic!("seed {seed}: {}: {error}", engine.name()))
            })
            .collect();
        let compare = !observes_stack_address(&case.program);
        compared += u64::from(compare);
        let mut memory = Memory::new(case.memory.len());
        for contents in memory_variants(&case, seed) {
            let expected = interpreter.run(&RunInput::with_memory(memory.load(&contents)));
            let expected_memory = memory.bytes_mut().to_vec();
            if let Err(why) = check_run(&expected, &report) {
                panic!(
                    "seed {seed}: interpreter: {why}\nexit range {:?}, memory {contents:02x?}, {config:?}\n{}",
                    report.exit_range.map(|r| r.to_string()),
                    listing()
                );
            }
            if expected.is_ok() {
                ran_to_exit += 1;
            }
            // Only after the checked interpreter ran the input without a fault.
            for executable in compiled.iter_mut() {
                let got = executable.run(&RunInput::with_memory(memory.load(&contents)));
                if let Err(why) = check_run(&got, &report) {
                    panic!(
                        "seed {seed}: JIT without bounds checks: {why}\nmemory {contents:02x?}\n{}",
                        listing()
                    );
                }
                if !compare {
                    continue;
                }
                assert_eq!(
                    (&got, memory.bytes_mut().to_vec()),
                    (&expected, expected_memory.clone()),
                    "seed {seed}: the unchecked JIT differs from the interpreter\n{}",
                    listing()
                );
            }
        }
    }
    eprintln!(
        "{accepted} of {cases} random programs accepted ({compared} with results compared across \
         engines); {ran_to_exit} runs reached exit, all sound"
    );
    // The property is only tested if the verifier accepts a fair share of the programs.
    if cases >= 200 {
        assert!(
            accepted * 20 >= cases,
            "only {accepted} of {cases} random programs accepted"
        );
    }
}
