//! Helpers shared by the integration tests: assemble, prepare and run programs.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;
use xbpf_interp::{InterpretedProgram, Interpreter};
use xbpf_isa::{ExecConfig, ExecError, Executable, HelperTable, Program, RunInput, assemble};

/// Assembles and validates `source`, failing the test with the reason if either step fails.
pub fn program(source: &str) -> Program {
    let slots = assemble(source).unwrap_or_else(|error| panic!("assemble: {error}\n{source}"));
    Program::new(slots).unwrap_or_else(|error| panic!("validate: {error}\n{source}"))
}

/// Prepares `source` with `config`.
pub fn prepare(source: &str, config: &ExecConfig) -> InterpretedProgram {
    Interpreter
        .prepare_program(&program(source), config)
        .unwrap_or_else(|error| panic!("prepare: {error}\n{source}"))
}

/// Runs `source` with no memory and the default configuration.
pub fn try_run(source: &str) -> Result<u64, ExecError> {
    prepare(source, &ExecConfig::default()).run(&RunInput::empty())
}

/// Runs `source` with no memory; the run must succeed.
pub fn run(source: &str) -> u64 {
    try_run(source).unwrap_or_else(|error| panic!("run: {error}\n{source}"))
}

/// Runs `source` with `memory` as in the conformance suite (r1 = address, r2 = length, packet).
pub fn try_run_with_memory(source: &str, memory: &mut [u8]) -> Result<u64, ExecError> {
    prepare(source, &ExecConfig::default()).run(&RunInput::with_memory(memory))
}

/// A configuration with these helpers.
pub fn with_helpers(helpers: HelperTable) -> ExecConfig {
    ExecConfig {
        helpers: Arc::new(helpers),
        ..ExecConfig::default()
    }
}

/// A configuration with a fuel budget.
pub fn with_fuel(fuel: u64) -> ExecConfig {
    ExecConfig {
        fuel: Some(fuel),
        ..ExecConfig::default()
    }
}

/// `value` as an assembler 64-bit constant.
pub fn hex(value: u64) -> String {
    format!("{value:#x}")
}

/// Reads the little-endian u64 at `offset` of `memory`.
pub fn word(memory: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(memory[offset..offset + 8].try_into().unwrap())
}
