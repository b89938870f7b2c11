//! `xbpf verify`: proves a program memory-safe, or says precisely why not.

use super::{CliError, load};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xbpf::corpus::{self, Expected, RowResult, Verdict};
use xbpf::elf::ElfObject;
use xbpf::format::ProgramFormat;
use xbpf::program_types::{self, RegsArch};
use xbpf::verifier::diagnostics::json::Json;
use xbpf::verifier::diagnostics::{json, sarif, text};
use xbpf::verifier::{ProgramType, VerifierConfig, verify};

/// Verify a program with the abstract-interpretation verifier.
///
/// Exit status: 0 when every selected program is proven safe, 1 when one is rejected (the
/// diagnostic names the instruction, the failed check, the abstract values involved, a path
/// reaching it and, with BTF line info, the C source line), 2 when a file cannot be loaded or
/// the arguments are wrong.
///
/// ELF objects: every program of the object is verified and listed, or the one --section and
/// --function select; the program type comes from the section name (as libbpf names them:
/// xdp, socket, kprobe/, tracepoint/, classifier, sockops, cgroup/...), else --type.
///
/// A conformance `.data` file is verified as the conformance convention runs it: r1 points to
/// a readable and writable memory region of the file's memory size and r2 holds that size.
///
/// With --corpus TABLE, every row of a verifier corpus table (`expected.tsv`: object, section,
/// function, expected verdict) is verified in parallel and compared with its expectation; the
/// output is a table per project, then `N passed, N failed`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Program file: an ELF object, raw bytecode, assembly or a conformance .data file.
    #[arg(required_unless_present = "corpus")]
    program: Option<PathBuf>,
    /// ELF objects: verify only the programs of this section.
    #[arg(long)]
    section: Option<String>,
    /// ELF objects: verify only the program with this entry function.
    #[arg(long)]
    function: Option<String>,
    /// Program type: conformance (r1 = memory of --mem-size bytes, r2 = its size), generic
    /// (r1 = a context of --ctx-size bytes), xdp, socket_filter, tc_classifier, kprobe,
    /// tracepoint, raw_tracepoint, perf_event, sock_ops, sock_addr, cgroup_sock, cgroup_skb,
    /// sk_skb, lwt. ELF objects default to the type their section names.
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
    /// Allow pointers to be stored where the host can read them (maps, context, packet) and
    /// returned in r0 (Linux allows it to privileged programs; off by default, since a host
    /// embedding xbpf should not see its own addresses).
    #[arg(long)]
    allow_pointer_leaks: bool,
    /// Run a verifier corpus table (expected.tsv; objects are found beside it).
    #[arg(long, value_name = "TABLE", conflicts_with_all = ["program", "section", "function", "program_type"])]
    corpus: Option<PathBuf>,
    /// With --corpus: worker threads (default: the available cores).
    #[arg(long, value_name = "N", requires = "corpus")]
    jobs: Option<usize>,
    /// With --corpus: list every row, not only the failed ones.
    #[arg(long, requires = "corpus")]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

fn config(args: &VerifyArgs) -> VerifierConfig {
    VerifierConfig {
        check_termination: args.termination,
        check_division_by_zero: args.division_by_zero,
        collect_invariants: args.print_invariants,
        allow_pointer_leaks: args.allow_pointer_leaks,
        ..VerifierConfig::default()
    }
}

fn named_type(
    name: &str,
    args: &VerifyArgs,
    memory: Option<usize>,
) -> Result<ProgramType, CliError> {
    let memory_size = || -> Result<u32, CliError> {
        match (args.mem_size, memory) {
            (Some(size), _) => Ok(size),
            (None, Some(len)) => u32::try_from(len)
                .map_err(|_| CliError::Input(format!("memory of {len} bytes is too large"))),
            (None, None) => Ok(0),
        }
    };
    match name {
        "conformance" => Ok(ProgramType::conformance(memory_size()?)),
        "generic" => Ok(ProgramType::generic(args.ctx_size)),
        other => program_types::by_name(other, RegsArch::X86_64).ok_or_else(|| {
            CliError::Input(format!(
                "unknown program type `{other}` (conformance, generic, generic:SIZE, xdp, socket_filter, \
                 tc_classifier, kprobe, tracepoint, raw_tracepoint, perf_event, sock_ops, sock_addr, \
                 cgroup_sock, cgroup_skb, sk_skb, lwt)"
            ))
        }),
    }
}

pub fn run(args: VerifyArgs) -> Result<(), CliError> {
    if let Some(table) = &args.corpus {
        return run_corpus(&args, table);
    }
    let path = args.program.clone().expect("clap requires a program");
    let bytes = std::fs::read(&path)
        .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?;
    if xbpf::format::detect(&bytes) == ProgramFormat::Elf {
        return run_elf(&args, &path, &bytes);
    }
    if args.section.is_some() || args.function.is_some() {
        return Err(CliError::Input(
            "--section and --function apply to ELF objects only".into(),
        ));
    }
    let (program, file) = load(&path)?;
    let data_memory = match file.format {
        ProgramFormat::ConformanceData => file.memory.as_ref().map(Vec::len),
        _ => None,
    };
    let program_type = named_type(
        args.program_type.as_deref().unwrap_or("conformance"),
        &args,
        data_memory,
    )?;
    let artifact = path.display().to_string();
    match verify(&program, &program_type, &[], &config(&args)) {
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

/// The verdict on one program of an object.
struct ElfVerdict {
    name: String,
    type_name: String,
    time: Duration,
    result: Result<xbpf::verifier::Report, Box<xbpf::verifier::Rejection>>,
}

fn run_elf(args: &VerifyArgs, path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let in_file = |e: &dyn std::fmt::Display| CliError::Input(format!("{}: {e}", path.display()));
    let object = ElfObject::parse(bytes).map_err(|e| in_file(&e))?;
    let selected: Vec<_> = object
        .programs()
        .iter()
        .filter(|p| args.section.as_deref().is_none_or(|s| p.section == s))
        .filter(|p| args.function.as_deref().is_none_or(|f| p.function == f))
        .collect();
    if selected.is_empty() {
        let names: Vec<String> = object
            .programs()
            .iter()
            .map(|p| format!("{}/{}", p.section, p.function))
            .collect();
        return Err(in_file(&format!(
            "no program matches (the object has: {})",
            names.join(", ")
        )));
    }
    let override_type = args
        .program_type
        .as_deref()
        .map(|name| named_type(name, args, None))
        .transpose()?;
    let object_path = path.to_string_lossy();
    let config = config(args);
    let mut verdicts = Vec::new();
    for program in selected {
        let start = Instant::now();
        let prepared = corpus::prepare(&object, &object_path, program, override_type.as_ref())
            .map_err(|e| in_file(&e))?;
        let result = prepared.verify(&config);
        verdicts.push(ElfVerdict {
            name: format!("{}/{}", program.section, program.function),
            type_name: prepared.program_type.name.clone(),
            time: start.elapsed(),
            result,
        });
    }
    let artifact = path.display().to_string();
    match args.format {
        Format::Text => {
            for verdict in &verdicts {
                let ms = verdict.time.as_secs_f64() * 1e3;
                match &verdict.result {
                    Ok(report) => print!(
                        "{artifact} {} ({}, {} instructions, {ms:.1} ms): {}",
                        verdict.name,
                        verdict.type_name,
                        report.stats.instructions,
                        text::render_report(report)
                    ),
                    Err(rejection) => println!(
                        "{artifact} {} ({}, {ms:.1} ms): {}",
                        verdict.name,
                        verdict.type_name,
                        text::render(rejection)
                    ),
                }
            }
        }
        Format::Json => {
            let programs: Vec<Json> = verdicts
                .iter()
                .map(|verdict| {
                    let (accepted, detail) = match &verdict.result {
                        Ok(report) => (true, json::report(report)),
                        Err(rejection) => (false, json::rejection(rejection)),
                    };
                    Json::object([
                        ("program", Json::str(verdict.name.clone())),
                        ("type", Json::str(verdict.type_name.clone())),
                        ("accepted", Json::Bool(accepted)),
                        ("result", detail),
                    ])
                })
                .collect();
            let document = Json::object([
                ("object", Json::str(artifact.clone())),
                ("programs", Json::Array(programs)),
            ]);
            println!("{}", document.render());
        }
        Format::Sarif => {
            let entries: Vec<sarif::SarifEntry<'_>> = verdicts
                .iter()
                .filter_map(|verdict| {
                    verdict
                        .result
                        .as_ref()
                        .err()
                        .map(|rejection| sarif::SarifEntry {
                            artifact: &artifact,
                            program: &verdict.name,
                            rejection,
                        })
                })
                .collect();
            println!("{}", sarif::render(&entries));
        }
    }
    if verdicts.iter().all(|v| v.result.is_ok()) {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

/// Per-project counts for the summary table.
#[derive(Default)]
struct ProjectSummary {
    programs: usize,
    passed: usize,
    accepted: usize,
    rejected: usize,
    load_failed: usize,
    expected_safe: usize,
    expected_unsafe: usize,
    expected_load_failure: usize,
    time: Duration,
    cpu: Duration,
    slowest: Duration,
    slowest_cpu: Duration,
    peak: u64,
}

fn run_corpus(args: &VerifyArgs, table: &Path) -> Result<(), CliError> {
    let rows = corpus::read_table(table).map_err(super::input_error)?;
    let dir = table.parent().unwrap_or(Path::new("."));
    if let Some(first) = rows.first()
        && !dir.join(&first.object).exists()
    {
        return Err(CliError::Input(format!(
            "{}: the corpus objects are not beside the table ({} is missing)",
            table.display(),
            first.object
        )));
    }
    let threads = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let start = Instant::now();
    let results = corpus::run_all(
        dir,
        &rows,
        &config(args),
        threads,
        Some(super::alloc_meter::measure_peak),
    );
    let wall = start.elapsed();
    print!("{}", render_corpus(&results, args.verbose, wall, threads));
    let failed = results.iter().filter(|r| !r.passed()).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn render_corpus(results: &[RowResult], verbose: bool, wall: Duration, threads: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<60} {:<22} {:<11} {:>9} {:>9} {:>9}  result",
        "program", "expected", "verdict", "ms", "cpu ms", "peak MiB"
    );
    for result in results {
        if !verbose && result.passed() {
            continue;
        }
        let name = format!(
            "{} {}/{}",
            result.row.object, result.row.section, result.row.function
        );
        let _ = writeln!(
            out,
            "{:<60} {:<22} {:<11} {:>9.2} {:>9.2} {:>9.2}  {}",
            name,
            result.row.expected.name(),
            result.verdict.name(),
            result.time.as_secs_f64() * 1e3,
            result.cpu_time.unwrap_or_default().as_secs_f64() * 1e3,
            mib(result.peak_bytes.unwrap_or(0)),
            if result.passed() { "ok" } else { "FAILED" }
        );
        if !result.passed() {
            let why = match &result.verdict {
                Verdict::Accepted(_) => "accepted an unsafe program".to_string(),
                Verdict::Rejected(rejection) => text::render(rejection),
                Verdict::LoadFailed(message) => message.clone(),
            };
            for line in why.lines().take(8) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let mut projects: std::collections::BTreeMap<&str, ProjectSummary> = Default::default();
    for result in results {
        let p = projects.entry(result.row.project()).or_default();
        p.programs += 1;
        p.passed += usize::from(result.passed());
        match result.verdict {
            Verdict::Accepted(_) => p.accepted += 1,
            Verdict::Rejected(_) => p.rejected += 1,
            Verdict::LoadFailed(_) => p.load_failed += 1,
        }
        match result.row.expected {
            Expected::Pass | Expected::SafePrevailRejects => p.expected_safe += 1,
            Expected::Reject => p.expected_unsafe += 1,
            Expected::RejectLoad => p.expected_load_failure += 1,
        }
        p.time += result.time;
        p.cpu += result.cpu_time.unwrap_or_default();
        p.slowest = p.slowest.max(result.time);
        p.slowest_cpu = p.slowest_cpu.max(result.cpu_time.unwrap_or_default());
        p.peak = p.peak.max(result.peak_bytes.unwrap_or(0));
    }
    let _ = writeln!(
        out,
        "\n{:<18} {:>8} {:>7} {:>9} {:>9} {:>7} {:>19} {:>10} {:>10} {:>10} {:>9}",
        "project",
        "programs",
        "passed",
        "accepted",
        "rejected",
        "no load",
        "expected safe/unsafe/bad",
        "time ms",
        "cpu ms",
        "slowest ms",
        "peak MiB"
    );
    let mut total = ProjectSummary::default();
    for (name, p) in &projects {
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>7} {:>9} {:>9} {:>7} {:>19} {:>10.1} {:>10.1} {:>10.1} {:>9.2}",
            name,
            p.programs,
            p.passed,
            p.accepted,
            p.rejected,
            p.load_failed,
            format!(
                "{}/{}/{}",
                p.expected_safe, p.expected_unsafe, p.expected_load_failure
            ),
            p.time.as_secs_f64() * 1e3,
            p.cpu.as_secs_f64() * 1e3,
            p.slowest.as_secs_f64() * 1e3,
            mib(p.peak)
        );
        total.programs += p.programs;
        total.passed += p.passed;
        total.time += p.time;
        total.cpu += p.cpu;
        total.slowest = total.slowest.max(p.slowest);
        total.slowest_cpu = total.slowest_cpu.max(p.slowest_cpu);
        total.peak = total.peak.max(p.peak);
    }
    let by_expectation = |expected: Expected| {
        let rows: Vec<&RowResult> = results
            .iter()
            .filter(|r| r.row.expected == expected)
            .collect();
        let passed = rows.iter().filter(|r| r.passed()).count();
        format!("{}: {passed}/{}", expected.name(), rows.len())
    };
    let _ = writeln!(
        out,
        "\n{}, {}, {}, {}",
        by_expectation(Expected::Pass),
        by_expectation(Expected::SafePrevailRejects),
        by_expectation(Expected::Reject),
        by_expectation(Expected::RejectLoad)
    );
    if let Some(slowest) = results.iter().max_by_key(|r| r.time) {
        let _ = writeln!(
            out,
            "slowest: {} {}/{} {:.1} ms",
            slowest.row.object,
            slowest.row.section,
            slowest.row.function,
            slowest.time.as_secs_f64() * 1e3
        );
    }
    if let Some(slowest) = results.iter().max_by_key(|r| r.cpu_time) {
        let _ = writeln!(
            out,
            "most CPU: {} {}/{} {:.1} ms CPU",
            slowest.row.object,
            slowest.row.section,
            slowest.row.function,
            slowest.cpu_time.unwrap_or_default().as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(
        out,
        "total verification time {:.1} ms ({:.1} ms CPU) over {} programs ({:.1} ms wall on \
         {threads} threads); peak heap of one program {:.2} MiB (counting allocator, per worker \
         thread)",
        total.time.as_secs_f64() * 1e3,
        total.cpu.as_secs_f64() * 1e3,
        total.programs,
        wall.as_secs_f64() * 1e3,
        mib(total.peak)
    );
    let _ = writeln!(
        out,
        "{} passed, {} failed",
        total.passed,
        total.programs - total.passed
    );
    out
}
