//! Encodes one instruction line into its slot(s), given its form from the mnemonic table.

use super::lexer::Token;
use super::mnemonic::Form;
use super::operand::{self, Source, Target, TargetField};
use super::{AsmErrorKind, TokenError};
use crate::insn::{Insn, op};
use crate::instruction::LoadImmKind;
use crate::prelude::*;

/// The slot(s) of one instruction and the label its target refers to, if any.
#[derive(Debug)]
pub(super) struct Encoded<'a> {
    pub first: Insn,
    /// The second slot of `lddw`.
    pub second: Option<Insn>,
    /// A label reference to resolve into `first` once all labels are known.
    pub label: Option<(TargetField, Token<'a>)>,
}

impl<'a> Encoded<'a> {
    fn one(first: Insn) -> Encoded<'a> {
        Encoded {
            first,
            second: None,
            label: None,
        }
    }
}

/// Checks the operand count; `expected` describes it for the error message.
fn count<'a, const N: usize>(
    mnemonic: Token<'_>,
    operands: &[Token<'a>],
    expected: &'static str,
) -> Result<[Token<'a>; N], TokenError> {
    <[Token<'a>; N]>::try_from(operands).map_err(|_| operand_count(mnemonic, operands, expected))
}

fn operand_count(
    mnemonic: Token<'_>,
    operands: &[Token<'_>],
    expected: &'static str,
) -> TokenError {
    TokenError {
        column: mnemonic.column,
        kind: AsmErrorKind::OperandCount {
            mnemonic: mnemonic.text.to_string(),
            expected,
            found: operands.len(),
        },
    }
}

/// Opcode, dst, src and imm of a register-or-imm second operand.
fn with_source(opcode: u8, source: Source) -> (u8, u8, i32) {
    match source {
        Source::Reg(reg) => (opcode | op::SRC_X, reg, 0),
        Source::Imm(imm) => (opcode | op::SRC_K, 0, imm),
    }
}

/// Puts a target into `insn`: a number now, a label later.
fn with_target<'a>(mut insn: Insn, target: Target<'a>, field: TargetField) -> Encoded<'a> {
    match target {
        Target::Relative(relative) => {
            match field {
                // `operand::target` fitted it to 16 bits already.
                TargetField::Offset => insn.off = relative as i16,
                TargetField::Imm => insn.imm = relative,
            }
            Encoded::one(insn)
        }
        Target::Label(label) => Encoded {
            first: insn,
            second: None,
            label: Some((field, label)),
        },
    }
}

pub(super) fn encode<'a>(
    form: Form,
    mnemonic: Token<'a>,
    operands: &[Token<'a>],
) -> Result<Encoded<'a>, TokenError> {
    let one = |insn| Ok(Encoded::one(insn));
    match form {
        Form::Alu { opcode, off } => {
            let [dst, src] = count(mnemonic, operands, "2")?;
            let dst = operand::register(dst)?;
            let (opcode, src, imm) = with_source(opcode, operand::source(src)?);
            one(Insn::new(opcode, dst, src, off, imm))
        }
        Form::Neg { opcode } => {
            let [dst] = count(mnemonic, operands, "1")?;
            one(Insn::new(opcode, operand::register(dst)?, 0, 0, 0))
        }
        Form::MovSx { opcode, bits } => {
            let [dst, src] = count(mnemonic, operands, "2")?;
            let dst = operand::register(dst)?;
            // An imm source encodes (as upstream does) but never validates.
            let (opcode, src, imm) = with_source(opcode, operand::source(src)?);
            one(Insn::new(opcode, dst, src, bits, imm))
        }
        Form::Endian { opcode, bits } => {
            let [dst] = count(mnemonic, operands, "1")?;
            one(Insn::new(opcode, operand::register(dst)?, 0, 0, bits))
        }
        Form::Lddw => lddw(mnemonic, operands),
        Form::Load { opcode } => {
            let [dst, src] = count(mnemonic, operands, "2")?;
            let dst = operand::register(dst)?;
            let (src, off) = operand::memory(src)?;
            one(Insn::new(opcode, dst, src, off, 0))
        }
        Form::StoreImm { opcode } => {
            let [dst, imm] = count(mnemonic, operands, "2")?;
            let (dst, off) = operand::memory(dst)?;
            one(Insn::new(opcode, dst, 0, off, operand::imm32(imm)?))
        }
        Form::StoreReg { opcode } => {
            let [dst, src] = count(mnemonic, operands, "2")?;
            let (dst, off) = operand::memory(dst)?;
            one(Insn::new(opcode, dst, operand::register(src)?, off, 0))
        }
        Form::PacketAbs { opcode } => {
            let [imm] = count(mnemonic, operands, "1")?;
            one(Insn::new(opcode, 0, 0, 0, operand::imm32(imm)?))
        }
        Form::PacketInd { opcode } => {
            let [src, imm] = count(mnemonic, operands, "2")?;
            let src = operand::register(src)?;
            one(Insn::new(opcode, 0, src, 0, operand::imm32(imm)?))
        }
        Form::Ja | Form::Ja32 => {
            let [target] = count(mnemonic, operands, "1")?;
            let (class, field) = if form == Form::Ja {
                (op::CLASS_JMP, TargetField::Offset)
            } else {
                (op::CLASS_JMP32, TargetField::Imm)
            };
            let target = operand::target(target, field)?;
            Ok(with_target(
                Insn::new(class | op::JMP_JA, 0, 0, 0, 0),
                target,
                field,
            ))
        }
        Form::Jump { opcode } => {
            let [dst, src, target] = count(mnemonic, operands, "3")?;
            let dst = operand::register(dst)?;
            let (opcode, src, imm) = with_source(opcode, operand::source(src)?);
            let target = operand::target(target, TargetField::Offset)?;
            Ok(with_target(
                Insn::new(opcode, dst, src, 0, imm),
                target,
                TargetField::Offset,
            ))
        }
        Form::Call => call(mnemonic, operands),
        Form::Lock => lock(mnemonic, operands),
        Form::Exit => {
            let [] = count(mnemonic, operands, "0")?;
            one(Insn::new(op::EXIT, 0, 0, 0, 0))
        }
    }
}

/// `call N`, `call %rN`, `call helper N|%rN`, `call local TARGET`, `call runtime N`.
fn call<'a>(mnemonic: Token<'a>, operands: &[Token<'a>]) -> Result<Encoded<'a>, TokenError> {
    let (mode, target) = match *operands {
        [target] => ("helper", target),
        [mode, target] => (mode.text, target),
        _ => return Err(operand_count(mnemonic, operands, "1 or 2")),
    };
    let insn = match mode {
        "helper" if target.text.starts_with('%') => {
            Insn::new(op::CALLX, operand::register(target)?, 0, 0, 0)
        }
        "helper" => Insn::new(op::CALL, 0, 0, 0, operand::imm32(target)?),
        "runtime" => Insn::new(op::CALL, 0, 2, 0, operand::imm32(target)?),
        "local" => {
            let target = operand::target(target, TargetField::Imm)?;
            return Ok(with_target(
                Insn::new(op::CALL, 0, 1, 0, 0),
                target,
                TargetField::Imm,
            ));
        }
        _ => {
            let mode = operands.first().copied().unwrap_or(mnemonic);
            return Err(TokenError::new(mode, AsmErrorKind::InvalidCallMode));
        }
    };
    Ok(Encoded::one(insn))
}

/// `lock [fetch] OP [%dst+off], %src`.
fn lock<'a>(mnemonic: Token<'a>, operands: &[Token<'a>]) -> Result<Encoded<'a>, TokenError> {
    let (fetch, rest) = match operands {
        [first, rest @ ..] if first.text == "fetch" => (true, rest),
        _ => (false, operands),
    };
    let Some((operation, rest)) = rest.split_first() else {
        return Err(operand_count(mnemonic, operands, "an operation and 2"));
    };
    let (name, opcode) = match operation.text.strip_suffix("32") {
        Some(name) => (name, op::CLASS_STX | op::MODE_ATOMIC | op::SIZE_W),
        None => (
            operation.text,
            op::CLASS_STX | op::MODE_ATOMIC | op::SIZE_DW,
        ),
    };
    let fetch_bit = if fetch { op::ATOMIC_FETCH } else { 0 };
    let imm = match name {
        "add" => op::ATOMIC_ADD | fetch_bit,
        "or" => op::ATOMIC_OR | fetch_bit,
        "and" => op::ATOMIC_AND | fetch_bit,
        "xor" => op::ATOMIC_XOR | fetch_bit,
        "xchg" => op::ATOMIC_XCHG,
        "cmpxchg" => op::ATOMIC_CMPXCHG,
        _ => return Err(TokenError::new(*operation, AsmErrorKind::InvalidAtomicOp)),
    };
    let [dst, src] = count(*operation, rest, "2")?;
    let (dst, off) = operand::memory(dst)?;
    let src = operand::register(src)?;
    Ok(Encoded::one(Insn::new(opcode, dst, src, off, imm)))
}

/// `lddw %dst, constant` or `lddw %dst, KIND IMM[, NEXT]`.
fn lddw<'a>(mnemonic: Token<'a>, operands: &[Token<'a>]) -> Result<Encoded<'a>, TokenError> {
    let (dst, kind, low, high) = match *operands {
        [dst, constant] => {
            let value = operand::imm64(constant)?;
            (
                dst,
                LoadImmKind::Imm,
                value as u32 as i32,
                (value >> 32) as u32 as i32,
            )
        }
        [dst, kind, low] => (dst, load_imm_kind(kind)?, operand::imm32(low)?, 0),
        [dst, kind, low, high] => (
            dst,
            load_imm_kind(kind)?,
            operand::imm32(low)?,
            operand::imm32(high)?,
        ),
        _ => return Err(operand_count(mnemonic, operands, "2 to 4")),
    };
    let dst = operand::register(dst)?;
    Ok(Encoded {
        first: Insn::new(op::LDDW, dst, kind.code(), 0, low),
        second: Some(Insn::new(0, 0, 0, 0, high)),
        label: None,
    })
}

fn load_imm_kind(token: Token<'_>) -> Result<LoadImmKind, TokenError> {
    [
        LoadImmKind::MapByFd,
        LoadImmKind::MapValueByFd,
        LoadImmKind::Variable,
        LoadImmKind::Code,
        LoadImmKind::MapByIndex,
        LoadImmKind::MapValueByIndex,
    ]
    .into_iter()
    .find(|&kind| super::load_imm_kind_keyword(kind) == token.text)
    .ok_or_else(|| TokenError::new(token, AsmErrorKind::InvalidLoadImmKind))
}
