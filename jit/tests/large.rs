//! Programs of well over 100,000 instructions, whose native code spans several MiB: jumps of
//! every kind (unconditional, conditional on flags, on zero, on one bit), local calls and the
//! out-of-line paths of traps and bounds checks all reach across it (ARM64's conditional
//! branches reach only +-1 MiB or +-32 KiB), and 64-bit constants are everywhere. Results,
//! memory and errors must match the interpreter.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use xbpf_interp::Interpreter;
use xbpf_isa::{
    AluOp, AtomicOp, Engine, ExecConfig, ExecError, Instruction, JmpCond, MemSize, Program,
    RunInput, Width,
};

/// A loop block of `count` groups of 3 instructions, dense in native code: a checked atomic
/// fetch-add and a checked atomic xor through r1 (the input memory) around an xor with r8.
fn loop_block(count: usize) -> Vec<Instruction> {
    let mut block = Vec::with_capacity(count * 3);
    for index in 0..count {
        let offset = (index % 2) as i16 * 8;
        block.extend([
            atomic(Width::W64, AtomicOp::Add, true, 1, 6, offset),
            alu64(AluOp::Xor, 6, reg(8)),
            atomic(Width::W32, AtomicOp::Xor, false, 1, 6, offset + 4),
        ]);
    }
    block
}

/// A block of `count` groups of 6 instructions (7 slots) with a 64-bit constant each, checked
/// loads and stores through r1 and a single-bit test jumping over one instruction.
fn function_block(count: usize) -> Vec<Instruction> {
    let mut block = Vec::with_capacity(count * 6);
    for index in 0..count {
        let constant = (index as u64 ^ 0x5555).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let offset = (index % 3) as i16 * 8;
        block.extend([
            lddw(8, constant),
            alu64(AluOp::Xor, 6, reg(8)),
            stx(MemSize::DW, 1, offset, 6),
            jump(Width::W64, JmpCond::Set, 6, imm(1 << (index % 31)), 1),
            ldx(MemSize::W, 9, 1, offset + 4),
            alu64(AluOp::Add, 6, reg(9)),
        ]);
    }
    block
}

/// Slots taken by `instructions` (an lddw takes two).
fn slots(instructions: &[Instruction]) -> usize {
    instructions.iter().map(Instruction::slots).sum()
}

/// The offset of a jump at pc `from` to pc `to`.
fn offset(from: usize, to: usize) -> i64 {
    to as i64 - from as i64 - 1
}

fn short_offset(from: usize, to: usize) -> i16 {
    i16::try_from(offset(from, to)).expect("conditional jump offsets fit in 16 bits")
}

/// Where the parts of [`far_program`] are.
struct Layout {
    top: usize,
    odd: usize,
    end: usize,
}

/// A loop over two blocks taken alternately by the parity of a counter in r7, then a far local
/// call, with far unconditional jumps in both directions on the way:
///
/// ```text
///         r6 = 0; r7 = 5; r8 = 64-bit constant
///   top:  jset r7, 1, odd        (one bit: tbnz; far forward)
///         jeq r7, 0, end         (cbz; far forward)
///         jsgt r7, 1000, end     (never taken; b.cond far forward)
///         <even loop block>
///         ja join
///   odd:  <odd loop block>
///   join: r7 -= 1
///         jne r7, 0, top         (cbnz; far backward)
///   end:  gotol tail             (far forward)
///   back: call function          (far forward)
///         r0 += r6 and a word of the memory; exit
///   function: <function block>; r0 = r6; exit
///   tail: gotol back             (far backward)
/// ```
fn far_program(loop_groups: usize, function_groups: usize) -> (Program, Layout) {
    let even = loop_block(loop_groups);
    let odd = loop_block(loop_groups);
    let function = function_block(function_groups);
    let top = 4;
    let odd_start = top + 3 + slots(&even) + 1;
    let join = odd_start + slots(&odd);
    let end = join + 2;
    let back = end + 1;
    let function_start = back + 5;
    let tail = function_start + slots(&function) + 2;
    let mut program = vec![
        mov64(6, imm(0)),
        mov64(7, imm(5)),
        lddw(8, 0x0123_4567_89ab_cdef),
    ];
    program.extend([
        jump(
            Width::W64,
            JmpCond::Set,
            7,
            imm(1),
            short_offset(top, odd_start),
        ),
        jump(
            Width::W64,
            JmpCond::Eq,
            7,
            imm(0),
            short_offset(top + 1, end),
        ),
        jump(
            Width::W64,
            JmpCond::Sgt,
            7,
            imm(1000),
            short_offset(top + 2, end),
        ),
    ]);
    program.extend(even);
    program.push(ja(offset(odd_start - 1, join) as i32));
    program.extend(odd);
    program.push(alu64(AluOp::Sub, 7, imm(1)));
    program.push(jump(
        Width::W64,
        JmpCond::Ne,
        7,
        imm(0),
        short_offset(join + 1, top),
    ));
    program.push(gotol(offset(end, tail)));
    program.extend([
        call_local(offset(back, function_start) as i32),
        alu64(AluOp::Add, 0, reg(6)),
        ldx(MemSize::DW, 2, 1, 16),
        alu64(AluOp::Add, 0, reg(2)),
        exit(),
    ]);
    program.extend(function);
    program.extend([mov64(0, reg(6)), exit()]);
    program.push(gotol(offset(tail, back)));
    assert_eq!(slots(&program), tail + 1);
    (
        common::program(&program),
        Layout {
            top,
            odd: odd_start,
            end,
        },
    )
}

fn gotol(offset: i64) -> Instruction {
    Instruction::Ja {
        off: i32::try_from(offset).unwrap(),
        long: true,
    }
}

fn run(engine: &dyn Engine, program: &Program, config: &ExecConfig, memory_len: usize) -> Outcome {
    let mut memory = AlignedMemory::new(&vec![0x5a; memory_len]);
    let result = engine
        .prepare(program, config)
        .unwrap()
        .run(&RunInput::with_memory(memory.bytes_mut()))
        .map_err(|error| without_addresses(&error));
    (result, memory.bytes_mut().to_vec())
}

type Outcome = (Result<u64, ExecError>, Vec<u8>);

const LOOP_GROUPS: usize = 5_000;
const FUNCTION_GROUPS: usize = 15_000;

#[test]
fn programs_of_over_100k_instructions_with_far_jumps_run_like_the_interpreter() {
    let (program, layout) = far_program(LOOP_GROUPS, FUNCTION_GROUPS);
    let instructions = program.instructions().count();
    assert!(instructions > 100_000, "{instructions} instructions");
    let config = ExecConfig::default();
    let expected = run(&Interpreter, &program, &config, 32);
    assert!(expected.0.is_ok(), "{:?}", expected.0);
    for (name, jit) in isa_variants() {
        let compiled = jit.compile(&program, &config).unwrap();
        let native = |pc| compiled.native_offset(pc).unwrap();
        // The loop's conditional jumps span more than ARM64's +-1 MiB (tbz: +-32 KiB); the
        // x86-64 code is denser, but its rel32 jumps have no such limit.
        if cfg!(target_arch = "aarch64") {
            assert!(native(layout.end) - native(layout.top) > 1 << 20, "{name}");
            assert!(native(layout.odd) - native(layout.top) > 32 << 10, "{name}");
        } else {
            assert!(native(layout.end) - native(layout.top) > 64 << 10, "{name}");
        }
        assert_eq!(run(&jit, &program, &config, 32), expected, "{name}");
    }
}

#[test]
fn traps_far_from_their_out_of_line_code_report_the_right_pc() {
    let (program, _) = far_program(LOOP_GROUPS, FUNCTION_GROUPS);
    // Too little memory: an atomic at offset 8 is out of bounds, checked out of line
    // megabytes away.
    let short = run(&Interpreter, &program, &ExecConfig::default(), 12);
    assert!(
        matches!(short.0, Err(ExecError::OutOfBounds { .. })),
        "{short:?}"
    );
    // Fuel runs out at a block start deep inside the loop.
    let fuel = ExecConfig {
        fuel: Some(40_000),
        ..ExecConfig::default()
    };
    let out_of_fuel = run(&Interpreter, &program, &fuel, 32);
    assert!(
        matches!(out_of_fuel.0, Err(ExecError::OutOfFuel { pc }) if pc > 1_000),
        "{:?}",
        out_of_fuel.0
    );
    for (name, jit) in isa_variants() {
        assert_eq!(
            run(&jit, &program, &ExecConfig::default(), 12),
            short,
            "{name}"
        );
        assert_eq!(run(&jit, &program, &fuel, 32), out_of_fuel, "{name}");
    }
}
