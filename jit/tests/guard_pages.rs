//! The guard pages around a program's stack: a program run without bounds checks that reaches
//! one byte past either end of its stack is killed by a memory fault, instead of reading or
//! corrupting whatever the host allocated next to it. With bounds checks, the same accesses are
//! `OutOfBounds` errors.
//!
//! Each faulting run happens in a forked child process (the program is compiled before the
//! fork, so the child only runs generated code and exits), and the parent checks how the child
//! ended. A control run inside the stack exits normally, so the tests can tell a fault from any
//! other way of dying.

#![cfg(all(unix, any(target_arch = "x86_64", target_arch = "aarch64")))]

mod common;

use common::*;
use xbpf_isa::exec::STACK_SIZE;
use xbpf_isa::{Engine, ExecConfig, ExecError, Executable, Instruction, MemSize, RunInput};
use xbpf_jit::Jit;

/// How a forked child running a program ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The run returned; the child exited with status 0.
    Returned,
    /// The child was killed by a memory fault (SIGSEGV, or SIGBUS as macOS reports some).
    MemoryFault,
    Other(libc::c_int),
}

/// Runs `executable` once in a forked child with r1 = `arg`.
fn run_in_child(executable: &mut dyn Executable, arg: u64) -> Ending {
    let mut input = RunInput::empty();
    input.args[0] = arg;
    // SAFETY: the child only runs already compiled code on memory that exists in its copy of
    // the address space (no allocation: no helpers, no out-of-line checks without bounds
    // checks), then leaves with `_exit`, which runs no destructors and no atexit handlers.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let _ = executable.run(&input);
        // SAFETY: ends the child immediately, as intended.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked, writing its status into a local.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ending::Returned
    } else if libc::WIFSIGNALED(status)
        && matches!(libc::WTERMSIG(status), libc::SIGSEGV | libc::SIGBUS)
    {
        Ending::MemoryFault
    } else {
        Ending::Other(status)
    }
}

/// The distance from the stack's lowest byte down to the lower guard page: the stack ends at
/// the upper guard page, and its pages may be larger than the stack.
fn gap_below_stack() -> u64 {
    (xbpf_jit::pages::page_size() - STACK_SIZE) as u64
}

/// `r2 = r10 - r1; op [r2 + off]`: an access relative to the outermost frame's r10 (the stack
/// top), moved down by r1.
fn access_below_top(write: bool, off: i16) -> Vec<Instruction> {
    let access = if write {
        st(MemSize::B, 2, off, 0x5a)
    } else {
        ldx(MemSize::B, 0, 2, off)
    };
    vec![
        mov64(2, reg(10)),
        alu64(xbpf_isa::AluOp::Sub, 2, reg(1)),
        access,
        mov64(0, imm(1)),
        exit(),
    ]
}

fn unchecked() -> ExecConfig {
    ExecConfig {
        bounds_checks: false,
        ..ExecConfig::default()
    }
}

fn compile(instructions: &[Instruction], config: &ExecConfig) -> Box<dyn Executable> {
    Jit::new().prepare(&program(instructions), config).unwrap()
}

#[test]
fn one_byte_above_the_stack_faults_without_bounds_checks() {
    let mut executable = compile(&access_below_top(true, 0), &unchecked());
    assert_eq!(run_in_child(executable.as_mut(), 0), Ending::MemoryFault);
    // control: the last byte of the stack is fine
    assert_eq!(run_in_child(executable.as_mut(), 1), Ending::Returned);
}

#[test]
fn one_byte_below_the_stack_pages_faults_without_bounds_checks() {
    let mut executable = compile(&access_below_top(false, -1), &unchecked());
    let below_stack = STACK_SIZE as u64 + gap_below_stack();
    assert_eq!(
        run_in_child(executable.as_mut(), below_stack),
        Ending::MemoryFault
    );
    // control: the lowest byte of the stack's pages is fine
    assert_eq!(
        run_in_child(executable.as_mut(), below_stack - 1),
        Ending::Returned
    );
}

#[test]
fn with_bounds_checks_the_same_escapes_are_errors() {
    for (write, off, arg) in [
        (true, 0, 0),
        (false, -1, STACK_SIZE as u64),
        (false, -1, STACK_SIZE as u64 + gap_below_stack()),
    ] {
        let mut executable = compile(&access_below_top(write, off), &ExecConfig::default());
        let mut input = RunInput::empty();
        input.args[0] = arg;
        let error = executable.run(&input).unwrap_err();
        assert!(
            matches!(error, ExecError::OutOfBounds { pc: 2, size: 1, .. }),
            "{error:?}"
        );
        input.args[0] = 1;
        assert_eq!(executable.run(&input), Ok(1));
    }
}
