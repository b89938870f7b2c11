//! What the benches share: the workloads of `../shared/bench`, run inputs that own their memory,
//! and the peers (native Rust, rbpf).
//!
//! The workloads' expected r0 and executed-instruction counts come from the table in
//! `../shared/bench/README.md`, the one source of truth; every bench asserts r0 before timing.

#![allow(dead_code)] // each bench target uses its own part of this module

pub mod clock;
pub mod native;
#[cfg(all(target_arch = "x86_64", unix))]
pub mod rbpf_peer;

use std::path::{Path, PathBuf};
use xbpf::isa::{Engine, ExecConfig, ExecError, Executable, Program, Region, RunInput};

/// The folder with the workloads, beside the repository.
pub fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench")
}

/// One benchmark program with its input memory and what running it must give.
pub struct Workload {
    pub name: String,
    /// Raw bytecode, 8-byte little-endian slots.
    pub bytecode: Vec<u8>,
    pub program: Program,
    /// Initial memory (empty when the workload has no `.mem`).
    pub memory: Vec<u8>,
    /// r0 the run must return.
    pub r0: u64,
    /// Instructions one run executes.
    pub executed: u64,
}

/// The eight workloads, in the README's order. Panics with a clear message when the shared
/// folder or a file is missing, or the README's table cannot be read: a bench must never
/// silently measure nothing.
pub fn workloads() -> Vec<Workload> {
    let dir = bench_dir();
    let readme_path = dir.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap_or_else(|error| {
        panic!(
            "benchmark workloads not found ({}: {error}); the shared folder must be beside the \
             repository",
            readme_path.display()
        )
    });
    let rows = readme_rows(&readme);
    assert!(
        rows.len() == 8,
        "expected 8 workloads in {}, found {}",
        readme_path.display(),
        rows.len()
    );
    rows.into_iter()
        .map(|(name, executed, r0)| {
            let bin = dir.join(format!("{name}.bin"));
            let bytecode =
                std::fs::read(&bin).unwrap_or_else(|error| panic!("{}: {error}", bin.display()));
            let program = Program::from_bytes(&bytecode)
                .unwrap_or_else(|error| panic!("{}: {error}", bin.display()));
            let mem = dir.join(format!("{name}.mem"));
            let memory = if mem.exists() {
                std::fs::read(&mem).unwrap_or_else(|error| panic!("{}: {error}", mem.display()))
            } else {
                Vec::new()
            };
            Workload {
                name,
                bytecode,
                program,
                memory,
                r0,
                executed,
            }
        })
        .collect()
}

/// `(name, executed insns, r0)` of each row of the README's workload table
/// (`| name | insns | executed insns | r0 (u64) | what it does |`).
fn readme_rows(readme: &str) -> Vec<(String, u64, u64)> {
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if cells.len() != 5 {
                return None;
            }
            let executed = cells[2].parse().ok()?;
            let r0 = cells[3].parse().ok()?;
            cells[1].parse::<u64>().ok()?;
            Some((cells[0].to_string(), executed, r0))
        })
        .collect()
}

/// A run input that owns its memory: the benches build these outside the timed part, so a
/// timed run does nothing but run (no allocation, no copy).
///
/// r1 = the memory's address (0 when there is none), r2 = its length, and legacy packet loads
/// read it: the conventions of `RunInput::with_memory`.
pub struct OwnedInput {
    input: RunInput<'static>,
    /// Boxed so that its address stays put when the `OwnedInput` moves.
    memory: Box<[u8]>,
}

impl OwnedInput {
    pub fn new(initial: &[u8]) -> OwnedInput {
        let mut memory: Box<[u8]> = initial.into();
        let region = Region {
            start: memory.as_mut_ptr() as u64,
            len: memory.len() as u64,
            writable: true,
        };
        let mut input = RunInput::empty();
        if region.len > 0 {
            // SAFETY: the region is the heap buffer `memory`, which this struct owns and never
            // moves (a boxed slice keeps its address). `input` is only handed out by `&self`,
            // which keeps `memory` alive, and `memory` is only read through `&self` too, so no
            // Rust reference writes to it while a run does.
            unsafe { input.add_raw_region(region) };
            input.set_packet(region);
            input.args[0] = region.start;
        }
        input.args[1] = region.len;
        OwnedInput { memory, input }
    }

    pub fn input(&self) -> &RunInput<'static> {
        &self.input
    }

    pub fn memory(&self) -> &[u8] {
        &self.memory
    }
}

/// Prepares `workload` on `engine` with `bounds_checks`, runs it once on fresh memory and
/// checks r0; panics with the engine and workload on any mismatch.
pub fn prepare_checked(
    engine: &dyn Engine,
    workload: &Workload,
    bounds_checks: bool,
) -> Box<dyn Executable> {
    let config = ExecConfig {
        bounds_checks,
        ..ExecConfig::default()
    };
    let mut executable = engine
        .prepare(&workload.program, &config)
        .unwrap_or_else(|error| panic!("{} on {}: {error}", workload.name, engine.name()));
    let owned = OwnedInput::new(&workload.memory);
    let r0 = executable.run(owned.input());
    assert_eq!(
        r0,
        Ok(workload.r0),
        "{} on {} (bounds checks {bounds_checks}) returned the wrong r0",
        workload.name,
        engine.name()
    );
    executable
}

/// Checks the README's executed-instruction count with the interpreter's fuel accounting:
/// the run succeeds with exactly that much fuel and runs out with one less.
pub fn check_executed_count(workload: &Workload) {
    let run_with_fuel = |fuel: u64| {
        let config = ExecConfig {
            fuel: Some(fuel),
            ..ExecConfig::default()
        };
        let mut executable = xbpf::interp::Interpreter
            .prepare_program(&workload.program, &config)
            .expect("the interpreter prepares every workload");
        let owned = OwnedInput::new(&workload.memory);
        executable.run(owned.input())
    };
    assert_eq!(
        run_with_fuel(workload.executed),
        Ok(workload.r0),
        "{}: does not run in {} instructions",
        workload.name,
        workload.executed
    );
    assert!(
        matches!(
            run_with_fuel(workload.executed - 1),
            Err(ExecError::OutOfFuel { .. })
        ),
        "{}: runs in fewer than {} instructions",
        workload.name,
        workload.executed
    );
}
