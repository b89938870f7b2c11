//! What each computing instruction does, as pure functions of register values.
//!
//! This module is the readable statement of eBPF semantics: RFC 9669 is the contract, and where
//! it leaves a corner open the Linux kernel decides; each such place says so in one line.
//! The interpreter calls these functions with the operation as a constant, so after inlining
//! each call is the one machine operation it describes.
//!
//! Conventions: registers are 64-bit. A 32-bit operation (ALU or JMP32 class) reads only the
//! low 32 bits of its operands and an ALU result is zero-extended into the 64-bit register.
//! An immediate is sign-extended to 64 bits before use (RFC 9669 §2.2 and §4.1), so its low
//! 32 bits are the immediate itself for 32-bit operations.

use xbpf_isa::{AluOp, ByteOrder, JmpCond, Width};

/// RFC 9669 §4.1 Arithmetic instructions, ALU64 class: `dst = dst OP src` on 64 bits.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        // RFC 9669 §4.1: "underflow and overflow are allowed ... the value will wrap".
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        // RFC 9669 §4.1: division by zero sets dst to zero.
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        // RFC 9669 §4.1: signed division truncates; by zero, dst becomes zero. Linux is the
        // tie-breaker for INT64_MIN / -1, which the RFC leaves open: the result is INT64_MIN.
        AluOp::SDiv => match src {
            0 => 0,
            _ => (dst as i64).wrapping_div(src as i64) as u64,
        },
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        // RFC 9669 §4.1: shift counts are masked with 0x3f.
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        // RFC 9669 §4.1: modulo by zero leaves dst unchanged.
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        // RFC 9669 §4.1: signed modulo is the remainder of truncated division (sign of dst);
        // by zero, dst is unchanged. Linux is the tie-breaker for INT64_MIN % -1: zero.
        AluOp::SMod => match src {
            0 => dst,
            _ => (dst as i64).wrapping_rem(src as i64) as u64,
        },
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        // RFC 9669 §4.1: arithmetic shift right (sign-extending), count masked with 0x3f.
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// RFC 9669 §4.1 Arithmetic instructions, ALU class: `dst = (u32)((u32)dst OP (u32)src)`.
/// Only the low halves are read and the result is zero-extended to 64 bits.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let (dst, src) = (dst as u32, src as u32);
    let result = match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        // RFC 9669 §4.1: the 32-bit immediate is read as unsigned for DIV and MOD.
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        // Linux is the tie-breaker for INT32_MIN / -1: INT32_MIN.
        AluOp::SDiv => match src {
            0 => 0,
            _ => (dst as i32).wrapping_div(src as i32) as u32,
        },
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        // RFC 9669 §4.1: shift counts are masked with 0x1f.
        AluOp::Lsh => dst << (src & 31),
        AluOp::Rsh => dst >> (src & 31),
        // RFC 9669 §4.1: modulo by zero keeps the low 32 bits of dst and zeroes the upper half
        // (the zero-extension below).
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        // Linux is the tie-breaker for INT32_MIN % -1: zero.
        AluOp::SMod => match src {
            0 => dst,
            _ => (dst as i32).wrapping_rem(src as i32) as u32,
        },
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::Arsh => ((dst as i32) >> (src & 31)) as u32,
    };
    u64::from(result)
}

/// RFC 9669 §4.1 Arithmetic instructions, NEG: `dst = -dst`, wrapping (so -INT_MIN = INT_MIN).
#[inline(always)]
pub fn neg(width: Width, dst: u64) -> u64 {
    match width {
        Width::W64 => dst.wrapping_neg(),
        Width::W32 => u64::from((dst as u32).wrapping_neg()),
    }
}

/// RFC 9669 §4.1 Arithmetic instructions, MOVSX: sign-extends the low `from_bits` (8, 16 or,
/// for ALU64, 32) bits of `src`; the ALU (32-bit) form then zero-extends its 32-bit result.
#[inline(always)]
pub fn movsx(width: Width, from_bits: u8, src: u64) -> u64 {
    let extended = match from_bits {
        8 => src as i8 as i64,
        16 => src as i16 as i64,
        _ => src as i32 as i64,
    };
    match width {
        Width::W64 => extended as u64,
        Width::W32 => u64::from(extended as u32),
    }
}

/// RFC 9669 §4.2 Byte swap instructions: converts the low `bits` (16, 32 or 64) of `dst`
/// between host order and the requested order, zero-extending the result.
///
/// `ToLe`/`ToBe` are `htole`/`htobe`: on a little-endian host `le` only truncates and `be`
/// swaps; `Swap` (the ALU64 form) swaps unconditionally.
#[inline(always)]
pub fn byte_order(order: ByteOrder, bits: u8, dst: u64) -> u64 {
    match (order, bits) {
        (ByteOrder::ToLe, 16) => u64::from((dst as u16).to_le()),
        (ByteOrder::ToLe, 32) => u64::from((dst as u32).to_le()),
        (ByteOrder::ToLe, _) => dst.to_le(),
        (ByteOrder::ToBe, 16) => u64::from((dst as u16).to_be()),
        (ByteOrder::ToBe, 32) => u64::from((dst as u32).to_be()),
        (ByteOrder::ToBe, _) => dst.to_be(),
        (ByteOrder::Swap, 16) => u64::from((dst as u16).swap_bytes()),
        (ByteOrder::Swap, 32) => u64::from((dst as u32).swap_bytes()),
        (ByteOrder::Swap, _) => dst.swap_bytes(),
    }
}

/// RFC 9669 §4.3 Jump instructions: whether the condition holds. JMP compares 64-bit values,
/// JMP32 only the low 32 bits; signed conditions read the operands as two's complement at
/// that width.
#[inline(always)]
pub fn condition(cond: JmpCond, width: Width, dst: u64, src: u64) -> bool {
    let (a, b, sa, sb) = match width {
        Width::W64 => (dst, src, dst as i64, src as i64),
        Width::W32 => (
            u64::from(dst as u32),
            u64::from(src as u32),
            i64::from(dst as i32),
            i64::from(src as i32),
        ),
    };
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Set => a & b != 0,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Sgt => sa > sb,
        JmpCond::Sge => sa >= sb,
        JmpCond::Slt => sa < sb,
        JmpCond::Sle => sa <= sb,
    }
}

/// RFC 9669 §5.3 Atomic operations: the value a read-modify-write leaves in memory, given the
/// value it found there (`old`), the source register and, for CMPXCHG, r0 (`expected`).
/// The caller reduces all three to the operation's width and truncates the result.
#[inline(always)]
pub fn atomic_update(op: xbpf_isa::AtomicOp, old: u64, src: u64, expected: u64) -> u64 {
    use xbpf_isa::AtomicOp;
    match op {
        AtomicOp::Add => old.wrapping_add(src),
        AtomicOp::Or => old | src,
        AtomicOp::And => old & src,
        AtomicOp::Xor => old ^ src,
        AtomicOp::Xchg => src,
        AtomicOp::CmpXchg if old == expected => src,
        AtomicOp::CmpXchg => old,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_corners_follow_the_rfc_and_linux() {
        assert_eq!(alu64(AluOp::Div, 7, 0), 0);
        assert_eq!(alu64(AluOp::Mod, 7, 0), 7);
        assert_eq!(
            alu64(AluOp::SDiv, i64::MIN as u64, u64::MAX),
            i64::MIN as u64
        );
        assert_eq!(alu64(AluOp::SMod, i64::MIN as u64, u64::MAX), 0);
        assert_eq!(alu64(AluOp::SMod, -13i64 as u64, 3), -1i64 as u64);
        assert_eq!(alu32(AluOp::Mod, 0xdead_beef_0000_0007, 0), 7);
        assert_eq!(alu32(AluOp::SDiv, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
        assert_eq!(alu32(AluOp::SMod, 0x8000_0000, 0xffff_ffff), 0);
        assert_eq!(alu32(AluOp::SMod, 0xffff_fff6, 0), 0xffff_fff6);
    }

    #[test]
    fn shifts_mask_their_count() {
        assert_eq!(alu64(AluOp::Lsh, 1, 65), 2);
        assert_eq!(alu32(AluOp::Lsh, 1, 33), 2);
        assert_eq!(alu32(AluOp::Arsh, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(alu64(AluOp::Arsh, 1 << 63, 63), u64::MAX);
    }

    #[test]
    fn byte_order_truncates_and_swaps() {
        let value = 0x1122_3344_5566_7788;
        assert_eq!(byte_order(ByteOrder::Swap, 16, value), 0x8877);
        assert_eq!(byte_order(ByteOrder::Swap, 32, value), 0x8877_6655);
        assert_eq!(
            byte_order(ByteOrder::Swap, 64, value),
            0x8877_6655_4433_2211
        );
        if cfg!(target_endian = "little") {
            assert_eq!(byte_order(ByteOrder::ToLe, 16, value), 0x7788);
            assert_eq!(byte_order(ByteOrder::ToBe, 32, value), 0x8877_6655);
        }
    }

    #[test]
    fn jmp32_compares_low_halves() {
        assert!(condition(JmpCond::Eq, Width::W32, 0x1_0000_0005, 5));
        assert!(!condition(JmpCond::Eq, Width::W64, 0x1_0000_0005, 5));
        assert!(condition(JmpCond::Slt, Width::W32, 0xffff_ffff, 0));
        assert!(!condition(JmpCond::Slt, Width::W64, 0xffff_ffff, 0));
    }

    #[test]
    fn cmpxchg_stores_only_on_match() {
        use xbpf_isa::AtomicOp;
        assert_eq!(atomic_update(AtomicOp::CmpXchg, 5, 9, 5), 9);
        assert_eq!(atomic_update(AtomicOp::CmpXchg, 5, 9, 4), 5);
    }
}
