//! The patterns of the real-world corpus (../shared/verifier-corpus) that PREVAIL rejects and
//! xbpf proves safe, each as a small program, next to an unsafe twin that must stay rejected.
//! Accepted programs that can run on the interpreter also run with random inputs: no memory
//! fault, r0 inside the computed exit range.

mod common;

use common::{Expect, Ty, check_verdict, run, run_randomly};
use xbpf_isa::{Program, assemble};
use xbpf_verifier::{Check, MapDescriptor, MapType, VerifierConfig, verify};

use Check::*;
use Expect::{Accept, Reject};

const P: Ty = Ty::Packet;
const G: Ty = Ty::Generic(16);

/// A bounds check whose outcome is kept in a flag register, tested later (Cilium's
/// `ctx_load_bytes`-style helpers inlined: `err = data + off + 4 > end ? -EINVAL : 0;
/// if (err) goto drop; ... = *(u32 *)(data + off)`; build/dependent_read.o has the same
/// shape with the flag set to 1 when the check passes).
const FLAG_CHECK: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    mov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, bad\nmov %r5, 0\nja test\n\
    bad:\nmov %r5, -22\n\
    test:\njne32 %r5, 0, drop\nldxw %r0, [%r2+0]\nexit\n\
    drop:\nmov %r0, 0\nexit";

/// The same with the flag set on the wrong side: the load runs exactly when the check failed.
const FLAG_CHECK_INVERTED: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    mov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, bad\nmov %r5, -22\nja test\n\
    bad:\nmov %r5, 0\n\
    test:\njne32 %r5, 0, drop\nldxw %r0, [%r2+0]\nexit\n\
    drop:\nmov %r0, 0\nexit";

/// The flag is 1 when the check passed (build/dependent_read.o).
const FLAG_SET_WHEN_SAFE: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r5, 0\n\
    mov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +1\nmov %r5, 1\n\
    jeq %r5, 0, +2\nldxw %r0, [%r2+0]\nexit\nmov %r0, 0\nexit";

/// A variable header length (IPv4 IHL: `(byte & 0xf) << 2`), checked through a flag, as
/// Cilium's L4 port loads do.
const FLAG_CHECK_HEADER_WALK: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, drop\n\
    ldxb %r6, [%r2+0]\nand %r6, 15\nlsh %r6, 2\nadd %r6, 14\n\
    mov %r7, %r2\nadd %r7, %r6\nmov %r4, %r7\nadd %r4, 4\n\
    jgt %r4, %r3, bad\nmov %r8, 0\nja test\nbad:\nmov %r8, -22\n\
    test:\njne32 %r8, 0, drop\nldxw %r0, [%r7+0]\nexit\n\
    drop:\nmov %r0, 0\nexit";

/// The same, but the load reads 8 bytes where 4 were checked.
const FLAG_CHECK_HEADER_WALK_TOO_FAR: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, drop\n\
    ldxb %r6, [%r2+0]\nand %r6, 15\nlsh %r6, 2\nadd %r6, 14\n\
    mov %r7, %r2\nadd %r7, %r6\nmov %r4, %r7\nadd %r4, 4\n\
    jgt %r4, %r3, bad\nmov %r8, 0\nja test\nbad:\nmov %r8, -22\n\
    test:\njne32 %r8, 0, drop\nldxdw %r0, [%r7+0]\nexit\n\
    drop:\nmov %r0, 0\nexit";

/// A flag tested after unrelated branches that leave a dead register with different types
/// on different paths: with few disjuncts allowed, the dead register must not use them up.
const FLAG_AFTER_DEAD_REGISTER: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    ldxdw %r9, [%r1+24]\nmov %r7, %r10\njeq %r9, 0, +1\nmov %r7, 3\n\
    mov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, bad\nmov %r5, 0\nja test\n\
    bad:\nmov %r5, -22\n\
    test:\nmov %r7, 0\njne32 %r5, 0, drop\nldxw %r0, [%r2+0]\nexit\n\
    drop:\nmov %r0, 0\nexit";

/// A register set on one path only and read after the join stays uninitialised there (dead
/// registers are forgotten, live ones are not).
const LIVE_ON_ONE_PATH: &str = "ldxdw %r9, [%r1+24]\njeq %r9, 0, +1\nmov %r7, 3\n\
    mov %r0, %r7\nexit";

/// Two stack buffers initialised on two different paths, with a pointer into the one each
/// path filled (build/twostackvars.o): the paths stay apart until the read.
const TWO_STACK_BUFFERS: &str = "ldxdw %r6, [%r1+24]\nmov %r1, %r6\nand %r1, 1\n\
    and %r6, 7\nlsh %r6, 2\njeq %r1, 0, second\n\
    stdw [%r10-64], 1\nstdw [%r10-56], 2\nstdw [%r10-48], 3\nstdw [%r10-40], 4\n\
    mov %r7, %r10\nadd %r7, -64\nadd %r7, %r6\nja read\n\
    second:\nstdw [%r10-32], 1\nstdw [%r10-24], 2\nstdw [%r10-16], 3\nstdw [%r10-8], 4\n\
    mov %r7, %r10\nadd %r7, -32\nadd %r7, %r6\n\
    read:\nldxw %r0, [%r7+0]\nexit";

/// The same, but the second path fills only half of its buffer.
const TWO_STACK_BUFFERS_ONE_SHORT: &str = "ldxdw %r6, [%r1+24]\nmov %r1, %r6\nand %r1, 1\n\
    and %r6, 7\nlsh %r6, 2\njeq %r1, 0, second\n\
    stdw [%r10-64], 1\nstdw [%r10-56], 2\nstdw [%r10-48], 3\nstdw [%r10-40], 4\n\
    mov %r7, %r10\nadd %r7, -64\nadd %r7, %r6\nja read\n\
    second:\nstdw [%r10-32], 1\nstdw [%r10-24], 2\n\
    mov %r7, %r10\nadd %r7, -32\nadd %r7, %r6\n\
    read:\nldxw %r0, [%r7+0]\nexit";

/// The distance between two packet pointers taken with a 32-bit subtraction (Cilium's
/// `ctx_full_len`-style length computations).
const PACKET_LENGTH_32: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n\
    mov %r0, %r3\nsub32 %r0, %r2\nexit";

/// `inner = lookup(outer, 0); if (inner != &map0) ...; v = lookup(inner, 0); *(u64 *)v`
/// (linux/test_map_in_map_kern.o compares the inner map it got with the ones it expects).
const COMPARE_INNER_MAP: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n\
    lddw %r1, map_by_index 2\ncall 1\njeq %r0, 0, none\nmov %r6, %r0\n\
    lddw %r7, map_by_index 0\njne %r6, %r7, none\n\
    mov %r2, %r10\nadd %r2, -4\nmov %r1, %r6\ncall 1\njeq %r0, 0, none\n\
    ldxdw %r0, [%r0+0]\nexit\nnone:\nmov %r0, 0\nexit";

/// The same, reading 16 bytes of the inner map's 8-byte values (the comparison proves
/// nothing about the inner map's shape).
const COMPARE_INNER_MAP_READ_TOO_FAR: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n\
    lddw %r1, map_by_index 2\ncall 1\njeq %r0, 0, none\nmov %r6, %r0\n\
    lddw %r7, map_by_index 0\njne %r6, %r7, none\n\
    mov %r2, %r10\nadd %r2, -4\nmov %r1, %r6\ncall 1\njeq %r0, 0, none\n\
    ldxdw %r0, [%r0+8]\nexit\nnone:\nmov %r0, 0\nexit";

/// A 40-byte stack array written then summed by loops counted with `!=` (build/loop.o).
const COUNTED_LOOPS: &str = "stdw [%r10-8], 0\nstdw [%r10-16], 0\nstdw [%r10-24], 0\n\
    stdw [%r10-32], 0\nstdw [%r10-40], 0\nmov %r2, 0\nmov %r4, 1\n\
    write:\nmov %r5, %r10\nadd %r5, -40\nadd %r5, %r2\nstxb [%r5+0], %r4\n\
    add %r2, 1\njne %r2, 40, write\n\
    mov %r1, 0\nmov %r0, 0\n\
    read:\nmov %r2, %r10\nadd %r2, -40\nadd %r2, %r1\nldxb %r2, [%r2+0]\nadd %r0, %r2\n\
    add %r1, 1\njne %r1, 40, read\nexit";

/// The same with the write loop running one byte too far (to r10 itself).
const COUNTED_LOOP_ONE_TOO_FAR: &str = "stdw [%r10-8], 0\nstdw [%r10-16], 0\nstdw [%r10-24], 0\n\
    stdw [%r10-32], 0\nstdw [%r10-40], 0\nmov %r2, 0\nmov %r4, 1\n\
    write:\nmov %r5, %r10\nadd %r5, -40\nadd %r5, %r2\nstxb [%r5+0], %r4\n\
    add %r2, 1\njne %r2, 41, write\nmov %r0, 0\nexit";

/// Two lookups give pointers into two different values of one map: their difference is not
/// the difference of their offsets, so it must not be trusted as a small number.
const DISTANCE_BETWEEN_MAP_VALUES: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n\
    lddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, out\nmov %r6, %r0\n\
    stw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_by_index 0\ncall 1\n\
    jeq %r0, 0, out\nsub %r6, %r0\nmov %r3, %r10\nadd %r3, %r6\nstdw [%r3-16], 0\n\
    out:\nmov %r0, 0\nexit";

#[rustfmt::skip]
const CASES: &[(&str, Ty, usize, &str, Expect)] = &[
    ("flag-encoded packet check", P, 128, FLAG_CHECK, Accept),
    ("flag-encoded packet check, flag inverted", P, 128, FLAG_CHECK_INVERTED, Reject(OutOfBounds)),
    ("flag set when the check passed", P, 128, FLAG_SET_WHEN_SAFE, Accept),
    ("flag-encoded check of a variable-length header", P, 128, FLAG_CHECK_HEADER_WALK, Accept),
    ("flag-encoded check of a variable-length header, read too far", P, 128, FLAG_CHECK_HEADER_WALK_TOO_FAR, Reject(OutOfBounds)),
    ("flag after a dead register of two types, two disjuncts", P, 2, FLAG_AFTER_DEAD_REGISTER, Accept),
    ("register live on one path only", P, 2, LIVE_ON_ONE_PATH, Reject(UninitializedRegister)),
    ("two stack buffers filled on two paths", P, 128, TWO_STACK_BUFFERS, Accept),
    ("two stack buffers, one half filled", P, 128, TWO_STACK_BUFFERS_ONE_SHORT, Reject(UninitializedStack)),
    ("32-bit distance between packet pointers", P, 128, PACKET_LENGTH_32, Accept),
    ("loops counted with !=", G, 128, COUNTED_LOOPS, Accept),
    ("loop counted with != one byte too far", G, 128, COUNTED_LOOP_ONE_TOO_FAR, Reject(OutOfBounds)),
    ("the result of a tail call returned", G, 128, "lddw %r2, map_by_index 5\nmov %r3, 0\ncall 12\nexit", Accept),
    ("a tail call without the context", G, 128, "mov %r1, %r10\nlddw %r2, map_by_index 5\nmov %r3, 0\ncall 12\nexit", Reject(HelperArgument)),
    ("inner map compared with a map", G, 128, COMPARE_INNER_MAP, Accept),
    ("inner map compared with a map, read too far", G, 128, COMPARE_INNER_MAP_READ_TOO_FAR, Reject(OutOfBounds)),
    ("map compared with a map value", G, 128, "mov %r0, 0\nlddw %r6, map_by_index 1\nlddw %r7, map_value_by_index 1, 0\njne %r6, %r7, +1\nmov %r0, 1\nexit", Reject(PointerComparison)),
    ("maps compared by order", G, 128, "mov %r0, 0\nlddw %r6, map_by_index 1\nlddw %r7, map_by_index 0\njgt %r6, %r7, +1\nmov %r0, 1\nexit", Reject(PointerComparison)),
    ("32-bit distance between context and packet", P, 128, "ldxdw %r2, [%r1+0]\nmov %r0, %r1\nsub32 %r0, %r2\nexit", Reject(PointerSubtraction)),
    ("32-bit sum of packet pointers", P, 128, "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, %r3\nadd32 %r0, %r2\nexit", Reject(PointerArithmetic)),
    ("distance between two map values used as a stack offset", G, 128, DISTANCE_BETWEEN_MAP_VALUES, Reject(OutOfBounds)),
    ("two map values compared, the unequal branch still checked", G, 128, "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +10\nmov %r6, %r0\nstw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +2\njne %r6, %r0, +2\nmov %r0, 0\nexit\nldxdw %r0, [%r0+16]\nexit", Reject(OutOfBounds)),
    ("two map values ordered, both branches still checked", G, 128, "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +10\nmov %r6, %r0\nstw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +2\njgt %r6, %r0, +2\nmov %r0, 0\nexit\nldxdw %r0, [%r0+16]\nexit", Reject(OutOfBounds)),
    ("32-bit distance between two map values used as a stack offset", G, 128, "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +13\nmov %r6, %r0\nstw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_by_index 0\ncall 1\njeq %r0, 0, +5\nsub32 %r6, %r0\nmov %r3, %r10\nadd %r3, %r6\nstdw [%r3-16], 0\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("32-bit packet distance used as a stack offset", P, 128, "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nsub32 %r3, %r2\nmov %r4, %r10\nadd %r4, %r3\nstb [%r4-1], 0\nmov %r0, 0\nexit", Reject(OutOfBounds)),
];

fn config(max_disjuncts: usize) -> VerifierConfig {
    VerifierConfig {
        max_disjuncts,
        ..VerifierConfig::default()
    }
}

#[test]
fn corpus_patterns_verify_as_expected() {
    let mut failures = Vec::new();
    for &(name, ty, disjuncts, source, expect) in CASES {
        let result = run(&ty.program_type(), source, &config(disjuncts));
        if let Err(message) = check_verdict(name, &result, expect) {
            failures.push(message);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn accepted_corpus_patterns_run_safely() {
    let mut ran = 0;
    for (i, &(name, ty, disjuncts, source, expect)) in CASES.iter().enumerate() {
        if expect != Accept {
            continue;
        }
        let report = run(&ty.program_type(), source, &config(disjuncts))
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        run_randomly(ty, source, &report, 500, 0x5eed + i as u64)
            .unwrap_or_else(|message| panic!("{name}: {message}"));
        ran += 1;
    }
    assert!(ran >= 6);
}

fn program(source: &str) -> Program {
    Program::new(assemble(source).unwrap()).unwrap()
}

/// `m = cond ? &a : &b; v = lookup(m, key); *(u64 *)(v + 8)`, as Cilium picks between its
/// conntrack maps (same key and value sizes, different capacities): even when every join
/// merges (one disjunct), the register keeps a map type.
const PICK_A_MAP: &str = "ldxdw %r3, [%r1+0]\nlddw %r6, map_by_index 0\njeq %r3, 0, +2\n\
    lddw %r6, map_by_index 1\n\
    stdw [%r10-16], 0\nstdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -16\nmov %r1, %r6\ncall 1\n\
    jeq %r0, 0, +2\nldxdw %r0, [%r0+8]\nexit\nmov %r0, 0\nexit";

#[test]
fn maps_of_the_same_shape_are_interchangeable() {
    let ty = Ty::Generic(8).program_type();
    let same = [
        MapDescriptor::new(MapType::LruHash, 14, 56, 524_288),
        MapDescriptor::new(MapType::LruHash, 14, 56, 262_144),
    ];
    for disjuncts in [1, 128] {
        let result = verify(&program(PICK_A_MAP), &ty, &same, &config(disjuncts));
        assert!(
            result.is_ok(),
            "{disjuncts} disjuncts: {}",
            result.unwrap_err()
        );
    }
    // Different value sizes: the 8 bytes at offset 8 are outside the second map's values.
    let different = [
        MapDescriptor::new(MapType::LruHash, 14, 56, 524_288),
        MapDescriptor::new(MapType::LruHash, 14, 8, 262_144),
    ];
    for disjuncts in [1, 128] {
        let rejection = verify(&program(PICK_A_MAP), &ty, &different, &config(disjuncts))
            .expect_err("a map whose values are too small");
        assert!(
            matches!(rejection.check, OutOfBounds | HelperArgument),
            "{disjuncts} disjuncts: {rejection}"
        );
    }
    // Different types (a hash map and an array of maps) never share an id.
    let mut outer = MapDescriptor::new(MapType::ArrayOfMaps, 14, 4, 8);
    outer.inner = Some(Box::new(MapDescriptor::new(MapType::Hash, 4, 4, 8)));
    let mixed = [MapDescriptor::new(MapType::LruHash, 14, 56, 524_288), outer];
    assert!(verify(&program(PICK_A_MAP), &ty, &mixed, &config(1)).is_err());
}
