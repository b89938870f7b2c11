//! Constant blinding: with it on, none of a program's constants appears in the generated code
//! (searched as the byte patterns and instruction fields that would hold them), while the
//! program computes the same results. Without it, every one of them does appear, which shows
//! that the searches find what they look for.

// These inspect generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use std::collections::HashSet;
use xbpf_interp::Interpreter;
use xbpf_isa::{
    AluOp, Engine, ExecConfig, Instruction, JmpCond, MemSize, Program, RunInput, Width,
};
use xbpf_jit::{Jit, JitProgram};

/// A constant the program uses: its value as the operation sees it.
#[derive(Clone, Copy, Debug)]
struct Constant {
    value: u64,
}

/// An immediate of a 64-bit operation (sign-extended).
const fn wide(value: i32) -> Constant {
    Constant {
        value: value as i64 as u64,
    }
}

/// An immediate of a 32-bit operation (its low 32 bits).
const fn narrow(value: i32) -> Constant {
    Constant {
        value: value as u32 as u64,
    }
}

const LDDW: u64 = 0x5152_5354_5556_5758;
/// A stack offset that needs more than a byte (in the frame, so it is valid).
const OFFSET: i16 = -0x1a3;

/// A program with a distinctive constant in every place a constant can be, and the constants.
/// None of them is a valid ARM64 arithmetic or bitmask immediate, so unblinded they all go
/// through move-wide sequences there, as they go into imm32 fields on x86-64.
fn program_and_constants() -> (Program, Vec<Constant>) {
    let constants = [
        wide(0x4142_4344),
        narrow(0x4546_4748),
        wide(0x6162_6364),
        narrow(0x6566_6768),
        wide(0x7172_7374),
        narrow(0x7576_7778),
        wide(0x797a_7b7c),
        wide(0x3132_3334),
        wide(0x3536_3738),
        narrow(0x3939_3a3b),
        wide(0x2a2b_2c2d),
        narrow(0x2e2f_3031),
        wide(0x5a5b_5c5d),
        wide(0x6a6b_6c6d),
        wide(0x7a7b_7c7d),
        wide(0x2122_2324),
        narrow(0x2526_2728),
        wide(0x4a4b_4c4d),
        narrow(0x4e4f_5051),
    ];
    let imm32 = |index: usize| imm(constants[index].value as i32);
    let instructions: Vec<Instruction> = vec![
        mov64(0, imm32(0)),
        alu(Width::W32, AluOp::Mov, 1, imm32(1)),
        lddw(2, LDDW),
        alu64(AluOp::Add, 0, imm32(2)),
        alu(Width::W32, AluOp::Sub, 1, imm32(3)),
        alu64(AluOp::And, 2, imm32(4)),
        alu(Width::W32, AluOp::Or, 1, imm32(5)),
        alu64(AluOp::Xor, 0, imm32(6)),
        alu64(AluOp::Mul, 0, imm32(7)),
        alu64(AluOp::Div, 0, imm32(8)),
        alu(Width::W32, AluOp::Mod, 1, imm32(9)),
        jump(Width::W64, JmpCond::Eq, 0, imm32(10), 0),
        jump(Width::W32, JmpCond::Sgt, 1, imm32(11), 0),
        jump(Width::W64, JmpCond::Set, 2, imm32(12), 0),
        st(MemSize::W, 10, -8, constants[13].value as i32),
        st(MemSize::DW, 10, -16, constants[14].value as i32),
        st(MemSize::B, 10, OFFSET, 0x11),
        ldx(MemSize::B, 3, 10, OFFSET),
        alu64(AluOp::Add, 0, reg(3)),
        ldx(MemSize::DW, 3, 10, -16),
        alu64(AluOp::Add, 0, reg(3)),
        alu64(AluOp::Add, 0, reg(1)),
        alu64(AluOp::Add, 0, reg(2)),
        // copies then adds, selected together as one three-operand add
        mov64(4, reg(0)),
        alu64(AluOp::Add, 4, imm32(17)),
        alu64(AluOp::Add, 0, reg(4)),
        alu(Width::W32, AluOp::Mov, 5, reg(1)),
        alu(Width::W32, AluOp::Add, 5, imm32(18)),
        alu64(AluOp::Add, 0, reg(5)),
        ja(2),
        // never run (there is no packet), but compiled
        ld_abs(MemSize::W, constants[15].value as i32),
        ld_ind(MemSize::W, 1, constants[16].value as i32),
        exit(),
    ];
    let mut constants = constants.to_vec();
    constants.push(Constant { value: LDDW });
    (program(&instructions), constants)
}

fn compile(program: &Program, blinding: bool, bounds_checks: bool) -> JitProgram {
    let config = ExecConfig {
        bounds_checks,
        ..ExecConfig::default()
    };
    Jit::new()
        .with_constant_blinding(blinding)
        .compile(program, &config)
        .unwrap()
}

/// The constants (or, for the 64-bit `lddw` constant, either of its halves) found in `code`.
#[cfg(target_arch = "x86_64")]
fn constants_in_code(code: &[u8], constants: &[Constant]) -> Vec<u64> {
    let contains = |pattern: &[u8]| code.windows(pattern.len()).any(|window| window == pattern);
    constants
        .iter()
        .filter(|constant| {
            let bytes = constant.value.to_le_bytes();
            contains(&bytes[..4]) || (constant.value > u64::from(u32::MAX) && contains(&bytes[4..]))
        })
        .map(|constant| constant.value)
        .collect()
}

/// The constants found in `code`: the values move-wide sequences (`movz`/`movn` then `movk`s
/// into the same register) leave in a register.
#[cfg(target_arch = "aarch64")]
fn constants_in_code(code: &[u8], constants: &[Constant]) -> Vec<u64> {
    let values = materialized_values(code);
    constants
        .iter()
        .filter(|constant| values.contains(&constant.value))
        .map(|constant| constant.value)
        .collect()
}

#[cfg(target_arch = "aarch64")]
fn materialized_values(code: &[u8]) -> HashSet<u64> {
    let mut values = HashSet::new();
    // The register and value of the move-wide sequence being followed.
    let mut current: Option<(u32, u64)> = None;
    for word in code.chunks_exact(4) {
        let word = u32::from_le_bytes(word.try_into().unwrap());
        let (rd, imm16, shift) = (
            word & 31,
            u64::from((word >> 5) & 0xffff),
            16 * ((word >> 21) & 3),
        );
        let width_mask = if word >> 31 == 1 {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        let chunk = imm16 << shift;
        match word & 0x7f80_0000 {
            // movz
            0x5280_0000 => {
                values.extend(current.map(|(_, value)| value));
                current = Some((rd, chunk));
            }
            // movn
            0x1280_0000 => {
                values.extend(current.map(|(_, value)| value));
                current = Some((rd, !chunk & width_mask));
            }
            // movk into the register being built
            0x7280_0000 if current.is_some_and(|(reg, _)| reg == rd) => {
                let (_, value) = current.unwrap();
                current = Some((rd, (value & !(0xffff << shift)) | chunk));
            }
            _ => values.extend(current.take().map(|(_, value)| value)),
        }
    }
    values.extend(current.map(|(_, value)| value));
    values
}

/// Whether `code` uses the stack offset as a displacement or an immediate.
#[cfg(target_arch = "x86_64")]
fn offset_in_code(code: &[u8]) -> bool {
    use iced_x86::{Decoder, DecoderOptions, OpKind};
    let offset = i64::from(OFFSET);
    Decoder::new(64, code, DecoderOptions::NONE)
        .iter()
        .any(|instruction| {
            let displacement = (0..instruction.op_count())
                .any(|op| instruction.op_kind(op) == OpKind::Memory)
                && instruction.memory_displacement64() as i64 == offset;
            let immediate = (0..instruction.op_count()).any(|op| {
                matches!(
                    instruction.op_kind(op),
                    OpKind::Immediate8to64 | OpKind::Immediate32to64 | OpKind::Immediate32
                ) && [offset, -offset].contains(&(instruction.immediate(op) as i64))
            });
            displacement || immediate
        })
}

/// Whether `code` uses the stack offset as an add/sub immediate, a load/store offset or a
/// materialized value.
#[cfg(target_arch = "aarch64")]
fn offset_in_code(code: &[u8]) -> bool {
    let magnitude = u32::from(OFFSET.unsigned_abs());
    let values = materialized_values(code);
    let as_value = [i64::from(OFFSET) as u64, u64::from(magnitude)]
        .iter()
        .any(|value| values.contains(value) || values.contains(&(*value as u32 as u64)));
    as_value
        || code.chunks_exact(4).any(|word| {
            let word = u32::from_le_bytes(word.try_into().unwrap());
            // add/sub (immediate), unshifted imm12
            let add_sub = word & 0x1fc0_0000 == 0x1100_0000 && (word >> 10) & 0xfff == magnitude;
            // ldur/stur: signed imm9
            let unscaled = word & 0x3b20_0c00 == 0x3800_0000
                && (((word >> 12) & 0x1ff) as i32) << 23 >> 23 == i32::from(OFFSET);
            add_sub || unscaled
        })
}

#[test]
fn blinded_code_contains_none_of_the_programs_constants() {
    let (program, constants) = program_and_constants();
    for bounds_checks in [true, false] {
        let plain = compile(&program, false, bounds_checks);
        assert_eq!(
            constants_in_code(plain.code(), &constants).len(),
            constants.len(),
            "without blinding every constant is in the code"
        );
        assert!(offset_in_code(plain.code()));
        let blinded = compile(&program, true, bounds_checks);
        assert_eq!(
            constants_in_code(blinded.code(), &constants),
            Vec::<u64>::new(),
            "bounds checks {bounds_checks}:\n{}",
            blinded.native_listing()
        );
        assert!(
            !offset_in_code(blinded.code()),
            "{}",
            blinded.native_listing()
        );
    }
}

#[test]
fn blinded_code_computes_what_the_interpreter_does() {
    let (program, _) = program_and_constants();
    let config = ExecConfig::default();
    let expected = Interpreter
        .prepare(&program, &config)
        .unwrap()
        .run(&RunInput::empty())
        .unwrap();
    for bounds_checks in [true, false] {
        for blinding in [false, true] {
            let mut compiled = compile(&program, blinding, bounds_checks);
            assert_eq!(
                xbpf_isa::Executable::run(&mut compiled, &RunInput::empty()),
                Ok(expected),
                "blinding {blinding}, bounds checks {bounds_checks}"
            );
        }
    }
}

#[test]
fn keys_differ_between_compilations() {
    let (program, _) = program_and_constants();
    let codes: HashSet<Vec<u8>> = (0..4)
        .map(|_| compile(&program, true, true).code().to_vec())
        .collect();
    assert_eq!(codes.len(), 4, "each compilation draws its own keys");
    let plain: HashSet<Vec<u8>> = (0..2)
        .map(|_| compile(&program, false, true).code().to_vec())
        .collect();
    assert_eq!(plain.len(), 1, "without blinding the code is deterministic");
}
