//! The assembler: eBPF assembly text (the bpf_conformance `-- asm` dialect) to raw slots.
//!
//! It produces slots only; it does not validate the program (registers `%r11`–`%r15`, bad
//! field combinations and out-of-range targets can be written on purpose, and
//! [`Program::new`](crate::Program::new) rejects them later).
//!
//! # Syntax
//!
//! **Lines.** One instruction or one label per line. `#` starts a comment that runs to the end of
//! the line. A line is split on whitespace; the first token is the mnemonic, the others are
//! operands, and one trailing `,` is stripped from each operand (`add %r0, 1` = `add %r0 1`), so
//! an operand cannot contain spaces (`[%r1+2]`, not `[%r1 + 2]`). Mnemonics and registers are
//! lower case.
//!
//! **Labels.** A line whose first token ends in `:` defines a label at the current slot; the
//! rest of that line is ignored. Labels may be used before they are defined. The first `exit`
//! instruction defines the label `exit`, so `ja exit` jumps to the first `exit` of the source,
//! even backwards; defining `exit:` explicitly as well is a duplicate-label error.
//!
//! **Registers.** `%r0` … `%r10`, and `%r11` … `%r15` (encodable but invalid).
//!
//! **Numbers.**
//! - *imm* (32-bit fields): a token containing `0x` is unsigned hex up to `0xffffffff` (stored
//!   as those 32 bits, so `0xffffffff` is -1); otherwise signed decimal in
//!   [-2147483648, 2147483647]. A leading `+` is allowed.
//! - *lddw constant* (64-bit): `0x…` is unsigned hex; a leading `-` is signed decimal (two's
//!   complement); otherwise unsigned decimal.
//! - *offset* (16-bit, always written with its sign: `[%r10-8]`, `+3`): `+0x…` is hex up to
//!   `0xffff` (stored as 16 bits); otherwise signed decimal in [-32768, 32767]. Negative hex
//!   (`-0x10`) is rejected everywhere: write negative values in decimal.
//!
//! **Jump and call targets.** A token starting with `+` or `-` is a slot offset relative to the
//! next instruction (target = pc + 1 + offset); anything else is a label name. `lddw` counts as
//! two slots.
//!
//! **Memory operands.** `[%rN]`, `[%rN+off]`, `[%rN-off]`.
//!
//! **Instructions** (`src` is a register `%rN` or an imm; `32` selects the 32-bit class, `64`
//! or no suffix the 64-bit class):
//!
//! | syntax | encoding |
//! | --- | --- |
//! | `add sub mul div sdiv or and lsh rsh mod smod xor mov arsh` `[32\|64] %dst, src` | ALU / ALU64; `sdiv`/`smod` set offset 1 |
//! | `neg[32\|64] %dst` | negation |
//! | `movsx{8,16,32}{32,64} %dst, %src` | sign-extending move (offset = source width) |
//! | `le16 le32 le64 be16 be32 be64 %dst` | byte order conversion |
//! | `bswap16 bswap32 bswap64 %dst` (or `swap…`) | unconditional byte swap |
//! | `lddw %dst, constant` | 64-bit constant (two slots) |
//! | `ldxb ldxh ldxw ldxdw ldxsb ldxsh ldxsw %dst, [%src+off]` | loads (`s`: sign-extending) |
//! | `stb sth stw stdw [%dst+off], imm` | store an imm |
//! | `stxb stxh stxw stxdw [%dst+off], %src` | store a register |
//! | `lock [fetch] add\|or\|and\|xor[32] [%dst+off], %src` | atomic read-modify-write |
//! | `lock xchg[32] [%dst+off], %src`, `lock cmpxchg[32] …` | atomic exchanges (always fetch) |
//! | `ja TARGET` | unconditional jump (offset field) |
//! | `ja32 TARGET` | long unconditional jump (imm field) |
//! | `jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle` `[32] %dst, src, TARGET` | conditional jumps |
//! | `call N`, `call helper N` | helper call by id |
//! | `call %rN`, `call helper %rN` | `callx`: helper id in the register (dst field) |
//! | `call local TARGET` | bpf-to-bpf call (imm = relative slot offset) |
//! | `call runtime N` | platform function (kfunc) call, src 2 |
//! | `exit` | return |
//!
//! **Extensions** beyond the bpf_conformance dialect, so that every valid program can be
//! written:
//! - `lddw %dst, KIND IMM[, NEXT]` writes the `lddw` pseudo-sources: KIND is `map_by_fd` (src 1),
//!   `map_value_by_fd` (2), `variable` (3), `code` (4), `map_by_index` (5) or
//!   `map_value_by_index` (6). IMM (imm of the first slot: fd, index, id or offset) and NEXT
//!   (imm of the second slot, e.g. the offset into a map value; 0 when omitted) follow the imm
//!   rules, so the 64-bit value is `(NEXT << 32) | IMM`. Example:
//!   `lddw %r1, map_value_by_fd 3, 16`.
//! - Legacy packet loads: `ldabsb ldabsh ldabsw imm` and `ldindb ldindh ldindw %src, imm`.
//! - Numeric targets of `ja32` and `call local`, which live in the 32-bit imm field, may use the
//!   whole imm range (`+0x…` up to `+0xffffffff`, or signed decimal), and a negative
//!   `call local -N` is sign-extended.

mod encode;
mod labels;
mod lexer;
mod mnemonic;
mod number;
mod operand;

use crate::insn::Insn;
use crate::instruction::LoadImmKind;
use crate::prelude::*;
use lexer::Line;

/// An assembly error, with the position of the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the offending token starts.
    pub column: usize,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

/// What is wrong with a line of assembly. Each variant holds the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// No instruction has this mnemonic.
    #[error("invalid mnemonic `{0}`")]
    InvalidMnemonic(String),
    /// The instruction has the wrong number of operands.
    #[error("`{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// The mnemonic.
        mnemonic: String,
        /// How many operands it takes.
        expected: &'static str,
        /// How many the line has.
        found: usize,
    },
    /// An operand that should be a register is not one.
    #[error("invalid register `{0}` (expected %r0 to %r10, or %r11 to %r15)")]
    InvalidRegister(String),
    /// An operand that should be `[%rN+off]` is not.
    #[error("invalid memory operand `{0}` (expected [%rN], [%rN+off] or [%rN-off])")]
    BadMemoryOperand(String),
    /// An operand that should be a number is not.
    #[error("invalid number `{0}` (expected decimal, or hex with 0x)")]
    InvalidNumber(String),
    /// A hex number with a minus sign.
    #[error("negative hex number `{0}`: write negative values in decimal")]
    NegativeHex(String),
    /// An offset that does not fit the 16-bit offset field.
    #[error("offset `{0}` is out of the 16-bit range (-32768 to 32767, or +0x0 to +0xffff)")]
    OffsetOutOfRange(String),
    /// An immediate that does not fit the 32-bit imm field.
    #[error(
        "immediate `{0}` is out of the 32-bit range (-2147483648 to 2147483647, or 0x0 to 0xffffffff)"
    )]
    ImmediateOutOfRange(String),
    /// An `lddw` constant that does not fit 64 bits.
    #[error("constant `{0}` is out of the 64-bit range")]
    ConstantOutOfRange(String),
    /// A jump or call to a label no line defines.
    #[error("unknown label `{0}`")]
    UnknownLabel(String),
    /// A label defined twice.
    #[error("label `{label}` is already defined on line {first_line}")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// The line of its first definition.
        first_line: usize,
    },
    /// A label too far from the instruction referring to it.
    #[error("label `{label}` is {offset} slots away, too far for the {bits}-bit offset field")]
    LabelOutOfRange {
        /// The label.
        label: String,
        /// Its distance in slots.
        offset: i64,
        /// The width of the offset field (16, or 32 for `ja32` and calls).
        bits: u32,
    },
    /// A `call` mode other than helper, local or runtime.
    #[error("invalid call mode `{0}` (expected helper, local or runtime)")]
    InvalidCallMode(String),
    /// An atomic operation the assembler does not know.
    #[error(
        "invalid atomic operation `{0}` (expected add, or, and, xor, xchg or cmpxchg, optionally with 32)"
    )]
    InvalidAtomicOp(String),
    /// An `lddw` pseudo-source keyword the assembler does not know.
    #[error(
        "invalid lddw kind `{0}` (expected map_by_fd, map_value_by_fd, variable, code, map_by_index or map_value_by_index)"
    )]
    InvalidLoadImmKind(String),
}

/// The keyword of an `lddw` pseudo-source (shared with the disassembler).
pub(crate) const fn load_imm_kind_keyword(kind: LoadImmKind) -> &'static str {
    match kind {
        LoadImmKind::Imm => "imm",
        LoadImmKind::MapByFd => "map_by_fd",
        LoadImmKind::MapValueByFd => "map_value_by_fd",
        LoadImmKind::Variable => "variable",
        LoadImmKind::Code => "code",
        LoadImmKind::MapByIndex => "map_by_index",
        LoadImmKind::MapValueByIndex => "map_value_by_index",
    }
}

/// An error located on a line but not yet on which one; the driver adds the line number.
#[derive(Debug)]
struct TokenError {
    column: usize,
    kind: AsmErrorKind,
}

impl TokenError {
    fn new(token: lexer::Token<'_>, kind: fn(String) -> AsmErrorKind) -> TokenError {
        TokenError {
            column: token.column,
            kind: kind(token.text.to_string()),
        }
    }

    fn on_line(self, line: usize) -> AsmError {
        AsmError {
            line,
            column: self.column,
            kind: self.kind,
        }
    }
}

/// Assembles `source` into instruction slots (an `lddw` yields two).
pub fn assemble(source: &str) -> Result<Vec<Insn>, AsmError> {
    let mut slots = Vec::new();
    let mut labels = labels::Labels::default();
    let mut seen_exit = false;
    for (index, text) in source.lines().enumerate() {
        let line = index + 1;
        match lexer::lex(text) {
            Line::Blank => {}
            Line::Label(name) => labels.define(name, slots.len(), line)?,
            Line::Instruction { mnemonic, operands } => {
                let form = mnemonic::lookup(mnemonic.text)
                    .ok_or_else(|| TokenError::new(mnemonic, AsmErrorKind::InvalidMnemonic))
                    .map_err(|error| error.on_line(line))?;
                if form == mnemonic::Form::Exit && !seen_exit {
                    seen_exit = true;
                    let implicit = lexer::Token {
                        text: "exit",
                        column: mnemonic.column,
                    };
                    labels.define(implicit, slots.len(), line)?;
                }
                let encoded = encode::encode(form, mnemonic, &operands)
                    .map_err(|error| error.on_line(line))?;
                if let Some((field, target)) = encoded.label {
                    labels.refer(target, slots.len(), field, line);
                }
                slots.push(encoded.first);
                slots.extend(encoded.second);
            }
        }
    }
    labels.resolve(&mut slots)?;
    Ok(slots)
}
