//! Native code listings: the generated code of each eBPF instruction under that instruction,
//! followed by the out-of-line paths and the shared stubs.

use std::fmt::Write;
use std::ops::Range;
use xbpf_isa::Program;

/// Where the parts of the generated code are.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The entry prologue.
    pub prologue: Range<usize>,
    /// Native offset of the code of each pc (the second slot of an `lddw` gets the offset of
    /// the next instruction).
    pub pc_offsets: Vec<u32>,
    /// End of the code of the last instruction.
    pub body_end: usize,
    /// Out-of-line paths of individual instructions (traps, slow bounds checks).
    pub cold: Range<usize>,
    /// Code shared by the whole program (exit, traps, epilogue, out-of-line checks).
    pub stubs: Range<usize>,
}

impl Layout {
    /// The native code of the instruction at `pc`.
    pub fn instruction_code(&self, pc: usize) -> Option<Range<usize>> {
        let start = *self.pc_offsets.get(pc)? as usize;
        let end = self
            .pc_offsets
            .get(pc + 1)
            .map_or(self.body_end, |offset| *offset as usize);
        Some(start..end)
    }

    /// Native offset of the code of `pc`.
    pub fn native_offset(&self, pc: usize) -> Option<usize> {
        self.pc_offsets.get(pc).map(|offset| *offset as usize)
    }
}

/// Writes the disassembly of `code[range]` (addresses are offsets into `code`).
pub type Disassembler = fn(code: &[u8], range: Range<usize>, out: &mut String);

/// The listing of a compiled program.
pub fn listing(
    program: &Program,
    layout: &Layout,
    code: &[u8],
    disassemble: Disassembler,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "; entry");
    disassemble(code, layout.prologue.clone(), &mut out);
    for (pc, instruction) in program.instructions() {
        let _ = writeln!(out, "; {pc}: {instruction}");
        if let Some(range) = layout.instruction_code(pc) {
            disassemble(code, range, &mut out);
        }
    }
    if !layout.cold.is_empty() {
        let _ = writeln!(out, "; out-of-line paths");
        disassemble(code, layout.cold.clone(), &mut out);
    }
    let _ = writeln!(out, "; shared stubs");
    disassemble(code, layout.stubs.clone(), &mut out);
    out
}
