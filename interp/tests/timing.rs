//! A quick timing of the dispatch loop, ignored by default (run it optimised:
//! `cargo test --release -p xbpf-interp --test timing -- --ignored --nocapture`).
//! It prints nanoseconds per executed instruction; the benches issue measures properly.

use std::time::{Duration, Instant};
use xbpf_interp::Interpreter;
use xbpf_isa::{
    AluOp, Engine, ExecConfig, Instruction, JmpCond, MemSize, Program, Reg, RunInput, Source, Width,
};

fn reg(number: u8) -> Reg {
    Reg::new(number).unwrap()
}

fn alu(op: AluOp, dst: u8, src: Source) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op,
        dst: reg(dst),
        src,
    }
}

/// `body` runs `iterations` times in a loop counting r9 up; returns the program and the
/// number of instructions one run executes.
fn looped(body: &[Instruction], iterations: i32) -> (Program, u64) {
    let mut instructions = vec![
        alu(AluOp::Mov, 0, Source::Imm(0)),
        alu(AluOp::Mov, 9, Source::Imm(0)),
    ];
    instructions.extend_from_slice(body);
    instructions.push(alu(AluOp::Add, 9, Source::Imm(1)));
    instructions.push(Instruction::Jump {
        width: Width::W64,
        cond: JmpCond::Lt,
        dst: reg(9),
        src: Source::Imm(iterations),
        off: -(body.len() as i16) - 2,
    });
    instructions.push(Instruction::Exit);
    let slots = instructions.iter().flat_map(Instruction::encode).collect();
    let executed = 3 + (body.len() as u64 + 2) * iterations as u64;
    (Program::new(slots).unwrap(), executed)
}

fn time(name: &str, program: &Program, executed: u64, expected: u64, config: &ExecConfig) {
    let mut executable = Interpreter.prepare(program, config).unwrap();
    let mut memory = [0u8; 64];
    let input = RunInput::with_memory(&mut memory);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let r0 = executable.run(&input).unwrap();
        assert_eq!(std::hint::black_box(r0), expected, "{name}");
        best = best.min(start.elapsed());
    }
    println!(
        "{name:<40} {executed:>10} instructions, {:.2} ns per instruction",
        best.as_nanos() as f64 / executed as f64
    );
}

#[test]
#[ignore = "timing, run explicitly with --release"]
fn nanoseconds_per_instruction() {
    let alu_body = [
        alu(AluOp::Add, 0, Source::Reg(reg(9))),
        alu(AluOp::Xor, 0, Source::Imm(0x55)),
    ];
    let memory_body = [
        Instruction::Store {
            size: MemSize::DW,
            dst: Reg::R10,
            off: -8,
            src: Source::Reg(reg(9)),
        },
        Instruction::Load {
            size: MemSize::DW,
            sign_extend: false,
            dst: reg(2),
            src: Reg::R10,
            off: -8,
        },
        Instruction::Load {
            size: MemSize::W,
            sign_extend: false,
            dst: reg(3),
            src: Reg::R1,
            off: 4,
        },
        alu(AluOp::Add, 0, Source::Reg(reg(2))),
        alu(AluOp::Add, 0, Source::Reg(reg(3))),
    ];
    let fueled = ExecConfig {
        fuel: Some(u64::MAX),
        ..ExecConfig::default()
    };
    let default = ExecConfig::default();
    let (program, executed) = looped(&alu_body, 2_500_000);
    let expected = (0..2_500_000u64).fold(0, |r0, r9| (r0 + r9) ^ 0x55);
    time("alu loop", &program, executed, expected, &default);
    time("alu loop, fuel", &program, executed, expected, &fueled);
    // the input memory is zero, so r0 sums the loop counter
    let (program, executed) = looped(&memory_body, 1_500_000);
    let expected = (0..1_500_000u64).sum();
    time(
        "stack + input memory loop",
        &program,
        executed,
        expected,
        &default,
    );
    time(
        "stack + input memory loop, fuel",
        &program,
        executed,
        expected,
        &fueled,
    );
}
