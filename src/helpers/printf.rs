//! The printf subset of `bpf_trace_printk` and `bpf_snprintf`: `%d %i %u %x %X %o %c %s %p %%`
//! with `l`/`ll`/`h`/`hh`/`z` length modifiers, `-`/`0`/`+`/space/`#` flags, width and precision.
//! Arguments are raw 64-bit values; `%s` reads a NUL-terminated string from program memory.

use xbpf_isa::MemoryMap;

/// Longest string `%s` reads.
const MAX_STRING: usize = 4096;

/// Why a format could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// More conversions than arguments; the number of arguments.
    #[error("format has more conversions than the {0} arguments given")]
    TooFewArguments(usize),
    /// A conversion character outside the subset.
    #[error("unsupported conversion `%{0}`")]
    Unsupported(char),
    /// The format ends in the middle of a conversion.
    #[error("format ends inside a conversion")]
    Truncated,
    /// A `%s` argument that does not point to readable memory.
    #[error("%s argument {addr:#x} is not readable memory")]
    BadString {
        /// The argument.
        addr: u64,
    },
}

#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
    /// Argument width in bits (64 for `l`/`ll`/`z`, 32 by default, 16 `h`, 8 `hh`).
    bits: u32,
}

/// Renders `format` with `args`; strings are read through `memory`.
pub fn format(format: &[u8], args: &[u64], memory: &MemoryMap) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(format.len());
    let mut args = args.iter().copied();
    let total = args.len();
    let mut next = || args.next().ok_or(FormatError::TooFewArguments(total));
    let mut i = 0;
    while i < format.len() {
        let byte = format[i];
        i += 1;
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let mut spec = Spec {
            bits: 32,
            ..Spec::default()
        };
        loop {
            match format.get(i) {
                Some(b'-') => spec.left = true,
                Some(b'0') => spec.zero = true,
                Some(b'+') => spec.plus = true,
                Some(b' ') => spec.space = true,
                Some(b'#') => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        while let Some(digit @ b'0'..=b'9') = format.get(i) {
            spec.width = (spec.width * 10 + usize::from(digit - b'0')).min(1024);
            i += 1;
        }
        if format.get(i) == Some(&b'.') {
            i += 1;
            let mut precision = 0usize;
            while let Some(digit @ b'0'..=b'9') = format.get(i) {
                precision = (precision * 10 + usize::from(digit - b'0')).min(1024);
                i += 1;
            }
            spec.precision = Some(precision);
        }
        loop {
            match format.get(i) {
                Some(b'l') | Some(b'z') | Some(b'j') | Some(b't') => spec.bits = 64,
                Some(b'h') => spec.bits = if spec.bits == 16 { 8 } else { 16 },
                _ => break,
            }
            i += 1;
        }
        let conversion = *format.get(i).ok_or(FormatError::Truncated)?;
        i += 1;
        let mask = |value: u64| {
            if spec.bits == 64 {
                value
            } else {
                value & ((1u64 << spec.bits) - 1)
            }
        };
        let signed = |value: u64| -> i64 {
            match spec.bits {
                8 => i64::from(value as i8),
                16 => i64::from(value as i16),
                32 => i64::from(value as i32),
                _ => value as i64,
            }
        };
        let text = match conversion {
            b'%' => "%".to_owned(),
            b'd' | b'i' => {
                let value = signed(next()?);
                let sign = if value < 0 {
                    "-"
                } else if spec.plus {
                    "+"
                } else if spec.space {
                    " "
                } else {
                    ""
                };
                number(sign, value.unsigned_abs().to_string(), &spec)
            }
            b'u' => number("", mask(next()?).to_string(), &spec),
            b'x' => {
                let prefix = if spec.alt { "0x" } else { "" };
                number(prefix, format!("{:x}", mask(next()?)), &spec)
            }
            b'X' => {
                let prefix = if spec.alt { "0X" } else { "" };
                number(prefix, format!("{:X}", mask(next()?)), &spec)
            }
            b'o' => number("", format!("{:o}", mask(next()?)), &spec),
            b'c' => char::from(next()? as u8).to_string(),
            b'p' => {
                // %pK, %pS and friends: print the raw value (no kernel symbols here).
                while format.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    i += 1;
                }
                format!("0x{:x}", next()?)
            }
            b's' => {
                let addr = next()?;
                let max = spec.precision.unwrap_or(MAX_STRING).min(MAX_STRING);
                let bytes = memory
                    .read_c_str(addr, max)
                    .map_err(|_| FormatError::BadString { addr })?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            other => return Err(FormatError::Unsupported(char::from(other))),
        };
        pad(&mut out, text, &spec);
    }
    Ok(out)
}

fn number(prefix: &str, digits: String, spec: &Spec) -> String {
    let digits = match spec.precision {
        Some(precision) if digits.len() < precision => {
            format!("{}{digits}", "0".repeat(precision - digits.len()))
        }
        _ => digits,
    };
    let len = prefix.len() + digits.len();
    if spec.zero && !spec.left && spec.precision.is_none() && spec.width > len {
        format!("{prefix}{}{digits}", "0".repeat(spec.width - len))
    } else {
        format!("{prefix}{digits}")
    }
}

fn pad(out: &mut Vec<u8>, text: String, spec: &Spec) {
    let fill = spec.width.saturating_sub(text.len());
    if !spec.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
    out.extend_from_slice(text.as_bytes());
    if spec.left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::RunInput;

    fn render(format_str: &str, args: &[u64]) -> String {
        String::from_utf8(format(format_str.as_bytes(), args, &MemoryMap::default()).unwrap())
            .unwrap()
    }

    #[test]
    fn integers_follow_printf() {
        assert_eq!(render("%d %u %x", &[-5i64 as u64, 7, 255]), "-5 7 ff");
        assert_eq!(render("%d", &[0xffff_ffff]), "-1", "%d takes 32 bits");
        assert_eq!(
            render("%lld %llu", &[-5i64 as u64, u64::MAX]),
            "-5 18446744073709551615"
        );
        assert_eq!(
            render("%llx|%5d|%-4u|%05x", &[0xd_eadb_eef1, 42, 7, 0xab]),
            "deadbeef1|   42|7   |000ab"
        );
        assert_eq!(render("%#x %p %c %%", &[16, 0x1000, 65]), "0x10 0x1000 A %");
        assert_eq!(render("%hhu %hd", &[0x1ff, 0xffff]), "255 -1");
        assert_eq!(render("%.3d", &[5]), "005");
    }

    #[test]
    fn strings_come_from_program_memory() {
        let mut text = *b"hello\0";
        let mut input = RunInput::empty();
        let region = input.add_memory(&mut text);
        let memory = MemoryMap::new(input.regions().to_vec());
        let out = format(b"[%s] [%.2s]", &[region.start, region.start], &memory).unwrap();
        assert_eq!(out, b"[hello] [he]");
        assert_eq!(
            format(b"%s", &[0x10], &memory),
            Err(FormatError::BadString { addr: 0x10 })
        );
    }

    #[test]
    fn bad_formats_are_errors() {
        let memory = MemoryMap::default();
        assert_eq!(
            format(b"%d %d", &[1], &memory),
            Err(FormatError::TooFewArguments(1))
        );
        assert_eq!(
            format(b"%q", &[1], &memory),
            Err(FormatError::Unsupported('q'))
        );
        assert_eq!(format(b"%l", &[1], &memory), Err(FormatError::Truncated));
    }
}
