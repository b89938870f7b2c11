//! The Rust side of a run: what generated code calls when it cannot finish an operation inline
//! (helper calls, bounds checks outside the inline fast paths), and where those calls record
//! errors.
//!
//! These functions have the Rust ABI; each back end wraps them in `extern` trampolines of its
//! calling convention. None of them unwinds into generated code: panics of host helpers are
//! caught and reported as helper errors.

use crate::context::RunContext;
use crate::exit::ExitCode;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use xbpf_isa::exec::Helper;
use xbpf_isa::{Access, ExecError, HelperContext, HelperError, HelperTable, MemoryMap, Region};

/// State of the current run that only Rust code touches.
#[derive(Debug)]
pub struct RunState {
    /// The stack and the run's regions: what helpers and out-of-line bounds checks see.
    /// Built on first use, so runs that never leave generated code do not allocate.
    memory: Option<MemoryMap>,
    /// The stack region and the run's regions, from which `memory` is built.
    stack: Region,
    regions: Vec<Region>,
    /// The helpers the program was compiled against (static calls point into this table).
    helpers: Arc<HelperTable>,
    /// The error a Rust routine recorded before generated code stopped.
    pub error: Option<ExecError>,
}

impl RunState {
    pub fn new(helpers: Arc<HelperTable>, stack: Region) -> RunState {
        RunState {
            memory: None,
            stack,
            regions: Vec::new(),
            helpers,
            error: None,
        }
    }

    /// Prepares for a run over `regions` (besides the stack). Returns whether they differ
    /// from the last run's. (`error` needs no reset: the run that records one takes it.)
    #[inline]
    pub fn reset(&mut self, regions: &[Region]) -> bool {
        if self.regions == regions {
            return false;
        }
        self.replace_regions(regions);
        true
    }

    /// A run over other regions than the last one: the memory map is rebuilt on first use.
    #[cold]
    fn replace_regions(&mut self, regions: &[Region]) {
        self.regions.clear();
        self.regions.extend_from_slice(regions);
        self.memory = None;
    }

    /// The memory map of the run (the stack and the run's regions) and the helper table.
    pub fn memory_and_helpers(&mut self) -> (&MemoryMap, &HelperTable) {
        let memory = self.memory.get_or_insert_with(|| {
            let mut map = MemoryMap::new(Vec::with_capacity(self.regions.len() + 1));
            map.push(self.stack);
            for region in &self.regions {
                map.push(*region);
            }
            map
        });
        (memory, &self.helpers)
    }
}

/// What an out-of-line bounds check is about: pc, size and direction packed in one word, so
/// generated code passes it as a single immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessInfo {
    pub pc: usize,
    pub size: u32,
    pub access: Access,
}

impl AccessInfo {
    pub fn encode(self) -> u64 {
        ((self.pc as u64) << 5)
            | (u64::from(self.size & 0xf) << 1)
            | (self.access == Access::Write) as u64
    }

    pub fn decode(word: u64) -> AccessInfo {
        AccessInfo {
            pc: (word >> 5) as usize,
            size: ((word >> 1) & 0xf) as u32,
            access: if word & 1 == 1 {
                Access::Write
            } else {
                Access::Read
            },
        }
    }
}

/// The run state whose address a context holds.
///
/// # Safety
/// `ctx.state` must be the exposed address of the run state of the current run, which the
/// executable owns and does not otherwise touch while generated code runs.
unsafe fn state_of<'s>(ctx: &RunContext) -> &'s mut RunState {
    // SAFETY: the caller's contract; `JitProgram::run` exposes the address before each run.
    unsafe { &mut *std::ptr::with_exposed_provenance_mut::<RunState>(ctx.state as usize) }
}

/// Records `error` as the run's outcome.
fn record(ctx: &mut RunContext, state: &mut RunState, error: ExecError) {
    state.error = Some(error);
    ctx.exit_code = ExitCode::Recorded.value().into();
}

/// Checks an access against every region. Returns whether it is allowed; when not, records
/// `OutOfBounds`.
///
/// # Safety
/// `ctx` must point to the live context of the current run, whose `state` is valid.
pub unsafe fn check_access(ctx: *mut RunContext, addr: u64, info: u64) -> bool {
    // SAFETY: the caller passes the context of the running program, which it owns exclusively
    // while generated code is suspended in this call.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: `state` is the run state owned by the executable for the whole run.
    let state = unsafe { state_of(ctx) };
    let info = AccessInfo::decode(info);
    if state
        .memory_and_helpers()
        .0
        .allows(addr, u64::from(info.size), info.access)
    {
        return true;
    }
    let error = ExecError::OutOfBounds {
        pc: info.pc,
        access: info.access,
        addr,
        size: u64::from(info.size),
    };
    record(ctx, state, error);
    false
}

/// Runs a host helper on r1..r5 (in `ctx.args`), catching panics.
fn invoke(
    memory: &MemoryMap,
    helper: &Helper,
    id: u64,
    pc: usize,
    args: [u64; 5],
) -> Result<u64, ExecError> {
    let mut context = HelperContext::new(memory);
    let outcome = catch_unwind(AssertUnwindSafe(|| (helper.func)(&mut context, args)));
    let message = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(HelperError::TailCall)) => return Err(ExecError::TailCall { pc }),
        Ok(Err(error)) => error.to_string(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            format!("panicked: {what}")
        }
    };
    Err(ExecError::Helper {
        pc,
        id,
        name: helper.name.clone(),
        message,
    })
}

/// A `call` of a helper resolved at compile time. Returns r0; on failure records the error
/// (generated code checks `exit_code` after the call).
///
/// # Safety
/// `ctx` must point to the live context of the current run and `helper` into the helper table
/// of its run state.
pub unsafe fn call_helper(ctx: *mut RunContext, helper: *const Helper, id: u64, pc: u64) -> u64 {
    // SAFETY: see `check_access`.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: see `check_access`.
    let state = unsafe { state_of(ctx) };
    // SAFETY: the compiled program keeps the table (an `Arc`) alive and never mutates it.
    let helper = unsafe { &*helper };
    match invoke(
        state.memory_and_helpers().0,
        helper,
        id,
        pc as usize,
        ctx.args,
    ) {
        Ok(value) => value,
        Err(error) => {
            record(ctx, state, error);
            0
        }
    }
}

/// A `callx`: the helper id is only known at run time.
///
/// # Safety
/// `ctx` must point to the live context of the current run.
pub unsafe fn call_helper_by_id(ctx: *mut RunContext, id: u64, pc: u64) -> u64 {
    // SAFETY: see `check_access`.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: see `check_access`.
    let state = unsafe { state_of(ctx) };
    let pc = pc as usize;
    let (memory, helpers) = state.memory_and_helpers();
    let outcome = match u32::try_from(id).ok().and_then(|id| helpers.get(id)) {
        Some(helper) => invoke(memory, helper, id, pc, ctx.args),
        None => Err(ExecError::UnknownHelper { pc, id }),
    };
    match outcome {
        Ok(value) => value,
        Err(error) => {
            record(ctx, state, error);
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_info_round_trips() {
        for pc in [0, 1, 12345, (1 << 27) - 1] {
            for size in [1, 2, 4, 8] {
                for access in [Access::Read, Access::Write] {
                    let info = AccessInfo { pc, size, access };
                    assert_eq!(AccessInfo::decode(info.encode()), info);
                }
            }
        }
    }
}
