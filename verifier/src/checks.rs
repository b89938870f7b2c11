//! The safety assertions the verifier proves. Every rejection names exactly one of them.

use crate::prelude::*;

use core::fmt;

/// One kind of safety assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// Registers are written before they are read.
    UninitializedRegister,
    /// Stack bytes are written before they are read (by the program or a helper).
    UninitializedStack,
    /// Only pointers are dereferenced.
    NotAPointer,
    /// Pointers that may be null are checked before use.
    MaybeNull,
    /// Accesses stay inside their region (context, stack, packet, map value, buffer).
    OutOfBounds,
    /// Context accesses respect the program type's layout (readable and writable bytes,
    /// pointer fields loaded whole).
    ContextAccess,
    /// Writes go to writable memory.
    ReadOnlyMemory,
    /// Only numbers are added to (or subtracted from) pointers, and no other arithmetic is
    /// applied to pointers.
    PointerArithmetic,
    /// Pointers are compared only with pointers into the same region, or with 0.
    PointerComparison,
    /// Pointers are subtracted only from pointers into the same region.
    PointerSubtraction,
    /// No pointer is written where the host can see it (option).
    PointerLeak,
    /// Helper arguments match the helper's prototype.
    HelperArgument,
    /// Only helpers the program type allows are called.
    UnknownHelper,
    /// Divisors are not zero (option).
    DivisionByZero,
    /// Every loop has a bound the analysis finds (option).
    UnboundedLoop,
    /// At most 8 call frames are active.
    CallDepth,
    /// Functions do not call themselves, directly or not.
    Recursion,
    /// Jumps stay inside their function and functions do not run into each other.
    ControlFlow,
    /// Map references name maps of the table, used as their type allows.
    MapReference,
    /// Instructions the verifier cannot check (kfunc calls, unresolvable `callx`, ...).
    Unsupported,
    /// Legacy packet loads are allowed by the program type and use a number as offset.
    LegacyPacketAccess,
    /// A function does not return a pointer to its own stack frame.
    StackPointerEscape,
    /// The program's return value is a number in the program type's range.
    ReturnValue,
}

impl Check {
    /// Every check, in declaration order.
    pub const ALL: [Check; 23] = [
        Check::UninitializedRegister,
        Check::UninitializedStack,
        Check::NotAPointer,
        Check::MaybeNull,
        Check::OutOfBounds,
        Check::ContextAccess,
        Check::ReadOnlyMemory,
        Check::PointerArithmetic,
        Check::PointerComparison,
        Check::PointerSubtraction,
        Check::PointerLeak,
        Check::HelperArgument,
        Check::UnknownHelper,
        Check::DivisionByZero,
        Check::UnboundedLoop,
        Check::CallDepth,
        Check::Recursion,
        Check::ControlFlow,
        Check::MapReference,
        Check::Unsupported,
        Check::LegacyPacketAccess,
        Check::StackPointerEscape,
        Check::ReturnValue,
    ];

    /// A stable identifier (used as the SARIF rule id).
    pub fn id(self) -> &'static str {
        match self {
            Check::UninitializedRegister => "uninitialized-register",
            Check::UninitializedStack => "uninitialized-stack",
            Check::NotAPointer => "not-a-pointer",
            Check::MaybeNull => "maybe-null",
            Check::OutOfBounds => "out-of-bounds",
            Check::ContextAccess => "context-access",
            Check::ReadOnlyMemory => "read-only-memory",
            Check::PointerArithmetic => "pointer-arithmetic",
            Check::PointerComparison => "pointer-comparison",
            Check::PointerSubtraction => "pointer-subtraction",
            Check::PointerLeak => "pointer-leak",
            Check::HelperArgument => "helper-argument",
            Check::UnknownHelper => "unknown-helper",
            Check::DivisionByZero => "division-by-zero",
            Check::UnboundedLoop => "unbounded-loop",
            Check::CallDepth => "call-depth",
            Check::Recursion => "recursion",
            Check::ControlFlow => "control-flow",
            Check::MapReference => "map-reference",
            Check::Unsupported => "unsupported",
            Check::LegacyPacketAccess => "legacy-packet-access",
            Check::StackPointerEscape => "stack-pointer-escape",
            Check::ReturnValue => "return-value",
        }
    }

    /// What the assertion requires, in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Check::UninitializedRegister => "registers are written before they are read",
            Check::UninitializedStack => "stack bytes are written before they are read",
            Check::NotAPointer => "only pointers are dereferenced",
            Check::MaybeNull => "pointers that may be null are checked before use",
            Check::OutOfBounds => "memory accesses stay inside their region",
            Check::ContextAccess => "context accesses respect the program type's layout",
            Check::ReadOnlyMemory => "writes go to writable memory",
            Check::PointerArithmetic => "only numbers are added to or subtracted from pointers",
            Check::PointerComparison => "pointers are compared only within one region or with 0",
            Check::PointerSubtraction => "pointers are subtracted only within one region",
            Check::PointerLeak => "no pointer is written where the host can see it",
            Check::HelperArgument => "helper arguments match the helper's prototype",
            Check::UnknownHelper => "only helpers the program type allows are called",
            Check::DivisionByZero => "divisors are not zero",
            Check::UnboundedLoop => "every loop has a bound",
            Check::CallDepth => "at most 8 call frames are active",
            Check::Recursion => "functions do not call themselves",
            Check::ControlFlow => "jumps stay inside their function",
            Check::MapReference => "map references name maps of the table",
            Check::Unsupported => "every instruction can be checked",
            Check::LegacyPacketAccess => "legacy packet loads are allowed and well-formed",
            Check::StackPointerEscape => "functions do not return pointers to their own stack",
            Check::ReturnValue => "the return value is a number in the allowed range",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A failed check at the current instruction, before the analysis adds where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The check that failed.
    pub check: Check,
    /// What exactly failed, in words.
    pub message: String,
    /// Registers whose abstract values explain the failure.
    pub registers: Vec<u8>,
}

impl Violation {
    /// A failure of `check`, explained by `message` and the abstract values of `registers`.
    pub fn new(check: Check, message: impl Into<String>, registers: &[u8]) -> Violation {
        Violation {
            check,
            message: message.into(),
            registers: registers.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = Check::ALL.iter().map(|c| c.id()).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Check::ALL.len());
    }
}
