//! Why the JIT cannot compile a program.

use xbpf_isa::PrepareError;

/// A compilation failure. Converted into [`PrepareError::Engine`] by the [`Engine`] impl.
///
/// [`Engine`]: xbpf_isa::Engine
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// No back end exists for the host architecture.
    #[error("the JIT has no back end for the {arch} architecture")]
    Unavailable { arch: &'static str },
    /// The program has more instructions than the JIT's pc encoding allows.
    #[error("the program has {len} instructions; the JIT compiles at most {limit}")]
    TooLarge { len: usize, limit: usize },
    /// The generated code is larger than relative jumps can span.
    #[error("the generated code is {size} bytes; the JIT supports at most {limit}")]
    CodeTooLarge { size: usize, limit: usize },
    /// The assembler rejected the generated code (a JIT bug, reported rather than panicking).
    #[error("internal assembler error: {0}")]
    Assembler(String),
    /// Executable memory could not be mapped.
    #[error("cannot map executable memory: {0}")]
    Memory(String),
}

impl From<CompileError> for PrepareError {
    fn from(error: CompileError) -> PrepareError {
        PrepareError::Engine {
            engine: crate::ENGINE_NAME,
            message: error.to_string(),
        }
    }
}
