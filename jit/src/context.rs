//! The run context: the one structure generated code receives (a pointer to it stays in a
//! register for the whole run). It holds what inline code reads (bounds, fuel, interrupt flag),
//! the argument block of calls into Rust, and where the run's outcome is written.
//!
//! A compiled program keeps one context for all its runs and rewrites only what a run changes
//! ([`RunContext::start_run`]): building a fresh one per run cost more than a short program.

use crate::exit::ExitCode;
use std::mem::offset_of;
use xbpf_isa::exec::{STACK_FRAME_SIZE, STACK_SIZE};
use xbpf_isa::{Access, Region};

/// Access sizes in the order of the limit tables: 1, 2, 4 and 8 bytes.
pub const ACCESS_SIZES: [u64; 4] = [1, 2, 4, 8];

/// Index of `size` (1, 2, 4 or 8) in the limit tables.
pub const fn size_class(size: u32) -> usize {
    match size {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    }
}

/// The context of one run. `repr(C)`: generated code addresses fields by their offsets
/// ([`field`]).
#[repr(C)]
#[derive(Debug)]
pub struct RunContext {
    /// Lowest address of the stack buffer.
    pub stack_start: u64,
    /// One past the stack buffer: r10 of the outermost frame.
    pub stack_top: u64,
    /// A local call made while r10 is at or below this address would need a ninth frame.
    pub call_limit: u64,
    /// Start of the run's first region (checked inline; the others are checked out of line).
    pub region_start: u64,
    /// Per access size: an access of that size may read at `region_start + offset` iff
    /// `offset < limit` (unsigned). 0 when no access of that size fits.
    pub region_read_limit: [u64; 4],
    /// The same for writes (all 0 when the region is read-only).
    pub region_write_limit: [u64; 4],
    /// Start and length of the data legacy packet loads read (length 0 without a packet).
    pub packet_start: u64,
    pub packet_len: u64,
    /// Remaining fuel.
    pub fuel: u64,
    /// Address of the interrupt flag (a byte, non-zero when set); 0 when not polled.
    pub interrupt: u64,
    /// Native stack pointer after the entry prologue, restored by every way out of the program.
    pub saved_sp: u64,
    /// r1 to r5 around helper calls (the helper's arguments; restored after it).
    pub args: [u64; 5],
    /// Register save area of out-of-line routines (the back end decides what goes where).
    pub spill: [u64; 8],
    /// The pc of the instruction that stopped the run (for errors without recorded details).
    pub trap_pc: u64,
    /// [`ExitCode::Exit`] (0) while a run goes on and after it exits normally; otherwise why
    /// it stopped, written by the trap stubs or by a Rust routine that recorded an error. The
    /// host resets it after reading a failure, so that a normal run neither writes nor waits
    /// for it: r0 comes back in the return register.
    pub exit_code: u64,
    /// Address of the Rust side of the run (a `RunState`), exposed with its provenance
    /// (`runtime::state_of` turns it back into a reference).
    pub state: u64,
}

/// Field offsets for generated code.
pub mod field {
    use super::*;

    const fn at(offset: usize) -> i32 {
        offset as i32
    }

    pub const STACK_START: i32 = at(offset_of!(RunContext, stack_start));
    pub const STACK_TOP: i32 = at(offset_of!(RunContext, stack_top));
    pub const CALL_LIMIT: i32 = at(offset_of!(RunContext, call_limit));
    pub const REGION_START: i32 = at(offset_of!(RunContext, region_start));
    pub const REGION_READ_LIMIT: i32 = at(offset_of!(RunContext, region_read_limit));
    pub const REGION_WRITE_LIMIT: i32 = at(offset_of!(RunContext, region_write_limit));
    pub const PACKET_START: i32 = at(offset_of!(RunContext, packet_start));
    pub const PACKET_LEN: i32 = at(offset_of!(RunContext, packet_len));
    pub const FUEL: i32 = at(offset_of!(RunContext, fuel));
    pub const INTERRUPT: i32 = at(offset_of!(RunContext, interrupt));
    pub const SAVED_SP: i32 = at(offset_of!(RunContext, saved_sp));
    pub const ARGS: i32 = at(offset_of!(RunContext, args));
    pub const SPILL: i32 = at(offset_of!(RunContext, spill));
    pub const TRAP_PC: i32 = at(offset_of!(RunContext, trap_pc));
    pub const EXIT_CODE: i32 = at(offset_of!(RunContext, exit_code));

    /// Offset of the limit for an access of `size` bytes.
    pub const fn region_limit(access: Access, size: u32) -> i32 {
        let table = match access {
            Access::Read => REGION_READ_LIMIT,
            Access::Write => REGION_WRITE_LIMIT,
        };
        table + 8 * size_class(size) as i32
    }
}

impl RunContext {
    /// A context for runs over `stack` (the `STACK_SIZE` buffer) that poll the flag at
    /// `interrupt` (0 for none), with no region, packet or arguments yet.
    pub fn new(stack_start: u64, interrupt: u64) -> RunContext {
        RunContext {
            stack_start,
            stack_top: stack_start + STACK_SIZE as u64,
            call_limit: stack_start + STACK_FRAME_SIZE as u64,
            region_start: 0,
            region_read_limit: [0; 4],
            region_write_limit: [0; 4],
            packet_start: 0,
            packet_len: 0,
            fuel: 0,
            interrupt,
            saved_sp: 0,
            args: [0; 5],
            spill: [0; 8],
            trap_pc: 0,
            exit_code: ExitCode::Exit.value().into(),
            state: 0,
        }
    }

    /// Points the inline bounds checks at the run's first region and legacy packet loads at
    /// its packet. Runs over the same memory as the last one skip this.
    pub fn set_memory(&mut self, first_region: Option<Region>, packet: Option<Region>) {
        let (region_start, len, writable) = match first_region {
            Some(region) => (region.start, region.len, region.writable),
            None => (0, 0, false),
        };
        self.region_start = region_start;
        for (class, size) in ACCESS_SIZES.iter().enumerate() {
            // offset + size <= len  <=>  offset < len - size + 1 (0 when none fits)
            let limit = (len + 1).saturating_sub(*size);
            self.region_read_limit[class] = limit;
            self.region_write_limit[class] = if writable { limit } else { 0 };
        }
        (self.packet_start, self.packet_len) = packet.map_or((0, 0), |p| (p.start, p.len));
    }

    /// Prepares the context for a run with this fuel, whose Rust side is at address `state`.
    /// What generated code writes before it reads (the saved stack pointer, the spill area, the
    /// trap pc) keeps whatever the last run left; the exit code is already `Exit` (see
    /// [`RunContext::take_exit_code`]). The arguments are not here: the entry point takes their
    /// address as its second argument.
    #[inline]
    pub fn start_run(&mut self, fuel: u64, state: u64) {
        self.fuel = fuel;
        self.state = state;
    }

    /// Whether the last run exited normally (its r0 is then what the entry point returned).
    #[inline]
    pub fn exited_normally(&self) -> bool {
        self.exit_code == u64::from(ExitCode::Exit.value())
    }

    /// The exit code of the last run, leaving `Exit` for the next one.
    pub fn take_exit_code(&mut self) -> u64 {
        std::mem::replace(&mut self.exit_code, ExitCode::Exit.value().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_limits_accept_exactly_the_accesses_inside() {
        let region = Region {
            start: 0x1000,
            len: 6,
            writable: false,
        };
        let mut ctx = RunContext::new(0x8000, 0);
        ctx.set_memory(Some(region), None);
        for (class, size) in ACCESS_SIZES.iter().enumerate() {
            for offset in 0..16u64 {
                let inline = offset < ctx.region_read_limit[class];
                assert_eq!(
                    inline,
                    region.allows(region.start + offset, *size, Access::Read),
                    "size {size} offset {offset}"
                );
            }
            assert_eq!(ctx.region_write_limit[class], 0);
        }
    }
}
