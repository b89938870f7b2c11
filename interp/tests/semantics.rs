//! Every corner of the execution semantics (PREAMBLE, RFC 9669 with Linux as tie-breaker),
//! checked through whole programs so that decoding, pre-decoding and execution are all covered.

mod common;

use common::{hex, run, try_run_with_memory, word};
use xbpf_isa::{Engine, ExecConfig, RunInput};

/// Runs `dst = a; dst OP= b` with b in a register and, when b is expressible as the immediate
/// of that width, again with b as the immediate; both must give `expected`.
fn check_alu(op: &str, bits: u32, a: u64, b: u64, expected: u64) {
    let suffix = if bits == 32 { "32" } else { "" };
    let by_register = format!(
        "lddw %r0, {}\nlddw %r1, {}\n{op}{suffix} %r0, %r1\nexit",
        hex(a),
        hex(b)
    );
    assert_eq!(
        run(&by_register),
        expected,
        "{op}{suffix} {a:#x}, {b:#x} (register)"
    );
    // A 64-bit operation sees the immediate sign-extended; a 32-bit one only its low 32 bits.
    let imm = match bits {
        32 => Some(b as u32 as i32),
        _ => i32::try_from(b as i64).ok(),
    };
    if let Some(imm) = imm {
        let by_immediate = format!("lddw %r0, {}\n{op}{suffix} %r0, {imm}\nexit", hex(a));
        assert_eq!(
            run(&by_immediate),
            expected,
            "{op}{suffix} {a:#x}, {imm} (immediate)"
        );
    }
}

const NEG_13: u64 = -13i64 as u64;

#[test]
fn unsigned_division_by_zero_gives_zero() {
    check_alu("div", 64, 7, 0, 0);
    check_alu("div", 32, 0xffff_ffff_0000_0007, 0, 0);
    // a 32-bit divisor whose low half is zero is zero
    check_alu("div", 32, 0x1_0000_000c, 0x1_0000_0000, 0);
}

#[test]
fn unsigned_modulo_by_zero_keeps_dst() {
    check_alu("mod", 64, 0xffff_ffff_0000_0007, 0, 0xffff_ffff_0000_0007);
    // 32-bit: low half kept, upper half cleared
    check_alu("mod", 32, 0xffff_ffff_0000_0007, 0, 7);
}

#[test]
fn unsigned_division_and_modulo() {
    check_alu("div", 64, 100, 7, 14);
    check_alu("mod", 64, 100, 7, 2);
    // 32-bit operations read the low halves only
    check_alu("div", 32, 12, 0x1_0000_0004, 3);
    check_alu("mod", 32, 0x1_0000_0011, 5, 2);
    // 64-bit: the immediate -10 is sign-extended, then unsigned: MAX / (2^64 - 10) = 1
    check_alu("div", 64, u64::MAX, -10i64 as u64, 1);
    // 32-bit: the immediate -1 is 0xffffffff, unsigned
    check_alu("div", 32, 0xffff_ffff, 0xffff_ffff, 1);
}

#[test]
fn signed_division_truncates_toward_zero() {
    check_alu("sdiv", 64, NEG_13, 3, -4i64 as u64);
    check_alu("sdiv", 64, 13, -3i64 as u64, -4i64 as u64);
    check_alu("sdiv", 32, NEG_13, 3, 0xffff_fffc);
    check_alu("smod", 64, NEG_13, 3, -1i64 as u64);
    check_alu("smod", 64, NEG_13, -3i64 as u64, -1i64 as u64);
    check_alu("smod", 64, 13, -3i64 as u64, 1);
    check_alu("smod", 32, NEG_13, -3i64 as u64, 0xffff_ffff);
}

#[test]
fn signed_division_by_zero() {
    check_alu("sdiv", 64, NEG_13, 0, 0);
    check_alu("sdiv", 32, NEG_13, 0, 0);
    check_alu("smod", 64, NEG_13, 0, NEG_13);
    // 32-bit: dst's low half, zero-extended
    check_alu("smod", 32, -10i64 as u64, 0, 0xffff_fff6);
}

#[test]
fn signed_division_of_int_min_by_minus_one() {
    let min64 = i64::MIN as u64;
    check_alu("sdiv", 64, min64, u64::MAX, min64);
    check_alu("smod", 64, min64, u64::MAX, 0);
    check_alu("sdiv", 32, 0x8000_0000, u64::MAX, 0x8000_0000);
    check_alu("smod", 32, 0x8000_0000, u64::MAX, 0);
    // the same corner for mul and neg simply wraps
    check_alu("mul", 64, min64, u64::MAX, min64);
    check_alu("mul", 32, 0x8000_0000, u64::MAX, 0x8000_0000);
}

#[test]
fn multiplication_wraps_and_reads_low_halves() {
    check_alu("mul", 64, 0x1_0000_0001, 0x1_0000_0001, 0x2_0000_0001);
    check_alu("mul", 32, 0x1_0000_0002, 3, 6);
    check_alu("mul", 32, 0xffff_ffff, 0xffff_ffff, 1);
}

#[test]
fn shift_counts_are_masked() {
    check_alu("lsh", 64, 1, 65, 2);
    check_alu("lsh", 64, 1, u64::MAX, 1 << 63); // -1 & 63 = 63
    check_alu("lsh", 32, 1, 33, 2);
    check_alu("lsh", 32, 0x11, -4i64 as u64, 0x1000_0000); // -4 & 31 = 28
    check_alu("lsh", 32, 0x8000_0001, 1, 2); // the bit shifted out of 32 bits is lost
    check_alu("rsh", 64, 1 << 63, 127, 1);
    check_alu("rsh", 32, 0xffff_ffff_8000_0000, 4, 0x0800_0000);
    check_alu("rsh", 32, 0x8000_0000, 35, 0x1000_0000);
    check_alu("arsh", 64, 1 << 63, 63, u64::MAX);
    check_alu("arsh", 64, 1 << 63, 65, 0xc000_0000_0000_0000);
    check_alu("arsh", 32, 0x8000_0000, 4, 0xf800_0000);
    check_alu("arsh", 32, 0xffff_ffff_7fff_ffff, 31, 0);
}

#[test]
fn thirty_two_bit_results_are_zero_extended() {
    check_alu("add", 32, 0xffff_ffff, 1, 0);
    check_alu("add", 64, 0xffff_ffff, 1, 0x1_0000_0000);
    check_alu("sub", 32, 0, 1, 0xffff_ffff);
    check_alu("sub", 64, 0, 1, u64::MAX);
    check_alu("or", 32, 0xffff_ffff_0000_0000, 1, 1);
    check_alu("and", 32, u64::MAX, 0xffff_ffff_0000_ffff, 0xffff);
    check_alu("xor", 32, 0x1_0000_0000, 0, 0);
    check_alu("mov", 32, 0xdead, u64::MAX, 0xffff_ffff);
    check_alu("mov", 32, 0, 0x1234_5678_9abc_def0, 0x9abc_def0);
}

#[test]
fn sixty_four_bit_immediates_are_sign_extended() {
    check_alu("mov", 64, 0, u64::MAX, u64::MAX);
    check_alu("and", 64, u64::MAX, -2i64 as u64, u64::MAX - 1);
    check_alu("add", 64, 5, u64::MAX, 4);
    check_alu("xor", 64, 0, 0xffff_ffff_8000_0000, 0xffff_ffff_8000_0000);
}

#[test]
fn negation_wraps_and_zero_extends() {
    assert_eq!(run("mov %r0, 5\nneg %r0\nexit"), -5i64 as u64);
    assert_eq!(run("lddw %r0, 0x100000005\nneg32 %r0\nexit"), 0xffff_fffb);
    assert_eq!(
        run("lddw %r0, 0x8000000000000000\nneg %r0\nexit"),
        0x8000_0000_0000_0000
    );
    assert_eq!(run("mov32 %r0, 0x80000000\nneg32 %r0\nexit"), 0x8000_0000);
}

#[test]
fn movsx_sign_extends_the_low_bits() {
    let cases: [(&str, u64, u64); 9] = [
        ("movsx864", 0x80, 0xffff_ffff_ffff_ff80),
        ("movsx864", 0x7f, 0x7f),
        ("movsx864", 0x1234_5678_0000_0080, 0xffff_ffff_ffff_ff80),
        ("movsx1664", 0x8000, 0xffff_ffff_ffff_8000),
        ("movsx3264", 0x8000_0000, 0xffff_ffff_8000_0000),
        ("movsx3264", 0xffff_ffff_7fff_ffff, 0x7fff_ffff),
        ("movsx832", 0x80, 0xffff_ff80),
        ("movsx1632", 0xffff_ffff_0000_8001, 0xffff_8001),
        ("movsx1632", 0x7fff, 0x7fff),
    ];
    for (mnemonic, source, expected) in cases {
        let program = format!("lddw %r1, {}\n{mnemonic} %r0, %r1\nexit", hex(source));
        assert_eq!(run(&program), expected, "{mnemonic} {source:#x}");
    }
}

#[test]
fn byte_order_conversions_truncate_and_swap() {
    let value = 0x1122_3344_5566_7788u64;
    let swapped: [(&str, u64); 3] = [
        ("16", 0x8877),
        ("32", 0x8877_6655),
        ("64", 0x8877_6655_4433_2211),
    ];
    let truncated: [(&str, u64); 3] = [("16", 0x7788), ("32", 0x5566_7788), ("64", value)];
    let (to_le, to_be) = if cfg!(target_endian = "little") {
        (truncated, swapped)
    } else {
        (swapped, truncated)
    };
    for (prefix, table) in [("le", to_le), ("be", to_be), ("bswap", swapped)] {
        for (width, expected) in table {
            let program = format!("lddw %r0, {}\n{prefix}{width} %r0\nexit", hex(value));
            assert_eq!(run(&program), expected, "{prefix}{width}");
        }
    }
}

#[test]
fn lddw_loads_the_whole_constant() {
    assert_eq!(
        run("lddw %r0, 0x123456789abcdef0\nexit"),
        0x1234_5678_9abc_def0
    );
    assert_eq!(run("lddw %r0, -2\nexit"), -2i64 as u64);
    // execution continues after the second slot
    assert_eq!(run("lddw %r0, 1\nadd %r0, 1\nexit"), 2);
}

/// Whether `jump %r1, b, +1` is taken with r1 = a, with b in a register and (when expressible)
/// as the immediate.
fn check_jump(mnemonic: &str, a: u64, b: u64, taken: bool) {
    let expected = u64::from(taken);
    let by_register = format!(
        "lddw %r1, {}\nlddw %r2, {}\nmov %r0, 1\n{mnemonic} %r1, %r2, +1\nmov %r0, 0\nexit",
        hex(a),
        hex(b)
    );
    assert_eq!(
        run(&by_register),
        expected,
        "{mnemonic} {a:#x}, {b:#x} (register)"
    );
    let imm = match mnemonic.ends_with("32") {
        true => Some(b as u32 as i32),
        false => i32::try_from(b as i64).ok(),
    };
    if let Some(imm) = imm {
        let by_immediate = format!(
            "lddw %r1, {}\nmov %r0, 1\n{mnemonic} %r1, {imm}, +1\nmov %r0, 0\nexit",
            hex(a)
        );
        assert_eq!(
            run(&by_immediate),
            expected,
            "{mnemonic} {a:#x}, {imm} (immediate)"
        );
    }
}

#[test]
fn equality_and_jset() {
    check_jump("jeq", 5, 5, true);
    check_jump("jeq", 5, 6, false);
    check_jump("jne", 5, 6, true);
    check_jump("jne", 5, 5, false);
    check_jump("jset", 6, 2, true);
    check_jump("jset", 6, 1, false);
    check_jump("jset", 0x1_0000_0000, 0x1_0000_0000, true);
    check_jump("jset32", 0x1_0000_0000, 0x1_0000_0000, false);
}

#[test]
fn unsigned_and_signed_comparisons_differ_on_negative_values() {
    let minus_one = u64::MAX;
    check_jump("jgt", minus_one, 1, true);
    check_jump("jsgt", minus_one, 1, false);
    check_jump("jge", minus_one, minus_one, true);
    check_jump("jsge", 1, minus_one, true);
    check_jump("jge", 1, minus_one, false);
    check_jump("jlt", 1, minus_one, true);
    check_jump("jslt", 1, minus_one, false);
    check_jump("jslt", minus_one, 1, true);
    check_jump("jle", 7, 7, true);
    check_jump("jle", 8, 7, false);
    check_jump("jsle", minus_one, 0, true);
    check_jump("jsle", 0, minus_one, false);
    check_jump("jsgt", 0, i64::MIN as u64, true);
    check_jump("jlt", 0, i64::MIN as u64, true);
}

#[test]
fn jmp32_compares_only_the_low_halves() {
    check_jump("jeq32", 0x1_0000_0005, 5, true);
    check_jump("jeq", 0x1_0000_0005, 5, false);
    check_jump("jne32", 0xffff_ffff_0000_0000, 0, false);
    check_jump("jgt32", 0x1_0000_0000, 1, false);
    check_jump("jgt", 0x1_0000_0000, 1, true);
    check_jump("jslt32", 0xffff_ffff, 0, true);
    check_jump("jslt", 0xffff_ffff, 0, false);
    check_jump("jsge32", 0x7fff_ffff, 0x8000_0000, true);
    check_jump("jge32", 0x7fff_ffff, 0x8000_0000, false);
    check_jump("jle32", 0x5_0000_0003, 0x3, true);
    check_jump("jsle32", 0x8000_0000, 0xffff_ffff, true);
    check_jump("jlt32", 0xffff_ffff, 0x1_0000_0000, false);
    check_jump("jsgt32", 1, 0xffff_ffff, true);
}

#[test]
fn jump_immediates_are_sign_extended() {
    // 64-bit: -1 is u64::MAX
    assert_eq!(
        run("lddw %r1, 0xffffffffffffffff\nmov %r0, 1\njeq %r1, -1, +1\nmov %r0, 0\nexit"),
        1
    );
    assert_eq!(
        run("mov %r1, 5\nmov %r0, 1\njgt %r1, -1, +1\nexit\nmov %r0, 0\nexit"),
        1
    );
    // 32-bit: -1 is 0xffffffff in the low half
    assert_eq!(
        run("lddw %r1, 0x1ffffffff\nmov %r0, 1\njeq32 %r1, -1, +1\nmov %r0, 0\nexit"),
        1
    );
}

#[test]
fn unconditional_jumps_go_both_ways() {
    let program = "
        mov %r0, 1
        ja forward
        mov %r0, 99
    back:
        add %r0, 10
        exit
    forward:
        add %r0, 2
        ja32 back
    ";
    assert_eq!(run(program), 13);
}

#[test]
fn loads_zero_or_sign_extend_and_may_be_unaligned() {
    let mut memory = [
        0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x7f, 0, 0, 0,
    ];
    let cases: [(&str, u64); 10] = [
        ("ldxb %r0, [%r1]", 0x80),
        ("ldxsb %r0, [%r1]", 0xffff_ffff_ffff_ff80),
        ("ldxh %r0, [%r1]", 0x8180),
        ("ldxsh %r0, [%r1]", 0xffff_ffff_ffff_8180),
        ("ldxw %r0, [%r1]", 0x8382_8180),
        ("ldxsw %r0, [%r1]", 0xffff_ffff_8382_8180),
        ("ldxdw %r0, [%r1]", 0x8786_8584_8382_8180),
        ("ldxdw %r0, [%r1+1]", 0x7f87_8685_8483_8281),
        ("ldxsb %r0, [%r1+8]", 0x7f),
        ("ldxsw %r0, [%r1+5]", 0x7f87_8685),
    ];
    for (load, expected) in cases {
        let program = format!("{load}\nexit");
        assert_eq!(
            try_run_with_memory(&program, &mut memory),
            Ok(expected),
            "{load}"
        );
    }
}

#[test]
fn stores_write_only_their_width() {
    let cases: [(&str, u64); 8] = [
        ("stb [%r10-8], -1", 0x1111_1111_1111_11ff),
        ("sth [%r10-8], -1", 0x1111_1111_1111_ffff),
        ("stw [%r10-8], -1", 0x1111_1111_ffff_ffff),
        ("stdw [%r10-8], -1", u64::MAX), // the immediate is sign-extended
        ("stdw [%r10-8], 0x7fffffff", 0x7fff_ffff),
        ("stxb [%r10-8], %r2", 0x1111_1111_1111_1188),
        ("stxw [%r10-8], %r2", 0x1111_1111_5566_7788),
        ("stxh [%r10-7], %r2", 0x1111_1111_1177_8811), // unaligned
    ];
    for (store, expected) in cases {
        let program = format!(
            "lddw %r1, 0x1111111111111111\nstxdw [%r10-8], %r1\n\
             lddw %r2, 0x1122334455667788\n{store}\nldxdw %r0, [%r10-8]\nexit"
        );
        assert_eq!(run(&program), expected, "{store}");
    }
}

/// Runs one atomic instruction on a stack word holding `memory`, with `src` in r2 and `r0` in
/// r0; returns (memory after, r2 after, r0 after). With `unaligned`, the word is at an odd
/// address of the input memory instead.
fn atomic(instruction: &str, memory: u64, src: u64, r0: u64, unaligned: bool) -> (u64, u64, u64) {
    let base = if unaligned { "%r7" } else { "%r10" };
    let offset = if unaligned { "+1" } else { "-8" };
    let instruction = instruction.replace("[]", &format!("[{base}{offset}]"));
    let program = format!(
        "mov %r6, %r1
         mov %r7, %r1
         add %r7, 24
         lddw %r3, {}
         stxdw [{base}{offset}], %r3
         lddw %r2, {}
         lddw %r0, {}
         {instruction}
         ldxdw %r3, [{base}{offset}]
         stxdw [%r6], %r3
         stxdw [%r6+8], %r2
         stxdw [%r6+16], %r0
         exit",
        hex(memory),
        hex(src),
        hex(r0)
    );
    // 8-aligned, so that offset 25 is misaligned for every atomic width
    #[repr(align(8))]
    struct Out([u8; 40]);
    let mut out = Out([0; 40]);
    try_run_with_memory(&program, &mut out.0)
        .unwrap_or_else(|error| panic!("{instruction}: {error}"));
    (word(&out.0, 0), word(&out.0, 8), word(&out.0, 16))
}

#[test]
fn atomics_64() {
    let (m, s, r) = (
        0x1111_1111_8000_0001u64,
        0xffff_ffff_0000_0003u64,
        0x5555u64,
    );
    for unaligned in [false, true] {
        let cases: [(&str, (u64, u64, u64)); 10] = [
            ("lock add [], %r2", (m.wrapping_add(s), s, r)),
            ("lock or [], %r2", (m | s, s, r)),
            ("lock and [], %r2", (m & s, s, r)),
            ("lock xor [], %r2", (m ^ s, s, r)),
            ("lock fetch add [], %r2", (m.wrapping_add(s), m, r)),
            ("lock fetch or [], %r2", (m | s, m, r)),
            ("lock fetch and [], %r2", (m & s, m, r)),
            ("lock fetch xor [], %r2", (m ^ s, m, r)),
            ("lock xchg [], %r2", (s, m, r)),
            // cmpxchg that fails: memory unchanged, r0 gets the old value
            ("lock cmpxchg [], %r2", (m, s, m)),
        ];
        for (instruction, expected) in cases {
            assert_eq!(
                atomic(instruction, m, s, r, unaligned),
                expected,
                "{instruction} (unaligned: {unaligned})"
            );
        }
        // cmpxchg that succeeds: r0 == memory, src stored, r0 gets the old value
        assert_eq!(
            atomic("lock cmpxchg [], %r2", m, s, m, unaligned),
            (s, s, m)
        );
    }
}

#[test]
fn atomics_32_act_on_four_bytes_and_zero_extend() {
    let (m, s, r) = (
        0x1111_1111_8000_0001u64,
        0xffff_ffff_0000_0003u64,
        0x5555u64,
    );
    let high = m & 0xffff_ffff_0000_0000;
    let low = |value: u64| value & 0xffff_ffff;
    for unaligned in [false, true] {
        let cases: [(&str, (u64, u64, u64)); 10] = [
            ("lock add32 [], %r2", (high | 0x8000_0004, s, r)),
            ("lock or32 [], %r2", (high | 0x8000_0003, s, r)),
            ("lock and32 [], %r2", (high | 0x1, s, r)),
            ("lock xor32 [], %r2", (high | 0x8000_0002, s, r)),
            ("lock fetch add32 [], %r2", (high | 0x8000_0004, low(m), r)),
            ("lock fetch or32 [], %r2", (high | 0x8000_0003, low(m), r)),
            ("lock fetch and32 [], %r2", (high | 0x1, low(m), r)),
            ("lock fetch xor32 [], %r2", (high | 0x8000_0002, low(m), r)),
            ("lock xchg32 [], %r2", (high | 0x3, low(m), r)),
            ("lock cmpxchg32 [], %r2", (m, s, low(m))),
        ];
        for (instruction, expected) in cases {
            assert_eq!(
                atomic(instruction, m, s, r, unaligned),
                expected,
                "{instruction} (unaligned: {unaligned})"
            );
        }
        // cmpxchg32 compares only r0's low half
        assert_eq!(
            atomic(
                "lock cmpxchg32 [], %r2",
                m,
                s,
                0xdead_0000_8000_0001,
                unaligned
            ),
            (high | 0x3, s, low(m))
        );
    }
}

#[test]
fn local_calls_pass_arguments_and_preserve_callee_saved_registers() {
    let program = "
        mov %r1, 10
        mov %r2, 20
        mov %r6, 6
        mov %r7, 7
        mov %r8, 8
        mov %r9, 9
        call local add
        # r0 = 30, r6-r9 restored
        mov %r3, %r6
        add %r3, %r7
        add %r3, %r8
        add %r3, %r9
        jne %r3, 30, fail
        exit
    fail:
        mov %r0, -1
        exit
    add:
        mov %r0, %r1
        add %r0, %r2
        mov %r6, 0
        mov %r7, 0
        mov %r8, 0
        mov %r9, 0
        exit
    ";
    assert_eq!(run(program), 30);
}

#[test]
fn each_call_gets_its_own_stack_frame_below_the_callers() {
    let program = "
        stdw [%r10-8], 111
        mov %r6, %r10
        call local callee
        # the callee's r10 is 512 bytes lower
        mov %r1, %r6
        sub %r1, %r0
        jne %r1, 512, fail
        # the callee did not touch our slot
        ldxdw %r0, [%r10-8]
        exit
    fail:
        mov %r0, -1
        exit
    callee:
        stdw [%r10-8], 222
        mov %r0, %r10
        exit
    ";
    assert_eq!(run(program), 111);
}

#[test]
fn helpers_get_r1_to_r5_and_leave_them_intact() {
    let mut helpers = xbpf_isa::HelperTable::new();
    helpers.register(1, "weighted_sum", |_, args| {
        Ok(args
            .iter()
            .enumerate()
            .map(|(i, arg)| arg * (i as u64 + 1))
            .sum())
    });
    let program = "
        mov %r1, 1
        mov %r2, 2
        mov %r3, 3
        mov %r4, 4
        mov %r5, 5
        call 1
        # r0 = 1 + 4 + 9 + 16 + 25 = 55; r1-r5 unchanged
        add %r0, %r1
        add %r0, %r2
        add %r0, %r3
        add %r0, %r4
        add %r0, %r5
        exit
    ";
    let mut executable = common::prepare(program, &common::with_helpers(helpers));
    use xbpf_isa::Executable;
    assert_eq!(executable.run(&RunInput::empty()), Ok(70));
}

#[test]
fn callx_calls_the_helper_whose_id_the_register_holds() {
    let mut helpers = xbpf_isa::HelperTable::new();
    helpers.register(5, "return_r1", |_, args| Ok(args[0]));
    helpers.register(6, "double_r1", |_, args| Ok(args[0] * 2));
    let config = common::with_helpers(helpers);
    let mut executable = common::prepare(
        "mov %r1, 21\nmov %r3, 6\ncall %r3\nmov %r1, %r0\nmov %r4, 5\ncall %r4\nexit",
        &config,
    );
    use xbpf_isa::Executable;
    assert_eq!(executable.run(&RunInput::empty()), Ok(42));
}

#[test]
fn helpers_see_the_stack_and_the_run_memory() {
    use xbpf_isa::Executable;
    let mut helpers = xbpf_isa::HelperTable::new();
    // reads 8 bytes at r1 and writes them, plus one, at r2
    helpers.register(1, "copy_plus_one", |context, args| {
        let bytes = context.memory().read(args[0], 8)?;
        let value = u64::from_le_bytes(bytes.try_into().unwrap()) + 1;
        context.memory().write(args[1], &value.to_le_bytes())?;
        Ok(0)
    });
    let program = "
        mov %r6, %r1
        stdw [%r10-16], 41
        mov %r1, %r10
        add %r1, -16
        mov %r2, %r6
        call 1
        ldxdw %r0, [%r6]
        exit
    ";
    let mut executable = common::prepare(program, &common::with_helpers(helpers));
    // the cached memory map must follow the buffers of each run
    for round in 0..3u64 {
        let mut memory = vec![0u8; 8 + round as usize];
        let result = executable.run(&RunInput::with_memory(&mut memory));
        assert_eq!(result, Ok(42), "round {round}");
        assert_eq!(word(&memory, 0), 42);
    }
}

#[test]
fn the_stack_is_zeroed_at_preparation_and_kept_between_runs() {
    use xbpf_isa::Executable;
    let program = "ldxdw %r0, [%r10-8]\nstdw [%r10-8], 7\nexit";
    let mut executable = common::prepare(program, &ExecConfig::default());
    assert_eq!(executable.run(&RunInput::empty()), Ok(0));
    assert_eq!(executable.run(&RunInput::empty()), Ok(7));
}

#[test]
fn the_engine_is_named_interp() {
    assert_eq!(xbpf_interp::Interpreter.name(), "interp");
}
