//! Parser for the bpf_conformance `.data` test format (FORMAT.md section 3).
//!
//! A file is line-oriented: `#` starts a comment anywhere, a line containing `--` is a section
//! directive classified by substring, and the remaining lines belong to the current section.

use xbpf_isa::Insn;

/// One parsed test file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestFile {
    /// Assembly source of the `-- asm` section, lines joined with `\n`.
    pub asm: Option<String>,
    /// The `-- raw` section: whole 64-bit slots. Takes precedence over `asm`.
    pub raw: Option<Vec<Insn>>,
    /// Initial memory (`-- mem`); empty when absent.
    pub mem: Vec<u8>,
    /// Expected r0 (`-- result`).
    pub result: Option<u64>,
    /// Expected error text (`-- error`).
    pub error: Option<String>,
    /// The text of a directive line that is none of the known sections. Upstream treats the
    /// whole file as having no instructions.
    pub unknown_directive: Option<String>,
}

/// Why a `.data` file does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line of the raw-slot section that is not a 64-bit number.
    #[error("line {line}: raw slot `{token}` is not a 64-bit number")]
    BadRawSlot {
        /// The line (1-based).
        line: usize,
        /// The offending token.
        token: String,
    },
    /// The expected result is not a number.
    #[error("line {line}: result `{text}` is not a number")]
    BadResult {
        /// The line (1-based).
        line: usize,
        /// The result's text.
        text: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Preamble,
    Asm,
    Result,
    Mem,
    Raw,
    Ignored,
    Error,
}

/// Classifies a directive line by substring, in the upstream priority order.
fn classify_directive(line: &str) -> Option<Section> {
    const ORDER: [(&str, Section); 7] = [
        ("asm", Section::Asm),
        ("result", Section::Result),
        ("mem", Section::Mem),
        ("raw", Section::Raw),
        ("no register offset", Section::Ignored),
        (" c", Section::Ignored),
        ("error", Section::Error),
    ];
    ORDER
        .iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|&(_, section)| section)
}

/// Parses the text of a `.data` file.
pub fn parse(text: &str) -> Result<TestFile, ParseError> {
    let mut file = TestFile::default();
    let mut section = Section::Preamble;
    let mut asm_lines: Vec<&str> = Vec::new();
    let mut raw: Vec<Insn> = Vec::new();
    let mut has_raw = false;
    let mut mem_tokens_ok = true;
    let mut last_result: Option<(usize, &str)> = None;
    let mut last_error: Option<&str> = None;

    for (index, raw_line) in text.split('\n').enumerate() {
        let line_number = index + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = match line.find('#') {
            Some(hash) => &line[..hash],
            None => line,
        };
        if line.contains("--") {
            match classify_directive(line) {
                Some(next) => {
                    section = next;
                    has_raw |= next == Section::Raw;
                }
                None => {
                    file.unknown_directive = Some(line.trim().to_string());
                    section = Section::Ignored;
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match section {
            Section::Preamble | Section::Ignored => {}
            Section::Asm => asm_lines.push(line),
            Section::Result => last_result = Some((line_number, line)),
            Section::Error => last_error = Some(line),
            Section::Mem => {
                // Upstream stops reading memory at the first token that is not hex.
                for token in line.split_whitespace() {
                    if !mem_tokens_ok {
                        break;
                    }
                    match parse_mem_byte(token) {
                        Some(byte) => file.mem.push(byte),
                        None => mem_tokens_ok = false,
                    }
                }
            }
            Section::Raw => {
                for token in line.split_whitespace() {
                    let value = parse_u64(token).ok_or_else(|| ParseError::BadRawSlot {
                        line: line_number,
                        token: token.to_string(),
                    })?;
                    raw.push(Insn::from_bytes(value.to_le_bytes()));
                }
            }
        }
    }

    if !asm_lines.is_empty() {
        file.asm = Some(asm_lines.join("\n"));
    }
    if has_raw {
        file.raw = Some(raw);
    }
    if let Some((line, text)) = last_result {
        file.result = Some(parse_result(text).ok_or_else(|| ParseError::BadResult {
            line,
            text: text.trim().to_string(),
        })?);
    }
    file.error = last_error.map(|text| text.trim().to_string());
    Ok(file)
}

/// A memory token: a hex number (optionally `0x`-prefixed), of which the low 8 bits are kept.
fn parse_mem_byte(token: &str) -> Option<u8> {
    let digits = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
        .unwrap_or(token);
    u64::from_str_radix(digits, 16)
        .ok()
        .map(|value| value as u8)
}

/// A raw slot: `0x`-prefixed hex or decimal.
fn parse_u64(token: &str) -> Option<u64> {
    match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => token.parse().ok(),
    }
}

/// A result line: hex when it contains `0x`, else unsigned decimal (a leading `-` wraps).
fn parse_result(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(position) = text.find("0x") {
        let digits: String = text[position + 2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        return u64::from_str_radix(&digits, 16).ok();
    }
    match text.strip_prefix('-') {
        Some(magnitude) => magnitude.parse::<u64>().ok().map(u64::wrapping_neg),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section() {
        let text = "# header\n-- asm\nmov %r0, 1 # trailing comment\n\nexit\n-- mem\n00 ff\r\n0A\n-- result\n0x2\n0x1\n-- c\nint main() { return 1; }\n";
        let file = parse(text).unwrap();
        assert_eq!(file.asm.as_deref(), Some("mov %r0, 1 \nexit"));
        assert_eq!(file.mem, vec![0x00, 0xff, 0x0a]);
        assert_eq!(file.result, Some(1), "the last result line wins");
        assert_eq!(file.raw, None);
        assert_eq!(file.unknown_directive, None);
    }

    #[test]
    fn raw_slots_are_little_endian_words() {
        let file = parse("-- raw\n0x0000000000000095 149\n-- result\n0").unwrap();
        let raw = file.raw.unwrap();
        assert_eq!(raw[0].opcode, 0x95);
        assert_eq!(raw[1].opcode, 0x95);
        assert_eq!(file.result, Some(0));
    }

    #[test]
    fn memory_stops_at_the_first_non_hex_token() {
        let file = parse("-- mem\n01 02 zz 03\n04").unwrap();
        assert_eq!(file.mem, vec![1, 2]);
    }

    #[test]
    fn unknown_directives_are_recorded() {
        let file = parse("-- frobnicate\n-- asm\nexit").unwrap();
        assert_eq!(file.unknown_directive.as_deref(), Some("-- frobnicate"));
    }

    #[test]
    fn bad_numbers_are_errors_with_lines() {
        assert_eq!(
            parse("-- raw\n0xzz"),
            Err(ParseError::BadRawSlot {
                line: 2,
                token: "0xzz".into()
            })
        );
        assert!(matches!(
            parse("-- result\nabc"),
            Err(ParseError::BadResult { line: 2, .. })
        ));
        assert_eq!(
            parse("-- result\n-1").unwrap().result,
            Some(u64::MAX),
            "a negative decimal wraps"
        );
    }

    #[test]
    fn error_section_keeps_its_last_line() {
        let file = parse("-- asm\nexit\n-- error\nfirst\nsecond  \n").unwrap();
        assert_eq!(file.error.as_deref(), Some("second"));
    }
}
