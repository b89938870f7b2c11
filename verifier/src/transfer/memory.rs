//! Memory accesses: bounds per region, context permissions, stack spills and fills, atomics
//! and legacy packet loads.

use crate::prelude::*;

use super::{Flow, Machine, Outcome, loaded_number};
use crate::checks::{Check, Violation};
use crate::domain::interval::Scalar;
use crate::domain::stack::{FRAME_BYTES, StackRead, truncate};
use crate::domain::state::State;
use crate::domain::types::{Nullness, Region, Value, ValueType};
use crate::domain::zone::{INF, VAR_PACKET_END, VAR_PACKET_META};
use crate::program_type::FieldKind;
use xbpf_isa::{AluOp, AtomicOp, MemSize, PacketMode, Reg, Source, Width};

/// Whether an access reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// A checked access: the region and the byte range every possible address falls in
/// (`[lo, hi)`, relative to the region; for the stack, to the frame's r10).
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub region: Region,
    pub lo: i64,
    pub hi: i64,
    /// The offset when it is known exactly.
    pub fixed: Option<i64>,
}

fn oob(message: String, regs: &[u8]) -> Violation {
    Violation::new(Check::OutOfBounds, message, regs)
}

impl Machine<'_> {
    /// Checks that `[base + off, base + off + size)` is inside the region `base` points to,
    /// for every possible base and every size in `[size_lo, size_hi]`.
    #[allow(clippy::too_many_arguments)]
    pub fn check_access(
        &self,
        state: &State,
        reg: Reg,
        base: &Value,
        off: i64,
        size_hi: u64,
        mode: Mode,
        what: &str,
    ) -> Outcome<Access> {
        let r = reg.number();
        let (region, nullness) = match base.ty {
            ValueType::Pointer(region, nullness) => (region, nullness),
            ValueType::Uninit => {
                return Err(Violation::new(
                    Check::UninitializedRegister,
                    format!("r{r} is read before it is written"),
                    &[r],
                ));
            }
            _ => {
                return Err(Violation::new(
                    Check::NotAPointer,
                    format!("{what} through r{r} = {base}, which is not a pointer"),
                    &[r],
                ));
            }
        };
        if let Nullness::MaybeNull(_) = nullness {
            return Err(Violation::new(
                Check::MaybeNull,
                format!("{what} through r{r} = {base}, which may be null: compare it with 0 first"),
                &[r],
            ));
        }
        let lo = base.scalar.smin as i128 + off as i128;
        let hi = base.scalar.smax as i128 + off as i128 + size_hi as i128;
        let fixed = base
            .scalar
            .as_constant()
            .map(|c| (c as i64).wrapping_add(off));
        let describe_range = |lo: i128, hi: i128| {
            if lo == hi - size_hi as i128 {
                format!("{size_hi} bytes at offset {lo}")
            } else {
                format!(
                    "{size_hi} bytes at offsets [{lo}, {}]",
                    hi - size_hi as i128
                )
            }
        };
        let fixed_size = |limit: i128, name: &str| -> Outcome<()> {
            if lo < 0 || hi > limit {
                Err(oob(
                    format!(
                        "{what} of {} through r{r} = {base} is outside the {limit}-byte {name}",
                        describe_range(lo, hi)
                    ),
                    &[r],
                ))
            } else {
                Ok(())
            }
        };
        match region {
            Region::Stack(_) => {
                if lo < -(FRAME_BYTES as i128) || hi > 0 {
                    return Err(oob(
                        format!(
                            "{what} of {} through r{r} = {base} is outside the stack frame [-{FRAME_BYTES}, 0)",
                            describe_range(lo, hi)
                        ),
                        &[r],
                    ));
                }
            }
            Region::Ctx => fixed_size(self.program_type.context.size as i128, "context")?,
            Region::MapValue(map) => {
                let size = self.maps.get(map).map_or(0, |m| m.value_size);
                fixed_size(size as i128, "map value")?;
            }
            Region::Buffer(size) => fixed_size(size as i128, "buffer")?,
            Region::Map(_) => {
                return Err(Violation::new(
                    Check::NotAPointer,
                    format!("{what} through r{r} = {base}: a map object cannot be accessed"),
                    &[r],
                ));
            }
            Region::PacketEnd => {
                return Err(oob(
                    format!("{what} through r{r} = {base}: the packet end cannot be accessed"),
                    &[r],
                ));
            }
            Region::Packet => {
                let end_gap = if reg == Reg::R10 {
                    INF
                } else {
                    state.difference_bound(reg.index(), VAR_PACKET_END)
                };
                let proven = end_gap != INF && end_gap as i128 + off as i128 + size_hi as i128 <= 0;
                if lo < 0 || !proven {
                    let known = if end_gap == INF {
                        "no bound on its distance to packet_end is known".to_string()
                    } else if end_gap <= 0 {
                        format!("it is at most packet_end - {}", -(end_gap as i128))
                    } else {
                        format!("it is at most packet_end + {end_gap}")
                    };
                    return Err(oob(
                        format!(
                            "{what} of {} through r{r} = {base} is not proven inside the packet ({known}; check it against data_end first)",
                            describe_range(lo, hi)
                        ),
                        &[r],
                    ));
                }
            }
            Region::PacketMeta => {
                let start_gap = if reg == Reg::R10 {
                    INF
                } else {
                    state.difference_bound(VAR_PACKET_META, reg.index())
                };
                let proven = start_gap != INF && start_gap as i128 <= off as i128;
                if hi > 0 || !proven {
                    return Err(oob(
                        format!(
                            "{what} of {} through r{r} = {base} is not proven inside the packet metadata (check it against data first)",
                            describe_range(lo, hi)
                        ),
                        &[r],
                    ));
                }
            }
        }
        if mode == Mode::Write {
            let writable = match region {
                Region::Packet | Region::PacketMeta => {
                    self.program_type.packet.is_some_and(|p| p.writable)
                }
                Region::MapValue(map) => self.maps.get(map).is_some_and(|m| !m.read_only),
                _ => true,
            };
            if !writable {
                return Err(Violation::new(
                    Check::ReadOnlyMemory,
                    format!("{what} through r{r} = {base}: the {region} is read-only"),
                    &[r],
                ));
            }
        }
        Ok(Access {
            region,
            lo: lo as i64,
            hi: hi as i64,
            fixed,
        })
    }

    /// Context bytes `[lo, hi)` must be plain data allowing the access.
    fn check_ctx_data(&self, access: &Access, mode: Mode, reg: u8, what: &str) -> Outcome<()> {
        let layout = &self.program_type.context;
        if access.lo >= 0
            && layout.data_allows(access.lo as u64, access.hi as u64, mode == Mode::Write)
        {
            return Ok(());
        }
        let verb = if mode == Mode::Write {
            "written"
        } else {
            "read"
        };
        Err(Violation::new(
            Check::ContextAccess,
            format!(
                "{what}: context bytes [{}, {}) may not be {verb} by a {} program",
                access.lo, access.hi, self.program_type.name
            ),
            &[reg],
        ))
    }

    pub(super) fn load(
        &self,
        state: &mut State,
        size: MemSize,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Outcome<Flow> {
        let base = self.read(state, src)?;
        let bytes = size.bytes() as u64;
        let access = self.check_access(state, src, &base, off as i64, bytes, Mode::Read, "load")?;
        let d = dst.index();
        match access.region {
            Region::Stack(depth) => {
                let read = match access.fixed {
                    Some(at) => {
                        let start = (at + FRAME_BYTES as i64) as usize;
                        state.stacks[depth as usize].read(start, bytes as usize)
                    }
                    None => state.stacks[depth as usize].read_somewhere(
                        (access.lo + FRAME_BYTES as i64) as usize,
                        (access.hi + FRAME_BYTES as i64) as usize,
                        bytes as usize,
                    ),
                };
                match read {
                    StackRead::Uninit(byte) => Err(Violation::new(
                        Check::UninitializedStack,
                        format!(
                            "load of {bytes} bytes through r{} = {base} reads stack byte r10{:+} (stack{depth}), which may be uninitialised",
                            src.number(),
                            byte as i64 - FRAME_BYTES as i64
                        ),
                        &[src.number()],
                    )),
                    StackRead::Value(value, relations) => {
                        let value = if sign_extend && value.is_number() {
                            Value::number(value.scalar.sign_extend_to_64(8 * bytes as u32))
                        } else if sign_extend {
                            Value::ANY
                        } else {
                            value
                        };
                        // What a fill restores held when it was spilled, so it cannot
                        // contradict the state; if it does, the analysis lost track of
                        // something, and treating the rest as unreachable would skip its
                        // checks: fail closed instead.
                        if !state.restore(d, value, relations) {
                            return Err(Violation::new(
                                Check::Unsupported,
                                format!(
                                    "the value filled from the stack through r{} = {base} contradicts what is known (the verifier cannot analyse this load soundly)",
                                    src.number()
                                ),
                                &[src.number()],
                            ));
                        }
                        Ok(Flow::Next)
                    }
                }
            }
            Region::Ctx => {
                if let Some(at) = access.fixed
                    && let Some(field) = self.program_type.context.field_at(at as u32)
                    && !matches!(field.kind, FieldKind::Data { .. })
                {
                    if field.size as u64 != bytes || sign_extend {
                        return Err(Violation::new(
                            Check::ContextAccess,
                            format!(
                                "the packet pointer field at context offset {at} must be loaded whole ({} bytes, not {bytes}{})",
                                field.size,
                                if sign_extend { " sign-extended" } else { "" }
                            ),
                            &[src.number()],
                        ));
                    }
                    let (region, var) = match field.kind {
                        FieldKind::PacketData => (Region::Packet, None),
                        FieldKind::PacketEnd => (Region::PacketEnd, Some(VAR_PACKET_END)),
                        _ => (Region::PacketMeta, Some(VAR_PACKET_META)),
                    };
                    match var {
                        None => state.set(d, Value::pointer(region, 0)),
                        Some(var) => {
                            let (lo, hi) = state.var_bounds(var);
                            state.regs[d] = Value {
                                id: 0,
                                ty: ValueType::Pointer(region, Nullness::NonNull),
                                scalar: Scalar::signed_range(lo, hi),
                            };
                            state.zone.assign(d, var, 0);
                        }
                    }
                    return Ok(Flow::Next);
                }
                self.check_ctx_data(&access, Mode::Read, src.number(), "load")?;
                state.set(d, Value::number(loaded_number(bytes as u32, sign_extend)));
                Ok(Flow::Next)
            }
            _ => {
                state.set(d, Value::number(loaded_number(bytes as u32, sign_extend)));
                Ok(Flow::Next)
            }
        }
    }

    pub(super) fn store(
        &self,
        state: &mut State,
        pc: usize,
        size: MemSize,
        dst: Reg,
        off: i16,
        src: Source,
    ) -> Outcome<Flow> {
        let base = self.read(state, dst)?;
        let bytes = size.bytes() as u64;
        let (value, relations) = match src {
            Source::Imm(imm) => (Value::constant(imm as i64 as u64), [INF; 4]),
            Source::Reg(reg) => {
                let value = self.read(state, reg)?;
                // A narrower store keeps only the low bytes, to which the register's
                // relations to the packet bounds do not apply.
                let relations = if reg == Reg::R10 || bytes < 8 {
                    [INF; 4]
                } else {
                    state.relations_of(reg.index())
                };
                (value, relations)
            }
        };
        let access =
            self.check_access(state, dst, &base, off as i64, bytes, Mode::Write, "store")?;
        let is_pointer = !value.is_number();
        if is_pointer && access.region.host_visible() && !self.config.allow_pointer_leaks {
            let src_reg = match src {
                Source::Reg(r) => vec![r.number()],
                Source::Imm(_) => vec![],
            };
            return Err(Violation::new(
                Check::PointerLeak,
                format!(
                    "store of {value} into the {}: the host could read the pointer",
                    access.region
                ),
                &src_reg,
            ));
        }
        match access.region {
            Region::Stack(depth) => {
                // A whole number spilled at a known place stays linked to its register, so
                // that a bound checked on either applies to both.
                let mut value = value;
                if let (Source::Reg(reg), Some(_), 8, ValueType::Number) =
                    (src, access.fixed, bytes, value.ty)
                    && reg != Reg::R10
                {
                    if value.id == 0 {
                        let id = super::copy_id(pc);
                        state.retire_scalar_id(id);
                        state.regs[reg.index()].id = id;
                        value.id = id;
                    }
                } else {
                    value.id = 0;
                }
                let stored = match value.ty {
                    ValueType::Number => Value {
                        id: value.id,
                        ..Value::number(truncate(value.scalar, bytes as usize))
                    },
                    ValueType::Pointer(..) if bytes == 8 => value,
                    _ => Value::ANY,
                };
                let stack = state.stack_mut(depth as usize);
                match access.fixed {
                    Some(at) => stack.write(
                        (at + FRAME_BYTES as i64) as usize,
                        bytes as usize,
                        stored,
                        relations,
                    ),
                    None => stack.write_somewhere(
                        (access.lo + FRAME_BYTES as i64) as usize,
                        (access.hi + FRAME_BYTES as i64) as usize,
                        stored,
                    ),
                }
            }
            Region::Ctx => self.check_ctx_data(&access, Mode::Write, dst.number(), "store")?,
            _ => {}
        }
        Ok(Flow::Next)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &self,
        state: &mut State,
        width: Width,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Outcome<Flow> {
        let base = self.read(state, dst)?;
        let operand = self.read(state, src)?;
        let bytes = (width.bits() / 8) as u64;
        if !operand.is_number() {
            return Err(Violation::new(
                Check::PointerArithmetic,
                format!(
                    "atomic {} with r{} = {operand}: the operand must be a number",
                    op.mnemonic(),
                    src.number()
                ),
                &[src.number()],
            ));
        }
        if op == AtomicOp::CmpXchg {
            let expected = self.read(state, Reg::R0)?;
            if !expected.is_number() {
                return Err(Violation::new(
                    Check::PointerArithmetic,
                    format!("cmpxchg compares with r0 = {expected}, which must be a number"),
                    &[0],
                ));
            }
        }
        let access =
            self.check_access(state, dst, &base, off as i64, bytes, Mode::Write, "atomic")?;
        let mut old = Value::number(loaded_number(bytes as u32, false));
        match access.region {
            Region::Ctx => {
                return Err(Violation::new(
                    Check::ContextAccess,
                    "atomic operations on the context are not allowed",
                    &[dst.number()],
                ));
            }
            Region::Stack(depth) => {
                let depth = depth as usize;
                let (lo, hi) = (
                    (access.lo + FRAME_BYTES as i64) as usize,
                    (access.hi + FRAME_BYTES as i64) as usize,
                );
                let read = match access.fixed {
                    Some(_) => state.stacks[depth].read(lo, bytes as usize),
                    None => state.stacks[depth].read_somewhere(lo, hi, bytes as usize),
                };
                match read {
                    StackRead::Uninit(byte) => {
                        return Err(Violation::new(
                            Check::UninitializedStack,
                            format!(
                                "atomic {} reads stack byte r10{:+}, which may be uninitialised",
                                op.mnemonic(),
                                byte as i64 - FRAME_BYTES as i64
                            ),
                            &[dst.number()],
                        ));
                    }
                    StackRead::Value(value, _) if !value.is_number() => {
                        return Err(Violation::new(
                            Check::PointerArithmetic,
                            format!("atomic {} on stack bytes holding {value}", op.mnemonic()),
                            &[dst.number()],
                        ));
                    }
                    StackRead::Value(value, _) => old = value,
                }
                let new = match op {
                    AtomicOp::Add => old.scalar.alu(width, AluOp::Add, &operand.scalar),
                    AtomicOp::Or => old.scalar.alu(width, AluOp::Or, &operand.scalar),
                    AtomicOp::And => old.scalar.alu(width, AluOp::And, &operand.scalar),
                    AtomicOp::Xor => old.scalar.alu(width, AluOp::Xor, &operand.scalar),
                    AtomicOp::Xchg => truncate(operand.scalar, bytes as usize),
                    AtomicOp::CmpXchg => truncate(operand.scalar, bytes as usize).join(&old.scalar),
                };
                let stack = state.stack_mut(depth);
                match access.fixed {
                    Some(_) => stack.write(lo, bytes as usize, Value::number(new), [INF; 4]),
                    None => stack.write_somewhere(lo, hi, Value::NUMBER),
                }
            }
            _ => {}
        }
        if op == AtomicOp::CmpXchg {
            state.set(0, old);
        } else if fetch {
            state.set(src.index(), old);
        }
        Ok(Flow::Next)
    }

    pub(super) fn load_packet(
        &self,
        state: &mut State,
        size: MemSize,
        mode: PacketMode,
    ) -> Outcome<Flow> {
        if !self.program_type.legacy_packet_loads {
            return Err(Violation::new(
                Check::LegacyPacketAccess,
                format!(
                    "legacy packet loads are not allowed in {} programs",
                    self.program_type.name
                ),
                &[],
            ));
        }
        if let PacketMode::Ind(reg) = mode {
            let offset = self.read(state, reg)?;
            if !offset.is_number() {
                return Err(Violation::new(
                    Check::LegacyPacketAccess,
                    format!(
                        "the offset register r{} = {offset} of a legacy packet load must be a number",
                        reg.number()
                    ),
                    &[reg.number()],
                ));
            }
        }
        state.set(0, Value::number(loaded_number(size.bytes(), false)));
        Ok(Flow::Next)
    }
}
