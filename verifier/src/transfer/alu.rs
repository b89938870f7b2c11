//! Arithmetic: numbers through the scalar domain, pointers by offset, and the zone relations
//! that additions by constants or registers preserve.

use crate::prelude::*;

use super::{Flow, Machine, Outcome, maybe_null};
use crate::checks::{Check, Violation};
use crate::domain::interval::Scalar;
use crate::domain::state::State;
use crate::domain::types::{Region, Value, ValueType};
use crate::domain::zone::INF;
use xbpf_isa::{AluOp, ByteOrder, Reg, Source, Width};

fn arithmetic(message: String, regs: &[u8]) -> Violation {
    Violation::new(Check::PointerArithmetic, message, regs)
}

/// Whether `x + c` cannot overflow (signed) for every x in the scalar's signed range.
fn shift_is_exact(scalar: &Scalar, c: i64) -> bool {
    let lo = scalar.smin as i128 + c as i128;
    let hi = scalar.smax as i128 + c as i128;
    lo >= i64::MIN as i128 && hi <= i64::MAX as i128
}

impl Machine<'_> {
    fn source(&self, state: &State, src: Source) -> Outcome<(Value, Option<usize>)> {
        match src {
            Source::Imm(imm) => Ok((Value::constant(imm as i64 as u64), None)),
            Source::Reg(reg) => {
                let value = self.read(state, reg)?;
                let var = (reg != Reg::R10).then_some(reg.index());
                Ok((value, var))
            }
        }
    }

    pub(super) fn alu(
        &self,
        state: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Source,
    ) -> Outcome<Flow> {
        let d = dst.index();
        let (b, b_var) = self.source(state, src)?;
        let src_name = match src {
            Source::Reg(r) => format!("r{}", r.number()),
            Source::Imm(imm) => imm.to_string(),
        };
        let src_regs: Vec<u8> = match src {
            Source::Reg(r) => vec![dst.number(), r.number()],
            Source::Imm(_) => vec![dst.number()],
        };

        if op == AluOp::Mov {
            return self.mov(state, width, d, b, b_var, &src_name, &src_regs);
        }
        let a = self.read(state, dst)?;

        if self.config.check_division_by_zero
            && matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod)
            && b.is_number()
            && b.scalar.view(width.bits()).umin == 0
        {
            return Err(Violation::new(
                Check::DivisionByZero,
                format!("the divisor {src_name} = {b} may be zero"),
                &src_regs,
            ));
        }

        match (a.ty, b.ty) {
            (ValueType::Number, ValueType::Number) => {
                let result = a.scalar.alu(width, op, &b.scalar);
                self.assign_arithmetic(state, width, op, d, &a, &b, b_var, result);
                state.regs[d] = Value::number(result);
                Ok(Flow::Next)
            }
            (ValueType::Pointer(region, _), ValueType::Number) => {
                if width == Width::W32 || !matches!(op, AluOp::Add | AluOp::Sub) {
                    return Err(arithmetic(
                        format!(
                            "{}{} on r{} = {a}: only 64-bit addition and subtraction of numbers is allowed on pointers",
                            op.mnemonic(),
                            if width == Width::W32 { "32" } else { "" },
                            dst.number()
                        ),
                        &src_regs,
                    ));
                }
                self.check_movable(&a, dst.number())?;
                let offset = a.scalar.alu(Width::W64, op, &b.scalar);
                self.assign_arithmetic(state, width, op, d, &a, &b, b_var, offset);
                state.regs[d] = Value {
                    id: 0,
                    ty: ValueType::Pointer(region, super::Nullness::NonNull),
                    scalar: offset,
                };
                Ok(Flow::Next)
            }
            (ValueType::Number, ValueType::Pointer(region, _)) => {
                if width == Width::W32 || op != AluOp::Add {
                    return Err(arithmetic(
                        format!(
                            "{}{} r{}, {src_name} = {b}: a pointer can only be added (64-bit) to a number",
                            op.mnemonic(),
                            if width == Width::W32 { "32" } else { "" },
                            dst.number()
                        ),
                        &src_regs,
                    ));
                }
                self.check_movable(&b, src_regs[1])?;
                let offset = a.scalar.alu(Width::W64, AluOp::Add, &b.scalar);
                // new = old_dst + v_src: the relation with src is the old value of dst.
                let old = (a.scalar.smin, a.scalar.smax);
                state.set(
                    d,
                    Value {
                        id: 0,
                        ty: ValueType::Pointer(region, super::Nullness::NonNull),
                        scalar: offset,
                    },
                );
                if let Some(s) = b_var
                    && old.0 != i64::MIN
                    && old.1 != i64::MAX
                    && shift_is_exact(&b.scalar, old.1)
                    && shift_is_exact(&b.scalar, old.0)
                {
                    state.zone.add(d, s, old.1);
                    state.zone.add(s, d, old.0.saturating_neg());
                }
                Ok(Flow::Next)
            }
            (ValueType::Pointer(ra, _), ValueType::Pointer(rb, _)) => {
                if op != AluOp::Sub {
                    return Err(arithmetic(
                        format!(
                            "{} of two pointers (r{} = {a}, {src_name} = {b})",
                            op.mnemonic(),
                            dst.number()
                        ),
                        &src_regs,
                    ));
                }
                if ra.family() != rb.family()
                    || maybe_null(&a).is_some()
                    || maybe_null(&b).is_some()
                {
                    return Err(Violation::new(
                        Check::PointerSubtraction,
                        format!(
                            "r{} = {a} minus {src_name} = {b}: pointers can only be subtracted within one region",
                            dst.number()
                        ),
                        &src_regs,
                    ));
                }
                // Only a region with one base address per run (the context, a stack frame,
                // the packet) makes the difference a difference of offsets: two map values,
                // buffers or map objects may lie anywhere relative to each other.
                if !matches!(ra.family(), Region::Ctx | Region::Stack(_) | Region::Packet) {
                    state.set(d, Value::NUMBER);
                    if width == Width::W32 {
                        state.regs[d].scalar = Scalar::from_view(Scalar::TOP.view(32));
                    }
                    return Ok(Flow::Next);
                }
                let mut difference = a.scalar.alu(Width::W64, AluOp::Sub, &b.scalar);
                if let Some(s) = b_var {
                    let hi = state.difference_bound(d, s);
                    let lo = state.difference_bound(s, d);
                    if hi != INF && lo != INF {
                        let zone_range = Scalar::signed_range(lo.saturating_neg(), hi);
                        difference = difference.meet(&zone_range).unwrap_or(difference);
                    }
                }
                if width == Width::W32 {
                    // The regions' base cancels out of the low 32 bits too (Linux allows the
                    // 32-bit form and gives an unknown number; the offsets say more).
                    state.zone.forget(d);
                    state.regs[d] = Value::number(Scalar::from_view(difference.view(32)));
                    return Ok(Flow::Next);
                }
                match b.scalar.as_constant() {
                    Some(c) if shift_is_exact(&a.scalar, (c as i64).wrapping_neg()) => {
                        state.zone.shift(d, (c as i64).wrapping_neg());
                    }
                    _ => state.zone.forget(d),
                }
                state.regs[d] = Value::number(difference);
                Ok(Flow::Next)
            }
            (ValueType::Pointer(..), _) => Err(arithmetic(
                format!(
                    "{} r{} = {a}, {src_name} = {b}: only numbers can be added to pointers",
                    op.mnemonic(),
                    dst.number()
                ),
                &src_regs,
            )),
            _ => {
                // A value that may be a pointer on some paths: the result is unknown but stays
                // initialised; using it as a pointer later fails its own check.
                state.set(d, Value::ANY);
                Ok(Flow::Next)
            }
        }
    }

    /// Arithmetic on a pointer needs a non-null pointer into a region that has offsets.
    fn check_movable(&self, pointer: &Value, reg: u8) -> Outcome<()> {
        if maybe_null(pointer).is_some() {
            return Err(arithmetic(
                format!("arithmetic on r{reg} = {pointer}, which may be null: check it first"),
                &[reg],
            ));
        }
        match pointer.region() {
            Some(Region::Map(_)) | Some(Region::PacketEnd) => Err(arithmetic(
                format!("arithmetic on r{reg} = {pointer} is not allowed"),
                &[reg],
            )),
            _ => Ok(()),
        }
    }

    /// Updates the zone for `dst := dst OP src` with `result` as the new scalar.
    #[allow(clippy::too_many_arguments)]
    fn assign_arithmetic(
        &self,
        state: &mut State,
        width: Width,
        op: AluOp,
        d: usize,
        a: &Value,
        b: &Value,
        b_var: Option<usize>,
        result: Scalar,
    ) {
        let exact_64 = width == Width::W64 && matches!(op, AluOp::Add | AluOp::Sub);
        if !exact_64 {
            // A 32-bit result equal to its input (the value already fitted) keeps relations.
            if width == Width::W32
                && matches!(op, AluOp::Add | AluOp::Sub | AluOp::Or | AluOp::Xor)
                && b.scalar.as_constant() == Some(0)
                && a.scalar.umax <= u32::MAX as u64
            {
                return;
            }
            state.zone.forget(d);
            return;
        }
        let _ = result;
        if let Some(c) = b.scalar.as_constant() {
            let c = if op == AluOp::Sub {
                (c as i64).wrapping_neg()
            } else {
                c as i64
            };
            if shift_is_exact(&a.scalar, c) && !(op == AluOp::Sub && c == i64::MIN) {
                state.zone.shift(d, c);
                return;
            }
            state.zone.forget(d);
            return;
        }
        // dst := dst + src: afterwards dst - src is the old dst.
        if op == AluOp::Add
            && let Some(s) = b_var
            && s != d
        {
            let (lo, hi) = (a.scalar.smin, a.scalar.smax);
            let no_overflow = (a.scalar.smin as i128 + b.scalar.smin as i128) >= i64::MIN as i128
                && (a.scalar.smax as i128 + b.scalar.smax as i128) <= i64::MAX as i128;
            state.zone.forget(d);
            if no_overflow && lo != i64::MIN && hi != i64::MAX {
                state.zone.add(d, s, hi);
                state.zone.add(s, d, lo.saturating_neg());
            }
            return;
        }
        state.zone.forget(d);
    }

    #[allow(clippy::too_many_arguments)]
    fn mov(
        &self,
        state: &mut State,
        width: Width,
        d: usize,
        b: Value,
        b_var: Option<usize>,
        src_name: &str,
        regs: &[u8],
    ) -> Outcome<Flow> {
        match width {
            Width::W64 => {
                match b_var {
                    Some(s) => state.copy(d, s),
                    None => state.set(d, b),
                }
                Ok(Flow::Next)
            }
            Width::W32 => match b.ty {
                ValueType::Number => {
                    let fits = b.scalar.umax <= u32::MAX as u64;
                    match (fits, b_var) {
                        (true, Some(s)) => state.copy(d, s),
                        _ => state.set(d, Value::number(Scalar::from_view(b.scalar.view(32)))),
                    }
                    Ok(Flow::Next)
                }
                ValueType::Any => {
                    state.set(d, Value::ANY);
                    Ok(Flow::Next)
                }
                _ => Err(arithmetic(
                    format!("mov32 of {src_name} = {b} truncates a pointer"),
                    regs,
                )),
            },
        }
    }

    pub(super) fn neg(&self, state: &mut State, width: Width, dst: Reg) -> Outcome<Flow> {
        let a = self.read(state, dst)?;
        match a.ty {
            ValueType::Number => state.set(dst.index(), Value::number(a.scalar.neg(width))),
            ValueType::Pointer(..) => {
                return Err(arithmetic(
                    format!("neg of r{} = {a}", dst.number()),
                    &[dst.number()],
                ));
            }
            _ => state.set(dst.index(), Value::ANY),
        }
        Ok(Flow::Next)
    }

    pub(super) fn movsx(
        &self,
        state: &mut State,
        width: Width,
        dst: Reg,
        src: Reg,
        from_bits: u8,
    ) -> Outcome<Flow> {
        let b = self.read(state, src)?;
        match b.ty {
            ValueType::Number => {
                let result = b.scalar.sign_extend(width, from_bits);
                let unchanged = width == Width::W64
                    && from_bits < 64
                    && b.scalar.smin >= 0
                    && (b.scalar.smax as u64) < (1u64 << (from_bits - 1));
                if unchanged && src != Reg::R10 {
                    state.copy(dst.index(), src.index());
                } else {
                    state.set(dst.index(), Value::number(result));
                }
            }
            ValueType::Pointer(..) => {
                return Err(arithmetic(
                    format!("movsx of r{} = {b}", src.number()),
                    &[src.number()],
                ));
            }
            _ => state.set(dst.index(), Value::ANY),
        }
        Ok(Flow::Next)
    }

    pub(super) fn endian(
        &self,
        state: &mut State,
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    ) -> Outcome<Flow> {
        let a = self.read(state, dst)?;
        match a.ty {
            ValueType::Number => {
                let identity =
                    order == ByteOrder::ToLe && (bits == 64 || a.scalar.umax < (1u64 << bits));
                if !identity {
                    state.set(dst.index(), Value::number(a.scalar.endian(order, bits)));
                }
            }
            ValueType::Pointer(..) => {
                return Err(arithmetic(
                    format!("byte swap of r{} = {a}", dst.number()),
                    &[dst.number()],
                ));
            }
            _ => state.set(dst.index(), Value::ANY),
        }
        Ok(Flow::Next)
    }
}
