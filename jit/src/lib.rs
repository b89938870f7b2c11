//! # xbpf-jit
//!
//! A JIT compiler for eBPF (RFC 9669): compiles a validated [`Program`] once into native code in
//! a read+execute mapping, then runs it many times with the same results and errors as the
//! reference interpreter.
//!
//! The crate is a shared front end and one back end per architecture:
//!
//! - front end: program [`analysis`], the run [`context`] generated code receives, [`exit`]
//!   codes, the Rust [`runtime`] routines generated code calls (helpers, out-of-line bounds
//!   checks), executable memory ([`code`]), native [`listing`]s and the public API below;
//! - `x86_64`: register mapping, machine instruction values and their single encoder,
//!   instruction selection, prologue and stubs, for the System V and Windows x64 conventions;
//! - `aarch64`: the same for ARM64 (AAPCS64), with ARMv8.1 LSE atomics where the CPU has them
//!   and exclusive load/store loops otherwise.
//!
//! On architectures without a back end, [`Jit::compile`] returns an error.
//!
//! A back end is a module providing: `Target` (what code is generated for, e.g. the x86-64
//! calling convention) and `host_target()`; `Compiled` (its executable code and [`Layout`]);
//! `compile(program, analysis, options, target, helpers)`; `enter(compiled, ctx, args)`, which
//! calls the code with a [`context::RunContext`] and the address of r1 to r5 and returns r0
//! (how the run ended is the context's [`exit::ExitCode`]); and
//! `listing`, `code` and `layout` for inspection. Generated code calls back into
//! [`runtime`] through trampolines of its own calling convention.
//!
//! [`Layout`]: listing::Layout
//!
//! ## What programs cannot reach
//!
//! A program names only r0 to r10 and memory addresses; everything the JIT needs to run it
//! stays out of reach of both:
//!
//! - **The run context** ([`context::RunContext`]: the limits inline checks read, the remaining
//!   fuel, the saved native stack pointer, the address of the Rust run state) is a heap
//!   allocation [`JitProgram`] owns and reuses for all its runs (each run rewrites only what
//!   changed, see [`context::RunContext::start_run`]). Generated code holds its address in a
//!   register reserved for it for the whole run: rbp on x86-64, x19 on ARM64. Both are
//!   callee-saved in every supported calling convention, so calls into Rust keep them, and
//!   neither holds an eBPF register (`regs.rs` of each back end maps r0 to r10 elsewhere and
//!   its tests check that the mapping avoids them), so no instruction can read, write or
//!   compute with the context pointer. r10 is read-only (`Program` rejects writes to it).
//! - **Memory**: with bounds checks on, every load, store and atomic must lie inside the
//!   program's stack or one of the run's regions, or the run stops with
//!   [`ExecError::OutOfBounds`] before the access. The context, the run state, the helper
//!   table, the generated code and the host stack (native return addresses and saved
//!   registers: generated code's own calls and pushes use the host stack, never the eBPF
//!   stack) are in none of them, so they can be neither read nor written. Without bounds
//!   checks, which the configuration reserves for programs a verifier accepted, this rests on
//!   the verifier. The stack is a mapping of its own fenced by guard pages ([`stack`],
//!   [`pages`]), so an escape from either faults instead of reaching the heap.
//! - **Code and helpers**: the generated code is read+execute only, never writable. A `call`
//!   of a helper is resolved while compiling (only to helpers the table has), and the call
//!   target in the code is the JIT's own Rust trampoline. `callx reg` passes the register's
//!   value to Rust as a helper *id*, looked up in the table (an unknown id is
//!   [`ExecError::UnknownHelper`]); no value a program computes is ever used as a code
//!   address, so a forged "address" is just an unknown id.
//! - **Constants**: with [`Jit::with_constant_blinding`], the program's immediates are not
//!   written into the code as they are (see [`blinding`]), so a program cannot plant chosen
//!   byte sequences in executable memory.
//!
//! `tests/isolation.rs` scans memory around r10, r1 and the host stack holding the context
//! (reads and writes, every kind of generated code, blinded or not) and forges `callx`
//! targets; `tests/guard_pages.rs` checks the guard pages.

pub mod analysis;
pub mod blinding;
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub mod code;
pub mod context;
pub mod error;
pub mod exit;
pub mod listing;
pub mod liveness;
pub mod options;
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub mod pages;
pub mod runtime;
pub mod stack;

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(target_arch = "x86_64")]
use x86_64 as backend;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use aarch64 as backend;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod unavailable;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use unavailable as backend;

pub use error::CompileError;
#[cfg(target_arch = "x86_64")]
pub use x86_64::CallingConvention;

use analysis::Analysis;
use context::RunContext;
use options::Options;
use runtime::RunState;
use stack::GuardedStack;
use std::sync::Arc;
use xbpf_isa::exec::Interrupt;
use xbpf_isa::{
    Engine, ExecConfig, ExecError, Executable, PrepareError, Program, Region, RunInput,
};

/// The engine name (`Engine::name`).
pub const ENGINE_NAME: &str = "jit";

/// The JIT engine.
#[derive(Clone, Copy, Debug)]
pub struct Jit {
    target: backend::Target,
    /// See [`Options::isa_extensions`].
    isa_extensions: bool,
    /// See [`Jit::with_constant_blinding`].
    constant_blinding: bool,
}

impl Default for Jit {
    fn default() -> Self {
        Jit::new()
    }
}

impl Jit {
    /// A JIT for the host.
    pub const fn new() -> Jit {
        Jit {
            target: backend::host_target(),
            isa_extensions: true,
            constant_blinding: false,
        }
    }

    /// This JIT, using optional instruction-set extensions the CPU has (`true`, the default)
    /// or only the baseline instruction set (`false`), such as exclusive load/store loops
    /// instead of ARMv8.1 LSE atomics on ARM64. Both kinds of code behave the same; turning
    /// extensions off tests the baseline code on any CPU.
    pub const fn with_isa_extensions(self, enabled: bool) -> Jit {
        Jit {
            isa_extensions: enabled,
            ..self
        }
    }

    /// This JIT, blinding the program's constants (`true`) or not (`false`, the default): no
    /// immediate of the program is written into the generated code as it is, only XOR-ed with
    /// a random key drawn for each constant of each compilation, and un-XOR-ed at run time
    /// (the JIT-spray defence; see [`blinding`] for what is covered). Results and errors are
    /// the same either way; blinded code is larger and somewhat slower.
    pub const fn with_constant_blinding(self, enabled: bool) -> Jit {
        Jit {
            constant_blinding: enabled,
            ..self
        }
    }

    /// A JIT whose code follows `convention` for its entry point and its calls into Rust.
    /// Any x86-64 host can run code of either convention, which is how both are tested.
    #[cfg(target_arch = "x86_64")]
    pub const fn with_calling_convention(convention: CallingConvention) -> Jit {
        Jit {
            target: convention,
            ..Jit::new()
        }
    }

    /// Compiles `program` for the configuration.
    pub fn compile(
        &self,
        program: &Program,
        config: &ExecConfig,
    ) -> Result<JitProgram, PrepareError> {
        xbpf_isa::exec::check_preparable(program, config, ENGINE_NAME)?;
        let analysis = Analysis::new(program);
        let options = Options {
            isa_extensions: self.isa_extensions,
            constant_blinding: self.constant_blinding,
            ..Options::from_config(config)
        };
        let compiled = backend::compile(program, &analysis, options, self.target, &config.helpers)?;
        let input_use = analysis.input_use();
        let setup = RunSetup {
            // Inline bounds checks read the first region's limits; out-of-line ones and helpers
            // read the memory map of the run state.
            region_limits: options.bounds_checks && input_use.memory,
            memory_map: (options.bounds_checks && input_use.memory) || input_use.helpers,
            packet: input_use.packet,
        };
        let stack = GuardedStack::new()?;
        let interrupt = config
            .interrupt
            .as_ref()
            .map_or(0, |flag| flag.as_ptr() as u64);
        Ok(JitProgram {
            compiled,
            program: program.clone(),
            state: Box::new(RunState::new(Arc::clone(&config.helpers), stack.region())),
            context: Box::new(RunContext::new(stack.start() as u64, interrupt)),
            packet: None,
            setup,
            reads_input: setup.reads_input(),
            stack,
            fuel_budget: config.fuel.unwrap_or(0),
            interrupt: config.interrupt.clone(),
        })
    }
}

impl Engine for Jit {
    fn name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn prepare(
        &self,
        program: &Program,
        config: &ExecConfig,
    ) -> Result<Box<dyn Executable>, PrepareError> {
        Ok(Box::new(self.compile(program, config)?))
    }
}

/// A compiled program.
pub struct JitProgram {
    compiled: backend::Compiled,
    program: Program,
    /// Zeroed at compilation and reused by every run; generated code reaches it through the
    /// context, so this field only owns it.
    #[allow(dead_code)]
    stack: GuardedStack,
    state: Box<RunState>,
    /// The context generated code runs with, reused by every run.
    context: Box<RunContext>,
    /// The packet the context was last set up for (its first region is the run state's).
    packet: Option<Region>,
    /// What a run sets up besides arguments and fuel.
    setup: RunSetup,
    /// `setup.reads_input()`, tested by every run.
    reads_input: bool,
    /// The fuel each run starts with (read only by code compiled with fuel checks).
    fuel_budget: u64,
    /// Kept alive while generated code may poll it (through the context).
    #[allow(dead_code)]
    interrupt: Option<Interrupt>,
}

/// Which parts of a run's input the generated code or the routines it calls read; runs set up
/// only those.
#[derive(Clone, Copy, Debug)]
struct RunSetup {
    /// The first region's limits in the context (inline bounds checks).
    region_limits: bool,
    /// The regions in the run state (out-of-line bounds checks, helpers).
    memory_map: bool,
    /// The packet in the context (legacy packet loads).
    packet: bool,
}

impl RunSetup {
    /// Whether runs need more of the input than the arguments.
    fn reads_input(self) -> bool {
        self.region_limits || self.memory_map || self.packet
    }
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("instructions", &self.program.len())
            .field("code_size", &self.code_size())
            .finish()
    }
}

impl JitProgram {
    /// The generated code, interleaved with the eBPF instruction each part comes from.
    pub fn native_listing(&self) -> String {
        backend::listing(&self.compiled, &self.program)
    }

    /// Alias of [`JitProgram::native_listing`].
    pub fn disassemble(&self) -> String {
        self.native_listing()
    }

    /// Size of the generated code in bytes.
    pub fn code_size(&self) -> usize {
        backend::code(&self.compiled).len()
    }

    /// The generated code.
    pub fn code(&self) -> &[u8] {
        backend::code(&self.compiled)
    }

    /// Offset in the generated code where the instruction at `pc` starts.
    pub fn native_offset(&self, pc: usize) -> Option<usize> {
        backend::layout(&self.compiled).native_offset(pc)
    }
}

impl JitProgram {
    /// Points the context and the run state at this run's memory and packet, when they differ
    /// from the last run's. Only programs that read them get here.
    fn set_up_input(&mut self, input: &RunInput<'_>) {
        let setup = self.setup;
        let regions = input.regions();
        let packet = if setup.packet { input.packet() } else { None };
        let regions_changed = setup.memory_map && self.state.reset(regions);
        if regions_changed || packet != self.packet {
            let first_region = if setup.region_limits {
                regions.first().copied()
            } else {
                None
            };
            self.context.set_memory(first_region, packet);
            self.packet = packet;
        }
    }
}

impl JitProgram {
    /// The result of a run whose generated code returned `r0` and left an exit code other
    /// than `Exit`. Out of line, so that the normal path keeps fewer values alive across the
    /// run.
    #[cold]
    #[inline(never)]
    fn failure(&mut self, r0: u64) -> Result<u64, ExecError> {
        let exit_code = self.context.take_exit_code();
        exit::outcome(exit_code, r0, &self.context, &mut self.state)
    }
}

impl Executable for JitProgram {
    #[inline]
    fn run(&mut self, input: &RunInput<'_>) -> Result<u64, ExecError> {
        if self.reads_input {
            self.set_up_input(input);
        }
        let state = (&mut *self.state as *mut RunState).expose_provenance() as u64;
        let ctx = &mut *self.context;
        ctx.start_run(self.fuel_budget, state);
        // SAFETY: the context points to this program's stack and run state, which `&mut self`
        // keeps exclusive for the run, and to the regions the `RunInput` borrows for its
        // lifetime, which outlives this call, as do the arguments. Generated code only touches
        // memory inside them (bounds checks) unless the program was compiled without checks,
        // which the configuration reserves for verified programs.
        let r0 = unsafe { backend::enter(&self.compiled, ctx, &input.args) };
        if self.context.exited_normally() {
            return Ok(r0);
        }
        self.failure(r0)
    }
}

#[cfg(all(
    test,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    use super::*;
    use crate::code::proc_maps;
    use xbpf_isa::Insn;

    #[test]
    fn compiled_programs_keep_code_and_stack_between_guard_pages() {
        // mov r0, 1; exit
        let program = Program::new(vec![
            Insn::new(0xb7, 0, 0, 0, 1),
            Insn::new(0x95, 0, 0, 0, 0),
        ])
        .unwrap();
        let mut compiled = Jit::new()
            .compile(&program, &ExecConfig::default())
            .unwrap();
        assert_eq!(compiled.run(&RunInput::empty()), Ok(1));
        let code = compiled.compiled.code.pages();
        proc_maps::assert_guarded(
            code.start() as usize,
            code.usable_len(),
            code.guard_size(),
            "r-xp",
        );
        let stack = compiled.stack.pages();
        proc_maps::assert_guarded(
            stack.start() as usize,
            stack.usable_len(),
            stack.guard_size(),
            "rw-p",
        );
        proc_maps::assert_no_writable_executable_mapping();
    }
}
