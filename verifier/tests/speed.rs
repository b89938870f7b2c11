//! The verifier stays fast on long programs: a synthetic 5,000-instruction program in the
//! style of a large packet parser (bounds checks, branches to a shared exit, spills, map
//! lookups) verifies well within a generous time bound, and the work grows linearly.

mod common;

use common::{Ty, program, test_maps};
use std::fmt::Write;
use std::time::{Duration, Instant};
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

fn time_verification(blocks: usize) -> (usize, Duration) {
    let source = parser(blocks);
    let program = program(&source);
    let ty = Ty::Packet.program_type();
    let start = Instant::now();
    let report = verify(&program, &ty, &test_maps(), &VerifierConfig::default())
        .unwrap_or_else(|r| panic!("the synthetic parser is safe:\n{r}"));
    let elapsed = start.elapsed();
    assert!(report.exit_range.is_some());
    (program.len(), elapsed)
}

#[test]
fn five_thousand_instructions_verify_quickly_and_linearly() {
    let (small_len, small_time) = time_verification(50);
    let (len, time) = time_verification(210);
    eprintln!("{small_len} slots in {small_time:?}, {len} slots in {time:?}");
    assert!(len >= 5000, "the program has {len} slots");
    assert!(
        time < Duration::from_secs(10),
        "verifying {len} slots took {time:?}"
    );
    // Four times the code may cost more than four times the time, but not quadratically so.
    let ratio = time.as_secs_f64() / small_time.as_secs_f64().max(1e-6);
    assert!(ratio < 16.0, "4x the program took {ratio:.1}x the time");
}
