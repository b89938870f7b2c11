//! No input makes the verifier panic: random valid programs of every instruction kind, with
//! random registers, offsets and immediates, under every built-in program type, finish with a
//! verdict.

mod common;

use common::{Rng, Ty, test_maps};
use xbpf_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, Instruction, JmpCond, LoadImmKind, MemSize,
    PacketMode, Program, Reg, Source, Width,
};
use xbpf_verifier::{VerifierConfig, verify};

fn reg(rng: &mut Rng) -> Reg {
    Reg::new(rng.below(11) as u8).expect("r0..r10")
}

fn writable(rng: &mut Rng) -> Reg {
    Reg::new(rng.below(10) as u8).expect("r0..r9")
}

fn imm(rng: &mut Rng) -> i32 {
    match rng.below(3) {
        0 => rng.next() as i32,
        1 => rng.below(64) as i32 - 32,
        _ => [0, 1, 4, 8, 14, 255, 4096, -1, i32::MIN, i32::MAX][rng.below(10) as usize],
    }
}

fn offset(rng: &mut Rng) -> i16 {
    match rng.below(3) {
        0 => rng.next() as i16,
        _ => rng.below(80) as i16 - 64,
    }
}

/// A random instruction of any kind; `target` gives jump offsets that stay in the program.
fn random_instruction(rng: &mut Rng, target: i64) -> Instruction {
    let width = if rng.below(2) == 0 {
        Width::W32
    } else {
        Width::W64
    };
    let source = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            Source::Imm(imm(rng))
        } else {
            Source::Reg(reg(rng))
        }
    };
    let sizes = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];
    match rng.below(14) {
        0..=2 => Instruction::Alu {
            width,
            op: AluOp::ALL[rng.below(14) as usize],
            dst: writable(rng),
            src: source(rng),
        },
        3 => Instruction::Neg {
            width,
            dst: writable(rng),
        },
        4 => Instruction::MovSx {
            width,
            dst: writable(rng),
            src: reg(rng),
            from_bits: if width == Width::W64 {
                [8, 16, 32][rng.below(3) as usize]
            } else {
                [8, 16][rng.below(2) as usize]
            },
        },
        5 => Instruction::Endian {
            order: [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap][rng.below(3) as usize],
            bits: [16, 32, 64][rng.below(3) as usize],
            dst: writable(rng),
        },
        6 => {
            let kinds = [
                LoadImmKind::Imm,
                LoadImmKind::MapByFd,
                LoadImmKind::MapValueByFd,
                LoadImmKind::Variable,
                LoadImmKind::Code,
                LoadImmKind::MapByIndex,
                LoadImmKind::MapValueByIndex,
            ];
            Instruction::LoadImm64 {
                dst: writable(rng),
                kind: kinds[rng.below(7) as usize],
                imm: if rng.below(2) == 0 {
                    rng.below(8) | (rng.below(80) << 32)
                } else {
                    rng.next()
                },
            }
        }
        7 => Instruction::Load {
            size: sizes[rng.below(4) as usize],
            sign_extend: false,
            dst: writable(rng),
            src: reg(rng),
            off: offset(rng),
        },
        8 => Instruction::Store {
            size: sizes[rng.below(4) as usize],
            dst: reg(rng),
            off: offset(rng),
            src: source(rng),
        },
        9 => {
            let op = [
                AtomicOp::Add,
                AtomicOp::Or,
                AtomicOp::And,
                AtomicOp::Xor,
                AtomicOp::Xchg,
                AtomicOp::CmpXchg,
            ][rng.below(6) as usize];
            Instruction::Atomic {
                width,
                op,
                fetch: matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg) || rng.below(2) == 0,
                dst: reg(rng),
                src: writable(rng),
                off: offset(rng),
            }
        }
        10 => Instruction::LoadPacket {
            size: sizes[rng.below(3) as usize],
            mode: if rng.below(2) == 0 {
                PacketMode::Abs
            } else {
                PacketMode::Ind(reg(rng))
            },
            imm: imm(rng),
        },
        11 => Instruction::Jump {
            width,
            cond: [
                JmpCond::Eq,
                JmpCond::Gt,
                JmpCond::Ge,
                JmpCond::Set,
                JmpCond::Ne,
                JmpCond::Sgt,
                JmpCond::Sge,
                JmpCond::Lt,
                JmpCond::Le,
                JmpCond::Slt,
                JmpCond::Sle,
            ][rng.below(11) as usize],
            dst: reg(rng),
            src: source(rng),
            off: target as i16,
        },
        12 => match rng.below(4) {
            0 => Instruction::Call(CallTarget::Local(target as i32)),
            1 => Instruction::Callx(reg(rng)),
            2 => Instruction::Call(CallTarget::Kfunc(imm(rng))),
            _ => Instruction::Call(CallTarget::Helper(
                [1, 2, 3, 4, 5, 6, 7, 12, 26, 28, 44, 131, 132, 999][rng.below(14) as usize],
            )),
        },
        _ => {
            if rng.below(2) == 0 {
                Instruction::Exit
            } else {
                Instruction::Ja {
                    off: target as i32,
                    long: rng.below(4) == 0,
                }
            }
        }
    }
}

#[test]
fn random_programs_get_a_verdict_without_panicking() {
    let types = [
        Ty::Generic(32),
        Ty::Packet,
        Ty::Socket,
        Ty::Conformance(16),
        Ty::Conformance(0),
        Ty::Xdp,
        Ty::Tc,
    ];
    let configs = [
        VerifierConfig::default(),
        VerifierConfig {
            check_termination: true,
            check_division_by_zero: true,
            allow_pointer_leaks: true,
            collect_invariants: true,
            max_disjuncts: 2,
            ..VerifierConfig::default()
        },
    ];
    let maps = test_maps();
    let mut rng = Rng(0xdead_beef_cafe);
    let mut verified = 0;
    let mut attempts = 0;
    while verified < 20_000 && attempts < 400_000 {
        attempts += 1;
        let len = 2 + rng.below(30) as usize;
        let mut slots: Vec<Insn> = Vec::new();
        for _ in 0..len {
            let pc = slots.len() as i64;
            let target = rng.below(len as u64 + 1) as i64 - pc - 1;
            slots.extend(random_instruction(&mut rng, target).encode());
        }
        slots.extend(Instruction::Exit.encode());
        let Ok(program) = Program::new(slots) else {
            continue;
        };
        verified += 1;
        let ty = types[rng.below(types.len() as u64) as usize].program_type();
        let config = &configs[rng.below(2) as usize];
        // Any verdict will do; the point is getting one.
        let _ = verify(&program, &ty, &maps, config);
    }
    assert!(
        verified >= 20_000,
        "only {verified} random programs were valid"
    );
}
