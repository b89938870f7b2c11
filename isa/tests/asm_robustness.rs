//! No input makes the assembler, the disassembler or program validation panic; and whatever
//! valid program comes out of random input still round-trips through the disassembler.

use proptest::prelude::*;
use proptest::sample::select;
use xbpf_isa::insn::slots_from_bytes;
use xbpf_isa::{Insn, Instruction, Program, assemble, disassemble};

const MNEMONICS: &[&str] = &[
    "add",
    "add32",
    "add64",
    "sub32",
    "mul",
    "div",
    "sdiv",
    "sdiv32",
    "smod",
    "mod32",
    "or",
    "and",
    "lsh",
    "rsh32",
    "arsh",
    "xor",
    "mov",
    "mov32",
    "neg",
    "neg32",
    "neg64",
    "movsx864",
    "movsx832",
    "movsx1664",
    "movsx3264",
    "movsx3232",
    "le16",
    "le64",
    "be32",
    "bswap16",
    "swap64",
    "lddw",
    "ldxb",
    "ldxh",
    "ldxw",
    "ldxdw",
    "ldxsb",
    "ldxsw",
    "stb",
    "stdw",
    "stxh",
    "stxdw",
    "ldabsb",
    "ldabsw",
    "ldindh",
    "ja",
    "ja32",
    "jeq",
    "jne32",
    "jsgt",
    "jslt32",
    "jset",
    "call",
    "exit",
    "lock",
    "fetch",
    "xchg",
    "cmpxchg32",
    "add32",
    "helper",
    "local",
    "runtime",
    "map_by_fd",
    "map_value_by_index",
    "code",
];

const OPERANDS: &[&str] = &[
    "%r0",
    "%r1",
    "%r10",
    "%r11",
    "%r15",
    "%r16",
    "%r01",
    "%r",
    "%",
    "r1",
    "[%r1]",
    "[%r10-8]",
    "[%r1+0x10]",
    "[%r1-0x10]",
    "[%r1+32767]",
    "[%r1-32769]",
    "[%r1",
    "%r1]",
    "[]",
    "[+]",
    "[%r1+]",
    "[é]",
    "0",
    "-1",
    "+1",
    "-0",
    "0x",
    "0xffffffff",
    "0x100000000",
    "-2147483648",
    "2147483648",
    "0xffffffffffffffff",
    "-9223372036854775809",
    "+0xffff",
    "-0x1",
    "+32768",
    "-32768",
    "99999999999999999999999999",
    "exit",
    "label",
    "L0",
    "L1",
    "x",
    ",",
    ",,",
    "",
    "é",
    "\u{0}",
];

fn operand_token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(OPERANDS).prop_map(str::to_string),
        1 => select(MNEMONICS).prop_map(str::to_string),
        1 => "[a-z%0-9x:,+\\-\\[\\]#é]{1,6}",
    ]
}

/// Lines of a mnemonic followed by zero to four operands, label lines and junk.
fn token_soup() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => (
            select(MNEMONICS),
            prop::collection::vec((operand_token(), select(&[" ", ", ", "\t", ",", ""][..])), 0..5),
            select(&["", " # comment", "#", " \r"][..]),
        )
            .prop_map(|(mnemonic, operands, comment)| {
                let operands: String = operands
                    .into_iter()
                    .map(|(operand, separator)| operand + separator)
                    .collect();
                format!("{mnemonic} {operands}{comment}")
            }),
        1 => select(&["label:", "L0:", "L1:", "exit:", ":", "  x: mov %r0, 1", ""][..])
            .prop_map(str::to_string),
        1 => prop::collection::vec(operand_token(), 0..6).prop_map(|tokens| tokens.join(" ")),
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

/// Structured random slots: every opcode with register numbers up to 15 and edge-case fields.
fn random_slot() -> impl Strategy<Value = Insn> {
    (
        any::<u8>(),
        0u8..16,
        0u8..16,
        prop_oneof![any::<i16>(), select(vec![0i16, 1, 8, 16, 32, -1])],
        prop_oneof![
            any::<i32>(),
            select(vec![0, 1, 16, 32, 64, 0x40, 0x41, 0xe1, 0xf1, -1])
        ],
    )
        .prop_map(|(opcode, dst, src, off, imm)| Insn::new(opcode, dst, src, off, imm))
}

/// If the slots are a valid program, its disassembly must reassemble to the same slots.
fn check_round_trip(slots: &[Insn]) -> Result<(), TestCaseError> {
    let text = disassemble(slots);
    if Program::new(slots.to_vec()).is_ok() {
        let reassembled =
            assemble(&text).map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
        prop_assert_eq!(reassembled, slots.to_vec(), "{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn assembling_any_string_does_not_panic(text in any::<String>()) {
        let _ = assemble(&text);
    }

    #[test]
    fn assembling_token_soup_does_not_panic(text in token_soup()) {
        if let Ok(slots) = assemble(&text) {
            check_round_trip(&slots)?;
        }
    }

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Program::from_bytes(&bytes);
        let whole = bytes.len() / 8 * 8;
        let slots = slots_from_bytes(&bytes[..whole]).expect("whole slots");
        check_round_trip(&slots)?;
    }

    #[test]
    fn random_slots_round_trip_when_they_decode(slots in prop::collection::vec(random_slot(), 1..12)) {
        // Every single decodable instruction reassembles from its text.
        for (index, &slot) in slots.iter().enumerate() {
            if let Ok((instruction, used)) = Instruction::decode(slot, slots.get(index + 1).copied()) {
                let text = instruction.to_string();
                let reassembled = assemble(&text)
                    .map_err(|error| TestCaseError::fail(format!("{text}: {error}")))?;
                prop_assert_eq!(&reassembled[..], &slots[index..index + used], "{}", text);
            }
        }
        check_round_trip(&slots)?;
    }
}
