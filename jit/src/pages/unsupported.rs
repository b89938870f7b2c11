//! OSes without a page mapping implementation (no JIT back end runs there either): every
//! mapping fails.

use super::Contents;
use std::io;
use std::ptr::NonNull;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "no executable memory support on this OS",
    )
}

pub fn page_size() -> usize {
    4096
}

/// # Safety
/// None.
pub unsafe fn reserve(_total: usize, _contents: Contents) -> io::Result<NonNull<u8>> {
    Err(unsupported())
}

/// # Safety
/// Never called: nothing can be reserved.
pub unsafe fn make_writable(_start: *mut u8, _len: usize, _contents: Contents) -> io::Result<()> {
    Err(unsupported())
}

/// # Safety
/// Never called: nothing can be reserved.
pub unsafe fn make_executable(_start: *mut u8, _len: usize) -> io::Result<()> {
    Err(unsupported())
}

/// # Safety
/// Never called: nothing can be reserved.
pub unsafe fn release(_base: NonNull<u8>, _total: usize) {}
