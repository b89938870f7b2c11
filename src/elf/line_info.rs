//! `.BTF.ext` line info: for each program section, which instruction came from which source
//! line (file, line, column and the text of the line), so diagnostics can point at C source.

use super::btf::Btf;
use super::bytes::{OutOfBounds, slice, u16_at, u32_at};
use std::collections::BTreeMap;

const MAGIC: u16 = 0xeb9f;
/// Size of one line-info record as this loader reads it (newer producers may append fields).
const MIN_RECORD_SIZE: usize = 16;

/// The source position of one instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction index (slot) in the program the info belongs to.
    pub pc: usize,
    /// Source file name.
    pub file: String,
    /// 1-based line number (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
    /// The text of the source line, as the compiler recorded it.
    pub source: String,
}

/// A `.BTF.ext` parse failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset:#x}: {message}")]
pub struct LineInfoError {
    pub offset: usize,
    pub message: String,
}

fn truncated(base: usize, error: OutOfBounds, what: &str) -> LineInfoError {
    LineInfoError {
        offset: base.saturating_add(error.offset),
        message: format!(
            "{what} is truncated (needs {} bytes, {} remain)",
            error.needed,
            error.len.saturating_sub(error.offset)
        ),
    }
}

/// Line info by section name; `pc` is the slot index within the section.
pub type SectionLines = BTreeMap<String, Vec<LineInfo>>;

/// Parses the line-info part of `.BTF.ext`; strings come from the `.BTF` string table.
pub fn parse(data: &[u8], btf: &Btf) -> Result<SectionLines, LineInfoError> {
    let header = |at| u32_at(data, at).map_err(|e| truncated(0, e, "header"));
    let magic = u16_at(data, 0).map_err(|e| truncated(0, e, "header"))?;
    if magic != MAGIC {
        return Err(LineInfoError {
            offset: 0,
            message: format!("bad magic {magic:#06x} (expected {MAGIC:#06x})"),
        });
    }
    let header_len = header(4)? as usize;
    let line_off = header(16)? as usize;
    let line_len = header(20)? as usize;
    let start = header_len.saturating_add(line_off);
    let lines = slice(data, start, line_len).map_err(|e| truncated(0, e, "line info"))?;
    let mut by_section = SectionLines::new();
    if lines.is_empty() {
        return Ok(by_section);
    }
    let at = |offset: usize| u32_at(lines, offset).map_err(|e| truncated(start, e, "line info"));
    let record_size = at(0)? as usize;
    if record_size < MIN_RECORD_SIZE {
        return Err(LineInfoError {
            offset: start,
            message: format!("line info record size {record_size} is below {MIN_RECORD_SIZE}"),
        });
    }
    let string = |offset: u32, what: &str, at: usize| {
        btf.string(offset)
            .map(str::to_owned)
            .ok_or_else(|| LineInfoError {
                offset: start.saturating_add(at),
                message: format!("{what} string offset {offset} is outside the BTF string table"),
            })
    };
    let mut offset = 4;
    while offset < lines.len() {
        let section = string(at(offset)?, "section name", offset)?;
        let count = at(offset + 4)? as usize;
        offset += 8;
        let records_len = count.saturating_mul(record_size);
        slice(lines, offset, records_len).map_err(|e| truncated(start, e, "line info records"))?;
        let entries = by_section.entry(section).or_default();
        for _ in 0..count {
            let insn_off = at(offset)? as usize;
            let file = string(at(offset + 4)?, "file name", offset)?;
            let source = string(at(offset + 8)?, "source line", offset)?;
            let line_col = at(offset + 12)?;
            entries.push(LineInfo {
                pc: insn_off / 8,
                file,
                line: line_col >> 10,
                column: line_col & 0x3ff,
                source,
            });
            offset += record_size;
        }
    }
    Ok(by_section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::btf::build::blob;

    fn ext(lines: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let len = (lines.len() * 4) as u32;
        for word in [24u32, 0, 0, 0, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in lines {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    #[test]
    fn reads_records_per_section() {
        let btf = Btf::parse(&blob(&[], b"\0xdp\0a.c\0return 1;\0")).unwrap();
        let data = ext(&[16, 1, 2, 8, 5, 9, (7 << 10) | 3, 16, 5, 9, 8 << 10]);
        let lines = parse(&data, &btf).unwrap();
        assert_eq!(
            lines["xdp"],
            vec![
                LineInfo {
                    pc: 1,
                    file: "a.c".into(),
                    line: 7,
                    column: 3,
                    source: "return 1;".into()
                },
                LineInfo {
                    pc: 2,
                    file: "a.c".into(),
                    line: 8,
                    column: 0,
                    source: "return 1;".into()
                }
            ]
        );
    }

    #[test]
    fn malformed_line_info_is_an_error() {
        let btf = Btf::parse(&blob(&[], b"\0xdp\0")).unwrap();
        // claims 5 records, has none
        assert!(parse(&ext(&[16, 1, 5]), &btf).is_err());
        // string offset outside the table
        let error = parse(&ext(&[16, 99, 0]), &btf).unwrap_err();
        assert!(error.message.contains("outside"), "{error}");
        // record size too small
        assert!(parse(&ext(&[4, 1, 0]), &btf).is_err());
    }
}
