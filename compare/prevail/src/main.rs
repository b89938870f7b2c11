//! Verifies every row of the corpus table with PREVAIL and with xbpf, one program at a time on
//! one thread (each tool loads the object and verifies the program; both are timed the same
//! way), and prints per-program times, the ratio PREVAIL / xbpf and the totals.
//!
//! Usage: xbpf-prevail-compare TABLE [--repeat N] [--filter TEXT]

use prevail::crab::ebpf_domain::DomainContext;
use prevail::crab::var_registry::VariableRegistry;
use prevail::elf_loader;
use prevail::fwd_analyzer;
use prevail::ir::program::Program;
use prevail::ir::unmarshal;
use prevail::linux::linux_platform::LinuxPlatform;
use prevail::spec::config::{EbpfRuntimeConfig, EbpfVerifierOptions, VerbosityOptions};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xbpf::corpus::{self, CorpusRow, Expected, Verdict};
use xbpf::verifier::VerifierConfig;

/// PREVAIL's verdict: Some(true) accepted, Some(false) rejected, None: could not load.
fn prevail_verify(path: &Path, row: &CorpusRow) -> Option<bool> {
    let options = EbpfVerifierOptions {
        must_have_exit: true,
        mock_map_fds: true,
        runtime: EbpfRuntimeConfig {
            strict: false,
            allow_division_by_zero: true,
            setup_constraints: true,
            big_endian: false,
            check_for_termination: false,
            subprogram_stack_size: 512,
            max_call_stack_frames: 8,
            max_packet_size: 65535,
        },
        verbosity_opts: VerbosityOptions {
            simplify: false,
            print_invariants: false,
            print_failures: false,
            print_line_info: false,
            dump_btf_types_json: false,
            collect_instruction_deps: false,
        },
    };
    let mut platform = LinuxPlatform::new();
    platform.conformance_groups =
        prevail::linux::linux_platform::conformance_groups::DEFAULT_GROUPS;
    let mut elf = elf_loader::ElfObject::new(path.to_str()?, options).ok()?;
    let mut programs = elf
        .get_programs(&row.section, &row.function, &mut platform)
        .ok()?;
    if programs.len() != 1 {
        return None;
    }
    let raw = &mut programs[0];
    platform.map_descriptors = raw.info.map_descriptors.clone();
    platform.set_program_type(&raw.info.program_type);
    let mut notes = Vec::new();
    let Ok(sequence) = unmarshal::unmarshal(&raw.prog, &mut notes, &raw.info, &platform, &options)
    else {
        return Some(false);
    };
    let Ok(program) = Program::from_sequence(&sequence, &mut raw.info, &platform, &options) else {
        return Some(false);
    };
    let context = DomainContext {
        program_info: &raw.info,
        program: &program,
        runtime: &options.runtime,
        options: &options,
        platform: &platform,
    };
    let mut registry = VariableRegistry::new();
    let result = fwd_analyzer::analyze(&program, &context, &mut registry);
    Some(!result.failed)
}

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (last.expect("ran at least once"), best)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(table) = args.first() else {
        eprintln!("usage: xbpf-prevail-compare TABLE [--repeat N] [--filter TEXT]");
        return ExitCode::from(2);
    };
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let repeat: usize = option("--repeat").and_then(|n| n.parse().ok()).unwrap_or(1);
    let filter = option("--filter");
    let table = Path::new(table);
    let rows = match corpus::read_table(table) {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let dir = table.parent().unwrap_or(Path::new("."));
    let config = VerifierConfig::default();
    println!(
        "{:<66} {:>8} {:>8} {:>11} {:>11} {:>7}",
        "program", "prevail", "xbpf", "prevail ms", "xbpf ms", "ratio"
    );
    let (mut total_prevail, mut total_xbpf) = (Duration::ZERO, Duration::ZERO);
    let mut compared = 0;
    // Per project: programs, PREVAIL and xbpf times, programs each accepts.
    let mut projects: std::collections::BTreeMap<
        String,
        (usize, Duration, Duration, usize, usize),
    > = Default::default();
    for row in &rows {
        // Malformed objects measure nothing but error paths.
        if row.expected == Expected::RejectLoad {
            continue;
        }
        let name = format!("{} {}/{}", row.object, row.section, row.function);
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let path = dir.join(&row.object);
        // PREVAIL panics on some malformed inputs; a panic counts as a rejection.
        let (prevail, prevail_time) = best_of(repeat, || {
            std::panic::catch_unwind(|| prevail_verify(&path, row)).unwrap_or(Some(false))
        });
        let (ours, xbpf_time) = best_of(repeat, || corpus::run_row(dir, row, &config));
        let prevail_verdict = match prevail {
            Some(true) => "accepts",
            Some(false) => "rejects",
            None => "no load",
        };
        let our_verdict = match ours {
            Verdict::Accepted(_) => "accepts",
            Verdict::Rejected(_) => "rejects",
            Verdict::LoadFailed(_) => "no load",
        };
        let ratio = prevail_time.as_secs_f64() / xbpf_time.as_secs_f64().max(1e-9);
        println!(
            "{name:<66} {prevail_verdict:>8} {our_verdict:>8} {:>11.3} {:>11.3} {ratio:>7.2}",
            prevail_time.as_secs_f64() * 1e3,
            xbpf_time.as_secs_f64() * 1e3,
        );
        total_prevail += prevail_time;
        total_xbpf += xbpf_time;
        compared += 1;
        let project = projects.entry(row.project().to_string()).or_default();
        project.0 += 1;
        project.1 += prevail_time;
        project.2 += xbpf_time;
        project.3 += usize::from(prevail == Some(true));
        project.4 += usize::from(matches!(ours, Verdict::Accepted(_)));
    }
    println!(
        "\n{:<18} {:>8} {:>12} {:>10} {:>9} {:>16} {:>13}",
        "project", "programs", "prevail ms", "xbpf ms", "ratio", "prevail accepts", "xbpf accepts"
    );
    for (name, (n, p, x, pa, xa)) in &projects {
        println!(
            "{name:<18} {n:>8} {:>12.1} {:>10.1} {:>9.1} {pa:>16} {xa:>13}",
            p.as_secs_f64() * 1e3,
            x.as_secs_f64() * 1e3,
            p.as_secs_f64() / x.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "\ntotal over {compared} programs: prevail {:.1} ms, xbpf {:.1} ms, prevail/xbpf = {:.2}",
        total_prevail.as_secs_f64() * 1e3,
        total_xbpf.as_secs_f64() * 1e3,
        total_prevail.as_secs_f64() / total_xbpf.as_secs_f64().max(1e-9)
    );
    ExitCode::SUCCESS
}
