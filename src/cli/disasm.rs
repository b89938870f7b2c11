//! `xbpf disasm`: disassembles a program, or shows the native code the JIT makes of it.

use super::{CliError, input_error, load};
use std::path::PathBuf;
use std::sync::Arc;
use xbpf::isa::ExecConfig;

/// Disassemble a program (raw bytecode, assembly or .data file) into assembly text that
/// reassembles to the same bytes; with --jit, print the JIT's native code instead, under the
/// eBPF instruction each block came from. For an ELF object: its sections, symbols,
/// relocations and maps, then each program (map references shown unresolved).
#[derive(Debug, clap::Args)]
pub struct DisasmArgs {
    /// Program file.
    input: PathBuf,
    /// Print the native code the JIT compiles the program into.
    #[arg(long)]
    jit: bool,
    /// With --jit: compile without runtime bounds checks (the code verified programs run).
    #[arg(long, requires = "jit")]
    no_bounds_checks: bool,
}

pub fn run(args: DisasmArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.input)
        .map_err(|error| CliError::Input(format!("{}: {error}", args.input.display())))?;
    if xbpf::format::detect(&bytes) == xbpf::format::ProgramFormat::Elf {
        if args.jit {
            return Err(CliError::Input(
                "--jit lists raw, assembly or .data programs; ELF objects show their tables"
                    .to_string(),
            ));
        }
        print!("{}", super::elf::disasm(&bytes, &args.input)?);
        return Ok(());
    }
    if !args.jit {
        let file = xbpf::format::read_program(&args.input).map_err(input_error)?;
        print!("{}", xbpf::isa::disassemble(&file.slots));
        return Ok(());
    }
    if !xbpf::engines::HAS_JIT {
        return Err(CliError::Input(
            "--jit: this build has no JIT back end for its architecture".to_string(),
        ));
    }
    let (program, _) = load(&args.input)?;
    let config = ExecConfig {
        bounds_checks: !args.no_bounds_checks,
        helpers: Arc::new(xbpf::conformance::runner::conformance_helpers()),
        ..ExecConfig::default()
    };
    let compiled = xbpf::jit::Jit::new()
        .compile(&program, &config)
        .map_err(input_error)?;
    print!("{}", compiled.native_listing());
    Ok(())
}
