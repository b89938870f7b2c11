//! One compiled program run many times on inputs that change between runs (memory moves,
//! shrinks, turns read-only, disappears; the packet changes; helpers see other regions): every
//! run behaves as a first run on that input, exactly like the interpreter. Compiled programs
//! keep their run context between runs and set up only what changed, so stale bounds, packets
//! or memory maps would show here.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use std::sync::Arc;
use xbpf_isa::{
    Engine, ExecConfig, ExecError, Executable, HelperTable, Instruction, MemSize, RunInput,
};

const READ_HELPER: u32 = 9;

/// Helper 9 reads the byte at r1 through the run's memory map (0xff.. when it may not).
fn helpers() -> HelperTable {
    let mut helpers = HelperTable::new();
    helpers.register(READ_HELPER, "read_byte", |context, args| {
        Ok(match context.memory().read(args[0], 1) {
            Ok(bytes) => u64::from(bytes[0]),
            Err(_) => u64::MAX,
        })
    });
    helpers
}

/// An input as a list of buffers: (bytes, writable), the first one in r1/r2 and, when
/// `packet`, also the data of legacy packet loads.
struct Case {
    buffers: Vec<(Vec<u8>, bool)>,
    packet: bool,
}

impl Case {
    fn run(&self, executable: &mut dyn Executable) -> Result<u64, ExecError> {
        let mut memories: Vec<AlignedMemory> = self
            .buffers
            .iter()
            .map(|(bytes, _)| AlignedMemory::new(bytes))
            .collect();
        let mut input = RunInput::empty();
        for (index, (memory, (_, writable))) in memories.iter_mut().zip(&self.buffers).enumerate() {
            let bytes = memory.bytes_mut();
            let region = if *writable {
                input.add_memory(bytes)
            } else {
                input.add_readonly(bytes)
            };
            if index == 0 {
                input.args[0] = region.start;
                input.args[1] = region.len;
                if self.packet {
                    input.set_packet(region);
                }
            }
        }
        executable
            .run(&input)
            .map_err(|error| without_addresses(&error))
    }
}

fn cases() -> Vec<Case> {
    let bytes = |len: usize, seed: u64| pseudo_random_bytes(seed, len);
    vec![
        Case {
            buffers: vec![(bytes(64, 1), true)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(64, 2), false)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(64, 3), true)],
            packet: false,
        },
        Case {
            buffers: vec![(bytes(9, 4), true)],
            packet: true,
        },
        Case {
            buffers: vec![],
            packet: false,
        },
        Case {
            buffers: vec![(bytes(64, 5), true), (bytes(16, 6), false)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(32, 7), true)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(64, 8), true)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(3, 9), false)],
            packet: true,
        },
        Case {
            buffers: vec![(bytes(64, 10), true)],
            packet: true,
        },
    ]
}

/// Each program reads what changes between cases: input bytes near the end of a 64-byte
/// buffer, a store into it, packet bytes, and a helper's view of memory.
fn programs() -> Vec<(&'static str, Vec<Instruction>)> {
    vec![
        (
            "load at offset 56",
            vec![ldx(MemSize::DW, 0, 1, 56), exit()],
        ),
        (
            "store then load",
            vec![
                st(MemSize::W, 1, 4, 0x1234_5678),
                ldx(MemSize::W, 0, 1, 4),
                exit(),
            ],
        ),
        (
            "packet loads",
            vec![
                ld_abs(MemSize::B, 1),
                mov64(6, reg(0)),
                ld_abs(MemSize::W, 20),
                alu64(xbpf_isa::AluOp::Add, 0, reg(6)),
                exit(),
            ],
        ),
        (
            "helper reads through the memory map",
            vec![
                alu64(xbpf_isa::AluOp::Add, 1, imm(8)),
                call_helper(READ_HELPER as i32),
                exit(),
            ],
        ),
        ("no memory at all", vec![mov64(0, reg(2)), exit()]),
    ]
}

#[test]
fn every_run_behaves_like_a_first_run_on_its_input() {
    let config = ExecConfig {
        helpers: Arc::new(helpers()),
        ..ExecConfig::default()
    };
    for (name, instructions) in programs() {
        let program = program(&instructions);
        let mut reference = xbpf_interp::Interpreter.prepare(&program, &config).unwrap();
        for (variant, jit) in code_variants() {
            for blinding in [false, true] {
                let mut executable = jit
                    .with_constant_blinding(blinding)
                    .prepare(&program, &config)
                    .unwrap();
                // Forwards, backwards, then each case twice in a row.
                let order: Vec<usize> = (0..cases().len())
                    .chain((0..cases().len()).rev())
                    .chain((0..cases().len()).flat_map(|i| [i, i]))
                    .collect();
                let cases = cases();
                for index in order {
                    let case = &cases[index];
                    assert_eq!(
                        case.run(executable.as_mut()),
                        case.run(reference.as_mut()),
                        "{name} on {variant} (blinding {blinding}), case {index}"
                    );
                }
            }
        }
    }
}

#[test]
fn unchecked_code_still_sees_each_runs_packet_and_memory_map() {
    // Without bounds checks the run context skips the region limits; the packet and the
    // helpers' memory map must still follow the input.
    let config = ExecConfig {
        helpers: Arc::new(helpers()),
        bounds_checks: false,
        ..ExecConfig::default()
    };
    let instructions = vec![
        ld_abs(MemSize::B, 2),
        mov64(6, reg(0)),
        alu64(xbpf_isa::AluOp::Add, 1, imm(3)),
        call_helper(READ_HELPER as i32),
        alu64(xbpf_isa::AluOp::Lsh, 0, imm(8)),
        alu64(xbpf_isa::AluOp::Or, 0, reg(6)),
        exit(),
    ];
    let program = program(&instructions);
    let mut executable = xbpf_jit::Jit::new().prepare(&program, &config).unwrap();
    for seed in 0..6u64 {
        let bytes = pseudo_random_bytes(seed, 8 + seed as usize);
        let mut memory = AlignedMemory::new(&bytes);
        let input = RunInput::with_memory(memory.bytes_mut());
        let expected = (u64::from(bytes[3]) << 8) | u64::from(bytes[2]);
        assert_eq!(executable.run(&input), Ok(expected), "seed {seed}");
    }
}

#[test]
fn after_any_failure_the_next_run_exits_normally() {
    // r1 selects how the run ends: 0 exits with r0 = 7, 1 makes the helper fail, 2 loops until
    // the fuel runs out, 3 recurses past the frame limit. A failure leaves its exit code in
    // the run context; the next run must not see it.
    const FAILING_HELPER: i32 = 11;
    let mut helpers = HelperTable::new();
    helpers.register(FAILING_HELPER as u32, "fail", |_, _| {
        Err(xbpf_isa::HelperError::Failed("asked to fail".into()))
    });
    let config = ExecConfig {
        fuel: Some(1_000),
        ..config(helpers, None)
    };
    let eq = xbpf_isa::JmpCond::Eq;
    let program = program(&[
        jump(xbpf_isa::Width::W64, eq, 1, imm(1), 4), // 0: to 5
        jump(xbpf_isa::Width::W64, eq, 1, imm(2), 5), // 1: to 7
        jump(xbpf_isa::Width::W64, eq, 1, imm(3), 5), // 2: to 8
        mov64(0, imm(7)),                             // 3
        exit(),                                       // 4
        call_helper(FAILING_HELPER),                  // 5
        exit(),                                       // 6
        ja(-1),                                       // 7: loops on itself
        call_local(-1),                               // 8: calls itself
        exit(),                                       // 9
    ]);
    let mut reference = xbpf_interp::Interpreter.prepare(&program, &config).unwrap();
    for (variant, jit) in code_variants() {
        let mut executable = jit.prepare(&program, &config).unwrap();
        for selector in [0, 1, 0, 2, 0, 3, 0, 1, 2, 3, 0, 0] {
            let mut input = RunInput::empty();
            input.args[0] = selector;
            let expected = reference.run(&input);
            assert_eq!(
                expected.is_ok(),
                selector == 0,
                "the interpreter ends selector {selector} with {expected:?}"
            );
            assert_eq!(
                executable.run(&input),
                expected,
                "{variant}, selector {selector}"
            );
        }
    }
}
