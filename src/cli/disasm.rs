//! `xbpf disasm`: disassembles a program.

use super::{CliError, input_error};
use std::path::PathBuf;

/// Disassemble a program (raw bytecode, assembly or .data file) into assembly text that
/// reassembles to the same bytes. For an ELF object: its sections, symbols, relocations and
/// maps, then each program (map references shown unresolved).
#[derive(Debug, clap::Args)]
pub struct DisasmArgs {
    /// Program file.
    input: PathBuf,
}

pub fn run(args: DisasmArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.input)
        .map_err(|error| CliError::Input(format!("{}: {error}", args.input.display())))?;
    if xbpf::format::detect(&bytes) == xbpf::format::ProgramFormat::Elf {
        print!("{}", super::elf::disasm(&bytes, &args.input)?);
        return Ok(());
    }
    let file = xbpf::format::read_program(&args.input).map_err(input_error)?;
    print!("{}", xbpf::isa::disassemble(&file.slots));
    Ok(())
}
