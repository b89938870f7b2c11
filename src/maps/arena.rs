//! Fixed value storage: one zeroed, 8-byte aligned allocation made when a map is created and
//! freed when it is dropped. It never moves or shrinks, so addresses handed to programs (map
//! lookups return pointers into it) stay valid for the map's whole life.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use xbpf_isa::Region;

/// Alignment of every value (Linux rounds value sizes up to 8 too).
pub const VALUE_ALIGN: usize = 8;

/// Rounds `size` up to the value alignment.
pub fn stride(size: u32) -> usize {
    (size as usize).next_multiple_of(VALUE_ALIGN)
}

/// A zeroed block of memory shared between the host and running programs.
///
/// Our code touches it only through raw-pointer copies inside bounds it checks, never through
/// Rust references, because programs may write it at any time through the addresses they got.
pub struct Arena {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the arena is plain bytes owned by this value; our accesses go through raw pointers
// with relaxed atomic loads and stores (`copy_relaxed`; no references are ever created into
// it), so sharing it between threads cannot break Rust aliasing rules or race with programs'
// accesses. Concurrent writers see torn values, exactly as they would in Linux.
unsafe impl Send for Arena {}
// SAFETY: see `Send`.
unsafe impl Sync for Arena {}

impl Arena {
    /// A zeroed arena of `len` bytes; `None` when the allocation fails or `len` is too large.
    pub fn new(len: usize) -> Option<Arena> {
        if len == 0 {
            return Some(Arena {
                ptr: NonNull::dangling(),
                len: 0,
            });
        }
        let layout = Layout::from_size_align(len, VALUE_ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        NonNull::new(ptr).map(|ptr| Arena { ptr, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the arena has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host address of byte `offset` (which must be in bounds or one past the end).
    pub fn addr(&self, offset: usize) -> u64 {
        debug_assert!(offset <= self.len);
        self.ptr.as_ptr() as u64 + offset as u64
    }

    /// The offset of host address `addr`, if it lies inside the arena.
    pub fn offset_of(&self, addr: u64) -> Option<usize> {
        let offset = addr.checked_sub(self.ptr.as_ptr() as u64)?;
        usize::try_from(offset).ok().filter(|o| *o < self.len)
    }

    /// The region programs may access.
    pub fn region(&self, writable: bool) -> Region {
        Region {
            start: self.ptr.as_ptr() as u64,
            len: self.len as u64,
            writable,
        }
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "arena access [{offset}, +{len}) outside {} bytes",
            self.len
        );
    }

    /// Copies `len` bytes at `offset` out. Panics on out-of-bounds offsets: callers compute
    /// them from slots they own, so a bad one is a bug in this crate, not bad input.
    pub fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        self.check(offset, len);
        let mut out = vec![0u8; len];
        // SAFETY: the range is inside the allocation (checked above); `out` is a fresh buffer
        // of `len` bytes that nothing else accesses.
        unsafe { copy_relaxed(self.ptr.as_ptr().add(offset), out.as_mut_ptr(), len) };
        out
    }

    /// Copies `data` in at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        // SAFETY: the range is inside the allocation (checked above).
        let dst = unsafe { self.ptr.as_ptr().add(offset) };
        let (src, len) = (data.as_ptr(), data.len());
        // `data` may point into program memory, even into this arena (a program passing a
        // pointer to one map value as the new value of another): copy through a buffer when
        // the ranges overlap, so the result is the old bytes of `data`.
        let overlaps = (src as usize) < dst as usize + len && (dst as usize) < src as usize + len;
        if overlaps {
            let mut copy = vec![0u8; len];
            // SAFETY: `data` is `len` readable bytes, `copy` our own buffer of `len` bytes,
            // and `dst` is checked above.
            unsafe {
                copy_relaxed(src, copy.as_mut_ptr(), len);
                copy_relaxed(copy.as_ptr(), dst, len);
            }
        } else {
            // SAFETY: `data` is `len` readable bytes, `dst` is checked above, and they do
            // not overlap.
            unsafe { copy_relaxed(src, dst, len) };
        }
    }

    /// Zeroes `len` bytes at `offset`.
    pub fn zero(&self, offset: usize, len: usize) {
        self.check(offset, len);
        // SAFETY: the range is inside the allocation (checked above).
        let dst = unsafe { self.ptr.as_ptr().add(offset) };
        for index in 0..len {
            // SAFETY: `dst + index` is inside the checked range; see `copy_relaxed` for why
            // the access is atomic.
            unsafe { AtomicU8::from_ptr(dst.add(index)) }.store(0, Ordering::Relaxed);
        }
    }
}

/// Copies `len` bytes from `src` to `dst` with relaxed atomic loads and stores: programs on
/// other threads may access the same bytes at any time (with plain or atomic instructions), and
/// a plain copy racing with them would be a data race. Concurrent writers can still leave torn
/// values, exactly as in Linux; what is ruled out is undefined behaviour in the host.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and the ranges must not
/// overlap; neither may be accessed through a Rust reference during the copy.
unsafe fn copy_relaxed(src: *const u8, dst: *mut u8, len: usize) {
    let mut index = 0;
    if (src as usize | dst as usize).is_multiple_of(8) {
        while index + 8 <= len {
            // SAFETY: both addresses are 8-byte aligned and inside the caller's ranges.
            let word = unsafe { AtomicU64::from_ptr(src.add(index).cast_mut().cast()) }
                .load(Ordering::Relaxed);
            // SAFETY: see above.
            unsafe { AtomicU64::from_ptr(dst.add(index).cast()) }.store(word, Ordering::Relaxed);
            index += 8;
        }
    }
    while index < len {
        // SAFETY: both addresses are inside the caller's ranges (bytes need no alignment).
        let byte = unsafe { AtomicU8::from_ptr(src.add(index).cast_mut()) }.load(Ordering::Relaxed);
        // SAFETY: see above.
        unsafe { AtomicU8::from_ptr(dst.add(index)) }.store(byte, Ordering::Relaxed);
        index += 1;
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `new` with this exact layout, freed once.
            unsafe {
                dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, VALUE_ALIGN),
                )
            };
        }
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Arena({:#x}, {} bytes)",
            self.ptr.as_ptr() as u64,
            self.len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arenas_are_zeroed_aligned_and_bounded() {
        let arena = Arena::new(24).unwrap();
        assert_eq!(arena.addr(0) % 8, 0);
        assert_eq!(arena.read(0, 24), vec![0; 24]);
        arena.write(8, &[1, 2, 3]);
        assert_eq!(arena.read(8, 4), vec![1, 2, 3, 0]);
        arena.zero(8, 2);
        assert_eq!(arena.read(8, 3), vec![0, 0, 3]);
        assert_eq!(arena.offset_of(arena.addr(23)), Some(23));
        assert_eq!(arena.offset_of(arena.addr(0) + 24), None);
        assert!(std::panic::catch_unwind(|| arena.read(20, 8)).is_err());
        assert!(Arena::new(0).unwrap().is_empty());
        assert_eq!(stride(5), 8);
        assert_eq!(stride(16), 16);
    }
}
