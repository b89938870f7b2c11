//! What a program cannot reach (see "What programs cannot reach" in the crate docs): with
//! bounds checks, no load or store outside the stack and the run's regions gets through,
//! whatever address it aims at, including the host stack where the run's context lives; and
//! `callx` takes a helper id, never an address, so a forged "address" is only an unknown id.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use std::sync::Arc;
use xbpf_isa::exec::STACK_SIZE;
use xbpf_isa::{
    Access, AluOp, Engine, ExecConfig, ExecError, Executable, HelperTable, Instruction, MemSize,
    PrepareError, RunInput,
};

const HELPER_ID: u32 = 7;

/// Helper 7 returns the address of one of its own locals: a host stack address just below the
/// frames of the JIT's `run`, where the run's context lives.
fn helpers() -> HelperTable {
    let mut helpers = HelperTable::new();
    helpers.register(HELPER_ID, "host_stack_address", |_, _| {
        let local = 0u64;
        Ok(std::hint::black_box(&local) as *const u64 as u64)
    });
    helpers
}

fn config() -> ExecConfig {
    config_with(helpers())
}

fn config_with(helpers: HelperTable) -> ExecConfig {
    ExecConfig {
        helpers: Arc::new(helpers),
        ..ExecConfig::default()
    }
}

/// Compiles `instructions` with every kind of code this host's JIT generates.
fn compile_all(instructions: &[Instruction], config: &ExecConfig) -> Vec<Box<dyn Executable>> {
    let program = program(instructions);
    code_variants()
        .into_iter()
        .flat_map(|(_, jit)| [jit, jit.with_constant_blinding(true)])
        .map(|jit| jit.prepare(&program, config).unwrap())
        .collect()
}

/// `r2 = base + r2; r0 = *(u64 *)r2` (or a store of r0 there when `write`), then `mov r0, 1`.
fn access_relative_to(base: u8, write: bool) -> Vec<Instruction> {
    let access = if write {
        stx(MemSize::DW, 2, 0, 0)
    } else {
        ldx(MemSize::DW, 0, 2, 0)
    };
    vec![
        alu64(AluOp::Add, 2, reg(base)),
        access,
        mov64(0, imm(1)),
        exit(),
    ]
}

fn run_with_r2(
    executable: &mut dyn Executable,
    memory: &mut [u8],
    r2: u64,
) -> Result<u64, ExecError> {
    let mut input = RunInput::with_memory(memory);
    input.args[1] = r2;
    executable.run(&input)
}

fn expect_out_of_bounds(result: Result<u64, ExecError>, addr: u64, access: Access) {
    assert_eq!(
        result,
        Err(ExecError::OutOfBounds {
            pc: 1,
            access,
            addr,
            size: 8,
        }),
        "at {addr:#x}"
    );
}

#[test]
fn scanning_around_r10_reaches_the_stack_and_nothing_else() {
    let mut memory = [0u8; 64];
    for write in [false, true] {
        for mut executable in compile_all(&access_relative_to(10, write), &config()) {
            let access = if write { Access::Write } else { Access::Read };
            // The stack is [r10 - STACK_SIZE, r10); r10 (the top) is where the access at r10 + 0
            // fails.
            let top = match run_with_r2(executable.as_mut(), &mut memory, 0) {
                Err(ExecError::OutOfBounds { addr, .. }) => addr,
                other => panic!("r10 + 0: {other:?}"),
            };
            // 8 KiB on each side of the stack.
            for delta in (-(STACK_SIZE as i64) - 8192..8192).step_by(8) {
                let result = run_with_r2(executable.as_mut(), &mut memory, delta as u64);
                if (-(STACK_SIZE as i64)..=-8).contains(&delta) {
                    assert_eq!(result, Ok(1), "r10 {delta:+}");
                } else {
                    expect_out_of_bounds(result, top.wrapping_add(delta as u64), access);
                }
            }
        }
    }
}

#[test]
fn scanning_around_r1_reaches_the_memory_and_nothing_else() {
    let mut memory = [0u8; 64];
    let len = memory.len() as i64;
    for write in [false, true] {
        for mut executable in compile_all(&access_relative_to(1, write), &config()) {
            let access = if write { Access::Write } else { Access::Read };
            let start = memory.as_ptr() as u64;
            for delta in (-8192..len + 8192).step_by(4) {
                let result = run_with_r2(executable.as_mut(), &mut memory, delta as u64);
                if (0..=len - 8).contains(&delta) {
                    assert_eq!(result, Ok(1), "r1 {delta:+}");
                } else {
                    expect_out_of_bounds(result, start.wrapping_add(delta as u64), access);
                }
            }
        }
    }
}

/// The host stack from just below a helper's frame to 128 KiB above it, which holds the frames
/// of generated code, of the JIT's `run` (and the `RunContext` in it) and of their callers:
/// every 8-byte slot is out of bounds, for reads and writes (writes that got through would
/// corrupt return addresses and saved registers and crash the test).
#[test]
fn the_host_stack_holding_the_context_is_out_of_reach() {
    // r6 = host stack address (helper 7); r2 = r6 + r7 (r7 = the argument r2); access [r2].
    let instructions = |write: bool| {
        let access = if write {
            stx(MemSize::DW, 2, 0, 0)
        } else {
            ldx(MemSize::DW, 0, 2, 0)
        };
        vec![
            mov64(7, reg(2)),
            call_helper(HELPER_ID as i32),
            mov64(2, reg(0)),
            alu64(AluOp::Add, 2, reg(7)),
            access,
            mov64(0, imm(1)),
            exit(),
        ]
    };
    for write in [false, true] {
        for mut executable in compile_all(&instructions(write), &config()) {
            for delta in (-4096i64..128 << 10).step_by(8) {
                let mut input = RunInput::empty();
                input.args[1] = delta as u64;
                match executable.run(&input) {
                    Err(ExecError::OutOfBounds { pc: 4, size: 8, .. }) => {}
                    other => panic!("host stack {delta:+}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn callx_takes_helper_ids_and_a_forged_address_is_just_an_unknown_id() {
    // r0 = callx r1
    let instructions = [callx(1), exit()];
    let code_address = {
        let jit = xbpf_jit::Jit::new();
        let compiled = jit.compile(&program(&instructions), &config()).unwrap();
        compiled.code().as_ptr() as u64
    };
    let helper_function = helpers as fn() -> HelperTable as usize as u64;
    for mut executable in compile_all(&instructions, &config()) {
        let call = |executable: &mut Box<dyn Executable>, r1: u64| {
            let mut input = RunInput::empty();
            input.args[0] = r1;
            executable.run(&input)
        };
        // a real id calls the helper
        assert!(matches!(call(&mut executable, u64::from(HELPER_ID)), Ok(address) if address != 0));
        for forged in [
            code_address,
            helper_function,
            0,
            1,
            u64::MAX,
            1 << 32 | 7,
            0xdead_beef,
        ] {
            assert_eq!(
                call(&mut executable, forged),
                Err(ExecError::UnknownHelper { pc: 0, id: forged }),
                "{forged:#x}"
            );
        }
    }
}

#[test]
fn static_calls_of_unregistered_ids_do_not_compile() {
    for id in [1, HELPER_ID as i32 + 1, -1, i32::MAX] {
        let program = program(&[call_helper(id), exit()]);
        for (name, jit) in code_variants() {
            assert!(
                matches!(
                    jit.prepare(&program, &config()),
                    Err(PrepareError::UnknownHelper { .. })
                ),
                "{name}: call {id}"
            );
        }
    }
    let empty = config_with(HelperTable::new());
    assert!(
        xbpf_jit::Jit::new()
            .prepare(&program(&[call_helper(HELPER_ID as i32), exit()]), &empty)
            .is_err()
    );
}
