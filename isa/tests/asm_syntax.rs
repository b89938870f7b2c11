//! The assembler's syntax: every error kind with its position, comments, labels (including the
//! implicit `exit` label), number edge cases and the extensions beyond bpf_conformance.

use xbpf_isa::{AsmError, AsmErrorKind, Insn, assemble};

fn slots(source: &str) -> Vec<Insn> {
    assemble(source).unwrap_or_else(|error| panic!("{source:?}: {error}"))
}

fn one(source: &str) -> Insn {
    let slots = slots(source);
    assert_eq!(slots.len(), 1, "{source:?}");
    slots[0]
}

fn error(source: &str) -> AsmError {
    match assemble(source) {
        Ok(slots) => panic!("{source:?} assembled to {slots:?}"),
        Err(error) => error,
    }
}

/// Asserts the error's line, column and kind.
fn assert_error(source: &str, line: usize, column: usize, kind: AsmErrorKind) {
    assert_eq!(error(source), AsmError { line, column, kind }, "{source:?}");
}

fn text(value: &str) -> String {
    value.to_string()
}

// ---- errors ----

#[test]
fn invalid_mnemonic() {
    assert_error(
        "mov %r0, 1\n  foo %r1",
        2,
        3,
        AsmErrorKind::InvalidMnemonic(text("foo")),
    );
    assert_error(
        "Mov %r0, 1",
        1,
        1,
        AsmErrorKind::InvalidMnemonic(text("Mov")),
    );
    assert_error("exit,", 1, 1, AsmErrorKind::InvalidMnemonic(text("exit,")));
    assert_error(
        "jeq64 %r0, 0, +1",
        1,
        1,
        AsmErrorKind::InvalidMnemonic(text("jeq64")),
    );
}

#[test]
fn wrong_operand_count() {
    let count = |mnemonic: &str, expected, found| AsmErrorKind::OperandCount {
        mnemonic: text(mnemonic),
        expected,
        found,
    };
    assert_error("\n add %r0", 2, 2, count("add", "2", 1));
    assert_error("exit %r0", 1, 1, count("exit", "0", 1));
    assert_error("neg %r0, 1", 1, 1, count("neg", "1", 2));
    assert_error("jeq %r0, 1", 1, 1, count("jeq", "3", 2));
    assert_error("call", 1, 1, count("call", "1 or 2", 0));
    assert_error("call local a b", 1, 1, count("call", "1 or 2", 3));
    assert_error("lddw %r0", 1, 1, count("lddw", "2 to 4", 1));
    assert_error("lock", 1, 1, count("lock", "an operation and 2", 0));
    assert_error("lock fetch", 1, 1, count("lock", "an operation and 2", 1));
    assert_error("lock add [%r1]", 1, 6, count("add", "2", 1));
    // a lone comma is an empty operand
    assert_error("add %r0 , 1", 1, 1, count("add", "2", 3));
}

#[test]
fn invalid_register() {
    assert_error(
        "mov %r16, 1",
        1,
        5,
        AsmErrorKind::InvalidRegister(text("%r16")),
    );
    for name in ["%r01", "%r", "%R1", "%r-1", "%x"] {
        assert_error(
            &format!("mov %r0, {name}"),
            1,
            10,
            AsmErrorKind::InvalidRegister(text(name)),
        );
    }
    // inside a memory operand the column points at the register
    assert_error(
        "ldxw %r0, [%r16+2]",
        1,
        12,
        AsmErrorKind::InvalidRegister(text("%r16")),
    );
    assert_error(
        "stxw [%r1], 5",
        1,
        13,
        AsmErrorKind::InvalidRegister(text("5")),
    );
    assert_error(
        "call helper %rx",
        1,
        13,
        AsmErrorKind::InvalidRegister(text("%rx")),
    );
}

#[test]
fn bad_memory_operand() {
    for operand in ["%r1", "[%r1+2", "%r1+2]", "[]", "[+2]", "[", "]"] {
        assert_error(
            &format!("ldxw %r0, {operand}"),
            1,
            11,
            AsmErrorKind::BadMemoryOperand(text(operand)),
        );
    }
}

#[test]
fn invalid_numbers() {
    assert_error(
        "mov %r0, abc",
        1,
        10,
        AsmErrorKind::InvalidNumber(text("abc")),
    );
    assert_error(
        "mov %r0, 0x",
        1,
        10,
        AsmErrorKind::InvalidNumber(text("0x")),
    );
    assert_error(
        "mov %r0, 1e3",
        1,
        10,
        AsmErrorKind::InvalidNumber(text("1e3")),
    );
    assert_error("ja +x", 1, 4, AsmErrorKind::InvalidNumber(text("+x")));
    assert_error(
        "ldxw %r0, [%r1+]",
        1,
        15,
        AsmErrorKind::InvalidNumber(text("+")),
    );
    // hex is written with a lower-case 0x
    assert_error(
        "mov %r0, 0X10",
        1,
        10,
        AsmErrorKind::InvalidNumber(text("0X10")),
    );
}

#[test]
fn negative_hex_is_rejected() {
    assert_error(
        "ldxw %r0, [%r1-0x10]",
        1,
        15,
        AsmErrorKind::NegativeHex(text("-0x10")),
    );
    assert_error("ja -0x1", 1, 4, AsmErrorKind::NegativeHex(text("-0x1")));
    assert_error(
        "mov %r0, -0x1",
        1,
        10,
        AsmErrorKind::NegativeHex(text("-0x1")),
    );
    assert_error(
        "lddw %r0, -0x1",
        1,
        11,
        AsmErrorKind::NegativeHex(text("-0x1")),
    );
}

#[test]
fn offsets_out_of_range() {
    assert_error(
        "ja +32768",
        1,
        4,
        AsmErrorKind::OffsetOutOfRange(text("+32768")),
    );
    assert_error(
        "stb [%r10-32769], 0",
        1,
        10,
        AsmErrorKind::OffsetOutOfRange(text("-32769")),
    );
    assert_error(
        "ldxb %r0, [%r1+0x10000]",
        1,
        15,
        AsmErrorKind::OffsetOutOfRange(text("+0x10000")),
    );
    assert_error(
        "jne %r0, 0, -40000",
        1,
        13,
        AsmErrorKind::OffsetOutOfRange(text("-40000")),
    );
}

#[test]
fn immediates_out_of_range() {
    let out = |value: &str| AsmErrorKind::ImmediateOutOfRange(text(value));
    assert_error("mov %r0, 0x100000000", 1, 10, out("0x100000000"));
    assert_error("mov %r0, 2147483648", 1, 10, out("2147483648"));
    assert_error("mov %r0, -2147483649", 1, 10, out("-2147483649"));
    assert_error("stw [%r1], 4294967295", 1, 12, out("4294967295"));
    assert_error("call 0x1ffffffff", 1, 6, out("0x1ffffffff"));
    assert_error("ja32 +0x100000000", 1, 6, out("+0x100000000"));
}

#[test]
fn constants_out_of_range() {
    let out = |value: &str| AsmErrorKind::ConstantOutOfRange(text(value));
    assert_error(
        "lddw %r0, 0x10000000000000000",
        1,
        11,
        out("0x10000000000000000"),
    );
    assert_error(
        "lddw %r0, 18446744073709551616",
        1,
        11,
        out("18446744073709551616"),
    );
    assert_error(
        "lddw %r0, -9223372036854775809",
        1,
        11,
        out("-9223372036854775809"),
    );
}

#[test]
fn unknown_label_is_reported_at_the_reference() {
    assert_error(
        "mov %r0, 0\nja done\nexit",
        2,
        4,
        AsmErrorKind::UnknownLabel(text("done")),
    );
    // a bare number is a label name
    assert_error(
        "jeq %r0, 0, 5\nexit",
        1,
        13,
        AsmErrorKind::UnknownLabel(text("5")),
    );
    assert_error(
        "call local func\nexit",
        1,
        12,
        AsmErrorKind::UnknownLabel(text("func")),
    );
    // the first unknown reference in source order is reported
    assert_error(
        "ja a\nja b\na:\nexit",
        2,
        4,
        AsmErrorKind::UnknownLabel(text("b")),
    );
}

#[test]
fn duplicate_labels() {
    assert_error(
        "a:\nexit\n  a:\nexit",
        3,
        3,
        AsmErrorKind::DuplicateLabel {
            label: text("a"),
            first_line: 1,
        },
    );
    // `exit` is defined by the first exit instruction; an explicit `exit:` clashes either way
    assert_error(
        "exit\nexit:\nexit",
        2,
        1,
        AsmErrorKind::DuplicateLabel {
            label: text("exit"),
            first_line: 1,
        },
    );
    assert_error(
        "exit:\nmov %r0, 0\nexit",
        3,
        1,
        AsmErrorKind::DuplicateLabel {
            label: text("exit"),
            first_line: 1,
        },
    );
}

#[test]
fn label_too_far_for_the_offset_field() {
    let mut source = String::from("ja far\n");
    source.push_str(&"mov %r0, 0\n".repeat(32768));
    source.push_str("far:\nexit\n");
    assert_error(
        &source,
        1,
        4,
        AsmErrorKind::LabelOutOfRange {
            label: text("far"),
            offset: 32768,
            bits: 16,
        },
    );
    // ja32 keeps its target in the 32-bit imm
    let long = slots(&source.replacen("ja far", "ja32 far", 1));
    assert_eq!(long[0], Insn::new(0x06, 0, 0, 0, 32768));
}

#[test]
fn invalid_call_mode() {
    assert_error(
        "call far 5",
        1,
        6,
        AsmErrorKind::InvalidCallMode(text("far")),
    );
}

#[test]
fn invalid_atomic_operation() {
    assert_error(
        "lock sub [%r1], %r2",
        1,
        6,
        AsmErrorKind::InvalidAtomicOp(text("sub")),
    );
    assert_error(
        "lock fetch add64 [%r1], %r2",
        1,
        12,
        AsmErrorKind::InvalidAtomicOp(text("add64")),
    );
}

#[test]
fn invalid_lddw_kind() {
    assert_error(
        "lddw %r1, map 5",
        1,
        11,
        AsmErrorKind::InvalidLoadImmKind(text("map")),
    );
}

#[test]
fn error_messages_say_where_and_what() {
    assert_eq!(
        error("exit\n\tfoo %r1").to_string(),
        "line 2, column 2: invalid mnemonic `foo`"
    );
    assert_eq!(
        error("ja nowhere").to_string(),
        "line 1, column 4: unknown label `nowhere`"
    );
}

// ---- comments, labels, layout ----

#[test]
fn comments_and_blank_lines_are_ignored() {
    let source = "# header\n\n   \nmov %r0, 1 # set r0\nadd %r0, 2#no space\n\t# indented\nexit";
    assert_eq!(
        slots(source),
        vec![
            Insn::new(0xb7, 0, 0, 0, 1),
            Insn::new(0x07, 0, 0, 0, 2),
            Insn::new(0x95, 0, 0, 0, 0),
        ]
    );
    assert_eq!(slots("# nothing"), vec![]);
    assert_eq!(slots(""), vec![]);
}

#[test]
fn commas_and_whitespace_are_interchangeable() {
    let expected = slots("add %r0, 1\njeq %r1, %r2, +1");
    assert_eq!(slots("add %r0 1\njeq %r1 %r2 +1"), expected);
    assert_eq!(slots("\tadd\t%r0,\t1\r\njeq   %r1,  %r2,\t+1"), expected);
    // only a trailing comma separates, so "%r1,%r2," is a single operand
    assert_error(
        "jeq %r1,%r2, +1",
        1,
        1,
        AsmErrorKind::OperandCount {
            mnemonic: text("jeq"),
            expected: "3",
            found: 2,
        },
    );
}

#[test]
fn labels_forward_and_backward() {
    let program = slots(
        "start:\n\
         mov %r0, 0\n\
         lddw %r1, 1\n\
         jeq %r0, 0, done\n\
         ja start\n\
         done:\n\
         exit",
    );
    // jeq at slot 3 skips to slot 5; ja at slot 4 goes back to slot 0 (lddw is two slots)
    assert_eq!(program[3], Insn::new(0x15, 0, 0, 1, 0));
    assert_eq!(program[4], Insn::new(0x05, 0, 0, -5, 0));
}

#[test]
fn implicit_exit_label_is_the_first_exit_even_backwards() {
    let program = slots(
        "mov %r0, 0\n\
         exit\n\
         mov %r0, 1\n\
         jeq %r0, 1, exit\n\
         exit",
    );
    assert_eq!(program[3], Insn::new(0x15, 0, 0, -3, 1));
    let forward = slots("ja exit\nmov %r0, 1\nexit\nexit");
    assert_eq!(forward[0], Insn::new(0x05, 0, 0, 1, 0));
}

#[test]
fn a_label_line_ignores_the_rest_of_the_line() {
    assert_eq!(slots("here: mov %r0, 1\nja here\nexit").len(), 2);
}

#[test]
fn local_calls_use_labels_or_signed_offsets() {
    let program = slots("call local f\nexit\nf:\nmov %r0, 1\nexit\ncall local -5");
    assert_eq!(program[0], Insn::new(0x85, 0, 1, 0, 1));
    assert_eq!(program[4], Insn::new(0x85, 0, 1, 0, -5));
}

// ---- numbers ----

#[test]
fn immediate_edge_cases() {
    assert_eq!(one("mov %r0, 0xffffffff"), Insn::new(0xb7, 0, 0, 0, -1));
    assert_eq!(
        one("mov %r0, 0x80000000"),
        Insn::new(0xb7, 0, 0, 0, i32::MIN)
    );
    assert_eq!(
        one("mov %r0, -2147483648"),
        Insn::new(0xb7, 0, 0, 0, i32::MIN)
    );
    assert_eq!(
        one("mov %r0, 2147483647"),
        Insn::new(0xb7, 0, 0, 0, i32::MAX)
    );
    assert_eq!(one("mov %r0, 0x0000000A"), Insn::new(0xb7, 0, 0, 0, 10));
    assert_eq!(one("mov32 %r0, -0"), Insn::new(0xb4, 0, 0, 0, 0));
}

#[test]
fn lddw_constants() {
    let lddw =
        |low: i32, high: i32| vec![Insn::new(0x18, 1, 0, 0, low), Insn::new(0, 0, 0, 0, high)];
    assert_eq!(
        slots("lddw %r1, 0x1122334455667788"),
        lddw(0x55667788, 0x11223344)
    );
    assert_eq!(slots("lddw %r1, 0x10000000A"), lddw(10, 1));
    assert_eq!(slots("lddw %r1, -1"), lddw(-1, -1));
    assert_eq!(slots("lddw %r1, -9223372036854775808"), lddw(0, i32::MIN));
    assert_eq!(slots("lddw %r1, 18446744073709551615"), lddw(-1, -1));
    assert_eq!(slots("lddw %r1, 4294967296"), lddw(0, 1));
}

#[test]
fn offsets_cover_the_signed_16_bit_range() {
    assert_eq!(
        one("ldxw %r0, [%r1-32768]"),
        Insn::new(0x61, 0, 1, i16::MIN, 0)
    );
    assert_eq!(
        one("ldxw %r0, [%r1+32767]"),
        Insn::new(0x61, 0, 1, i16::MAX, 0)
    );
    assert_eq!(one("ldxw %r0, [%r1+0x10]"), Insn::new(0x61, 0, 1, 16, 0));
    assert_eq!(one("ldxw %r0, [%r1+0xffff]"), Insn::new(0x61, 0, 1, -1, 0));
    assert_eq!(one("ldxw %r0, [%r1]"), Insn::new(0x61, 0, 1, 0, 0));
    assert_eq!(one("ja -32768"), Insn::new(0x05, 0, 0, i16::MIN, 0));
    assert_eq!(one("ja +32767"), Insn::new(0x05, 0, 0, i16::MAX, 0));
    assert_eq!(one("ja +0"), Insn::new(0x05, 0, 0, 0, 0));
}

// ---- instruction forms ----

#[test]
fn alu_forms() {
    assert_eq!(one("add %r1, %r2"), Insn::new(0x0f, 1, 2, 0, 0));
    assert_eq!(one("add64 %r1, %r2"), Insn::new(0x0f, 1, 2, 0, 0));
    assert_eq!(one("add32 %r1, 3"), Insn::new(0x04, 1, 0, 0, 3));
    assert_eq!(one("sdiv32 %r1, %r2"), Insn::new(0x3c, 1, 2, 1, 0));
    assert_eq!(one("smod %r1, -3"), Insn::new(0x97, 1, 0, 1, -3));
    assert_eq!(one("neg %r3"), Insn::new(0x87, 3, 0, 0, 0));
    assert_eq!(one("neg32 %r3"), Insn::new(0x84, 3, 0, 0, 0));
    assert_eq!(one("movsx3264 %r1, %r2"), Insn::new(0xbf, 1, 2, 32, 0));
    assert_eq!(one("movsx832 %r1, %r2"), Insn::new(0xbc, 1, 2, 8, 0));
    assert_eq!(one("be16 %r1"), Insn::new(0xdc, 1, 0, 0, 16));
    assert_eq!(one("le64 %r1"), Insn::new(0xd4, 1, 0, 0, 64));
    assert_eq!(one("bswap32 %r1"), Insn::new(0xd7, 1, 0, 0, 32));
    assert_eq!(one("swap32 %r1"), Insn::new(0xd7, 1, 0, 0, 32));
}

#[test]
fn invalid_registers_can_be_written() {
    assert_eq!(one("mov %r15, %r11"), Insn::new(0xbf, 15, 11, 0, 0));
}

#[test]
fn memory_forms() {
    assert_eq!(one("ldxsh %r1, [%r2-2]"), Insn::new(0x89, 1, 2, -2, 0));
    assert_eq!(one("stdw [%r10-8], -1"), Insn::new(0x7a, 10, 0, -8, -1));
    assert_eq!(one("stxb [%r1+1], %r2"), Insn::new(0x73, 1, 2, 1, 0));
    assert_eq!(
        one("lock fetch xor32 [%r10-4], %r1"),
        Insn::new(0xc3, 10, 1, -4, 0xa1)
    );
    assert_eq!(
        one("lock or [%r10-8], %r1"),
        Insn::new(0xdb, 10, 1, -8, 0x40)
    );
    assert_eq!(
        one("lock xchg [%r10-8], %r1"),
        Insn::new(0xdb, 10, 1, -8, 0xe1)
    );
    assert_eq!(
        one("lock cmpxchg32 [%r10-8], %r1"),
        Insn::new(0xc3, 10, 1, -8, 0xf1)
    );
}

#[test]
fn jump_and_call_forms() {
    assert_eq!(one("jsgt32 %r1, %r2, +3"), Insn::new(0x6e, 1, 2, 3, 0));
    assert_eq!(one("jset %r1, 0x80, -1"), Insn::new(0x45, 1, 0, -1, 0x80));
    assert_eq!(one("ja32 -70000"), Insn::new(0x06, 0, 0, 0, -70000));
    assert_eq!(one("call 5"), Insn::new(0x85, 0, 0, 0, 5));
    assert_eq!(one("call helper 5"), Insn::new(0x85, 0, 0, 0, 5));
    assert_eq!(one("call %r2"), Insn::new(0x8d, 2, 0, 0, 0));
    assert_eq!(one("call helper %r2"), Insn::new(0x8d, 2, 0, 0, 0));
    assert_eq!(one("call runtime 77"), Insn::new(0x85, 0, 2, 0, 77));
    assert_eq!(one("exit"), Insn::new(0x95, 0, 0, 0, 0));
}

#[test]
fn extension_lddw_pseudo_sources() {
    let pair = |src: u8, low: i32, high: i32| {
        vec![Insn::new(0x18, 1, src, 0, low), Insn::new(0, 0, 0, 0, high)]
    };
    assert_eq!(slots("lddw %r1, map_by_fd 5"), pair(1, 5, 0));
    assert_eq!(slots("lddw %r1, map_value_by_fd 5, 16"), pair(2, 5, 16));
    assert_eq!(slots("lddw %r1, variable 0xffffffff"), pair(3, -1, 0));
    assert_eq!(slots("lddw %r1, code -3"), pair(4, -3, 0));
    assert_eq!(slots("lddw %r1, map_by_index 2, 7"), pair(5, 2, 7));
    assert_eq!(slots("lddw %r1, map_value_by_index 0 8"), pair(6, 0, 8));
}

#[test]
fn extension_legacy_packet_loads() {
    assert_eq!(one("ldabsb 12"), Insn::new(0x30, 0, 0, 0, 12));
    assert_eq!(one("ldabsh 0x10"), Insn::new(0x28, 0, 0, 0, 16));
    assert_eq!(one("ldabsw -1"), Insn::new(0x20, 0, 0, 0, -1));
    assert_eq!(one("ldindb %r3, 2"), Insn::new(0x50, 0, 3, 0, 2));
    assert_eq!(one("ldindh %r3, 2"), Insn::new(0x48, 0, 3, 0, 2));
    assert_eq!(one("ldindw %r3, 2"), Insn::new(0x40, 0, 3, 0, 2));
}
