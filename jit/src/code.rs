//! Executable memory: generated code is written into a private writable mapping, which is then
//! made read+execute. No mapping is ever writable and executable at the same time. On
//! architectures whose instruction cache does not snoop data writes (ARM64), the written range
//! is cleaned from the data cache and invalidated in the instruction cache before it runs.

use crate::error::CompileError;
use dynasmrt::ExecutableBuffer;
use dynasmrt::mmap::MutableBuffer;

/// Machine code in a read+execute mapping.
#[derive(Debug)]
pub struct ExecutableCode {
    buffer: ExecutableBuffer,
}

impl ExecutableCode {
    /// Copies `bytes` into a fresh mapping and makes it executable.
    pub fn new(bytes: &[u8]) -> Result<ExecutableCode, CompileError> {
        let memory = |error: std::io::Error| CompileError::Memory(error.to_string());
        // A zero-sized buffer would not be mapped at all; code is never empty anyway.
        let mut buffer = MutableBuffer::new(bytes.len().max(1)).map_err(memory)?;
        buffer.set_len(bytes.len());
        buffer.copy_from_slice(bytes);
        // `dc cvau` / `ic ivau` over the range on ARM64 (a no-op on x86-64).
        dynasmrt::cache_control::synchronize_icache(&buffer);
        let buffer = buffer.make_exec().map_err(memory)?;
        Ok(ExecutableCode { buffer })
    }

    /// Address of the first byte.
    pub fn start(&self) -> *const u8 {
        self.buffer.as_ptr()
    }

    /// The code bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buffer
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The permissions of the mapping containing `addr`, from /proc/self/maps.
    fn permissions(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap();
            let perms = fields.next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            if (start..end).contains(&addr) {
                return perms.to_string();
            }
        }
        panic!("{addr:#x} is not mapped");
    }

    #[test]
    fn code_is_mapped_read_execute_only() {
        let code = ExecutableCode::new(&[0xc3; 100]).unwrap();
        assert_eq!(code.bytes(), &[0xc3; 100]);
        assert_eq!(permissions(code.start() as usize), "r-xp");
    }
}
