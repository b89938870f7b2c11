//! Differential test: random programs from the generator run on the reference interpreter and
//! on the JIT (both x86-64 calling conventions; on ARM64 with and without the LSE atomics; with
//! constant blinding) must give the same result or the same error, and leave the same memory
//! behind, on a first and a second run.
//!
//! `XBPF_DIFF_CASES` sets the number of programs (default 2000); `XBPF_DIFF_SEED` shifts the
//! seeds, so a failure names the seed that reproduces it.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use arbitrary::Unstructured;
use std::sync::Arc;
use xbpf_interp::Interpreter;
use xbpf_isa::random::{RandomCase, helpers, random_program};
use xbpf_isa::{Engine, ExecConfig, ExecError, Executable, Instruction, Program, Reg, RunInput};
use xbpf_jit::Jit;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
        Err(_) => default,
    }
}

/// A run's result, comparable across engines whose buffers live at different addresses: the
/// address of an `OutOfBounds` through r9 (the generator's input memory pointer) becomes an
/// offset from the memory; through r10 it is dropped (the engines' stacks differ), pc, access
/// and size still compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Value(u64),
    Error(ExecError),
    OutOfBoundsInMemory { error: ExecError, offset: u64 },
}

/// The base register of the memory access at `pc`.
fn access_base(program: &Program, pc: usize) -> Option<Reg> {
    match *program.instruction(pc)? {
        Instruction::Load { src, .. } => Some(src),
        Instruction::Store { dst, .. } | Instruction::Atomic { dst, .. } => Some(dst),
        _ => None,
    }
}

fn outcome(result: Result<u64, ExecError>, memory_start: u64, program: &Program) -> Outcome {
    match result {
        Ok(value) => Outcome::Value(value),
        Err(error @ ExecError::OutOfBounds { pc, addr, .. }) => {
            let without_address = common::without_addresses(&error);
            match access_base(program, pc) {
                Some(base) if base.number() == 9 => Outcome::OutOfBoundsInMemory {
                    error: without_address,
                    offset: addr.wrapping_sub(memory_start),
                },
                _ => Outcome::Error(without_address),
            }
        }
        Err(error) => Outcome::Error(error),
    }
}

/// Two runs of a prepared program, each on a fresh copy of the case's memory.
fn two_runs(executable: &mut dyn Executable, case: &RandomCase) -> Vec<(Outcome, Vec<u8>)> {
    (0..2)
        .map(|_| {
            let mut memory = common::AlignedMemory::new(&case.memory);
            let bytes = memory.bytes_mut();
            let start = if bytes.is_empty() {
                0
            } else {
                bytes.as_ptr() as u64
            };
            let result = executable.run(&RunInput::with_memory(bytes));
            (
                outcome(result, start, &case.program),
                memory.bytes_mut().to_vec(),
            )
        })
        .collect()
}

/// The JIT for the host, and on x86-64 also the JIT for the other calling convention, on ARM64
/// the JIT restricted to the baseline instruction set; and the host's JIT with constant
/// blinding.
fn jits() -> Vec<(&'static str, Jit)> {
    let mut jits = code_variants();
    jits.push(("jit (blinded)", Jit::new().with_constant_blinding(true)));
    jits
}

fn code_variants() -> Vec<(&'static str, Jit)> {
    #[cfg(target_arch = "x86_64")]
    {
        use xbpf_jit::CallingConvention;
        let other = match CallingConvention::host() {
            CallingConvention::SystemV => CallingConvention::Windows,
            CallingConvention::Windows => CallingConvention::SystemV,
        };
        vec![
            ("jit", Jit::new()),
            (
                "jit (other convention)",
                Jit::with_calling_convention(other),
            ),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    common::isa_variants()
}

#[test]
fn jit_matches_the_interpreter_on_random_programs() {
    let cases = env_number("XBPF_DIFF_CASES", 2000);
    let first_seed = env_number("XBPF_DIFF_SEED", 0);
    let helpers = Arc::new(helpers());
    let mut errors = 0;
    for seed in first_seed..first_seed + cases {
        let bytes = common::pseudo_random_bytes(seed, 8192);
        let case = random_program(&mut Unstructured::new(&bytes)).expect("generator never fails");
        let config = ExecConfig {
            fuel: case.fuel,
            helpers: Arc::clone(&helpers),
            ..ExecConfig::default()
        };
        let mut reference = Interpreter
            .prepare(&case.program, &config)
            .unwrap_or_else(|error| panic!("seed {seed}: interpreter rejected: {error}"));
        let expected = two_runs(reference.as_mut(), &case);
        if !matches!(expected[0].0, Outcome::Value(_)) {
            errors += 1;
        }
        for (name, jit) in jits() {
            let mut compiled = jit
                .prepare(&case.program, &config)
                .unwrap_or_else(|error| panic!("seed {seed}: {name} rejected: {error}"));
            let got = two_runs(compiled.as_mut(), &case);
            assert_eq!(
                got,
                expected,
                "seed {seed}: {name} differs from the interpreter (fuel {:?}, memory {} bytes)\n{}",
                case.fuel,
                case.memory.len(),
                xbpf_isa::disassemble(case.program.slots())
            );
        }
    }
    // The generator must exercise both normal exits and errors.
    if cases >= 100 {
        assert!(
            errors > 0 && errors < cases,
            "{errors} of {cases} runs failed"
        );
    }
}
