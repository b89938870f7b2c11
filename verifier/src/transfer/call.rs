//! Helper calls: arguments against the prototype, memory the helper reads or writes, and the
//! return value.

use crate::prelude::*;

use super::memory::Mode;
use super::{Flow, Machine, Outcome, null_id};
use crate::checks::{Check, Violation};
use crate::domain::interval::Scalar;
use crate::domain::stack::FRAME_BYTES;
use crate::domain::state::State;
use crate::domain::types::{MapId, Nullness, Region, Value, ValueType};
use crate::helpers::{ArgKind, HelperPrototype, RetKind};
use crate::program_type::FieldKind;
use xbpf_isa::Reg;

fn arg_error(proto: &HelperPrototype, arg: usize, message: String) -> Violation {
    Violation::new(
        Check::HelperArgument,
        format!("{} argument {arg} (r{arg}): {message}", proto.name),
        &[arg as u8],
    )
}

impl Machine<'_> {
    pub(super) fn call_helper(&self, state: &mut State, pc: usize, id: i32) -> Outcome<Flow> {
        let Some(proto) = self.program_type.helpers.get(&id) else {
            return Err(Violation::new(
                Check::UnknownHelper,
                format!(
                    "helper {id} is not available to {} programs",
                    self.program_type.name
                ),
                &[],
            ));
        };
        let mut map: Option<MapId> = None;
        let mut const_size: Option<u64> = None;
        let mut arg = 0;
        while arg < proto.args.len() {
            let n = arg + 1;
            let reg = Reg::new(n as u8).expect("arguments are r1..r5");
            let kind = proto.args[arg];
            arg += 1;
            if kind == ArgKind::DontCare {
                continue;
            }
            let value = self.read(state, reg)?;
            match kind {
                ArgKind::DontCare | ArgKind::Anything => {}
                ArgKind::Number => {
                    if !value.is_number() {
                        return Err(arg_error(proto, n, format!("{value} is not a number")));
                    }
                }
                ArgKind::Ctx => {
                    if value.ty != ValueType::Pointer(Region::Ctx, Nullness::NonNull)
                        || value.scalar.as_constant() != Some(0)
                    {
                        return Err(arg_error(
                            proto,
                            n,
                            format!("{value} is not the context pointer"),
                        ));
                    }
                }
                ArgKind::MapPtr => match value.ty {
                    ValueType::Pointer(Region::Map(m), Nullness::NonNull) => map = Some(m),
                    _ => return Err(arg_error(proto, n, format!("{value} is not a map"))),
                },
                ArgKind::MapKey | ArgKind::MapValue | ArgKind::MapValueOut => {
                    let Some(m) = map else {
                        return Err(arg_error(
                            proto,
                            n,
                            "no map argument comes before it".into(),
                        ));
                    };
                    let descriptor = self.maps.get(m).expect("map ids are valid");
                    let (size, mode, what) = match kind {
                        ArgKind::MapKey => (descriptor.key_size, Mode::Read, "key"),
                        ArgKind::MapValue => (descriptor.value_size, Mode::Read, "value"),
                        _ => (descriptor.value_size, Mode::Write, "value"),
                    };
                    self.helper_memory(
                        state,
                        proto,
                        reg,
                        &value,
                        size as u64,
                        size as u64,
                        mode,
                        what,
                    )?;
                }
                ArgKind::MemRead
                | ArgKind::MemReadOrNull
                | ArgKind::MemWrite
                | ArgKind::MemReadWrite => {
                    let size_reg = Reg::new(n as u8 + 1).filter(|_| n < 5).ok_or_else(|| {
                        arg_error(
                            proto,
                            n,
                            "the prototype has no size argument after it".into(),
                        )
                    })?;
                    let size = self.read(state, size_reg)?;
                    let size_kind = proto.args.get(arg).copied().unwrap_or(ArgKind::Size);
                    arg += 1;
                    if !size.is_number() {
                        return Err(arg_error(
                            proto,
                            n + 1,
                            format!("the size {size} is not a number"),
                        ));
                    }
                    let (lo, hi) = (size.scalar.umin, size.scalar.umax);
                    if lo == 0 && size_kind == ArgKind::Size {
                        return Err(arg_error(proto, n + 1, format!("the size {size} may be 0")));
                    }
                    if hi > u32::MAX as u64 {
                        return Err(arg_error(
                            proto,
                            n + 1,
                            format!("the size {size} has no upper bound"),
                        ));
                    }
                    if kind == ArgKind::MemReadOrNull && value.is_zero() {
                        if hi != 0 {
                            return Err(arg_error(
                                proto,
                                n,
                                format!("null memory with a size ({size}) that may not be 0"),
                            ));
                        }
                        continue;
                    }
                    let mode = if kind == ArgKind::MemWrite {
                        Mode::Write
                    } else {
                        Mode::Read
                    };
                    if hi > 0 {
                        self.helper_memory(state, proto, reg, &value, lo, hi, mode, "memory")?;
                        if kind == ArgKind::MemReadWrite {
                            // Initialised and pointer-free (just checked): the helper may
                            // overwrite any of these bytes with numbers.
                            self.helper_memory(
                                state,
                                proto,
                                reg,
                                &value,
                                hi,
                                hi,
                                Mode::Write,
                                "memory",
                            )?;
                        }
                    }
                }
                ArgKind::Size | ArgKind::SizeOrZero => {
                    if !value.is_number() {
                        return Err(arg_error(
                            proto,
                            n,
                            format!("the size {value} is not a number"),
                        ));
                    }
                }
                ArgKind::ConstSize => match (value.ty, value.scalar.as_constant()) {
                    (ValueType::Number, Some(c)) if c > 0 && c <= u32::MAX as u64 => {
                        const_size = Some(c)
                    }
                    _ => {
                        return Err(arg_error(
                            proto,
                            n,
                            format!("{value} is not a known positive size"),
                        ));
                    }
                },
            }
        }

        let result = match proto.ret {
            RetKind::Integer => Value::NUMBER,
            RetKind::IntegerInRange(lo, hi) => Value::number(Scalar::signed_range(lo, hi)),
            RetKind::MapValueOrNull => {
                let Some(m) = map else {
                    return Err(Violation::new(
                        Check::HelperArgument,
                        format!("{} returns a map value but takes no map", proto.name),
                        &[],
                    ));
                };
                let descriptor = self.maps.get(m).expect("map ids are valid");
                let region = if descriptor.map_type.holds_maps() {
                    match self.maps.inner(m) {
                        Some(inner) => Region::Map(inner),
                        None => {
                            return Err(Violation::new(
                                Check::MapReference,
                                format!("map {m} holds maps but has no inner map template"),
                                &[1],
                            ));
                        }
                    }
                } else {
                    Region::MapValue(m)
                };
                let id = null_id(pc);
                state.retire_null_id(id);
                Value {
                    id: 0,
                    ty: ValueType::Pointer(region, Nullness::MaybeNull(id)),
                    scalar: Scalar::constant(0),
                }
            }
            RetKind::MemOrNull => {
                let Some(size) = const_size else {
                    return Err(Violation::new(
                        Check::HelperArgument,
                        format!("{} returns memory but takes no constant size", proto.name),
                        &[],
                    ));
                };
                let id = null_id(pc);
                state.retire_null_id(id);
                Value {
                    id: 0,
                    ty: ValueType::Pointer(Region::Buffer(size as u32), Nullness::MaybeNull(id)),
                    scalar: Scalar::constant(0),
                }
            }
        };
        if proto.changes_packet {
            self.invalidate_packet(state);
        }
        state.set(0, result);
        Ok(Flow::Next)
    }

    /// Memory a helper reads (initialised, and without pointers when leaks are checked) or
    /// writes (then initialised).
    #[allow(clippy::too_many_arguments)]
    fn helper_memory(
        &self,
        state: &mut State,
        proto: &HelperPrototype,
        reg: Reg,
        value: &Value,
        size_lo: u64,
        size_hi: u64,
        mode: Mode,
        what: &str,
    ) -> Outcome<()> {
        let n = reg.number() as usize;
        let description = format!("{} {what} argument", proto.name);
        let access = self.check_access(state, reg, value, 0, size_hi, mode, &description)?;
        match access.region {
            Region::Stack(depth) => {
                let depth = depth as usize;
                let lo = (access.lo + FRAME_BYTES as i64) as usize;
                let hi = (access.hi + FRAME_BYTES as i64) as usize;
                match mode {
                    Mode::Read => {
                        if let Some(byte) = state.stacks[depth].first_uninit(lo, hi) {
                            return Err(Violation::new(
                                Check::UninitializedStack,
                                format!(
                                    "{description} (r{n} = {value}, {size_hi} bytes) reads stack byte r10{:+}, which may be uninitialised",
                                    byte as i64 - FRAME_BYTES as i64
                                ),
                                &[n as u8],
                            ));
                        }
                        if !self.config.allow_pointer_leaks
                            && state.stacks[depth].has_pointer_bytes(lo, hi)
                        {
                            return Err(Violation::new(
                                Check::PointerLeak,
                                format!(
                                    "{description} (r{n} = {value}) covers stack bytes holding a pointer, which the helper could expose"
                                ),
                                &[n as u8],
                            ));
                        }
                    }
                    Mode::Write => {
                        let stack = state.stack_mut(depth);
                        match access.fixed {
                            Some(at) => {
                                let start = (at + FRAME_BYTES as i64) as usize;
                                stack.write_numbers(start, start + size_lo as usize);
                                stack.write_somewhere(start + size_lo as usize, hi, Value::NUMBER);
                            }
                            None => stack.write_somewhere(lo, hi, Value::NUMBER),
                        }
                    }
                }
            }
            Region::Ctx => {
                let layout = &self.program_type.context;
                let allowed = access.lo >= 0
                    && layout.data_allows(access.lo as u64, access.hi as u64, mode == Mode::Write)
                    && !layout.fields.iter().any(|f| {
                        !matches!(f.kind, FieldKind::Data { .. })
                            && (f.offset as i64) < access.hi
                            && access.lo < (f.offset + f.size) as i64
                    });
                if !allowed {
                    return Err(Violation::new(
                        Check::ContextAccess,
                        format!(
                            "{description} covers context bytes [{}, {}) that it may not access",
                            access.lo, access.hi
                        ),
                        &[n as u8],
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}
