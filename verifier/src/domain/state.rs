//! The abstract state at a program point: the current frame's registers, the zone relating
//! them to each other and to the packet bounds, the stack frames of every active call, and the
//! callee-saved registers of the callers.

use crate::prelude::*;

use super::interval::{Scalar, Thresholds};
use super::stack::{Relations, StackFrame};
use super::types::{Nullness, Region, Value, ValueType};
use super::zone::{INF, NVARS, VAR_LOOP_COUNT, VAR_PACKET_END, VAR_PACKET_META, Zone, add_bound};
use alloc::rc::Rc;
use core::fmt;
use core::hash::{Hash, Hasher};

/// Registers r0..r9 (r10 is implicit: the current frame's stack pointer at offset 0).
pub const NREGS: usize = 10;

/// A caller's frame while one of its callees runs: the callee-saved registers r6..r9 (with
/// their packet relations) and the pc of the call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallerFrame {
    /// The pc of the call instruction.
    pub call_pc: usize,
    /// r6..r9 of the caller, with their packet relations.
    pub saved: [(Value, Relations); 4],
}

/// Bounds of the variables that are not registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtraBounds {
    /// Bounds of the packet end, as an offset from the packet data start.
    pub packet_end: (i64, i64),
    /// Bounds of the packet metadata start, as an offset from the packet data start (<= 0).
    pub packet_meta: (i64, i64),
    /// Bounds of the loop-head visit counter (termination check).
    pub loop_count: (i64, i64),
}

/// One abstract state.
#[derive(Clone, PartialEq, Eq)]
pub struct State {
    /// r0..r9 of the current frame.
    pub regs: [Value; NREGS],
    /// Difference constraints between the registers and the extra variables.
    pub zone: Zone,
    /// Bounds of the variables that are not registers.
    pub extra: ExtraBounds,
    /// The stack frames of the active calls, outermost first (shared until written).
    pub stacks: Vec<Rc<StackFrame>>,
    /// The callers of the current function, outermost first.
    pub callers: Vec<CallerFrame>,
}

/// What disjuncts are partitioned on: states with different keys are kept apart at joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    regs: [u32; NREGS],
    /// The types of spilled pointers and of the callers' saved registers.
    cells: u64,
    /// The initialised stack bytes.
    init: u64,
}

impl PartitionKey {
    /// The similarity of two distinct keys that differ only in initialised stack bytes (no
    /// pair of distinct keys is more alike).
    pub const CLOSEST: usize = 4 * NREGS + 2;

    /// How alike two keys are, to choose which states merge when the cap is hit: register
    /// classes weigh most, then spilled pointer types, then which stack bytes are initialised.
    pub fn similarity(&self, other: &PartitionKey) -> usize {
        let regs = self
            .regs
            .iter()
            .zip(other.regs.iter())
            .filter(|(a, b)| a == b)
            .count();
        4 * regs + 2 * usize::from(self.cells == other.cells) + usize::from(self.init == other.init)
    }
}

/// The hasher of the stack and caller parts of a [`PartitionKey`]: small, deterministic and
/// available without `std`. Only equality of keys matters, and a collision merely joins two
/// states that could have stayed apart (sound, less precise), so 64 well-mixed bits suffice.
struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> KeyHasher {
        KeyHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(23) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        // The MurmurHash3 finaliser: every input bit reaches every output bit.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A register's part of the partition key: its type, and for a number whether it is the
/// constant 0, another constant, or not constant. Compilers turn a check into a flag (`err =
/// p + 4 > end ? -22 : 0; if (err) ...`): keeping the state where the flag is 0 apart from the
/// one where it is an error code keeps the bound the check proved until the flag is tested.
/// A loop counter contributes at most two classes (0, then other constants), so the number of
/// disjuncts stays bounded.
fn partition_code(value: &Value) -> u32 {
    match (value.ty, value.scalar.as_constant()) {
        (ValueType::Number, Some(0)) => u32::MAX,
        (ValueType::Number, Some(_)) => u32::MAX - 1,
        _ => type_code(value),
    }
}

fn type_code(value: &Value) -> u32 {
    match value.ty {
        ValueType::Uninit => 0,
        ValueType::Number => 1,
        ValueType::Any => 2,
        ValueType::Pointer(region, nullness) => {
            let region_code = match region {
                Region::Ctx => 0,
                Region::Stack(depth) => 1 + depth as u32,
                Region::Packet => 10,
                Region::PacketMeta => 11,
                Region::PacketEnd => 12,
                Region::MapValue(map) => 16 + 4 * map,
                Region::Map(map) => 17 + 4 * map,
                Region::Buffer(size) => 18 + 4 * size,
            };
            let null = u32::from(matches!(nullness, Nullness::MaybeNull(_)));
            3 + 2 * region_code + null
        }
    }
}

impl State {
    /// A state with these registers, empty stacks and no relations.
    pub fn new(regs: [Value; NREGS], stack: StackFrame, extra: ExtraBounds) -> State {
        State {
            regs,
            zone: Zone::new(),
            extra,
            stacks: vec![Rc::new(stack)],
            callers: Vec::new(),
        }
    }

    /// Call depth of the current frame (0 = the entry function).
    pub fn depth(&self) -> usize {
        self.stacks.len() - 1
    }

    /// The current frame's stack.
    pub fn stack(&self) -> &StackFrame {
        &self.stacks[self.depth()]
    }

    /// The stack of the frame at `depth`, for writing.
    pub fn stack_mut(&mut self, depth: usize) -> &mut StackFrame {
        Rc::make_mut(&mut self.stacks[depth])
    }

    /// The signed bounds of a zone variable (the whole range when it has no numeric meaning).
    pub fn var_bounds(&self, var: usize) -> (i64, i64) {
        match var {
            VAR_PACKET_END => self.extra.packet_end,
            VAR_PACKET_META => self.extra.packet_meta,
            VAR_LOOP_COUNT => self.extra.loop_count,
            r => {
                let value = &self.regs[r];
                if value.is_numeric() {
                    (value.scalar.smin, value.scalar.smax)
                } else {
                    (i64::MIN, i64::MAX)
                }
            }
        }
    }

    fn var_is_numeric(&self, var: usize) -> bool {
        var >= NREGS || self.regs[var].is_numeric()
    }

    /// The best bound on `v_i - v_j` from the zone and from the variables' own bounds.
    pub fn difference_bound(&self, i: usize, j: usize) -> i64 {
        let direct = self.zone.bound(i, j);
        if !self.var_is_numeric(i) || !self.var_is_numeric(j) {
            return direct;
        }
        let (_, hi) = self.var_bounds(i);
        let (lo, _) = self.var_bounds(j);
        if hi == i64::MAX || lo == i64::MIN {
            return direct;
        }
        let unary = hi as i128 - lo as i128;
        if unary >= INF as i128 {
            direct
        } else {
            direct.min(unary as i64)
        }
    }

    /// Forgets the registers outside `live` (a bit per register): they are written before
    /// being read on every path from here, so their values cannot matter.
    pub fn forget_dead(&mut self, live: u16) {
        for r in 0..NREGS {
            if live & (1 << r) == 0 && self.regs[r].is_initialized() {
                self.set(r, Value::UNINIT);
            }
        }
    }

    /// Sets a register (dropping its relations).
    pub fn set(&mut self, reg: usize, value: Value) {
        self.zone.forget(reg);
        self.regs[reg] = value;
    }

    /// `dst := src` keeping the relation between them.
    pub fn copy(&mut self, dst: usize, src: usize) {
        if dst == src {
            return;
        }
        self.regs[dst] = self.regs[src];
        if self.regs[src].is_numeric() {
            self.zone.assign(dst, src, 0);
        } else {
            self.zone.forget(dst);
        }
    }

    /// Restricts a variable to `[lo, hi]`; false when no value remains.
    pub fn tighten(&mut self, var: usize, lo: i64, hi: i64) -> bool {
        let bounds = match var {
            VAR_PACKET_END => &mut self.extra.packet_end,
            VAR_PACKET_META => &mut self.extra.packet_meta,
            VAR_LOOP_COUNT => &mut self.extra.loop_count,
            r => {
                if !self.regs[r].is_numeric() {
                    return true;
                }
                let value = &mut self.regs[r];
                if lo <= value.scalar.smin && value.scalar.smax <= hi {
                    return true;
                }
                return match value.scalar.meet(&Scalar::signed_range(lo, hi)) {
                    Some(scalar) => {
                        value.scalar = scalar;
                        true
                    }
                    None => false,
                };
            }
        };
        bounds.0 = bounds.0.max(lo);
        bounds.1 = bounds.1.min(hi);
        bounds.0 <= bounds.1
    }

    /// Moves bounds along the zone's relations until every variable's bounds reflect the
    /// others' (one pass suffices: the zone is closed). False when no value remains.
    pub fn propagate(&mut self) -> bool {
        let bounds: [(i64, i64); NVARS] = core::array::from_fn(|v| self.var_bounds(v));
        for k in 0..NVARS {
            if !self.var_is_numeric(k) {
                continue;
            }
            let (mut lo, mut hi) = bounds[k];
            for (i, &(lo_i, hi_i)) in bounds.iter().enumerate() {
                if i == k || !self.var_is_numeric(i) {
                    continue;
                }
                // v_k <= v_i + m[k][i]
                let up = self.zone.bound(k, i);
                if up != INF && hi_i != i64::MAX {
                    let candidate = hi_i as i128 + up as i128;
                    if candidate < hi as i128 {
                        hi = candidate.max(i64::MIN as i128) as i64;
                    }
                }
                // v_k >= v_i - m[i][k]
                let down = self.zone.bound(i, k);
                if down != INF && lo_i != i64::MIN {
                    let candidate = lo_i as i128 - down as i128;
                    if candidate > lo as i128 {
                        lo = candidate.min(i64::MAX as i128) as i64;
                    }
                }
            }
            if (lo, hi) != bounds[k] && !self.tighten(k, lo, hi) {
                return false;
            }
        }
        true
    }

    /// Adds `v_i - v_j <= c`; false when no value remains.
    pub fn constrain(&mut self, i: usize, j: usize, c: i64) -> bool {
        self.zone.add(i, j, c) && self.propagate()
    }

    /// The relations of a variable with the packet bounds, to save with a spilled value.
    pub fn relations_of(&self, var: usize) -> Relations {
        if var < NREGS && !self.regs[var].is_numeric() {
            return [INF; 4];
        }
        [
            self.zone.bound(var, VAR_PACKET_END),
            self.zone.bound(VAR_PACKET_END, var),
            self.zone.bound(var, VAR_PACKET_META),
            self.zone.bound(VAR_PACKET_META, var),
        ]
    }

    /// Sets a register to a saved value and restores its packet relations.
    pub fn restore(&mut self, reg: usize, value: Value, relations: Relations) -> bool {
        self.set(reg, value);
        if !value.is_numeric() {
            return true;
        }
        let mut ok = true;
        if relations[0] != INF {
            ok &= self.zone.add(reg, VAR_PACKET_END, relations[0]);
        }
        if relations[1] != INF {
            ok &= self.zone.add(VAR_PACKET_END, reg, relations[1]);
        }
        if relations[2] != INF {
            ok &= self.zone.add(reg, VAR_PACKET_META, relations[2]);
        }
        if relations[3] != INF {
            ok &= self.zone.add(VAR_PACKET_META, reg, relations[3]);
        }
        ok && self.propagate()
    }

    /// Applies `f` to every register, every saved register and every pointer spilled on a
    /// stack (number cells are skipped).
    pub fn for_each_value(&mut self, mut f: impl FnMut(&mut Value)) {
        for value in &mut self.regs {
            f(value);
        }
        for depth in 0..self.stacks.len() {
            let needs = self.stacks[depth]
                .cells()
                .iter()
                .any(|cell| matches!(cell.value.ty, ValueType::Pointer(..)));
            if needs {
                self.stack_mut(depth).map_values(&mut f);
            }
        }
        for caller in &mut self.callers {
            for (value, _) in &mut caller.saved {
                f(value);
            }
        }
    }

    /// Gives every maybe-null pointer with this id the id 0 (before a new pointer takes it).
    pub fn retire_null_id(&mut self, id: u32) {
        self.for_each_value(|value| {
            if let ValueType::Pointer(region, Nullness::MaybeNull(x)) = value.ty
                && x == id
            {
                value.ty = ValueType::Pointer(region, Nullness::MaybeNull(0));
            }
        });
    }

    /// A null check on a pointer with this id: every copy is null, or every copy is not.
    pub fn refine_null_id(&mut self, id: u32, null: bool) {
        if id == 0 {
            return;
        }
        let matches = |value: &Value| matches!(value.ty, ValueType::Pointer(_, Nullness::MaybeNull(x)) if x == id);
        for reg in 0..NREGS {
            if matches(&self.regs[reg]) {
                self.refine_null_reg(reg, null);
            }
        }
        self.for_each_value(|value| {
            if matches(value) {
                *value = refined_null(value, null);
            }
        });
    }

    /// Every number holding this copy id (registers, stack cells, saved registers) drops it,
    /// before a new value takes the id.
    pub fn retire_scalar_id(&mut self, id: u32) {
        self.update_scalar_holders(id, |value| {
            value.id = 0;
            true
        });
    }

    /// Every copy of the value with this id gets `scalar` as well; false if one cannot.
    pub fn refine_scalar_id(&mut self, id: u32, scalar: &Scalar) -> bool {
        self.update_scalar_holders(id, |value| match value.scalar.meet(scalar) {
            Some(met) => {
                value.scalar = met;
                true
            }
            None => false,
        })
    }

    fn update_scalar_holders(&mut self, id: u32, mut f: impl FnMut(&mut Value) -> bool) -> bool {
        if id == 0 {
            return true;
        }
        let holds = |value: &Value| value.is_number() && value.id == id;
        let mut ok = true;
        for value in &mut self.regs {
            if holds(value) {
                ok &= f(value);
            }
        }
        for depth in 0..self.stacks.len() {
            if self.stacks[depth]
                .cells()
                .iter()
                .any(|cell| holds(&cell.value))
            {
                self.stack_mut(depth).map_values(|value| {
                    if holds(value) {
                        ok &= f(value);
                    }
                });
            }
        }
        for caller in &mut self.callers {
            for (value, _) in &mut caller.saved {
                if holds(value) {
                    ok &= f(value);
                }
            }
        }
        ok
    }

    /// A null check on one register.
    pub fn refine_null_reg(&mut self, reg: usize, null: bool) {
        let value = refined_null(&self.regs[reg], null);
        if null {
            self.set(reg, value);
        } else {
            self.regs[reg] = value;
        }
    }

    /// The partition key: the types (and zero/constant classes) of the registers, the types of
    /// the spilled pointers and of the callers' saved registers, and the initialised stack
    /// bytes.
    pub fn key(&self) -> PartitionKey {
        let regs = core::array::from_fn(|r| partition_code(&self.regs[r]));
        let mut hasher = KeyHasher::default();
        let mut init = KeyHasher::default();
        for stack in &self.stacks {
            // Paths that initialised different stack bytes stay apart: joining them would
            // keep only the bytes both initialised.
            stack.init_words().hash(&mut init);
            for cell in stack.cells() {
                if !cell.value.is_number() {
                    (cell.start, type_code(&cell.value)).hash(&mut hasher);
                }
            }
        }
        for caller in &self.callers {
            for (value, _) in &caller.saved {
                type_code(value).hash(&mut hasher);
            }
        }
        PartitionKey {
            regs,
            cells: hasher.finish(),
            init: init.finish(),
        }
    }

    /// The zone tightened by the variables' bounds (the closure with a zero variable), so a
    /// join keeps relations both sides know only through bounds.
    fn strengthened_zone(&self) -> Zone {
        let mut zone = self.zone.clone();
        let bounds: [(i64, i64); NVARS] = core::array::from_fn(|v| self.var_bounds(v));
        let numeric: [bool; NVARS] = core::array::from_fn(|v| self.var_is_numeric(v));
        for i in 0..NVARS {
            for j in 0..NVARS {
                if i == j || !numeric[i] || !numeric[j] {
                    continue;
                }
                let (_, hi) = bounds[i];
                let (lo, _) = bounds[j];
                if hi == i64::MAX || lo == i64::MIN {
                    continue;
                }
                let unary = hi as i128 - lo as i128;
                if unary < zone.bound(i, j) as i128 {
                    zone.set_bound(i, j, unary as i64);
                }
            }
        }
        zone
    }

    /// Least upper bound of two states of the same call context.
    pub fn join(&self, other: &State) -> State {
        self.combine(
            other,
            |a, b| a.join(b),
            |a, b| a.join(b),
            |a, b| a.join(b),
            |a, b| (a.0.min(b.0), a.1.max(b.1)),
        )
    }

    /// Widening of `self` (the older state) by `newer`.
    pub fn widen(&self, newer: &State, thresholds: &Thresholds) -> State {
        let joined = self.join(newer);
        self.combine(
            &joined,
            |a, b| a.widen(b, thresholds),
            |a, b| a.widen(b),
            |a, b| a.widen(b, thresholds),
            |a, b| {
                let lo = if b.0 < a.0 {
                    thresholds.below(b.0)
                } else {
                    a.0
                };
                let hi = if b.1 > a.1 {
                    thresholds.above(b.1)
                } else {
                    a.1
                };
                (lo, hi)
            },
        )
    }

    fn combine(
        &self,
        other: &State,
        value: impl Fn(&Value, &Value) -> Value,
        zone: impl Fn(&Zone, &Zone) -> Zone,
        stack: impl Fn(&StackFrame, &StackFrame) -> StackFrame,
        bounds: impl Fn((i64, i64), (i64, i64)) -> (i64, i64),
    ) -> State {
        let regs: [Value; NREGS] = core::array::from_fn(|r| value(&self.regs[r], &other.regs[r]));
        let mut joined_zone = zone(&self.strengthened_zone(), &other.strengthened_zone());
        for (r, reg) in regs.iter().enumerate() {
            if !reg.is_numeric() {
                joined_zone.forget(r);
            }
        }
        let extra = ExtraBounds {
            packet_end: bounds(self.extra.packet_end, other.extra.packet_end),
            packet_meta: bounds(self.extra.packet_meta, other.extra.packet_meta),
            loop_count: bounds(self.extra.loop_count, other.extra.loop_count),
        };
        let stacks = self
            .stacks
            .iter()
            .zip(other.stacks.iter())
            .map(|(a, b)| {
                if Rc::ptr_eq(a, b) || a == b {
                    a.clone()
                } else {
                    Rc::new(stack(a, b))
                }
            })
            .collect();
        let callers = self
            .callers
            .iter()
            .zip(other.callers.iter())
            .map(|(a, b)| CallerFrame {
                call_pc: a.call_pc,
                saved: core::array::from_fn(|k| {
                    let (va, ra) = &a.saved[k];
                    let (vb, rb) = &b.saved[k];
                    (value(va, vb), core::array::from_fn(|n| ra[n].max(rb[n])))
                }),
            })
            .collect();
        State {
            regs,
            zone: joined_zone,
            extra,
            stacks,
            callers,
        }
    }

    /// Whether every concrete state of `self` is one of `other`.
    pub fn is_subset_of(&self, other: &State) -> bool {
        let extra_in = |a: (i64, i64), b: (i64, i64)| b.0 <= a.0 && a.1 <= b.1;
        self.regs
            .iter()
            .zip(other.regs.iter())
            .all(|(a, b)| a.is_subset_of(b))
            && extra_in(self.extra.packet_end, other.extra.packet_end)
            && extra_in(self.extra.packet_meta, other.extra.packet_meta)
            && extra_in(self.extra.loop_count, other.extra.loop_count)
            && self.strengthened_zone().is_subset_of(&other.zone)
            && self
                .stacks
                .iter()
                .zip(other.stacks.iter())
                .all(|(a, b)| Rc::ptr_eq(a, b) || a.is_subset_of(b))
            && self.callers.iter().zip(other.callers.iter()).all(|(a, b)| {
                a.saved
                    .iter()
                    .zip(b.saved.iter())
                    .all(|((va, ra), (vb, rb))| {
                        va.is_subset_of(vb) && (0..4).all(|k| ra[k] <= rb[k])
                    })
            })
    }

    /// Enters a callee: r6..r9 are saved with their packet relations, the callee gets a fresh
    /// stack frame, r0 and r6..r9 start uninitialised; r1..r5 pass through.
    pub fn push_frame(&mut self, call_pc: usize, stack: StackFrame) {
        let saved = core::array::from_fn(|k| (self.regs[6 + k], self.relations_of(6 + k)));
        self.callers.push(CallerFrame { call_pc, saved });
        self.stacks.push(Rc::new(stack));
        for r in [0, 6, 7, 8, 9] {
            self.set(r, Value::UNINIT);
        }
    }

    /// Returns from a callee: its frame dies (pointers into it become unusable), r6..r9 are
    /// restored, r0..r5 keep the callee's values. False when the restored relations
    /// contradict.
    pub fn pop_frame(&mut self) -> bool {
        let depth = self.depth();
        let Some(caller) = self.callers.pop() else {
            return true;
        };
        self.stacks.pop();
        let dead = move |value: &Value| matches!(value.ty, ValueType::Pointer(Region::Stack(d), _) if d as usize >= depth);
        // r0 is checked at the callee's exit (a returned frame pointer is rejected there);
        // r1..r5 are scratch registers the caller must not rely on.
        if dead(&self.regs[0]) {
            self.set(0, Value::ANY);
        }
        for r in 1..6 {
            if dead(&self.regs[r]) {
                self.set(r, Value::UNINIT);
            }
        }
        for d in 0..self.stacks.len() {
            if self.stacks[d].cells().iter().any(|cell| dead(&cell.value)) {
                self.stack_mut(d).invalidate(dead);
            }
        }
        let mut ok = true;
        for (k, (value, relations)) in caller.saved.iter().enumerate() {
            ok &= self.restore(6 + k, *value, *relations);
        }
        ok
    }

    /// Increments the loop counter (termination check).
    pub fn count_loop_iteration(&mut self) {
        self.zone.shift(VAR_LOOP_COUNT, 1);
        let (lo, hi) = self.extra.loop_count;
        self.extra.loop_count = (lo.saturating_add(1), add_bound(hi, 1));
    }
}

fn refined_null(value: &Value, null: bool) -> Value {
    match value.ty {
        ValueType::Pointer(region, Nullness::MaybeNull(_)) => {
            if null {
                Value::constant(0)
            } else {
                Value {
                    id: 0,
                    ty: ValueType::Pointer(region, Nullness::NonNull),
                    scalar: value.scalar,
                }
            }
        }
        _ => *value,
    }
}

fn var_name(var: usize) -> String {
    match var {
        VAR_PACKET_END => "packet_end".to_string(),
        VAR_PACKET_META => "packet_meta".to_string(),
        VAR_LOOP_COUNT => "loop_count".to_string(),
        r => format!("r{r}"),
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (r, value) in self.regs.iter().enumerate() {
            if value.is_initialized() {
                parts.push(format!("r{r}: {value}"));
            }
        }
        parts.push(format!("r10: stack{} + 0", self.depth()));
        for (i, j, c) in self.zone.constraints() {
            if i < j || j >= NREGS {
                let (i_ok, j_ok) = (self.var_is_numeric(i), self.var_is_numeric(j));
                if i_ok && j_ok && (i < NREGS || j < NREGS) {
                    parts.push(format!("{} - {} <= {c}", var_name(i), var_name(j)));
                }
            } else if self.var_is_numeric(i) && self.var_is_numeric(j) {
                parts.push(format!("{} - {} <= {c}", var_name(i), var_name(j)));
            }
        }
        let stack = self.stack();
        for cell in stack.cells() {
            parts.push(format!(
                "[r10{:+}]/{}: {}",
                cell.start as i64 - super::stack::FRAME_BYTES as i64,
                cell.size,
                cell.value
            ));
        }
        for (lo, hi, pointer) in stack.initialized_runs() {
            let lo = lo as i64 - super::stack::FRAME_BYTES as i64;
            let hi = hi as i64 - super::stack::FRAME_BYTES as i64;
            let class = if pointer {
                "pointer bytes"
            } else {
                "initialised"
            };
            parts.push(format!("stack[{lo}..{hi}): {class}"));
        }
        write!(f, "{}", parts.join(", "))
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let mut regs = [Value::UNINIT; NREGS];
        regs[1] = Value::pointer(Region::Ctx, 0);
        State::new(
            regs,
            StackFrame::new(),
            ExtraBounds {
                packet_end: (0, 0xffff),
                packet_meta: (-256, 0),
                loop_count: (0, 0),
            },
        )
    }

    #[test]
    fn packet_checks_through_copies() {
        let mut s = state();
        s.set(2, Value::pointer(Region::Packet, 0));
        s.set(3, Value::pointer(Region::PacketEnd, 0));
        s.zone.assign(3, VAR_PACKET_END, 0);
        s.regs[3].scalar = Scalar::signed_range(0, 0xffff);
        s.copy(4, 2);
        s.regs[4].scalar = Scalar::constant(14);
        s.zone.shift(4, 14);
        // fall-through of `if r4 > r3`: r4 <= r3
        assert!(s.constrain(4, 3, 0));
        assert_eq!(s.difference_bound(2, VAR_PACKET_END), -14);
        assert_eq!(s.extra.packet_end.0, 14, "the packet is at least 14 bytes");
    }

    #[test]
    fn join_keeps_relations_known_through_bounds() {
        let mut a = state();
        a.set(1, Value::constant(0));
        a.set(2, Value::constant(10));
        let mut b = state();
        b.set(1, Value::constant(5));
        b.set(2, Value::constant(15));
        let j = a.join(&b);
        assert_eq!(j.difference_bound(2, 1), 10);
        assert_eq!(j.difference_bound(1, 2), -10);
        assert!(a.is_subset_of(&j) && b.is_subset_of(&j));
        assert!(!j.is_subset_of(&a));
    }

    #[test]
    fn null_checks_refine_every_copy() {
        let mut s = state();
        let maybe = Value {
            id: 0,
            ty: ValueType::Pointer(Region::MapValue(0), Nullness::MaybeNull(7)),
            scalar: Scalar::constant(0),
        };
        s.set(0, maybe);
        s.copy(6, 0);
        s.stack_mut(0).write(504, 8, maybe, [INF; 4]);
        let mut not_null = s.clone();
        not_null.refine_null_id(7, false);
        assert_eq!(
            not_null.regs[6].ty,
            ValueType::Pointer(Region::MapValue(0), Nullness::NonNull)
        );
        assert_eq!(
            not_null.stack().cells()[0].value.ty,
            ValueType::Pointer(Region::MapValue(0), Nullness::NonNull)
        );
        s.refine_null_id(7, true);
        assert_eq!(s.regs[6], Value::constant(0));
    }
}
