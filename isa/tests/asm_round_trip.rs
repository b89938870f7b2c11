//! Round trips: random valid programs disassemble to text that reassembles to identical slots,
//! and every instruction's `Display` text reassembles to its encoding.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use xbpf_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Instruction, JmpCond, LoadImmKind, MemSize, PacketMode,
    Program, Reg, Source, Width, assemble, disassemble,
};

fn reg(number: u8) -> Reg {
    Reg::new(number).expect("generated register numbers are 0..=10")
}

/// Any register, for operands that are only read.
fn any_reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(reg)
}

/// r0..r9, for registers the instruction writes (r10 is read-only).
fn writable_reg() -> impl Strategy<Value = Reg> {
    (0u8..=9).prop_map(reg)
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => any::<i32>(),
        1 => select(vec![0, 1, -1, i32::MIN, i32::MAX, 0x7fff, -0x8000]),
    ]
}

fn offset() -> impl Strategy<Value = i16> {
    prop_oneof![
        4 => any::<i16>(),
        1 => select(vec![0i16, 1, -1, i16::MIN, i16::MAX]),
    ]
}

fn width() -> impl Strategy<Value = Width> {
    select(vec![Width::W32, Width::W64])
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![any_reg().prop_map(Source::Reg), imm().prop_map(Source::Imm)]
}

fn mem_size() -> impl Strategy<Value = MemSize> {
    select(vec![MemSize::B, MemSize::H, MemSize::W, MemSize::DW])
}

fn load_imm_kind() -> impl Strategy<Value = LoadImmKind> {
    select(vec![
        LoadImmKind::Imm,
        LoadImmKind::MapByFd,
        LoadImmKind::MapValueByFd,
        LoadImmKind::Variable,
        LoadImmKind::Code,
        LoadImmKind::MapByIndex,
        LoadImmKind::MapValueByIndex,
    ])
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    select(vec![
        AtomicOp::Add,
        AtomicOp::Or,
        AtomicOp::And,
        AtomicOp::Xor,
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ])
}

/// Every instruction that is not a jump or local call, with fields a valid program allows.
fn straight_line_instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        (
            width(),
            select(AluOp::ALL.to_vec()),
            writable_reg(),
            source()
        )
            .prop_map(|(width, op, dst, src)| Instruction::Alu {
                width,
                op,
                dst,
                src
            }),
        (width(), writable_reg()).prop_map(|(width, dst)| Instruction::Neg { width, dst }),
        (
            select(vec![
                (Width::W64, 8u8),
                (Width::W64, 16),
                (Width::W64, 32),
                (Width::W32, 8),
                (Width::W32, 16),
            ]),
            writable_reg(),
            any_reg(),
        )
            .prop_map(|((width, from_bits), dst, src)| Instruction::MovSx {
                width,
                dst,
                src,
                from_bits
            }),
        (
            select(vec![ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]),
            select(vec![16u8, 32, 64]),
            writable_reg(),
        )
            .prop_map(|(order, bits, dst)| Instruction::Endian { order, bits, dst }),
        (
            writable_reg(),
            load_imm_kind(),
            prop_oneof![
                3 => any::<u64>(),
                1 => select(vec![0u64, 1, u64::MAX, 1 << 63, 0xffff_ffff, 0x8000_0000]),
                1 => any::<i32>().prop_map(|value| value as i64 as u64),
            ]
        )
            .prop_map(|(dst, kind, imm)| Instruction::LoadImm64 { dst, kind, imm }),
        (
            mem_size(),
            any::<bool>(),
            writable_reg(),
            any_reg(),
            offset()
        )
            .prop_map(|(size, sign_extend, dst, src, off)| Instruction::Load {
                size,
                sign_extend: sign_extend && size != MemSize::DW,
                dst,
                src,
                off,
            }),
        (mem_size(), any_reg(), offset(), source()).prop_map(|(size, dst, off, src)| {
            Instruction::Store {
                size,
                dst,
                off,
                src,
            }
        }),
        (
            width(),
            atomic_op(),
            any::<bool>(),
            any_reg(),
            writable_reg(),
            offset()
        )
            .prop_map(|(width, op, fetch, dst, src, off)| Instruction::Atomic {
                width,
                op,
                fetch: fetch || matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg),
                dst,
                src,
                off,
            }),
        (
            select(vec![MemSize::B, MemSize::H, MemSize::W]),
            prop_oneof![Just(PacketMode::Abs), any_reg().prop_map(PacketMode::Ind)],
            imm(),
        )
            .prop_map(|(size, mode, imm)| Instruction::LoadPacket { size, mode, imm }),
        imm().prop_map(|id| Instruction::Call(CallTarget::Helper(id))),
        imm().prop_map(|id| Instruction::Call(CallTarget::Kfunc(id))),
        any_reg().prop_map(Instruction::Callx),
        Just(Instruction::Exit),
    ]
}

/// A jump or local call whose target is chosen once the program's layout is known.
#[derive(Clone, Debug)]
enum Branch {
    Ja {
        long: bool,
    },
    Jump {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    },
    CallLocal,
}

impl Branch {
    fn with_offset(&self, offset: i64) -> Instruction {
        match *self {
            Branch::Ja { long } => Instruction::Ja {
                off: i32::try_from(offset).expect("small program"),
                long,
            },
            Branch::Jump {
                width,
                cond,
                dst,
                src,
            } => Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off: i16::try_from(offset).expect("small program"),
            },
            Branch::CallLocal => Instruction::Call(CallTarget::Local(
                i32::try_from(offset).expect("small program"),
            )),
        }
    }
}

fn branch() -> impl Strategy<Value = Branch> {
    prop_oneof![
        any::<bool>().prop_map(|long| Branch::Ja { long }),
        (width(), select(JmpCond::ALL.to_vec()), any_reg(), source()).prop_map(
            |(width, cond, dst, src)| Branch::Jump {
                width,
                cond,
                dst,
                src
            }
        ),
        Just(Branch::CallLocal),
    ]
}

#[derive(Clone, Debug)]
enum Item {
    Plain(Instruction),
    /// A branch to the instruction with this index.
    Branch(Branch, Index),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => straight_line_instruction().prop_map(Item::Plain),
        1 => (branch(), any::<Index>()).prop_map(|(branch, target)| Item::Branch(branch, target)),
    ]
}

/// A valid program by construction: targets are instruction starts, and it ends with `exit`.
fn valid_program() -> impl Strategy<Value = Vec<Instruction>> {
    prop::collection::vec(item(), 0..60).prop_map(|mut items| {
        items.push(Item::Plain(Instruction::Exit));
        let mut starts = Vec::with_capacity(items.len());
        let mut pc = 0usize;
        for item in &items {
            starts.push(pc);
            pc += match item {
                Item::Plain(instruction) => instruction.slots(),
                Item::Branch(..) => 1,
            };
        }
        items
            .iter()
            .zip(&starts)
            .map(|(item, &pc)| match item {
                Item::Plain(instruction) => *instruction,
                Item::Branch(branch, target) => {
                    let target = starts[target.index(starts.len())];
                    branch.with_offset(target as i64 - pc as i64 - 1)
                }
            })
            .collect()
    })
}

/// Any instruction with any target offset (not necessarily part of a valid program).
fn any_instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        3 => straight_line_instruction(),
        1 => (branch(), any::<i32>(), offset()).prop_map(|(branch, long, short)| {
            let offset = match branch {
                Branch::Jump { .. } | Branch::Ja { long: false } => i64::from(short),
                Branch::Ja { long: true } | Branch::CallLocal => i64::from(long),
            };
            branch.with_offset(offset)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn valid_programs_survive_disassembly_and_reassembly(program in valid_program()) {
        let slots: Vec<_> = program.iter().flat_map(Instruction::encode).collect();
        prop_assert!(Program::new(slots.clone()).is_ok(), "generator made an invalid program");
        let text = disassemble(&slots);
        let reassembled = assemble(&text).map_err(|error| {
            TestCaseError::fail(format!("{error}\n{text}"))
        })?;
        prop_assert_eq!(reassembled, slots, "{}", text);
    }

    #[test]
    fn every_instruction_text_reassembles_to_its_encoding(instruction in any_instruction()) {
        let text = instruction.to_string();
        let reassembled = assemble(&text).map_err(|error| {
            TestCaseError::fail(format!("{text}: {error}"))
        })?;
        prop_assert_eq!(reassembled, instruction.encode(), "{}", text);
    }
}

#[test]
fn disassembly_uses_labels_for_targets_and_never_the_exit_label() {
    let source = "\
        mov %r0, 0\n\
        jeq %r1, 0, done\n\
        lddw %r2, 0x1122334455667788\n\
        call local func\n\
        ja32 done\n\
        done:\n\
        exit\n\
        func:\n\
        mov %r0, 1\n\
        ja exit\n";
    let slots = assemble(source).unwrap();
    let text = disassemble(&slots);
    assert_eq!(
        text,
        "mov %r0, 0\n\
         jeq %r1, 0, L6\n\
         lddw %r2, 0x1122334455667788\n\
         call local L7\n\
         ja32 L6\n\
         L6:\n\
         exit\n\
         L7:\n\
         mov %r0, 1\n\
         ja L6\n"
    );
    assert_eq!(assemble(&text).unwrap(), slots);
}

#[test]
fn display_uses_relative_targets() {
    let jump = Instruction::Jump {
        width: Width::W32,
        cond: JmpCond::Sle,
        dst: Reg::R1,
        src: Source::Imm(-3),
        off: -4,
    };
    assert_eq!(jump.to_string(), "jsle32 %r1, -3, -4");
    assert_eq!(
        Instruction::Ja {
            off: 0,
            long: false
        }
        .to_string(),
        "ja +0"
    );
    assert_eq!(
        Instruction::Call(CallTarget::Local(70000)).to_string(),
        "call local +70000"
    );
}

#[test]
fn undecodable_slots_are_printed_as_explained_comments() {
    let slots = assemble("mov %r11, 1\nexit\nlddw %r1, 5").unwrap();
    let text = disassemble(&slots[..3]);
    assert_eq!(
        text,
        "# invalid slot 0: 0x0000000100000bb7 (register r11 does not exist (r0 to r10))\n\
         exit\n\
         # invalid slot 2: 0x0000000500000118 (lddw is missing its second slot)\n"
    );
}
