//! `xbpf verify`: proves a program memory-safe, or says precisely why not.

use super::{CliError, load};
use std::path::PathBuf;
use xbpf::format::ProgramFormat;
use xbpf::verifier::diagnostics::{json, sarif, text};
use xbpf::verifier::{ProgramType, VerifierConfig, verify};

/// Verify a program with the abstract-interpretation verifier.
///
/// Exit status: 0 when the program is proven safe, 1 when it is rejected (the diagnostic names
/// the instruction, the failed check, the abstract values involved and a path reaching it),
/// 2 when it cannot be loaded or the arguments are wrong.
///
/// A conformance `.data` file is verified as the conformance convention runs it: r1 points to
/// a readable and writable memory region of the file's memory size and r2 holds that size.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Program file: raw bytecode, assembly or a conformance .data file.
    program: PathBuf,
    /// Program type: conformance (r1 = memory of --mem-size bytes, r2 = its size), generic
    /// (r1 = a context of --ctx-size bytes), xdp, socket_filter, tc_classifier.
    #[arg(long = "type", value_name = "TYPE")]
    program_type: Option<String>,
    /// Memory size for the conformance type (a .data file's memory size by default, else 0).
    #[arg(long, value_name = "BYTES")]
    mem_size: Option<u32>,
    /// Context size for the generic type.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    ctx_size: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print the abstract state before every instruction of an accepted program.
    #[arg(long)]
    print_invariants: bool,
    /// Require every loop to have a bound the analysis can find.
    #[arg(long)]
    termination: bool,
    /// Reject divisions whose divisor may be zero (the ISA defines them, so off by default).
    #[arg(long)]
    division_by_zero: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

fn program_type(args: &VerifyArgs, data_memory: Option<usize>) -> Result<ProgramType, CliError> {
    let memory_size = || -> Result<u32, CliError> {
        match (args.mem_size, data_memory) {
            (Some(size), _) => Ok(size),
            (None, Some(len)) => u32::try_from(len)
                .map_err(|_| CliError::Input(format!("memory of {len} bytes is too large"))),
            (None, None) => Ok(0),
        }
    };
    match args.program_type.as_deref().unwrap_or("conformance") {
        "conformance" => Ok(ProgramType::conformance(memory_size()?)),
        "generic" => Ok(ProgramType::generic(args.ctx_size)),
        "xdp" => Ok(ProgramType::xdp()),
        "socket_filter" => Ok(ProgramType::socket_filter()),
        "tc_classifier" => Ok(ProgramType::tc_classifier()),
        other => Err(CliError::Input(format!(
            "unknown program type `{other}` (conformance, generic, xdp, socket_filter, tc_classifier)"
        ))),
    }
}

pub fn run(args: VerifyArgs) -> Result<(), CliError> {
    let (program, file) = load(&args.program)?;
    let data_memory = match file.format {
        ProgramFormat::ConformanceData => file.memory.as_ref().map(Vec::len),
        _ => None,
    };
    let program_type = program_type(&args, data_memory)?;
    let config = VerifierConfig {
        check_termination: args.termination,
        check_division_by_zero: args.division_by_zero,
        collect_invariants: args.print_invariants,
        ..VerifierConfig::default()
    };
    let artifact = args.program.display().to_string();
    match verify(&program, &program_type, &[], &config) {
        Ok(report) => {
            match args.format {
                Format::Text => print!("{artifact}: {}", text::render_report(&report)),
                Format::Json => println!("{}", json::report(&report).render()),
                Format::Sarif => println!("{}", sarif::render(&[])),
            }
            Ok(())
        }
        Err(rejection) => {
            match args.format {
                Format::Text => println!("{artifact}: {}", text::render(&rejection)),
                Format::Json => println!("{}", json::rejection(&rejection).render()),
                Format::Sarif => println!(
                    "{}",
                    sarif::render(&[sarif::SarifEntry {
                        artifact: &artifact,
                        program: "program",
                        rejection: &rejection,
                    }])
                ),
            }
            Err(CliError::Reported)
        }
    }
}
