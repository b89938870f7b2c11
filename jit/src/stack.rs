//! The stack of a compiled program: `STACK_SIZE` bytes (eight 512-byte frames) in a mapping of
//! their own, fenced by guard pages, instead of a heap allocation. The stack ends exactly at
//! the upper guard page, so the first byte above r10 of the outermost frame faults; below the
//! stack, the rest of its page (where pages are larger than the stack) and then the lower guard
//! page. Bounds checks keep programs inside the stack; the guard pages make an escape from
//! them (a JIT bug, or a program run without checks that should not have been) fault instead
//! of corrupting the host's heap.

use crate::error::CompileError;
use crate::pages::GuardedPages;
use xbpf_isa::Region;
use xbpf_isa::exec::STACK_SIZE;

/// A zeroed stack between guard pages.
#[derive(Debug)]
pub struct GuardedStack {
    pages: GuardedPages,
}

impl GuardedStack {
    pub fn new() -> Result<GuardedStack, CompileError> {
        let pages = GuardedPages::read_write(STACK_SIZE)
            .map_err(|error| CompileError::Memory(error.to_string()))?;
        Ok(GuardedStack { pages })
    }

    /// The lowest address of the stack (16-byte aligned: its end is a page boundary).
    pub fn start(&self) -> *mut u8 {
        // SAFETY: the usable pages hold at least STACK_SIZE bytes (a whole number of pages).
        unsafe { self.pages.start().add(self.pages.usable_len() - STACK_SIZE) }
    }

    /// The stack as a writable region.
    pub fn region(&self) -> Region {
        Region {
            start: self.start() as u64,
            len: STACK_SIZE as u64,
            writable: true,
        }
    }

    /// The pages holding the stack.
    pub fn pages(&self) -> &GuardedPages {
        &self.pages
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::code::proc_maps;

    #[test]
    fn the_stack_is_read_write_between_guard_pages_and_ends_at_the_upper_one() {
        let stack = GuardedStack::new().unwrap();
        let pages = stack.pages();
        let start = stack.start() as usize;
        assert_eq!(start % 16, 0);
        assert_eq!(
            start + STACK_SIZE,
            pages.start() as usize + pages.usable_len()
        );
        proc_maps::assert_guarded(
            pages.start() as usize,
            pages.usable_len(),
            pages.guard_size(),
            "rw-p",
        );
        assert_eq!(proc_maps::permissions(start + STACK_SIZE), "---p");
    }
}
