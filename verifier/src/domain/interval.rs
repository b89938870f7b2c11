//! The scalar domain: a 64-bit value described at once by signed and unsigned intervals, the
//! same two intervals for its low 32 bits (the subregister that 32-bit instructions see), and a
//! tristate number for known bits. Each view catches what the others lose: `x & 0xff` is a
//! tnum fact, `x < 10` an unsigned one, `(s32)x > 0` a 32-bit signed one; `normalize` moves
//! what one view knows into the others.
//!
//! Arithmetic works on a [`View`] (the bounds of one width, 32 or 64 bits) so each operation is
//! written once for both widths; results come back through [`Scalar::from_view`], which
//! zero-extends 32-bit results as every 32-bit ALU instruction does.

use crate::prelude::*;

use super::tnum::Tnum;
use crate::concrete;
use core::fmt;
use xbpf_isa::{AluOp, ByteOrder, Width};

/// An abstract 64-bit value. Every field is a constraint that holds of every described value;
/// normalised values have the tightest fields the others imply.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Smallest value, as signed.
    pub smin: i64,
    /// Largest value, as signed.
    pub smax: i64,
    /// Smallest value, as unsigned.
    pub umin: u64,
    /// Largest value, as unsigned.
    pub umax: u64,
    /// Smallest low 32 bits, as signed.
    pub s32min: i32,
    /// Largest low 32 bits, as signed.
    pub s32max: i32,
    /// Smallest low 32 bits, as unsigned.
    pub u32min: u32,
    /// Largest low 32 bits, as unsigned.
    pub u32max: u32,
    /// The bits known to be 0 or 1.
    pub tnum: Tnum,
}

/// The bounds of a value at one width (32 or 64 bits), for arithmetic. At 32 bits the fields
/// hold 32-bit quantities (signed ones sign-extended into the `i64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// The width: 32 or 64.
    pub bits: u32,
    /// Smallest value, as signed.
    pub smin: i64,
    /// Largest value, as signed.
    pub smax: i64,
    /// Smallest value, as unsigned.
    pub umin: u64,
    /// Largest value, as unsigned.
    pub umax: u64,
    /// The known bits (of the low `bits` bits).
    pub tnum: Tnum,
}

/// The comparisons a conditional jump refines with; `NotSet` is the fall-through of `jset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`, unsigned.
    Gt,
    /// `>=`, unsigned.
    Ge,
    /// `<`, unsigned.
    Lt,
    /// `<=`, unsigned.
    Le,
    /// `>`, signed.
    Sgt,
    /// `>=`, signed.
    Sge,
    /// `<`, signed.
    Slt,
    /// `<=`, signed.
    Sle,
    /// `a & b != 0` (`jset` taken).
    Set,
    /// `a & b == 0` (`jset` not taken).
    NotSet,
}

impl Cmp {
    /// The condition that holds when this one does not.
    pub fn negate(self) -> Cmp {
        match self {
            Cmp::Eq => Cmp::Ne,
            Cmp::Ne => Cmp::Eq,
            Cmp::Gt => Cmp::Le,
            Cmp::Ge => Cmp::Lt,
            Cmp::Lt => Cmp::Ge,
            Cmp::Le => Cmp::Gt,
            Cmp::Sgt => Cmp::Sle,
            Cmp::Sge => Cmp::Slt,
            Cmp::Slt => Cmp::Sge,
            Cmp::Sle => Cmp::Sgt,
            Cmp::Set => Cmp::NotSet,
            Cmp::NotSet => Cmp::Set,
        }
    }

    /// The same condition with the operands swapped (`a > b` is `b < a`).
    pub fn swap(self) -> Cmp {
        match self {
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Sgt => Cmp::Slt,
            Cmp::Sge => Cmp::Sle,
            Cmp::Slt => Cmp::Sgt,
            Cmp::Sle => Cmp::Sge,
            other => other,
        }
    }

    /// Whether the comparison holds of two concrete values at `bits`.
    pub fn holds(self, bits: u32, a: u64, b: u64) -> bool {
        let (a, b) = if bits == 32 {
            (a as u32 as u64, b as u32 as u64)
        } else {
            (a, b)
        };
        let (sa, sb) = if bits == 32 {
            (a as u32 as i32 as i64, b as u32 as i32 as i64)
        } else {
            (a as i64, b as i64)
        };
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Sgt => sa > sb,
            Cmp::Sge => sa >= sb,
            Cmp::Slt => sa < sb,
            Cmp::Sle => sa <= sb,
            Cmp::Set => a & b != 0,
            Cmp::NotSet => a & b == 0,
        }
    }
}

const fn umax_of(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

const fn smin_of(bits: u32) -> i64 {
    if bits >= 64 {
        i64::MIN
    } else {
        -(1i64 << (bits - 1))
    }
}

const fn smax_of(bits: u32) -> i64 {
    if bits >= 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    }
}

/// `2^bits` as an i128.
fn modulus(bits: u32) -> i128 {
    1i128 << bits
}

impl View {
    /// Every value of the width.
    pub fn top(bits: u32) -> View {
        View {
            bits,
            smin: smin_of(bits),
            smax: smax_of(bits),
            umin: 0,
            umax: umax_of(bits),
            tnum: Tnum::UNKNOWN.truncate(bits),
        }
    }

    /// Exactly `value` (truncated to the width).
    pub fn constant(bits: u32, value: u64) -> View {
        let v = value & umax_of(bits);
        View {
            bits,
            smin: concrete::sign_extend(v, bits) as i64,
            smax: concrete::sign_extend(v, bits) as i64,
            umin: v,
            umax: v,
            tnum: Tnum::constant(v),
        }
    }

    /// The value if the view describes exactly one.
    pub fn as_constant(&self) -> Option<u64> {
        if self.umin == self.umax {
            Some(self.umin)
        } else if self.tnum.is_constant() {
            Some(self.tnum.value)
        } else if self.smin == self.smax {
            Some(self.smin as u64 & umax_of(self.bits))
        } else {
            None
        }
    }

    /// An unsigned range computed in i128, wrapped when the whole range overflowed the same way.
    fn with_unsigned(mut self, lo: i128, hi: i128) -> View {
        let m = modulus(self.bits);
        let (lo, hi) = if lo >= 0 && hi < m {
            (lo, hi)
        } else if lo >= m && hi < 2 * m {
            (lo - m, hi - m)
        } else if hi < 0 && lo >= -m {
            (lo + m, hi + m)
        } else {
            (0, m - 1)
        };
        self.umin = lo as u64;
        self.umax = hi as u64;
        self
    }

    /// A signed range computed in i128, wrapped when the whole range overflowed the same way.
    fn with_signed(mut self, lo: i128, hi: i128) -> View {
        let m = modulus(self.bits);
        let smin = smin_of(self.bits) as i128;
        let smax = smax_of(self.bits) as i128;
        let (lo, hi) = if lo >= smin && hi <= smax {
            (lo, hi)
        } else if lo > smax && hi - m <= smax {
            (lo - m, hi - m)
        } else if hi < smin && lo + m >= smin {
            (lo + m, hi + m)
        } else {
            (smin, smax)
        };
        self.smin = lo as i64;
        self.smax = hi as i64;
        self
    }

    fn with_tnum(mut self, tnum: Tnum) -> View {
        self.tnum = tnum.truncate(self.bits);
        self
    }

    /// The smallest view containing both.
    pub fn hull(self, other: View) -> View {
        View {
            bits: self.bits,
            smin: self.smin.min(other.smin),
            smax: self.smax.max(other.smax),
            umin: self.umin.min(other.umin),
            umax: self.umax.max(other.umax),
            tnum: self.tnum.union(other.tnum),
        }
    }

    /// The values in both, or `None` when the bounds contradict.
    pub fn meet(self, other: View) -> Option<View> {
        let v = View {
            bits: self.bits,
            smin: self.smin.max(other.smin),
            smax: self.smax.min(other.smax),
            umin: self.umin.max(other.umin),
            umax: self.umax.min(other.umax),
            tnum: self.tnum.intersect(other.tnum)?,
        };
        if v.smin > v.smax || v.umin > v.umax {
            None
        } else {
            Some(v)
        }
    }

    /// `self OP other` at this view's width. Division by zero and INT_MIN / -1 follow the
    /// shared execution semantics.
    pub fn alu(self, op: AluOp, other: View) -> View {
        let bits = self.bits;
        if let (Some(a), Some(b)) = (self.as_constant(), other.as_constant()) {
            let width = if bits == 32 { Width::W32 } else { Width::W64 };
            return View::constant(bits, concrete::alu(width, op, a, b));
        }
        let top = View::top(bits);
        match op {
            AluOp::Mov => other,
            AluOp::Add => top
                .with_unsigned(
                    self.umin as i128 + other.umin as i128,
                    self.umax as i128 + other.umax as i128,
                )
                .with_signed(
                    self.smin as i128 + other.smin as i128,
                    self.smax as i128 + other.smax as i128,
                )
                .with_tnum(self.tnum + other.tnum),
            AluOp::Sub => top
                .with_unsigned(
                    self.umin as i128 - other.umax as i128,
                    self.umax as i128 - other.umin as i128,
                )
                .with_signed(
                    self.smin as i128 - other.smax as i128,
                    self.smax as i128 - other.smin as i128,
                )
                .with_tnum(self.tnum - other.tnum),
            AluOp::Mul => {
                let mut r = top.with_tnum(self.tnum * other.tnum);
                let hi = self.umax as u128 * other.umax as u128;
                if hi <= umax_of(bits) as u128 {
                    r.umin = self.umin.wrapping_mul(other.umin);
                    r.umax = hi as u64;
                }
                let corners = [
                    self.smin as i128 * other.smin as i128,
                    self.smin as i128 * other.smax as i128,
                    self.smax as i128 * other.smin as i128,
                    self.smax as i128 * other.smax as i128,
                ];
                let lo = *corners.iter().min().unwrap_or(&0);
                let hi = *corners.iter().max().unwrap_or(&0);
                if lo >= smin_of(bits) as i128 && hi <= smax_of(bits) as i128 {
                    r.smin = lo as i64;
                    r.smax = hi as i64;
                }
                r
            }
            AluOp::Div => {
                if other.umax == 0 {
                    return View::constant(bits, 0);
                }
                let dmin = other.umin.max(1);
                let lo = if other.umin == 0 {
                    0
                } else {
                    self.umin / other.umax
                };
                top.with_unsigned(lo as i128, (self.umax / dmin) as i128)
            }
            AluOp::Mod => {
                if other.umax == 0 {
                    return self;
                }
                if self.umax < other.umin {
                    return self;
                }
                let hi = self.umax.min(other.umax - 1);
                if other.umin == 0 {
                    // Dividing by zero leaves the dividend: its values stay possible.
                    top.with_unsigned(0, self.umax.max(hi) as i128)
                } else {
                    top.with_unsigned(0, hi as i128)
                }
            }
            AluOp::SDiv => {
                if let Some(c) = other.as_constant() {
                    let c = concrete::sign_extend(c, bits) as i64;
                    if c == 0 {
                        return View::constant(bits, 0);
                    }
                    if c == -1 {
                        return View::constant(bits, 0).alu(AluOp::Sub, self);
                    }
                    let a = self.smin as i128 / c as i128;
                    let b = self.smax as i128 / c as i128;
                    return top.with_signed(a.min(b), a.max(b));
                }
                let m = (self.smin as i128).abs().max((self.smax as i128).abs());
                if m > smax_of(bits) as i128 {
                    top
                } else {
                    top.with_signed(-m, m)
                }
            }
            AluOp::SMod => {
                // The remainder has the dividend's sign and is no larger in magnitude; by zero
                // the dividend is kept, and INT_MIN % -1 is 0: all inside hull(dividend, 0).
                let mut lo = (self.smin as i128).min(0);
                let mut hi = (self.smax as i128).max(0);
                if let Some(c) = other.as_constant() {
                    let c = concrete::sign_extend(c, bits) as i64 as i128;
                    if c != 0 {
                        let limit = c.abs() - 1;
                        lo = lo.max(-limit);
                        hi = hi.min(limit);
                    }
                }
                top.with_signed(lo, hi)
            }
            AluOp::And => {
                let mut r = top.with_tnum(self.tnum.and(other.tnum));
                r.umax = self.umax.min(other.umax);
                match (self.smin >= 0, other.smin >= 0) {
                    (true, true) => r.with_signed(0, self.smax.min(other.smax) as i128),
                    (true, false) => r.with_signed(0, self.smax as i128),
                    (false, true) => r.with_signed(0, other.smax as i128),
                    (false, false) => r,
                }
            }
            AluOp::Or => {
                let mut r = top.with_tnum(self.tnum.or(other.tnum));
                r.umin = self.umin.max(other.umin);
                r
            }
            AluOp::Xor => top.with_tnum(self.tnum.xor(other.tnum)),
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(op, other),
        }
    }

    /// Shifts by every possible (masked) count and joins the results.
    fn shift(self, op: AluOp, count: View) -> View {
        let bits = self.bits;
        let (lo, hi) = if count.umax < bits as u64 {
            (count.umin as u32, count.umax as u32)
        } else {
            (0, bits - 1)
        };
        let mut result: Option<View> = None;
        for k in lo..=hi {
            if !count.tnum.contains(k as u64) && count.umax < bits as u64 {
                continue;
            }
            let r = self.shift_by(op, k);
            result = Some(match result {
                Some(acc) => acc.hull(r),
                None => r,
            });
        }
        result.unwrap_or_else(|| View::top(bits))
    }

    fn shift_by(self, op: AluOp, k: u32) -> View {
        let bits = self.bits;
        let top = View::top(bits);
        match op {
            AluOp::Lsh => {
                let mut r = top.with_tnum(self.tnum.lsh(k));
                if (self.umax as u128) << k <= umax_of(bits) as u128 {
                    r.umin = self.umin << k;
                    r.umax = self.umax << k;
                }
                let lo = (self.smin as i128) << k;
                let hi = (self.smax as i128) << k;
                if lo >= smin_of(bits) as i128 && hi <= smax_of(bits) as i128 {
                    r.smin = lo as i64;
                    r.smax = hi as i64;
                }
                r
            }
            AluOp::Rsh => {
                let mut r = top.with_tnum(self.tnum.rsh(k));
                r.umin = self.umin >> k;
                r.umax = self.umax >> k;
                r
            }
            _ => {
                let mut r = top.with_tnum(self.tnum.arsh(k, bits));
                r.smin = self.smin >> k;
                r.smax = self.smax >> k;
                r
            }
        }
    }

    /// Refines both operands assuming `self CMP other` holds; `None` when it cannot.
    pub fn refine(self, cmp: Cmp, other: View) -> Option<(View, View)> {
        let (mut a, mut b) = (self, other);
        match cmp {
            Cmp::Eq => {
                let m = a.meet(b)?;
                return Some((m, m));
            }
            Cmp::Ne => {
                if let Some(c) = b.as_constant() {
                    a = a.exclude(c)?;
                }
                if let Some(c) = a.as_constant() {
                    b = b.exclude(c)?;
                }
            }
            Cmp::Gt | Cmp::Ge => {
                let strict = u64::from(cmp == Cmp::Gt);
                a.umin = a.umin.max(b.umin.checked_add(strict)?);
                b.umax = b.umax.min(a.umax.checked_sub(strict)?);
            }
            Cmp::Lt | Cmp::Le => {
                let (nb, na) = b.refine(cmp.swap(), a)?;
                return Some((na, nb));
            }
            Cmp::Sgt | Cmp::Sge => {
                let strict = i64::from(cmp == Cmp::Sgt);
                a.smin = a.smin.max(b.smin.checked_add(strict)?);
                b.smax = b.smax.min(a.smax.checked_sub(strict)?);
            }
            Cmp::Slt | Cmp::Sle => {
                let (nb, na) = b.refine(cmp.swap(), a)?;
                return Some((na, nb));
            }
            Cmp::Set => {
                if let Some(c) = b.as_constant() {
                    if a.tnum.value & c != 0 {
                        // Already known to share a bit.
                    } else if a.tnum.mask & c == 0 {
                        return None;
                    } else if (a.tnum.mask & c).count_ones() == 1 {
                        a.tnum.value |= a.tnum.mask & c;
                        a.tnum.mask &= !c;
                    }
                    a = a.exclude(0)?;
                }
            }
            Cmp::NotSet => {
                if let Some(c) = b.as_constant() {
                    if a.tnum.value & c != 0 {
                        return None;
                    }
                    a.tnum.mask &= !c;
                }
            }
        }
        if a.smin > a.smax || a.umin > a.umax || b.smin > b.smax || b.umin > b.umax {
            return None;
        }
        Some((a, b))
    }

    /// Removes `c` when it is at an end of an interval.
    fn exclude(mut self, c: u64) -> Option<View> {
        if self.as_constant() == Some(c) {
            return None;
        }
        if self.umin == c {
            self.umin = self.umin.checked_add(1)?;
        }
        if self.umax == c {
            self.umax = self.umax.checked_sub(1)?;
        }
        let s = concrete::sign_extend(c, self.bits) as i64;
        if self.smin == s {
            self.smin = self.smin.checked_add(1)?;
        }
        if self.smax == s {
            self.smax = self.smax.checked_sub(1)?;
        }
        Some(self)
    }
}

impl Scalar {
    /// Every 64-bit value.
    pub const TOP: Scalar = Scalar {
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        u32min: 0,
        u32max: u32::MAX,
        tnum: Tnum::UNKNOWN,
    };

    /// Exactly `value`.
    pub fn constant(value: u64) -> Scalar {
        Scalar {
            smin: value as i64,
            smax: value as i64,
            umin: value,
            umax: value,
            s32min: value as i32,
            s32max: value as i32,
            u32min: value as u32,
            u32max: value as u32,
            tnum: Tnum::constant(value),
        }
    }

    /// Every value in `[min, max]` (unsigned).
    pub fn unsigned_range(min: u64, max: u64) -> Scalar {
        Scalar {
            umin: min,
            umax: max,
            ..Scalar::TOP
        }
        .normalize()
        .unwrap_or(Scalar::TOP)
    }

    /// Every value in `[min, max]` (signed).
    pub fn signed_range(min: i64, max: i64) -> Scalar {
        Scalar {
            smin: min,
            smax: max,
            ..Scalar::TOP
        }
        .normalize()
        .unwrap_or(Scalar::TOP)
    }

    /// The value if exactly one is described.
    pub fn as_constant(&self) -> Option<u64> {
        if self.umin == self.umax {
            Some(self.umin)
        } else if self.smin == self.smax {
            Some(self.smin as u64)
        } else if self.tnum.is_constant() {
            Some(self.tnum.value)
        } else {
            None
        }
    }

    /// Whether `x` is described.
    pub fn contains(&self, x: u64) -> bool {
        (self.smin..=self.smax).contains(&(x as i64))
            && (self.umin..=self.umax).contains(&x)
            && (self.s32min..=self.s32max).contains(&(x as i32))
            && (self.u32min..=self.u32max).contains(&(x as u32))
            && self.tnum.contains(x)
    }

    /// The bounds at `bits` (32: the low half, as 32-bit instructions see it).
    pub fn view(&self, bits: u32) -> View {
        if bits == 32 {
            View {
                bits,
                smin: self.s32min as i64,
                smax: self.s32max as i64,
                umin: self.u32min as u64,
                umax: self.u32max as u64,
                tnum: self.tnum.truncate(32),
            }
        } else {
            View {
                bits: 64,
                smin: self.smin,
                smax: self.smax,
                umin: self.umin,
                umax: self.umax,
                tnum: self.tnum,
            }
        }
    }

    /// The value a view describes; a 32-bit view is zero-extended, as 32-bit results are.
    pub fn from_view(view: View) -> Scalar {
        let scalar = if view.bits == 32 {
            Scalar {
                smin: view.umin as i64,
                smax: view.umax as i64,
                umin: view.umin,
                umax: view.umax,
                s32min: view.smin as i32,
                s32max: view.smax as i32,
                u32min: view.umin as u32,
                u32max: view.umax as u32,
                tnum: view.tnum.truncate(32),
            }
        } else {
            Scalar {
                smin: view.smin,
                smax: view.smax,
                umin: view.umin,
                umax: view.umax,
                tnum: view.tnum,
                ..Scalar::TOP
            }
        };
        scalar.normalize().unwrap_or(Scalar::TOP)
    }

    /// Restricts the value to those whose `view.bits`-bit view satisfies `view`.
    pub fn meet_view(&self, view: View) -> Option<Scalar> {
        let constraint = if view.bits == 32 {
            Scalar {
                s32min: view.smin as i32,
                s32max: view.smax as i32,
                u32min: view.umin as u32,
                u32max: view.umax as u32,
                tnum: Tnum {
                    value: view.tnum.value & 0xffff_ffff,
                    mask: (view.tnum.mask & 0xffff_ffff) | 0xffff_ffff_0000_0000,
                },
                ..Scalar::TOP
            }
        } else {
            Scalar {
                smin: view.smin,
                smax: view.smax,
                umin: view.umin,
                umax: view.umax,
                tnum: view.tnum,
                ..Scalar::TOP
            }
        };
        self.meet(&constraint)
    }

    /// Tightens every field from the others; `None` when they contradict (no value).
    pub fn normalize(mut self) -> Option<Scalar> {
        for _ in 0..2 {
            // Known bits bound both unsigned views.
            self.umin = self.umin.max(self.tnum.min());
            self.umax = self.umax.min(self.tnum.max());
            let low = self.tnum.truncate(32);
            self.u32min = self.u32min.max(low.min() as u32);
            self.u32max = self.u32max.min(low.max() as u32);
            if self.umin > self.umax || self.u32min > self.u32max {
                return None;
            }

            // 64-bit signed and unsigned agree where the range does not cross a sign boundary.
            if (self.umin as i64) <= (self.umax as i64) {
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if self.smin > self.smax {
                return None;
            }
            if self.smin >= 0 || self.smax < 0 {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if self.umin > self.umax {
                return None;
            }

            // The low half is ordered like the whole when the high halves are equal.
            if self.umin >> 32 == self.umax >> 32 {
                self.u32min = self.u32min.max(self.umin as u32);
                self.u32max = self.u32max.min(self.umax as u32);
                if (self.umin as i32) <= (self.umax as i32) {
                    self.s32min = self.s32min.max(self.umin as i32);
                    self.s32max = self.s32max.min(self.umax as i32);
                }
            }
            if self.smin >> 32 == self.smax >> 32 {
                self.u32min = self.u32min.max(self.smin as u32);
                self.u32max = self.u32max.min(self.smax as u32);
                if (self.smin as i32) <= (self.smax as i32) {
                    self.s32min = self.s32min.max(self.smin as i32);
                    self.s32max = self.s32max.min(self.smax as i32);
                }
            }
            if self.u32min > self.u32max || self.s32min > self.s32max {
                return None;
            }

            // 32-bit signed and unsigned.
            if (self.u32min as i32) <= (self.u32max as i32) {
                self.s32min = self.s32min.max(self.u32min as i32);
                self.s32max = self.s32max.min(self.u32max as i32);
            }
            if self.s32min > self.s32max {
                return None;
            }
            if self.s32min >= 0 || self.s32max < 0 {
                self.u32min = self.u32min.max(self.s32min as u32);
                self.u32max = self.u32max.min(self.s32max as u32);
            }
            if self.u32min > self.u32max {
                return None;
            }

            // A known high half and the low-half bounds bound the whole.
            if self.umin >> 32 == self.umax >> 32 {
                let high = self.umin & 0xffff_ffff_0000_0000;
                self.umin = self.umin.max(high | self.u32min as u64);
                self.umax = self.umax.min(high | self.u32max as u64);
            }
            if self.smin >> 32 == self.smax >> 32 {
                let high = (self.smin as u64) & 0xffff_ffff_0000_0000;
                self.smin = self.smin.max((high | self.u32min as u64) as i64);
                self.smax = self.smax.min((high | self.u32max as u64) as i64);
            }
            if self.umin > self.umax || self.smin > self.smax {
                return None;
            }

            // Ranges back into known bits.
            self.tnum = self.tnum.intersect(Tnum::range(self.umin, self.umax))?;
            let low = Tnum::range(self.u32min as u64, self.u32max as u64);
            self.tnum = self.tnum.intersect(Tnum {
                value: low.value,
                mask: low.mask | 0xffff_ffff_0000_0000,
            })?;
        }
        Some(self)
    }

    /// The smallest value describing both.
    pub fn join(&self, other: &Scalar) -> Scalar {
        Scalar {
            smin: self.smin.min(other.smin),
            smax: self.smax.max(other.smax),
            umin: self.umin.min(other.umin),
            umax: self.umax.max(other.umax),
            s32min: self.s32min.min(other.s32min),
            s32max: self.s32max.max(other.s32max),
            u32min: self.u32min.min(other.u32min),
            u32max: self.u32max.max(other.u32max),
            tnum: self.tnum.union(other.tnum),
        }
        .normalize()
        .unwrap_or(Scalar::TOP)
    }

    /// The values described by both, or `None`.
    pub fn meet(&self, other: &Scalar) -> Option<Scalar> {
        Scalar {
            smin: self.smin.max(other.smin),
            smax: self.smax.min(other.smax),
            umin: self.umin.max(other.umin),
            umax: self.umax.min(other.umax),
            s32min: self.s32min.max(other.s32min),
            s32max: self.s32max.min(other.s32max),
            u32min: self.u32min.max(other.u32min),
            u32max: self.u32max.min(other.u32max),
            tnum: self.tnum.intersect(other.tnum)?,
        }
        .normalize()
    }

    /// Whether every value of `self` is described by `other` (field by field).
    pub fn is_subset_of(&self, other: &Scalar) -> bool {
        other.smin <= self.smin
            && self.smax <= other.smax
            && other.umin <= self.umin
            && self.umax <= other.umax
            && other.s32min <= self.s32min
            && self.s32max <= other.s32max
            && other.u32min <= self.u32min
            && self.u32max <= other.u32max
            && self.tnum.is_subset_of(other.tnum)
    }

    /// Widening: a bound that grew jumps to the next threshold (or the end of the range).
    /// The result is not normalised, so that it cannot shrink back and grow again forever.
    pub fn widen(&self, newer: &Scalar, thresholds: &Thresholds) -> Scalar {
        Scalar {
            smin: if newer.smin < self.smin {
                thresholds.below(newer.smin)
            } else {
                self.smin
            },
            smax: if newer.smax > self.smax {
                thresholds.above(newer.smax)
            } else {
                self.smax
            },
            umin: if newer.umin < self.umin {
                thresholds.below_unsigned(newer.umin)
            } else {
                self.umin
            },
            umax: if newer.umax > self.umax {
                thresholds.above_unsigned(newer.umax)
            } else {
                self.umax
            },
            s32min: if newer.s32min < self.s32min {
                thresholds.below(newer.s32min as i64).max(i32::MIN as i64) as i32
            } else {
                self.s32min
            },
            s32max: if newer.s32max > self.s32max {
                thresholds.above(newer.s32max as i64).min(i32::MAX as i64) as i32
            } else {
                self.s32max
            },
            u32min: if newer.u32min < self.u32min {
                thresholds.below_unsigned(newer.u32min as u64) as u32
            } else {
                self.u32min
            },
            u32max: if newer.u32max > self.u32max {
                thresholds
                    .above_unsigned(newer.u32max as u64)
                    .min(u32::MAX as u64) as u32
            } else {
                self.u32max
            },
            tnum: self.tnum.union(newer.tnum),
        }
    }

    /// `self OP other` at `width` (32-bit results zero-extended).
    pub fn alu(&self, width: Width, op: AluOp, other: &Scalar) -> Scalar {
        let bits = width.bits();
        Scalar::from_view(self.view(bits).alu(op, other.view(bits)))
    }

    /// `-self` at `width`.
    pub fn neg(&self, width: Width) -> Scalar {
        let bits = width.bits();
        Scalar::from_view(View::constant(bits, 0).alu(AluOp::Sub, self.view(bits)))
    }

    /// Byte-order conversion of the low `bits` bits (little-endian host).
    pub fn endian(&self, order: ByteOrder, bits: u8) -> Scalar {
        if let Some(c) = self.as_constant() {
            return Scalar::constant(concrete::endian(order, bits, c));
        }
        let bits = bits as u32;
        match order {
            ByteOrder::ToLe => {
                if bits >= 64 {
                    *self
                } else {
                    self.alu(Width::W64, AluOp::And, &Scalar::constant(umax_of(bits)))
                }
            }
            ByteOrder::ToBe | ByteOrder::Swap => {
                let t = self.tnum.truncate(bits);
                let swap = |x: u64| match bits {
                    16 => (x as u16).swap_bytes() as u64,
                    32 => (x as u32).swap_bytes() as u64,
                    _ => x.swap_bytes(),
                };
                Scalar {
                    tnum: Tnum {
                        value: swap(t.value),
                        mask: swap(t.mask),
                    },
                    ..Scalar::TOP
                }
                .normalize()
                .unwrap_or(Scalar::TOP)
            }
        }
    }

    /// `movsx`: the low `from_bits` sign-extended; the 32-bit form then zero-extends.
    pub fn sign_extend(&self, width: Width, from_bits: u8) -> Scalar {
        let b = from_bits as u32;
        let extended = self.sign_extend_to_64(b);
        match width {
            Width::W64 => extended,
            Width::W32 => Scalar::from_view(extended.view(32)),
        }
    }

    /// The low `bits` bits of the value, sign-extended to 64 bits.
    pub fn sign_extend_to_64(&self, bits: u32) -> Scalar {
        if bits >= 64 {
            return *self;
        }
        let half = 1i64 << (bits - 1);
        let mut result = Scalar::signed_range(-half, half - 1);
        if self.smin >= -half && self.smax < half {
            result.smin = self.smin;
            result.smax = self.smax;
        } else if bits == 32 {
            result.smin = self.s32min as i64;
            result.smax = self.s32max as i64;
        } else if self.umax <= umax_of(bits) {
            let (lo, hi) = (self.umin as i64, self.umax as i64);
            if hi < half {
                result.smin = lo;
                result.smax = hi;
            } else if lo >= half {
                result.smin = lo - (1i64 << bits);
                result.smax = hi - (1i64 << bits);
            }
        }
        result.tnum = self.tnum.sign_extend(bits);
        result
            .normalize()
            .unwrap_or(Scalar::signed_range(-half, half - 1))
    }

    /// Refines both operands assuming `self CMP other` holds at `width`.
    pub fn refine(&self, width: Width, cmp: Cmp, other: &Scalar) -> Option<(Scalar, Scalar)> {
        let bits = width.bits();
        let (a, b) = self.view(bits).refine(cmp, other.view(bits))?;
        Some((self.meet_view(a)?, other.meet_view(b)?))
    }

    /// Whether the comparison certainly holds (`Some(true)`), certainly fails (`Some(false)`).
    pub fn decide(&self, width: Width, cmp: Cmp, other: &Scalar) -> Option<bool> {
        match (
            self.refine(width, cmp, other).is_some(),
            self.refine(width, cmp.negate(), other).is_some(),
        ) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.as_constant() {
            return if (c as i64) < 0 && (c as i64) > -4096 {
                write!(f, "{}", c as i64)
            } else if c < 4096 {
                write!(f, "{c}")
            } else {
                write!(f, "{c:#x}")
            };
        }
        let fmt_u = |x: u64| {
            if x < 4096 {
                x.to_string()
            } else {
                format!("{x:#x}")
            }
        };
        let mut parts = Vec::new();
        let combined =
            self.smin >= 0 && self.smin as u64 == self.umin && self.smax as u64 == self.umax;
        if combined {
            parts.push(format!("[{}, {}]", fmt_u(self.umin), fmt_u(self.umax)));
        } else if self.smin != i64::MIN || self.smax != i64::MAX {
            parts.push(format!("s[{}, {}]", self.smin, self.smax));
        }
        if (self.umin != 0 || self.umax != u64::MAX) && !combined {
            parts.push(format!("u[{}, {}]", fmt_u(self.umin), fmt_u(self.umax)));
        }
        let s32_default = self.s32min == i32::MIN && self.s32max == i32::MAX;
        let u32_default = self.u32min == 0 && self.u32max == u32::MAX;
        let sub_implied = self.umax <= u32::MAX as u64;
        if !sub_implied && !s32_default {
            parts.push(format!("s32[{}, {}]", self.s32min, self.s32max));
        }
        if !sub_implied && !u32_default {
            parts.push(format!("u32[{}, {}]", self.u32min, self.u32max));
        }
        if self.tnum.mask != u64::MAX && !self.tnum.is_constant() {
            let range_t = Tnum::range(self.umin, self.umax);
            if self.tnum != range_t {
                parts.push(format!(
                    "bits({:#x}/{:#x})",
                    self.tnum.value, self.tnum.mask
                ));
            }
        }
        if parts.is_empty() {
            write!(f, "any")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// Widening thresholds: constants of the program (and region sizes), sorted, with the ends
/// of the ranges. A growing bound stops at the next one before giving up.
#[derive(Clone, Debug, Default)]
pub struct Thresholds {
    signed: Vec<i64>,
    unsigned: Vec<u64>,
}

impl Thresholds {
    /// Thresholds from these constants (each also contributes its neighbours).
    pub fn new(constants: impl IntoIterator<Item = i64>) -> Thresholds {
        let mut signed: Vec<i64> = Vec::new();
        for c in constants {
            signed.extend([c.saturating_sub(1), c, c.saturating_add(1)]);
        }
        signed.extend([0, -1, 1, i64::MIN, i64::MAX]);
        signed.sort_unstable();
        signed.dedup();
        let mut unsigned: Vec<u64> = signed.iter().map(|&c| c as u64).collect();
        unsigned.extend([u32::MAX as u64, u64::MAX]);
        unsigned.sort_unstable();
        unsigned.dedup();
        Thresholds { signed, unsigned }
    }

    /// The largest threshold at or below `x`.
    pub fn below(&self, x: i64) -> i64 {
        let i = self.signed.partition_point(|&t| t <= x);
        if i == 0 { i64::MIN } else { self.signed[i - 1] }
    }

    /// The smallest threshold at or above `x`.
    pub fn above(&self, x: i64) -> i64 {
        let i = self.signed.partition_point(|&t| t < x);
        self.signed.get(i).copied().unwrap_or(i64::MAX)
    }

    /// The largest unsigned threshold at or below `x`.
    pub fn below_unsigned(&self, x: u64) -> u64 {
        let i = self.unsigned.partition_point(|&t| t <= x);
        if i == 0 { 0 } else { self.unsigned[i - 1] }
    }

    /// The smallest unsigned threshold at or above `x`.
    pub fn above_unsigned(&self, x: u64) -> u64 {
        let i = self.unsigned.partition_point(|&t| t < x);
        self.unsigned.get(i).copied().unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An abstract value built from a few concrete ones and some bit masking, with one of its
    /// members to test against.
    fn scalar_with_member() -> impl Strategy<Value = (Scalar, u64)> {
        (
            prop::collection::vec(interesting(), 1..4),
            0usize..4,
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(values, pick, mask)| {
                let mut s = Scalar::constant(values[0]);
                for v in &values[1..] {
                    s = s.join(&Scalar::constant(*v));
                }
                let member = values[pick % values.len()];
                match mask {
                    Some(m) => (
                        s.alu(Width::W64, AluOp::And, &Scalar::constant(m)),
                        member & m,
                    ),
                    None => (s, member),
                }
            })
    }

    fn interesting() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            0u64..300,
            (0u64..300).prop_map(|x| x.wrapping_neg()),
            (0u64..300).prop_map(|x| (i64::MAX as u64).wrapping_add(x).wrapping_sub(150)),
            (0u64..300).prop_map(|x| 0xffff_ffffu64.wrapping_add(x).wrapping_sub(150)),
            (0u64..300).prop_map(|x| 0x7fff_ffffu64.wrapping_add(x).wrapping_sub(150)),
        ]
    }

    fn width() -> impl Strategy<Value = Width> {
        prop_oneof![Just(Width::W32), Just(Width::W64)]
    }

    fn cmp() -> impl Strategy<Value = Cmp> {
        prop::sample::select(vec![
            Cmp::Eq,
            Cmp::Ne,
            Cmp::Gt,
            Cmp::Ge,
            Cmp::Lt,
            Cmp::Le,
            Cmp::Sgt,
            Cmp::Sge,
            Cmp::Slt,
            Cmp::Sle,
            Cmp::Set,
            Cmp::NotSet,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn alu_is_sound((a, x) in scalar_with_member(), (b, y) in scalar_with_member(),
                        op in prop::sample::select(AluOp::ALL.to_vec()), w in width()) {
            prop_assert!(a.contains(x) && b.contains(y));
            let r = a.alu(w, op, &b);
            let z = concrete::alu(w, op, x, y);
            prop_assert!(r.contains(z), "{a} {op:?} {b} at {w:?} = {r}, misses {x:#x} op {y:#x} = {z:#x}");
        }

        #[test]
        fn unary_operations_are_sound((a, x) in scalar_with_member(), w in width(),
                                      bits in prop::sample::select(vec![8u8, 16, 32]),
                                      ebits in prop::sample::select(vec![16u8, 32, 64])) {
            prop_assert!(a.neg(w).contains(concrete::neg(w, x)));
            for order in [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap] {
                prop_assert!(a.endian(order, ebits).contains(concrete::endian(order, ebits, x)));
            }
            if w == Width::W64 || bits < 32 {
                let r = a.sign_extend(w, bits);
                prop_assert!(r.contains(concrete::movsx(w, bits, x)), "{a} movsx{bits} = {r}");
            }
        }

        #[test]
        fn refinement_keeps_satisfying_values((a, x) in scalar_with_member(),
                                              (b, y) in scalar_with_member(),
                                              c in cmp(), w in width()) {
            let holds = c.holds(w.bits(), x, y);
            match a.refine(w, c, &b) {
                Some((ra, rb)) => if holds {
                    prop_assert!(ra.contains(x) && rb.contains(y),
                        "{a} {c:?} {b} refined to {ra}, {rb} misses {x:#x}, {y:#x}");
                },
                None => prop_assert!(!holds, "{a} {c:?} {b} judged impossible for {x:#x}, {y:#x}"),
            }
        }

        #[test]
        fn join_contains_both((a, x) in scalar_with_member(), (b, y) in scalar_with_member()) {
            let j = a.join(&b);
            prop_assert!(j.contains(x) && j.contains(y));
            prop_assert!(a.is_subset_of(&j) || a.normalize().is_some());
            let t = Thresholds::new([10, 100]);
            let widened = a.widen(&j, &t);
            prop_assert!(widened.contains(x) && widened.contains(y));
        }

        #[test]
        fn meet_keeps_common_values((a, x) in scalar_with_member(), lo in any::<u64>()) {
            let range = Scalar::unsigned_range(lo.min(x), x.max(lo));
            let m = a.meet(&range).expect("x is in both");
            prop_assert!(m.contains(x));
        }
    }

    #[test]
    fn masks_and_comparisons_give_tight_bounds() {
        let byte = Scalar::TOP.alu(Width::W64, AluOp::And, &Scalar::constant(0xff));
        assert_eq!(
            (byte.umin, byte.umax, byte.smin, byte.smax),
            (0, 255, 0, 255)
        );
        let (lt10, _) = Scalar::TOP
            .refine(Width::W64, Cmp::Lt, &Scalar::constant(10))
            .unwrap();
        assert_eq!((lt10.umin, lt10.umax, lt10.smin, lt10.smax), (0, 9, 0, 9));
        let shifted = lt10.alu(Width::W64, AluOp::Lsh, &Scalar::constant(3));
        assert_eq!((shifted.umin, shifted.umax), (0, 72));
        assert_eq!(shifted.tnum.value & 7, 0);
        // 32-bit comparison of a value known to be below 2^32 bounds the whole register.
        let low = Scalar::unsigned_range(0, u32::MAX as u64);
        let (r, _) = low
            .refine(Width::W32, Cmp::Le, &Scalar::constant(100))
            .unwrap();
        assert_eq!(r.umax, 100);
        assert!(
            Scalar::constant(5)
                .refine(Width::W64, Cmp::Gt, &Scalar::constant(5))
                .is_none()
        );
    }

    #[test]
    fn thresholds_bracket_values() {
        let t = Thresholds::new([16, 1000]);
        assert_eq!(t.above(12), 15);
        assert_eq!(t.above(1001), 1001);
        assert_eq!(t.above(1002), i64::MAX);
        assert_eq!(t.below(-5), i64::MIN);
    }
}
