//! `xbpf asm`: assembles a program.

use super::{CliError, input_error};
use std::path::PathBuf;

/// Assemble a program into raw bytecode.
///
/// Without -o, prints the bytecode as hex, one 8-byte slot per line.
#[derive(Debug, clap::Args)]
pub struct AsmArgs {
    /// Assembly source file.
    input: PathBuf,
    /// Write raw little-endian bytecode to this file.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

pub fn run(args: AsmArgs) -> Result<(), CliError> {
    let source = std::fs::read_to_string(&args.input)
        .map_err(|error| CliError::Input(format!("{}: {error}", args.input.display())))?;
    let slots = xbpf::isa::assemble(&source)
        .map_err(|error| CliError::Input(format!("{}: {error}", args.input.display())))?;
    let bytes = xbpf::isa::insn::slots_to_bytes(&slots);
    match args.output {
        Some(path) => std::fs::write(&path, bytes).map_err(input_error)?,
        None => {
            for slot in bytes.chunks_exact(8) {
                let hex: String = slot.iter().map(|byte| format!("{byte:02x}")).collect();
                println!("{hex}");
            }
        }
    }
    Ok(())
}
