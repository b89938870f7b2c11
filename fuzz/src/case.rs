//! How fuzz input bytes become a program and what to run it with.
//!
//! Byte 0 is a flags byte. Bit 0 chooses the kind of program; the other bits are free for the
//! target (a program type, a configuration), see [`Input::selector`].
//!
//! - bit 0 clear: a *generated* program, [`xbpf_isa::random::random_program`] over the rest of
//!   the input (valid by construction, with its own memory and fuel);
//! - bit 0 set: a *raw* program, laid out as
//!   `flags | memory length (u16 LE) | fuel (u16 LE) | memory bytes | program bytes`.
//!   The memory length is capped at [`MAX_MEMORY`]; missing memory bytes are zero; the program
//!   is the rest, cut to whole 8-byte slots. Raw programs always run with fuel
//!   (`1 + 4 * fuel field`), so loops end.
//!
//! `fuzz/seeds.py` writes seeds in this layout.

use arbitrary::Unstructured;
use xbpf_isa::Program;
use xbpf_isa::random::random_program;

/// Largest memory a raw case declares.
pub const MAX_MEMORY: usize = 4096;
/// Bytes before the memory of a raw case.
pub const RAW_HEADER: usize = 5;

/// The flags byte and the bytes after the header.
pub struct Input<'a> {
    flags: u8,
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits the flags byte off; `None` for empty input.
    pub fn new(data: &'a [u8]) -> Option<Input<'a>> {
        let (&flags, rest) = data.split_first()?;
        Some(Input { flags, rest })
    }

    /// Whether the program is raw bytes (else generated).
    pub fn is_raw(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The flags bits a target may use (bits 1 to 7).
    pub fn selector(&self) -> u8 {
        self.flags >> 1
    }

    /// For a raw input: its memory, its fuel and its program bytes (whole slots).
    pub fn raw_parts(&self) -> (Vec<u8>, u64, &'a [u8]) {
        let field = |at: usize| {
            u16::from_le_bytes([
                self.rest.get(at).copied().unwrap_or(0),
                self.rest.get(at + 1).copied().unwrap_or(0),
            ])
        };
        let memory_len = usize::from(field(0)).min(MAX_MEMORY);
        let fuel = 1 + 4 * u64::from(field(2));
        let body = self.rest.get(RAW_HEADER - 1..).unwrap_or(&[]);
        let mut memory = vec![0u8; memory_len];
        let available = memory_len.min(body.len());
        memory[..available].copy_from_slice(&body[..available]);
        let program = &body[available..];
        let program = &program[..program.len() / 8 * 8];
        (memory, fuel, program)
    }

    /// The bytes after the flags byte.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// A valid program with the memory and fuel to run it with.
#[derive(Clone, Debug)]
pub struct Case {
    pub program: Program,
    pub memory: Vec<u8>,
    pub fuel: Option<u64>,
    /// Made by the generator: its programs never let an address reach a register other than
    /// r9 (the memory) and r10, so results can be compared across engines exactly.
    pub generated: bool,
}

impl Case {
    /// The case of an input, if its program is valid.
    pub fn from_input(input: &Input<'_>) -> Option<Case> {
        if input.is_raw() {
            let (memory, fuel, bytes) = input.raw_parts();
            let program = Program::from_bytes(bytes).ok()?;
            Some(Case {
                program,
                memory,
                fuel: Some(fuel),
                generated: false,
            })
        } else {
            let random = random_program(&mut Unstructured::new(input.rest())).ok()?;
            Some(Case {
                program: random.program,
                memory: random.memory,
                fuel: random.fuel,
                generated: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_layout() {
        let mut data = vec![1u8, 3, 0, 2, 0, 0xaa, 0xbb, 0xcc];
        data.extend([0x95, 0, 0, 0, 0, 0, 0, 0, 0xff]);
        let input = Input::new(&data).unwrap();
        assert!(input.is_raw());
        let (memory, fuel, program) = input.raw_parts();
        assert_eq!(memory, vec![0xaa, 0xbb, 0xcc]);
        assert_eq!(fuel, 9);
        assert_eq!(program, &[0x95, 0, 0, 0, 0, 0, 0, 0]);
        let case = Case::from_input(&input).unwrap();
        assert_eq!(case.program.len(), 1);
        assert_eq!(case.fuel, Some(9));
    }

    #[test]
    fn short_raw_input_has_zero_memory_and_no_program() {
        let input = Input::new(&[1, 0x10, 0]).unwrap();
        let (memory, fuel, program) = input.raw_parts();
        assert_eq!(memory, vec![0; 16]);
        assert_eq!(fuel, 1);
        assert!(program.is_empty());
        assert!(Case::from_input(&input).is_none());
    }

    #[test]
    fn generated_input_always_gives_a_program() {
        let case = Case::from_input(&Input::new(&[0]).unwrap()).unwrap();
        assert!(case.generated);
    }
}
