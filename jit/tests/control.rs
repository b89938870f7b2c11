//! Local calls, helper calls, `callx`, fuel, interrupts, legacy packet loads and the errors each
//! of them can end a run with.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use xbpf_isa::exec::Interrupt;
use xbpf_isa::{
    AluOp, Engine, ExecConfig, ExecError, HelperError, HelperTable, Instruction, JmpCond, MemSize,
    RunInput, Width,
};
use xbpf_jit::Jit;

#[test]
fn engine_is_named_jit() {
    assert_eq!(Jit::new().name(), "jit");
}

#[test]
fn local_calls_preserve_r6_to_r9_and_move_r10_down_one_frame() {
    let program = [
        mov64(6, imm(6)),
        mov64(7, imm(7)),
        mov64(8, imm(8)),
        mov64(9, imm(9)),
        mov64(1, reg(10)),
        call_local(6), // -> 12
        // r0 = r10 distance seen by the callee (512) + r6..r9 (30)
        alu64(AluOp::Add, 0, reg(6)),
        alu64(AluOp::Add, 0, reg(7)),
        alu64(AluOp::Add, 0, reg(8)),
        alu64(AluOp::Add, 0, reg(9)),
        exit(),
        exit(),
        // callee: clobber r6..r9, return caller r10 - own r10
        mov64(6, imm(0)),
        mov64(7, imm(0)),
        mov64(8, imm(0)),
        mov64(9, imm(0)),
        mov64(0, reg(1)),
        alu64(AluOp::Sub, 0, reg(10)),
        exit(),
    ];
    assert_eq!(run(&program), Ok(512 + 30));
}

/// `depth` nested calls: each function calls the next, the last returns 1; every level adds 1.
fn nested_calls(depth: usize) -> Vec<xbpf_isa::Instruction> {
    let mut program = Vec::new();
    for _ in 0..depth {
        // call the function 3 slots ahead, then add 1 to its result
        program.push(call_local(2));
        program.push(alu64(AluOp::Add, 0, imm(1)));
        program.push(exit());
    }
    program.push(mov64(0, imm(1)));
    program.push(exit());
    program
}

#[test]
fn eight_frames_are_allowed_and_a_ninth_is_an_error() {
    assert_eq!(run(&nested_calls(7)), Ok(8));
    assert_eq!(
        run(&nested_calls(8)),
        Err(ExecError::CallDepthExceeded { pc: 21 })
    );
}

#[test]
fn unbounded_recursion_stops_at_the_call_depth() {
    let program = [mov64(0, imm(0)), call_local(-2), exit()];
    assert_eq!(run(&program), Err(ExecError::CallDepthExceeded { pc: 1 }));
}

#[test]
fn the_entry_function_can_call_itself() {
    let program = [
        jump(Width::W64, JmpCond::Eq, 1, imm(0), 3),
        alu64(AluOp::Sub, 1, imm(1)),
        call_local(-3), // -> 0
        alu64(AluOp::Add, 0, imm(10)),
        alu64(AluOp::Add, 0, imm(1)),
        exit(),
    ];
    assert_eq!(run_args(&program, [2, 0, 0, 0, 0]), Ok(23));
}

#[test]
fn exit_shared_by_caller_and_callee_returns_in_the_callee() {
    // pc 3 is reached both as the body of the callee and by the main function's jump.
    let program = [
        mov64(0, imm(1)),
        call_local(1), // -> 3
        ja(0),         // -> 3 (main function ends at the shared exit)
        alu64(AluOp::Add, 0, imm(10)),
        exit(),
    ];
    assert_eq!(run(&program), Ok(21));
}

fn helpers() -> HelperTable {
    let mut helpers = HelperTable::new();
    helpers.register(1, "sum", |_, args| {
        Ok(args.iter().fold(0u64, |a, b| a.wrapping_add(*b)))
    });
    helpers.register(2, "fail", |_, _| Err(HelperError::Failed("no luck".into())));
    helpers.register(3, "read_stack", |context, args| {
        let bytes = context.memory().read(args[0], 8)?;
        Ok(u64::from_le_bytes(bytes.try_into().unwrap()))
    });
    helpers.register(4, "tail_call", |_, _| Err(HelperError::TailCall));
    helpers.register(6, "panics", |_, _| panic!("helper bug"));
    helpers
}

#[test]
fn helper_calls_pass_r1_to_r5_and_preserve_them() {
    let program = [
        mov64(1, imm(1)),
        mov64(2, imm(20)),
        mov64(3, imm(300)),
        mov64(4, imm(4000)),
        mov64(5, imm(50000)),
        call_helper(1),
        // r0 = 54321; add r1..r5 again, which must be unchanged
        alu64(AluOp::Add, 0, reg(1)),
        alu64(AluOp::Add, 0, reg(2)),
        alu64(AluOp::Add, 0, reg(3)),
        alu64(AluOp::Add, 0, reg(4)),
        alu64(AluOp::Add, 0, reg(5)),
        exit(),
    ];
    let config = config(helpers(), None);
    assert_eq!(
        run_with(&program, &config, &RunInput::empty()),
        Ok(2 * 54321)
    );
}

#[test]
fn helpers_see_the_stack_in_their_memory_map() {
    let program = [
        st(MemSize::DW, 10, -8, 77),
        mov64(1, reg(10)),
        alu64(AluOp::Add, 1, imm(-8)),
        call_helper(3),
        exit(),
    ];
    let config = config(helpers(), None);
    assert_eq!(run_with(&program, &config, &RunInput::empty()), Ok(77));
}

#[test]
fn helper_failures_stop_the_run_with_the_helpers_error() {
    let config = config(helpers(), None);
    let input = RunInput::empty();
    assert_eq!(
        run_with(&[mov64(0, imm(0)), call_helper(2), exit()], &config, &input),
        Err(ExecError::Helper {
            pc: 1,
            id: 2,
            name: "fail".into(),
            message: "no luck".into()
        })
    );
    assert_eq!(
        run_with(&[call_helper(4), exit()], &config, &input),
        Err(ExecError::TailCall { pc: 0 })
    );
    // a helper reading outside every region
    assert!(matches!(
        run_with(
            &[mov64(1, imm(16)), call_helper(3), exit()],
            &config,
            &input
        ),
        Err(ExecError::Helper { pc: 1, id: 3, .. })
    ));
    // a panicking helper does not unwind through generated code
    let result = run_with(&[call_helper(6), exit()], &config, &input);
    assert!(
        matches!(&result, Err(ExecError::Helper { pc: 0, id: 6, message, .. }) if message.contains("helper bug")),
        "{result:?}"
    );
}

#[test]
fn callx_resolves_the_helper_at_run_time() {
    let config = config(helpers(), None);
    let program = [
        mov64(6, reg(1)),
        mov64(1, imm(40)),
        mov64(2, imm(2)),
        mov64(3, imm(0)),
        mov64(4, imm(0)),
        mov64(5, imm(0)),
        callx(6),
        exit(),
    ];
    let mut input = RunInput::empty();
    input.args[0] = 1;
    assert_eq!(run_with(&program, &config, &input), Ok(42));
    input.args[0] = 99;
    assert_eq!(
        run_with(&program, &config, &input),
        Err(ExecError::UnknownHelper { pc: 6, id: 99 })
    );
    input.args[0] = 1 << 40;
    assert_eq!(
        run_with(&program, &config, &input),
        Err(ExecError::UnknownHelper { pc: 6, id: 1 << 40 })
    );
}

#[test]
fn unknown_static_helpers_are_rejected_before_running() {
    let program = program(&[call_helper(77), exit()]);
    assert!(matches!(
        Jit::new().prepare(&program, &ExecConfig::default()),
        Err(xbpf_isa::PrepareError::UnknownHelper { pc: 0, id: 77 })
    ));
}

/// A loop of `n` iterations: 0: mov r1, n; 1: mov r0, 0; 2: add r0, 1; 3: sub r1, 1;
/// 4: jne r1, 0, -3; 5: exit. Blocks: [0..=1] (2), [2..=4] (3 per iteration), [5] (1).
fn counting_loop(n: i32) -> Vec<xbpf_isa::Instruction> {
    vec![
        mov64(1, imm(n)),
        mov64(0, imm(0)),
        alu64(AluOp::Add, 0, imm(1)),
        alu64(AluOp::Sub, 1, imm(1)),
        jump(Width::W64, JmpCond::Ne, 1, imm(0), -3),
        exit(),
    ]
}

#[test]
fn fuel_is_charged_per_block_and_runs_out_at_the_block_start() {
    let program = counting_loop(10);
    let exact = 2 + 3 * 10 + 1;
    let with_fuel = |fuel| {
        run_with(
            &program,
            &config(HelperTable::new(), Some(fuel)),
            &RunInput::empty(),
        )
    };
    assert_eq!(with_fuel(exact), Ok(10));
    assert_eq!(with_fuel(exact - 1), Err(ExecError::OutOfFuel { pc: 5 }));
    assert_eq!(with_fuel(exact - 2), Err(ExecError::OutOfFuel { pc: 2 }));
    assert_eq!(with_fuel(2), Err(ExecError::OutOfFuel { pc: 2 }));
    assert_eq!(with_fuel(1), Err(ExecError::OutOfFuel { pc: 0 }));
    assert_eq!(with_fuel(0), Err(ExecError::OutOfFuel { pc: 0 }));
}

#[test]
fn fuel_stops_infinite_loops_and_is_refilled_every_run() {
    let program = program(&[mov64(0, imm(0)), ja(-1)]);
    let mut executable = Jit::new()
        .prepare(&program, &config(HelperTable::new(), Some(1000)))
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            executable.run(&RunInput::empty()),
            Err(ExecError::OutOfFuel { pc: 1 })
        );
    }
}

#[test]
fn without_fuel_no_fuel_code_is_emitted() {
    let program = program(&counting_loop(3));
    let with = Jit::new()
        .compile(&program, &config(HelperTable::new(), Some(100)))
        .unwrap();
    let without = Jit::new()
        .compile(&program, &ExecConfig::default())
        .unwrap();
    assert!(without.code_size() < with.code_size());
    assert!(!without.native_listing().contains("[rbp+0x70]"));
}

#[test]
fn a_set_interrupt_flag_stops_the_program() {
    let interrupt = Interrupt::new();
    let config = ExecConfig {
        interrupt: Some(interrupt.clone()),
        ..ExecConfig::default()
    };
    let program = program(&counting_loop(5));
    let mut executable = Jit::new().prepare(&program, &config).unwrap();
    assert_eq!(executable.run(&RunInput::empty()), Ok(5));
    interrupt.trigger();
    assert!(matches!(
        executable.run(&RunInput::empty()),
        Err(ExecError::Interrupted { .. })
    ));
    interrupt.reset();
    assert_eq!(executable.run(&RunInput::empty()), Ok(5));
}

#[test]
fn another_thread_can_interrupt_an_endless_loop() {
    let interrupt = Interrupt::new();
    let config = ExecConfig {
        interrupt: Some(interrupt.clone()),
        ..ExecConfig::default()
    };
    let program = program(&[mov64(0, imm(0)), alu64(AluOp::Add, 0, imm(1)), ja(-2)]);
    let mut executable = Jit::new().prepare(&program, &config).unwrap();
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        interrupt.trigger();
    });
    let result = executable.run(&RunInput::empty());
    trigger.join().unwrap();
    assert_eq!(result, Err(ExecError::Interrupted { pc: 1 }));
}

#[test]
fn legacy_packet_loads_read_big_endian_and_zero_extend() {
    let mut packet = [0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    let input = RunInput::with_memory(&mut packet);
    let config = ExecConfig::default();
    let cases = [
        (ld_abs(MemSize::B, 7), 0xf0u64),
        (ld_abs(MemSize::H, 6), 0xdef0),
        (ld_abs(MemSize::W, 4), 0x9abc_def0),
        (ld_abs(MemSize::W, 0), 0x1234_5678),
    ];
    for (load, want) in cases {
        assert_eq!(
            run_with(&[load, exit()], &config, &input),
            Ok(want),
            "{load:?}"
        );
    }
    // indirect: r6 + imm, computed as a 32-bit int
    let program = [
        lddw(6, 0xffff_ffff_0000_0003),
        ld_ind(MemSize::H, 6, 1),
        exit(),
    ];
    assert_eq!(run_with(&program, &config, &input), Ok(0x9abc));
}

#[test]
fn failed_packet_loads_exit_with_zero_from_every_frame() {
    let mut packet = [1u8; 8];
    let input = RunInput::with_memory(&mut packet);
    let config = ExecConfig::default();
    let failing = [
        ld_abs(MemSize::W, 5),  // past the end
        ld_abs(MemSize::B, -1), // negative
    ];
    for load in failing {
        let program = [mov64(0, imm(9)), load, mov64(0, imm(7)), exit()];
        assert_eq!(run_with(&program, &config, &input), Ok(0), "{load:?}");
    }
    // r1 (the packet address) + 0 is a huge int offset: negative or far out of range
    let program = [
        mov64(7, imm(0x7fff_fff0)),
        ld_ind(MemSize::B, 7, 0x20),
        exit(),
    ];
    assert_eq!(
        run_with(&program, &config, &input),
        Ok(0),
        "negative after wrapping"
    );
    // inside a local call: the whole program ends, r6..r9 and the caller do not matter
    let program = [
        mov64(0, imm(5)),
        call_local(1),
        exit(),
        ld_abs(MemSize::W, 100),
        mov64(0, imm(3)),
        exit(),
    ];
    assert_eq!(run_with(&program, &config, &input), Ok(0));
    // without a packet every load fails
    assert_eq!(run(&[ld_abs(MemSize::B, 0), exit()]), Ok(0));
}

#[test]
fn packet_loads_keep_r1_to_r5() {
    let mut packet = [1u8; 8];
    let input = RunInput::with_memory(&mut packet);
    let program = [
        mov64(2, imm(2)),
        mov64(3, imm(3)),
        ld_abs(MemSize::B, 0),
        alu64(AluOp::Add, 0, reg(2)),
        alu64(AluOp::Add, 0, reg(3)),
        alu64(AluOp::Add, 0, reg(1)),
        alu64(AluOp::Sub, 0, reg(1)),
        exit(),
    ];
    assert_eq!(run_with(&program, &ExecConfig::default(), &input), Ok(6));
}

#[test]
fn runs_can_repeat_and_share_nothing_but_the_stack() {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let mut helpers = HelperTable::new();
    helpers.register(9, "count", move |_, _| {
        Ok(counter.fetch_add(1, Ordering::Relaxed))
    });
    let config = config(helpers, Some(100));
    let program = program(&[
        ldx(MemSize::DW, 0, 10, -8),
        alu64(AluOp::Add, 0, imm(1)),
        stx(MemSize::DW, 10, -8, 0),
        call_helper(9),
        ldx(MemSize::DW, 0, 10, -8),
        exit(),
    ]);
    let mut executable = Jit::new().prepare(&program, &config).unwrap();
    for expected in 1..=3 {
        assert_eq!(executable.run(&RunInput::empty()), Ok(expected));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[test]
fn the_listing_interleaves_ebpf_and_native_code() {
    let program = program(&counting_loop(3));
    let compiled = Jit::new()
        .compile(&program, &ExecConfig::default())
        .unwrap();
    let listing = compiled.native_listing();
    assert!(listing.contains("; 4: jne %r1, 0, -3"), "{listing}");
    // The native branch of pc 4 (a compare with 0): `jne` after `test` on x86-64, `cbnz`.
    let native_branch = if cfg!(target_arch = "aarch64") {
        "cbnz"
    } else {
        "jne"
    };
    assert!(
        listing
            .lines()
            .any(|line| !line.starts_with(';') && line.contains(native_branch)),
        "{listing}"
    );
    assert!(listing.contains("; shared stubs"), "{listing}");
    assert!(compiled.native_offset(5).unwrap() > compiled.native_offset(0).unwrap());
    assert_eq!(compiled.disassemble(), listing);
}

/// Whether the native stack is 16-byte aligned inside a helper, as every calling convention
/// requires: an over-aligned local is misplaced otherwise.
fn stack_is_aligned() -> bool {
    #[repr(align(16))]
    struct Aligned {
        _byte: u8,
    }
    let local = std::hint::black_box(Aligned { _byte: 0 });
    std::hint::black_box(&local as *const Aligned as usize).is_multiple_of(16)
}

#[test]
fn helpers_are_called_aligned_at_every_depth_in_every_kind_of_code() {
    let mut helpers = helpers();
    helpers.register(7, "aligned", |_, args| {
        assert!(stack_is_aligned(), "misaligned stack in a helper");
        Ok(args[0] + 1)
    });
    let config = config(helpers, Some(10_000));
    // each of 7 nested functions calls helper 7 (r1 = depth so far), then the next function
    let mut program = Vec::new();
    for level in 0..7 {
        program.push(mov64(6, imm(level)));
        program.push(mov64(1, reg(0)));
        program.push(call_helper(7));
        program.push(call_local(1));
        program.push(exit());
    }
    program.push(mov64(1, reg(0)));
    program.push(call_helper(7));
    program.push(exit());
    // callx and a store through a pointer to the input memory
    let mut second_region = [0u8; 8];
    for (variant, jit) in code_variants() {
        let mut executable = jit.prepare(&common::program(&program), &config).unwrap();
        assert_eq!(executable.run(&RunInput::empty()), Ok(8), "{variant}");

        let mut input = RunInput::empty();
        let region = input.add_memory(&mut second_region);
        input.args = [0, region.start, 0, 0, 0];
        let other = [
            st(MemSize::DW, 10, -8, 1),
            mov64(1, imm(5)),
            mov64(9, imm(1)),
            callx(9), // helper 1 (sum); r1 must survive it
            stx(MemSize::B, 2, 7, 1),
            ldx(MemSize::DW, 0, 2, 0),
            exit(),
        ];
        let mut executable = jit.prepare(&common::program(&other), &config).unwrap();
        assert_eq!(executable.run(&input), Ok(5 << 56), "{variant}");
        let failing = [mov64(0, imm(0)), call_helper(2), exit()];
        let mut executable = jit.prepare(&common::program(&failing), &config).unwrap();
        assert!(matches!(
            executable.run(&RunInput::empty()),
            Err(ExecError::Helper { pc: 1, id: 2, .. })
        ));
    }
}

#[test]
fn out_of_line_checks_preserve_registers_in_every_kind_of_code() {
    let mut first = [0u8; 8];
    let mut second = [0u8; 16];
    for (variant, jit) in code_variants() {
        let mut input = RunInput::empty();
        input.add_memory(&mut first);
        let region = input.add_memory(&mut second);
        input.args = [region.start, 2, 3, 4, 5];
        let program = [
            mov64(0, imm(100)),
            st(MemSize::DW, 1, 8, 1000), // second region: out-of-line check
            ldx(MemSize::DW, 6, 1, 8),
            alu64(AluOp::Add, 0, reg(6)),
            alu64(AluOp::Add, 0, reg(2)),
            alu64(AluOp::Add, 0, reg(3)),
            alu64(AluOp::Add, 0, reg(4)),
            alu64(AluOp::Add, 0, reg(5)),
            alu64(AluOp::Sub, 0, reg(1)),
            exit(),
        ];
        let mut executable = jit
            .prepare(&common::program(&program), &ExecConfig::default())
            .unwrap();
        let want = (100u64 + 1000 + 2 + 3 + 4 + 5).wrapping_sub(region.start);
        assert_eq!(executable.run(&input), Ok(want), "{variant}");
    }
}

/// A callee's way back survives everything that calls out of generated code inside it (on
/// ARM64 the return address is in the link register, which such calls clobber): an
/// out-of-line bounds check, a helper call and a `callx`, at two depths.
#[test]
fn callees_return_after_out_of_line_checks_and_helper_calls() {
    let mut first = [0u8; 8];
    let mut second = [0u8; 16];
    let program = [
        mov64(6, imm(7)),
        call_local(2), // to pc 4
        alu64(AluOp::Add, 0, reg(6)),
        exit(),
        // pc 4: store into the second region (checked out of line), call the next function
        st(MemSize::DW, 1, 8, 1000),
        mov64(6, imm(99)),
        call_local(2), // to pc 9
        alu64(AluOp::Add, 0, reg(6)),
        exit(),
        // pc 9: load it back (out of line again), sum r1..r5 with a helper and with callx
        ldx(MemSize::DW, 7, 1, 8),
        mov64(6, imm(5)),
        call_helper(1),
        mov64(8, reg(0)),
        mov64(9, imm(1)),
        callx(9),
        alu64(AluOp::Add, 0, reg(8)),
        alu64(AluOp::Sub, 0, reg(1)),
        alu64(AluOp::Sub, 0, reg(1)),
        alu64(AluOp::Add, 0, reg(7)),
        exit(),
    ];
    for (variant, jit) in code_variants() {
        let mut input = RunInput::empty();
        input.add_memory(&mut first);
        let region = input.add_memory(&mut second);
        input.args = [region.start, 2, 3, 4, 5];
        let mut executable = jit
            .prepare(&common::program(&program), &config(helpers(), Some(1_000)))
            .unwrap();
        // 2 * (2 + 3 + 4 + 5) + 1000 in the innermost function, then + 99, then + 7
        assert_eq!(executable.run(&input), Ok(28 + 1000 + 99 + 7), "{variant}");
    }
}

/// `r0 = 0; r1 = 5; if r0 COND 0 goto out; adds x add r0, 1; movs x mov r2, r0; loop:
/// r0 += 3; r1 -= 1; if r1 != 0 goto loop; out: r0 += 100; exit`, with the jump over the loop
/// taken (`Ge`) or not (`Lt`). Returns the program and the loop head's pc.
fn loop_after_filler(adds: usize, movs: usize, skip_loop: bool) -> (Vec<Instruction>, usize) {
    let cond = if skip_loop { JmpCond::Ge } else { JmpCond::Lt };
    let mut instructions = vec![
        mov64(0, imm(0)),
        mov64(1, imm(5)),
        jump(Width::W64, cond, 0, imm(0), (adds + movs) as i16 + 3),
    ];
    instructions.extend((0..adds).map(|_| alu64(AluOp::Add, 0, imm(1))));
    instructions.extend((0..movs).map(|_| mov64(2, reg(0))));
    let loop_head = instructions.len();
    instructions.extend([
        alu64(AluOp::Add, 0, imm(3)),
        alu64(AluOp::Sub, 1, imm(1)),
        jump(Width::W64, JmpCond::Ne, 1, imm(0), -3),
        alu64(AluOp::Add, 0, imm(100)),
        exit(),
    ]);
    (instructions, loop_head)
}

#[test]
fn loops_are_aligned_and_jumps_across_the_padding_reach_their_targets() {
    // The filler (instructions of 3 and 4 bytes on x86-64) moves the loop head through every
    // alignment residue, and the forward jump at pc 2 byte by byte across the 127-byte reach
    // of a short jump: padding must not make a jump the first pass found short too long in the
    // second.
    for (adds, movs, skip_loop) in (0..40)
        .flat_map(|adds| (0..4).map(move |movs| (adds, movs)))
        .flat_map(|(adds, movs)| [(adds, movs, false), (adds, movs, true)])
    {
        let (instructions, loop_head) = loop_after_filler(adds, movs, skip_loop);
        let expected = if skip_loop { 100 } else { adds as u64 + 115 };
        let case = format!("{adds} adds, {movs} movs, skip {skip_loop}");
        assert_eq!(run(&instructions), Ok(expected), "{case}");
        #[cfg(target_arch = "x86_64")]
        {
            let compiled = Jit::new()
                .compile(&program(&instructions), &ExecConfig::default())
                .unwrap();
            let offset = compiled.native_offset(loop_head).unwrap();
            assert_eq!(offset % 16, 0, "{case}: loop at {offset:#x}");
        }
        // The ARM64 back end does not align loops.
        #[cfg(not(target_arch = "x86_64"))]
        let _ = loop_head;
    }
}
