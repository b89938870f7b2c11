//! `xbpf plugin`: the plugin side of the bpf_conformance protocol, so the upstream runner (or
//! `xbpf conformance --plugin`) can drive xbpf.

use super::{CliError, engine, input_error};
use std::io::Read;
use std::sync::Arc;
use xbpf::conformance::PluginRequest;
use xbpf::isa::{ExecConfig, Program, RunInput};

/// Act as a bpf_conformance plugin: read the program as hex on stdin (or --program), the
/// memory as hex in the first argument, run it, print r0 in hex on stdout.
///
/// Use with the upstream runner as
/// `bpf_conformance_runner --plugin_path xbpf --plugin_options "plugin --engine interp" ...`
/// or with `xbpf conformance --plugin "xbpf plugin"`.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    /// Test memory as hex bytes (the runner's first argument when the test has memory).
    #[arg(allow_hyphen_values = false)]
    memory: Option<String>,
    /// Execution engine.
    #[arg(long, default_value = "interp")]
    engine: String,
    /// Program as hex, instead of stdin.
    #[arg(long, value_name = "HEX")]
    program: Option<String>,
    /// The program bytes are an ELF object (the runner's --elf mode).
    #[arg(long)]
    elf: bool,
}

pub fn run(args: PluginArgs) -> Result<(), CliError> {
    if args.elf {
        return Err(CliError::Input(
            "--elf: ELF programs are not supported yet".to_string(),
        ));
    }
    let program_hex = match args.program {
        Some(hex) => hex,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| CliError::Input(format!("reading stdin: {error}")))?;
            text
        }
    };
    let request = PluginRequest::parse(args.memory.as_deref(), &program_hex)
        .map_err(|error| CliError::Input(format!("bad hex input: {error}")))?;
    let program = Program::from_bytes(&request.program).map_err(input_error)?;
    let engine = engine(&args.engine)?;
    let config = ExecConfig {
        helpers: Arc::new(xbpf::conformance::runner::conformance_helpers()),
        ..ExecConfig::default()
    };
    let mut executable = engine.prepare(&program, &config).map_err(input_error)?;
    let mut memory = request.memory;
    let input = RunInput::with_memory(&mut memory);
    let r0 = executable
        .run(&input)
        .map_err(|error| CliError::Failed(error.to_string()))?;
    println!("{r0:x}");
    Ok(())
}
