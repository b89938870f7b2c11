//! The AAPCS64 calling convention: how generated code is entered and how it calls into Rust.
//!
//! Every AArch64 OS uses AAPCS64 for what crosses this boundary (integer arguments in x0 to x3,
//! the result in x0, x19 to x28 preserved, a 16-byte aligned stack), so there is one target.

use crate::context::RunContext;
use crate::runtime;
use xbpf_isa::exec::Helper;

/// Addresses of the trampolines into [`runtime`].
#[derive(Clone, Copy, Debug)]
pub struct Routines {
    /// `(ctx, addr, info) -> allowed (0 or 1)`.
    pub check_access: u64,
    /// `(ctx, helper, id, pc) -> r0`.
    pub call_helper: u64,
    /// `(ctx, id, pc) -> r0`.
    pub call_helper_by_id: u64,
}

impl Routines {
    pub fn new() -> Routines {
        Routines {
            check_access: check_access as *const () as u64,
            call_helper: call_helper as *const () as u64,
            call_helper_by_id: call_helper_by_id as *const () as u64,
        }
    }
}

// The trampolines only forward to `runtime`, which never unwinds.

extern "C" fn check_access(ctx: *mut RunContext, addr: u64, info: u64) -> u64 {
    // SAFETY: generated code passes its own live context.
    u64::from(unsafe { runtime::check_access(ctx, addr, info) })
}

extern "C" fn call_helper(ctx: *mut RunContext, helper: *const Helper, id: u64, pc: u64) -> u64 {
    // SAFETY: generated code passes its own live context and a helper of the table it was
    // compiled against, which the compiled program keeps alive.
    unsafe { runtime::call_helper(ctx, helper, id, pc) }
}

extern "C" fn call_helper_by_id(ctx: *mut RunContext, id: u64, pc: u64) -> u64 {
    // SAFETY: generated code passes its own live context.
    unsafe { runtime::call_helper_by_id(ctx, id, pc) }
}

/// Whether this CPU has the ARMv8.1 Large System Extensions (single-instruction atomics).
pub fn cpu_has_lse() -> bool {
    std::arch::is_aarch64_feature_detected!("lse")
}

/// Calls generated code at `entry` with the context and the arguments (r1 to r5); returns r0.
///
/// # Safety
/// `entry` must be the entry point of code compiled by this back end, whose instruction cache
/// maintenance is done, and `ctx` a fully initialised context whose stack, regions and state
/// stay valid for the call.
pub unsafe fn enter(entry: *const u8, code: &[u8], ctx: *mut RunContext, args: &[u64; 5]) -> u64 {
    // The code was written (and the data cache cleaned, the instruction cache invalidated) when
    // it was compiled, possibly on another core: an `isb` on this one discards any instruction
    // it may have fetched before that.
    dynasmrt::cache_control::prepare_for_execution(code);
    // SAFETY: the caller guarantees `entry` is AAPCS64 code taking two pointers.
    let function: extern "C" fn(*mut RunContext, *const u64) -> u64 =
        unsafe { std::mem::transmute(entry) };
    function(ctx, args.as_ptr())
}
