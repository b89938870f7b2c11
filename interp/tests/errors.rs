//! How runs stop: every error with its exact pc and fields, and the limits (call depth, fuel,
//! interrupts) at their exact boundaries.

mod common;

use common::{prepare, program, run, try_run, try_run_with_memory, with_fuel, with_helpers, word};
use std::time::Duration;
use xbpf_interp::Interpreter;
use xbpf_isa::exec::{Interrupt, STACK_SIZE};
use xbpf_isa::{
    Access, ExecConfig, ExecError, Executable, HelperError, HelperTable, PrepareError, Region,
    RunInput,
};

fn out_of_bounds(pc: usize, access: Access, addr: u64, size: u64) -> ExecError {
    ExecError::OutOfBounds {
        pc,
        access,
        addr,
        size,
    }
}

/// Runs `access` (one instruction, at pc 1) after saving r10 in the input memory; returns the
/// result and the entry frame's r10 (the top of the stack).
fn stack_access(access: &str) -> (Result<u64, ExecError>, u64) {
    let mut memory = [0u8; 8];
    let result = try_run_with_memory(&format!("stxdw [%r1], %r10\n{access}\nexit"), &mut memory);
    (result, word(&memory, 0))
}

#[test]
fn accesses_below_the_stack_are_out_of_bounds() {
    let (result, top) = stack_access("ldxb %r0, [%r10-4097]");
    assert_eq!(result, Err(out_of_bounds(1, Access::Read, top - 4097, 1)));
    // straddling the bottom
    let (result, top) = stack_access("ldxdw %r0, [%r10-4100]");
    assert_eq!(result, Err(out_of_bounds(1, Access::Read, top - 4100, 8)));
    let (result, top) = stack_access("stdw [%r10-4097], 1");
    assert_eq!(result, Err(out_of_bounds(1, Access::Write, top - 4097, 8)));
    // the lowest 8 bytes are inside
    assert_eq!(stack_access("ldxdw %r0, [%r10-4096]").0, Ok(0));
    assert_eq!(STACK_SIZE, 4096);
}

#[test]
fn accesses_above_the_stack_are_out_of_bounds() {
    let (result, top) = stack_access("ldxb %r0, [%r10]");
    assert_eq!(result, Err(out_of_bounds(1, Access::Read, top, 1)));
    // straddling the top
    let (result, top) = stack_access("ldxw %r0, [%r10-2]");
    assert_eq!(result, Err(out_of_bounds(1, Access::Read, top - 2, 4)));
    let (result, top) = stack_access("stxdw [%r10-4], %r1");
    assert_eq!(result, Err(out_of_bounds(1, Access::Write, top - 4, 8)));
    let (result, top) = stack_access("lock add [%r10+8], %r1");
    assert_eq!(result, Err(out_of_bounds(1, Access::Write, top + 8, 8)));
}

#[test]
fn accesses_past_the_input_memory_are_out_of_bounds() {
    let cases: [(&str, Access, i64, u64); 5] = [
        ("ldxdw %r0, [%r1+1]", Access::Read, 1, 8),
        ("ldxb %r0, [%r1+8]", Access::Read, 8, 1),
        ("ldxb %r0, [%r1-1]", Access::Read, -1, 1),
        ("stxw [%r1+6], %r0", Access::Write, 6, 4),
        ("lock xchg32 [%r1+5], %r0", Access::Write, 5, 4),
    ];
    for (instruction, access, offset, size) in cases {
        let mut memory = [0u8; 8];
        let start = memory.as_ptr() as u64;
        let result = try_run_with_memory(&format!("mov %r0, 0\n{instruction}\nexit"), &mut memory);
        let addr = start.wrapping_add(offset as u64);
        assert_eq!(
            result,
            Err(out_of_bounds(1, access, addr, size)),
            "{instruction}"
        );
    }
    // the last byte and the last word are inside
    let mut memory = [0u8; 8];
    assert_eq!(
        try_run_with_memory("ldxb %r0, [%r1+7]\nldxdw %r0, [%r1]\nexit", &mut memory),
        Ok(0)
    );
}

#[test]
fn read_only_regions_refuse_writes_and_atomics() {
    let buffer = [5u8, 0, 0, 0, 0, 0, 0, 0];
    let mut input = RunInput::empty();
    let region = input.add_readonly(&buffer);
    input.args[0] = region.start;
    let config = ExecConfig::default();
    let run = |source: &str| prepare(source, &config).run(&input);
    assert_eq!(run("ldxdw %r0, [%r1]\nexit"), Ok(5));
    assert_eq!(
        run("mov %r0, 0\nstb [%r1+3], 1\nexit"),
        Err(out_of_bounds(1, Access::Write, region.start + 3, 1))
    );
    assert_eq!(
        run("mov %r0, 0\nlock add32 [%r1], %r0\nexit"),
        Err(out_of_bounds(1, Access::Write, region.start, 4))
    );
    // cmpxchg is checked as a write even when it would store nothing
    assert_eq!(
        run("mov %r0, 1\nlock cmpxchg [%r1], %r0\nexit"),
        Err(out_of_bounds(1, Access::Write, region.start, 8))
    );
}

#[test]
fn address_arithmetic_wraps_around_two_to_the_64() {
    // (`lddw` takes two slots, so the access is at pc 2)
    // the access itself would wrap past 2^64: rejected, not wrapped into low memory
    assert_eq!(
        try_run("lddw %r1, 0xfffffffffffffffc\nldxdw %r0, [%r1]\nexit"),
        Err(out_of_bounds(2, Access::Read, 0xffff_ffff_ffff_fffc, 8))
    );
    // base + offset wraps to a small address, which is outside every region
    assert_eq!(
        try_run("lddw %r1, 0xffffffffffffffff\nldxb %r0, [%r1+1]\nexit"),
        Err(out_of_bounds(2, Access::Read, 0, 1))
    );
    assert_eq!(
        try_run("lddw %r1, 0xfffffffffffffff8\nstdw [%r1+16], 0\nexit"),
        Err(out_of_bounds(2, Access::Write, 8, 8))
    );
    // register arithmetic that wraps into the stack is an ordinary stack address
    assert_eq!(
        run("lddw %r2, -8\nmov %r1, %r10\nadd %r1, %r2\nstdw [%r1], 5\nldxdw %r0, [%r10-8]\nexit"),
        5
    );
}

#[test]
fn a_null_pointer_is_out_of_bounds() {
    assert_eq!(
        try_run("ldxw %r0, [%r1]\nexit"),
        Err(out_of_bounds(0, Access::Read, 0, 4))
    );
}

#[test]
fn bounds_are_checked_even_when_the_config_turns_checks_off() {
    let config = ExecConfig {
        bounds_checks: false,
        ..ExecConfig::default()
    };
    let result = prepare("ldxw %r0, [%r1+16]\nexit", &config).run(&RunInput::empty());
    assert_eq!(result, Err(out_of_bounds(0, Access::Read, 16, 4)));
}

/// Recurses until `frames` frames are active, the entry function included; the deepest frame
/// writes the lowest byte of its 512-byte frame and returns its r10.
fn recursion(frames: i32) -> String {
    format!(
        "
        mov %r1, {}
        call local f
        exit
    f:
        sub %r1, 1
        jeq %r1, 0, deepest
        call local f
        exit
    deepest:
        stb [%r10-512], 1
        mov %r0, %r10
        exit
        ",
        frames - 1
    )
}

#[test]
fn eight_call_frames_work_and_a_ninth_fails_at_the_call() {
    let mut memory = [0u8; 8];
    let source = format!("stxdw [%r1], %r10\n{}", recursion(8));
    let deepest_r10 = try_run_with_memory(&source, &mut memory).unwrap();
    assert_eq!(deepest_r10, word(&memory, 0) - 7 * 512);
    // pc 5 is the `call local f` inside f
    assert_eq!(
        try_run(&recursion(9)),
        Err(ExecError::CallDepthExceeded { pc: 5 })
    );
}

#[test]
fn the_deepest_frame_cannot_reach_below_the_stack() {
    let source = recursion(8).replace("[%r10-512]", "[%r10-513]");
    let mut memory = [0u8; 8];
    let result = try_run_with_memory(&format!("stxdw [%r1], %r10\n{source}"), &mut memory);
    let top = word(&memory, 0);
    assert_eq!(
        result,
        Err(out_of_bounds(8, Access::Write, top - 7 * 512 - 513, 1))
    );
}

const COUNT_TO_100: &str = "
        mov %r0, 0
    loop:
        add %r0, 1
        jne %r0, 100, loop
        exit
";

#[test]
fn fuel_equal_to_the_instruction_count_is_enough() {
    // 1 + 100 * 2 + 1 instructions
    let result = prepare(COUNT_TO_100, &with_fuel(202)).run(&RunInput::empty());
    assert_eq!(result, Ok(100));
}

#[test]
fn the_fuel_left_counts_the_executed_instructions() {
    let mut executable = prepare(COUNT_TO_100, &with_fuel(1000));
    assert_eq!(executable.fuel_left(), None);
    assert_eq!(executable.run(&RunInput::empty()), Ok(100));
    assert_eq!(executable.fuel_left(), Some(1000 - 202));
    // each run starts with the whole budget again
    assert_eq!(executable.run(&RunInput::empty()), Ok(100));
    assert_eq!(executable.fuel_left(), Some(1000 - 202));
    // a run that runs out keeps what it could not spend: 201 = 1 + 100 * 2, the exit unpaid
    let mut executable = prepare(COUNT_TO_100, &with_fuel(201));
    assert!(executable.run(&RunInput::empty()).is_err());
    assert_eq!(executable.fuel_left(), Some(0));
    // without a limit there is nothing to report
    let mut executable = prepare(COUNT_TO_100, &ExecConfig::default());
    assert_eq!(executable.run(&RunInput::empty()), Ok(100));
    assert_eq!(executable.fuel_left(), None);
}

#[test]
fn running_out_of_fuel_stops_at_the_block_that_cannot_be_paid() {
    let run = |fuel| prepare(COUNT_TO_100, &with_fuel(fuel)).run(&RunInput::empty());
    // one short: the final `exit` block cannot be paid
    assert_eq!(run(201), Err(ExecError::OutOfFuel { pc: 3 }));
    // in the middle of the loop: at the loop head
    assert_eq!(run(50), Err(ExecError::OutOfFuel { pc: 1 }));
    assert_eq!(run(0), Err(ExecError::OutOfFuel { pc: 0 }));
}

#[test]
fn fuel_is_charged_for_call_targets_and_return_points() {
    let source = "
        mov %r1, 1
        call local f
        add %r0, 1
        exit
    f:
        mov %r0, %r1
        exit
    ";
    let run = |fuel| prepare(source, &with_fuel(fuel)).run(&RunInput::empty());
    assert_eq!(run(6), Ok(2));
    assert_eq!(run(5), Err(ExecError::OutOfFuel { pc: 2 }));
    assert_eq!(run(3), Err(ExecError::OutOfFuel { pc: 4 }));
    // an lddw counts once
    let lddw = |fuel| prepare("lddw %r0, 1\nexit", &with_fuel(fuel)).run(&RunInput::empty());
    assert_eq!(lddw(2), Ok(1));
    assert_eq!(lddw(1), Err(ExecError::OutOfFuel { pc: 0 }));
}

#[test]
fn fuel_stops_an_infinite_loop_and_is_renewed_every_run() {
    let mut executable = prepare("mov %r0, 0\nloop:\nja loop", &with_fuel(1000));
    for _ in 0..2 {
        assert_eq!(
            executable.run(&RunInput::empty()),
            Err(ExecError::OutOfFuel { pc: 1 })
        );
    }
    let mut executable = prepare(COUNT_TO_100, &with_fuel(202));
    for _ in 0..2 {
        assert_eq!(executable.run(&RunInput::empty()), Ok(100));
    }
}

#[test]
fn an_interrupt_already_raised_stops_an_infinite_loop() {
    let interrupt = Interrupt::new();
    interrupt.trigger();
    let config = ExecConfig {
        interrupt: Some(interrupt.clone()),
        ..ExecConfig::default()
    };
    let mut executable = prepare("mov %r0, 0\nloop:\nadd %r0, 1\nja loop", &config);
    assert_eq!(
        executable.run(&RunInput::empty()),
        Err(ExecError::Interrupted { pc: 1 })
    );
    // a recursion without loops is stopped at a call
    let mut recursion = prepare("f:\ncall local f\nexit", &config);
    assert!(matches!(
        recursion.run(&RunInput::empty()),
        Err(ExecError::Interrupted { .. })
    ));
    // once cleared, runs go on
    interrupt.reset();
    let mut bounded = prepare(COUNT_TO_100, &config);
    assert_eq!(bounded.run(&RunInput::empty()), Ok(100));
}

#[test]
fn an_interrupt_from_another_thread_stops_a_running_program() {
    let interrupt = Interrupt::new();
    // fuel only as a safety net (several seconds of work) should polling ever break
    let config = ExecConfig {
        interrupt: Some(interrupt.clone()),
        fuel: Some(5_000_000_000),
        ..ExecConfig::default()
    };
    let mut executable = prepare("mov %r0, 0\nloop:\nadd %r0, 1\nja loop", &config);
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        interrupt.trigger();
    });
    let result = executable.run(&RunInput::empty());
    trigger.join().unwrap();
    assert_eq!(result, Err(ExecError::Interrupted { pc: 1 }));
}

#[test]
fn callx_with_an_unknown_id_fails_at_run_time() {
    let mut helpers = HelperTable::new();
    helpers.register(5, "return_r1", |_, args| Ok(args[0]));
    let config = with_helpers(helpers);
    let run = |source: &str| prepare(source, &config).run(&RunInput::empty());
    assert_eq!(
        run("mov %r1, 99\ncall %r1\nexit"),
        Err(ExecError::UnknownHelper { pc: 1, id: 99 })
    );
    // ids are not truncated to 32 bits
    assert_eq!(
        run("lddw %r3, 0x100000005\ncall %r3\nexit"),
        Err(ExecError::UnknownHelper {
            pc: 2,
            id: 0x1_0000_0005
        })
    );
    assert_eq!(run("mov %r1, 7\nmov %r3, 5\ncall %r3\nexit"), Ok(7));
}

#[test]
fn helper_failures_stop_the_run_at_the_call() {
    let mut helpers = HelperTable::new();
    helpers.register(1, "fail", |_, _| Err(HelperError::Failed("boom".into())));
    helpers.register(2, "tail_call", |_, _| Err(HelperError::TailCall));
    helpers.register(3, "read_null", |context, _| {
        context.memory().read(0, 4)?;
        Ok(0)
    });
    let config = with_helpers(helpers);
    let run = |source: &str| prepare(source, &config).run(&RunInput::empty());
    assert_eq!(
        run("mov %r0, 0\ncall 1\nexit"),
        Err(ExecError::Helper {
            pc: 1,
            id: 1,
            name: "fail".into(),
            message: "boom".into()
        })
    );
    assert_eq!(
        run("mov %r0, 0\nmov %r1, 2\ncall 2\nexit"),
        Err(ExecError::TailCall { pc: 2 })
    );
    assert!(matches!(
        run("call 3\nexit"),
        Err(ExecError::Helper { pc: 0, id: 3, .. })
    ));
}

#[test]
fn unknown_helpers_kfuncs_and_unresolved_lddw_fail_preparation() {
    let prepare_error = |source: &str| {
        Interpreter
            .prepare_program(&program(source), &ExecConfig::default())
            .unwrap_err()
    };
    assert_eq!(
        prepare_error("mov %r0, 0\ncall 7\nexit"),
        PrepareError::UnknownHelper { pc: 1, id: 7 }
    );
    assert!(matches!(
        prepare_error("call runtime 3\nexit"),
        PrepareError::Unsupported {
            pc: 0,
            engine: "interp",
            ..
        }
    ));
    assert!(matches!(
        prepare_error("mov %r0, 0\nlddw %r1, map_by_fd 3\nexit"),
        PrepareError::Unsupported {
            pc: 1,
            engine: "interp",
            ..
        }
    ));
}

const PACKET: [u8; 5] = [0x12, 0x34, 0x56, 0x78, 0x9a];

fn packet_run(source: &str) -> Result<u64, ExecError> {
    let mut packet = PACKET;
    try_run_with_memory(source, &mut packet)
}

#[test]
fn legacy_packet_loads_read_network_byte_order() {
    let cases: [(&str, u64); 9] = [
        ("ldabsb 0", 0x12),
        ("ldabsh 0", 0x1234),
        ("ldabsw 0", 0x1234_5678),
        ("ldabsw 1", 0x3456_789a),
        ("ldabsh 3", 0x789a),
        ("mov %r6, 1\nldindh %r6, 2", 0x789a),
        // the offset is the low 32 bits of the 64-bit sum, as a signed int
        ("mov %r6, -1\nldindb %r6, 1", 0x12),
        ("lddw %r6, 0x100000002\nldindb %r6, 0", 0x56),
        ("lddw %r6, 0xffffffff00000003\nldindb %r6, 1", 0x9a),
    ];
    for (load, expected) in cases {
        assert_eq!(packet_run(&format!("{load}\nexit")), Ok(expected), "{load}");
    }
}

#[test]
fn legacy_packet_loads_outside_the_packet_end_the_program_with_zero() {
    let loads = [
        "ldabsw 2",
        "ldabsb 5",
        "ldabsb -1",
        "ldabsh 0x7fffffff",
        "mov %r6, 0xffffffff\nldindb %r6, 0",
        "lddw %r6, 0x80000000\nldindb %r6, 0",
        "mov %r6, 4\nldindh %r6, 0",
    ];
    for load in loads {
        let source = format!("mov %r0, 7\n{load}\nmov %r0, 9\nexit");
        assert_eq!(packet_run(&source), Ok(0), "{load}");
    }
    // with no packet at all, or an empty one
    assert_eq!(try_run("mov %r0, 7\nldabsb 0\nexit"), Ok(0));
    assert_eq!(
        try_run_with_memory("mov %r0, 7\nldabsb 0\nexit", &mut []),
        Ok(0)
    );
}

#[test]
fn a_failed_packet_load_ends_the_program_from_any_depth() {
    let source = "
        call local f
        mov %r0, 99
        exit
    f:
        mov %r0, 5
        ldabsw 100
        mov %r0, 6
        exit
    ";
    assert_eq!(packet_run(source), Ok(0));
}

#[test]
fn legacy_packet_loads_leave_r1_to_r5_intact() {
    let source = "
        mov %r6, %r1
        mov %r7, %r2
        mov %r3, 3
        mov %r4, 4
        mov %r5, 5
        ldabsb 0
        jne %r1, %r6, fail
        jne %r2, %r7, fail
        jne %r3, 3, fail
        jne %r4, 4, fail
        jne %r5, 5, fail
        exit
    fail:
        mov %r0, -1
        exit
    ";
    assert_eq!(packet_run(source), Ok(0x12));
}

#[test]
fn a_packet_outside_the_run_regions_is_never_read() {
    let mut input = RunInput::empty();
    input.set_packet(Region {
        start: 0x1000,
        len: 16,
        writable: false,
    });
    let result = prepare("ldabsh 2\nexit", &ExecConfig::default()).run(&input);
    assert_eq!(result, Err(out_of_bounds(0, Access::Read, 0x1002, 2)));
}
