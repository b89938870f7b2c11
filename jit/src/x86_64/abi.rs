//! Calling conventions of the host: how generated code is entered and how it calls into Rust.
//!
//! The entry point and every call into Rust follow the convention of the target
//! ([`CallingConvention::host`]). The other one can be requested explicitly, so that both are
//! tested on any x86-64 host: the trampolines exist in both ABIs, and `extern "sysv64"` and
//! `extern "win64"` function pointers can be called from any x86-64 OS.

use super::asm::Gpr;
use crate::context::RunContext;
use crate::runtime;
use xbpf_isa::exec::Helper;

/// An x86-64 calling convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallingConvention {
    /// System V AMD64 (Linux, macOS, the BSDs).
    SystemV,
    /// Microsoft x64 (Windows).
    Windows,
}

impl CallingConvention {
    /// The convention of the target the crate is built for.
    pub const fn host() -> CallingConvention {
        if cfg!(target_os = "windows") {
            CallingConvention::Windows
        } else {
            CallingConvention::SystemV
        }
    }

    /// The first four integer argument registers.
    pub const fn arguments(self) -> [Gpr; 4] {
        match self {
            CallingConvention::SystemV => [Gpr::Rdi, Gpr::Rsi, Gpr::Rdx, Gpr::Rcx],
            CallingConvention::Windows => [Gpr::Rcx, Gpr::Rdx, Gpr::R8, Gpr::R9],
        }
    }

    /// Registers a callee must preserve (besides rsp).
    pub const fn callee_saved(self) -> &'static [Gpr] {
        match self {
            CallingConvention::SystemV => {
                &[Gpr::Rbx, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15]
            }
            CallingConvention::Windows => &[
                Gpr::Rbx,
                Gpr::Rbp,
                Gpr::Rdi,
                Gpr::Rsi,
                Gpr::R12,
                Gpr::R13,
                Gpr::R14,
                Gpr::R15,
            ],
        }
    }

    /// Bytes the caller reserves above the return address for the callee (Windows' shadow
    /// space for the four register arguments).
    pub const fn shadow_space(self) -> i32 {
        match self {
            CallingConvention::SystemV => 0,
            CallingConvention::Windows => 32,
        }
    }

    /// Addresses of the Rust routines generated code calls, in this convention.
    pub fn routines(self) -> Routines {
        match self {
            CallingConvention::SystemV => Routines {
                check_access: sysv::check_access as *const () as u64,
                call_helper: sysv::call_helper as *const () as u64,
                call_helper_by_id: sysv::call_helper_by_id as *const () as u64,
            },
            CallingConvention::Windows => Routines {
                check_access: win64::check_access as *const () as u64,
                call_helper: win64::call_helper as *const () as u64,
                call_helper_by_id: win64::call_helper_by_id as *const () as u64,
            },
        }
    }

    /// Calls generated code at `entry` with the context and the arguments (r1 to r5); returns
    /// r0.
    ///
    /// # Safety
    /// `entry` must be the entry point of code compiled for this convention, and `ctx` a fully
    /// initialised context whose stack, regions and state stay valid for the call.
    pub unsafe fn enter(self, entry: *const u8, ctx: *mut RunContext, args: &[u64; 5]) -> u64 {
        match self {
            CallingConvention::SystemV => {
                // SAFETY: the caller guarantees `entry` is System V code taking two pointers.
                let function: extern "sysv64" fn(*mut RunContext, *const u64) -> u64 =
                    unsafe { std::mem::transmute(entry) };
                function(ctx, args.as_ptr())
            }
            CallingConvention::Windows => {
                // SAFETY: the caller guarantees `entry` is Windows x64 code taking two
                // pointers.
                let function: extern "win64" fn(*mut RunContext, *const u64) -> u64 =
                    unsafe { std::mem::transmute(entry) };
                function(ctx, args.as_ptr())
            }
        }
    }
}

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

/// Defines the trampolines in one ABI. They only forward to [`runtime`], which never unwinds.
macro_rules! trampolines {
    ($module:ident, $abi:literal) => {
        mod $module {
            use super::*;

            pub extern $abi fn check_access(ctx: *mut RunContext, addr: u64, info: u64) -> u64 {
                // SAFETY: generated code passes its own live context.
                u64::from(unsafe { runtime::check_access(ctx, addr, info) })
            }

            pub extern $abi fn call_helper(
                ctx: *mut RunContext,
                helper: *const Helper,
                id: u64,
                pc: u64,
            ) -> u64 {
                // SAFETY: generated code passes its own live context and a helper of the table
                // it was compiled against, which the compiled program keeps alive.
                unsafe { runtime::call_helper(ctx, helper, id, pc) }
            }

            pub extern $abi fn call_helper_by_id(ctx: *mut RunContext, id: u64, pc: u64) -> u64 {
                // SAFETY: generated code passes its own live context.
                unsafe { runtime::call_helper_by_id(ctx, id, pc) }
            }
        }
    };
}

trampolines!(sysv, "sysv64");
trampolines!(win64, "win64");
