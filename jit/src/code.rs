//! Executable memory: generated code is copied into fresh pages between two guard pages, which
//! are then made read+execute (see [`crate::pages`] for how each OS does it). No mapping is
//! ever writable and executable at the same time, and a jump that runs off either end of the
//! code faults on a guard page.

use crate::error::CompileError;
use crate::pages::GuardedPages;

/// Machine code in a read+execute mapping.
#[derive(Debug)]
pub struct ExecutableCode {
    pages: GuardedPages,
    len: usize,
}

impl ExecutableCode {
    /// Copies `bytes` into a fresh mapping and makes it executable.
    pub fn new(bytes: &[u8]) -> Result<ExecutableCode, CompileError> {
        let pages = GuardedPages::executable(bytes)
            .map_err(|error| CompileError::Memory(error.to_string()))?;
        Ok(ExecutableCode {
            pages,
            len: bytes.len(),
        })
    }

    /// Address of the first byte.
    pub fn start(&self) -> *const u8 {
        self.pages.start()
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the pages hold the code; they stay mapped readable
        // and unchanged for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.pages.start(), self.len) }
    }

    /// The pages holding the code.
    pub fn pages(&self) -> &GuardedPages {
        &self.pages
    }
}

/// The permissions of mappings, from /proc/self/maps (for tests on Linux).
#[cfg(all(test, target_os = "linux"))]
pub mod proc_maps {
    /// Each mapping's address range and permissions (`r-xp` and the like).
    pub fn mappings() -> Vec<(std::ops::Range<usize>, String)> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next().unwrap();
                let perms = fields.next().unwrap();
                let (start, end) = range.split_once('-').unwrap();
                let start = usize::from_str_radix(start, 16).unwrap();
                let end = usize::from_str_radix(end, 16).unwrap();
                (start..end, perms.to_string())
            })
            .collect()
    }

    /// The permissions of the mapping containing `addr`.
    pub fn permissions(addr: usize) -> String {
        mappings()
            .into_iter()
            .find(|(range, _)| range.contains(&addr))
            .map(|(_, perms)| perms)
            .unwrap_or_else(|| panic!("{addr:#x} is not mapped"))
    }

    /// Asserts that `start..start + len` is mapped `perms` and the page on each side `---p`.
    pub fn assert_guarded(start: usize, len: usize, guard: usize, perms: &str) {
        assert_eq!(permissions(start), perms, "first usable byte");
        assert_eq!(permissions(start + len - 1), perms, "last usable byte");
        for (name, addr) in [
            ("lower guard", start - guard),
            ("lower guard, last byte", start - 1),
            ("upper guard", start + len),
            ("upper guard, last byte", start + len + guard - 1),
        ] {
            assert_eq!(permissions(addr), "---p", "{name} at {addr:#x}");
        }
    }

    /// Asserts that no mapping of the process is writable and executable.
    pub fn assert_no_writable_executable_mapping() {
        for (range, perms) in mappings() {
            assert!(
                !(perms.contains('w') && perms.contains('x')),
                "{:#x}-{:#x} is {perms}",
                range.start,
                range.end
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn code_is_mapped_read_execute_only_between_guard_pages() {
        let code = ExecutableCode::new(&[0xc3; 100]).unwrap();
        assert_eq!(code.bytes(), &[0xc3; 100]);
        let pages = code.pages();
        proc_maps::assert_guarded(
            code.start() as usize,
            pages.usable_len(),
            pages.guard_size(),
            "r-xp",
        );
        proc_maps::assert_no_writable_executable_mapping();
    }
}
