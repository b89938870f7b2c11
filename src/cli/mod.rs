//! Command-line interface: argument definitions, dispatch and exit codes.
//!
//! Exit codes are stable: 0 success; 1 the program faulted, a conformance test failed or a
//! program was rejected; 2 bad usage or input that cannot be loaded (unreadable file, assembly
//! error, invalid program).

mod asm;
mod conformance;
mod disasm;
mod elf;
mod plugin;
mod run;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// xbpf: run, verify, assemble, disassemble and conformance-test eBPF programs (RFC 9669).
///
/// PROGRAM files are detected by content: raw bytecode (8-byte little-endian slots),
/// assembly text (the bpf_conformance syntax), or a bpf_conformance `.data` test file.
#[derive(Debug, Parser)]
#[command(name = "xbpf", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::RunArgs),
    Verify(verify::VerifyArgs),
    Asm(asm::AsmArgs),
    Disasm(disasm::DisasmArgs),
    Conformance(conformance::ConformanceArgs),
    Plugin(plugin::PluginArgs),
}

/// An error that ends the command, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input that cannot be loaded: exit 2.
    #[error("{0}")]
    Input(String),
    /// The program ran and faulted, or a check failed: exit 1.
    #[error("{0}")]
    Failed(String),
    /// Failure already reported on stdout (a summary line): exit 1, nothing more to print.
    #[error("")]
    Reported,
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(2),
            CliError::Failed(_) | CliError::Reported => ExitCode::from(1),
        }
    }
}

/// Turns any displayable error into an input error (exit 2).
pub fn input_error(error: impl std::fmt::Display) -> CliError {
    CliError::Input(error.to_string())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Asm(args) => asm::run(args),
        Command::Disasm(args) => disasm::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Plugin(args) => plugin::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !matches!(error, CliError::Reported) {
                eprintln!("xbpf: {error}");
            }
            error.exit_code()
        }
    }
}

/// Parses the `--engine` value into an engine of this build.
pub fn engine(name: &str) -> Result<Box<dyn xbpf::isa::Engine>, CliError> {
    xbpf::engines::engine_by_name(name).ok_or_else(|| {
        CliError::Input(format!(
            "unknown engine `{name}` (this build has: {})",
            xbpf::engines::engine_names().join(", ")
        ))
    })
}

/// Reads and validates a program file.
pub fn load(
    path: &std::path::Path,
) -> Result<(xbpf::isa::Program, xbpf::format::ProgramFile), CliError> {
    let file = xbpf::format::read_program(path).map_err(input_error)?;
    let program = xbpf::isa::Program::new(file.slots.clone())
        .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?;
    Ok((program, file))
}
