//! Which x86-64 register holds what.
//!
//! All eleven eBPF registers live in registers for the whole run. r6 to r9, r10 and the context
//! pointer sit in registers both calling conventions preserve across calls, so helper calls only
//! save r1 to r5. rax, rcx and rdx stay free as scratch: division (rdx:rax), shifts (cl),
//! cmpxchg (rax) and bounds checks need them, and keeping eBPF registers out of them means no
//! instruction has to spill anything.

use super::asm::Gpr;
use xbpf_isa::Reg;

/// The run context ([`crate::context::RunContext`]).
pub const CTX: Gpr = Gpr::Rbp;
/// eBPF r10 (frame pointer).
pub const FP: Gpr = Gpr::R13;
/// Scratch registers.
pub const RAX: Gpr = Gpr::Rax;
pub const RCX: Gpr = Gpr::Rcx;
pub const RDX: Gpr = Gpr::Rdx;

const EBPF: [Gpr; Reg::COUNT] = [
    Gpr::Rsi, // r0
    Gpr::Rdi, // r1
    Gpr::R8,  // r2
    Gpr::R9,  // r3
    Gpr::R10, // r4
    Gpr::R11, // r5
    Gpr::Rbx, // r6
    Gpr::R14, // r7
    Gpr::R15, // r8
    Gpr::R12, // r9
    Gpr::R13, // r10
];

/// The x86 register holding eBPF register `reg`.
pub const fn ebpf(reg: Reg) -> Gpr {
    EBPF[reg.index()]
}

/// eBPF registers by number.
pub fn reg(number: u8) -> Reg {
    Reg::new(number).unwrap_or(Reg::R0)
}

/// r1 to r5: the argument registers, which helper calls preserve by saving them.
pub fn arguments() -> impl Iterator<Item = Reg> {
    (1..=5).map(reg)
}

/// r6 to r9: callee-saved in eBPF, saved around local calls.
pub fn callee_saved() -> impl Iterator<Item = Reg> {
    (6..=9).map(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_injective_and_avoids_scratch_and_context() {
        let mut seen = std::collections::HashSet::new();
        for number in 0..=10 {
            let gpr = ebpf(reg(number));
            assert!(seen.insert(gpr), "r{number} shares {gpr:?}");
            assert!(![RAX, RCX, RDX, CTX, Gpr::Rsp].contains(&gpr));
        }
    }
}
