//! Stand-in back end for architectures the JIT does not support yet: compiling fails with
//! [`CompileError::Unavailable`], so nothing can ever be run.

use crate::analysis::Analysis;
use crate::context::RunContext;
use crate::error::CompileError;
use crate::listing::Layout;
use crate::options::Options;
use xbpf_isa::{HelperTable, Program};

/// No target to choose.
pub type Target = ();

pub const fn host_target() -> Target {}

/// Compiled code: cannot exist without a back end.
#[derive(Debug)]
pub enum Compiled {}

pub fn compile(
    _program: &Program,
    _analysis: &Analysis,
    _options: Options,
    _target: Target,
    _helpers: &HelperTable,
) -> Result<Compiled, CompileError> {
    Err(CompileError::Unavailable {
        arch: std::env::consts::ARCH,
    })
}

/// # Safety
/// Never callable: `Compiled` has no values.
pub unsafe fn enter(compiled: &Compiled, _ctx: *mut RunContext, _args: &[u64; 5]) -> u64 {
    match *compiled {}
}

pub fn listing(compiled: &Compiled, _program: &Program) -> String {
    match *compiled {}
}

pub fn code(compiled: &Compiled) -> &[u8] {
    match *compiled {}
}

pub fn layout(compiled: &Compiled) -> &Layout {
    match *compiled {}
}
