//! rbpf (crates.io `rbpf` 0.4), run side by side with xbpf: its interpreter and its x86-64 JIT.
//!
//! Differences from xbpf's conventions this has to work around:
//! - rbpf's "raw" VM (`EbpfVmRaw`) passes only r1 = the memory's address; r2 is 0, not the
//!   length (its JIT leaves the `mbuff_len` argument, 0, there). None of the eight workloads
//!   reads r2 before writing it, so they compute the same r0; the benches assert it.
//! - The memory is a `&mut [u8]` per run rather than a region list, so the benches hand each
//!   run a fresh copy made outside the timed part, as for xbpf.
//! - rbpf's interpreter checks every access (against the memory, its stack and any allowed
//!   ranges) and allocates its stack on each run; its JIT checks nothing. There is no switch:
//!   both are measured as they come.
//! - rbpf's verifier runs when the program is set; it accepts all eight workloads.

use super::Workload;
use rbpf::EbpfVmRaw;

/// An rbpf VM for `workload`, JIT-compiled when `jit`. Its r0 is checked on fresh memory, by
/// the interpreter (which checks every access) before the JIT code ever runs.
pub fn vm(workload: &Workload, jit: bool) -> EbpfVmRaw<'_> {
    let mut vm = EbpfVmRaw::new(Some(&workload.bytecode))
        .unwrap_or_else(|error| panic!("rbpf rejects {}: {error}", workload.name));
    let check = |vm: &EbpfVmRaw<'_>, jit: bool| {
        let mut memory = workload.memory.clone();
        assert_eq!(
            run(vm, jit, &mut memory),
            workload.r0,
            "{} on rbpf ({}) returned the wrong r0",
            workload.name,
            if jit { "JIT" } else { "interpreter" }
        );
    };
    check(&vm, false);
    if jit {
        vm.jit_compile()
            .unwrap_or_else(|error| panic!("rbpf cannot JIT {}: {error}", workload.name));
        check(&vm, true);
    }
    vm
}

/// One run of `vm` on `memory`.
#[inline(always)]
pub fn run(vm: &EbpfVmRaw<'_>, jit: bool, memory: &mut [u8]) -> u64 {
    // SAFETY: rbpf's API ties the memory's borrow to the program's lifetime, but it uses the
    // memory only during this call and keeps no reference to it afterwards; the borrow ends
    // when the call returns, while `memory` is still borrowed by this function.
    let memory: &mut [u8] = unsafe { &mut *std::ptr::from_mut(memory) };
    if jit {
        // SAFETY: the JIT code is rbpf's compilation of a workload whose every access stays
        // inside `memory` or rbpf's stack: `vm` checked it on rbpf's interpreter (which checks
        // every access) before compiling, on the same memory contents.
        unsafe { vm.execute_program_jit(memory) }.expect("rbpf JIT run")
    } else {
        vm.execute_program(memory).expect("rbpf interpreter run")
    }
}
