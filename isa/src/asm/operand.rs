//! Operand syntax: registers, memory operands, register-or-imm sources, jump targets, and the
//! mapping of number errors to located assembler errors.

use super::lexer::Token;
use super::number::{self, NumberError};
use super::{AsmErrorKind, TokenError};
use crate::prelude::*;

/// The second operand of ALU and jump instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    Reg(u8),
    Imm(i32),
}

/// A jump or call target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target<'a> {
    /// `+N` / `-N`, already fitted to the field.
    Relative(i32),
    /// A label, resolved once the whole source is read.
    Label(Token<'a>),
}

/// Which field of the slot a target goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TargetField {
    /// The signed 16-bit offset field (`ja`, conditional jumps).
    Offset,
    /// The 32-bit imm field (`ja32`, `call local`).
    Imm,
}

/// `%r0` … `%r15`, written exactly like that (no leading zeros).
pub(super) fn register(token: Token<'_>) -> Result<u8, TokenError> {
    let number = token
        .text
        .strip_prefix("%r")
        .filter(|digits| !digits.is_empty() && (digits.len() == 1 || !digits.starts_with('0')))
        .filter(|digits| digits.chars().all(|c| c.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u8>().ok())
        .filter(|&number| number <= 15);
    number.ok_or_else(|| TokenError::new(token, AsmErrorKind::InvalidRegister))
}

/// `[%rN]`, `[%rN+off]` or `[%rN-off]`: the register and the offset.
pub(super) fn memory(token: Token<'_>) -> Result<(u8, i16), TokenError> {
    let bad = || TokenError::new(token, AsmErrorKind::BadMemoryOperand);
    if !token.text.starts_with('[') || !token.text.ends_with(']') || token.text.len() < 2 {
        return Err(bad());
    }
    let close = token.text.len() - 1;
    let inside = token.part(1, close).ok_or_else(bad)?;
    let sign_at = inside.text.find(['+', '-']).unwrap_or(inside.text.len());
    let reg = inside.part(0, sign_at).ok_or_else(bad)?;
    if reg.text.is_empty() {
        return Err(bad());
    }
    let reg = register(reg)?;
    let offset = inside.rest(sign_at).ok_or_else(bad)?;
    if offset.text.is_empty() {
        return Ok((reg, 0));
    }
    let offset = number::offset16(offset.text)
        .map_err(|error| number_error(offset, error, AsmErrorKind::OffsetOutOfRange))?;
    Ok((reg, offset))
}

/// A register when the token starts with `%`, else an imm.
pub(super) fn source(token: Token<'_>) -> Result<Source, TokenError> {
    if token.text.starts_with('%') {
        register(token).map(Source::Reg)
    } else {
        imm32(token).map(Source::Imm)
    }
}

/// A 32-bit imm.
pub(super) fn imm32(token: Token<'_>) -> Result<i32, TokenError> {
    number::imm32(token.text)
        .map_err(|error| number_error(token, error, AsmErrorKind::ImmediateOutOfRange))
}

/// A 64-bit `lddw` constant.
pub(super) fn imm64(token: Token<'_>) -> Result<u64, TokenError> {
    number::imm64(token.text)
        .map_err(|error| number_error(token, error, AsmErrorKind::ConstantOutOfRange))
}

/// `+N`/`-N` fitted to `field`, or a label name.
pub(super) fn target(token: Token<'_>, field: TargetField) -> Result<Target<'_>, TokenError> {
    if !token.text.starts_with(['+', '-']) {
        return Ok(Target::Label(token));
    }
    let relative = match field {
        TargetField::Offset => number::offset16(token.text)
            .map(i32::from)
            .map_err(|error| number_error(token, error, AsmErrorKind::OffsetOutOfRange)),
        TargetField::Imm => number::target32(token.text)
            .map_err(|error| number_error(token, error, AsmErrorKind::ImmediateOutOfRange)),
    }?;
    Ok(Target::Relative(relative))
}

fn number_error(
    token: Token<'_>,
    error: NumberError,
    out_of_range: fn(String) -> AsmErrorKind,
) -> TokenError {
    let kind = match error {
        NumberError::Invalid => AsmErrorKind::InvalidNumber,
        NumberError::NegativeHex => AsmErrorKind::NegativeHex,
        NumberError::OutOfRange => out_of_range,
    };
    TokenError::new(token, kind)
}
