//! # xbpf-interp
//!
//! The reference interpreter of xbpf: the engine whose code documents what every eBPF
//! instruction does (RFC 9669, with Linux as the tie-breaker where the RFC leaves room) and the
//! oracle every other engine is tested against.
//!
//! ```
//! use xbpf_interp::Interpreter;
//! use xbpf_isa::{Engine, ExecConfig, Program, RunInput, assemble};
//!
//! let program = Program::new(assemble("mov %r0, 6\nmul %r0, 7\nexit")?)?;
//! let mut executable = Interpreter.prepare(&program, &ExecConfig::default())?;
//! assert_eq!(executable.run(&RunInput::empty())?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where to read what:
//! - `semantics`: what each arithmetic, byte-order and jump instruction computes;
//! - `memory`: bounds-checked loads, stores and atomics;
//! - `machine`: the dispatch loop, calls, helpers, legacy packet loads, fuel and interrupts;
//! - `code`: the pre-decoded form the loop runs;
//! - `fuse`: superinstructions, common two- and three-instruction sequences run as one op.
//!
//! Preparation decodes the program once into 16-byte ops (operation, width and operand source
//! resolved, jump targets absolute) and fuses common sequences (`mov` then an operation on the
//! same register, shift pairs, jumps followed by `ja`); a run dispatches with one `match` per
//! op, keeps the registers in a local array indexed without bounds checks, checks accesses to
//! the stack and to the input memory with one comparison each, and allocates nothing (helper
//! calls rebuild the memory map helpers see only when a run's regions differ from the previous
//! run's). How fast that is, beside other engines: `docs/performance.md`.
//!
//! Choices the execution ABI leaves to each engine:
//! - Memory accesses are always bounds-checked, even when `ExecConfig::bounds_checks` is false:
//!   the reference never trusts the verifier, so a program it runs can never touch memory
//!   outside the stack and the run's regions.
//! - The interrupt flag is polled at every taken backward jump (reported at the jump's target),
//!   at every local call (reported at the callee's entry) and before every helper call (at the
//!   call).
//!
//! The crate builds without `std` (`default-features = false`), needing only `alloc` (and
//! `Arc`, so a target with pointer-sized atomics); see the `std` feature in its manifest.
//! 64-bit atomic instructions use host atomics where the target has 64-bit atomics: on a target
//! without them (e.g. `thumbv7em-none-eabihf`) they are plain read-modify-writes, exactly right
//! for the program itself (a run is single-threaded) but not atomic against other threads
//! touching the same memory.

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

/// The `alloc` names the `std` prelude would provide, for `no_std` builds.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::boxed::Box;
    pub use alloc::format;
    pub use alloc::string::String;
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

mod code;
mod fuse;
mod machine;
mod memory;
pub mod semantics;

use crate::prelude::*;
use alloc::sync::Arc;
use xbpf_isa::exec::{Interrupt, STACK_SIZE, check_preparable};
use xbpf_isa::{
    Engine, ExecConfig, ExecError, Executable, HelperTable, MemoryMap, PrepareError, Program,
    RunInput,
};

use code::Code;
use machine::{Frames, Run};
use memory::Memory;

/// The engine name, as `Engine::name` reports it.
pub const ENGINE_NAME: &str = "interp";

/// The reference interpreter. Prepares programs into [`InterpretedProgram`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interpreter;

impl Interpreter {
    /// Pre-decodes `program` for `config`. Fails if the program calls a helper `config` does not
    /// have, calls a kfunc, or contains an `lddw` a loader should have resolved.
    pub fn prepare_program(
        &self,
        program: &Program,
        config: &ExecConfig,
    ) -> Result<InterpretedProgram, PrepareError> {
        check_preparable(program, config, ENGINE_NAME)?;
        Ok(InterpretedProgram {
            code: code::translate(program, config)?,
            stack: Box::new(Stack([0; STACK_SIZE])),
            frames: Frames::default(),
            fuel: config.fuel,
            fuel_left: None,
            helpers: Arc::clone(&config.helpers),
            interrupt: config.interrupt.clone(),
            helper_memory: MemoryMap::default(),
        })
    }
}

impl Engine for Interpreter {
    fn name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn prepare(
        &self,
        program: &Program,
        config: &ExecConfig,
    ) -> Result<Box<dyn Executable>, PrepareError> {
        Ok(Box::new(self.prepare_program(program, config)?))
    }
}

/// The stack of every frame, aligned so that naturally aligned stack slots are aligned in host
/// memory too (their atomics are then real atomics).
#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// A program ready to run, with its own stack (zeroed at preparation, reused by every run).
pub struct InterpretedProgram {
    code: Code,
    stack: Box<Stack>,
    /// Where local calls save their callers' state (kept here so runs need not clear it).
    frames: Frames,
    fuel: Option<u64>,
    /// What the last metered run left of its fuel.
    fuel_left: Option<u64>,
    helpers: Arc<HelperTable>,
    interrupt: Option<Interrupt>,
    /// What helpers see of memory, cached between runs with the same regions.
    helper_memory: MemoryMap,
}

impl core::fmt::Debug for InterpretedProgram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InterpretedProgram")
            .field("slots", &self.code.ops.len())
            .field("fuel", &self.fuel)
            .finish_non_exhaustive()
    }
}

impl Executable for InterpretedProgram {
    fn run(&mut self, input: &RunInput<'_>) -> Result<u64, ExecError> {
        // SAFETY: the stack is `STACK_SIZE` bytes owned by `self`, which `&mut self` keeps
        // borrowed (so alive and otherwise untouched) for the whole run; nothing else refers to
        // it outside runs.
        let memory = unsafe { Memory::new(self.stack.0.as_mut_ptr(), input.regions()) };
        let mut run = Run {
            memory,
            input,
            helpers: &self.helpers,
            helper_memory: &mut self.helper_memory,
            interrupt: self.interrupt.as_ref(),
        };
        let (code, frames) = (&self.code, &mut self.frames);
        let Some(mut fuel) = self.fuel else {
            return match run.interrupt {
                None => machine::execute::<false, false>(code, &mut run, frames, &mut 0),
                Some(_) => machine::execute::<false, true>(code, &mut run, frames, &mut 0),
            };
        };
        let result = match run.interrupt {
            None => machine::execute::<true, false>(code, &mut run, frames, &mut fuel),
            Some(_) => machine::execute::<true, true>(code, &mut run, frames, &mut fuel),
        };
        self.fuel_left = Some(fuel);
        result
    }
}

impl InterpretedProgram {
    /// The fuel the last run left, when the program runs with a fuel limit: the limit minus
    /// the instructions that run executed (whole fuel blocks, as they are charged).
    pub fn fuel_left(&self) -> Option<u64> {
        self.fuel_left
    }
}
