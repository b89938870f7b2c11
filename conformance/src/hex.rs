//! Hex text as the plugin protocol carries it (FORMAT.md sections 5 and 6).

/// Why hex text does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The digits do not pair up into bytes; the number of digits.
    #[error("hex text has an odd number of digits ({0})")]
    OddLength(usize),
    /// A character that is not a hex digit.
    #[error("`{character}` at position {position} is not a hex digit")]
    BadDigit {
        /// The character.
        character: char,
        /// Its byte offset in the text, after any `0x` prefix.
        position: usize,
    },
}

/// Renders bytes the way the upstream runner does: two lower-case digits and two spaces each.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}  ")).collect()
}

/// Decodes hex text, ignoring all whitespace (and an optional `0x` prefix).
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let text = text.trim_start();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let digits: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, character)| !character.is_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength(digits.len()));
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let digit = |(position, character): (usize, char)| {
                character
                    .to_digit(16)
                    .map(|value| value as u8)
                    .ok_or(HexError::BadDigit {
                        character,
                        position,
                    })
            };
            Ok(digit(pair[0])? << 4 | digit(pair[1])?)
        })
        .collect()
}

/// Parses a plugin's stdout as the runner does: skip leading whitespace, optional `0x`, then
/// hex digits up to the first non-hex character. `None` when there are no digits or too many.
pub fn parse_result(text: &str) -> Option<u64> {
    let text = text.trim_start();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let digits: &str = &text[..text
        .find(|character: char| !character.is_ascii_hexdigit())
        .unwrap_or(text.len())];
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        let bytes = [0x00, 0x95, 0xff];
        assert_eq!(encode(&bytes), "00  95  ff  ");
        assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        assert_eq!(decode("0x0095\n").unwrap(), vec![0x00, 0x95]);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert_eq!(decode("abc"), Err(HexError::OddLength(3)));
        assert!(matches!(
            decode("zz"),
            Err(HexError::BadDigit { character: 'z', .. })
        ));
    }

    #[test]
    fn results_parse_like_the_upstream_runner() {
        assert_eq!(parse_result("  0x1F\n"), Some(0x1f));
        assert_eq!(parse_result("2a"), Some(0x2a));
        assert_eq!(parse_result("debug: 1"), Some(0xdeb));
        assert_eq!(parse_result("xyz"), None);
        assert_eq!(parse_result("1ffffffffffffffff"), None);
    }
}
