//! Checked access to program memory: the interpreter's stack and the regions of the run.
//!
//! Programs use host addresses (RFC 9669 leaves the address space to the platform; like Linux,
//! r10 and r1 hold real pointers). Every access is checked before it touches memory: it must lie
//! entirely inside the stack or inside one region of the run, and a write (or an atomic) needs a
//! writable region. The checks are overflow-safe for any address and size. Unaligned accesses
//! are allowed. Only the final read or write of host memory is `unsafe`.

#[cfg(target_has_atomic = "64")]
use core::sync::atomic::AtomicU64;
use core::sync::atomic::{AtomicU32, Ordering};
use xbpf_isa::exec::STACK_SIZE;
use xbpf_isa::{Access, AtomicOp, ExecError, Region};

use crate::semantics;

/// The integer types a load or store moves. Every bit pattern is a valid value of each, which
/// is what makes reading arbitrary program memory as one of them sound.
pub(crate) trait Word: Copy {
    const SIZE: u64;

    /// Reads a `Self` at `ptr` in memory other threads may access at the same time (a map
    /// value, shared input memory).
    ///
    /// # Safety
    /// `ptr` must point to `SIZE` bytes valid for reads.
    unsafe fn read_shared(ptr: *const u8) -> Self;

    /// Writes `value` at `ptr` in memory other threads may access at the same time.
    ///
    /// # Safety
    /// `ptr` must point to `SIZE` bytes valid for writes.
    unsafe fn write_shared(ptr: *mut u8, value: Self);
}

/// Implements `Word` for an integer type and its atomic twin, available on targets with atomics
/// of `$bits` bits.
///
/// Memory outside the stack can be shared: programs on other threads update map values with
/// atomic instructions, and the host reads and writes them with relaxed atomic copies. A plain
/// access racing with those would be a data race (undefined behaviour in Rust's memory model),
/// so aligned accesses are relaxed atomic loads and stores, which compile to the same plain
/// move on x86-64 and ARM64. Misaligned accesses have no atomic form (Linux's verifier rejects
/// misaligned atomics, and a program racing on misaligned shared bytes may see them torn).
macro_rules! word {
    ($int:ty, $atomic:ident, $bits:tt) => {
        impl Word for $int {
            const SIZE: u64 = core::mem::size_of::<$int>() as u64;

            #[inline(always)]
            unsafe fn read_shared(ptr: *const u8) -> $int {
                #[cfg(target_has_atomic = $bits)]
                if ptr.cast::<core::sync::atomic::$atomic>().is_aligned() {
                    // SAFETY: the caller guarantees `SIZE` readable bytes, which are aligned for
                    // the atomic type; every other access to shared memory is atomic too.
                    let atomic =
                        unsafe { core::sync::atomic::$atomic::from_ptr(ptr.cast_mut().cast()) };
                    return atomic.load(Ordering::Relaxed);
                }
                // SAFETY: the caller guarantees `SIZE` readable bytes; no alignment is needed.
                unsafe { ptr.cast::<$int>().read_unaligned() }
            }

            #[inline(always)]
            unsafe fn write_shared(ptr: *mut u8, value: $int) {
                #[cfg(target_has_atomic = $bits)]
                if ptr.cast::<core::sync::atomic::$atomic>().is_aligned() {
                    // SAFETY: as in `read_shared`, for writable bytes.
                    let atomic = unsafe { core::sync::atomic::$atomic::from_ptr(ptr.cast()) };
                    atomic.store(value, Ordering::Relaxed);
                    return;
                }
                // SAFETY: the caller guarantees `SIZE` writable bytes; no alignment is needed.
                unsafe { ptr.cast::<$int>().write_unaligned(value) }
            }
        }
    };
}

word!(u8, AtomicU8, "8");
word!(u16, AtomicU16, "16");
word!(u32, AtomicU32, "32");
word!(u64, AtomicU64, "64");

/// Where an access lands: the run's own stack, which no other thread sees, or memory the host
/// lent the run, which other threads may access at the same time.
#[derive(Clone, Copy)]
enum Place {
    Stack(*mut u8),
    Shared(*mut u8),
}

impl Place {
    #[inline(always)]
    fn pointer(self) -> *mut u8 {
        match self {
            Place::Stack(ptr) | Place::Shared(ptr) => ptr,
        }
    }
}

/// Offsets below this fit any access of up to 8 bytes into a region of `len` bytes (0 when
/// none does). Checking `offset < fast_limit(len)` is one comparison whatever the access size;
/// accesses in the last 7 bytes fail it and take the exact (slower) check.
const fn fast_limit(len: u64) -> u64 {
    len.saturating_sub(7)
}

/// The memory one run may access.
pub(crate) struct Memory<'a> {
    /// First byte of the stack, with the provenance of the executable's stack buffer.
    stack: *mut u8,
    /// Host address of the first byte of the stack.
    stack_start: u64,
    /// Host address of the input memory (the run's first region), or 0 when there is none.
    input_start: u64,
    /// `fast_limit` of the input memory for reads, and for writes (0 when it is read-only).
    input_read_limit: u64,
    input_write_limit: u64,
    /// The regions of the run, the input memory first (by `RunInput` convention).
    regions: &'a [Region],
}

impl<'a> Memory<'a> {
    /// The memory of one run: the stack at `stack` and the run's `regions`.
    ///
    /// # Safety
    /// `stack` must point to `STACK_SIZE` bytes that stay valid for reads and writes, and are
    /// accessed only through this `Memory` (and helpers it hands the stack to), for `'a`.
    pub unsafe fn new(stack: *mut u8, regions: &'a [Region]) -> Memory<'a> {
        let input = regions.first().copied().unwrap_or(Region {
            start: 0,
            len: 0,
            writable: false,
        });
        Memory {
            stack,
            // Exposed so that helpers, which see the stack as a `Region` of addresses, may
            // turn those addresses back into pointers.
            stack_start: stack.expose_provenance() as u64,
            input_start: input.start,
            input_read_limit: fast_limit(input.len),
            input_write_limit: if input.writable {
                fast_limit(input.len)
            } else {
                0
            },
            regions,
        }
    }

    /// The stack as a region.
    pub fn stack_region(&self) -> Region {
        Region {
            start: self.stack_start,
            len: STACK_SIZE as u64,
            writable: true,
        }
    }

    /// The address r10 holds in the entry frame: one past the top of the stack.
    pub fn stack_top(&self) -> u64 {
        self.stack_start + STACK_SIZE as u64
    }

    /// Where `size` (1 to 8) accessible bytes at `addr` are, or the out-of-bounds error.
    ///
    /// The fast path is one subtraction and one comparison per region, for the stack (most
    /// accesses of compiled code) and then the input memory; anything else, including accesses
    /// that touch the last 7 bytes of either, takes the exact check of every region.
    #[inline(always)]
    fn locate(&self, pc: usize, addr: u64, size: u64, access: Access) -> Result<Place, ExecError> {
        // Wrapping subtraction turns "below the start" into a huge offset, so one comparison
        // checks both ends.
        let offset = addr.wrapping_sub(self.stack_start);
        if offset < const { fast_limit(STACK_SIZE as u64) } {
            return Ok(Place::Stack(self.stack.wrapping_add(offset as usize)));
        }
        let input_limit = match access {
            Access::Read => self.input_read_limit,
            Access::Write => self.input_write_limit,
        };
        if addr.wrapping_sub(self.input_start) < input_limit {
            return Ok(Place::Shared(region_pointer(addr)));
        }
        self.locate_exactly(pc, addr, size, access)
    }

    #[inline(never)]
    fn locate_exactly(
        &self,
        pc: usize,
        addr: u64,
        size: u64,
        access: Access,
    ) -> Result<Place, ExecError> {
        // `size <= 8 < STACK_SIZE` keeps the right side from underflowing.
        let offset = addr.wrapping_sub(self.stack_start);
        if offset <= STACK_SIZE as u64 - size {
            return Ok(Place::Stack(self.stack.wrapping_add(offset as usize)));
        }
        if self
            .regions
            .iter()
            .any(|region| region.allows(addr, size, access))
        {
            Ok(Place::Shared(region_pointer(addr)))
        } else {
            Err(ExecError::OutOfBounds {
                pc,
                access,
                addr,
                size,
            })
        }
    }

    /// RFC 9669 §5.1 Regular load and store operations: reads a `T` at `addr`.
    #[inline(always)]
    pub fn load<T: Word>(&self, pc: usize, addr: u64) -> Result<T, ExecError> {
        // SAFETY (both arms): `locate` returned a pointer to `T::SIZE` readable bytes, inside
        // the stack this run owns or inside a region whose validity the host guaranteed for the
        // run (a borrow tied to the `RunInput`, or the contract of `add_raw_region`). Every bit
        // pattern is a valid `T` (see `Word`). Only this thread accesses the stack.
        Ok(match self.locate(pc, addr, T::SIZE, Access::Read)? {
            Place::Stack(ptr) => unsafe { ptr.cast::<T>().read_unaligned() },
            Place::Shared(ptr) => unsafe { T::read_shared(ptr) },
        })
    }

    /// RFC 9669 §5.1 Regular load and store operations: writes a `T` at `addr`.
    #[inline(always)]
    pub fn store<T: Word>(&self, pc: usize, addr: u64, value: T) -> Result<(), ExecError> {
        // SAFETY (both arms): as in `load`, and `locate` checked that the bytes are writable:
        // the stack, or a region the host declared writable for this run.
        match self.locate(pc, addr, T::SIZE, Access::Write)? {
            Place::Stack(ptr) => unsafe { ptr.cast::<T>().write_unaligned(value) },
            Place::Shared(ptr) => unsafe { T::write_shared(ptr, value) },
        }
        Ok(())
    }

    /// RFC 9669 §5.3 Atomic operations on 4 bytes at `addr`; returns the old value. `src` and
    /// `expected` (r0, for CMPXCHG) are already reduced to their low 32 bits.
    ///
    /// Atomics are checked as writes: they modify memory even when CMPXCHG ends up storing
    /// nothing. Linux is the tie-breaker for ordering, which the RFC leaves open: it orders the
    /// fetching forms fully, so every form here is `SeqCst`, which is at least as strong.
    pub fn atomic32(
        &self,
        pc: usize,
        addr: u64,
        op: AtomicOp,
        src: u32,
        expected: u32,
    ) -> Result<u32, ExecError> {
        let ptr = self.locate(pc, addr, 4, Access::Write)?.pointer();
        if ptr.cast::<AtomicU32>().is_aligned() {
            // SAFETY: `ptr` points to 4 writable bytes valid for the whole run (see `store`) and
            // is aligned for `AtomicU32`; the program thread accesses them only through this
            // atomic while the reference lives, and other threads must use atomics too.
            let atomic = unsafe { AtomicU32::from_ptr(ptr.cast()) };
            Ok(match op {
                AtomicOp::Add => atomic.fetch_add(src, Ordering::SeqCst),
                AtomicOp::Or => atomic.fetch_or(src, Ordering::SeqCst),
                AtomicOp::And => atomic.fetch_and(src, Ordering::SeqCst),
                AtomicOp::Xor => atomic.fetch_xor(src, Ordering::SeqCst),
                AtomicOp::Xchg => atomic.swap(src, Ordering::SeqCst),
                AtomicOp::CmpXchg => {
                    match atomic.compare_exchange(expected, src, Ordering::SeqCst, Ordering::SeqCst)
                    {
                        Ok(old) | Err(old) => old,
                    }
                }
            })
        } else {
            // Misaligned: no portable atomic exists (Linux's verifier rejects such programs).
            // A plain read-modify-write gives the program itself exactly the RFC's result, since
            // one run is single-threaded; only another thread racing on the same misaligned
            // bytes could see a torn update.
            // SAFETY: as in `load` and `store`; unaligned reads and writes need no alignment.
            let old = unsafe { ptr.cast::<u32>().read_unaligned() };
            let new =
                semantics::atomic_update(op, u64::from(old), u64::from(src), u64::from(expected))
                    as u32;
            // SAFETY: see above.
            unsafe { ptr.cast::<u32>().write_unaligned(new) };
            Ok(old)
        }
    }

    /// RFC 9669 §5.3 Atomic operations on 8 bytes at `addr`; returns the old value.
    /// Same rules as [`Memory::atomic32`]; on a target without 64-bit atomics every access
    /// takes the plain read-modify-write path of misaligned ones.
    pub fn atomic64(
        &self,
        pc: usize,
        addr: u64,
        op: AtomicOp,
        src: u64,
        expected: u64,
    ) -> Result<u64, ExecError> {
        let ptr = self.locate(pc, addr, 8, Access::Write)?.pointer();
        #[cfg(target_has_atomic = "64")]
        if ptr.cast::<AtomicU64>().is_aligned() {
            // SAFETY: as in `atomic32`, for 8 bytes aligned for `AtomicU64`.
            let atomic = unsafe { AtomicU64::from_ptr(ptr.cast()) };
            return Ok(match op {
                AtomicOp::Add => atomic.fetch_add(src, Ordering::SeqCst),
                AtomicOp::Or => atomic.fetch_or(src, Ordering::SeqCst),
                AtomicOp::And => atomic.fetch_and(src, Ordering::SeqCst),
                AtomicOp::Xor => atomic.fetch_xor(src, Ordering::SeqCst),
                AtomicOp::Xchg => atomic.swap(src, Ordering::SeqCst),
                AtomicOp::CmpXchg => {
                    match atomic.compare_exchange(expected, src, Ordering::SeqCst, Ordering::SeqCst)
                    {
                        Ok(old) | Err(old) => old,
                    }
                }
            });
        }
        // Misaligned, or no 64-bit atomics on this target: a plain read-modify-write, as for
        // misaligned bytes in `atomic32` (right for the program, which runs single-threaded).
        // SAFETY: as in `load` and `store`.
        let old = unsafe { ptr.cast::<u64>().read_unaligned() };
        let new = semantics::atomic_update(op, old, src, expected);
        // SAFETY: see above.
        unsafe { ptr.cast::<u64>().write_unaligned(new) };
        Ok(old)
    }
}

/// The pointer for an address inside a host region. The host created the region from a pointer
/// (`RunInput` casts it to an address, which exposes its provenance).
#[inline(always)]
fn region_pointer(addr: u64) -> *mut u8 {
    core::ptr::with_exposed_provenance_mut(addr as usize)
}
