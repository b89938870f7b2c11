//! Concrete semantics of the value-computing instructions, used to fold constants exactly and
//! as the oracle of the abstract domain's tests. Follows the execution semantics shared by every
//! engine (RFC 9669, Linux as tie-breaker for division by zero and INT_MIN / -1).

use xbpf_isa::{AluOp, ByteOrder, Width};

/// `dst OP src` at `width`; 32-bit results are zero-extended and read only the low halves.
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => alu32(op, dst as u32, src as u32) as u64,
    }
}

fn alu64(op: AluOp, a: u64, b: u64) -> u64 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::SDiv => {
            if b == 0 {
                0
            } else {
                (a as i64).wrapping_div(b as i64) as u64
            }
        }
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::SMod => {
            if b == 0 {
                a
            } else {
                (a as i64).wrapping_rem(b as i64) as u64
            }
        }
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
    }
}

fn alu32(op: AluOp, a: u32, b: u32) -> u32 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::SDiv => {
            if b == 0 {
                0
            } else {
                (a as i32).wrapping_div(b as i32) as u32
            }
        }
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 31),
        AluOp::Rsh => a >> (b & 31),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::SMod => {
            if b == 0 {
                a
            } else {
                (a as i32).wrapping_rem(b as i32) as u32
            }
        }
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::Arsh => ((a as i32) >> (b & 31)) as u32,
    }
}

/// `neg` at `width`.
pub fn neg(width: Width, a: u64) -> u64 {
    match width {
        Width::W64 => a.wrapping_neg(),
        Width::W32 => (a as u32).wrapping_neg() as u64,
    }
}

/// Byte-order conversion on a little-endian host: `le` truncates, `be` and `bswap` swap the low
/// `bits` bits; the result is zero-extended.
pub fn endian(order: ByteOrder, bits: u8, a: u64) -> u64 {
    match (order, bits) {
        (ByteOrder::ToLe, 16) => a as u16 as u64,
        (ByteOrder::ToLe, 32) => a as u32 as u64,
        (ByteOrder::ToLe, _) => a,
        (_, 16) => (a as u16).swap_bytes() as u64,
        (_, 32) => (a as u32).swap_bytes() as u64,
        (_, _) => a.swap_bytes(),
    }
}

/// `movsx`: sign-extends the low `from_bits` of `a`; the 32-bit form then zero-extends.
pub fn movsx(width: Width, from_bits: u8, a: u64) -> u64 {
    let extended = sign_extend(a, from_bits as u32);
    match width {
        Width::W64 => extended,
        Width::W32 => extended as u32 as u64,
    }
}

/// Sign-extends the low `bits` bits of `a` to 64 bits.
pub fn sign_extend(a: u64, bits: u32) -> u64 {
    if bits >= 64 {
        return a;
    }
    let shift = 64 - bits;
    (((a << shift) as i64) >> shift) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_corners_follow_linux() {
        assert_eq!(alu(Width::W64, AluOp::Div, 7, 0), 0);
        assert_eq!(alu(Width::W64, AluOp::Mod, 7, 0), 7);
        assert_eq!(alu(Width::W32, AluOp::Mod, 0x1_0000_0007, 0), 7);
        assert_eq!(
            alu(Width::W64, AluOp::SDiv, i64::MIN as u64, u64::MAX),
            i64::MIN as u64
        );
        assert_eq!(alu(Width::W64, AluOp::SMod, i64::MIN as u64, u64::MAX), 0);
        assert_eq!(
            alu(
                Width::W32,
                AluOp::SMod,
                (-13i32) as u32 as u64,
                (-3i32) as u32 as u64
            ),
            0xffff_ffff
        );
    }

    #[test]
    fn shifts_are_masked_and_32_bit_results_zero_extended() {
        assert_eq!(
            alu(Width::W32, AluOp::Lsh, 0x11, (-4i32) as u64),
            0x1000_0000
        );
        assert_eq!(alu(Width::W64, AluOp::Lsh, 1, 65), 2);
        assert_eq!(alu(Width::W32, AluOp::Arsh, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(movsx(Width::W32, 8, 0x80), 0xffff_ff80);
        assert_eq!(movsx(Width::W64, 16, 0x8000), 0xffff_ffff_ffff_8000);
        assert_eq!(endian(ByteOrder::ToBe, 16, 0x1234_5678), 0x7856);
        assert_eq!(endian(ByteOrder::ToLe, 32, 0x1_2345_6789), 0x2345_6789);
    }
}
