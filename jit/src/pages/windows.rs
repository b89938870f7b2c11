//! Windows: `VirtualAlloc` (reserve, then commit), `VirtualProtect`, `FlushInstructionCache`.

use super::Contents;
use std::io;
use std::ptr::NonNull;
use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
use windows_sys::Win32::System::Memory::{
    MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_EXECUTE_READ, PAGE_NOACCESS, PAGE_PROTECTION_FLAGS,
    PAGE_READWRITE, VirtualAlloc, VirtualFree, VirtualProtect,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

pub fn page_size() -> usize {
    // SAFETY: SYSTEM_INFO is plain data, fully written by GetSystemInfo.
    let info = unsafe {
        let mut info: SYSTEM_INFO = std::mem::zeroed();
        GetSystemInfo(&mut info);
        info
    };
    usize::try_from(info.dwPageSize)
        .ok()
        .filter(|size| size.is_power_of_two())
        .unwrap_or(4096)
}

/// Reserves `total` bytes of address space; reserved, uncommitted pages are inaccessible.
///
/// # Safety
/// None beyond the caller releasing the result with [`release`].
pub unsafe fn reserve(total: usize, _contents: Contents) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh reservation at an address of the system's choosing aliases nothing.
    let base = unsafe { VirtualAlloc(std::ptr::null(), total, MEM_RESERVE, PAGE_NOACCESS) };
    NonNull::new(base.cast::<u8>()).ok_or_else(io::Error::last_os_error)
}

/// Commits the usable pages read+write (committed pages are zeroed).
///
/// # Safety
/// `start..start + len` must be the usable pages of a reservation the caller owns.
pub unsafe fn make_writable(start: *mut u8, len: usize, _contents: Contents) -> io::Result<()> {
    // SAFETY: the range lies in the caller's reservation.
    let committed = unsafe { VirtualAlloc(start.cast(), len, MEM_COMMIT, PAGE_READWRITE) };
    if committed.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes written code pages execute+read and flushes the instruction cache over them.
///
/// # Safety
/// `start..start + len` must be committed pages of a reservation the caller owns.
pub unsafe fn make_executable(start: *mut u8, len: usize) -> io::Result<()> {
    let mut old: PAGE_PROTECTION_FLAGS = 0;
    // SAFETY: the range is committed memory of the caller's reservation.
    if unsafe { VirtualProtect(start.cast(), len, PAGE_EXECUTE_READ, &mut old) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the pseudo-handle of this process and a committed range of it.
    if unsafe { FlushInstructionCache(GetCurrentProcess(), start.cast(), len) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// # Safety
/// `base` must be a reservation from [`reserve`] that nothing uses any more.
pub unsafe fn release(base: NonNull<u8>, _total: usize) {
    // SAFETY: the caller passes the base of a whole reservation of ours (MEM_RELEASE takes
    // size 0 and frees all of it). It only fails on invalid arguments.
    unsafe { VirtualFree(base.as_ptr().cast(), 0, MEM_RELEASE) };
}
