//! Why an ELF object cannot be loaded: what is wrong and where (section and byte offset).

use std::fmt;

/// Where in the object a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (header, section table).
    File,
    /// A section, by name and index.
    Section { name: String, index: usize },
    /// A byte offset inside a section.
    Offset {
        section: String,
        index: usize,
        offset: u64,
    },
    /// A symbol of the symbol table.
    Symbol { name: String, index: usize },
    /// A relocation entry of a relocation section.
    Relocation {
        section: String,
        entry: usize,
        offset: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("ELF file"),
            Location::Section { name, index } => write!(f, "section `{name}` (#{index})"),
            Location::Offset {
                section,
                index,
                offset,
            } => write!(f, "section `{section}` (#{index}), offset {offset:#x}"),
            Location::Symbol { name, index } => write!(f, "symbol `{name}` (#{index})"),
            Location::Relocation {
                section,
                entry,
                offset,
            } => write!(
                f,
                "relocation #{entry} of `{section}` (at offset {offset:#x})"
            ),
        }
    }
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfErrorKind {
    #[error("malformed ELF: {0}")]
    Malformed(String),
    #[error("not a 64-bit little-endian ELF object")]
    NotElf64Le,
    #[error("machine is {0}, not BPF (247)")]
    NotBpf(u16),
    #[error("entry size is {found}, expected {expected}")]
    BadEntrySize { expected: u64, found: u64 },
    #[error("the object has no symbol table")]
    NoSymbolTable,
    #[error("refers to section #{0}, which does not exist")]
    NoSuchSection(usize),
    #[error("refers to symbol #{0}, which does not exist")]
    NoSuchSymbol(usize),
    #[error("name is not valid: {0}")]
    BadName(String),
    #[error("{what} is truncated: needs {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("program section size {0} is not a multiple of 8")]
    PartialInstruction(u64),
    #[error(
        "function `{name}` spans [{start:#x}, {end:#x}), outside the section or not on instruction boundaries"
    )]
    BadFunctionBounds { name: String, start: u64, end: u64 },
    #[error("relocation type {0} is not supported here")]
    UnsupportedRelocation(u32),
    #[error(
        "relocation applies to a `{what}` instruction (opcode {opcode:#04x}), expected {expected}"
    )]
    RelocationMismatch {
        what: &'static str,
        opcode: u8,
        expected: &'static str,
    },
    #[error("undefined symbol `{0}` (externs and kernel functions cannot be resolved)")]
    UndefinedSymbol(String),
    #[error("symbol `{name}` is in section `{section}`, which holds no maps, data or code")]
    UnrelocatableTarget { name: String, section: String },
    #[error("no map is defined at offset {offset:#x} of `{section}`")]
    NoMapAtOffset { section: String, offset: u64 },
    #[error("offset {offset:#x} is outside data section `{section}` ({size} bytes)")]
    DataOffsetOutOfRange {
        section: String,
        offset: i64,
        size: u64,
    },
    #[error("call or code reference to instruction {target} of `{section}`, which is {problem}")]
    BadCodeTarget {
        section: String,
        target: i64,
        problem: &'static str,
    },
    #[error("map definition: {0}")]
    MapDefinition(String),
    #[error("BTF: {0}")]
    Btf(String),
    #[error("BTF.ext: {0}")]
    BtfExt(String),
    #[error("program is larger than {0} instructions after linking its subprograms")]
    ProgramTooLarge(usize),
    #[error("license is not NUL-terminated text")]
    BadLicense,
    #[error("version section must be 4 bytes, is {0}")]
    BadVersion(u64),
}

/// An ELF object that cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct ElfError {
    pub location: Location,
    pub kind: ElfErrorKind,
}

impl ElfError {
    pub fn new(location: Location, kind: ElfErrorKind) -> Self {
        ElfError { location, kind }
    }

    pub fn file(kind: ElfErrorKind) -> Self {
        ElfError::new(Location::File, kind)
    }
}
