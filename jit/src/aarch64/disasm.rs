//! Disassembly of generated AArch64 code (yaxpeax-arm).

use std::fmt::Write;
use std::ops::Range;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// Appends one line per instruction of `code[range]`: offset, instruction word, assembly.
/// Branch targets are shown as offsets into the code, like the lines' own offsets.
pub fn disassemble(code: &[u8], range: Range<usize>, out: &mut String) {
    let Some(bytes) = code.get(range.clone()) else {
        return;
    };
    let decoder = InstDecoder::default();
    for (index, word) in bytes.chunks_exact(4).enumerate() {
        let offset = range.start + 4 * index;
        let mut reader = U8Reader::new(word);
        let text = match decoder.decode(&mut reader) {
            Ok(instruction) => absolute_target(&instruction.to_string(), offset),
            Err(error) => format!("<undecoded: {error}>"),
        };
        let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let _ = writeln!(out, "  {offset:06x}  {value:08x}  {text}");
    }
}

/// yaxpeax writes a branch target relative to its instruction (`$+0x10`, `$-0x8`); this
/// rewrites it as an offset into the code.
fn absolute_target(text: &str, offset: usize) -> String {
    let Some(at) = text.find('$') else {
        return text.to_string();
    };
    let rest = &text[at + 1..];
    let (sign, digits) = if let Some(digits) = rest.strip_prefix("+0x") {
        (1, digits)
    } else if let Some(digits) = rest.strip_prefix("-0x") {
        (-1, digits)
    } else {
        return text.to_string();
    };
    let end = digits
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(digits.len());
    let Ok(distance) = i64::from_str_radix(&digits[..end], 16) else {
        return text.to_string();
    };
    let target = offset as i64 + sign * distance;
    format!("{}{target:#x}{}", &text[..at], &digits[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_targets_become_code_offsets() {
        // b.ne +8 at 0x40, cbnz x1, -8 at 0x40, a non-branch
        let code = [
            0x41, 0x00, 0x00, 0x54, 0xc1, 0xff, 0xff, 0xb5, 0x00, 0x7c, 0x01, 0x9b,
        ];
        let mut padded = vec![0; 0x40];
        padded.extend(code);
        let mut out = String::new();
        disassemble(&padded, 0x40..0x4c, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("b.ne 0x48"), "{out}");
        assert!(lines[1].ends_with("cbnz x1, 0x3c"), "{out}");
        assert!(lines[2].ends_with("mul x0, x0, x1"), "{out}");
        assert!(lines[0].starts_with("  000040  54000041"), "{out}");
    }
}
