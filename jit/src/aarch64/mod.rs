//! The AArch64 (ARM64) back end.
//!
//! Same front end, same guarantees as the x86-64 back end: register mapping in `regs.rs`,
//! machine instruction values in `asm.rs` and their single encoder in `encoder.rs`, instruction
//! selection in `select.rs`, `memory.rs` and `calls.rs`, prologue and stubs in `frame.rs`, the
//! AAPCS64 entry and trampolines in `abi.rs`.

mod abi;
mod asm;
mod calls;
mod codegen;
mod disasm;
mod encoder;
mod frame;
mod memory;
mod regs;
mod select;

use crate::analysis::Analysis;
use crate::blinding::Keys;
use crate::code::ExecutableCode;
use crate::context::RunContext;
use crate::error::CompileError;
use crate::listing::Layout;
use crate::options::Options;
use codegen::{Codegen, MAX_PROGRAM_LEN};
use encoder::{Finished, JumpPlan};
use xbpf_isa::{HelperTable, Program};

/// What the back end is compiled for: AAPCS64 is the convention on every AArch64 OS, so there
/// is nothing to choose (CPU features are detected at compile time, see [`Options`]).
pub type Target = ();

/// The target of this host.
pub const fn host_target() -> Target {}

/// Compiled code.
#[derive(Debug)]
pub struct Compiled {
    pub code: ExecutableCode,
    pub layout: Layout,
}

/// Relaxation passes before falling back to long forms for every conditional branch.
const MAX_PASSES: usize = 8;

/// Compiles `program`: passes until every conditional branch reaches its target (see
/// `encoder.rs`).
pub fn compile(
    program: &Program,
    analysis: &Analysis,
    options: Options,
    _target: Target,
    helpers: &HelperTable,
) -> Result<Compiled, CompileError> {
    if program.len() > MAX_PROGRAM_LEN {
        return Err(CompileError::TooLarge {
            len: program.len(),
            limit: MAX_PROGRAM_LEN,
        });
    }
    let lse = options.isa_extensions && abi::cpu_has_lse();
    // Every pass replays the same keys (see `crate::blinding`).
    let keys = options.constant_blinding.then(Keys::random);
    let mut plan = JumpPlan::default();
    for pass in 0.. {
        if pass + 1 == MAX_PASSES {
            plan = JumpPlan::all_long();
        }
        let generated = Codegen::new(program, analysis, options, lse, helpers, plan, keys.clone())
            .generate()?;
        match generated.finished {
            Finished::Code(bytes) => {
                return Ok(Compiled {
                    code: ExecutableCode::new(&bytes)?,
                    layout: generated.layout,
                });
            }
            Finished::Relax(next) if pass + 1 < MAX_PASSES => plan = next,
            Finished::Relax(_) => break,
        }
    }
    Err(CompileError::Assembler(
        "branches out of reach with every branch in its long form".to_string(),
    ))
}

/// Runs compiled code with r1 to r5 from `args`; returns r0 (meaningful when the context's
/// exit code says the run exited normally).
///
/// # Safety
/// `ctx` must be fully initialised, and the stack, regions, packet and state it points to must
/// stay valid (and not otherwise accessed) for the duration of the call.
pub unsafe fn enter(compiled: &Compiled, ctx: *mut RunContext, args: &[u64; 5]) -> u64 {
    // SAFETY: the entry point is at offset 0 of code this back end compiled, whose caches
    // `ExecutableCode` synchronised; the caller guarantees the context.
    unsafe { abi::enter(compiled.code.start(), compiled.code.bytes(), ctx, args) }
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
