//! Superinstructions: sequences compilers emit all the time, run as one op.
//!
//! eBPF is two-address, so clang writes `a = b + c` as `mov a, b; add a, c`, and a 32-bit value
//! widened to 64 bits as `lsh a, 32; rsh a, 32`. Dispatching one op instead of two or three
//! saves the dispatch and the round trip of the intermediate value through the register file.
//!
//! A fused op replaces only the op of its first slot: the slots it covers keep their own ops, so
//! a jump into the middle of a sequence runs exactly the instructions from there on. Fusion
//! never changes what a program computes, which instruction an error names, or the fuel it
//! uses: none of the fused instructions can fail, and in metered runs a sequence is fused only
//! inside one fuel block (its later slots are not block starts), so the fuel charged at its
//! first slot covers all of it.
//!
//! | sequence | fused op | computes |
//! |---|---|---|
//! | `mov d, s; OP d, X` (ALU64) | `MovOP64{Imm,Reg}` | `d = s OP X` |
//! | `lsh d, a; rsh d, b` | `LshRsh` | `d = (d << a) >> b` |
//! | `lsh d, a; arsh d, b` | `LshArsh` | `d = (d << a) >>ₛ b` |
//! | `mov d, s; lsh d, a; rsh/arsh d, b` | `MovLshRsh`, `MovLshArsh` | the same on `s` |
//! | `mov d, imm; ja L` | `MovImmJa` | `d = imm`, go to L |
//! | `jCC ... L1; ja L2` | the jump, with `next` = L2 | not taken: go to L2 |
//! | `mov d, A; jCC ..., +1; mov d, B` | `SelectImm` | `d = A`, then `d = B` unless taken |
//!
//! The select is how clang compiles `d = cond ? A : B` for BPF, which has no conditional move;
//! run as one op it needs no branch on the condition, which data-dependent conditions mispredict.

use xbpf_isa::Program;

use crate::code::{FALL_THROUGH, Kind, Op};

/// Fuses the sequences of `ops` (one unfused op per slot). With `metered`, only sequences that
/// lie inside one fuel block.
pub(crate) fn fuse(program: &Program, ops: &mut [Op], metered: bool) {
    // Whether slot `pc` may be run as part of a sequence that starts earlier.
    let len = ops.len();
    let joinable = |pc: usize| pc < len && !(metered && program.fuel_block_len(pc) > 0);
    for pc in 0..ops.len() {
        let first = ops[pc];
        let second = if joinable(pc + 1) {
            ops[pc + 1]
        } else {
            continue;
        };
        let third = joinable(pc + 2).then(|| ops[pc + 2]);
        if let Some(fused) = fuse_select(pc, first, second, third)
            .or_else(|| fuse_three(first, second, third))
            .or_else(|| fuse_two(first, second))
        {
            ops[pc] = fused;
        }
    }
}

/// `mov d, A; jCC ..., +1; mov d, B` at `pc`, where both `mov`s write the same 64-bit value
/// whether they are the ALU64 or the ALU32 form (ALU32 with a non-negative immediate).
fn fuse_select(pc: usize, first: Op, second: Op, third: Option<Op>) -> Option<Op> {
    let third = third?;
    let constant = |op: Op| match op.kind {
        Kind::Mov64Imm => Some(op.imm),
        Kind::Mov32Imm if op.imm >= 0 => Some(op.imm),
        _ => None,
    };
    let (taken, not_taken) = (constant(first)?, constant(third)?);
    let selects = third.dst == first.dst
        && second.kind.is_conditional_jump()
        && second.next == FALL_THROUGH
        && second.target() == pc + 3;
    selects.then_some(Op {
        kind: Kind::SelectImm,
        imm: taken,
        off: not_taken,
        ..first
    })
}

/// `mov d, s; lsh d, a; rsh/arsh d, b`.
fn fuse_three(first: Op, second: Op, third: Option<Op>) -> Option<Op> {
    let third = third?;
    if first.kind != Kind::Mov64Reg || second.dst != first.dst {
        return None;
    }
    let kind = match shift_pair(second, third)? {
        Kind::LshRsh => Kind::MovLshRsh,
        _ => Kind::MovLshArsh,
    };
    Some(Op {
        kind,
        src: first.src,
        ..shift_pair_op(second, third)
    })
}

fn fuse_two(first: Op, second: Op) -> Option<Op> {
    match first.kind {
        Kind::Mov64Reg if second.dst == first.dst => {
            let kind = mov_then(second.kind)?;
            // After the `mov`, `d` holds `s`: an operand read from `d` is read from `s`.
            let src2 = if second.src == first.dst {
                first.src
            } else {
                second.src
            };
            Some(Op {
                kind,
                src2,
                imm: second.imm,
                ..first
            })
        }
        Kind::Lsh64Imm => shift_pair(first, second).map(|kind| Op {
            kind,
            ..shift_pair_op(first, second)
        }),
        Kind::Mov64Imm if second.kind == Kind::Ja => Some(Op {
            kind: Kind::MovImmJa,
            off: second.off,
            ..first
        }),
        _ if first.kind.is_conditional_jump() && second.kind == Kind::Ja => Some(Op {
            next: second.target() as u32,
            ..first
        }),
        _ => None,
    }
}

/// `LshRsh` or `LshArsh` when `first` and `second` shift the same register by immediates.
fn shift_pair(first: Op, second: Op) -> Option<Kind> {
    if first.kind != Kind::Lsh64Imm || second.dst != first.dst {
        return None;
    }
    match second.kind {
        Kind::Rsh64Imm => Some(Kind::LshRsh),
        Kind::Arsh64Imm => Some(Kind::LshArsh),
        _ => None,
    }
}

/// The fields of a shift pair: left count in `imm`, right count in `off`, on `dst` (as `src`).
fn shift_pair_op(lsh: Op, right_shift: Op) -> Op {
    Op {
        src: lsh.dst,
        imm: lsh.imm,
        off: right_shift.imm,
        ..lsh
    }
}

/// The fused kind for `mov d, s` followed by the ALU64 operation `kind` on `d`.
fn mov_then(kind: Kind) -> Option<Kind> {
    use Kind::*;
    Some(match kind {
        Add64Imm => MovAdd64Imm,
        Add64Reg => MovAdd64Reg,
        Sub64Imm => MovSub64Imm,
        Sub64Reg => MovSub64Reg,
        Mul64Imm => MovMul64Imm,
        Mul64Reg => MovMul64Reg,
        Div64Imm => MovDiv64Imm,
        Div64Reg => MovDiv64Reg,
        Mod64Imm => MovMod64Imm,
        Mod64Reg => MovMod64Reg,
        Or64Imm => MovOr64Imm,
        Or64Reg => MovOr64Reg,
        And64Imm => MovAnd64Imm,
        And64Reg => MovAnd64Reg,
        Xor64Imm => MovXor64Imm,
        Xor64Reg => MovXor64Reg,
        Lsh64Imm => MovLsh64Imm,
        Lsh64Reg => MovLsh64Reg,
        Rsh64Imm => MovRsh64Imm,
        Rsh64Reg => MovRsh64Reg,
        Arsh64Imm => MovArsh64Imm,
        Arsh64Reg => MovArsh64Reg,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{CONDITIONS, Code, translate_unfused};
    use crate::machine::{Frames, Run, execute};
    use crate::memory::Memory;
    use proptest::prelude::*;
    use xbpf_isa::exec::STACK_SIZE;
    use xbpf_isa::{AluOp, Instruction, JmpCond, Reg, RunInput, Source, Width};

    const ALU_OPS: [AluOp; 13] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

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

    /// A few instructions, biased towards what `fuse` looks for: a register-to-register `mov`
    /// then an operation on its destination, shift pairs, `mov imm; ja`, `jcc; ja`, selects. Jumps go
    /// forward by `skip` (clamped to the program's end later), so programs always terminate.
    fn piece() -> impl Strategy<Value = Vec<Instruction>> {
        let r = 0u8..4;
        let src = prop_oneof![
            (0u8..4).prop_map(|n| Source::Reg(reg(n))),
            any::<i32>().prop_map(Source::Imm),
            (-3i32..70).prop_map(Source::Imm),
        ];
        let op = proptest::sample::select(ALU_OPS.to_vec());
        let skip = 0i16..6;
        prop_oneof![
            (r.clone(), r.clone(), op.clone(), src.clone()).prop_map(|(d, s, op, x)| vec![
                alu(AluOp::Mov, d, Source::Reg(reg(s))),
                alu(op, d, x)
            ]),
            (r.clone(), 0i32..70, 0i32..70, any::<bool>()).prop_map(|(d, a, b, arith)| {
                let right = if arith { AluOp::Arsh } else { AluOp::Rsh };
                vec![
                    alu(AluOp::Lsh, d, Source::Imm(a)),
                    alu(right, d, Source::Imm(b)),
                ]
            }),
            (r.clone(), r.clone(), 0i32..70, 0i32..70).prop_map(|(d, s, a, b)| vec![
                alu(AluOp::Mov, d, Source::Reg(reg(s))),
                alu(AluOp::Lsh, d, Source::Imm(a)),
                alu(AluOp::Arsh, d, Source::Imm(b)),
            ]),
            (r.clone(), any::<i32>(), skip.clone()).prop_map(|(d, imm, off)| vec![
                alu(AluOp::Mov, d, Source::Imm(imm)),
                Instruction::Ja {
                    off: i32::from(off),
                    long: false
                },
            ]),
            (
                r.clone(),
                src.clone(),
                skip.clone(),
                skip.clone(),
                any::<bool>()
            )
                .prop_map(|(d, x, off, ja_off, wide)| vec![
                    Instruction::Jump {
                        width: if wide { Width::W64 } else { Width::W32 },
                        cond: JmpCond::Sgt,
                        dst: reg(d),
                        src: x,
                        off,
                    },
                    Instruction::Ja {
                        off: i32::from(ja_off),
                        long: false
                    },
                ]),
            (
                r.clone(),
                r.clone(),
                src.clone(),
                (-2i32..3, any::<i32>()),
                (any::<bool>(), any::<bool>()),
                proptest::sample::select(CONDITIONS.to_vec()),
                any::<bool>(),
            )
                .prop_map(|(d, x, y, (a, b), (a64, b64), cond, wide)| {
                    let mov = |value: i32, wide64: bool| Instruction::Alu {
                        width: if wide64 { Width::W64 } else { Width::W32 },
                        op: AluOp::Mov,
                        dst: reg(d),
                        src: Source::Imm(value),
                    };
                    vec![
                        mov(a, a64),
                        Instruction::Jump {
                            width: if wide { Width::W64 } else { Width::W32 },
                            cond,
                            dst: reg(x),
                            src: y,
                            off: 1,
                        },
                        mov(b, b64),
                    ]
                }),
            (r.clone(), op, src).prop_map(|(d, op, x)| vec![alu(op, d, x)]),
            (r, 0i16..6).prop_map(|(d, off)| vec![Instruction::Jump {
                width: Width::W64,
                cond: JmpCond::Gt,
                dst: reg(d),
                src: Source::Imm(1000),
                off,
            }]),
        ]
    }

    /// The pieces (jumps clamped to land at most on the epilogue), then an epilogue that mixes
    /// r0 to r3 into r0, then `exit`: r0 tells whether any register differs.
    fn program(pieces: Vec<Vec<Instruction>>) -> Program {
        let mut instructions: Vec<Instruction> = pieces.into_iter().flatten().collect();
        let len = instructions.len() as i64;
        for (pc, instruction) in instructions.iter_mut().enumerate() {
            let to_epilogue = len - pc as i64 - 1;
            match instruction {
                Instruction::Ja { off, .. } => *off = i64::from(*off).min(to_epilogue) as i32,
                Instruction::Jump { off, .. } => *off = i64::from(*off).min(to_epilogue) as i16,
                _ => {}
            }
        }
        for n in 1..4 {
            instructions.push(alu(AluOp::Mul, 0, Source::Imm(0x3b9a_ca07)));
            instructions.push(alu(AluOp::Xor, 0, Source::Reg(reg(n))));
        }
        instructions.push(Instruction::Exit);
        Program::new(instructions.iter().flat_map(Instruction::encode).collect()).unwrap()
    }

    /// Runs `ops`; with `fuel`, metered, charging `program`'s fuel blocks.
    fn run(
        program: &Program,
        ops: Vec<Op>,
        args: [u64; 5],
        fuel: Option<u64>,
    ) -> Result<u64, xbpf_isa::ExecError> {
        let code = Code {
            ops: ops.into_boxed_slice(),
            fuel: (0..program.len())
                .map(|pc| program.fuel_block_len(pc))
                .collect(),
        };
        let mut stack = vec![0u8; STACK_SIZE];
        let mut input = RunInput::empty();
        input.args = args;
        // SAFETY: `stack` is STACK_SIZE bytes, alive and untouched for the whole run.
        let memory = unsafe { Memory::new(stack.as_mut_ptr(), input.regions()) };
        let mut helper_memory = xbpf_isa::MemoryMap::default();
        let helpers = xbpf_isa::HelperTable::new();
        let mut run = Run {
            memory,
            input: &input,
            helpers: &helpers,
            helper_memory: &mut helper_memory,
            interrupt: None,
        };
        let mut frames = Frames::default();
        match fuel {
            None => execute::<false, false>(&code, &mut run, &mut frames, &mut 0),
            Some(mut fuel) => execute::<true, false>(&code, &mut run, &mut frames, &mut fuel),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fused_code_computes_what_unfused_code_computes(
            pieces in proptest::collection::vec(piece(), 1..12),
            args in any::<[u64; 5]>(),
        ) {
            let program = program(pieces);
            let unfused = translate_unfused(&program).unwrap();
            let mut fused = unfused.clone();
            fuse(&program, &mut fused, false);
            prop_assert_eq!(
                run(&program, fused, args, None),
                run(&program, unfused, args, None)
            );
        }

        #[test]
        fn fused_code_uses_the_fuel_unfused_code_uses(
            pieces in proptest::collection::vec(piece(), 1..12),
            args in any::<[u64; 5]>(),
            fuel in 0u64..40,
        ) {
            let program = program(pieces);
            let unfused = translate_unfused(&program).unwrap();
            let mut fused = unfused.clone();
            fuse(&program, &mut fused, true);
            prop_assert_eq!(
                run(&program, fused, args, Some(fuel)),
                run(&program, unfused, args, Some(fuel))
            );
        }
    }
}
