//! No input makes the interpreter panic: random programs (raw random bytes, and random
//! instructions encoded so that many pass validation) run on random memory with a small
//! fuel budget. Errors are fine; a panic fails the test.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};
use std::sync::{Arc, LazyLock};
use xbpf_interp::Interpreter;
use xbpf_isa::insn::slots_to_bytes;
use xbpf_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, ExecConfig, ExecError, HelperError, HelperTable, Insn,
    Instruction, JmpCond, LoadImmKind, MemSize, PacketMode, Program, Reg, RunInput, Source, Width,
};

const FUEL: u64 = 300;

/// Helpers random programs may call: 5 returns r1 (as in the conformance suite), 1 fails,
/// 2 reads r2 & 0xff bytes at r1 through the memory map.
fn helpers() -> Arc<HelperTable> {
    let mut helpers = HelperTable::new();
    helpers.register(5, "return_r1", |_, args| Ok(args[0]));
    helpers.register(1, "fail", |_, _| Err(HelperError::Failed("fails".into())));
    helpers.register(2, "read", |context, args| {
        let bytes = context.memory().read(args[0], (args[1] & 0xff) as usize)?;
        Ok(bytes.iter().map(|&byte| u64::from(byte)).sum())
    });
    Arc::new(helpers)
}

static HELPERS: LazyLock<Arc<HelperTable>> = LazyLock::new(helpers);

/// What happened to one random program.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Invalid,
    NotPreparable,
    Ran(Result<u64, ExecError>),
}

fn run_bytes(bytes: &[u8], memory: &mut [u8], bounds_checks: bool) -> Outcome {
    let Ok(program) = Program::from_bytes(bytes) else {
        return Outcome::Invalid;
    };
    let config = ExecConfig {
        fuel: Some(FUEL),
        bounds_checks,
        helpers: Arc::clone(&HELPERS),
        interrupt: None,
    };
    let Ok(mut executable) = Interpreter.prepare_program(&program, &config) else {
        return Outcome::NotPreparable;
    };
    let first = xbpf_isa::Executable::run(&mut executable, &RunInput::with_memory(memory));
    // a second run reuses the stack and sees the memory the first one left
    let _ = xbpf_isa::Executable::run(&mut executable, &RunInput::with_memory(memory));
    Outcome::Ran(first)
}

/// A register an instruction writes: r0-r9 (writing r10 fails validation).
fn register() -> impl Strategy<Value = Reg> {
    (0u8..=9).prop_map(|n| Reg::new(n).unwrap())
}

/// A register a load, store or atomic addresses through: often r1 (the input memory) or r10
/// (the stack).
fn base() -> impl Strategy<Value = Reg> {
    prop_oneof![6 => 0u8..=9, 2 => Just(1u8), 3 => Just(10u8)].prop_map(|n| Reg::new(n).unwrap())
}

fn immediate() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -4i32..=16,
        1 => prop::sample::select(vec![31, 32, 63, 64, 65, -1, i32::MIN, i32::MAX]),
        1 => any::<i32>(),
    ]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        register().prop_map(Source::Reg),
        immediate().prop_map(Source::Imm)
    ]
}

/// Memory offsets around the stack frame and the input memory, sometimes anything.
fn memory_offset() -> impl Strategy<Value = i16> {
    prop_oneof![3 => -16i16..=16, 2 => -520i16..=-500, 1 => any::<i16>()]
}

/// Jump and call offsets that often land inside a short program.
fn branch_offset() -> impl Strategy<Value = i16> {
    prop_oneof![8 => -6i16..=6, 1 => any::<i16>()]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = MemSize> {
    prop::sample::select(vec![MemSize::B, MemSize::H, MemSize::W, MemSize::DW])
}

fn alu() -> impl Strategy<Value = Instruction> {
    let ops = prop::sample::select(AluOp::ALL.to_vec());
    (width(), ops, register(), source()).prop_map(|(width, op, dst, src)| Instruction::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn movsx() -> impl Strategy<Value = Instruction> {
    let bits = prop::sample::select(vec![8u8, 16, 32]);
    (width(), register(), register(), bits).prop_map(|(width, dst, src, bits)| {
        let from_bits = if width == Width::W32 {
            bits.min(16)
        } else {
            bits
        };
        Instruction::MovSx {
            width,
            dst,
            src,
            from_bits,
        }
    })
}

fn endian() -> impl Strategy<Value = Instruction> {
    let order = prop::sample::select(vec![ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]);
    let bits = prop::sample::select(vec![16u8, 32, 64]);
    (order, bits, register()).prop_map(|(order, bits, dst)| Instruction::Endian {
        order,
        bits,
        dst,
    })
}

fn load() -> impl Strategy<Value = Instruction> {
    (
        size(),
        any::<bool>(),
        register(),
        register(),
        memory_offset(),
    )
        .prop_map(|(size, sign_extend, dst, src, off)| Instruction::Load {
            size,
            sign_extend: sign_extend && size != MemSize::DW,
            dst,
            src,
            off,
        })
}

fn store() -> impl Strategy<Value = Instruction> {
    (size(), base(), memory_offset(), source()).prop_map(|(size, dst, off, src)| {
        Instruction::Store {
            size,
            dst,
            off,
            src,
        }
    })
}

fn atomic() -> impl Strategy<Value = Instruction> {
    let ops = prop::sample::select(vec![
        AtomicOp::Add,
        AtomicOp::Or,
        AtomicOp::And,
        AtomicOp::Xor,
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ]);
    (
        width(),
        ops,
        any::<bool>(),
        register(),
        register(),
        memory_offset(),
    )
        .prop_map(|(width, op, fetch, dst, src, off)| Instruction::Atomic {
            width,
            op,
            fetch: fetch || matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg),
            dst,
            src,
            off,
        })
}

fn packet_load() -> impl Strategy<Value = Instruction> {
    let size = prop::sample::select(vec![MemSize::B, MemSize::H, MemSize::W]);
    let mode = prop_oneof![Just(PacketMode::Abs), register().prop_map(PacketMode::Ind)];
    (size, mode, immediate()).prop_map(|(size, mode, imm)| Instruction::LoadPacket {
        size,
        mode,
        imm,
    })
}

fn jump() -> impl Strategy<Value = Instruction> {
    let conditions = prop::sample::select(vec![
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
    ]);
    (width(), conditions, register(), source(), branch_offset()).prop_map(
        |(width, cond, dst, src, off)| Instruction::Jump {
            width,
            cond,
            dst,
            src,
            off,
        },
    )
}

/// Any instruction, with fields drawn so that most combinations are valid.
fn instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        8 => alu(),
        1 => (width(), register()).prop_map(|(width, dst)| Instruction::Neg { width, dst }),
        1 => movsx(),
        1 => endian(),
        1 => (register(), any::<u64>()).prop_map(|(dst, imm)| Instruction::LoadImm64 {
            dst,
            kind: LoadImmKind::Imm,
            imm,
        }),
        4 => load(),
        4 => store(),
        2 => atomic(),
        1 => packet_load(),
        2 => (branch_offset(), any::<bool>())
            .prop_map(|(off, long)| Instruction::Ja { off: i32::from(off), long }),
        5 => jump(),
        1 => prop::sample::select(vec![1, 2, 5, 5, 5, 7])
            .prop_map(|id| Instruction::Call(CallTarget::Helper(id))),
        1 => branch_offset().prop_map(|off| Instruction::Call(CallTarget::Local(i32::from(off)))),
        1 => register().prop_map(Instruction::Callx),
        2 => Just(Instruction::Exit),
    ]
}

/// Random instructions ending in `exit`, as bytecode.
fn structured_program() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(instruction(), 1..40).prop_map(|mut instructions| {
        instructions.push(Instruction::Exit);
        let slots: Vec<Insn> = instructions.iter().flat_map(Instruction::encode).collect();
        slots_to_bytes(&slots)
    })
}

fn memory() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bytes_never_panic(
        slots in prop::collection::vec(any::<[u8; 8]>(), 1..32),
        mut memory in memory(),
        bounds_checks in any::<bool>(),
    ) {
        run_bytes(&slots.concat(), &mut memory, bounds_checks);
    }

    #[test]
    fn random_instructions_never_panic(
        bytes in structured_program(),
        mut memory in memory(),
        bounds_checks in any::<bool>(),
    ) {
        run_bytes(&bytes, &mut memory, bounds_checks);
    }
}

/// The structured generator must really exercise the interpreter: many of its programs pass
/// validation and run, and their runs end in every way a run can end.
#[test]
fn structured_programs_mostly_validate_and_run() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (structured_program(), memory());
    let (mut ran, mut ok, mut out_of_bounds, mut out_of_fuel) = (0, 0, 0, 0);
    let total = 2000;
    for _ in 0..total {
        let (bytes, mut memory) = strategy.new_tree(&mut runner).unwrap().current();
        if let Outcome::Ran(result) = run_bytes(&bytes, &mut memory, true) {
            ran += 1;
            match result {
                Ok(_) => ok += 1,
                Err(ExecError::OutOfBounds { .. }) => out_of_bounds += 1,
                Err(ExecError::OutOfFuel { .. }) => out_of_fuel += 1,
                Err(_) => {}
            }
        }
    }
    println!(
        "{ran} of {total} ran: {ok} returned, {out_of_bounds} out of bounds, {out_of_fuel} out of fuel"
    );
    assert!(ran * 4 >= total, "only {ran} of {total} programs ran");
    assert!(
        ok > 0 && out_of_bounds > 0 && out_of_fuel > 0,
        "ok {ok}, out of bounds {out_of_bounds}, out of fuel {out_of_fuel}"
    );
}
