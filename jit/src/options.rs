//! What the configuration asks of generated code, as every back end sees it.

use xbpf_isa::ExecConfig;

/// Code generation options derived from an [`ExecConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Check every memory access against the run's regions.
    pub bounds_checks: bool,
    /// Charge fuel at every block start.
    pub fuel: bool,
    /// Poll the interrupt flag at backward-jump targets and function entries.
    pub interrupt: bool,
    /// Use optional instruction-set extensions when the CPU has them (detected when compiling,
    /// e.g. ARMv8.1 LSE atomics on ARM64); when off, only the baseline instruction set.
    pub isa_extensions: bool,
    /// Never write the program's immediates into the code as they are (see
    /// [`crate::blinding`]).
    pub constant_blinding: bool,
}

impl Options {
    pub fn from_config(config: &ExecConfig) -> Options {
        Options {
            bounds_checks: config.bounds_checks,
            fuel: config.fuel.is_some(),
            interrupt: config.interrupt.is_some(),
            isa_extensions: true,
            constant_blinding: false,
        }
    }
}
