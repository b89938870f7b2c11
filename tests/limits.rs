//! Limits a host can rely on to stop a runaway program, on every engine of this build
//! (`xbpf::engines::all_engines`), with and without bounds checks: the instruction budget
//! (fuel), the program size limit, the call depth limit and a wall-clock deadline (an
//! `Interrupt` triggered from a timer thread). After each stop the host keeps working: the same
//! executable and other programs run normally.
//!
//! Every run that could hang if a limit failed runs on a watchdog thread, so a broken limit
//! fails the test instead of hanging it.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use xbpf::engines::all_engines;
use xbpf::isa::exec::{Interrupt, MAX_CALL_FRAMES};
use xbpf::isa::program::DEFAULT_MAX_INSNS;
use xbpf::isa::{
    Engine, ExecConfig, ExecError, Executable, HelperTable, Insn, Program, RunInput,
    ValidationError, assemble,
};

fn program(source: &str) -> Program {
    let slots = assemble(source).unwrap_or_else(|error| panic!("{source:?}: {error}"));
    Program::new(slots).unwrap_or_else(|error| panic!("{source:?}: {error}"))
}

/// Both bounds-check modes: the engines must enforce every limit in either.
const CHECK_MODES: [bool; 2] = [true, false];

fn config(fuel: Option<u64>, bounds_checks: bool, interrupt: Option<Interrupt>) -> ExecConfig {
    ExecConfig {
        fuel,
        bounds_checks,
        helpers: Arc::new(HelperTable::new()),
        interrupt,
    }
}

fn prepare(engine: &dyn Engine, source: &str, config: &ExecConfig) -> Box<dyn Executable> {
    engine
        .prepare(&program(source), config)
        .unwrap_or_else(|error| panic!("{}: {source:?}: {error}", engine.name()))
}

/// How long a run that a limit should stop may take before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(20);

/// Runs the executable on another thread; `None` if it did not finish within the watchdog
/// time (the thread is then left spinning: the test fails and the process ends).
fn run_watched(
    mut executable: Box<dyn Executable>,
) -> Option<(Result<u64, ExecError>, Box<dyn Executable>)> {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let result = executable.run(&RunInput::empty());
        let _ = done.send((result, executable));
    });
    finished.recv_timeout(WATCHDOG).ok()
}

/// Endless programs of different shapes: a jump to itself, a loop with a body, a backward
/// conditional jump, and a loop that calls a function on every iteration.
const ENDLESS: [(&str, &str); 4] = [
    ("self jump", "mov %r0, 0\nja -1\nexit"),
    ("loop", "mov %r0, 0\nloop:\nadd %r0, 1\nja loop"),
    (
        "conditional",
        "mov %r1, 1\nloop:\nadd %r0, 1\njne %r1, 0, loop\nexit",
    ),
    (
        "calls",
        "loop:\ncall local f\nja loop\nf:\nadd %r0, 1\nexit",
    ),
];

const COUNT_TO_100: &str = "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 100, loop\nexit";

#[test]
fn fuel_stops_endless_programs_on_every_engine() {
    for engine in all_engines() {
        for bounds_checks in CHECK_MODES {
            for (shape, source) in ENDLESS {
                let what = format!("{} ({shape}, bounds checks {bounds_checks})", engine.name());
                let executable = prepare(
                    engine.as_ref(),
                    source,
                    &config(Some(10_000), bounds_checks, None),
                );
                let (result, mut executable) = run_watched(executable)
                    .unwrap_or_else(|| panic!("{what}: fuel did not stop the run"));
                assert!(
                    matches!(result, Err(ExecError::OutOfFuel { .. })),
                    "{what}: {result:?}"
                );
                // The budget is per run: the next run gets it again and stops the same way.
                assert_eq!(
                    executable.run(&RunInput::empty()),
                    result,
                    "{what}: second run"
                );
            }
            // The host goes on running programs with the same engine.
            let mut bounded = prepare(
                engine.as_ref(),
                COUNT_TO_100,
                &config(Some(10_000), bounds_checks, None),
            );
            assert_eq!(
                bounded.run(&RunInput::empty()),
                Ok(100),
                "{}",
                engine.name()
            );
        }
    }
}

#[test]
fn fuel_is_exact_on_every_engine() {
    // mov + 100 x (add + jlt) + exit: 202 instructions
    for engine in all_engines() {
        let mut enough = prepare(
            engine.as_ref(),
            COUNT_TO_100,
            &config(Some(202), true, None),
        );
        assert_eq!(enough.run(&RunInput::empty()), Ok(100), "{}", engine.name());
        let mut short = prepare(
            engine.as_ref(),
            COUNT_TO_100,
            &config(Some(201), true, None),
        );
        assert!(
            matches!(
                short.run(&RunInput::empty()),
                Err(ExecError::OutOfFuel { .. })
            ),
            "{}",
            engine.name()
        );
    }
}

#[test]
fn programs_over_the_size_limit_are_rejected() {
    let exit = Insn::new(0x95, 0, 0, 0, 0);
    let mov = Insn::new(0xb7, 0, 0, 0, 1);
    let at_limit: Vec<Insn> = std::iter::repeat_n(mov, 99).chain([exit]).collect();
    assert!(Program::with_limit(at_limit.clone(), 100).is_ok());
    let over: Vec<Insn> = std::iter::repeat_n(mov, 100).chain([exit]).collect();
    assert_eq!(
        Program::with_limit(over, 100),
        Err(ValidationError::TooLong {
            len: 101,
            limit: 100
        })
    );
    // The default limit (Linux's 1M instructions for privileged programs) applies to
    // `Program::new` and `Program::from_bytes`.
    let huge: Vec<Insn> = std::iter::repeat_n(mov, DEFAULT_MAX_INSNS)
        .chain([exit])
        .collect();
    let bytes = xbpf::isa::insn::slots_to_bytes(&huge);
    assert!(matches!(
        Program::new(huge),
        Err(ValidationError::TooLong {
            limit: DEFAULT_MAX_INSNS,
            ..
        })
    ));
    assert!(matches!(
        Program::from_bytes(&bytes),
        Err(ValidationError::TooLong { .. })
    ));
}

#[test]
fn call_depth_is_limited_on_every_engine() {
    // Unbounded recursion stops at the call that would open a ninth frame.
    let recursion = "f:\ncall local f\nexit";
    // A chain of calls exactly MAX_CALL_FRAMES deep (the entry frame and 7 callees) works.
    let chain = |depth: usize| {
        let mut source = String::from("mov %r0, 0\ncall local f1\nexit\n");
        for level in 1..depth {
            source += &format!("f{level}:\nadd %r0, 1\n");
            if level + 1 < depth {
                source += &format!("call local f{}\n", level + 1);
            }
            source += "exit\n";
        }
        source
    };
    for engine in all_engines() {
        for bounds_checks in CHECK_MODES {
            let what = format!("{} (bounds checks {bounds_checks})", engine.name());
            let executable = prepare(
                engine.as_ref(),
                recursion,
                &config(None, bounds_checks, None),
            );
            let (result, mut executable) =
                run_watched(executable).unwrap_or_else(|| panic!("{what}: recursion did not stop"));
            assert_eq!(
                result,
                Err(ExecError::CallDepthExceeded { pc: 0 }),
                "{what}"
            );
            assert_eq!(
                executable.run(&RunInput::empty()),
                result,
                "{what}: second run"
            );

            let mut deepest = prepare(
                engine.as_ref(),
                &chain(MAX_CALL_FRAMES),
                &config(None, bounds_checks, None),
            );
            assert_eq!(
                deepest.run(&RunInput::empty()),
                Ok(MAX_CALL_FRAMES as u64 - 1),
                "{what}: {MAX_CALL_FRAMES} frames"
            );
            let mut too_deep = prepare(
                engine.as_ref(),
                &chain(MAX_CALL_FRAMES + 1),
                &config(None, bounds_checks, None),
            );
            assert!(
                matches!(
                    too_deep.run(&RunInput::empty()),
                    Err(ExecError::CallDepthExceeded { .. })
                ),
                "{what}: {} frames",
                MAX_CALL_FRAMES + 1
            );
        }
    }
}

/// Triggers `interrupt` after `delay` on a timer thread.
fn deadline(interrupt: &Interrupt, delay: Duration) -> thread::JoinHandle<()> {
    let interrupt = interrupt.clone();
    thread::spawn(move || {
        thread::sleep(delay);
        interrupt.trigger();
    })
}

#[test]
fn a_deadline_from_another_thread_stops_endless_programs_on_every_engine() {
    let delay = Duration::from_millis(50);
    for engine in all_engines() {
        for bounds_checks in CHECK_MODES {
            for (shape, source) in ENDLESS {
                let what = format!("{} ({shape}, bounds checks {bounds_checks})", engine.name());
                let interrupt = Interrupt::new();
                let executable = prepare(
                    engine.as_ref(),
                    source,
                    &config(None, bounds_checks, Some(interrupt.clone())),
                );
                let started = Instant::now();
                let timer = deadline(&interrupt, delay);
                let (result, mut executable) = run_watched(executable)
                    .unwrap_or_else(|| panic!("{what}: the deadline did not stop the run"));
                timer.join().unwrap();
                assert!(
                    matches!(result, Err(ExecError::Interrupted { .. })),
                    "{what}: {result:?}"
                );
                assert!(
                    started.elapsed() >= delay,
                    "{what}: stopped before the deadline"
                );
                // While the flag is set every run stops at once; once reset, the same
                // executable runs again until the next deadline.
                assert!(matches!(
                    executable.run(&RunInput::empty()),
                    Err(ExecError::Interrupted { .. })
                ));
                interrupt.reset();
                let timer = deadline(&interrupt, delay);
                let (again, _) = run_watched(executable)
                    .unwrap_or_else(|| panic!("{what}: the second deadline did not stop the run"));
                timer.join().unwrap();
                assert!(
                    matches!(again, Err(ExecError::Interrupted { .. })),
                    "{what}: {again:?}"
                );
                // And the host runs another program to completion with the same flag.
                interrupt.reset();
                let mut other = prepare(
                    engine.as_ref(),
                    COUNT_TO_100,
                    &config(None, bounds_checks, Some(interrupt.clone())),
                );
                assert_eq!(other.run(&RunInput::empty()), Ok(100), "{what}");
            }
        }
    }
}

#[test]
fn a_deadline_stops_every_program_sharing_the_flag() {
    // One host-wide flag stops runs on several threads at once.
    let interrupt = Interrupt::new();
    let mut watched = Vec::new();
    for engine in all_engines() {
        for (_, source) in ENDLESS {
            let executable = prepare(
                engine.as_ref(),
                source,
                &config(None, true, Some(interrupt.clone())),
            );
            let (done, finished) = mpsc::channel();
            thread::spawn(move || {
                let mut executable = executable;
                let _ = done.send(executable.run(&RunInput::empty()));
            });
            watched.push((engine.name(), finished));
        }
    }
    thread::sleep(Duration::from_millis(50));
    interrupt.trigger();
    for (engine, finished) in watched {
        let result = finished
            .recv_timeout(WATCHDOG)
            .unwrap_or_else(|_| panic!("{engine}: not stopped"));
        assert!(
            matches!(result, Err(ExecError::Interrupted { .. })),
            "{engine}: {result:?}"
        );
    }
}
