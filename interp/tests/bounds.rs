//! Bounds checks at every boundary: each access size, loads and stores, at every offset around
//! the ends of input regions of many lengths (read-only and writable) and of the stack. The
//! interpreter must allow exactly the accesses `Region::allows` allows (the execution ABI's
//! definition), whichever fast or exact path it takes to decide.

use xbpf_interp::Interpreter;
use xbpf_isa::exec::STACK_SIZE;
use xbpf_isa::{
    Access, Engine, ExecConfig, ExecError, Instruction, MemSize, Program, Reg, Region, RunInput,
    Source,
};

const SIZES: [(MemSize, u64); 4] = [
    (MemSize::B, 1),
    (MemSize::H, 2),
    (MemSize::W, 4),
    (MemSize::DW, 8),
];

/// `mov r0, 0`, one load or store at `base + off`, `exit`.
fn access_program(access: Access, size: MemSize, base: Reg, off: i16) -> Program {
    let access = match access {
        Access::Read => Instruction::Load {
            size,
            sign_extend: false,
            dst: Reg::R0,
            src: base,
            off,
        },
        Access::Write => Instruction::Store {
            size,
            dst: base,
            off,
            src: Source::Imm(0),
        },
    };
    let mov = Instruction::Alu {
        width: xbpf_isa::Width::W64,
        op: xbpf_isa::AluOp::Mov,
        dst: Reg::R0,
        src: Source::Imm(0),
    };
    let slots = [mov, access, Instruction::Exit]
        .iter()
        .flat_map(Instruction::encode)
        .collect();
    Program::new(slots).expect("valid program")
}

fn run(program: &Program, input: &RunInput<'_>) -> Result<u64, ExecError> {
    Interpreter
        .prepare(program, &ExecConfig::default())
        .expect("prepares")
        .run(input)
}

#[test]
fn input_regions_allow_exactly_the_accesses_inside_them() {
    for len in 0..=20usize {
        for writable in [true, false] {
            let mut buffer = vec![0u8; len];
            let mut input = RunInput::empty();
            let region = if writable {
                input.add_memory(&mut buffer)
            } else {
                input.add_readonly(&buffer)
            };
            input.args[0] = region.start;
            for off in -10..len as i16 + 10 {
                for (size, bytes) in SIZES {
                    for access in [Access::Read, Access::Write] {
                        let addr = region.start.wrapping_add(off as i64 as u64);
                        let expected = if region.allows(addr, bytes, access) {
                            Ok(0)
                        } else {
                            Err(ExecError::OutOfBounds {
                                pc: 1,
                                access,
                                addr,
                                size: bytes,
                            })
                        };
                        let program = access_program(access, size, Reg::R1, off);
                        assert_eq!(
                            run(&program, &input),
                            expected,
                            "{access} of {bytes} bytes at offset {off} of a {len}-byte region \
                             (writable: {writable})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_stack_allows_exactly_the_accesses_inside_it() {
    let stack_size = STACK_SIZE as i16;
    let offsets = (-stack_size - 10..-stack_size + 10).chain(-10..10);
    for off in offsets {
        for (size, bytes) in SIZES {
            for access in [Access::Read, Access::Write] {
                let program = access_program(access, size, Reg::R10, off);
                let result = run(&program, &RunInput::empty());
                let inside = off >= -stack_size && off + bytes as i16 <= 0;
                match result {
                    Ok(0) => assert!(inside, "{access} of {bytes} at r10{off:+} is outside"),
                    Err(ExecError::OutOfBounds {
                        pc: 1,
                        access: reported,
                        size,
                        ..
                    }) => {
                        assert!(!inside, "{access} of {bytes} at r10{off:+} is inside");
                        assert_eq!((reported, size), (access, bytes));
                    }
                    other => panic!("{access} of {bytes} at r10{off:+}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn later_regions_are_checked_too() {
    let first = [1u8; 16];
    let mut second = [2u8; 3];
    let mut input = RunInput::empty();
    input.add_readonly(&first);
    let region: Region = input.add_memory(&mut second);
    input.args[0] = region.start;
    for off in -2..5 {
        for access in [Access::Read, Access::Write] {
            let program = access_program(access, MemSize::B, Reg::R1, off);
            let addr = region.start.wrapping_add(off as i64 as u64);
            let inside = (0..3).contains(&off);
            let result = run(&program, &input);
            if inside {
                let expected = if access == Access::Read { 2 } else { 0 };
                assert_eq!(result, Ok(expected), "{access} at offset {off}");
            } else if !input.regions()[0].allows(addr, 1, access) {
                assert!(
                    matches!(result, Err(ExecError::OutOfBounds { .. })),
                    "{access} at offset {off}: {result:?}"
                );
            }
        }
    }
}
