//! Runs conformance tests against in-process engines or an external plugin, and grades them.

use crate::classify::{CpuVersion, Groups, classify};
use crate::data::{TestFile, parse};
use crate::plugin::{PluginCommand, PluginOutput};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use xbpf_isa::{Engine, ExecConfig, HelperTable, Insn, Program, RunInput};

/// Which tests run, and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tests needing a later CPU version are skipped. Default: v4.
    pub cpu_version: CpuVersion,
    /// Tests needing a group outside this set are skipped. Default: every group.
    pub groups: Groups,
    /// Only tests whose file name matches run.
    pub include: Option<Regex>,
    /// Tests whose file name matches are skipped.
    pub exclude: Option<Regex>,
    /// Instruction budget per run for in-process engines.
    pub fuel: Option<u64>,
    /// How long a plugin may take per test.
    pub plugin_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cpu_version: CpuVersion::V4,
            groups: Groups::ALL,
            include: None,
            exclude: None,
            fuel: None,
            plugin_timeout: Duration::from_secs(30),
        }
    }
}

/// What runs the tests.
pub enum Target<'a> {
    /// An engine in this process.
    Engine(&'a dyn Engine),
    /// An external command speaking the bpf_conformance plugin protocol.
    Plugin(PluginCommand),
}

impl Target<'_> {
    /// Name shown in results.
    pub fn name(&self) -> String {
        match self {
            Target::Engine(engine) => engine.name().to_string(),
            Target::Plugin(command) => format!("plugin `{}`", command.display()),
        }
    }
}

/// The verdict of one test on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target returned the expected result (or failed as expected).
    Pass,
    /// The target's result differs from the expected one.
    Fail {
        /// What the test expects.
        expected: String,
        /// What the target produced.
        got: String,
    },
    /// The test was not run on the target.
    Skip {
        /// Why (a CPU version or group the target does not support, say).
        reason: String,
    },
}

/// One test on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// File name of the test.
    pub test: String,
    /// Target name.
    pub target: String,
    /// The verdict.
    pub outcome: Outcome,
}

/// Why the suite could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The test directory could not be read.
    #[error("cannot read the test directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The directory has no `.data` file.
    #[error("no .data files in {0}")]
    Empty(PathBuf),
}

/// Lists the `.data` files of a directory (not recursive), sorted by path; a single file is
/// returned as is.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| SuiteError::ReadDir {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "data") && path.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SuiteError::Empty(path.to_path_buf()));
    }
    Ok(files)
}

/// The helpers conformance tests may call: only id 5, which returns its first argument (as
/// rbpf's and uBPF's plugins register it; the tests overwrite r0 right after the call).
pub fn conformance_helpers() -> HelperTable {
    let mut helpers = HelperTable::new();
    helpers.register(5, "conformance_return_r1", |_, args| Ok(args[0]));
    helpers
}

/// A test ready to run: its program and expectation.
struct Prepared {
    slots: Vec<Insn>,
    file: TestFile,
}

/// Runs every test file on every target.
pub fn run_suite(files: &[PathBuf], targets: &[Target<'_>], options: &Options) -> Vec<TestResult> {
    let mut results = Vec::with_capacity(files.len() * targets.len());
    for path in files {
        let test = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let prepared = prepare(path, &test, options);
        for target in targets {
            let outcome = match &prepared {
                Ok(prepared) => run_one(prepared, target, options),
                Err(outcome) => outcome.clone(),
            };
            results.push(TestResult {
                test: test.clone(),
                target: target.name(),
                outcome,
            });
        }
    }
    results
}

fn skip(reason: impl Into<String>) -> Outcome {
    Outcome::Skip {
        reason: reason.into(),
    }
}

fn fail(expected: impl Into<String>, got: impl Into<String>) -> Outcome {
    Outcome::Fail {
        expected: expected.into(),
        got: got.into(),
    }
}

/// Filters, reads, parses, assembles and classifies one test; `Err` holds its final outcome.
fn prepare(path: &Path, test: &str, options: &Options) -> Result<Prepared, Outcome> {
    if options
        .include
        .as_ref()
        .is_some_and(|include| !include.is_match(test))
    {
        return Err(skip("file name does not match --include"));
    }
    if options
        .exclude
        .as_ref()
        .is_some_and(|exclude| exclude.is_match(test))
    {
        return Err(skip("file name matches --exclude"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| fail("a readable test file", format!("cannot read: {error}")))?;
    let file = parse(&text).map_err(|error| fail("a valid .data file", error.to_string()))?;
    if let Some(directive) = &file.unknown_directive {
        return Err(skip(format!(
            "unknown directive `{directive}`: no instructions"
        )));
    }
    let slots = match (&file.raw, &file.asm) {
        (Some(raw), _) => raw.clone(),
        (None, Some(asm)) => xbpf_isa::assemble(asm)
            .map_err(|error| fail("a program that assembles", error.to_string()))?,
        (None, None) => Vec::new(),
    };
    if slots.is_empty() || (file.result.is_none() && file.error.is_none()) {
        return Err(skip("no instructions"));
    }
    let requirements = classify(&slots);
    if requirements.version > options.cpu_version {
        return Err(skip(format!(
            "needs CPU {} (running {})",
            requirements.version, options.cpu_version
        )));
    }
    if !options.groups.contains_all(requirements.groups) {
        let missing: Vec<String> = requirements
            .groups
            .iter()
            .filter(|group| !options.groups.contains(*group))
            .map(|group| group.to_string())
            .collect();
        return Err(skip(format!(
            "needs disabled group(s) {}",
            missing.join(", ")
        )));
    }
    Ok(Prepared { slots, file })
}

fn expectation(file: &TestFile) -> String {
    match (&file.error, file.result) {
        (Some(error), _) => format!("error `{error}`"),
        (None, Some(result)) => format!("{result:#x}"),
        (None, None) => "nothing".to_string(),
    }
}

fn run_one(prepared: &Prepared, target: &Target<'_>, options: &Options) -> Outcome {
    match target {
        Target::Engine(engine) => grade_engine(
            &prepared.file,
            run_on_engine(*engine, &prepared.slots, &prepared.file.mem, options),
        ),
        Target::Plugin(command) => {
            let program = xbpf_isa::insn::slots_to_bytes(&prepared.slots);
            match command.run(&program, &prepared.file.mem, options.plugin_timeout) {
                Ok(output) => grade_plugin(&prepared.file, &output),
                Err(error) => fail(expectation(&prepared.file), error.to_string()),
            }
        }
    }
}

/// Validates, prepares and runs a program on an in-process engine.
pub fn run_on_engine(
    engine: &dyn Engine,
    slots: &[Insn],
    mem: &[u8],
    options: &Options,
) -> Result<u64, String> {
    let program = Program::new(slots.to_vec()).map_err(|error| error.to_string())?;
    let config = ExecConfig {
        fuel: options.fuel,
        helpers: Arc::new(conformance_helpers()),
        ..ExecConfig::default()
    };
    let mut executable = engine
        .prepare(&program, &config)
        .map_err(|error| error.to_string())?;
    let mut memory = mem.to_vec();
    let input = RunInput::with_memory(&mut memory);
    executable.run(&input).map_err(|error| error.to_string())
}

/// In-process engines: an expected error passes when the run fails, whatever the message
/// (messages are engine-specific); an expected result must match all 64 bits.
fn grade_engine(file: &TestFile, result: Result<u64, String>) -> Outcome {
    match (&file.error, result) {
        (Some(_), Err(_)) => Outcome::Pass,
        (Some(_), Ok(value)) => fail(expectation(file), format!("{value:#x}")),
        (None, Ok(value)) if Some(value) == file.result => Outcome::Pass,
        (None, Ok(value)) => fail(expectation(file), format!("{value:#x}")),
        (None, Err(error)) => fail(expectation(file), format!("error: {error}")),
    }
}

/// Plugins are graded exactly as the upstream runner grades them (FORMAT.md section 6.4).
fn grade_plugin(file: &TestFile, output: &PluginOutput) -> Outcome {
    if !output.success {
        let text = if output.stdout.is_empty() {
            &output.stderr
        } else {
            &output.stdout
        };
        let text = text.split('\r').next().unwrap_or("").trim_end();
        return match &file.error {
            Some(expected) if text == expected => Outcome::Pass,
            _ => fail(
                expectation(file),
                format!("exit status {}: {text}", output.status),
            ),
        };
    }
    let stdout = output.stdout.strip_suffix('\n').unwrap_or(&output.stdout);
    match crate::hex::parse_result(stdout) {
        Some(value) if value == file.result.unwrap_or(0) => Outcome::Pass,
        Some(value) => fail(expectation(file), format!("{value:#x}")),
        None => fail(
            expectation(file),
            format!("unparseable plugin output `{stdout}`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_grading_follows_upstream() {
        let file = TestFile {
            result: Some(2),
            ..TestFile::default()
        };
        let ok = |stdout: &str| PluginOutput {
            success: true,
            status: 0,
            stdout: stdout.to_string(),
            stderr: String::new(),
        };
        assert_eq!(grade_plugin(&file, &ok("0x2\n")), Outcome::Pass);
        assert_eq!(grade_plugin(&file, &ok("2")), Outcome::Pass);
        assert!(matches!(
            grade_plugin(&file, &ok("3")),
            Outcome::Fail { .. }
        ));
        let failed = PluginOutput {
            success: false,
            status: 1,
            stdout: String::new(),
            stderr: "boom\n".into(),
        };
        assert!(matches!(grade_plugin(&file, &failed), Outcome::Fail { .. }));
        let expects_error = TestFile {
            error: Some("boom".into()),
            ..TestFile::default()
        };
        assert_eq!(grade_plugin(&expects_error, &failed), Outcome::Pass);
    }

    #[test]
    fn engine_grading_compares_all_64_bits() {
        let file = TestFile {
            result: Some(0x1_0000_0000),
            ..TestFile::default()
        };
        assert_eq!(grade_engine(&file, Ok(0x1_0000_0000)), Outcome::Pass);
        assert!(matches!(grade_engine(&file, Ok(0)), Outcome::Fail { .. }));
        assert!(matches!(
            grade_engine(&file, Err("fault".into())),
            Outcome::Fail { .. }
        ));
    }
}
