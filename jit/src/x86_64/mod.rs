//! The x86-64 back end.

mod abi;
mod asm;
mod calls;
mod codegen;
mod disasm;
mod encoder;
mod frame;
mod memory;
mod peephole;
mod regs;
mod select;

pub use abi::CallingConvention;

use crate::analysis::Analysis;
use crate::blinding::Keys;
use crate::code::ExecutableCode;
use crate::context::RunContext;
use crate::error::CompileError;
use crate::listing::Layout;
use crate::options::Options;
use codegen::{Codegen, MAX_PROGRAM_LEN};
use encoder::JumpPlan;
use xbpf_isa::{HelperTable, Program};

/// What the back end is compiled for.
pub type Target = CallingConvention;

/// The default target of this host.
pub const fn host_target() -> Target {
    CallingConvention::host()
}

/// Compiled code.
#[derive(Debug)]
pub struct Compiled {
    pub code: ExecutableCode,
    pub layout: Layout,
    pub target: Target,
}

/// Programs up to this many instructions are compiled in two passes.
pub const SECOND_PASS_LIMIT: usize = 4096;

/// Compiles `program` in one pass or, up to [`SECOND_PASS_LIMIT`] instructions, two (the second
/// one with short forward jumps where the first proved they fit).
pub fn compile(
    program: &Program,
    analysis: &Analysis,
    options: Options,
    target: Target,
    helpers: &HelperTable,
) -> Result<Compiled, CompileError> {
    if program.len() > MAX_PROGRAM_LEN {
        return Err(CompileError::TooLarge {
            len: program.len(),
            limit: MAX_PROGRAM_LEN,
        });
    }
    // Every pass replays the same keys (see `crate::blinding`).
    let keys = options.constant_blinding.then(Keys::random);
    let first = Codegen::new(
        program,
        analysis,
        options,
        target,
        helpers,
        if program.len() <= SECOND_PASS_LIMIT {
            JumpPlan::first_of_two()
        } else {
            JumpPlan::default()
        },
        keys.clone(),
    )
    .generate()?;
    // A second pass shortens forward jumps (backward ones are short in either pass when they
    // fit). It doubles compile time for a few percent of code size and no measurable speed
    // (docs/performance.md), so only small programs, where compiling is cheap, get it.
    let second = if program.len() <= SECOND_PASS_LIMIT {
        Codegen::new(
            program, analysis, options, target, helpers, first.plan, keys,
        )
        .generate()?
    } else {
        first
    };
    let code = ExecutableCode::new(&second.code)?;
    Ok(Compiled {
        code,
        layout: second.layout,
        target,
    })
}

/// Runs compiled code with r1 to r5 from `args`; returns r0 (meaningful when the context's
/// exit code says the run exited normally).
///
/// # Safety
/// `ctx` must be fully initialised, and the stack, regions, packet and state it points to must
/// stay valid (and not otherwise accessed) for the duration of the call.
pub unsafe fn enter(compiled: &Compiled, ctx: *mut RunContext, args: &[u64; 5]) -> u64 {
    // SAFETY: the entry point is at offset 0 of code compiled for `compiled.target`; the caller
    // guarantees the context.
    unsafe { compiled.target.enter(compiled.code.start(), ctx, args) }
}

/// The listing of compiled code.
pub fn listing(compiled: &Compiled, program: &Program) -> String {
    crate::listing::listing(
        program,
        &compiled.layout,
        compiled.code.bytes(),
        disasm::disassemble,
    )
}

/// The code bytes.
pub fn code(compiled: &Compiled) -> &[u8] {
    compiled.code.bytes()
}

/// Where the parts of the code are.
pub fn layout(compiled: &Compiled) -> &Layout {
    &compiled.layout
}
