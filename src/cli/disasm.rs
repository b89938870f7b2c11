//! `xbpf disasm`: disassembles a program.

use super::{CliError, input_error};
use std::path::PathBuf;

/// Disassemble a program (raw bytecode, assembly or .data file) into assembly text that
/// reassembles to the same bytes.
#[derive(Debug, clap::Args)]
pub struct DisasmArgs {
    /// Program file.
    input: PathBuf,
}

pub fn run(args: DisasmArgs) -> Result<(), CliError> {
    let file = xbpf::format::read_program(&args.input).map_err(input_error)?;
    print!("{}", xbpf::isa::disassemble(&file.slots));
    Ok(())
}
