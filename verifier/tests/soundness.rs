//! Soundness against the interpreter: random programs built from the patterns real programs
//! use (packet bounds checks, pointer arithmetic, spills, map lookups, branches, 32-bit
//! arithmetic), verified; every accepted one runs on random inputs and must neither fault nor
//! return a value outside the computed exit range.

mod common;

use common::{Rng, Ty, run_program_randomly, test_maps};
use xbpf_isa::{
    AluOp, CallTarget, Instruction, JmpCond, LoadImmKind, MemSize, Program, Reg, Source, Width,
};
use xbpf_verifier::{VerifierConfig, verify};

fn reg(n: u8) -> Reg {
    Reg::new(n).expect("register")
}

const CONSTANTS: [i32; 14] = [0, 1, 2, 3, 4, 7, 8, 14, 16, 20, 64, 255, -1, -8];
const ALU: [AluOp; 14] = AluOp::ALL;
const CONDS: [JmpCond; 11] = [
    JmpCond::Eq,
    JmpCond::Ne,
    JmpCond::Gt,
    JmpCond::Ge,
    JmpCond::Lt,
    JmpCond::Le,
    JmpCond::Sgt,
    JmpCond::Sge,
    JmpCond::Slt,
    JmpCond::Sle,
    JmpCond::Set,
];
/// Placeholder target of calls to the subprogram, patched when the program is laid out.
const SUBPROGRAM: i32 = i32::MAX;
const SIZES: [MemSize; 4] = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];

/// A program under construction; jumps are recorded as (index, distance to skip) and patched
/// so that every target lies inside the program.
struct Builder {
    code: Vec<Instruction>,
}

impl Builder {
    fn push(&mut self, instruction: Instruction) {
        self.code.push(instruction);
    }

    fn constant(rng: &mut Rng) -> i32 {
        if rng.below(4) == 0 {
            rng.next() as i32
        } else {
            CONSTANTS[rng.below(CONSTANTS.len() as u64) as usize]
        }
    }

    /// A random instruction sequence in the style of compiled code. Registers keep roles so
    /// that enough programs are safe: r0, r4, r5 numbers; r6, r7 packet pointers; r8 a stack
    /// pointer; r9 the context; r1 scratch; r2/r3 data and data_end.
    fn fragment(&mut self, rng: &mut Rng, remaining: usize) {
        let number = |rng: &mut Rng| reg([0u8, 4, 5][rng.below(3) as usize]);
        let packet = |rng: &mut Rng| reg([6u8, 7][rng.below(2) as usize]);
        let base = |rng: &mut Rng| reg([6u8, 7, 8, 10, 9, 2][rng.below(6) as usize]);
        let width = |rng: &mut Rng| {
            if rng.below(3) == 0 {
                Width::W32
            } else {
                Width::W64
            }
        };
        let skip = |rng: &mut Rng| rng.below(remaining.min(6) as u64 + 1) as i16;
        let mov = |dst: Reg, src: Source| Instruction::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src,
        };
        let add = |dst: Reg, src: Source| Instruction::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst,
            src,
        };
        // Offsets mostly inside the region each base register points to.
        let offset = |rng: &mut Rng, base: Reg, size: MemSize| -> i16 {
            let size = size.bytes() as i16;
            let jitter = if rng.below(8) == 0 {
                rng.below(5) as i16 - 2
            } else {
                0
            };
            jitter
                + match base.number() {
                    10 => -(size + rng.below(40) as i16),
                    8 => rng.below(32) as i16 - 16,
                    9 => 24 + rng.below((9 - size) as u64) as i16,
                    _ => rng.below(16) as i16,
                }
        };
        let number_source = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                Source::Imm(Builder::constant(rng))
            } else {
                Source::Reg(number(rng))
            }
        };
        match rng.below(18) {
            0..=2 => {
                let src = number_source(rng);
                self.push(Instruction::Alu {
                    width: width(rng),
                    op: ALU[rng.below(ALU.len() as u64) as usize],
                    dst: number(rng),
                    src,
                });
            }
            3 => {
                let src = [2u8, 6, 7][rng.below(3) as usize];
                self.push(mov(packet(rng), Source::Reg(reg(src))));
            }
            4 => {
                let dst = [6u8, 7, 8][rng.below(3) as usize];
                self.push(add(reg(dst), Source::Imm(rng.below(32) as i32 - 8)));
            }
            5 | 6 => {
                let ptr = packet(rng);
                self.push(mov(reg(1), Source::Reg(ptr)));
                self.push(add(reg(1), Source::Imm(rng.below(24) as i32)));
                let (dst, src) = if rng.below(4) == 0 {
                    (reg(3), reg(1))
                } else {
                    (reg(1), reg(3))
                };
                let cond = if dst == reg(3) {
                    [JmpCond::Lt, JmpCond::Le][rng.below(2) as usize]
                } else {
                    [JmpCond::Gt, JmpCond::Ge][rng.below(2) as usize]
                };
                self.push(Instruction::Jump {
                    width: Width::W64,
                    cond,
                    dst,
                    src: Source::Reg(src),
                    off: skip(rng),
                });
            }
            7 => {
                let src = number_source(rng);
                self.push(Instruction::Jump {
                    width: width(rng),
                    cond: CONDS[rng.below(CONDS.len() as u64) as usize],
                    dst: number(rng),
                    src,
                    off: skip(rng),
                });
            }
            8..=10 => {
                let size = SIZES[rng.below(4) as usize];
                let src = base(rng);
                let sign_extend = size != MemSize::DW && rng.below(3) == 0;
                self.push(Instruction::Load {
                    size,
                    sign_extend,
                    dst: number(rng),
                    src,
                    off: offset(rng, src, size),
                });
            }
            11 | 12 => {
                let value = number_source(rng);
                let size = SIZES[rng.below(4) as usize];
                let dst = base(rng);
                self.push(Instruction::Store {
                    size,
                    dst,
                    off: offset(rng, dst, size),
                    src: value,
                });
            }
            13 => {
                // Map lookup; the value pointer goes to r1, maybe checked, maybe read.
                self.push(Instruction::Store {
                    size: MemSize::W,
                    dst: reg(10),
                    off: -4,
                    src: Source::Imm(0),
                });
                self.push(mov(reg(2), Source::Reg(reg(10))));
                self.push(add(reg(2), Source::Imm(-4)));
                self.push(Instruction::LoadImm64 {
                    dst: reg(1),
                    kind: LoadImmKind::MapByIndex,
                    imm: rng.below(2),
                });
                self.push(Instruction::Call(CallTarget::Helper(1)));
                self.push(mov(reg(1), Source::Reg(reg(0))));
                self.push(mov(reg(0), Source::Imm(Builder::constant(rng))));
                self.push(Instruction::Load {
                    size: MemSize::DW,
                    sign_extend: false,
                    dst: reg(2),
                    src: reg(9),
                    off: 0,
                });
                if rng.below(4) != 0 {
                    self.push(Instruction::Jump {
                        width: Width::W64,
                        cond: JmpCond::Eq,
                        dst: reg(1),
                        src: Source::Imm(0),
                        off: 1,
                    });
                }
                self.push(Instruction::Load {
                    size: SIZES[rng.below(4) as usize],
                    sign_extend: false,
                    dst: number(rng),
                    src: reg(1),
                    off: rng.below(20) as i16 - 2,
                });
            }
            14 => {
                // Spill and fill of a number or a pointer.
                let off = -8 * (1 + rng.below(6) as i16);
                let r = reg([0u8, 4, 5, 6, 7, 8][rng.below(6) as usize]);
                self.push(Instruction::Store {
                    size: MemSize::DW,
                    dst: reg(10),
                    off,
                    src: Source::Reg(r),
                });
                // Numbers may come back in another number register (a copy of the value).
                let fill = if [0, 4, 5].contains(&r.number()) {
                    number(rng)
                } else {
                    r
                };
                if rng.below(2) == 0 {
                    let src = number_source(rng);
                    self.push(Instruction::Jump {
                        width: width(rng),
                        cond: CONDS[rng.below(CONDS.len() as u64) as usize],
                        dst: number(rng),
                        src,
                        off: skip(rng),
                    });
                }
                self.push(Instruction::Load {
                    size: MemSize::DW,
                    sign_extend: false,
                    dst: fill,
                    src: reg(10),
                    off,
                });
            }
            15 => {
                // A masked variable offset added to a pointer.
                let n = number(rng);
                self.push(Instruction::Alu {
                    width: width(rng),
                    op: AluOp::And,
                    dst: n,
                    src: Source::Imm([7, 15, 31, 63][rng.below(4) as usize]),
                });
                let p = reg([6u8, 7, 8][rng.below(3) as usize]);
                self.push(add(p, Source::Reg(n)));
            }
            16 => {
                // Reset the stack pointer somewhere in the frame.
                self.push(mov(reg(8), Source::Reg(reg(10))));
                self.push(add(reg(8), Source::Imm(-8 * (1 + rng.below(8) as i32))));
            }
            _ => self.push(Instruction::MovSx {
                width: width(rng),
                dst: number(rng),
                src: number(rng),
                from_bits: [8, 16][rng.below(2) as usize],
            }),
        }
    }
}

/// A random program for `Ty::Packet`: packet pointers in r2/r3, a few initialised stack slots,
/// then random fragments, then `exit`.
fn random_program(rng: &mut Rng) -> Option<Program> {
    let mut b = Builder { code: Vec::new() };
    b.push(Instruction::Load {
        size: MemSize::DW,
        sign_extend: false,
        dst: reg(2),
        src: reg(1),
        off: 0,
    });
    b.push(Instruction::Load {
        size: MemSize::DW,
        sign_extend: false,
        dst: reg(3),
        src: reg(1),
        off: 8,
    });
    let mov = |dst: u8, src: u8| Instruction::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: reg(dst),
        src: Source::Reg(reg(src)),
    };
    b.push(mov(9, 1));
    b.push(mov(6, 2));
    b.push(mov(7, 2));
    b.push(mov(8, 10));
    b.push(Instruction::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: reg(8),
        src: Source::Imm(-32),
    });
    for r in [0u8, 4, 5] {
        {
            b.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: reg(r),
                src: Source::Imm(Builder::constant(rng)),
            });
        }
    }
    for slot in 1..=6 {
        if rng.below(6) != 0 {
            b.push(Instruction::Store {
                size: MemSize::DW,
                dst: reg(10),
                off: -8 * slot,
                src: Source::Imm(Builder::constant(rng)),
            });
        }
    }
    let length = 4 + rng.below(16) as usize;
    let mut i = 0;
    while i < length {
        match rng.below(12) {
            0 => {
                // A counted loop around a few fragments (which may spoil the counter: the
                // interpreter's fuel bounds those runs).
                b.push(Instruction::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: reg(5),
                    src: Source::Imm(0),
                });
                let start = b.code.len();
                let body = 1 + rng.below(3) as usize;
                for _ in 0..body {
                    b.fragment(rng, 2);
                }
                b.push(Instruction::Alu {
                    width: Width::W64,
                    op: AluOp::Add,
                    dst: reg(5),
                    src: Source::Imm(1),
                });
                let back = start as i64 - b.code.len() as i64 - 1;
                b.push(Instruction::Jump {
                    width: Width::W64,
                    cond: JmpCond::Lt,
                    dst: reg(5),
                    src: Source::Imm(1 + rng.below(6) as i32),
                    off: back as i16,
                });
                i += body;
            }
            1 => {
                // A call of the subprogram with a stack pointer or a number in r1.
                if rng.below(2) == 0 {
                    b.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: reg(1),
                        src: Source::Reg(reg(10)),
                    });
                    b.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Add,
                        dst: reg(1),
                        src: Source::Imm(-8 * (1 + rng.below(6) as i32)),
                    });
                } else {
                    b.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: reg(1),
                        src: Source::Imm(Builder::constant(rng)),
                    });
                }
                b.push(Instruction::Call(CallTarget::Local(SUBPROGRAM)));
                b.push(Instruction::Load {
                    size: MemSize::DW,
                    sign_extend: false,
                    dst: reg(2),
                    src: reg(9),
                    off: 0,
                });
                i += 1;
            }
            _ => {
                b.fragment(rng, length - i);
                i += 1;
            }
        }
    }
    if rng.below(2) == 0 {
        b.push(Instruction::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: reg(0),
            src: Source::Imm(Builder::constant(rng)),
        });
    }
    b.push(Instruction::Exit);
    let main_end = b.code.len();
    // The subprogram: reads through r1 if it is a pointer, or computes with it.
    if rng.below(2) == 0 {
        b.push(Instruction::Load {
            size: MemSize::DW,
            sign_extend: false,
            dst: reg(0),
            src: reg(1),
            off: 0,
        });
    } else {
        b.push(Instruction::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: reg(0),
            src: Source::Imm(3),
        });
        b.push(Instruction::Store {
            size: MemSize::DW,
            dst: reg(10),
            off: -8,
            src: Source::Reg(reg(1)),
        });
        b.push(Instruction::Load {
            size: MemSize::DW,
            sign_extend: false,
            dst: reg(3),
            src: reg(10),
            off: -8,
        });
    }
    b.push(Instruction::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: reg(0),
        src: Source::Imm(1),
    });
    b.push(Instruction::Exit);
    // Jumps must land on their function: clamp their targets to its final exit.
    let mut slots_before = Vec::with_capacity(b.code.len());
    let mut total = 0usize;
    for instruction in &b.code {
        slots_before.push(total);
        total += instruction.slots();
    }
    let last = total - 1;
    let mut slots = Vec::new();
    for (i, instruction) in b.code.iter().enumerate() {
        let fixed = match *instruction {
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                // `off` counts instructions to skip: convert to slots.
                let end = if i < main_end {
                    main_end - 1
                } else {
                    b.code.len() - 1
                };
                let target_index = (i as i64 + 1 + off as i64).clamp(0, end as i64) as usize;
                let target = slots_before[target_index].min(last);
                let off = target as i64 - slots_before[i] as i64 - 1;
                Instruction::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    off: off as i16,
                }
            }
            Instruction::Call(CallTarget::Local(SUBPROGRAM)) => {
                let off = slots_before[main_end] as i64 - slots_before[i] as i64 - 1;
                Instruction::Call(CallTarget::Local(off as i32))
            }
            other => other,
        };
        slots.extend(fixed.encode());
    }
    Program::new(slots).ok()
}

#[test]
fn accepted_random_programs_never_fault_and_stay_in_their_exit_range() {
    let ty = Ty::Packet.program_type();
    let config = VerifierConfig::default();
    let maps = test_maps();
    let mut rng = Rng(0x005e_ed0f_5a1e);
    let (mut generated, mut accepted) = (0, 0);
    let mut failures = Vec::new();
    let mut reasons = std::collections::BTreeMap::new();
    while generated < 12_000 {
        let Some(program) = random_program(&mut rng) else {
            continue;
        };
        generated += 1;
        let report = match verify(&program, &ty, &maps, &config) {
            Ok(report) => report,
            Err(rejection) => {
                *reasons.entry(rejection.check).or_insert(0) += 1;
                continue;
            }
        };
        accepted += 1;
        if let Err(message) = run_program_randomly(Ty::Packet, &program, &report, 60, rng.next()) {
            failures.push(format!(
                "{message}\n{}",
                xbpf_isa::disassemble(program.slots())
            ));
            if failures.len() >= 3 {
                break;
            }
        }
    }
    eprintln!("{accepted} of {generated} random programs accepted; rejections: {reasons:?}");
    assert!(failures.is_empty(), "unsound:\n{}", failures.join("\n\n"));
    assert!(
        accepted > 400,
        "only {accepted} of {generated} programs were accepted"
    );
}
