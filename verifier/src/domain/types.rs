//! What a register (or spilled stack slot) holds: its type, and a scalar that is the value of a
//! number or the offset of a pointer within its region.

use super::interval::{Scalar, Thresholds};
use core::fmt;

/// Index of a map descriptor in the verifier's map table (outer maps first, then the inner
/// maps of map-in-map descriptors).
pub type MapId = u32;

/// A memory region a pointer points into. Offsets are relative to the region's start, except
/// for the packet, whose pointers all measure from the packet data start: packet-meta pointers
/// have negative offsets and the packet end is a pointer at offset "packet length".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// The program's context (r1 at entry).
    Ctx,
    /// The stack frame of the function at this call depth (0 = the entry function); offsets
    /// are relative to that frame's r10, so valid bytes are at -512..0.
    Stack(u8),
    /// Packet data: valid bytes at 0..packet_end.
    Packet,
    /// Packet metadata: valid bytes at packet_meta..0.
    PacketMeta,
    /// The packet end: compared against, never dereferenced.
    PacketEnd,
    /// A value of a map.
    MapValue(MapId),
    /// A map object (what `lddw` with a map pseudo-source loads): passed to helpers only.
    Map(MapId),
    /// Memory a helper returned, of a fixed size (ring buffer records, say).
    Buffer(u32),
}

impl Region {
    /// Packet pointers of every kind share one coordinate system and compare with each other.
    pub fn family(self) -> Region {
        match self {
            Region::PacketMeta | Region::PacketEnd => Region::Packet,
            other => other,
        }
    }

    /// Whether the host can see what is written there (so pointers must not be stored).
    pub fn host_visible(self) -> bool {
        !matches!(self, Region::Stack(_))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Ctx => write!(f, "ctx"),
            Region::Stack(depth) => write!(f, "stack{depth}"),
            Region::Packet => write!(f, "packet"),
            Region::PacketMeta => write!(f, "packet_meta"),
            Region::PacketEnd => write!(f, "packet_end"),
            Region::MapValue(map) => write!(f, "map_value#{map}"),
            Region::Map(map) => write!(f, "map#{map}"),
            Region::Buffer(size) => write!(f, "buffer[{size}]"),
        }
    }
}

/// Whether a pointer may be null. A maybe-null pointer carries the pc of the call that produced
/// it (0 when copies from different origins were merged): every value carrying the same id is
/// the same pointer, so a null check on one refines all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nullness {
    /// Never null.
    NonNull,
    /// Null or a valid pointer; the id of the pointer (see above).
    MaybeNull(u32),
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Never written: reading it is an error.
    Uninit,
    /// A number.
    Number,
    /// Initialised, but a number on some paths and a pointer on others (or bytes of a pointer).
    Any,
    /// A pointer into a region.
    Pointer(Region, Nullness),
}

/// A typed abstract value: `scalar` is the number for `Number` and the offset for pointers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value {
    /// What the value is.
    pub ty: ValueType,
    /// The number (for `Number`) or the offset into the region (for pointers).
    pub scalar: Scalar,
    /// For numbers: values with the same non-zero id are copies of one value (a register and
    /// its spill, say), so a bound learnt on one holds for all. Ids are created at spills
    /// (from the pc) after every older holder of the id has dropped it.
    pub id: u32,
}

impl Value {
    /// A register or stack byte never written.
    pub const UNINIT: Value = Value {
        id: 0,
        ty: ValueType::Uninit,
        scalar: Scalar::TOP,
    };

    /// Something initialised, of unknown type.
    pub const ANY: Value = Value {
        id: 0,
        ty: ValueType::Any,
        scalar: Scalar::TOP,
    };

    /// An unknown number.
    pub const NUMBER: Value = Value {
        id: 0,
        ty: ValueType::Number,
        scalar: Scalar::TOP,
    };

    /// A number described by `scalar`.
    pub fn number(scalar: Scalar) -> Value {
        Value {
            id: 0,
            ty: ValueType::Number,
            scalar,
        }
    }

    /// The number `value`.
    pub fn constant(value: u64) -> Value {
        Value::number(Scalar::constant(value))
    }

    /// A non-null pointer at a constant offset.
    pub fn pointer(region: Region, offset: i64) -> Value {
        Value {
            id: 0,
            ty: ValueType::Pointer(region, Nullness::NonNull),
            scalar: Scalar::constant(offset as u64),
        }
    }

    /// Whether the value is a number.
    pub fn is_number(&self) -> bool {
        self.ty == ValueType::Number
    }

    /// Whether the value was written.
    pub fn is_initialized(&self) -> bool {
        self.ty != ValueType::Uninit
    }

    /// Whether the scalar means something the zone can relate (a number or an offset).
    pub fn is_numeric(&self) -> bool {
        matches!(self.ty, ValueType::Number | ValueType::Pointer(..))
    }

    /// The region a pointer points into (`None` for other values).
    pub fn region(&self) -> Option<Region> {
        match self.ty {
            ValueType::Pointer(region, _) => Some(region),
            _ => None,
        }
    }

    /// Whether this is the number zero (a null pointer constant).
    pub fn is_zero(&self) -> bool {
        self.is_number() && self.scalar.as_constant() == Some(0)
    }

    /// The least value describing both.
    pub fn join(&self, other: &Value) -> Value {
        use ValueType::*;
        match (self.ty, other.ty) {
            (Uninit, _) | (_, Uninit) => Value::UNINIT,
            (Number, Number) => Value {
                id: if self.id == other.id { self.id } else { 0 },
                ty: Number,
                scalar: self.scalar.join(&other.scalar),
            },
            (Pointer(ra, na), Pointer(rb, nb)) if ra == rb => Value {
                id: 0,
                ty: Pointer(ra, join_nullness(na, nb)),
                scalar: self.scalar.join(&other.scalar),
            },
            (Pointer(region, nullness), Number) if other.is_zero() => Value {
                id: 0,
                ty: Pointer(region, join_nullness(nullness, Nullness::MaybeNull(0))),
                scalar: self.scalar,
            },
            (Number, Pointer(..)) if self.is_zero() => other.join(self),
            _ => Value::ANY,
        }
    }

    /// Widening: types join (a finite lattice), scalars widen.
    pub fn widen(&self, newer: &Value, thresholds: &Thresholds) -> Value {
        let joined = self.join(newer);
        if joined.ty == self.ty && self.is_numeric() {
            Value {
                id: joined.id,
                ty: joined.ty,
                scalar: self.scalar.widen(&newer.scalar, thresholds),
            }
        } else {
            joined
        }
    }

    /// Whether every concrete value of `self` is one of `other`.
    pub fn is_subset_of(&self, other: &Value) -> bool {
        use ValueType::*;
        if other.id != 0 && self.id != other.id && other.is_number() {
            return false;
        }
        match (self.ty, other.ty) {
            (_, Uninit) => true,
            (Uninit, _) => false,
            (_, Any) => true,
            (Any, _) => false,
            (Number, Number) => self.scalar.is_subset_of(&other.scalar),
            (Pointer(ra, na), Pointer(rb, nb)) => {
                ra == rb && nullness_subset(na, nb) && self.scalar.is_subset_of(&other.scalar)
            }
            (Number, Pointer(_, Nullness::MaybeNull(_))) => self.is_zero(),
            _ => false,
        }
    }
}

fn join_nullness(a: Nullness, b: Nullness) -> Nullness {
    match (a, b) {
        (Nullness::NonNull, Nullness::NonNull) => Nullness::NonNull,
        (Nullness::MaybeNull(x), Nullness::MaybeNull(y)) if x == y => Nullness::MaybeNull(x),
        (Nullness::MaybeNull(x), Nullness::NonNull)
        | (Nullness::NonNull, Nullness::MaybeNull(x)) => Nullness::MaybeNull(x),
        _ => Nullness::MaybeNull(0),
    }
}

fn nullness_subset(a: Nullness, b: Nullness) -> bool {
    match (a, b) {
        (_, Nullness::MaybeNull(0)) => true,
        (Nullness::NonNull, _) => true,
        (Nullness::MaybeNull(x), Nullness::MaybeNull(y)) => x == y,
        (Nullness::MaybeNull(_), Nullness::NonNull) => false,
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            ValueType::Uninit => write!(f, "uninit"),
            ValueType::Any => write!(f, "any (number or pointer)"),
            ValueType::Number => write!(f, "number {}", self.scalar),
            ValueType::Pointer(region, nullness) => {
                let null = match nullness {
                    Nullness::NonNull => "",
                    Nullness::MaybeNull(_) => "_or_null",
                };
                match region {
                    Region::Map(_) => write!(f, "{region}{null}"),
                    _ => write!(f, "{region}{null} + {}", self.scalar),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_follow_the_type_lattice() {
        let stack = Value::pointer(Region::Stack(0), -8);
        let map = Value::pointer(Region::MapValue(0), 0);
        assert_eq!(stack.join(&Value::constant(3)).ty, ValueType::Any);
        assert_eq!(stack.join(&map).ty, ValueType::Any);
        assert_eq!(stack.join(&Value::UNINIT).ty, ValueType::Uninit);
        let nullable = map.join(&Value::constant(0));
        assert_eq!(
            nullable.ty,
            ValueType::Pointer(Region::MapValue(0), Nullness::MaybeNull(0))
        );
        assert!(Value::constant(0).is_subset_of(&nullable));
        assert!(map.is_subset_of(&nullable));
        assert!(!nullable.is_subset_of(&map));
        let a = Value {
            id: 0,
            ty: ValueType::Pointer(Region::MapValue(0), Nullness::MaybeNull(7)),
            scalar: Scalar::constant(0),
        };
        let b = Value {
            id: 0,
            ty: ValueType::Pointer(Region::MapValue(0), Nullness::MaybeNull(9)),
            scalar: Scalar::constant(0),
        };
        assert_eq!(
            a.join(&b).ty,
            ValueType::Pointer(Region::MapValue(0), Nullness::MaybeNull(0)),
            "different origins cannot be refined together"
        );
    }
}
