//! The real-world verifier corpus (`expected.tsv`): one row per program of a clang-built
//! object, with the verdict a sound and precise verifier must reach. This module reads the
//! table, verifies each row's program (in parallel across programs) and judges the verdict
//! against the expectation; `xbpf verify --corpus` prints the results.

use crate::elf::{ElfObject, ElfProgram};
use crate::program_types::{self, RegsArch};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use xbpf_verifier::{Rejection, Report, VerifierConfig};

/// What the corpus says of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expected {
    /// Safe; PREVAIL accepts it.
    Pass,
    /// Safe; PREVAIL wrongly rejects it.
    SafePrevailRejects,
    /// Unsafe: must be rejected.
    Reject,
    /// The object is malformed: loading must fail.
    RejectLoad,
}

impl Expected {
    /// The expectation spelled `text` in the table (`pass`, `reject`, ...).
    pub fn parse(text: &str) -> Option<Expected> {
        Some(match text {
            "pass" => Expected::Pass,
            "safe_prevail_rejects" => Expected::SafePrevailRejects,
            "reject" => Expected::Reject,
            "reject_load" => Expected::RejectLoad,
            _ => return None,
        })
    }

    /// The expectation as the table spells it.
    pub fn name(self) -> &'static str {
        match self {
            Expected::Pass => "pass",
            Expected::SafePrevailRejects => "safe_prevail_rejects",
            Expected::Reject => "reject",
            Expected::RejectLoad => "reject_load",
        }
    }
}

/// One row of `expected.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusRow {
    /// Path below the corpus folder.
    pub object: String,
    /// The ELF section of the program.
    pub section: String,
    /// The program's function (symbol) in that section.
    pub function: String,
    /// The verdict the program must get.
    pub expected: Expected,
    /// Why (free text; may be empty).
    pub note: String,
}

impl CorpusRow {
    /// The project: the first component of the object's path (`cilium`, `linux`, ...).
    pub fn project(&self) -> &str {
        self.object.split('/').next().unwrap_or(&self.object)
    }
}

/// Why the table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The table's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a valid row.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The table's path.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads `expected.tsv` (a header line, then `object section function expected [note]`).
pub fn read_table(path: &Path) -> Result<Vec<CorpusRow>, TableError> {
    let text = std::fs::read_to_string(path).map_err(|source| TableError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let error = |message: String| TableError::Format {
            path: path.to_owned(),
            line: index + 1,
            message,
        };
        if fields.len() < 4 {
            return Err(error(format!(
                "expected at least 4 tab-separated fields, found {}",
                fields.len()
            )));
        }
        let expected = Expected::parse(fields[3])
            .ok_or_else(|| error(format!("unknown expectation `{}`", fields[3])))?;
        rows.push(CorpusRow {
            object: fields[0].to_owned(),
            section: fields[1].to_owned(),
            function: fields[2].to_owned(),
            expected,
            note: fields.get(4).copied().unwrap_or("").to_owned(),
        });
    }
    Ok(rows)
}

/// The verifier's verdict on one program.
#[derive(Debug)]
pub enum Verdict {
    /// Proven safe; the verifier's report.
    Accepted(Box<Report>),
    /// Rejected; why.
    Rejected(Box<Rejection>),
    /// The object or program could not be loaded (the message says why).
    LoadFailed(String),
}

impl Verdict {
    /// The verdict in words, as the results table prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Accepted(_) => "accepted",
            Verdict::Rejected(_) => "rejected",
            Verdict::LoadFailed(_) => "load failed",
        }
    }

    /// Whether this verdict meets the expectation: safe programs must be accepted, unsafe ones
    /// rejected, malformed objects must fail to load.
    pub fn meets(&self, expected: Expected) -> bool {
        matches!(
            (expected, self),
            (
                Expected::Pass | Expected::SafePrevailRejects,
                Verdict::Accepted(_)
            ) | (Expected::Reject, Verdict::Rejected(_))
                | (Expected::RejectLoad, Verdict::LoadFailed(_))
        )
    }
}

/// A program of an object, ready to verify: its bytecode, program type, maps and lines.
pub struct PreparedProgram {
    /// The validated bytecode (subprograms linked).
    pub program: xbpf_isa::Program,
    /// The program type its section (and object path) implies, or the caller's override.
    pub program_type: xbpf_verifier::ProgramType,
    /// The object's maps, in the order the bytecode indexes them.
    pub maps: Vec<xbpf_verifier::MapDescriptor>,
    /// Source lines from the object's BTF line info, for diagnostics.
    pub line_table: xbpf_verifier::LineTable,
}

/// Why a program cannot be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The program's bytecode does not validate.
    #[error("{section}/{function}: the bytecode is invalid: {source}")]
    InvalidBytecode {
        /// The program's section.
        section: String,
        /// The program's function.
        function: String,
        /// Why it is invalid.
        source: xbpf_isa::ValidationError,
    },
}

/// Validates an ELF program's bytecode and gathers what the verifier needs. `program_type`
/// overrides the type chosen from the section (and object path).
pub fn prepare(
    object: &ElfObject,
    object_path: &str,
    program: &ElfProgram,
    program_type: Option<&xbpf_verifier::ProgramType>,
) -> Result<PreparedProgram, PrepareError> {
    let bytecode = xbpf_isa::Program::new(program.insns.clone()).map_err(|source| {
        PrepareError::InvalidBytecode {
            section: program.section.clone(),
            function: program.function.clone(),
            source,
        }
    })?;
    let program_type = match program_type {
        Some(ty) => ty.clone(),
        None => program_types::for_program(object_path, &program.section, RegsArch::X86_64),
    };
    Ok(PreparedProgram {
        program: bytecode,
        program_type,
        maps: program_types::map_descriptors(object),
        line_table: program_types::line_table(program),
    })
}

impl PreparedProgram {
    /// Runs the verifier.
    pub fn verify(&self, config: &VerifierConfig) -> Result<Report, Box<Rejection>> {
        let config = VerifierConfig {
            line_table: Some(self.line_table.clone()),
            ..config.clone()
        };
        xbpf_verifier::verify(&self.program, &self.program_type, &self.maps, &config)
    }
}

/// The outcome of one row.
#[derive(Debug)]
pub struct RowResult {
    /// The row.
    pub row: CorpusRow,
    /// What the verifier (or the loader) said.
    pub verdict: Verdict,
    /// Loading and verifying the program (object parsing included), wall-clock.
    pub time: Duration,
    /// The CPU time the worker thread spent on it (Linux: from /proc/thread-self/schedstat;
    /// unaffected by other processes competing for the cores).
    pub cpu_time: Option<Duration>,
    /// The most heap bytes the work held at once, when the caller measures it.
    pub peak_bytes: Option<u64>,
}

impl RowResult {
    /// Whether the verdict meets the row's expectation.
    pub fn passed(&self) -> bool {
        self.verdict.meets(self.row.expected)
    }
}

/// Loads and verifies one row's program. Invalid bytecode in a program of a well-formed
/// object counts as a rejection (the verifier refuses it), a malformed object as a load
/// failure.
pub fn run_row(dir: &Path, row: &CorpusRow, config: &VerifierConfig) -> Verdict {
    let path = dir.join(&row.object);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => return Verdict::LoadFailed(format!("{}: {error}", path.display())),
    };
    let object = match ElfObject::parse(&bytes) {
        Ok(object) => object,
        Err(error) => return Verdict::LoadFailed(format!("{}: {error}", row.object)),
    };
    let Some(program) = object.program(&row.section, &row.function) else {
        return Verdict::LoadFailed(format!(
            "{}: no program {}/{} in the object",
            row.object, row.section, row.function
        ));
    };
    match prepare(&object, &row.object, program, None) {
        Ok(prepared) => match prepared.verify(config) {
            Ok(report) => Verdict::Accepted(Box::new(report)),
            Err(rejection) => Verdict::Rejected(rejection),
        },
        Err(error) => Verdict::Rejected(Box::new(Rejection {
            pc: 0,
            instruction: None,
            check: xbpf_verifier::Check::ControlFlow,
            message: error.to_string(),
            registers: Vec::new(),
            path: Vec::new(),
            call_stack: Vec::new(),
            location: None,
        })),
    }
}

/// Measures the peak heap use of a closure on the current thread (0 when not measured).
pub type PeakMeter = fn(&mut dyn FnMut()) -> Option<u64>;

/// Runs every row on `threads` worker threads (each verifies one program at a time, so a
/// thread-local allocation meter sees one program's peak). Results are in table order.
pub fn run_all(
    dir: &Path,
    rows: &[CorpusRow],
    config: &VerifierConfig,
    threads: usize,
    meter: Option<PeakMeter>,
) -> Vec<RowResult> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<RowResult>> = (0..rows.len()).map(|_| None).collect();
    let threads = threads.clamp(1, rows.len().max(1));
    let chunks: Vec<Vec<(usize, RowResult)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(row) = rows.get(index) else { break };
                        let mut verdict = None;
                        let cpu_start = thread_cpu_time();
                        let start = Instant::now();
                        let mut work = || verdict = Some(run_row(dir, row, config));
                        let peak_bytes = match meter {
                            Some(measure) => measure(&mut work),
                            None => {
                                work();
                                None
                            }
                        };
                        let time = start.elapsed();
                        let cpu_time = cpu_start
                            .zip(thread_cpu_time())
                            .map(|(before, after)| after.saturating_sub(before));
                        done.push((
                            index,
                            RowResult {
                                row: row.clone(),
                                verdict: verdict.expect("the work ran"),
                                time,
                                cpu_time,
                                peak_bytes,
                            },
                        ));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("corpus workers do not panic"))
            .collect()
    });
    for (index, result) in chunks.into_iter().flatten() {
        results[index] = Some(result);
    }
    results.into_iter().flatten().collect()
}

/// The CPU time the current thread has used, where the platform tells it cheaply.
fn thread_cpu_time() -> Option<Duration> {
    // The first field is the time spent running on a CPU, in nanoseconds.
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_meet_expectations_only_in_the_right_pairs() {
        let load = || Verdict::LoadFailed("bad".into());
        assert!(load().meets(Expected::RejectLoad));
        assert!(!load().meets(Expected::Reject));
        assert!(!load().meets(Expected::Pass));
        let rejected = || {
            Verdict::Rejected(Box::new(Rejection {
                pc: 0,
                instruction: None,
                check: xbpf_verifier::Check::OutOfBounds,
                message: String::new(),
                registers: Vec::new(),
                path: Vec::new(),
                call_stack: Vec::new(),
                location: None,
            }))
        };
        assert!(rejected().meets(Expected::Reject));
        assert!(!rejected().meets(Expected::SafePrevailRejects));
        assert!(!rejected().meets(Expected::RejectLoad));
    }

    #[test]
    fn table_rows_parse_with_optional_notes() {
        let dir = std::env::temp_dir().join(format!("xbpf-corpus-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("expected.tsv");
        std::fs::write(
            &path,
            "object\tsection\tfunction\texpected\tnote\n\
             cilium/a.o\t2/1\tf\tsafe_prevail_rejects\twhy\nlinux/b.o\txdp\tg\treject\n",
        )
        .unwrap();
        let rows = read_table(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].project(), "cilium");
        assert_eq!(rows[0].expected, Expected::SafePrevailRejects);
        assert_eq!(rows[0].note, "why");
        assert_eq!(rows[1].expected, Expected::Reject);
        std::fs::write(&path, "header\na\tb\tc\tmaybe\n").unwrap();
        assert!(matches!(
            read_table(&path),
            Err(TableError::Format { line: 2, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
