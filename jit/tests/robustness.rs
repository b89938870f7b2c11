//! Robustness: any bytes that validate compile without panicking, and compiled programs run
//! (with fuel and bounds checks, with and without constant blinding) without crashing the
//! host, whatever they do.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use arbitrary::Unstructured;
use proptest::prelude::*;
use std::sync::Arc;
use xbpf_isa::random::{helpers, random_program};
use xbpf_isa::{CallTarget, Engine, ExecConfig, Insn, Instruction, Program, Reg, RunInput};
use xbpf_jit::Jit;

fn config() -> ExecConfig {
    ExecConfig {
        fuel: Some(20_000),
        helpers: Arc::new(helpers()),
        ..ExecConfig::default()
    }
}

/// Compiles (if the bytes validate) and runs on a small memory, with and without constant
/// blinding; only a crash or a panic fails.
fn compile_and_run(bytes: &[u8]) {
    let Ok(program) = Program::from_bytes(bytes) else {
        return;
    };
    for blinding in [false, true] {
        let jit = Jit::new().with_constant_blinding(blinding);
        let Ok(mut executable) = jit.prepare(&program, &config()) else {
            return;
        };
        let mut memory = [0x5au8; 64];
        let _ = executable.run(&RunInput::with_memory(&mut memory));
    }
}

/// Opcodes that decode (with suitable fields), so that random slots often form valid programs.
const OPCODES: [u8; 40] = [
    0x07, 0x0f, 0x04, 0x0c, 0x17, 0x1f, 0x27, 0x37, 0x3f, 0x34, 0x97, 0x9f, 0x94, 0x67, 0x6f, 0x77,
    0x7f, 0xc7, 0xcf, 0xb7, 0xbf, 0xb4, 0xbc, 0xd4, 0xdc, 0xd7, 0x87, 0x61, 0x69, 0x71, 0x79, 0x81,
    0x62, 0x7b, 0x73, 0xdb, 0xc3, 0x15, 0x2e, 0x85,
];

fn slot() -> impl Strategy<Value = Insn> {
    (
        prop_oneof![4 => proptest::sample::select(OPCODES.to_vec()), 1 => any::<u8>()],
        0u8..=10,
        0u8..=10,
        prop_oneof![3 => -8i16..8, 1 => any::<i16>()],
        prop_oneof![
            2 => -8i32..70,
            1 => proptest::sample::select(vec![0x01, 0x40, 0x41, 0xe1, 0xf1, 16, 32, 64, -1, i32::MIN]),
            1 => any::<i32>()
        ],
    )
        .prop_map(|(opcode, dst, src, off, imm)| Insn::new(opcode, dst, src, off, imm))
}

/// Keeps the slots that decode on their own and do not write r10, appends an exit, and points
/// branches whose target is outside the program at the next instruction: a valid program.
fn repair(slots: Vec<Insn>) -> Vec<Insn> {
    let mut instructions: Vec<Instruction> = slots
        .into_iter()
        .filter_map(|slot| match Instruction::decode(slot, None) {
            Ok((instruction, 1)) if instruction.written_register() != Some(Reg::R10) => {
                Some(instruction)
            }
            _ => None,
        })
        .collect();
    instructions.push(Instruction::Exit);
    let len = instructions.len() as i64;
    for (pc, instruction) in instructions.iter_mut().enumerate() {
        let Some(offset) = instruction.branch_offset() else {
            continue;
        };
        let target = pc as i64 + 1 + offset;
        if (0..len).contains(&target) {
            continue;
        }
        match instruction {
            Instruction::Ja { off, .. } => *off = 0,
            Instruction::Jump { off, .. } => *off = 0,
            Instruction::Call(CallTarget::Local(off)) => *off = 0,
            _ => {}
        }
    }
    instructions.iter().flat_map(|i| i.encode()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        compile_and_run(&bytes);
        // the same bytes with an exit appended are valid more often
        let mut with_exit = bytes[..bytes.len() / 8 * 8].to_vec();
        with_exit.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
        compile_and_run(&with_exit);
    }

    #[test]
    fn random_slots_never_crash(slots in proptest::collection::vec(slot(), 0..64)) {
        let slots = repair(slots);
        prop_assert!(Program::new(slots.clone()).is_ok());
        compile_and_run(&xbpf_isa::insn::slots_to_bytes(&slots));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn generated_programs_run_the_same_in_both_calling_conventions(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096)
    ) {
        let case = random_program(&mut Unstructured::new(&bytes)).unwrap();
        let config = ExecConfig {
            fuel: case.fuel.or(Some(case.max_steps + 1)),
            helpers: Arc::new(helpers()),
            ..ExecConfig::default()
        };
        let mut outcomes = Vec::new();
        for convention in [xbpf_jit::CallingConvention::SystemV, xbpf_jit::CallingConvention::Windows] {
            let mut executable = Jit::with_calling_convention(convention)
                .prepare(&case.program, &config)
                .unwrap();
            let mut memory = common::AlignedMemory::new(&case.memory);
            let result = executable.run(&RunInput::with_memory(memory.bytes_mut()));
            let result = result.map_err(|error| common::without_addresses(&error));
            outcomes.push((result, memory.bytes_mut().to_vec()));
        }
        prop_assert_eq!(&outcomes[0], &outcomes[1]);
    }
}

#[test]
fn generated_programs_never_exceed_their_step_bound() {
    for seed in 0..300u64 {
        let bytes = common::pseudo_random_bytes(seed, 4096);
        let case = random_program(&mut Unstructured::new(&bytes)).unwrap();
        let config = ExecConfig {
            fuel: Some(case.max_steps),
            helpers: Arc::new(helpers()),
            ..ExecConfig::default()
        };
        let mut executable = Jit::new().prepare(&case.program, &config).unwrap();
        let mut memory = common::AlignedMemory::new(&case.memory);
        let result = executable.run(&RunInput::with_memory(memory.bytes_mut()));
        assert!(
            !matches!(result, Err(xbpf_isa::ExecError::OutOfFuel { .. })),
            "seed {seed}: more than {} steps",
            case.max_steps
        );
    }
}
