//! Disassembly of generated x86-64 code (iced-x86, Intel syntax).

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use std::fmt::Write;
use std::ops::Range;

/// Appends one line per instruction of `code[range]`: offset, bytes, Intel syntax.
pub fn disassemble(code: &[u8], range: Range<usize>, out: &mut String) {
    let Some(bytes) = code.get(range.clone()) else {
        return;
    };
    let mut decoder = Decoder::with_ip(64, bytes, range.start as u64, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_branch_leading_zeros(false);
    formatter.options_mut().set_hex_prefix("0x");
    formatter.options_mut().set_hex_suffix("");
    let mut text = String::new();
    for instruction in decoder.iter() {
        text.clear();
        formatter.format(&instruction, &mut text);
        let start = instruction.ip() as usize - range.start;
        let hex: String = bytes[start..start + instruction.len()]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let _ = writeln!(out, "  {:06x}  {hex:<24} {text}", instruction.ip());
    }
}
