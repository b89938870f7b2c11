//! Number syntax: 32-bit immediates, 64-bit `lddw` constants, 16-bit signed offsets and 32-bit
//! relative targets. A token containing `0x` is hex (never negative), anything else decimal.

/// Why a token is not an acceptable number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NumberError {
    /// Not a number at all (or a target/offset without its sign).
    Invalid,
    /// `-0x…`: hex numbers are unsigned.
    NegativeHex,
    /// A number, but too large for the field.
    OutOfRange,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    None,
    Plus,
    Minus,
}

/// A parsed number before it is fitted to a field.
enum Value {
    /// Hex: always unsigned.
    Hex(u64),
    /// Decimal, with its sign applied.
    Decimal(i128),
}

fn split_sign(text: &str) -> (Sign, &str) {
    if let Some(rest) = text.strip_prefix('+') {
        (Sign::Plus, rest)
    } else if let Some(rest) = text.strip_prefix('-') {
        (Sign::Minus, rest)
    } else {
        (Sign::None, text)
    }
}

/// Reads ASCII digits in `radix`; more than 64 bits is out of range.
fn magnitude(digits: &str, radix: u32) -> Result<u64, NumberError> {
    if digits.is_empty() {
        return Err(NumberError::Invalid);
    }
    digits.chars().try_fold(0u64, |value, c| {
        let digit = c.to_digit(radix).ok_or(NumberError::Invalid)?;
        value
            .checked_mul(u64::from(radix))
            .and_then(|value| value.checked_add(u64::from(digit)))
            .ok_or(NumberError::OutOfRange)
    })
}

fn parse(text: &str) -> Result<(Sign, Value), NumberError> {
    let (sign, rest) = split_sign(text);
    if text.contains("0x") {
        if sign == Sign::Minus {
            return Err(NumberError::NegativeHex);
        }
        let digits = rest.strip_prefix("0x").ok_or(NumberError::Invalid)?;
        return Ok((sign, Value::Hex(magnitude(digits, 16)?)));
    }
    let value = i128::from(magnitude(rest, 10)?);
    let value = if sign == Sign::Minus { -value } else { value };
    Ok((sign, Value::Decimal(value)))
}

/// A 32-bit imm: hex up to `0xffffffff` (stored as those bits) or signed decimal.
pub(super) fn imm32(text: &str) -> Result<i32, NumberError> {
    match parse(text)?.1 {
        Value::Hex(value) => u32::try_from(value)
            .map(|value| value as i32)
            .map_err(|_| NumberError::OutOfRange),
        Value::Decimal(value) => i32::try_from(value).map_err(|_| NumberError::OutOfRange),
    }
}

/// A 64-bit `lddw` constant: hex, negative decimal (two's complement) or unsigned decimal.
pub(super) fn imm64(text: &str) -> Result<u64, NumberError> {
    match parse(text)?.1 {
        Value::Hex(value) => Ok(value),
        Value::Decimal(value) if value < 0 => i64::try_from(value)
            .map(|value| value as u64)
            .map_err(|_| NumberError::OutOfRange),
        Value::Decimal(value) => u64::try_from(value).map_err(|_| NumberError::OutOfRange),
    }
}

/// A signed 16-bit offset written with its sign: `+0x…` up to `0xffff`, or signed decimal.
pub(super) fn offset16(text: &str) -> Result<i16, NumberError> {
    match parse(text)? {
        (Sign::None, _) => Err(NumberError::Invalid),
        (_, Value::Hex(value)) => u16::try_from(value)
            .map(|value| value as i16)
            .map_err(|_| NumberError::OutOfRange),
        (_, Value::Decimal(value)) => i16::try_from(value).map_err(|_| NumberError::OutOfRange),
    }
}

/// A relative target in a 32-bit imm field, written with its sign.
pub(super) fn target32(text: &str) -> Result<i32, NumberError> {
    match parse(text)? {
        (Sign::None, _) => Err(NumberError::Invalid),
        _ => imm32(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumberError::*;

    #[test]
    fn imm32_hex_is_unsigned_and_decimal_signed() {
        assert_eq!(imm32("0xffffffff"), Ok(-1));
        assert_eq!(imm32("0x7FFFFFFF"), Ok(i32::MAX));
        assert_eq!(imm32("+0x10"), Ok(16));
        assert_eq!(imm32("-2147483648"), Ok(i32::MIN));
        assert_eq!(imm32("2147483647"), Ok(i32::MAX));
        assert_eq!(imm32("+7"), Ok(7));
        assert_eq!(imm32("0x100000000"), Err(OutOfRange));
        assert_eq!(imm32("2147483648"), Err(OutOfRange));
        assert_eq!(imm32("-2147483649"), Err(OutOfRange));
        assert_eq!(imm32("-0x1"), Err(NegativeHex));
        assert_eq!(imm32("99999999999999999999999"), Err(OutOfRange));
        for bad in [
            "", "-", "+", "0x", "0xg", "1x0x2", "1_000", "%r1", "0X10", "٣",
        ] {
            assert_eq!(imm32(bad), Err(Invalid), "{bad:?}");
        }
    }

    #[test]
    fn imm64_forms() {
        assert_eq!(imm64("0x10000000A"), Ok(0x1_0000_000a));
        assert_eq!(imm64("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(imm64("0x10000000000000000"), Err(OutOfRange));
        assert_eq!(imm64("-1"), Ok(u64::MAX));
        assert_eq!(imm64("-9223372036854775808"), Ok(1 << 63));
        assert_eq!(imm64("-9223372036854775809"), Err(OutOfRange));
        assert_eq!(imm64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(imm64("18446744073709551616"), Err(OutOfRange));
        assert_eq!(imm64("-0x5"), Err(NegativeHex));
    }

    #[test]
    fn offsets_need_a_sign_and_reject_negative_hex() {
        assert_eq!(offset16("+0"), Ok(0));
        assert_eq!(offset16("-32768"), Ok(i16::MIN));
        assert_eq!(offset16("+32767"), Ok(i16::MAX));
        assert_eq!(offset16("+0xffff"), Ok(-1));
        assert_eq!(offset16("+0x10"), Ok(16));
        assert_eq!(offset16("-32769"), Err(OutOfRange));
        assert_eq!(offset16("+32768"), Err(OutOfRange));
        assert_eq!(offset16("+0x10000"), Err(OutOfRange));
        assert_eq!(offset16("-0x10"), Err(NegativeHex));
        assert_eq!(offset16("5"), Err(Invalid));
    }

    #[test]
    fn targets32_use_the_whole_imm_range() {
        assert_eq!(target32("+0xffffffff"), Ok(-1));
        assert_eq!(target32("-2147483648"), Ok(i32::MIN));
        assert_eq!(target32("+40000"), Ok(40000));
        assert_eq!(target32("40000"), Err(Invalid));
    }
}
