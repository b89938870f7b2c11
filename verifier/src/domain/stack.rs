//! The byte-level model of one 512-byte stack frame.
//!
//! Two bitmaps classify every byte: initialised or not, and (among initialised bytes) whether
//! it may hold part of a pointer. On top of them, `cells` remember exact values stored at a
//! known offset and size: spilled registers (pointers keep their region, offset and packet
//! relations, numbers their bounds) and numbers with known values. A write removes every cell
//! it overlaps (the bytes of a partially overwritten pointer stay marked as pointer bytes), so
//! reading a cell back is only possible while it is intact.

use crate::prelude::*;

use super::interval::Scalar;
use super::types::{Value, ValueType};
use xbpf_isa::exec::STACK_FRAME_SIZE;

/// Bytes in a frame.
pub const FRAME_BYTES: usize = STACK_FRAME_SIZE;
const WORDS: usize = FRAME_BYTES / 64;

/// Constraints linking a saved value to the packet bounds, so that a spilled and refilled
/// packet pointer keeps its proven range: bounds on `v - packet_end`, `packet_end - v`,
/// `v - packet_meta`, `packet_meta - v` (`zone::INF` when unknown).
pub type Relations = [i64; 4];

/// A value stored at a known place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// First byte (0 = r10 - 512).
    pub start: u16,
    /// Size in bytes (1, 2, 4 or 8).
    pub size: u8,
    /// The value stored.
    pub value: Value,
    /// Its relations to the packet bounds, when it is a packet pointer or offset.
    pub relations: Relations,
}

impl Cell {
    fn end(&self) -> usize {
        self.start as usize + self.size as usize
    }

    fn overlaps(&self, lo: usize, hi: usize) -> bool {
        (self.start as usize) < hi && lo < self.end()
    }
}

/// The result of reading stack bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StackRead {
    /// The value of a whole cell, with its packet relations.
    Value(Value, Relations),
    /// This byte (frame index) may be uninitialised.
    Uninit(usize),
}

/// One frame's bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StackFrame {
    init: [u64; WORDS],
    pointer_bytes: [u64; WORDS],
    cells: Vec<Cell>,
}

impl Default for StackFrame {
    fn default() -> Self {
        StackFrame::new()
    }
}

fn set_bits(bits: &mut [u64; WORDS], lo: usize, hi: usize, on: bool) {
    for byte in lo..hi {
        let (w, b) = (byte / 64, byte % 64);
        if on {
            bits[w] |= 1 << b;
        } else {
            bits[w] &= !(1 << b);
        }
    }
}

fn bit(bits: &[u64; WORDS], byte: usize) -> bool {
    bits[byte / 64] & (1 << (byte % 64)) != 0
}

impl StackFrame {
    /// Every byte uninitialised.
    pub fn new() -> StackFrame {
        StackFrame {
            init: [0; WORDS],
            pointer_bytes: [0; WORDS],
            cells: Vec::new(),
        }
    }

    /// Every byte an initialised number of unknown value (the conformance convention: stacks
    /// are zeroed at preparation and reused, so they never hold uninitialised bytes).
    pub fn initialized() -> StackFrame {
        StackFrame {
            init: [u64::MAX; WORDS],
            pointer_bytes: [0; WORDS],
            cells: Vec::new(),
        }
    }

    /// Whether the frame byte `byte` (0 = r10 - 512) is initialised.
    pub fn is_initialized(&self, byte: usize) -> bool {
        bit(&self.init, byte)
    }

    /// The initialised-bytes bitmap (for partitioning states by what they initialised).
    pub fn init_words(&self) -> &[u64] {
        &self.init
    }

    /// The cells holding known values, ordered by start.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    fn remove_overlapping(&mut self, lo: usize, hi: usize) {
        self.cells.retain(|cell| !cell.overlaps(lo, hi));
    }

    /// Stores `value` at `[start, start + size)`. Numbers and pointers are remembered exactly;
    /// other values only mark the bytes.
    pub fn write(&mut self, start: usize, size: usize, value: Value, relations: Relations) {
        let end = start + size;
        self.remove_overlapping(start, end);
        set_bits(&mut self.init, start, end, true);
        let pointer = !matches!(value.ty, ValueType::Number);
        set_bits(&mut self.pointer_bytes, start, end, pointer);
        if matches!(value.ty, ValueType::Number | ValueType::Pointer(..)) {
            let at = self
                .cells
                .partition_point(|cell| (cell.start as usize) < start);
            self.cells.insert(
                at,
                Cell {
                    start: start as u16,
                    size: size as u8,
                    value,
                    relations,
                },
            );
        }
    }

    /// A store of `size` bytes at an offset somewhere in `[lo, hi - size]`: any byte in
    /// `[lo, hi)` may have changed, none is certainly written.
    pub fn write_somewhere(&mut self, lo: usize, hi: usize, value: Value) {
        self.remove_overlapping(lo, hi);
        if !value.is_number() {
            for byte in lo..hi {
                if self.is_initialized(byte) {
                    set_bits(&mut self.pointer_bytes, byte, byte + 1, true);
                }
            }
        }
    }

    /// A helper wrote numbers to `[lo, hi)`.
    pub fn write_numbers(&mut self, lo: usize, hi: usize) {
        self.remove_overlapping(lo, hi);
        set_bits(&mut self.init, lo, hi, true);
        set_bits(&mut self.pointer_bytes, lo, hi, false);
    }

    /// Whether any byte in `[lo, hi)` may be part of a pointer.
    pub fn has_pointer_bytes(&self, lo: usize, hi: usize) -> bool {
        (lo..hi).any(|byte| bit(&self.pointer_bytes, byte))
    }

    /// The first byte in `[lo, hi)` that may be uninitialised.
    pub fn first_uninit(&self, lo: usize, hi: usize) -> Option<usize> {
        (lo..hi).find(|&byte| !self.is_initialized(byte))
    }

    /// Reads `size` bytes at `start`: the stored value when a cell matches exactly, a number
    /// assembled from known bytes, or an unknown number (`Any` if pointer bytes are involved).
    pub fn read(&self, start: usize, size: usize) -> StackRead {
        let end = start + size;
        if let Some(byte) = self.first_uninit(start, end) {
            return StackRead::Uninit(byte);
        }
        let unrelated = [super::zone::INF; 4];
        if let Some(cell) = self
            .cells
            .iter()
            .find(|cell| cell.start as usize == start && cell.size as usize == size)
        {
            return StackRead::Value(cell.value, cell.relations);
        }
        if self.has_pointer_bytes(start, end) {
            return StackRead::Value(Value::ANY, unrelated);
        }
        // A read inside one number cell: shift and mask its value.
        if let Some(cell) = self.cells.iter().find(|cell| {
            (cell.start as usize) <= start && end <= cell.end() && cell.value.is_number()
        }) {
            let shift = 8 * (start - cell.start as usize) as u64;
            let shifted = cell.value.scalar.alu(
                xbpf_isa::Width::W64,
                xbpf_isa::AluOp::Rsh,
                &Scalar::constant(shift),
            );
            return StackRead::Value(Value::number(truncate(shifted, size)), unrelated);
        }
        // Bytes of several constant cells.
        let mut bytes = [0u8; 8];
        let mut known = true;
        for (i, byte) in (start..end).enumerate() {
            match self.cells.iter().find(|cell| {
                (cell.start as usize) <= byte && byte < cell.end() && cell.value.is_number()
            }) {
                Some(cell) => match cell.value.scalar.as_constant() {
                    Some(c) => bytes[i] = (c >> (8 * (byte - cell.start as usize))) as u8,
                    None => known = false,
                },
                None => known = false,
            }
        }
        if known && size <= 8 {
            return StackRead::Value(Value::constant(u64::from_le_bytes(bytes)), unrelated);
        }
        StackRead::Value(Value::number(truncate(Scalar::TOP, size)), unrelated)
    }

    /// Reads `size` bytes at an offset somewhere in `[lo, hi - size]`.
    pub fn read_somewhere(&self, lo: usize, hi: usize, size: usize) -> StackRead {
        if let Some(byte) = self.first_uninit(lo, hi) {
            return StackRead::Uninit(byte);
        }
        let value = if self.has_pointer_bytes(lo, hi) {
            Value::ANY
        } else {
            Value::number(truncate(Scalar::TOP, size))
        };
        StackRead::Value(value, [super::zone::INF; 4])
    }

    /// Replaces the cells for which `invalid` holds by plain pointer bytes (used when what
    /// they point to dies or moves).
    pub fn invalidate(&mut self, invalid: impl Fn(&Value) -> bool) {
        self.cells.retain(|cell| !invalid(&cell.value));
    }

    /// Rewrites every cell value.
    pub fn map_values(&mut self, mut f: impl FnMut(&mut Value)) {
        for cell in &mut self.cells {
            f(&mut cell.value);
        }
    }

    /// Least upper bound.
    pub fn join(&self, other: &StackFrame) -> StackFrame {
        self.combine(other, |a, b| a.join(b))
    }

    /// Widening (cells widen their values).
    pub fn widen(
        &self,
        newer: &StackFrame,
        thresholds: &super::interval::Thresholds,
    ) -> StackFrame {
        self.combine(newer, |a, b| a.widen(b, thresholds))
    }

    fn combine(&self, other: &StackFrame, merge: impl Fn(&Value, &Value) -> Value) -> StackFrame {
        let mut init = [0; WORDS];
        let mut pointer_bytes = [0; WORDS];
        for w in 0..WORDS {
            init[w] = self.init[w] & other.init[w];
            pointer_bytes[w] = (self.pointer_bytes[w] | other.pointer_bytes[w]) & init[w];
        }
        let mut cells = Vec::with_capacity(self.cells.len().min(other.cells.len()));
        let mut j = 0;
        for cell in &self.cells {
            while j < other.cells.len() && other.cells[j].start < cell.start {
                j += 1;
            }
            if let Some(o) = other.cells.get(j)
                && o.start == cell.start
                && o.size == cell.size
            {
                let value = merge(&cell.value, &o.value);
                if value.is_numeric() {
                    let relations = core::array::from_fn(|k| cell.relations[k].max(o.relations[k]));
                    cells.push(Cell {
                        value,
                        relations,
                        ..*cell
                    });
                } else if !value.is_number() {
                    set_bits(&mut pointer_bytes, cell.start as usize, cell.end(), true);
                }
            }
        }
        for w in 0..WORDS {
            pointer_bytes[w] &= init[w];
        }
        StackFrame {
            init,
            pointer_bytes,
            cells,
        }
    }

    /// Whether every concrete frame of `self` is one of `other`.
    pub fn is_subset_of(&self, other: &StackFrame) -> bool {
        for w in 0..WORDS {
            if other.init[w] & !self.init[w] != 0 {
                return false;
            }
            if self.pointer_bytes[w] & !other.pointer_bytes[w] & other.init[w] != 0 {
                return false;
            }
        }
        other.cells.iter().all(|o| {
            self.cells.iter().any(|cell| {
                cell.start == o.start
                    && cell.size == o.size
                    && cell.value.is_subset_of(&o.value)
                    && (0..4).all(|k| cell.relations[k] <= o.relations[k])
            })
        })
    }

    /// Byte ranges and their classes, for display: (start, end, class) with class one of
    /// "number", "pointer bytes".
    pub fn initialized_runs(&self) -> Vec<(usize, usize, bool)> {
        let mut runs: Vec<(usize, usize, bool)> = Vec::new();
        for byte in 0..FRAME_BYTES {
            if !self.is_initialized(byte) {
                continue;
            }
            let pointer = bit(&self.pointer_bytes, byte);
            match runs.last_mut() {
                Some(run) if run.1 == byte && run.2 == pointer => run.1 = byte + 1,
                _ => runs.push((byte, byte + 1, pointer)),
            }
        }
        runs
    }
}

/// The value of an unsigned load of `size` bytes whose source value is `scalar`.
pub fn truncate(scalar: Scalar, size: usize) -> Scalar {
    if size >= 8 {
        return scalar;
    }
    let mask = (1u64 << (8 * size)) - 1;
    scalar.alu(
        xbpf_isa::Width::W64,
        xbpf_isa::AluOp::And,
        &Scalar::constant(mask),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Region;
    use crate::domain::zone::INF;

    const NONE: Relations = [INF; 4];

    fn value(read: StackRead) -> Value {
        match read {
            StackRead::Value(v, _) => v,
            StackRead::Uninit(byte) => panic!("byte {byte} uninitialised"),
        }
    }

    #[test]
    fn spilled_pointers_fill_back_exactly() {
        let mut frame = StackFrame::new();
        let pointer = Value::pointer(Region::Packet, 14);
        frame.write(504, 8, pointer, [-20, INF, INF, INF]);
        assert_eq!(
            frame.read(504, 8),
            StackRead::Value(pointer, [-20, INF, INF, INF])
        );
        // a partial read sees pointer bytes
        assert_eq!(value(frame.read(504, 4)).ty, ValueType::Any);
        // a partial overwrite destroys the pointer
        frame.write(504, 4, Value::constant(0), NONE);
        assert_eq!(value(frame.read(504, 8)).ty, ValueType::Any);
        assert_eq!(value(frame.read(504, 4)), Value::constant(0));
    }

    #[test]
    fn uninitialised_bytes_are_reported() {
        let mut frame = StackFrame::new();
        frame.write(500, 4, Value::constant(7), NONE);
        assert_eq!(frame.read(500, 8), StackRead::Uninit(504));
        assert_eq!(value(frame.read(500, 4)), Value::constant(7));
        assert_eq!(frame.read_somewhere(496, 504, 4), StackRead::Uninit(496));
    }

    #[test]
    fn known_bytes_assemble_into_constants() {
        let mut frame = StackFrame::new();
        frame.write(504, 4, Value::constant(0x1122_3344), NONE);
        frame.write(508, 4, Value::constant(0x5566_7788), NONE);
        assert_eq!(
            value(frame.read(504, 8)),
            Value::constant(0x5566_7788_1122_3344)
        );
        assert_eq!(value(frame.read(505, 2)), Value::constant(0x2233));
        frame.write(504, 8, Value::constant(0xaabb_ccdd_eeff_0011), NONE);
        assert_eq!(value(frame.read(510, 2)), Value::constant(0xaabb));
    }

    #[test]
    fn join_keeps_common_cells_and_marks_mixed_bytes() {
        let mut a = StackFrame::new();
        let mut b = StackFrame::new();
        a.write(504, 8, Value::constant(1), NONE);
        b.write(504, 8, Value::constant(3), NONE);
        a.write(496, 8, Value::pointer(Region::Stack(0), -8), NONE);
        b.write(496, 8, Value::constant(0), NONE);
        a.write(488, 8, Value::constant(0), NONE);
        let j = a.join(&b);
        let joined = value(j.read(504, 8));
        assert!(joined.scalar.contains(1) && joined.scalar.contains(3));
        // pointer on one side, zero on the other: a maybe-null stack pointer
        assert!(matches!(value(j.read(496, 8)).ty, ValueType::Pointer(..)));
        assert_eq!(j.read(488, 8), StackRead::Uninit(488));
        assert!(a.is_subset_of(&j) && b.is_subset_of(&j));
    }
}
