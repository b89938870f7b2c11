//! Unix: `mmap` and `mprotect`, with `MAP_JIT` and per-thread write protection for code on
//! macOS ARM64 (see the module above).

use super::Contents;
use std::io;
use std::ptr::NonNull;

/// Whether code pages are `MAP_JIT` pages (Apple Silicon).
const MAP_JIT_CODE: bool = cfg!(all(target_vendor = "apple", target_arch = "aarch64"));

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|size| size.is_power_of_two())
        .unwrap_or(4096)
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// # Safety
/// `start..start + len` must lie in a mapping the caller owns.
unsafe fn protect(start: *mut u8, len: usize, protection: libc::c_int) -> io::Result<()> {
    // SAFETY: the caller owns the range.
    check(unsafe { libc::mprotect(start.cast(), len, protection) })
}

/// Reserves `total` bytes with no access (`MAP_JIT` code mappings: no access except the
/// usable pages, which the CPU keeps either writable or executable per thread).
///
/// # Safety
/// None beyond the caller releasing the result with [`release`].
pub unsafe fn reserve(total: usize, contents: Contents) -> io::Result<NonNull<u8>> {
    let map_jit = MAP_JIT_CODE && contents == Contents::Code;
    let (protection, flags) = if map_jit {
        // A MAP_JIT mapping gets its maximal access when it is created: mprotect cannot
        // make it writable and executable later.
        (
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANON | map_jit_flag(),
        )
    } else {
        (libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANON)
    };
    // SAFETY: an anonymous mapping at an address of the kernel's choosing aliases nothing.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), total, protection, flags, -1, 0) };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = NonNull::new(base.cast::<u8>())
        .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
    if map_jit {
        let page = page_size();
        // SAFETY: both guard pages are inside the mapping just created. Taking access away
        // from part of a MAP_JIT mapping is allowed (only adding it back is not).
        let guards = unsafe {
            protect(base.as_ptr(), page, libc::PROT_NONE)
                .and_then(|()| protect(base.as_ptr().add(total - page), page, libc::PROT_NONE))
        };
        if let Err(error) = guards {
            // SAFETY: the mapping was created above and is not used by anything.
            unsafe { release(base, total) };
            return Err(error);
        }
    }
    Ok(base)
}

#[cfg(all(target_vendor = "apple", target_arch = "aarch64"))]
fn map_jit_flag() -> libc::c_int {
    libc::MAP_JIT
}

#[cfg(not(all(target_vendor = "apple", target_arch = "aarch64")))]
fn map_jit_flag() -> libc::c_int {
    0
}

/// Makes the usable pages writable by this thread.
///
/// # Safety
/// `start..start + len` must be the usable pages of a reservation the caller owns, not
/// executed by any thread.
pub unsafe fn make_writable(start: *mut u8, len: usize, contents: Contents) -> io::Result<()> {
    if MAP_JIT_CODE && contents == Contents::Code {
        jit_write_protect(false);
        Ok(())
    } else {
        // SAFETY: the caller owns the range.
        unsafe { protect(start, len, libc::PROT_READ | libc::PROT_WRITE) }
    }
}

/// Makes written code pages read+execute and the instruction cache consistent with them.
///
/// # Safety
/// `start..start + len` must be the usable pages of a code reservation the caller owns,
/// made writable by [`make_writable`] on this thread.
pub unsafe fn make_executable(start: *mut u8, len: usize) -> io::Result<()> {
    if MAP_JIT_CODE {
        jit_write_protect(true);
        // SAFETY: the range is mapped and holds the code just written.
        unsafe { invalidate_instruction_cache(start, len) };
        // Where the OS lets a MAP_JIT mapping lose its write permission, it does so for good;
        // where not, the per-thread protection restored above already keeps it execute-only.
        // SAFETY: the caller owns the range.
        let _ = unsafe { protect(start, len, libc::PROT_READ | libc::PROT_EXEC) };
        return Ok(());
    }
    // SAFETY: the caller owns the range.
    unsafe { protect(start, len, libc::PROT_READ | libc::PROT_EXEC)? };
    // SAFETY: the range is mapped readable and holds the code just written.
    unsafe { invalidate_instruction_cache(start, len) };
    Ok(())
}

/// `pthread_jit_write_protect_np`: MAP_JIT pages writable (`false`) or executable (`true`) for
/// the calling thread.
#[cfg(all(target_vendor = "apple", target_arch = "aarch64"))]
fn jit_write_protect(enabled: bool) {
    // SAFETY: only changes which access this thread has to MAP_JIT pages; the JIT runs no
    // generated code on this thread while writes are enabled.
    unsafe { libc::pthread_jit_write_protect_np(libc::c_int::from(enabled)) };
}

#[cfg(not(all(target_vendor = "apple", target_arch = "aarch64")))]
fn jit_write_protect(_enabled: bool) {}

/// # Safety
/// `start..start + len` must be mapped.
#[cfg(all(target_vendor = "apple", target_arch = "aarch64"))]
unsafe fn invalidate_instruction_cache(start: *mut u8, len: usize) {
    unsafe extern "C" {
        /// libkern/OSCacheControl.h (in libSystem).
        fn sys_icache_invalidate(start: *mut libc::c_void, len: libc::size_t);
    }
    // SAFETY: the caller guarantees the range is mapped.
    unsafe { sys_icache_invalidate(start.cast(), len) };
}

/// # Safety
/// `start..start + len` must be mapped readable.
#[cfg(not(all(target_vendor = "apple", target_arch = "aarch64")))]
unsafe fn invalidate_instruction_cache(start: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is mapped and readable.
    let bytes = unsafe { std::slice::from_raw_parts(start, len) };
    // `dc cvau` / `ic ivau` over the range on ARM64; nothing on x86-64, whose instruction
    // cache snoops data writes.
    dynasmrt::cache_control::synchronize_icache(bytes);
}

/// # Safety
/// `base..base + total` must be a reservation from [`reserve`] that nothing uses any more.
pub unsafe fn release(base: NonNull<u8>, total: usize) {
    // SAFETY: the caller passes a whole mapping of ours. munmap only fails on invalid
    // arguments, which a mapping made by `reserve` is not.
    unsafe { libc::munmap(base.as_ptr().cast(), total) };
}
