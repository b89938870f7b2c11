//! The parts of BTF (the BPF Type Format, `.BTF` section) a loader needs: the type graph, to read
//! BTF-defined map definitions (`__uint`, `__type`, `__array` members of the structs in `.maps`)
//! and the sizes of global variables, and the string table, which `.BTF.ext` line info uses.
//!
//! Written here rather than taken from a crate: the BTF crates on crates.io parse kernel BTF
//! (vmlinux) and none reads `.BTF.ext`, while what a loader needs is a few hundred lines.

use super::bytes::{OutOfBounds, c_str_at, slice, u16_at, u32_at};

/// BTF magic number (`0xeB9F`, little-endian).
const MAGIC: u16 = 0xeb9f;
/// Longest chain of modifiers/typedefs/arrays followed before giving up (cycles are malformed).
const MAX_RESOLVE_DEPTH: usize = 32;

/// A BTF parse failure: what is wrong and at which byte offset of the section.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset:#x}: {message}")]
pub struct BtfError {
    pub offset: usize,
    pub message: String,
}

impl BtfError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        BtfError {
            offset,
            message: message.into(),
        }
    }

    fn bounds(base: usize, error: OutOfBounds, what: &str) -> Self {
        BtfError::new(
            base.saturating_add(error.offset),
            format!(
                "{what} is truncated (needs {} bytes, {} remain)",
                error.needed,
                error.len.saturating_sub(error.offset)
            ),
        )
    }
}

/// The kind of a BTF type (`BTF_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    fn from_code(code: u32) -> Option<Kind> {
        Some(match code {
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            _ => return None,
        })
    }
}

/// A struct or union member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub type_id: u32,
    /// Offset in bits (bitfield encoding when the struct's kind flag is set: low 24 bits).
    pub bit_offset: u32,
}

/// A variable in a data section (`DATASEC` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionVar {
    pub type_id: u32,
    pub offset: u32,
    pub size: u32,
}

/// One BTF type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    pub name_off: u32,
    pub kind: Kind,
    pub kind_flag: bool,
    /// `size` for sized kinds (int, struct, union, enum, datasec, float), else a type id.
    pub size_or_type: u32,
    pub detail: Detail,
}

/// Kind-specific data that follows a type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    None,
    Array { elem: u32, nelems: u32 },
    Members(Vec<Member>),
    Vars(Vec<SectionVar>),
}

/// A parsed `.BTF` section.
#[derive(Clone, Debug, Default)]
pub struct Btf {
    /// Index = type id; id 0 is `void`.
    types: Vec<Type>,
    strings: Vec<u8>,
}

impl Btf {
    /// Parses a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let header = |offset| u32_at(data, offset).map_err(|e| BtfError::bounds(0, e, "header"));
        let magic = u16_at(data, 0).map_err(|e| BtfError::bounds(0, e, "header"))?;
        if magic != MAGIC {
            return Err(BtfError::new(
                0,
                format!(
                    "bad magic {magic:#06x} (expected {MAGIC:#06x}; big-endian BTF is not supported)"
                ),
            ));
        }
        let header_len = header(4)? as usize;
        let type_off = header(8)? as usize;
        let type_len = header(12)? as usize;
        let str_off = header(16)? as usize;
        let str_len = header(20)? as usize;
        let types_start = header_len.saturating_add(type_off);
        let type_data = slice(data, types_start, type_len)
            .map_err(|e| BtfError::bounds(0, e, "type section"))?;
        let strings_start = header_len.saturating_add(str_off);
        let strings = slice(data, strings_start, str_len)
            .map_err(|e| BtfError::bounds(0, e, "string section"))?
            .to_vec();
        let mut types = vec![Type {
            name_off: 0,
            kind: Kind::Void,
            kind_flag: false,
            size_or_type: 0,
            detail: Detail::None,
        }];
        let mut offset = 0;
        while offset < type_data.len() {
            let (ty, len) = parse_type(type_data, offset).map_err(|mut e| {
                e.offset = e.offset.saturating_add(types_start);
                e
            })?;
            types.push(ty);
            offset += len;
        }
        Ok(Btf { types, strings })
    }

    /// The type with this id.
    pub fn get(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// The string at `offset` in the string table.
    pub fn string(&self, offset: u32) -> Option<&str> {
        c_str_at(&self.strings, offset as usize).and_then(|bytes| std::str::from_utf8(bytes).ok())
    }

    /// The name of type `id` (empty for anonymous types).
    pub fn name(&self, id: u32) -> &str {
        self.get(id)
            .and_then(|ty| self.string(ty.name_off))
            .unwrap_or("")
    }

    /// Follows typedefs, modifiers (const, volatile, restrict, type tags) from `id` to the
    /// underlying type.
    pub fn skip_modifiers(&self, mut id: u32) -> Result<u32, String> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let ty = self
                .get(id)
                .ok_or_else(|| format!("type id {id} does not exist"))?;
            match ty.kind {
                Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
                    id = ty.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(format!("type id {id}: modifier chain too long (a cycle?)"))
    }

    /// The size in bytes of type `id`.
    pub fn size_of(&self, id: u32) -> Result<u64, String> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: usize) -> Result<u64, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(format!("type id {id}: type nesting too deep (a cycle?)"));
        }
        let id = self.skip_modifiers(id)?;
        let ty = self
            .get(id)
            .ok_or_else(|| format!("type id {id} does not exist"))?;
        match (&ty.kind, &ty.detail) {
            (Kind::Ptr, _) => Ok(8),
            (Kind::Array, Detail::Array { elem, nelems }) => self
                .size_of_depth(*elem, depth + 1)?
                .checked_mul(u64::from(*nelems))
                .ok_or_else(|| format!("type id {id}: array size overflows")),
            (
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Datasec
                | Kind::Float,
                _,
            ) => Ok(u64::from(ty.size_or_type)),
            (Kind::Var, _) => self.size_of_depth(ty.size_or_type, depth + 1),
            (kind, _) => Err(format!("type id {id} ({kind:?}) has no size")),
        }
    }

    /// The `DATASEC` named `name`.
    pub fn datasec(&self, name: &str) -> Option<&[SectionVar]> {
        self.types.iter().find_map(|ty| match &ty.detail {
            Detail::Vars(vars)
                if ty.kind == Kind::Datasec && self.string(ty.name_off) == Some(name) =>
            {
                Some(vars.as_slice())
            }
            _ => None,
        })
    }
}

fn parse_type(data: &[u8], offset: usize) -> Result<(Type, usize), BtfError> {
    let word = |at: usize| {
        u32_at(data, offset.saturating_add(at)).map_err(|e| BtfError::bounds(0, e, "type"))
    };
    let name_off = word(0)?;
    let info = word(4)?;
    let size_or_type = word(8)?;
    let vlen = (info & 0xffff) as usize;
    let kind_code = (info >> 24) & 0x1f;
    let kind_flag = info >> 31 == 1;
    let kind = Kind::from_code(kind_code)
        .ok_or_else(|| BtfError::new(offset, format!("unknown type kind {kind_code}")))?;
    let base = 12;
    let records = |record: usize| -> Result<usize, BtfError> {
        let len = vlen.saturating_mul(record);
        slice(data, offset.saturating_add(base), len)
            .map_err(|e| BtfError::bounds(0, e, "type members"))?;
        Ok(len)
    };
    let (detail, extra) = match kind {
        Kind::Int | Kind::Var | Kind::DeclTag => {
            word(base)?;
            (Detail::None, 4)
        }
        Kind::Array => (
            Detail::Array {
                elem: word(base)?,
                nelems: word(base + 8)?,
            },
            12,
        ),
        Kind::Struct | Kind::Union => {
            let len = records(12)?;
            let mut members = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let at = base + i * 12;
                members.push(Member {
                    name_off: word(at)?,
                    type_id: word(at + 4)?,
                    bit_offset: word(at + 8)?,
                });
            }
            (Detail::Members(members), len)
        }
        Kind::Datasec => {
            let len = records(12)?;
            let mut vars = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let at = base + i * 12;
                vars.push(SectionVar {
                    type_id: word(at)?,
                    offset: word(at + 4)?,
                    size: word(at + 8)?,
                });
            }
            (Detail::Vars(vars), len)
        }
        Kind::Enum | Kind::FuncProto => (Detail::None, records(8)?),
        Kind::Enum64 => (Detail::None, records(12)?),
        Kind::Void
        | Kind::Ptr
        | Kind::Fwd
        | Kind::Typedef
        | Kind::Volatile
        | Kind::Const
        | Kind::Restrict
        | Kind::Func
        | Kind::Float
        | Kind::TypeTag => (Detail::None, 0),
    };
    Ok((
        Type {
            name_off,
            kind,
            kind_flag,
            size_or_type,
            detail,
        },
        base + extra,
    ))
}

/// Builds BTF sections in tests.
#[cfg(test)]
pub(crate) mod build {
    /// A BTF blob from raw type records and a string table.
    pub fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let type_len = (types.len() * 4) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for word in [24, 0, type_len, type_len, strings.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in types {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    pub fn info(kind: u32, vlen: u32) -> u32 {
        (kind << 24) | vlen
    }
}

#[cfg(test)]
mod tests {
    use super::build::{blob, info};
    use super::*;

    #[test]
    fn parses_types_and_sizes() {
        // 1: int (4 bytes); 2: array of 3 ints; 3: ptr to 2; 4: typedef "t" of 2; 5: const 4
        let data = blob(
            &[
                1,
                info(1, 0),
                4,
                32, //
                0,
                info(3, 0),
                0,
                1,
                1,
                3, //
                0,
                info(2, 0),
                2, //
                5,
                info(8, 0),
                2, //
                0,
                info(10, 0),
                4,
            ],
            b"\0int\0t\0",
        );
        let btf = Btf::parse(&data).unwrap();
        assert_eq!(btf.name(1), "int");
        assert_eq!(btf.name(4), "t");
        assert_eq!(btf.size_of(2), Ok(12));
        assert_eq!(btf.size_of(3), Ok(8));
        assert_eq!(btf.size_of(5), Ok(12));
        assert_eq!(btf.skip_modifiers(5), Ok(2));
        assert!(btf.size_of(9).is_err());
    }

    #[test]
    fn truncated_and_cyclic_types_are_errors() {
        let data = blob(&[1, info(4, 3), 8], b"\0x\0");
        let error = Btf::parse(&data).unwrap_err();
        assert!(error.message.contains("truncated"), "{error}");
        // typedef 1 -> typedef 1
        let data = blob(&[0, info(8, 0), 1], b"\0");
        let btf = Btf::parse(&data).unwrap();
        assert!(btf.size_of(1).unwrap_err().contains("cycle"));
        assert!(Btf::parse(b"\x9f\xeb").is_err());
        assert!(
            Btf::parse(&[0u8; 24])
                .unwrap_err()
                .message
                .contains("magic")
        );
    }
}
