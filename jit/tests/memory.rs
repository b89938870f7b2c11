//! Loads, stores and atomics, and the bounds checks on them.

// These run generated code: only where a back end exists.
#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

mod common;

use common::*;
use xbpf_isa::{
    Access, AtomicOp, Engine, ExecConfig, ExecError, MemSize, Program, RunInput, Width,
};
use xbpf_jit::Jit;

#[test]
fn loads_and_stores_of_every_size_through_the_input_memory() {
    let mut memory = [0u8; 32];
    memory[..8].copy_from_slice(&0x8182_8384_8586_8788u64.to_le_bytes());
    let program = [
        // unaligned 8-byte copy from offset 0 to offset 9
        ldx(MemSize::DW, 2, 1, 0),
        stx(MemSize::DW, 1, 9, 2),
        ldx(MemSize::W, 3, 1, 9),
        stx(MemSize::W, 1, 20, 3),
        ldx(MemSize::H, 4, 1, 9),
        stx(MemSize::H, 1, 24, 4),
        ldx(MemSize::B, 5, 1, 9),
        stx(MemSize::B, 1, 26, 5),
        st(MemSize::B, 1, 27, 0x1ff),
        st(MemSize::H, 1, 28, -2),
        ldxs(MemSize::W, 0, 1, 9),
        exit(),
    ];
    let input = RunInput::with_memory(&mut memory);
    let r0 = run_with(&program, &ExecConfig::default(), &input).unwrap();
    assert_eq!(r0, 0xffff_ffff_8586_8788, "ldxsw sign-extends");
    assert_eq!(&memory[9..17], &0x8182_8384_8586_8788u64.to_le_bytes());
    assert_eq!(&memory[20..24], &0x8586_8788u32.to_le_bytes());
    assert_eq!(&memory[24..26], &0x8788u16.to_le_bytes());
    assert_eq!(memory[26], 0x88);
    assert_eq!(memory[27], 0xff, "stb keeps the low byte of the immediate");
    assert_eq!(&memory[28..30], &[0xfe, 0xff]);
}

#[test]
fn sign_extending_loads() {
    let mut memory = [0x80u8, 0x80, 0x80, 0x80, 0, 0, 0, 0];
    for (size, want) in [
        (MemSize::B, 0xffff_ffff_ffff_ff80u64),
        (MemSize::H, 0xffff_ffff_ffff_8080),
        (MemSize::W, 0xffff_ffff_8080_8080),
    ] {
        let input = RunInput::with_memory(&mut memory);
        let program = [ldxs(size, 0, 1, 0), exit()];
        assert_eq!(run_with(&program, &ExecConfig::default(), &input), Ok(want));
    }
}

#[test]
fn the_stack_is_512_bytes_per_frame_and_reads_back() {
    let program = [
        st(MemSize::DW, 10, -512, 0x1234),
        st(MemSize::DW, 10, -8, 7),
        ldx(MemSize::DW, 0, 10, -512),
        ldx(MemSize::DW, 1, 10, -8),
        alu64(xbpf_isa::AluOp::Add, 0, reg(1)),
        exit(),
    ];
    assert_eq!(run(&program), Ok(0x123b));
}

fn out_of_bounds(pc: usize, access: Access, addr: u64, size: u64) -> ExecError {
    ExecError::OutOfBounds {
        pc,
        access,
        addr,
        size,
    }
}

#[test]
fn accesses_past_the_input_memory_are_out_of_bounds() {
    let mut memory = [0u8; 16];
    let input = RunInput::with_memory(&mut memory);
    let base = input.args[0];
    let config = ExecConfig::default();
    // the last byte is fine, one more byte is not
    assert_eq!(
        run_with(&[ldx(MemSize::B, 0, 1, 15), exit()], &config, &input),
        Ok(0)
    );
    assert_eq!(
        run_with(
            &[mov64(0, imm(0)), ldx(MemSize::H, 0, 1, 15), exit()],
            &config,
            &input
        ),
        Err(out_of_bounds(1, Access::Read, base + 15, 2))
    );
    assert_eq!(
        run_with(&[st(MemSize::W, 1, -1, 0), exit()], &config, &input),
        Err(out_of_bounds(0, Access::Write, base.wrapping_sub(1), 4))
    );
}

#[test]
fn address_arithmetic_that_wraps_is_out_of_bounds() {
    let mut memory = [0u8; 16];
    let input = RunInput::with_memory(&mut memory);
    let config = ExecConfig::default();
    // r1 + 2^63 + 8: the offset from the region start is far beyond any limit
    let program = [
        lddw(2, 1 << 63),
        alu64(xbpf_isa::AluOp::Add, 2, reg(1)),
        ldx(MemSize::DW, 0, 2, 8),
        exit(),
    ];
    let addr = input.args[0].wrapping_add(1 << 63).wrapping_add(8);
    assert_eq!(
        run_with(&program, &config, &input),
        Err(out_of_bounds(3, Access::Read, addr, 8))
    );
    // an address near u64::MAX whose end would wrap past zero
    let program = [lddw(2, u64::MAX - 3), ldx(MemSize::DW, 0, 2, 0), exit()];
    assert_eq!(
        run_with(&program, &config, &input),
        Err(out_of_bounds(2, Access::Read, u64::MAX - 3, 8))
    );
}

#[test]
fn writes_to_read_only_regions_are_out_of_bounds_but_reads_are_fine() {
    let data = [5u8; 8];
    let mut input = RunInput::empty();
    let region = input.add_readonly(&data);
    input.args[0] = region.start;
    let config = ExecConfig::default();
    assert_eq!(
        run_with(&[ldx(MemSize::B, 0, 1, 7), exit()], &config, &input),
        Ok(5)
    );
    assert_eq!(
        run_with(&[st(MemSize::B, 1, 0, 1), exit()], &config, &input),
        Err(out_of_bounds(0, Access::Write, region.start, 1))
    );
    assert_eq!(
        run_with(
            &[
                mov64(2, imm(1)),
                atomic(Width::W32, AtomicOp::Add, false, 1, 2, 0),
                exit()
            ],
            &config,
            &input
        ),
        Err(out_of_bounds(1, Access::Write, region.start, 4))
    );
}

#[test]
fn regions_after_the_first_are_checked_out_of_line() {
    let mut first = [0u8; 8];
    let mut second = [0u8; 8];
    let mut input = RunInput::empty();
    input.add_memory(&mut first);
    let region = input.add_memory(&mut second);
    input.args[1] = region.start;
    let config = ExecConfig::default();
    let program = [
        st(MemSize::DW, 2, 0, 41),
        ldx(MemSize::DW, 0, 2, 0),
        alu64(xbpf_isa::AluOp::Add, 0, imm(1)),
        exit(),
    ];
    assert_eq!(run_with(&program, &config, &input), Ok(42));
    assert_eq!(
        run_with(&[ldx(MemSize::DW, 0, 2, 1), exit()], &config, &input),
        Err(out_of_bounds(0, Access::Read, region.start + 1, 8))
    );
}

#[test]
fn stack_accesses_outside_the_stack_buffer_are_out_of_bounds() {
    // r10 + 0 is one past the stack in the outermost frame
    let result = run(&[ldx(MemSize::B, 0, 10, 0), exit()]);
    assert!(
        matches!(
            result,
            Err(ExecError::OutOfBounds {
                pc: 0,
                access: Access::Read,
                size: 1,
                ..
            })
        ),
        "{result:?}"
    );
    // the bottom of the eighth frame is the last byte in the stack; one more is out
    let program = [
        mov64(0, imm(0)),
        st(MemSize::B, 10, -4096, 1),
        st(MemSize::B, 10, -4097, 1),
        exit(),
    ];
    let result = run(&program);
    assert!(
        matches!(
            result,
            Err(ExecError::OutOfBounds {
                pc: 2,
                access: Access::Write,
                size: 1,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn stack_addresses_are_reported_exactly() {
    // One executable (one stack): with r1 = 0 it returns r10, otherwise it reads r10 - 4100.
    let program = program_of(&[
        jump(Width::W64, xbpf_isa::JmpCond::Ne, 1, imm(0), 2),
        mov64(0, reg(10)),
        exit(),
        ldx(MemSize::W, 0, 10, -4100),
        exit(),
    ]);
    let mut executable = Jit::new()
        .prepare(&program, &ExecConfig::default())
        .unwrap();
    let mut input = RunInput::empty();
    let top = executable.run(&input).unwrap();
    input.args[0] = 1;
    assert_eq!(
        executable.run(&input),
        Err(out_of_bounds(3, Access::Read, top - 4100, 4))
    );
}

#[test]
fn without_bounds_checks_valid_accesses_still_work() {
    let mut memory = [3u8; 8];
    let input = RunInput::with_memory(&mut memory);
    let config = ExecConfig {
        bounds_checks: false,
        ..ExecConfig::default()
    };
    let program = [
        ldx(MemSize::B, 0, 1, 7),
        stx(MemSize::DW, 10, -16, 0),
        ldx(MemSize::DW, 0, 10, -16),
        exit(),
    ];
    assert_eq!(run_with(&program, &config, &input), Ok(3));
    let compiled = Jit::new().compile(&program_of(&program), &config).unwrap();
    assert!(
        !compiled.native_listing().contains("call"),
        "no out-of-line checks without bounds checks"
    );
}

fn program_of(instructions: &[xbpf_isa::Instruction]) -> Program {
    program(instructions)
}

/// Runs `op` on an 8-byte stack slot holding `initial` with src = `operand`, r0 = `r0`;
/// returns (memory, src, r0) afterwards.
fn run_atomic(
    jit: Jit,
    width: Width,
    op: AtomicOp,
    fetch: bool,
    initial: u64,
    operand: u64,
    r0: u64,
) -> (u64, u64, u64) {
    let program = [
        lddw(3, initial),
        stx(MemSize::DW, 10, -8, 3),
        lddw(2, operand),
        lddw(0, r0),
        atomic(width, op, fetch, 10, 2, -8),
        ldx(MemSize::DW, 4, 10, -8),
        // return the three values through the input memory
        stx(MemSize::DW, 1, 0, 4),
        stx(MemSize::DW, 1, 8, 2),
        stx(MemSize::DW, 1, 16, 0),
        exit(),
    ];
    let mut out = [0u8; 24];
    let input = RunInput::with_memory(&mut out);
    let mut executable = jit
        .prepare(&program_of(&program), &ExecConfig::default())
        .unwrap();
    executable.run(&input).unwrap();
    let word = |i: usize| u64::from_le_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0), word(1), word(2))
}

#[test]
fn atomics_of_both_widths_with_and_without_fetch() {
    let initial = 0xaaaa_aaaa_f0f0_f0f0u64;
    let operand = 0x5555_5555_0ff0_0ff1u64;
    let r0 = 0x1111_1111_2222_2222u64;
    for ((name, jit), width) in isa_variants()
        .into_iter()
        .flat_map(|variant| [(variant, Width::W32), (variant, Width::W64)])
    {
        let run_atomic = |width, op, fetch, initial, operand, r0| {
            run_atomic(jit, width, op, fetch, initial, operand, r0)
        };
        let mask = match width {
            Width::W32 => 0xffff_ffffu64,
            Width::W64 => u64::MAX,
        };
        let merge = |new: u64| (initial & !mask) | (new & mask);
        for (op, combine) in [
            (
                AtomicOp::Add,
                (|a: u64, b: u64| a.wrapping_add(b)) as fn(u64, u64) -> u64,
            ),
            (AtomicOp::Or, |a, b| a | b),
            (AtomicOp::And, |a, b| a & b),
            (AtomicOp::Xor, |a, b| a ^ b),
        ] {
            for fetch in [false, true] {
                let (memory, src, out_r0) = run_atomic(width, op, fetch, initial, operand, r0);
                assert_eq!(
                    memory,
                    merge(combine(initial & mask, operand & mask)),
                    "{name}: {op:?} {width:?} fetch {fetch}"
                );
                let want_src = if fetch { initial & mask } else { operand };
                assert_eq!(src, want_src, "{name}: {op:?} {width:?} fetch {fetch}: src");
                assert_eq!(out_r0, r0, "{name}: {op:?} {width:?}: r0 untouched");
            }
        }
        let (memory, src, _) = run_atomic(width, AtomicOp::Xchg, true, initial, operand, r0);
        assert_eq!(
            (memory, src),
            (merge(operand), initial & mask),
            "{name}: xchg {width:?}"
        );
        // cmpxchg that fails: memory unchanged, r0 = old value
        let (memory, src, out_r0) =
            run_atomic(width, AtomicOp::CmpXchg, true, initial, operand, r0);
        assert_eq!(
            (memory, src, out_r0),
            (initial, operand, initial & mask),
            "{name}: cmpxchg miss {width:?}"
        );
        // cmpxchg that succeeds: only the compared width matters
        let matching = (r0 & !mask) | (initial & mask);
        let (memory, src, out_r0) =
            run_atomic(width, AtomicOp::CmpXchg, true, initial, operand, matching);
        assert_eq!(
            (memory, src, out_r0),
            (merge(operand), operand, initial & mask),
            "{name}: cmpxchg hit {width:?}"
        );
    }
}

#[test]
fn atomics_through_checked_pointers() {
    for (name, jit) in isa_variants() {
        let run = |program: &[xbpf_isa::Instruction], input: &RunInput<'_>| {
            jit.prepare(&program_of(program), &ExecConfig::default())
                .unwrap()
                .run(input)
        };
        let mut memory = [0u8; 16];
        let input = RunInput::with_memory(&mut memory);
        let program = [
            mov64(2, imm(5)),
            atomic(Width::W64, AtomicOp::Add, true, 1, 2, 8),
            mov64(2, imm(3)),
            atomic(Width::W64, AtomicOp::Or, true, 1, 2, 8),
            mov64(0, imm(7)),
            mov64(3, imm(9)),
            atomic(Width::W32, AtomicOp::CmpXchg, true, 1, 3, 8),
            exit(),
        ];
        assert_eq!(run(&program, &input), Ok(7), "{name}");
        assert_eq!(memory[8], 9, "{name}");
        let input = RunInput::with_memory(&mut memory);
        let base = input.args[0];
        assert_eq!(
            run(
                &[
                    mov64(2, imm(1)),
                    atomic(Width::W64, AtomicOp::Xor, true, 1, 2, 9),
                    exit()
                ],
                &input
            ),
            Err(out_of_bounds(1, Access::Write, base + 9, 8)),
            "{name}"
        );
    }
}

/// Every atomic operation at every alignment, through the input memory and the stack, with and
/// without bounds checks: the same memory, registers and result as the interpreter (atomic
/// instructions need aligned addresses on some hosts; eBPF does not).
#[test]
fn atomics_at_any_alignment_match_the_interpreter() {
    let pattern: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let operations = [
        (AtomicOp::Add, false),
        (AtomicOp::Add, true),
        (AtomicOp::Or, true),
        (AtomicOp::And, true),
        (AtomicOp::Xor, false),
        (AtomicOp::Xchg, true),
        (AtomicOp::CmpXchg, true),
    ];
    for bounds_checks in [true, false] {
        let config = ExecConfig {
            bounds_checks,
            ..ExecConfig::default()
        };
        for width in [Width::W32, Width::W64] {
            for (op, fetch) in operations {
                for offset in 0..9i16 {
                    for through_stack in [false, true] {
                        // r0 matches the memory for some offsets, so cmpxchg both hits and misses.
                        let mut program = vec![
                            ldx(MemSize::DW, 0, 1, 3),
                            lddw(2, 0x0123_4567_89ab_cdef),
                            ldx(MemSize::DW, 3, 1, 16),
                            stx(MemSize::DW, 10, -16, 3),
                            ldx(MemSize::DW, 3, 1, 24),
                            stx(MemSize::DW, 10, -8, 3),
                        ];
                        program.push(if through_stack {
                            atomic(width, op, fetch, 10, 2, offset - 16)
                        } else {
                            atomic(width, op, fetch, 1, 2, offset)
                        });
                        program.extend([
                            stx(MemSize::DW, 1, 32, 2),
                            ldx(MemSize::DW, 3, 10, -16),
                            stx(MemSize::DW, 1, 16, 3),
                            ldx(MemSize::DW, 3, 10, -8),
                            stx(MemSize::DW, 1, 24, 3),
                            exit(),
                        ]);
                        let program = program_of(&program);
                        let run = |engine: &dyn Engine| {
                            let mut memory = common::AlignedMemory::new(&pattern);
                            let result = engine
                                .prepare(&program, &config)
                                .unwrap()
                                .run(&RunInput::with_memory(memory.bytes_mut()));
                            (result, memory.bytes_mut().to_vec())
                        };
                        let expected = run(&xbpf_interp::Interpreter);
                        for (name, jit) in isa_variants() {
                            assert_eq!(
                                run(&jit),
                                expected,
                                "{name}: {op:?} {width:?} fetch {fetch} offset {offset} \
                                 stack {through_stack} checks {bounds_checks}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn far_jumps_in_both_directions() {
    // Far jumps: a jump over tens of thousands of instructions and back.
    let mut instructions = vec![
        mov64(0, imm(0)),
        xbpf_isa::Instruction::Ja {
            off: 40_000,
            long: true,
        },
    ];
    instructions.extend((0..40_000).map(|_| alu64(xbpf_isa::AluOp::Add, 0, imm(1))));
    // back to pc 10003: 29999 additions remain before falling through to exit
    instructions.push(jump(Width::W64, xbpf_isa::JmpCond::Eq, 0, imm(0), -30_000));
    instructions.push(exit());
    let program = program(&instructions);
    let mut executable = Jit::new()
        .prepare(&program, &ExecConfig::default())
        .unwrap();
    assert_eq!(executable.run(&RunInput::empty()), Ok(29_999));
}

/// On ARM64, atomics use the LSE instructions exactly when the CPU has them and extensions are
/// allowed, else exclusive load/store loops (qemu's `-cpu` runs both kinds of CPU).
#[cfg(target_arch = "aarch64")]
#[test]
fn atomics_use_lse_exactly_when_the_cpu_has_it_and_it_is_allowed() {
    let program = program_of(&[
        mov64(2, imm(1)),
        atomic(Width::W64, AtomicOp::Add, true, 10, 2, -8),
        exit(),
    ]);
    let listing = |jit: Jit| {
        jit.compile(&program, &ExecConfig::default())
            .unwrap()
            .native_listing()
    };
    let has_lse = std::arch::is_aarch64_feature_detected!("lse");
    let default = listing(Jit::new());
    assert_eq!(default.contains("ldaddal"), has_lse, "{default}");
    assert_eq!(default.contains("ldaxr"), !has_lse, "{default}");
    let baseline = listing(Jit::new().with_isa_extensions(false));
    assert!(
        baseline.contains("ldaxr") && baseline.contains("stlxr"),
        "{baseline}"
    );
    assert!(!baseline.contains("ldaddal"), "{baseline}");
}
