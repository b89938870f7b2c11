//! `xbpf conformance`: runs the bpf_conformance suite on xbpf's engines or on a plugin.

use super::{CliError, engine, input_error};
use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;
use xbpf::conformance::{
    CpuVersion, Group, Groups, Options, PluginCommand, Summary, Target, discover, render_json,
    render_text, run_suite,
};

/// Run bpf_conformance tests (`.data` files) and grade them.
///
/// Prints one line per test and ends with `N passed, N failed` (`, N skipped` when any were
/// skipped). Exits 0 exactly when nothing failed.
#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// Directory of .data tests (a checkout of bpf_conformance's tests/), or one .data file.
    #[arg(long, value_name = "DIR")]
    suite: PathBuf,
    /// Engine to test: one of this build's engines, or `all` to run every test on each.
    #[arg(long, default_value = "all", conflicts_with = "plugin")]
    engine: String,
    /// Test an external runtime instead: a command speaking the bpf_conformance plugin
    /// protocol (program hex on stdin, memory hex as first argument, r0 in hex on stdout).
    #[arg(long, value_name = "CMD")]
    plugin: Option<String>,
    /// Extra arguments for the plugin, split on whitespace, passed after the memory argument.
    #[arg(long, value_name = "ARGS", default_value = "", requires = "plugin")]
    plugin_options: String,
    /// Seconds a plugin may take per test before it is killed and the test fails.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    plugin_timeout: u64,
    /// CPU version: tests needing a later one are skipped.
    #[arg(long, default_value = "v4", value_parser = parse_cpu)]
    cpu_version: CpuVersion,
    /// Run only tests whose groups are all among these (default: every group).
    #[arg(long, value_name = "GROUP", value_delimiter = ',', num_args = 1.., value_parser = parse_group)]
    include_groups: Vec<Group>,
    /// Skip tests that need any of these groups (base64, atomic64 and divmul64 also exclude their 32-bit groups).
    #[arg(long, value_name = "GROUP", value_delimiter = ',', num_args = 1.., value_parser = parse_group)]
    exclude_groups: Vec<Group>,
    /// Run only tests whose file name matches this regex.
    #[arg(long, value_name = "REGEX")]
    include: Option<Regex>,
    /// Skip tests whose file name matches this regex.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<Regex>,
    /// Instruction budget per test run (in-process engines).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_cpu(text: &str) -> Result<CpuVersion, String> {
    text.parse()
}

fn parse_group(text: &str) -> Result<Group, String> {
    text.parse()
}

fn groups(args: &ConformanceArgs) -> Groups {
    let mut groups = if args.include_groups.is_empty() {
        Groups::ALL
    } else {
        let mut groups = Groups::NONE;
        for group in &args.include_groups {
            groups.insert(*group);
            if let Some(implied) = group.implied() {
                groups.insert(implied);
            }
        }
        groups
    };
    for group in &args.exclude_groups {
        groups.remove(*group);
        if let Some(implied) = group.implied() {
            groups.remove(implied);
        }
    }
    groups
}

pub fn run(args: ConformanceArgs) -> Result<(), CliError> {
    let options = Options {
        cpu_version: args.cpu_version,
        groups: groups(&args),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        fuel: args.fuel,
        plugin_timeout: Duration::from_secs(args.plugin_timeout),
    };
    let files = discover(&args.suite).map_err(input_error)?;
    let engines = match (&args.plugin, args.engine.as_str()) {
        (Some(_), _) => Vec::new(),
        (None, "all") => xbpf::engines::all_engines(),
        (None, name) => vec![engine(name)?],
    };
    let targets: Vec<Target<'_>> = match &args.plugin {
        Some(command) => vec![Target::Plugin(
            PluginCommand::parse(command, &args.plugin_options).map_err(input_error)?,
        )],
        None => engines
            .iter()
            .map(|engine| Target::Engine(engine.as_ref()))
            .collect(),
    };
    let results = run_suite(&files, &targets, &options);
    match args.format {
        Format::Text => print!("{}", render_text(&results)),
        Format::Json => print!("{}", render_json(&results)),
    }
    if Summary::of(&results).failed > 0 {
        return Err(CliError::Reported);
    }
    Ok(())
}
