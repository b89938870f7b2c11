//! Which AArch64 register holds what.
//!
//! All eleven eBPF registers live in registers for the whole run. r0 to r5 sit in x0 to x5: a
//! helper call stores r1 to r5 in the context anyway (they are the helper's arguments, and the
//! copy they are restored from), and its result arrives in x0, which is r0. r6 to r9, r10, the
//! context pointer and the values inline checks read on every access (stack and first region
//! starts, remaining fuel, interrupt flag address) sit in x19 to x28, which AAPCS64 callees
//! preserve, so calls into Rust do not disturb them. x9 to x12 and x16/x17 are scratch.
//! x18 (the platform register on macOS and Windows) is never touched; x29 keeps a valid frame
//! record; x30 holds a local callee's return address and is saved around everything that
//! clobbers it.

use super::asm::Gpr;
use xbpf_isa::Reg;

/// The run context ([`crate::context::RunContext`]).
pub const CTX: Gpr = Gpr::X19;
/// eBPF r10 (frame pointer).
pub const FP: Gpr = Gpr::X24;
/// `RunContext::stack_start`, loaded once when bounds checks are on.
pub const STACK_START: Gpr = Gpr::X25;
/// `RunContext::region_start`, loaded once when bounds checks are on.
pub const REGION_START: Gpr = Gpr::X26;
/// The remaining fuel, kept in a register for the whole run when fuel is on.
pub const FUEL: Gpr = Gpr::X27;
/// The address of the interrupt flag, when interrupts are polled.
pub const INTERRUPT: Gpr = Gpr::X28;
/// The address of a checked access (also what the out-of-line check receives).
pub const ADDR: Gpr = Gpr::X9;
/// Scratch registers.
pub const T1: Gpr = Gpr::X10;
pub const T2: Gpr = Gpr::X11;
pub const T3: Gpr = Gpr::X12;
/// Scratch for constants (call targets, large immediates) and stub arguments.
pub const IP0: Gpr = Gpr::X16;
pub const IP1: Gpr = Gpr::X17;
/// The link register.
pub const LR: Gpr = Gpr::X30;

const EBPF: [Gpr; Reg::COUNT] = [
    Gpr::X0,  // r0
    Gpr::X1,  // r1
    Gpr::X2,  // r2
    Gpr::X3,  // r3
    Gpr::X4,  // r4
    Gpr::X5,  // r5
    Gpr::X20, // r6
    Gpr::X21, // r7
    Gpr::X22, // r8
    Gpr::X23, // r9
    Gpr::X24, // r10
];

/// The AArch64 register holding eBPF register `reg`.
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
    fn mapping_is_injective_and_avoids_scratch_and_reserved_registers() {
        let mut seen = std::collections::HashSet::new();
        let reserved = [
            CTX,
            STACK_START,
            REGION_START,
            FUEL,
            INTERRUPT,
            ADDR,
            T1,
            T2,
            T3,
            IP0,
            IP1,
            Gpr::X18,
            Gpr::X29,
            LR,
            Gpr::Zr,
        ];
        for number in 0..=10 {
            let gpr = ebpf(reg(number));
            assert!(seen.insert(gpr), "r{number} shares {gpr:?}");
            assert!(!reserved.contains(&gpr), "r{number} in {gpr:?}");
        }
        // r6 to r10 and the context survive calls into Rust (AAPCS64 callee-saved x19-x28).
        for gpr in (6..=10).map(|n| ebpf(reg(n))).chain([CTX]) {
            assert!((19..=28).contains(&gpr.code()), "{gpr:?}");
        }
    }
}
