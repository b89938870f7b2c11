//! The eight workloads written directly in Rust: the floor the engines are compared with.
//!
//! Each is written from the workload's description (and reads its input memory in the same
//! layout as the eBPF program), compiled with the bench profile like any Rust code. To keep them
//! honest the memory and every loop bound reach them through `black_box`, so the compiler
//! cannot fold the work away; the benches check their r0 against the README's before timing.

use std::hint::black_box;

/// A native workload: gets the input memory (r1, r2 of the eBPF version), returns r0.
pub type NativeFn = fn(&mut [u8]) -> u64;

/// The native version of the workload with this name.
pub fn by_name(name: &str) -> Option<NativeFn> {
    Some(match name {
        "simple" => simple,
        "memory_a_plus_b" => memory_a_plus_b,
        "log2_int" => log2_int,
        "prime" => prime,
        "memcpy" => memcpy,
        "strcmp_fail" | "strcmp_full" => strcmp,
        "switch" => switch,
        _ => return None,
    })
}

fn u64_at(memory: &[u8], offset: usize) -> u64 {
    let bytes = memory[offset..offset + 8].try_into().expect("8 bytes");
    u64::from_le_bytes(bytes)
}

fn u32_at(memory: &[u8], offset: usize) -> u32 {
    let bytes = memory[offset..offset + 4].try_into().expect("4 bytes");
    u32::from_le_bytes(bytes)
}

/// Returns a constant.
fn simple(_memory: &mut [u8]) -> u64 {
    black_box(12345678)
}

/// Adds the two u64 at offsets 0 and 8.
fn memory_a_plus_b(memory: &mut [u8]) -> u64 {
    u64_at(memory, 0).wrapping_add(u64_at(memory, 8))
}

/// Branch-free floor(log2(v)) of a 32-bit value (0 for 0): binary search by shifts and compares.
#[inline(always)]
fn log2_u32(mut v: u32) -> u32 {
    let mut r = u32::from(v > 0xffff) << 4;
    v >>= r;
    let shift = u32::from(v > 0xff) << 3;
    v >>= shift;
    r |= shift;
    let shift = u32::from(v > 0xf) << 2;
    v >>= shift;
    r |= shift;
    let shift = u32::from(v > 0x3) << 1;
    v >>= shift;
    r |= shift;
    r | (v >> 1)
}

/// floor(log2(v)) of a 64-bit value, from its high half when that is not zero.
#[inline(always)]
fn log2_u64(v: u64) -> u32 {
    let high = (v >> 32) as u32;
    if high != 0 {
        log2_u32(high) + 32
    } else {
        log2_u32(v as u32)
    }
}

/// A u64 count at offset 0, then that many u64: the xor of their integer log2.
fn log2_int(memory: &mut [u8]) -> u64 {
    let count = u64_at(memory, 0) as usize;
    let values = &memory[8..8 + 8 * count];
    values
        .chunks_exact(8)
        .map(|chunk| u64::from(log2_u64(u64_at(chunk, 0))))
        .fold(0, |acc, log| acc ^ log)
}

/// Counts the n in 1..10,000 with no divisor d, 2 <= d and d * d <= n, by trial division in
/// 32-bit arithmetic (so 1 counts, as in the eBPF version).
fn prime(_memory: &mut [u8]) -> u64 {
    let limit: u32 = black_box(10_000);
    let mut count = 0u64;
    for n in 1..limit {
        let mut is_prime = true;
        let mut d = 2u32;
        while d * d <= n {
            if n % d == 0 {
                is_prime = false;
                break;
            }
            d += 1;
        }
        count += u64::from(is_prime);
    }
    count
}

/// Copies the first 1 MiB of memory to the second, byte by byte; returns 0.
fn memcpy(memory: &mut [u8]) -> u64 {
    const HALF: usize = 1 << 20;
    let (from, to) = memory.split_at_mut(black_box(HALF));
    for (dst, src) in to[..HALF].iter_mut().zip(&from[..HALF]) {
        *dst = *src;
    }
    0
}

/// strcmp of the NUL-terminated strings at offsets 0 and 1 MiB, characters compared as signed
/// bytes (the eBPF version's C `char`); the difference is returned sign-extended to 64 bits.
fn strcmp(memory: &mut [u8]) -> u64 {
    let half = black_box(1usize << 20);
    let (a, b) = memory.split_at(half);
    let (x, y) = a
        .iter()
        .zip(b)
        .find(|&(&x, &y)| x == 0 || x != y)
        .expect("the first string ends inside the memory");
    (i64::from(*x as i8) - i64::from(*y as i8)) as u64
}

/// A 64-case switch (default 114514) on one int.
#[inline(always)]
fn case(v: u32) -> u32 {
    match v {
        0 => 56,
        1 => 43,
        2 => 57,
        3 => 28,
        4 => 14,
        5 => 61,
        6 => 10,
        7 => 58,
        8 => 2,
        9 => 63,
        10 => 49,
        11 => 36,
        12 => 19,
        13 => 42,
        14 => 37,
        15 => 46,
        16 => 34,
        17 => 62,
        18 => 47,
        19 => 6,
        20 => 29,
        21 => 21,
        22 => 15,
        23 => 40,
        24 => 38,
        25 => 26,
        26 => 17,
        27 => 41,
        28 => 33,
        29 => 31,
        30 => 23,
        31 => 52,
        32 => 25,
        33 => 39,
        34 => 11,
        35 => 27,
        36 => 53,
        37 => 4,
        38 => 24,
        39 => 48,
        40 => 32,
        41 => 50,
        42 => 7,
        43 => 35,
        44 => 8,
        45 => 44,
        46 => 51,
        47 => 59,
        48 => 45,
        49 => 0,
        50 => 9,
        51 => 3,
        52 => 13,
        53 => 20,
        54 => 30,
        55 => 18,
        56 => 1,
        57 => 54,
        58 => 22,
        59 => 16,
        60 => 60,
        61 => 5,
        62 => 12,
        63 => 55,
        _ => 114514,
    }
}

/// An i32 count at offset 0, then that many u32: the xor of their switch cases, returned as an
/// i32 sign-extended to 64 bits.
fn switch(memory: &mut [u8]) -> u64 {
    let count = u32_at(memory, 0) as i32;
    let mut result = 0u32;
    for i in 0..count.max(0) as usize {
        result ^= case(u32_at(memory, 4 + 4 * i));
    }
    result as i32 as i64 as u64
}
