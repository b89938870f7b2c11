//! Running a case on several engines and comparing what they did, with the rules of
//! `jit/tests/differential.rs`: same value or same error (same variant, pc and fields), and the
//! same memory afterwards, on a first and a second run of the same executable.
//!
//! Addresses are where engines may differ legitimately: each engine has its own stack. So an
//! `OutOfBounds` address is compared only where it cannot depend on the stack: for a generated
//! program, through r9 (its memory pointer) as an offset from the memory; elsewhere it is
//! dropped (pc, access and size are still compared). Raw programs that read r10 as a value
//! (see [`observes_stack_address`]) can compute anything from their stack address, so only
//! their safety is checked, not their results.

use crate::case::Case;
use crate::memory::AlignedMemory;
use xbpf_isa::{ExecError, Executable, Instruction, PacketMode, Program, Reg, RunInput, Source};

/// A run's result with engine-specific addresses taken out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Value(u64),
    Error(ExecError),
    /// An `OutOfBounds` through the generator's memory pointer (r9), at this offset.
    OutOfBoundsInMemory {
        error: ExecError,
        offset: u64,
    },
}

/// One run: its outcome and the memory it left.
pub type RunRecord = (Outcome, Vec<u8>);

fn without_address(error: &ExecError) -> ExecError {
    match *error {
        ExecError::OutOfBounds {
            pc, access, size, ..
        } => ExecError::OutOfBounds {
            pc,
            access,
            addr: 0,
            size,
        },
        ref other => other.clone(),
    }
}

/// The base register of the memory access at `pc`.
fn access_base(program: &Program, pc: usize) -> Option<Reg> {
    match *program.instruction(pc)? {
        Instruction::Load { src, .. } => Some(src),
        Instruction::Store { dst, .. } | Instruction::Atomic { dst, .. } => Some(dst),
        _ => None,
    }
}

/// The comparable outcome of a run of `case` whose memory started at `memory_start`.
pub fn outcome(result: Result<u64, ExecError>, memory_start: u64, case: &Case) -> Outcome {
    match result {
        Ok(value) => Outcome::Value(value),
        Err(error @ ExecError::OutOfBounds { pc, addr, .. }) => {
            let through_memory = case.generated
                && access_base(&case.program, pc).is_some_and(|base| base.number() == 9);
            if through_memory {
                Outcome::OutOfBoundsInMemory {
                    error: without_address(&error),
                    offset: addr.wrapping_sub(memory_start),
                }
            } else {
                Outcome::Error(without_address(&error))
            }
        }
        Err(error) => Outcome::Error(error),
    }
}

/// Two runs of a prepared program, each on the case's initial memory (same buffer, reset).
pub fn run_twice(
    executable: &mut dyn Executable,
    case: &Case,
    memory: &mut AlignedMemory,
) -> Vec<RunRecord> {
    (0..2)
        .map(|_| {
            memory.reset();
            let start = memory.start();
            let result = executable.run(&RunInput::with_memory(memory.bytes_mut()));
            (outcome(result, start, case), memory.bytes_mut().to_vec())
        })
        .collect()
}

/// Whether the program reads r10 other than as the base address of a load, store or atomic:
/// then its results may depend on where the engine's stack is.
pub fn observes_stack_address(program: &Program) -> bool {
    let is_fp = |reg: Reg| reg == Reg::R10;
    let source_is_fp = |src: Source| matches!(src, Source::Reg(reg) if is_fp(reg));
    program
        .instructions()
        .any(|(_, instruction)| match *instruction {
            Instruction::Alu { src, .. } => source_is_fp(src),
            Instruction::MovSx { src, .. } => is_fp(src),
            Instruction::Jump { dst, src, .. } => is_fp(dst) || source_is_fp(src),
            Instruction::Store { src, .. } => source_is_fp(src),
            Instruction::Atomic { src, .. } => is_fp(src),
            Instruction::LoadPacket {
                mode: PacketMode::Ind(src),
                ..
            } => is_fp(src),
            Instruction::Callx(reg) => is_fp(reg),
            _ => false,
        })
}

/// The JITs to compare: the host's, and on x86-64 also the one for the other calling
/// convention (any x86-64 host runs both).
pub fn jits() -> Vec<(&'static str, xbpf_jit::Jit)> {
    #[cfg(target_arch = "x86_64")]
    {
        use xbpf_jit::CallingConvention;
        let other = match CallingConvention::host() {
            CallingConvention::SystemV => CallingConvention::Windows,
            CallingConvention::Windows => CallingConvention::SystemV,
        };
        vec![
            ("jit", xbpf_jit::Jit::new()),
            (
                "jit (other convention)",
                xbpf_jit::Jit::with_calling_convention(other),
            ),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    vec![("jit", xbpf_jit::Jit::new())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::assemble;

    fn program(source: &str) -> Program {
        Program::new(assemble(source).unwrap()).unwrap()
    }

    #[test]
    fn stack_address_as_a_value_is_detected() {
        assert!(!observes_stack_address(&program(
            "stxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit"
        )));
        assert!(observes_stack_address(&program("mov %r0, %r10\nexit")));
        assert!(observes_stack_address(&program("jeq %r1, %r10, +0\nexit")));
        assert!(observes_stack_address(&program("stxdw [%r1], %r10\nexit")));
        assert!(observes_stack_address(&program("ldindb %r10, 0\nexit")));
    }
}
