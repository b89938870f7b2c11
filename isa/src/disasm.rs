//! The disassembler: slots to the assembly syntax of [`crate::asm`], which reads it back to the
//! same bytes.
//!
//! [`disassemble`] names jump and call targets with labels `L<pc>` (never `exit`, whose meaning
//! the assembler fixes); [`Instruction`]'s `Display` writes them as relative `+N`/`-N`.

use crate::asm::load_imm_kind_keyword;
use crate::insn::Insn;
use crate::instruction::{
    AtomicOp, ByteOrder, CallTarget, Instruction, LoadImmKind, PacketMode, Reg, Source, Width,
};
use crate::prelude::*;
use alloc::collections::BTreeSet;
use core::fmt::{self, Write};

/// Disassembles slots, one line per instruction (label lines `L<pc>:` before jump targets).
///
/// For every valid program the text reassembles to the identical slots. A slot that does not
/// decode is printed as a comment line naming the slot, its raw value and the reason.
pub fn disassemble(slots: &[Insn]) -> String {
    let lines = decode_lines(slots);
    let starts: BTreeSet<usize> = lines
        .iter()
        .filter(|(_, decoded)| decoded.is_ok())
        .map(|&(pc, _)| pc)
        .collect();
    let labels: BTreeSet<usize> = lines
        .iter()
        .filter_map(|(pc, decoded)| {
            let offset = decoded.as_ref().ok()?.branch_offset()?;
            let target = usize::try_from(*pc as i64 + 1 + offset).ok()?;
            starts.contains(&target).then_some(target)
        })
        .collect();
    let mut text = String::new();
    for (pc, decoded) in &lines {
        // Writing into a String cannot fail.
        let _ = match decoded {
            Ok(instruction) => {
                if labels.contains(pc) {
                    let _ = writeln!(text, "{}:", label(*pc));
                }
                let syntax = Syntax {
                    instruction,
                    labels: Some((*pc, &labels)),
                };
                writeln!(text, "{syntax}")
            }
            Err(reason) => {
                let raw = slots
                    .get(*pc)
                    .map_or(0, |slot| u64::from_le_bytes(slot.to_bytes()));
                writeln!(text, "# invalid slot {pc}: {raw:#018x} ({reason})")
            }
        };
    }
    text
}

/// Each line's pc and its instruction, or why the slot at that pc does not decode (then the
/// next line starts at the next slot).
fn decode_lines(slots: &[Insn]) -> Vec<(usize, Result<Instruction, crate::DecodeError>)> {
    let mut lines = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while let Some(&slot) = slots.get(pc) {
        match Instruction::decode(slot, slots.get(pc + 1).copied()) {
            Ok((instruction, used)) => {
                lines.push((pc, Ok(instruction)));
                pc += used;
            }
            Err(reason) => {
                lines.push((pc, Err(reason)));
                pc += 1;
            }
        }
    }
    lines
}

fn label(pc: usize) -> String {
    format!("L{pc}")
}

impl fmt::Display for Instruction {
    /// The instruction in assembler syntax, with relative targets (`ja +3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Syntax {
            instruction: self,
            labels: None,
        }
        .fmt(f)
    }
}

/// An instruction as text; targets become labels when `labels` holds the instruction's pc and
/// the set of pcs that have a label.
struct Syntax<'a> {
    instruction: &'a Instruction,
    labels: Option<(usize, &'a BTreeSet<usize>)>,
}

impl Syntax<'_> {
    fn target(&self, offset: i64) -> String {
        if let Some((pc, labels)) = self.labels
            && let Ok(target) = usize::try_from(pc as i64 + 1 + offset)
            && labels.contains(&target)
        {
            return label(target);
        }
        format!("{offset:+}")
    }
}

fn width_suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn source(src: Source) -> String {
    match src {
        Source::Reg(reg) => reg.to_string(),
        Source::Imm(imm) => imm.to_string(),
    }
}

fn memory(base: Reg, off: i16) -> String {
    if off == 0 {
        format!("[{base}]")
    } else {
        format!("[{base}{off:+}]")
    }
}

/// A 64-bit constant: small values in decimal (negative ones read back as two's complement),
/// the rest in hex.
fn constant(value: u64) -> String {
    let signed = value as i64;
    if i64::from(i32::MIN) <= signed && signed <= i64::from(i32::MAX) {
        signed.to_string()
    } else {
        format!("{value:#x}")
    }
}

impl fmt::Display for Syntax<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.instruction {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => write!(
                f,
                "{}{} {dst}, {}",
                op.mnemonic(),
                width_suffix(width),
                source(src)
            ),
            Instruction::Neg { width, dst } => write!(f, "neg{} {dst}", width_suffix(width)),
            Instruction::MovSx {
                width,
                dst,
                src,
                from_bits,
            } => write!(f, "movsx{from_bits}{} {dst}, {src}", width.bits()),
            Instruction::Endian { order, bits, dst } => {
                let name = match order {
                    ByteOrder::ToLe => "le",
                    ByteOrder::ToBe => "be",
                    ByteOrder::Swap => "bswap",
                };
                write!(f, "{name}{bits} {dst}")
            }
            Instruction::LoadImm64 {
                dst,
                kind: LoadImmKind::Imm,
                imm,
            } => write!(f, "lddw {dst}, {}", constant(imm)),
            Instruction::LoadImm64 { dst, kind, imm } => {
                let low = imm as u32 as i32;
                let high = (imm >> 32) as u32 as i32;
                write!(f, "lddw {dst}, {} {low}", load_imm_kind_keyword(kind))?;
                let has_offset = matches!(
                    kind,
                    LoadImmKind::MapValueByFd | LoadImmKind::MapValueByIndex
                );
                if high != 0 || has_offset {
                    write!(f, ", {high}")?;
                }
                Ok(())
            }
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let s = if sign_extend { "s" } else { "" };
                write!(f, "ldx{s}{} {dst}, {}", size.suffix(), memory(src, off))
            }
            Instruction::Store {
                size,
                dst,
                off,
                src: Source::Imm(imm),
            } => write!(f, "st{} {}, {imm}", size.suffix(), memory(dst, off)),
            Instruction::Store {
                size,
                dst,
                off,
                src: Source::Reg(src),
            } => write!(f, "stx{} {}, {src}", size.suffix(), memory(dst, off)),
            Instruction::Atomic {
                width,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                // xchg and cmpxchg always fetch; the keyword is only for the others.
                let fetch = if fetch && !matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg) {
                    "fetch "
                } else {
                    ""
                };
                write!(
                    f,
                    "lock {fetch}{}{} {}, {src}",
                    op.mnemonic(),
                    width_suffix(width),
                    memory(dst, off)
                )
            }
            Instruction::LoadPacket { size, mode, imm } => match mode {
                PacketMode::Abs => write!(f, "ldabs{} {imm}", size.suffix()),
                PacketMode::Ind(src) => write!(f, "ldind{} {src}, {imm}", size.suffix()),
            },
            Instruction::Ja { off, long } => {
                let name = if long { "ja32" } else { "ja" };
                write!(f, "{name} {}", self.target(i64::from(off)))
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => write!(
                f,
                "{}{} {dst}, {}, {}",
                cond.mnemonic(),
                width_suffix(width),
                source(src),
                self.target(i64::from(off))
            ),
            Instruction::Call(CallTarget::Helper(id)) => write!(f, "call {id}"),
            Instruction::Call(CallTarget::Local(off)) => {
                write!(f, "call local {}", self.target(i64::from(off)))
            }
            Instruction::Call(CallTarget::Kfunc(id)) => write!(f, "call runtime {id}"),
            Instruction::Callx(reg) => write!(f, "call {reg}"),
            Instruction::Exit => f.write_str("exit"),
        }
    }
}
