//! Page mappings fenced by guard pages, for generated code and for the programs' stacks.
//!
//! Every mapping is one reservation of address space laid out as
//!
//! ```text
//! | guard page | usable pages ... | guard page |
//! ```
//!
//! where the guard pages are never accessible, so that a read, write or jump that escapes the
//! usable part by less than a page faults instead of touching whatever the allocator placed
//! next to it. The usable part is either read+write data (the stack), or machine code, which
//! is written while the pages are read+write and then made read+execute: no page is ever
//! writable and executable at the same time.
//!
//! How pages are mapped depends on the OS (one module each):
//!
//! - Unix (Linux, Android, the BSDs, macOS on x86-64): `mmap` of the whole range with no
//!   access, `mprotect` of the usable pages to read+write, then to read+execute for code.
//! - macOS on ARM64 (Apple Silicon): code pages need `MAP_JIT` (processes with the hardened
//!   runtime cannot map them otherwise). Such a mapping is created read+write+execute, but the
//!   CPU enforces W^X per thread: `pthread_jit_write_protect_np(0)` makes `MAP_JIT` pages
//!   writable and not executable for the calling thread while it copies the code, `(1)`
//!   restores execute-only access; then `sys_icache_invalidate` makes the instruction cache see
//!   the new code, and the write permission is dropped for good where the OS allows it.
//! - Windows: `VirtualAlloc` reserves the range (reserved pages are inaccessible) and commits
//!   the usable pages `PAGE_READWRITE`; code is then `VirtualProtect`ed to `PAGE_EXECUTE_READ`
//!   and `FlushInstructionCache` is called.
//!
//! On ARM64 Linux the written range is cleaned from the data cache and invalidated in the
//! instruction cache (`dc cvau` / `ic ivau`) before it can run.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

#[cfg(not(any(unix, windows)))]
mod unsupported;
#[cfg(not(any(unix, windows)))]
use unsupported as sys;

use std::io;
use std::ptr::NonNull;

/// What a mapping holds (code pages may need to be mapped differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    Data,
    Code,
}

/// Usable pages between two guard pages. Unmapped when dropped.
#[derive(Debug)]
pub struct GuardedPages {
    /// Start of the reservation: the lower guard page.
    base: NonNull<u8>,
    /// Bytes between the guard pages (a multiple of the page size).
    len: usize,
    /// Size of one guard page.
    guard: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone; shared references only give
// out its address and (for code) its bytes, which nothing writes after construction.
unsafe impl Send for GuardedPages {}
// SAFETY: see above: `&GuardedPages` allows no mutation.
unsafe impl Sync for GuardedPages {}

/// The size of a page on this host.
pub fn page_size() -> usize {
    sys::page_size()
}

impl GuardedPages {
    /// Reserves `len` bytes (rounded up to whole pages, at least one) between two guard pages,
    /// all inaccessible for now.
    fn reserve(len: usize, contents: Contents) -> io::Result<GuardedPages> {
        let page = page_size();
        let too_large = || io::Error::new(io::ErrorKind::OutOfMemory, "mapping too large");
        let len = len
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or_else(too_large)?;
        let total = len.checked_add(2 * page).ok_or_else(too_large)?;
        // SAFETY: a fresh reservation of `total` bytes aliases nothing.
        let base = unsafe { sys::reserve(total, contents)? };
        Ok(GuardedPages {
            base,
            len,
            guard: page,
        })
    }

    /// `len` bytes (rounded up to whole pages) of zeroed read+write memory between guard pages.
    pub fn read_write(len: usize) -> io::Result<GuardedPages> {
        let pages = GuardedPages::reserve(len, Contents::Data)?;
        // SAFETY: the usable range lies inside the reservation, which nothing else uses.
        unsafe { sys::make_writable(pages.start(), pages.len, Contents::Data)? };
        Ok(pages)
    }

    /// `code` copied into fresh pages between guard pages, which are then made read+execute
    /// (and the instruction cache synchronised with them).
    pub fn executable(code: &[u8]) -> io::Result<GuardedPages> {
        let pages = GuardedPages::reserve(code.len(), Contents::Code)?;
        // SAFETY: the usable range lies inside the reservation, which nothing else uses or
        // executes yet; `code` fits in it (the length was rounded up), and is a separate
        // allocation, so the copy does not overlap.
        unsafe {
            sys::make_writable(pages.start(), pages.len, Contents::Code)?;
            std::ptr::copy_nonoverlapping(code.as_ptr(), pages.start(), code.len());
            sys::make_executable(pages.start(), pages.len)?;
        }
        Ok(pages)
    }

    /// The first usable byte.
    pub fn start(&self) -> *mut u8 {
        // SAFETY: the usable pages start one guard page into the reservation.
        unsafe { self.base.as_ptr().add(self.guard) }
    }

    /// The number of usable bytes (whole pages).
    pub fn usable_len(&self) -> usize {
        self.len
    }

    /// The size of each guard page.
    pub fn guard_size(&self) -> usize {
        self.guard
    }
}

impl Drop for GuardedPages {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours; nothing refers to it once its owner is dropped.
        unsafe { sys::release(self.base, self.len + 2 * self.guard) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_whole_pages_with_a_guard_page_on_each_side() {
        let page = page_size();
        assert!(page.is_power_of_two() && page >= 4096, "{page}");
        let pages = GuardedPages::read_write(10).unwrap();
        assert_eq!((pages.usable_len(), pages.guard_size()), (page, page));
        assert_eq!(pages.start() as usize % page, 0);
        let pages = GuardedPages::read_write(page + 1).unwrap();
        assert_eq!(pages.usable_len(), 2 * page);
    }

    #[test]
    fn data_pages_are_zeroed_and_writable() {
        let pages = GuardedPages::read_write(3000).unwrap();
        // SAFETY: the usable pages are read+write and owned by `pages`.
        let bytes = unsafe { std::slice::from_raw_parts_mut(pages.start(), pages.usable_len()) };
        assert!(bytes.iter().all(|byte| *byte == 0));
        bytes.fill(0xa5);
        assert!(bytes.iter().all(|byte| *byte == 0xa5));
    }

    #[test]
    fn code_pages_hold_the_code() {
        let code: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let pages = GuardedPages::executable(&code).unwrap();
        // SAFETY: the usable pages are readable and hold at least `code.len()` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(pages.start(), code.len()) };
        assert_eq!(bytes, &code[..]);
    }
}
