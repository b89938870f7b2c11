//! Tristate numbers: which bits of a value are known, and their values.
//!
//! A `Tnum { value, mask }` describes every `x` with `x & !mask == value`: bits set in `mask`
//! are unknown, the others equal the corresponding bit of `value` (`value & mask == 0`). This
//! is the bit-level half of the scalar domain; it keeps alignment and masking facts that
//! intervals lose (`x & 0xf0`, `x << 3`).

/// A tristate number over 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// Known bit values (0 where unknown).
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `value`.
    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// The smallest tnum containing every value in `[min, max]` (unsigned).
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Whether exactly one value is described.
    pub fn is_constant(self) -> bool {
        self.mask == 0
    }

    /// Whether `x` is described.
    pub fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Smallest described value (unsigned).
    pub fn min(self) -> u64 {
        self.value
    }

    /// Largest described value (unsigned).
    pub fn max(self) -> u64 {
        self.value | self.mask
    }

    fn plus(self, other: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(other.mask);
        let sv = self.value.wrapping_add(other.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | other.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    fn minus(self, other: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(other.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(other.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | other.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Bitwise and.
    pub fn and(self, other: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = other.value | other.mask;
        let v = self.value & other.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub fn or(self, other: Tnum) -> Tnum {
        let v = self.value | other.value;
        let mu = self.mask | other.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise exclusive or.
    pub fn xor(self, other: Tnum) -> Tnum {
        let v = self.value ^ other.value;
        let mu = self.mask | other.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Multiplication by shift-and-add over the known bits of `self`.
    fn times(self, other: Tnum) -> Tnum {
        let mut a = self;
        let mut b = other;
        let acc_v = a.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.plus(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.plus(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        Tnum::constant(acc_v).plus(acc_m)
    }

    /// Left shift by `shift` (less than 64).
    pub fn lsh(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value << shift,
            mask: self.mask << shift,
        }
    }

    /// Logical right shift by `shift` (less than 64).
    pub fn rsh(self, shift: u32) -> Tnum {
        Tnum {
            value: self.value >> shift,
            mask: self.mask >> shift,
        }
    }

    /// Arithmetic right shift at `width` bits (32 or 64); the result is zero-extended from
    /// `width` bits.
    pub fn arsh(self, shift: u32, width: u32) -> Tnum {
        if width == 32 {
            Tnum {
                value: ((self.value as u32 as i32) >> shift) as u32 as u64,
                mask: ((self.mask as u32 as i32) >> shift) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> shift) as u64,
                mask: ((self.mask as i64) >> shift) as u64,
            }
        }
    }

    /// The low `bits` bits, zero-extended.
    pub fn truncate(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        let keep = (1u64 << bits) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// Sign-extends the low `bits` bits to 64.
    pub fn sign_extend(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        let t = self.truncate(bits);
        let sign = 1u64 << (bits - 1);
        let high = !((1u64 << bits) - 1);
        if t.mask & sign != 0 {
            Tnum {
                value: t.value,
                mask: t.mask | high,
            }
        } else if t.value & sign != 0 {
            Tnum {
                value: t.value | high,
                mask: t.mask,
            }
        } else {
            t
        }
    }

    /// The values described by both, or `None` if they disagree on a known bit.
    pub fn intersect(self, other: Tnum) -> Option<Tnum> {
        let known_both = !self.mask & !other.mask;
        if (self.value ^ other.value) & known_both != 0 {
            return None;
        }
        let v = self.value | other.value;
        let mu = self.mask & other.mask;
        Some(Tnum {
            value: v & !mu,
            mask: mu,
        })
    }

    /// The smallest tnum describing the values of both.
    pub fn union(self, other: Tnum) -> Tnum {
        let mu = self.mask | other.mask | (self.value ^ other.value);
        Tnum {
            value: self.value & !mu,
            mask: mu,
        }
    }

    /// Whether every value of `self` is a value of `other`.
    pub fn is_subset_of(self, other: Tnum) -> bool {
        self.mask & !other.mask == 0 && (self.value & !other.mask) == other.value
    }
}

impl core::ops::Add for Tnum {
    type Output = Tnum;
    fn add(self, other: Tnum) -> Tnum {
        self.plus(other)
    }
}

impl core::ops::Sub for Tnum {
    type Output = Tnum;
    fn sub(self, other: Tnum) -> Tnum {
        self.minus(other)
    }
}

impl core::ops::Mul for Tnum {
    type Output = Tnum;
    fn mul(self, other: Tnum) -> Tnum {
        self.times(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tnum_with(x: u64, mask: u64) -> Tnum {
        Tnum {
            value: x & !mask,
            mask,
        }
    }

    proptest! {
        #[test]
        fn binary_operations_are_sound(a in any::<u64>(), am in any::<u64>(), b in any::<u64>(),
                                       bm in any::<u64>(), flip_a in any::<u64>(), flip_b in any::<u64>()) {
            let ta = tnum_with(a, am);
            let tb = tnum_with(b, bm);
            let x = (a & !am) | (flip_a & am);
            let y = (b & !bm) | (flip_b & bm);
            prop_assert!(ta.contains(x) && tb.contains(y));
            prop_assert!((ta + tb).contains(x.wrapping_add(y)));
            prop_assert!((ta - tb).contains(x.wrapping_sub(y)));
            prop_assert!(ta.and(tb).contains(x & y));
            prop_assert!(ta.or(tb).contains(x | y));
            prop_assert!(ta.xor(tb).contains(x ^ y));
            prop_assert!((ta * tb).contains(x.wrapping_mul(y)));
            prop_assert!(ta.union(tb).contains(x) && ta.union(tb).contains(y));
            let s = (flip_b % 64) as u32;
            prop_assert!(ta.lsh(s).contains(x << s));
            prop_assert!(ta.rsh(s).contains(x >> s));
            prop_assert!(ta.arsh(s, 64).contains(((x as i64) >> s) as u64));
            prop_assert!(ta.arsh(s % 32, 32).contains(((x as u32 as i32) >> (s % 32)) as u32 as u64));
            prop_assert!(ta.truncate(16).contains(x & 0xffff));
            prop_assert!(ta.sign_extend(8).contains(x as u8 as i8 as i64 as u64));
            prop_assert!(ta.sign_extend(32).contains(x as u32 as i32 as i64 as u64));
        }

        #[test]
        fn range_contains_its_bounds(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let t = Tnum::range(lo, hi);
            prop_assert!(t.contains(lo) && t.contains(hi));
            let mid = lo + (c % (hi - lo).saturating_add(1).max(1));
            prop_assert!(t.contains(mid));
        }

        #[test]
        fn intersect_keeps_common_values(x in any::<u64>(), am in any::<u64>(), bm in any::<u64>()) {
            let ta = tnum_with(x, am);
            let tb = tnum_with(x, bm);
            let both = ta.intersect(tb).expect("x is in both");
            prop_assert!(both.contains(x));
            prop_assert!(both.is_subset_of(ta) && both.is_subset_of(tb));
        }
    }

    #[test]
    fn constants_and_masks() {
        let t = Tnum::constant(0x1234);
        assert!(t.is_constant() && t.contains(0x1234) && !t.contains(0x1235));
        let masked = Tnum::UNKNOWN.and(Tnum::constant(0xff));
        assert_eq!((masked.min(), masked.max()), (0, 0xff));
        assert_eq!(
            Tnum::constant(1).intersect(Tnum::constant(2)),
            None,
            "disagreeing constants have no common value"
        );
    }
}
