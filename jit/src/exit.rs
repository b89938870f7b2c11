//! How generated code leaves: the exit codes it returns and their meaning as a run result.

use crate::context::RunContext;
use crate::runtime::RunState;
use xbpf_isa::ExecError;

/// How a run ended, in `RunContext::exit_code`. Anything but `Exit` is an error whose pc is in
/// `RunContext::trap_pc`, or whose details a Rust routine recorded in the run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// The run goes on, or the outermost frame exited (or a legacy packet load failed): r0 is
    /// the entry point's return value.
    Exit = 0,
    /// A fuel block did not fit in the remaining fuel.
    OutOfFuel = 1,
    /// A local call would have needed a ninth frame.
    CallDepthExceeded = 2,
    /// The interrupt flag was set.
    Interrupted = 3,
    /// A Rust routine (helper call, bounds check) recorded the error.
    Recorded = 4,
}

impl ExitCode {
    pub const ALL: [ExitCode; 5] = [
        ExitCode::Exit,
        ExitCode::OutOfFuel,
        ExitCode::CallDepthExceeded,
        ExitCode::Interrupted,
        ExitCode::Recorded,
    ];

    /// The value of `RunContext::exit_code`.
    pub const fn value(self) -> u32 {
        self as u32
    }
}

/// The result of a run that ended with `exit_code` (taken from the context) after generated
/// code returned `r0`.
pub fn outcome(
    exit_code: u64,
    r0: u64,
    ctx: &RunContext,
    state: &mut RunState,
) -> Result<u64, ExecError> {
    let pc = ctx.trap_pc as usize;
    let code = ExitCode::ALL
        .into_iter()
        .find(|code| u64::from(code.value()) == exit_code);
    match code {
        Some(ExitCode::Exit) => Ok(r0),
        Some(ExitCode::OutOfFuel) => Err(ExecError::OutOfFuel { pc }),
        Some(ExitCode::CallDepthExceeded) => Err(ExecError::CallDepthExceeded { pc }),
        Some(ExitCode::Interrupted) => Err(ExecError::Interrupted { pc }),
        Some(ExitCode::Recorded) | None => Err(state.error.take().unwrap_or_else(|| {
            // Generated code only returns `Recorded` after a routine recorded an error; this
            // arm exists so that a JIT bug surfaces as an error, not as a panic.
            ExecError::Helper {
                pc,
                id: 0,
                name: "jit".to_string(),
                message: format!("internal error: exit code {exit_code} without a recorded error"),
            }
        })),
    }
}
