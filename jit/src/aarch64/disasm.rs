//! Disassembly of generated AArch64 code (yaxpeax-arm).

use std::fmt::Write;
use std::ops::Range;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// Appends one line per instruction of `code[range]`: offset, instruction word, assembly.
pub fn disassemble(code: &[u8], range: Range<usize>, out: &mut String) {
    let Some(bytes) = code.get(range.clone()) else {
        return;
    };
    let decoder = InstDecoder::default();
    for (index, word) in bytes.chunks_exact(4).enumerate() {
        let offset = range.start + 4 * index;
        let mut reader = U8Reader::new(word);
        let text = match decoder.decode(&mut reader) {
            Ok(instruction) => instruction.to_string(),
            Err(error) => format!("<undecoded: {error}>"),
        };
        let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let _ = writeln!(out, "  {offset:06x}  {value:08x}  {text}");
    }
}
