//! A validated program: every slot decoded, every jump and call target inside the program and
//! on an instruction boundary, no write to r10, no way to fall off the end.
//!
//! Engines take only `Program`s, so they never see an instruction they cannot execute.

use crate::insn::{Insn, slots_from_bytes};
use crate::instruction::{CallTarget, DecodeError, Instruction, Reg};
use crate::prelude::*;
use alloc::collections::BTreeSet;

/// Why a program is not valid. Every variant names the instruction (slot index, `pc`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// No instruction at all.
    #[error("the program is empty")]
    Empty,
    /// The bytes are not a whole number of 8-byte slots.
    #[error("the program is {len} bytes long, not a multiple of 8 ({trailing} trailing bytes)")]
    PartialSlot {
        /// The length in bytes.
        len: usize,
        /// The bytes after the last whole slot.
        trailing: usize,
    },
    /// More slots than the limit.
    #[error("the program has {len} instructions, more than the limit of {limit}")]
    TooLong {
        /// The number of slots.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A slot that does not decode.
    #[error("instruction {pc}: {source}")]
    Decode {
        /// The slot.
        pc: usize,
        /// Why it does not decode.
        #[source]
        source: DecodeError,
    },
    /// An instruction that writes r10.
    #[error("instruction {pc}: writes r10, which is read-only")]
    WritesFramePointer {
        /// The instruction.
        pc: usize,
    },
    /// A jump or local call to a pc outside the program.
    #[error("instruction {pc}: {what} target {target} is outside the program (0 to {last})")]
    TargetOutOfRange {
        /// The jump or call.
        pc: usize,
        /// `jump` or `call`.
        what: &'static str,
        /// The target pc.
        target: i64,
        /// The last valid pc.
        last: usize,
    },
    /// A jump or local call into the middle of an `lddw`.
    #[error("instruction {pc}: {what} target {target} is the second slot of the lddw at {}", target - 1)]
    TargetInsideLddw {
        /// The jump or call.
        pc: usize,
        /// `jump` or `call`.
        what: &'static str,
        /// The target pc.
        target: usize,
    },
    /// The last instruction can fall through past the end of the program.
    #[error(
        "instruction {pc}: execution can fall off the end of the program (last instruction is not exit or ja)"
    )]
    FallsOffEnd {
        /// The last instruction.
        pc: usize,
    },
}

/// Largest program accepted by default: Linux's limit for privileged programs.
pub const DEFAULT_MAX_INSNS: usize = 1_000_000;

/// A validated eBPF program.
///
/// Instructions are indexed by slot (`pc`); the second slot of an `lddw` holds `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    slots: Vec<Insn>,
    decoded: Vec<Option<Instruction>>,
    functions: BTreeSet<usize>,
    fuel_blocks: Vec<u32>,
}

impl Program {
    /// Validates raw little-endian bytecode.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, ValidationError> {
        Program::new(slots_from_bytes(bytes)?)
    }

    /// Validates a sequence of slots, with the default size limit.
    pub fn new(slots: Vec<Insn>) -> Result<Program, ValidationError> {
        Program::with_limit(slots, DEFAULT_MAX_INSNS)
    }

    /// Validates a sequence of slots, rejecting programs longer than `max_slots`.
    pub fn with_limit(slots: Vec<Insn>, max_slots: usize) -> Result<Program, ValidationError> {
        if slots.is_empty() {
            return Err(ValidationError::Empty);
        }
        if slots.len() > max_slots {
            return Err(ValidationError::TooLong {
                len: slots.len(),
                limit: max_slots,
            });
        }
        let decoded = decode_all(&slots)?;
        let mut functions = BTreeSet::from([0]);
        for (pc, instruction) in decoded.iter().enumerate() {
            let Some(instruction) = instruction else {
                continue;
            };
            if instruction.written_register() == Some(Reg::R10) {
                return Err(ValidationError::WritesFramePointer { pc });
            }
            if let Some(offset) = instruction.branch_offset() {
                let what = match instruction {
                    Instruction::Call(_) => "call",
                    _ => "jump",
                };
                let target = check_target(&decoded, pc, offset, what)?;
                if let Instruction::Call(CallTarget::Local(_)) = instruction {
                    functions.insert(target);
                }
            }
        }
        let last_pc = decoded.len() - 1 - usize::from(decoded.last() == Some(&None));
        match decoded[last_pc] {
            Some(Instruction::Exit) | Some(Instruction::Ja { .. }) => {}
            _ => return Err(ValidationError::FallsOffEnd { pc: last_pc }),
        }
        let fuel_blocks = fuel_blocks(&decoded);
        Ok(Program {
            slots,
            decoded,
            functions,
            fuel_blocks,
        })
    }

    /// The raw slots.
    pub fn slots(&self) -> &[Insn] {
        &self.slots
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: a valid program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The instruction at `pc`, or `None` for the second slot of an `lddw` or past the end.
    pub fn instruction(&self, pc: usize) -> Option<&Instruction> {
        self.decoded.get(pc).and_then(Option::as_ref)
    }

    /// Every instruction with its pc, in order.
    pub fn instructions(&self) -> impl Iterator<Item = (usize, &Instruction)> {
        self.decoded
            .iter()
            .enumerate()
            .filter_map(|(pc, instruction)| instruction.as_ref().map(|i| (pc, i)))
    }

    /// Entry points of functions: pc 0 and every local call target.
    pub fn functions(&self) -> &BTreeSet<usize> {
        &self.functions
    }

    /// Fuel accounting blocks: for a pc that starts a block, the number of instructions in the
    /// block (an `lddw` counts once); 0 for any other pc.
    ///
    /// Every engine charges fuel when it enters a block, for the whole block, so all engines
    /// run out of fuel at the same pc. Blocks start at pc 0, at jump and call targets and right
    /// after any jump, call or exit; they end before the next block start.
    pub fn fuel_block_len(&self, pc: usize) -> u32 {
        self.fuel_blocks.get(pc).copied().unwrap_or(0)
    }

    /// Bytecode of the program (little-endian slots).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::insn::slots_to_bytes(&self.slots)
    }
}

fn decode_all(slots: &[Insn]) -> Result<Vec<Option<Instruction>>, ValidationError> {
    let mut decoded = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while pc < slots.len() {
        let (instruction, used) = Instruction::decode(slots[pc], slots.get(pc + 1).copied())
            .map_err(|source| ValidationError::Decode { pc, source })?;
        decoded.push(Some(instruction));
        if used == 2 {
            decoded.push(None);
        }
        pc += used;
    }
    Ok(decoded)
}

fn check_target(
    decoded: &[Option<Instruction>],
    pc: usize,
    offset: i64,
    what: &'static str,
) -> Result<usize, ValidationError> {
    let target = pc as i64 + 1 + offset;
    if target < 0 || target >= decoded.len() as i64 {
        return Err(ValidationError::TargetOutOfRange {
            pc,
            what,
            target,
            last: decoded.len() - 1,
        });
    }
    let target = target as usize;
    if decoded[target].is_none() {
        return Err(ValidationError::TargetInsideLddw { pc, what, target });
    }
    Ok(target)
}

/// Whether control can leave `instruction` other than by falling through to the next one.
pub fn ends_block(instruction: &Instruction) -> bool {
    matches!(
        instruction,
        Instruction::Ja { .. }
            | Instruction::Jump { .. }
            | Instruction::Call(_)
            | Instruction::Callx(_)
            | Instruction::Exit
    )
}

fn fuel_blocks(decoded: &[Option<Instruction>]) -> Vec<u32> {
    let mut leader = vec![false; decoded.len()];
    leader[0] = true;
    for (pc, instruction) in decoded.iter().enumerate() {
        let Some(instruction) = instruction else {
            continue;
        };
        if let Some(offset) = instruction.branch_offset() {
            leader[(pc as i64 + 1 + offset) as usize] = true;
        }
        if ends_block(instruction) && pc + 1 < decoded.len() {
            leader[pc + 1] = true;
        }
    }
    let mut lengths = vec![0u32; decoded.len()];
    let mut current = 0;
    for (pc, instruction) in decoded.iter().enumerate() {
        if leader[pc] {
            current = pc;
        }
        if instruction.is_some() {
            lengths[current] += 1;
        }
    }
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::op;

    fn exit() -> Insn {
        Insn::new(op::EXIT, 0, 0, 0, 0)
    }

    fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0xb7, dst, 0, 0, imm)
    }

    #[test]
    fn empty_program_is_rejected() {
        assert_eq!(Program::new(vec![]), Err(ValidationError::Empty));
    }

    #[test]
    fn falling_off_the_end_is_rejected() {
        assert_eq!(
            Program::new(vec![mov_imm(0, 1)]),
            Err(ValidationError::FallsOffEnd { pc: 0 })
        );
        // a conditional jump at the end can fall through
        assert!(matches!(
            Program::new(vec![exit(), Insn::new(0x15, 0, 0, -2, 0)]),
            Err(ValidationError::FallsOffEnd { pc: 1 })
        ));
    }

    #[test]
    fn writing_r10_is_rejected() {
        assert_eq!(
            Program::new(vec![mov_imm(10, 1), exit()]),
            Err(ValidationError::WritesFramePointer { pc: 0 })
        );
        // a fetching atomic writes its source register
        let fetch_add = Insn::new(0xdb, 1, 10, 0, 0x01);
        assert_eq!(
            Program::new(vec![fetch_add, exit()]),
            Err(ValidationError::WritesFramePointer { pc: 0 })
        );
        // storing through r10 is fine
        assert!(Program::new(vec![Insn::new(0x7a, 10, 0, -8, 1), exit()]).is_ok());
    }

    #[test]
    fn jump_targets_must_be_in_range_and_not_inside_lddw() {
        assert!(matches!(
            Program::new(vec![Insn::new(0x05, 0, 0, 5, 0), exit()]),
            Err(ValidationError::TargetOutOfRange { pc: 0, .. })
        ));
        let program = vec![
            Insn::new(0x05, 0, 0, 1, 0),
            Insn::new(op::LDDW, 0, 0, 0, 1),
            Insn::new(0, 0, 0, 0, 0),
            exit(),
        ];
        assert_eq!(
            Program::new(program),
            Err(ValidationError::TargetInsideLddw {
                pc: 0,
                what: "jump",
                target: 2
            })
        );
    }

    #[test]
    fn truncated_lddw_is_rejected() {
        assert!(matches!(
            Program::new(vec![exit(), Insn::new(op::LDDW, 0, 0, 0, 1)]),
            Err(ValidationError::Decode {
                pc: 1,
                source: DecodeError::TruncatedLddw
            })
        ));
    }

    #[test]
    fn fuel_blocks_split_at_jumps_and_targets() {
        // 0: mov; 1: jeq +1; 2: mov; 3: exit
        let program = Program::new(vec![
            mov_imm(0, 0),
            Insn::new(0x15, 0, 0, 1, 0),
            mov_imm(0, 1),
            exit(),
        ])
        .unwrap();
        let lengths: Vec<u32> = (0..4).map(|pc| program.fuel_block_len(pc)).collect();
        assert_eq!(lengths, vec![2, 0, 1, 1]);
    }

    #[test]
    fn local_call_targets_are_functions() {
        let program = Program::new(vec![
            Insn::new(op::CALL, 0, 1, 0, 1),
            exit(),
            mov_imm(0, 3),
            exit(),
        ])
        .unwrap();
        assert_eq!(
            program.functions().iter().copied().collect::<Vec<_>>(),
            vec![0, 2]
        );
    }
}
