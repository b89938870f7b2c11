//! `xbpf run`: runs a program once (or N times, timing it) and prints r0.

use super::{CliError, engine, input_error, load};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xbpf::isa::{ExecConfig, Program, RunInput};

/// Run a program and print r0 (unsigned decimal) on stdout.
///
/// r1 points to the input memory (if any) and r2 holds its length. A fault prints the error
/// (with the instruction index) on stderr and exits with status 1.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Program file: raw bytecode, assembly, or a conformance .data file (which brings its memory).
    program: PathBuf,
    /// Input memory from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "mem")]
    mem_file: Option<PathBuf>,
    /// Input memory as hex bytes (whitespace allowed), e.g. "01 02 ff".
    #[arg(long, value_name = "HEX")]
    mem: Option<String>,
    /// Execution engine.
    #[arg(long, default_value = "interp")]
    engine: String,
    /// Instruction budget: the run fails once it would execute more instructions.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Run N times (memory reset before each run, outside the timed part) and print
    /// `runs=N min_ns=… median_ns=… insns=… min_ns_per_insn=… median_ns_per_insn=…` on stderr
    /// (the executed instructions counted by one more, untimed, run on the interpreter; ELF
    /// objects, whose runs change maps, report the times only).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    repeat: Option<u64>,
    /// ELF objects: the program's section (e.g. `xdp`, `kprobe/sys_write`).
    #[arg(long)]
    section: Option<String>,
    /// ELF objects: the program's entry function.
    #[arg(long)]
    function: Option<String>,
    /// ELF objects: after the run, print every map's contents as JSON (after r0).
    #[arg(long)]
    dump_maps: bool,
    /// ELF objects: packet data as hex bytes. The program runs as the type its section names
    /// (xdp, classifier, ...): the context (--mem, zero-padded) gets real pointers to the
    /// packet where the type has packet fields.
    #[arg(long, value_name = "HEX", conflicts_with = "packet_file")]
    packet: Option<String>,
    /// ELF objects: packet data from a file (see --packet).
    #[arg(long, value_name = "FILE")]
    packet_file: Option<PathBuf>,
    /// ELF objects: verify the program against its section's program type before running it
    /// (a rejection exits with status 1 and the verifier's diagnostic).
    #[arg(long)]
    verify: bool,
}

pub fn run(args: RunArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.program)
        .map_err(|error| CliError::Input(format!("{}: {error}", args.program.display())))?;
    if xbpf::format::detect(&bytes) == xbpf::format::ProgramFormat::Elf {
        return super::elf::run(super::elf::RunRequest {
            path: &args.program,
            bytes: &bytes,
            selection: super::elf::Selection {
                section: args.section.as_deref(),
                function: args.function.as_deref(),
            },
            engine: engine(&args.engine)?,
            fuel: args.fuel,
            memory: input_memory(&args, None)?,
            packet: packet(&args)?,
            verify: args.verify,
            runs: args.repeat.unwrap_or(1),
            report_timing: args.repeat.is_some(),
            dump_maps: args.dump_maps,
        });
    }
    if args.section.is_some()
        || args.function.is_some()
        || args.dump_maps
        || args.packet.is_some()
        || args.packet_file.is_some()
        || args.verify
    {
        return Err(CliError::Input(
            "--section, --function, --dump-maps, --packet, --packet-file and --verify apply to \
             ELF objects only"
                .into(),
        ));
    }
    let (program, file) = load(&args.program)?;
    let initial_memory = input_memory(&args, file.memory)?;
    let engine = engine(&args.engine)?;
    let config = ExecConfig {
        fuel: args.fuel,
        helpers: Arc::new(xbpf::conformance::runner::conformance_helpers()),
        ..ExecConfig::default()
    };
    let mut executable = engine.prepare(&program, &config).map_err(input_error)?;
    let runs = args.repeat.unwrap_or(1);
    let mut memory = initial_memory.clone();
    let mut times = Vec::with_capacity(runs as usize);
    let mut result = Ok(0);
    for _ in 0..runs {
        memory.copy_from_slice(&initial_memory);
        let input = RunInput::with_memory(&mut memory);
        let start = Instant::now();
        result = executable.run(&input);
        times.push(start.elapsed());
        if result.is_err() {
            break;
        }
    }
    let r0 = result.map_err(|error| CliError::Failed(error.to_string()))?;
    println!("{r0}");
    if args.repeat.is_some() {
        let executed = executed_instructions(&program, &config, &initial_memory);
        eprintln!("{}", timing_line(&mut times, executed));
    }
    Ok(())
}

/// The instructions one run executes, counted by the interpreter's fuel accounting in a run on
/// a fresh copy of the memory; `None` if that run fails.
fn executed_instructions(program: &Program, config: &ExecConfig, memory: &[u8]) -> Option<u64> {
    let config = ExecConfig {
        fuel: Some(u64::MAX),
        ..config.clone()
    };
    let mut counter = xbpf::interp::Interpreter
        .prepare_program(program, &config)
        .ok()?;
    let mut memory = memory.to_vec();
    xbpf::isa::Executable::run(&mut counter, &RunInput::with_memory(&mut memory)).ok()?;
    Some(u64::MAX - counter.fuel_left()?)
}

/// The input memory: `--mem-file`, `--mem`, or what the program file brought.
fn input_memory(args: &RunArgs, from_file: Option<Vec<u8>>) -> Result<Vec<u8>, CliError> {
    Ok(match (&args.mem_file, &args.mem) {
        (Some(path), _) => std::fs::read(path)
            .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?,
        (None, Some(hex)) => xbpf::conformance::hex::decode(hex)
            .map_err(|error| CliError::Input(format!("--mem: {error}")))?,
        (None, None) => from_file.unwrap_or_default(),
    })
}

/// The packet: `--packet-file`, `--packet`, or none.
fn packet(args: &RunArgs) -> Result<Option<Vec<u8>>, CliError> {
    Ok(match (&args.packet_file, &args.packet) {
        (Some(path), _) => Some(
            std::fs::read(path)
                .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?,
        ),
        (None, Some(hex)) => Some(
            xbpf::conformance::hex::decode(hex)
                .map_err(|error| CliError::Input(format!("--packet: {error}")))?,
        ),
        (None, None) => None,
    })
}

/// `runs=N min_ns=… median_ns=…` (the median of an even count is the lower middle), then
/// `insns=… min_ns_per_insn=… median_ns_per_insn=…` when the executed count is known.
pub(super) fn timing_line(times: &mut [Duration], executed: Option<u64>) -> String {
    times.sort_unstable();
    let min = times.first().copied().unwrap_or_default();
    let median = times
        .get(times.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default();
    let mut line = format!(
        "runs={} min_ns={} median_ns={}",
        times.len(),
        min.as_nanos(),
        median.as_nanos()
    );
    if let Some(executed) = executed.filter(|&count| count > 0) {
        let per_insn = |time: Duration| time.as_nanos() as f64 / executed as f64;
        line += &format!(
            " insns={executed} min_ns_per_insn={:.3} median_ns_per_insn={:.3}",
            per_insn(min),
            per_insn(median)
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_line_reports_min_and_median() {
        let mut times = [30, 10, 20].map(Duration::from_nanos);
        assert_eq!(
            timing_line(&mut times, None),
            "runs=3 min_ns=10 median_ns=20"
        );
    }

    #[test]
    fn timing_line_reports_nanoseconds_per_instruction_when_the_count_is_known() {
        let mut times = [30, 10, 20].map(Duration::from_nanos);
        assert_eq!(
            timing_line(&mut times, Some(8)),
            "runs=3 min_ns=10 median_ns=20 insns=8 min_ns_per_insn=1.250 median_ns_per_insn=2.500"
        );
    }

    #[test]
    fn the_executed_count_is_the_interpreters() {
        let program = Program::new(
            xbpf::isa::assemble("mov %r0, 0\nL:\nadd %r0, 1\njlt %r0, 10, L\nexit").unwrap(),
        )
        .unwrap();
        let config = ExecConfig::default();
        assert_eq!(executed_instructions(&program, &config, &[]), Some(22));
        let faulting =
            Program::new(xbpf::isa::assemble("ldxb %r0, [%r1+99]\nexit").unwrap()).unwrap();
        assert_eq!(executed_instructions(&faulting, &config, &[0; 4]), None);
    }
}
