//! Conditional jumps: each successor gets the state refined by the condition (or its
//! negation): scalar bounds, zone relations between the operands, null checks, and packet
//! bounds when pointers are compared.

use crate::prelude::*;

use super::{Machine, Outcome, maybe_null};
use crate::checks::{Check, Violation};
use crate::domain::interval::{Cmp, Scalar};
use crate::domain::state::{NREGS, State};
use crate::domain::types::{Nullness, Region, Value, ValueType};
use xbpf_isa::{JmpCond, Reg, Source, Width};

/// The states on the two edges of a conditional jump (`None`: the edge is infeasible).
pub struct Branches {
    /// The state when the jump is taken.
    pub taken: Option<State>,
    /// The state when it is not.
    pub fall_through: Option<State>,
}

fn cmp_of(cond: JmpCond) -> Cmp {
    match cond {
        JmpCond::Eq => Cmp::Eq,
        JmpCond::Ne => Cmp::Ne,
        JmpCond::Gt => Cmp::Gt,
        JmpCond::Ge => Cmp::Ge,
        JmpCond::Lt => Cmp::Lt,
        JmpCond::Le => Cmp::Le,
        JmpCond::Sgt => Cmp::Sgt,
        JmpCond::Sge => Cmp::Sge,
        JmpCond::Slt => Cmp::Slt,
        JmpCond::Sle => Cmp::Sle,
        JmpCond::Set => Cmp::Set,
    }
}

/// The signed comparison equivalent to `cmp` when both operands lie in the same half of the
/// unsigned range (then signed and unsigned orders agree).
fn as_signed(cmp: Cmp) -> Cmp {
    match cmp {
        Cmp::Gt => Cmp::Sgt,
        Cmp::Ge => Cmp::Sge,
        Cmp::Lt => Cmp::Slt,
        Cmp::Le => Cmp::Sle,
        other => other,
    }
}

/// Offsets small enough that addresses `base + offset` cannot wrap, so pointer order is offset
/// order.
fn small_offset(scalar: &Scalar) -> bool {
    scalar.smin >= -(1 << 16) && scalar.smax < (1 << 31)
}

/// An operand of the comparison: its value and its zone variable.
#[derive(Clone, Copy)]
struct Operand {
    value: Value,
    var: Option<usize>,
}

impl Machine<'_> {
    /// The two successor states of `if dst COND src`.
    pub fn branch(
        &self,
        state: &State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> Outcome<Branches> {
        let a = Operand {
            value: self.read(state, dst)?,
            var: (dst != Reg::R10).then_some(dst.index()),
        };
        let b = match src {
            Source::Imm(imm) => Operand {
                value: Value::constant(imm as i64 as u64),
                var: None,
            },
            Source::Reg(reg) => Operand {
                value: self.read(state, reg)?,
                var: (reg != Reg::R10).then_some(reg.index()),
            },
        };
        let cmp = cmp_of(cond);
        let regs: Vec<u8> = match src {
            Source::Reg(r) => vec![dst.number(), r.number()],
            Source::Imm(_) => vec![dst.number()],
        };
        let src_name = match src {
            Source::Reg(r) => format!("r{}", r.number()),
            Source::Imm(imm) => imm.to_string(),
        };
        let refine = |c: Cmp| -> Outcome<Option<State>> {
            let mut s = state.clone();
            Ok(self
                .assume(&mut s, width, c, a, b, &regs, dst, &src_name)?
                .then_some(s))
        };
        Ok(Branches {
            taken: refine(cmp)?,
            fall_through: refine(cmp.negate())?,
        })
    }

    /// Refines `state` assuming `a CMP b`; false when the assumption is impossible.
    #[allow(clippy::too_many_arguments)]
    fn assume(
        &self,
        state: &mut State,
        width: Width,
        cmp: Cmp,
        a: Operand,
        b: Operand,
        regs: &[u8],
        dst: Reg,
        src_name: &str,
    ) -> Outcome<bool> {
        let comparison_error = |why: &str| {
            Violation::new(
                Check::PointerComparison,
                format!(
                    "{} r{} = {}, {src_name} = {}: {why}",
                    cmp_mnemonic(cmp, width),
                    dst.number(),
                    a.value,
                    b.value
                ),
                regs,
            )
        };
        match (a.value.ty, b.value.ty) {
            (ValueType::Number, ValueType::Number) => {
                Ok(self.assume_numbers(state, width, cmp, a, b))
            }
            (ValueType::Pointer(..), ValueType::Number)
            | (ValueType::Number, ValueType::Pointer(..)) => {
                let (pointer, number, cmp) = if a.value.is_number() {
                    (b, a, cmp.swap())
                } else {
                    (a, b, cmp)
                };
                if !number.value.is_zero() {
                    return Err(comparison_error("a pointer can only be compared with 0"));
                }
                if width == Width::W32 {
                    return Err(comparison_error(
                        "a 32-bit comparison truncates the pointer",
                    ));
                }
                // Only equality with null says something about a pointer and 0.
                let null = match cmp {
                    Cmp::Eq | Cmp::Le | Cmp::Sle => true,
                    Cmp::Ne | Cmp::Gt => false,
                    _ => {
                        return Err(comparison_error(
                            "only (in)equality with 0 is meaningful for a pointer",
                        ));
                    }
                };
                match maybe_null(&pointer.value) {
                    Some(id) => {
                        if let Some(var) = pointer.var {
                            state.refine_null_reg(var, null);
                        }
                        state.refine_null_id(id, null);
                        Ok(true)
                    }
                    None => Ok(!null),
                }
            }
            (
                ValueType::Pointer(Region::Map(_), Nullness::NonNull),
                ValueType::Pointer(Region::Map(_), Nullness::NonNull),
            ) if matches!(cmp, Cmp::Eq | Cmp::Ne) => {
                // Which map an inner-map lookup returned (`if (inner != &expected)`): either
                // answer is possible as far as the verifier knows; no access depends on it.
                Ok(true)
            }
            (ValueType::Pointer(ra, na), ValueType::Pointer(rb, nb)) => {
                if ra.family() != rb.family() {
                    return Err(comparison_error(
                        "the pointers point into different regions",
                    ));
                }
                if matches!(na, Nullness::MaybeNull(_)) || matches!(nb, Nullness::MaybeNull(_)) {
                    return Err(comparison_error(
                        "a pointer that may be null is compared with another pointer",
                    ));
                }
                if width == Width::W32 {
                    return Err(comparison_error(
                        "a 32-bit comparison truncates the pointers",
                    ));
                }
                // Offsets order addresses only within a region with one base per run: two
                // map values (or buffers) may lie anywhere relative to each other.
                if !matches!(ra.family(), Region::Ctx | Region::Stack(_) | Region::Packet) {
                    return Ok(true);
                }
                Ok(self.assume_offsets(state, cmp, a, b))
            }
            // A value that may or may not be a pointer: nothing is learnt.
            _ => Ok(true),
        }
    }

    fn assume_numbers(
        &self,
        state: &mut State,
        width: Width,
        cmp: Cmp,
        a: Operand,
        b: Operand,
    ) -> bool {
        let Some((ra, rb)) = a.value.scalar.refine(width, cmp, &b.value.scalar) else {
            return false;
        };
        if !set_scalar(state, a.var, ra) || !set_scalar(state, b.var, rb) {
            return false;
        }
        // Relations between the operands, where the comparison is one of signed 64-bit order.
        let fits_low = |s: &Scalar| s.umax <= i32::MAX as u64;
        let relational = match width {
            Width::W64 => {
                let same_half = (ra.smin >= 0 && rb.smin >= 0) || (ra.smax < 0 && rb.smax < 0);
                match cmp {
                    Cmp::Sgt | Cmp::Sge | Cmp::Slt | Cmp::Sle | Cmp::Eq => Some(cmp),
                    Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le if same_half => Some(as_signed(cmp)),
                    _ => None,
                }
            }
            Width::W32 if fits_low(&ra) && fits_low(&rb) => match cmp {
                Cmp::Eq => Some(Cmp::Eq),
                Cmp::Ne | Cmp::Set | Cmp::NotSet => None,
                other => Some(as_signed(other)),
            },
            Width::W32 => None,
        };
        if let (Some(c), Some(x), Some(y)) = (relational, a.var, b.var)
            && !relate(state, x, y, c)
        {
            return false;
        }
        if !state.propagate() {
            return false;
        }
        share_with_copies(state, a.var);
        share_with_copies(state, b.var);
        // Bounds learnt on any register (directly or through the zone) hold for the spilled
        // copies of its value.
        for var in 0..NREGS {
            let value = state.regs[var];
            if value.is_number() && !state.refine_scalar_id(value.id, &value.scalar) {
                return false;
            }
        }
        true
    }

    fn assume_offsets(&self, state: &mut State, cmp: Cmp, a: Operand, b: Operand) -> bool {
        let comparable = small_offset(&a.value.scalar) && small_offset(&b.value.scalar);
        let signed = match cmp {
            Cmp::Eq | Cmp::Ne => cmp,
            Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le if comparable => as_signed(cmp),
            // Signed order of addresses, or offsets that might wrap: nothing is learnt.
            _ => return true,
        };
        let Some((ra, rb)) = a.value.scalar.refine(Width::W64, signed, &b.value.scalar) else {
            return false;
        };
        if !set_scalar(state, a.var, ra) || !set_scalar(state, b.var, rb) {
            return false;
        }
        if let (Some(x), Some(y)) = (a.var, b.var)
            && !relate(state, x, y, signed)
        {
            return false;
        }
        state.propagate()
    }
}

/// Replaces an operand's scalar (numbers and pointer offsets alike).
fn set_scalar(state: &mut State, var: Option<usize>, scalar: Scalar) -> bool {
    if let Some(v) = var
        && state.regs[v].is_numeric()
    {
        state.regs[v].scalar = scalar;
    }
    true
}

/// Adds the zone constraint for a signed comparison (or equality) of two variables.
fn relate(state: &mut State, x: usize, y: usize, cmp: Cmp) -> bool {
    if x == y {
        return !matches!(cmp, Cmp::Sgt | Cmp::Slt);
    }
    match cmp {
        Cmp::Sgt => state.zone.add(y, x, -1),
        Cmp::Sge => state.zone.add(y, x, 0),
        Cmp::Slt => state.zone.add(x, y, -1),
        Cmp::Sle => state.zone.add(x, y, 0),
        Cmp::Eq => state.zone.add(x, y, 0) && state.zone.add(y, x, 0),
        _ => true,
    }
}

/// Registers equal to `var` (by the zone) receive its refined scalar, 32-bit facts included.
fn share_with_copies(state: &mut State, var: Option<usize>) {
    let Some(v) = var else { return };
    if !state.regs[v].is_number() {
        return;
    }
    let scalar = state.regs[v].scalar;
    for k in 0..NREGS {
        if k != v
            && state.regs[k].is_number()
            && state.zone.bound(k, v) == 0
            && state.zone.bound(v, k) == 0
            && let Some(met) = state.regs[k].scalar.meet(&scalar)
        {
            state.regs[k].scalar = met;
        }
    }
}

fn cmp_mnemonic(cmp: Cmp, width: Width) -> String {
    let name = match cmp {
        Cmp::Eq => "jeq",
        Cmp::Ne => "jne",
        Cmp::Gt => "jgt",
        Cmp::Ge => "jge",
        Cmp::Lt => "jlt",
        Cmp::Le => "jle",
        Cmp::Sgt => "jsgt",
        Cmp::Sge => "jsge",
        Cmp::Slt => "jslt",
        Cmp::Sle => "jsle",
        Cmp::Set => "jset",
        Cmp::NotSet => "not jset",
    };
    match width {
        Width::W32 => format!("{name}32"),
        Width::W64 => name.to_string(),
    }
}
