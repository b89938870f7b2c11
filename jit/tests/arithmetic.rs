//! Every ALU operation and jump condition, both widths, register and immediate operands, on
//! edge values, against the semantics written out here (RFC 9669, Linux for division by zero,
//! INT_MIN / -1, shift masking and 32-bit zero extension).

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use xbpf_isa::{AluOp, Engine, ExecConfig, Executable, JmpCond, RunInput, Source, Width};
use xbpf_jit::Jit;

const VALUES: [u64; 24] = [
    0,
    1,
    2,
    3,
    7,
    0x7f,
    0x80,
    0xff,
    31,
    32,
    63,
    64,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0004,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    -10i64 as u64,
    12_345_678_901_234,
    0xdead_beef_8765_4321,
];

const IMMEDIATES: [i32; 20] = [
    0,
    1,
    -1,
    2,
    3,
    -2,
    7,
    8,
    31,
    32,
    63,
    64,
    -10,
    4096,
    1 << 30,
    i32::MIN,
    i32::MAX,
    0x10000,
    -4096,
    100_000,
];

/// The expected result of `dst = dst OP src`, `src` already extended as the operation sees it.
fn expected(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => {
            let (a, b) = (dst, src);
            match op {
                AluOp::Add => a.wrapping_add(b),
                AluOp::Sub => a.wrapping_sub(b),
                AluOp::Mul => a.wrapping_mul(b),
                AluOp::Div => a.checked_div(b).unwrap_or(0),
                AluOp::Mod => a.checked_rem(b).unwrap_or(a),
                AluOp::SDiv if b == 0 => 0,
                AluOp::SDiv => (a as i64).wrapping_div(b as i64) as u64,
                AluOp::SMod if b == 0 => a,
                AluOp::SMod => (a as i64).wrapping_rem(b as i64) as u64,
                AluOp::Or => a | b,
                AluOp::And => a & b,
                AluOp::Xor => a ^ b,
                AluOp::Lsh => a << (b & 63),
                AluOp::Rsh => a >> (b & 63),
                AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
                AluOp::Mov => b,
            }
        }
        Width::W32 => {
            let (a, b) = (dst as u32, src as u32);
            let result = match op {
                AluOp::Add => a.wrapping_add(b),
                AluOp::Sub => a.wrapping_sub(b),
                AluOp::Mul => a.wrapping_mul(b),
                AluOp::Div => a.checked_div(b).unwrap_or(0),
                AluOp::Mod => a.checked_rem(b).unwrap_or(a),
                AluOp::SDiv if b == 0 => 0,
                AluOp::SDiv => (a as i32).wrapping_div(b as i32) as u32,
                AluOp::SMod if b == 0 => a,
                AluOp::SMod => (a as i32).wrapping_rem(b as i32) as u32,
                AluOp::Or => a | b,
                AluOp::And => a & b,
                AluOp::Xor => a ^ b,
                AluOp::Lsh => a << (b & 31),
                AluOp::Rsh => a >> (b & 31),
                AluOp::Arsh => ((a as i32) >> (b & 31)) as u32,
                AluOp::Mov => b,
            };
            u64::from(result)
        }
    }
}

/// The immediate as a 64-bit operand of an operation of this width.
fn extend(width: Width, imm: i32) -> u64 {
    match width {
        Width::W64 => imm as i64 as u64,
        Width::W32 => u64::from(imm as u32),
    }
}

fn compile(instructions: &[xbpf_isa::Instruction]) -> Box<dyn Executable> {
    Jit::new()
        .prepare(&program(instructions), &ExecConfig::default())
        .unwrap()
}

fn execute(executable: &mut Box<dyn Executable>, args: [u64; 5]) -> u64 {
    let mut input = RunInput::empty();
    input.args = args;
    executable.run(&input).unwrap()
}

#[test]
fn alu_operations_with_register_operands() {
    for width in [Width::W32, Width::W64] {
        for op in AluOp::ALL {
            // r0 = r1 OP r2, with r0 and r2 in different x86 registers than in the next case.
            let mut two = compile(&[mov64(0, reg(1)), alu(width, op, 0, reg(2)), exit()]);
            // r7 = r7 OP r7 (source and destination are the same register).
            let mut same = compile(&[
                mov64(7, reg(1)),
                alu(width, op, 7, reg(7)),
                mov64(0, reg(7)),
                exit(),
            ]);
            for a in VALUES {
                for b in VALUES {
                    let got = execute(&mut two, [a, b, 0, 0, 0]);
                    assert_eq!(
                        got,
                        expected(width, op, a, b),
                        "{op:?} {width:?}: {a:#x} op {b:#x}"
                    );
                }
                let got = execute(&mut same, [a, 0, 0, 0, 0]);
                assert_eq!(
                    got,
                    expected(width, op, a, a),
                    "{op:?} {width:?} on itself: {a:#x}"
                );
            }
        }
    }
}

#[test]
fn alu_operations_with_immediates() {
    for width in [Width::W32, Width::W64] {
        for op in AluOp::ALL {
            for value in IMMEDIATES {
                let mut executable = compile(&[
                    mov64(3, reg(1)),
                    alu(width, op, 3, imm(value)),
                    mov64(0, reg(3)),
                    exit(),
                ]);
                for a in VALUES {
                    let got = execute(&mut executable, [a, 0, 0, 0, 0]);
                    assert_eq!(
                        got,
                        expected(width, op, a, extend(width, value)),
                        "{op:?} {width:?}: {a:#x} op imm {value}"
                    );
                }
            }
        }
    }
}

#[test]
fn negation_wraps_and_zero_extends() {
    for width in [Width::W32, Width::W64] {
        let mut executable = compile(&[
            mov64(0, reg(1)),
            xbpf_isa::Instruction::Neg { width, dst: r(0) },
            exit(),
        ]);
        for a in VALUES {
            let want = match width {
                Width::W64 => a.wrapping_neg(),
                Width::W32 => u64::from((a as u32).wrapping_neg()),
            };
            assert_eq!(
                execute(&mut executable, [a, 0, 0, 0, 0]),
                want,
                "neg {width:?} {a:#x}"
            );
        }
    }
}

fn jump_operands(width: Width, a: u64, b: u64) -> (u64, u64) {
    match width {
        Width::W64 => (a, b),
        Width::W32 => (u64::from(a as u32), u64::from(b as u32)),
    }
}

#[test]
fn jump_conditions_with_registers_and_immediates() {
    for width in [Width::W32, Width::W64] {
        for cond in JmpCond::ALL {
            // r0 = 1 when the jump is taken
            let taken = |src: Source| {
                compile(&[
                    mov64(0, imm(1)),
                    jump(width, cond, 1, src, 1),
                    mov64(0, imm(0)),
                    exit(),
                ])
            };
            let mut with_register = taken(reg(2));
            for a in VALUES {
                for b in VALUES {
                    let (x, y) = jump_operands(width, a, b);
                    let want = u64::from(cond.holds(width, x, y));
                    let got = execute(&mut with_register, [a, b, 0, 0, 0]);
                    assert_eq!(got, want, "{cond:?} {width:?}: {a:#x}, {b:#x}");
                }
            }
            for value in IMMEDIATES {
                let mut with_immediate = taken(imm(value));
                for a in VALUES {
                    let (x, y) = jump_operands(width, a, extend(Width::W64, value));
                    let want = u64::from(cond.holds(width, x, y));
                    let got = execute(&mut with_immediate, [a, 0, 0, 0, 0]);
                    assert_eq!(got, want, "{cond:?} {width:?}: {a:#x}, imm {value}");
                }
            }
        }
    }
}

#[test]
fn byte_order_operations_truncate_swap_and_zero_extend() {
    use xbpf_isa::ByteOrder;
    let value: u64 = 0x0102_0304_0506_0708;
    let cases = [
        (ByteOrder::ToLe, 16, 0x0708),
        (ByteOrder::ToLe, 32, 0x0506_0708),
        (ByteOrder::ToLe, 64, value),
        (ByteOrder::ToBe, 16, 0x0807),
        (ByteOrder::ToBe, 32, 0x0807_0605),
        (ByteOrder::ToBe, 64, 0x0807_0605_0403_0201),
        (ByteOrder::Swap, 16, 0x0807),
        (ByteOrder::Swap, 32, 0x0807_0605),
        (ByteOrder::Swap, 64, 0x0807_0605_0403_0201),
    ];
    for (order, bits, want) in cases {
        let got = run_args(
            &[
                mov64(0, reg(1)),
                xbpf_isa::Instruction::Endian {
                    order,
                    bits,
                    dst: r(0),
                },
                exit(),
            ],
            [value, 0, 0, 0, 0],
        );
        assert_eq!(got, Ok(want), "{order:?} {bits}");
    }
}

#[test]
fn movsx_sign_extends_the_low_bits() {
    let value: u64 = 0x1234_5678_9abc_de80;
    let cases = [
        (Width::W64, 8, 0xffff_ffff_ffff_ff80),
        (Width::W64, 16, 0xffff_ffff_ffff_de80),
        (Width::W64, 32, 0xffff_ffff_9abc_de80),
        (Width::W32, 8, 0xffff_ff80),
        (Width::W32, 16, 0xffff_de80),
    ];
    for (width, from_bits, want) in cases {
        let got = run_args(
            &[
                xbpf_isa::Instruction::MovSx {
                    width,
                    dst: r(0),
                    src: r(1),
                    from_bits,
                },
                exit(),
            ],
            [value, 0, 0, 0, 0],
        );
        assert_eq!(got, Ok(want), "movsx {width:?} from {from_bits}");
    }
}

#[test]
fn wide_constants_load_exactly() {
    for value in VALUES
        .into_iter()
        .chain([0x8000_0000_0000_0001, 0xffff_ffff_0000_0000])
    {
        assert_eq!(run(&[lddw(0, value), exit()]), Ok(value));
    }
}
