//! Sequences the back end selects together (widening shift pairs, 32-bit divisions of values
//! known to fit in 32 bits, a conditional jump over a `ja`, a copy then an add, a copy only a
//! jump reads, left out) compute exactly what the interpreter computes, on edge values, with
//! and without fuel, and when a jump enters them in the middle.

// These run generated code: only where a back end exists (x86-64 until ARM64 lands).
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use xbpf_interp::Interpreter;
use xbpf_isa::{
    AluOp, Engine, ExecConfig, Instruction, JmpCond, MemSize, Program, RunInput, Width,
};
use xbpf_jit::Jit;

const VALUES: [u64; 12] = [
    0,
    1,
    7,
    0x7f,
    0x80,
    0xffff,
    0x8000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_2345_6789,
    0xfedc_ba98_7654_3210,
];

/// Runs on both engines with r2 = `r2`, r3 = `r3` and r1 pointing to 8 bytes of memory
/// holding `r2`; both must agree (with and without a fuel limit).
fn agree(instructions: &[Instruction], r2: u64, r3: u64) {
    let program = program(instructions);
    for fuel in [None, Some(10_000)] {
        let config = ExecConfig {
            fuel,
            ..ExecConfig::default()
        };
        let results: Vec<_> = [
            Box::new(Interpreter) as Box<dyn Engine>,
            Box::new(Jit::new()),
        ]
        .iter()
        .map(|engine| {
            let mut memory = r2.to_le_bytes();
            let mut input = RunInput::with_memory(&mut memory);
            input.args[1] = r2;
            input.args[2] = r3;
            engine.prepare(&program, &config).unwrap().run(&input)
        })
        .collect();
        assert_eq!(
            results[0], results[1],
            "{instructions:?} on r2 = {r2:#x}, r3 = {r3:#x}, fuel {fuel:?}"
        );
    }
}

fn lsh(dst: u8, count: i32) -> Instruction {
    alu64(AluOp::Lsh, dst, imm(count))
}

fn right(op: AluOp, dst: u8, count: i32) -> Instruction {
    alu64(op, dst, imm(count))
}

#[test]
fn widening_pairs_and_triples() {
    for value in VALUES {
        for (op, count) in [
            (AluOp::Rsh, 32),
            (AluOp::Arsh, 32),
            (AluOp::Arsh, 48),
            (AluOp::Arsh, 56),
            (AluOp::Rsh, 48),
            (AluOp::Arsh, 40),
        ] {
            // in place, into r0
            agree(
                &[mov64(0, reg(2)), lsh(0, count), right(op, 0, count), exit()],
                value,
                0,
            );
            agree(
                &[lsh(2, count), right(op, 2, count), mov64(0, reg(2)), exit()],
                value,
                0,
            );
            // a jump over the mov into the shifts, and one into the right shift
            agree(
                &[
                    mov64(0, reg(3)),
                    jump(Width::W64, JmpCond::Gt, 2, imm(0x1000), 1),
                    mov64(0, reg(2)),
                    lsh(0, count),
                    right(op, 0, count),
                    exit(),
                ],
                value,
                value ^ 0xabcd,
            );
            agree(
                &[
                    mov64(0, reg(2)),
                    jump(Width::W64, JmpCond::Gt, 2, imm(0x1000), 1),
                    lsh(0, count),
                    right(op, 0, count),
                    exit(),
                ],
                value,
                0,
            );
        }
    }
}

#[test]
fn divisions_of_values_below_two_to_the_32() {
    for dividend in VALUES {
        for divisor in VALUES {
            for op in [AluOp::Div, AluOp::Mod] {
                // zero-extended by a shift pair, a 32-bit mov, a 32-bit load
                agree(
                    &[
                        lsh(2, 32),
                        right(AluOp::Rsh, 2, 32),
                        alu(Width::W32, AluOp::Mov, 3, reg(3)),
                        alu64(op, 2, reg(3)),
                        mov64(0, reg(2)),
                        exit(),
                    ],
                    dividend,
                    divisor,
                );
                agree(
                    &[
                        ldx(MemSize::W, 2, 1, 0),
                        alu(Width::W32, AluOp::Mov, 3, reg(3)),
                        alu64(op, 2, reg(3)),
                        mov64(0, reg(2)),
                        exit(),
                    ],
                    dividend,
                    divisor,
                );
                // only the divisor is known: the 64-bit divide
                agree(
                    &[
                        alu(Width::W32, AluOp::Mov, 3, reg(3)),
                        alu64(op, 2, reg(3)),
                        mov64(0, reg(2)),
                        exit(),
                    ],
                    dividend,
                    divisor,
                );
                // known on one path only: a jump target forgets what was known
                agree(
                    &[
                        jump(Width::W64, JmpCond::Ne, 2, imm(7), 2),
                        lsh(2, 32),
                        right(AluOp::Rsh, 2, 32),
                        alu(Width::W32, AluOp::Mov, 3, reg(3)),
                        alu64(op, 2, reg(3)),
                        mov64(0, reg(2)),
                        exit(),
                    ],
                    dividend,
                    divisor,
                );
            }
        }
    }
}

#[test]
fn programs_past_the_second_pass_limit_jump_both_ways() {
    // An outer loop around a long body (backward and forward jumps too far for rel8) that
    // holds a short inner loop (a backward jump that fits) and a short forward skip.
    let mut body = vec![mov64(0, imm(0)), mov64(1, imm(0))];
    let outer = body.len();
    for i in 0..3000 {
        body.push(alu64(AluOp::Add, 0, imm(i % 7)));
    }
    body.push(mov64(2, imm(0)));
    let inner = body.len();
    body.push(alu64(AluOp::Add, 2, imm(1)));
    body.push(alu64(AluOp::Xor, 0, reg(2)));
    body.push(jump(Width::W64, JmpCond::Lt, 2, imm(10), -3));
    assert_eq!(body.len() - 1 - inner, 2);
    body.push(jump(Width::W64, JmpCond::Eq, 1, imm(3), 1));
    body.push(alu64(AluOp::Mul, 0, imm(3)));
    body.push(alu64(AluOp::Add, 1, imm(1)));
    let to_end = 3000i16;
    body.push(jump(Width::W64, JmpCond::Gt, 1, imm(5), to_end));
    let back = outer as i32 - body.len() as i32 - 1;
    body.push(ja(back));
    body.extend((0..to_end).map(|_| alu64(AluOp::Sub, 0, imm(1))));
    body.push(exit());
    assert!(body.len() > 4096);
    agree(&body, 0, 0);
}

#[test]
fn conditional_jumps_over_ja() {
    for cond in JmpCond::ALL {
        for width in [Width::W64, Width::W32] {
            for src in [reg(3), imm(0x7fff_ffff), imm(-1), imm(0x80)] {
                // r0 = 2 when the condition holds, 3 when the `ja` is taken.
                let forward = [
                    mov64(0, imm(1)),
                    jump(width, cond, 2, src, 1),
                    ja(2),
                    mov64(0, imm(2)),
                    exit(),
                    mov64(0, imm(3)),
                    exit(),
                ];
                // The same with another jump into the `ja`, which keeps the pair apart.
                let entered = [
                    jump(Width::W64, JmpCond::Eq, 3, imm(1), 2),
                    mov64(0, imm(7)),
                    jump(width, cond, 2, src, 1),
                    ja(2),
                    mov64(0, imm(2)),
                    exit(),
                    alu64(AluOp::Add, 0, imm(10)),
                    exit(),
                ];
                // A loop whose latch is the pair: counts r0 up until the condition holds
                // (at most 40 times).
                let latch = [
                    mov64(0, imm(0)),
                    alu64(AluOp::Add, 0, imm(1)),
                    alu64(AluOp::Add, 2, imm(0x1234_5678)),
                    jump(Width::W64, JmpCond::Ge, 0, imm(40), 2),
                    jump(width, cond, 2, src, 1),
                    ja(-5),
                    exit(),
                ];
                for r2 in VALUES {
                    for r3 in [0, 1, r2, VALUES[9]] {
                        agree(&forward, r2, r3);
                        agree(&entered, r2, r3);
                        agree(&latch, r2, r3);
                    }
                }
            }
        }
    }
}

#[test]
fn copies_then_adds() {
    let widths = [
        (Width::W64, Width::W64),
        (Width::W32, Width::W32),
        (Width::W64, Width::W32),
        (Width::W32, Width::W64),
    ];
    for (copy_width, add_width) in widths {
        for dst in [0, 4] {
            let addends = [
                reg(3),
                reg(dst),
                imm(0),
                imm(1),
                imm(-1),
                imm(-1_048_575),
                imm(i32::MAX),
                imm(i32::MIN),
            ];
            for addend in addends {
                let copy = alu(copy_width, AluOp::Mov, dst, reg(2));
                let add = alu(add_width, AluOp::Add, dst, addend);
                let result = mov64(0, reg(dst));
                let straight = [copy, add, result, exit()];
                // A jump into the add keeps the pair apart.
                let entered = [
                    jump(Width::W64, JmpCond::Eq, 3, imm(1), 1),
                    copy,
                    add,
                    result,
                    exit(),
                ];
                for r2 in VALUES {
                    for r3 in [0, 1, r2, VALUES[9]] {
                        agree(&straight, r2, r3);
                        agree(&entered, r2, r3);
                    }
                }
            }
        }
    }
    // An address computed from the frame pointer, then used.
    let frame = [
        stx(MemSize::DW, 10, -16, 2),
        mov64(4, reg(10)),
        alu64(AluOp::Add, 4, imm(-16)),
        ldx(MemSize::DW, 0, 4, 0),
        mov64(5, reg(10)),
        mov64(3, imm(-16)),
        alu64(AluOp::Add, 5, reg(3)),
        ldx(MemSize::W, 3, 5, 4),
        alu64(AluOp::Add, 0, reg(3)),
        exit(),
    ];
    for r2 in VALUES {
        agree(&frame, r2, 0);
    }
}

#[test]
fn copies_only_a_jump_reads() {
    use xbpf_isa::assemble;
    let programs = [
        // left out: r4 is dead after the jump (strcmp's shape)
        "mov %r4, %r2\nmov %r0, %r2\njne %r4, %r3, +2\nmov %r0, 7\nexit\nadd %r0, 1\nexit",
        // the copy as the jump's source, as both operands, in a 32-bit jump, two copies
        "mov %r4, %r2\njgt %r3, %r4, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        "mov %r4, %r2\njeq %r4, %r4, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        "mov %r4, %r2\njslt32 %r4, %r3, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        "mov %r4, %r2\nmov %r5, %r3\njsgt %r4, %r5, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        // the frame pointer as the source
        "mov %r4, %r10\njne %r4, %r10, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        // a jump over a ja, an lddw and a load in between
        "mov %r4, %r2\nlddw %r5, 0x123456789\nldxb %r6, [%r1]\njne %r4, %r3, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, %r6\nadd %r0, %r5\nexit",
        // kept: the copy is read after the jump, on either path
        "mov %r4, %r2\njeq %r4, %r3, +2\nmov %r0, 1\nexit\nmov %r0, %r4\nexit",
        "mov %r4, %r2\njeq %r4, %r3, +2\nmov %r0, %r4\nexit\nmov %r0, 1\nexit",
        "mov %r0, %r2\njeq %r0, %r3, +1\nexit\nmov %r0, 1\nexit",
        // kept: the source changes, or the copy is read, before the jump
        "mov %r4, %r2\nadd %r2, 1\njeq %r4, %r3, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        "mov %r4, %r2\nmov %r0, %r4\njeq %r4, %r3, +1\nexit\nmov %r0, 2\nexit",
        // kept: a jump lands between the copy and its jump
        "jeq %r3, 1, +1\nmov %r4, %r2\njeq %r4, %r3, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
        // loops counting iterations in r0: the compare copy kept (its source shifts before the
        // jump), then left out
        "mov %r0, 0\nmov %r6, %r2\nadd %r0, 1\nmov %r4, %r6\nrsh %r6, 1\njgt %r4, %r3, -4\nexit",
        "mov %r0, 0\nadd %r0, 1\nrsh %r2, 1\nmov %r4, %r2\njgt %r4, %r3, -4\nexit",
    ];
    for source in programs {
        let instructions: Vec<Instruction> = Program::new(assemble(source).unwrap())
            .unwrap()
            .instructions()
            .map(|(_, instruction)| *instruction)
            .collect();
        for r2 in VALUES {
            for r3 in [0, 1, r2, r2.wrapping_add(1), VALUES[9]] {
                agree(&instructions, r2, r3);
            }
        }
    }
}
