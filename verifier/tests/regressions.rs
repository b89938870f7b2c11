//! Regression tests for soundness bugs found by fuzzing and the soundness campaigns.

mod common;

use common::program;
use xbpf_verifier::{Check, ProgramType, VerifierConfig, verify};

/// A narrow (2-byte) spill of a register kept the register's relations to the packet bounds,
/// which do not hold for its low bytes: the fill then contradicted them, the verifier concluded
/// the rest of the program was unreachable and accepted the out-of-frame store after it
/// (found by the 10-million-program soundness campaign, seed 7624021).
const NARROW_SPILL: &str = "
    lddw %r5, 0xf15fc8c81274895d
    mov %r8, 4
loop:
    sub %r8, 1
    jne %r8, 0, loop
    stxh [%r10-224], %r5
    ldxh %r6, [%r10-224]
    mov %r0, %r6
";

#[test]
fn a_narrow_spill_fills_back_its_low_bytes() {
    let source = format!("{NARROW_SPILL}    exit\n");
    let report = verify(
        &program(&source),
        &ProgramType::conformance(0),
        &[],
        &VerifierConfig::default(),
    )
    .unwrap_or_else(|rejection| panic!("safe program rejected:\n{rejection}"));
    let range = report.exit_range.expect("the exit is reachable");
    assert_eq!(range.as_constant(), Some(0x895d));
}

#[test]
fn code_after_a_narrow_spill_is_still_checked() {
    let source = format!("{NARROW_SPILL}    stb [%r10-600], 1\n    exit\n");
    for max_disjuncts in [1, 8] {
        let config = VerifierConfig {
            max_disjuncts,
            ..VerifierConfig::default()
        };
        let rejection = verify(
            &program(&source),
            &ProgramType::conformance(0),
            &[],
            &config,
        )
        .expect_err("a store below the frame must be rejected");
        assert_eq!(rejection.check, Check::OutOfBounds, "{rejection}");
    }
}
