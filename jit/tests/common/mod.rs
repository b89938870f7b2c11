//! Shared helpers of the JIT integration tests.

#![allow(dead_code)]

use std::path::PathBuf;
use xbpf_isa::{Insn, Instruction, Program};

/// The shared test data directory (`../shared` from the repository root).
pub fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    assert!(
        dir.is_dir(),
        "the shared test data folder is missing: {} (tests need ../shared next to the repository)",
        dir.display()
    );
    dir
}

/// Builds and validates a program from decoded instructions.
pub fn program(instructions: &[Instruction]) -> Program {
    let slots: Vec<Insn> = instructions.iter().flat_map(|i| i.encode()).collect();
    Program::new(slots).expect("test program must validate")
}

/// Decodes a hex string into bytes.
pub fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}
