//! Verifier soundness: whatever the verifier accepts runs on the interpreter and on the JIT
//! compiled without bounds checks, over several memory contents, without a memory fault and
//! with r0 inside the report's exit range.
//!
//! Programs are verified as the conformance program type (r1 = memory of the case's size,
//! r2 = its size, legacy packet loads read it) extended with prototypes for the generator's
//! helpers. Each prototype promises no more than the helper does: every helper here takes
//! numbers or anything and returns a number, and none writes memory the verifier tracks (the
//! generator's `store` helper is replaced under its id by the conformance helper, which returns
//! r1), so a fault can only come from the verifier or an engine.

use crate::case::Case;
use crate::compare::{Outcome, observes_stack_address, outcome};
use crate::memory::AlignedMemory;
use std::sync::Arc;
use xbpf_interp::Interpreter;
use xbpf_isa::random::{helper_id, helpers as generator_helpers};
use xbpf_isa::{Engine, ExecConfig, ExecError, Executable, HelperTable, RunInput};
use xbpf_verifier::{
    ArgKind, HelperPrototype, ProgramType, Report, RetKind, VerifierConfig, verify,
};

/// The helper id of the conformance suite (returns r1).
const CONFORMANCE_HELPER: u32 = 5;

/// The program type programs are verified as.
pub fn program_type(memory_len: usize) -> ProgramType {
    let mut ty = ProgramType::conformance(memory_len as u32);
    let any_first = [
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
            HelperPrototype::new(name, &any_first, RetKind::Integer),
        );
    }
    ty
}

/// The helpers programs run with: the generator's, with id 5 the conformance helper.
pub fn helpers() -> HelperTable {
    let mut table = generator_helpers();
    table.register(CONFORMANCE_HELPER, "conformance_return_r1", |_, args| {
        Ok(args[0])
    });
    table
}

/// Memory contents to run an accepted program on: the case's own, zeros, ones, and
/// pseudo-random bytes from `seed`.
pub fn memory_variants(memory: &[u8], seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed | 1;
    let random = memory
        .iter()
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    vec![
        memory.to_vec(),
        vec![0; memory.len()],
        vec![0xff; memory.len()],
        random,
    ]
}

/// What happened to a case.
#[derive(Debug)]
pub enum Verdict {
    Rejected,
    /// Accepted, but the engines cannot prepare it (an unknown helper in unreachable code).
    NotPreparable,
    /// Accepted, and every run was sound; how each run ended on the interpreter.
    Accepted(Vec<Result<u64, ExecError>>),
}

/// The verifier configurations soundness is checked under (every one must be sound): the
/// default, without disjunction, widening at once without narrowing, and with the termination
/// check.
pub fn verifier_config(selector: u8) -> VerifierConfig {
    let default = VerifierConfig::default();
    match selector & 3 {
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

/// Verifies `case` and, if accepted, runs it on the interpreter and the unchecked JIT over
/// the memory variants. `Err` describes a soundness violation.
pub fn check(case: &Case, seed: u64, verifier_config: &VerifierConfig) -> Result<Verdict, String> {
    let Ok(report) = verify(
        &case.program,
        &program_type(case.memory.len()),
        &[],
        verifier_config,
    ) else {
        return Ok(Verdict::Rejected);
    };
    let helpers = Arc::new(helpers());
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
    // The verifier does not look at unreachable code, where a program may call a helper the
    // engines do not have; engines refuse such programs, so there is nothing to run.
    let Ok(mut interpreter) = Interpreter.prepare(&case.program, &checked) else {
        return Ok(Verdict::NotPreparable);
    };
    let mut jits: Vec<(&str, Box<dyn Executable>)> = Vec::new();
    for (name, jit) in crate::compare::jits() {
        let compiled = jit.prepare(&case.program, &unchecked).map_err(|error| {
            format!("the interpreter prepares it, but {name} cannot compile it: {error}")
        })?;
        jits.push((name, compiled));
    }
    // Results are compared unless the program may compute with its stack address (passing
    // r10 + k to a helper that returns r1 counts, which generated programs do), since each
    // engine has its own stack.
    let compare_results = !observes_stack_address(&case.program);
    let mut results = Vec::new();
    for contents in memory_variants(&case.memory, seed) {
        let mut memory = AlignedMemory::new(&contents);
        let reference = run_once(interpreter.as_mut(), case, &mut memory);
        check_run("interp", &reference.0, &report).map_err(|why| {
            format!(
                "{why}\nmemory {contents:02x?}\nexit range {:?}",
                report.exit_range
            )
        })?;
        results.push(reference.2.clone());
        // Only after the checked interpreter ran without a fault, so an unsound acceptance
        // shows as an error rather than as memory corruption.
        for (name, jit) in jits.iter_mut() {
            let got = run_once(jit.as_mut(), case, &mut memory);
            check_run(name, &got.0, &report)
                .map_err(|why| format!("{why}\nmemory {contents:02x?}"))?;
            if compare_results && (&got.0, &got.1) != (&reference.0, &reference.1) {
                return Err(format!(
                    "{name} without bounds checks differs from the interpreter: {:?} vs {:?}\nmemory {contents:02x?}",
                    got.0, reference.0
                ));
            }
        }
    }
    Ok(Verdict::Accepted(results))
}

/// One run on the memory's initial contents: outcome, memory after, raw result.
fn run_once(
    executable: &mut dyn Executable,
    case: &Case,
    memory: &mut AlignedMemory,
) -> (Outcome, Vec<u8>, Result<u64, ExecError>) {
    memory.reset();
    let start = memory.start();
    let result = executable.run(&RunInput::with_memory(memory.bytes_mut()));
    (
        outcome(result.clone(), start, case),
        memory.bytes_mut().to_vec(),
        result,
    )
}

/// A run of an accepted program is sound when it did not fault and r0 is in the exit range.
/// Running out of fuel, exceeding the call depth, and helper errors are not memory faults.
fn check_run(engine: &str, outcome: &Outcome, report: &Report) -> Result<(), String> {
    match outcome {
        Outcome::Value(r0) => match report.exit_range {
            Some(range) if range.contains(*r0) => Ok(()),
            range => Err(format!(
                "{engine}: r0 = {r0:#x} is outside the exit range {}",
                range.map_or("(no exit reachable)".to_string(), |r| r.to_string())
            )),
        },
        Outcome::Error(error @ ExecError::OutOfBounds { .. })
        | Outcome::OutOfBoundsInMemory { error, .. } => {
            Err(format!("{engine}: accepted program faulted: {error}"))
        }
        Outcome::Error(_) => Ok(()),
    }
}
