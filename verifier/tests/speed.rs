//! The verifier scales on long programs: a synthetic 5,000-instruction program in the style of
//! a large packet parser (bounds checks, branches to a shared exit, spills, map lookups)
//! verifies, and the abstract work (blocks executed, states kept apart) grows linearly with its
//! length. The work is counted, not timed, so the test is deterministic on a loaded machine;
//! time is measured by the criterion benches.

mod common;

use common::{Ty, program, test_maps};
use std::fmt::Write;
use xbpf_verifier::{VerifierConfig, verify};

/// A parser-like program with `blocks` repetitions of a 25-instruction pattern.
fn parser(blocks: usize) -> String {
    let mut s = String::from(
        "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r9, %r1\nmov %r0, 0\nstdw [%r10-64], 0\n",
    );
    for k in 0..blocks {
        let off = k % 48;
        let slot = 8 * (k % 6 + 1);
        let _ = write!(
            s,
            "mov %r4, %r2\nadd %r4, {}\njgt %r4, %r3, drop\n\
             ldxb %r5, [%r2+{off}]\nadd %r0, %r5\n\
             stxdw [%r10-{slot}], %r5\nldxdw %r7, [%r10-{slot}]\n\
             jeq %r7, {k}, +2\nadd %r0, 1\nxor %r0, %r7\n\
             and %r0, 0xffff\n",
            off + 8
        );
        if k % 10 == 0 {
            // A map lookup with a null check and a read of the value.
            let _ = write!(
                s,
                "stw [%r10-68], {k}\nmov %r6, %r2\nmov %r8, %r3\nmov %r2, %r10\nadd %r2, -68\n\
                 lddw %r1, map_by_index 0\ncall 1\nmov %r2, %r6\nmov %r3, %r8\n\
                 jeq %r0, 0, drop\nldxdw %r0, [%r0+8]\nand %r0, 0xff\nmov %r1, %r9\n"
            );
        } else {
            s.push_str("mov %r1, %r9\nmov %r8, %r0\nadd %r8, 3\nrsh %r8, 1\njgt %r8, 1000, +1\nadd %r0, %r8\nmov %r6, %r0\nand %r6, 7\nadd %r0, %r6\nmov %r6, 0\nadd %r6, 0\nmov %r8, 0\nsub %r0, 0\n");
        }
    }
    s.push_str("exit\ndrop:\nmov %r0, 1\nexit\n");
    s
}

/// Verifies the parser with `blocks` repetitions; returns its length and the blocks executed.
fn verification_work(blocks: usize) -> (usize, usize) {
    let source = parser(blocks);
    let program = program(&source);
    let ty = Ty::Packet.program_type();
    let report = verify(&program, &ty, &test_maps(), &VerifierConfig::default())
        .unwrap_or_else(|r| panic!("the synthetic parser is safe:\n{r}"));
    assert!(report.exit_range.is_some());
    (program.len(), report.stats.block_executions)
}

#[test]
fn five_thousand_instructions_verify_with_linear_work() {
    let (small_len, small_work) = verification_work(50);
    let (len, work) = verification_work(210);
    eprintln!("{small_len} slots: {small_work} block executions; {len} slots: {work}");
    assert!(len >= 5000, "the program has {len} slots");
    // 4.2 times the code may cost somewhat more than 4.2 times the work, not quadratically more.
    let ratio = work as f64 / small_work.max(1) as f64;
    assert!(ratio < 6.0, "4.2x the program took {ratio:.1}x the work");
}
