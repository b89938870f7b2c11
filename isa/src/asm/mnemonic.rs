//! The mnemonic table: which opcode (and fixed fields) each mnemonic stands for and which
//! operand form it takes.

use crate::insn::op;
use crate::instruction::{AluOp, JmpCond, MemSize};

/// How a mnemonic is encoded. Opcodes are complete except for the source bit of ALU and jump
/// instructions, which the second operand decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// `OP %dst, src`; `off` is 1 for signed division and modulo.
    Alu { opcode: u8, off: i16 },
    /// `neg %dst`.
    Neg { opcode: u8 },
    /// `movsxBW %dst, %src`: offset = source width.
    MovSx { opcode: u8, bits: i16 },
    /// `le16 %dst` and friends: imm = width.
    Endian { opcode: u8, bits: i32 },
    /// `lddw %dst, constant` (two slots).
    Lddw,
    /// `ldx* %dst, [%src+off]`.
    Load { opcode: u8 },
    /// `st* [%dst+off], imm`.
    StoreImm { opcode: u8 },
    /// `stx* [%dst+off], %src`.
    StoreReg { opcode: u8 },
    /// `ldabs* imm`.
    PacketAbs { opcode: u8 },
    /// `ldind* %src, imm`.
    PacketInd { opcode: u8 },
    /// `ja TARGET` (offset field).
    Ja,
    /// `ja32 TARGET` (imm field).
    Ja32,
    /// `jCC %dst, src, TARGET`.
    Jump { opcode: u8 },
    /// `call …`.
    Call,
    /// `lock [fetch] OP [%dst+off], %src`.
    Lock,
    /// `exit`.
    Exit,
}

/// Looks up a mnemonic; `None` when it does not exist.
pub(super) fn lookup(mnemonic: &str) -> Option<Form> {
    let form = match mnemonic {
        "exit" => Form::Exit,
        "call" => Form::Call,
        "lock" => Form::Lock,
        "lddw" => Form::Lddw,
        "ja" => Form::Ja,
        "ja32" => Form::Ja32,
        _ => {
            return endian(mnemonic)
                .or_else(|| memory(mnemonic))
                .or_else(|| jump(mnemonic))
                .or_else(|| alu(mnemonic));
        }
    };
    Some(form)
}

fn endian(mnemonic: &str) -> Option<Form> {
    let (opcode, bits) = if let Some(bits) = mnemonic.strip_prefix("le") {
        (op::CLASS_ALU | op::SRC_K | op::ALU_END, bits)
    } else if let Some(bits) = mnemonic.strip_prefix("be") {
        (op::CLASS_ALU | op::SRC_X | op::ALU_END, bits)
    } else if let Some(bits) = mnemonic
        .strip_prefix("bswap")
        .or_else(|| mnemonic.strip_prefix("swap"))
    {
        (op::CLASS_ALU64 | op::SRC_K | op::ALU_END, bits)
    } else {
        return None;
    };
    let bits = match bits {
        "16" => 16,
        "32" => 32,
        "64" => 64,
        _ => return None,
    };
    Some(Form::Endian { opcode, bits })
}

const SIZES: [MemSize; 4] = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];

fn size_code(size: MemSize) -> u8 {
    match size {
        MemSize::B => op::SIZE_B,
        MemSize::H => op::SIZE_H,
        MemSize::W => op::SIZE_W,
        MemSize::DW => op::SIZE_DW,
    }
}

/// Loads, stores and legacy packet loads: a prefix and a size suffix.
fn memory(mnemonic: &str) -> Option<Form> {
    SIZES.into_iter().find_map(|size| {
        let prefix = mnemonic.strip_suffix(size.suffix())?;
        let code = size_code(size);
        let wide = size == MemSize::DW;
        Some(match prefix {
            "ldx" => Form::Load {
                opcode: op::CLASS_LDX | op::MODE_MEM | code,
            },
            "ldxs" if !wide => Form::Load {
                opcode: op::CLASS_LDX | op::MODE_MEMSX | code,
            },
            "st" => Form::StoreImm {
                opcode: op::CLASS_ST | op::MODE_MEM | code,
            },
            "stx" => Form::StoreReg {
                opcode: op::CLASS_STX | op::MODE_MEM | code,
            },
            "ldabs" if !wide => Form::PacketAbs {
                opcode: op::CLASS_LD | op::MODE_ABS | code,
            },
            "ldind" if !wide => Form::PacketInd {
                opcode: op::CLASS_LD | op::MODE_IND | code,
            },
            _ => return None,
        })
    })
}

/// Conditional jumps: `jCC` (JMP class) or `jCC32` (JMP32 class).
fn jump(mnemonic: &str) -> Option<Form> {
    let (class, name) = match mnemonic.strip_suffix("32") {
        Some(name) => (op::CLASS_JMP32, name),
        None => (op::CLASS_JMP, mnemonic),
    };
    let cond = JmpCond::ALL
        .into_iter()
        .find(|cond| cond.mnemonic() == name)?;
    Some(Form::Jump {
        opcode: class | cond.code(),
    })
}

/// ALU operations: `OP`, `OP64` (ALU64 class) or `OP32` (ALU class).
fn alu(mnemonic: &str) -> Option<Form> {
    let (class, name) = if let Some(name) = mnemonic.strip_suffix("32") {
        (op::CLASS_ALU, name)
    } else if let Some(name) = mnemonic.strip_suffix("64") {
        (op::CLASS_ALU64, name)
    } else {
        (op::CLASS_ALU64, mnemonic)
    };
    if name == "neg" {
        return Some(Form::Neg {
            opcode: class | op::ALU_NEG,
        });
    }
    if let Some(bits) = name.strip_prefix("movsx") {
        let bits = match bits {
            "8" => 8,
            "16" => 16,
            "32" => 32,
            _ => return None,
        };
        return Some(Form::MovSx {
            opcode: class | op::ALU_MOV,
            bits,
        });
    }
    let alu = AluOp::ALL.into_iter().find(|alu| alu.mnemonic() == name)?;
    let off = match alu {
        AluOp::SDiv | AluOp::SMod => 1,
        _ => 0,
    };
    Some(Form::Alu {
        opcode: class | alu.code(),
        off,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_select_the_class() {
        assert_eq!(
            lookup("add"),
            Some(Form::Alu {
                opcode: 0x07,
                off: 0
            })
        );
        assert_eq!(lookup("add64"), lookup("add"));
        assert_eq!(
            lookup("smod32"),
            Some(Form::Alu {
                opcode: 0x94,
                off: 1
            })
        );
        assert_eq!(lookup("neg32"), Some(Form::Neg { opcode: 0x84 }));
        assert_eq!(lookup("jsle32"), Some(Form::Jump { opcode: 0xd6 }));
        assert_eq!(lookup("jsle"), Some(Form::Jump { opcode: 0xd5 }));
        assert_eq!(
            lookup("movsx1632"),
            Some(Form::MovSx {
                opcode: 0xb4,
                bits: 16
            })
        );
    }

    #[test]
    fn memory_and_byte_order_mnemonics() {
        assert_eq!(lookup("ldxdw"), Some(Form::Load { opcode: 0x79 }));
        assert_eq!(lookup("ldxsh"), Some(Form::Load { opcode: 0x89 }));
        assert_eq!(lookup("stw"), Some(Form::StoreImm { opcode: 0x62 }));
        assert_eq!(lookup("stxdw"), Some(Form::StoreReg { opcode: 0x7b }));
        assert_eq!(lookup("ldabsh"), Some(Form::PacketAbs { opcode: 0x28 }));
        assert_eq!(lookup("ldindw"), Some(Form::PacketInd { opcode: 0x40 }));
        assert_eq!(
            lookup("swap32"),
            Some(Form::Endian {
                opcode: 0xd7,
                bits: 32
            })
        );
        assert_eq!(lookup("bswap32"), lookup("swap32"));
        assert_eq!(
            lookup("be64"),
            Some(Form::Endian {
                opcode: 0xdc,
                bits: 64
            })
        );
    }

    #[test]
    fn unknown_mnemonics() {
        for name in [
            "", "ADD", "jeq64", "ldxsdw", "ldabsdw", "neg16", "le8", "movsx", "movsx4", "add3264",
            "jmp", "st", "exit32",
        ] {
            assert_eq!(lookup(name), None, "{name}");
        }
    }
}
