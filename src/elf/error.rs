//! Why an ELF object cannot be loaded: what is wrong and where (section and byte offset).

use std::fmt;

/// Where in the object a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (header, section table).
    File,
    /// A section, by name and index.
    Section {
        /// The section's name.
        name: String,
        /// Its index in the section table.
        index: usize,
    },
    /// A byte offset inside a section.
    Offset {
        /// The section's name.
        section: String,
        /// Its index in the section table.
        index: usize,
        /// The byte offset from the section's start.
        offset: u64,
    },
    /// A symbol of the symbol table.
    Symbol {
        /// The symbol's name.
        name: String,
        /// Its index in the symbol table.
        index: usize,
    },
    /// A relocation entry of a relocation section.
    Relocation {
        /// The relocation section's name.
        section: String,
        /// The entry's index in it.
        entry: usize,
        /// The offset the entry relocates, in the section it applies to.
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
    /// The ELF structure itself is broken; what the parser found.
    #[error("malformed ELF: {0}")]
    Malformed(String),
    /// Not a 64-bit little-endian ELF file.
    #[error("not a 64-bit little-endian ELF object")]
    NotElf64Le,
    /// An ELF file for another machine; its `e_machine`.
    #[error("machine is {0}, not BPF (247)")]
    NotBpf(u16),
    /// A table section (symbols, relocations) with the wrong entry size.
    #[error("entry size is {found}, expected {expected}")]
    BadEntrySize {
        /// The entry size of the table's type.
        expected: u64,
        /// The size the section header gives.
        found: u64,
    },
    /// No `.symtab`: programs and maps cannot be found without it.
    #[error("the object has no symbol table")]
    NoSymbolTable,
    /// A reference to a section index beyond the section table.
    #[error("refers to section #{0}, which does not exist")]
    NoSuchSection(usize),
    /// A reference to a symbol index beyond the symbol table.
    #[error("refers to symbol #{0}, which does not exist")]
    NoSuchSymbol(usize),
    /// A name that is not valid UTF-8 text or not terminated; why.
    #[error("name is not valid: {0}")]
    BadName(String),
    /// Data shorter than its structure needs.
    #[error("{what} is truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// The bytes it needs.
        needed: u64,
        /// The bytes there are.
        available: u64,
    },
    /// A program section whose size is not a whole number of instructions.
    #[error("program section size {0} is not a multiple of 8")]
    PartialInstruction(u64),
    /// A function symbol that does not cover whole instructions inside its section.
    #[error(
        "function `{name}` spans [{start:#x}, {end:#x}), outside the section or not on instruction boundaries"
    )]
    BadFunctionBounds {
        /// The function symbol.
        name: String,
        /// Its first byte in the section.
        start: u64,
        /// The byte after its last.
        end: u64,
    },
    /// A relocation type the loader does not apply (in this kind of section).
    #[error("relocation type {0} is not supported here")]
    UnsupportedRelocation(u32),
    /// A relocation applied to an instruction it cannot patch.
    #[error(
        "relocation applies to a `{what}` instruction (opcode {opcode:#04x}), expected {expected}"
    )]
    RelocationMismatch {
        /// The instruction found (`call`, `ldx`, ...).
        what: &'static str,
        /// Its opcode.
        opcode: u8,
        /// The instructions the relocation may apply to.
        expected: &'static str,
    },
    /// A reference to a symbol the object does not define.
    #[error("undefined symbol `{0}` (externs and kernel functions cannot be resolved)")]
    UndefinedSymbol(String),
    /// A relocation to a symbol in a section that holds nothing a program can refer to.
    #[error("symbol `{name}` is in section `{section}`, which holds no maps, data or code")]
    UnrelocatableTarget {
        /// The symbol.
        name: String,
        /// Its section.
        section: String,
    },
    /// A map reference to an offset of a maps section where no map starts.
    #[error("no map is defined at offset {offset:#x} of `{section}`")]
    NoMapAtOffset {
        /// The maps section.
        section: String,
        /// The offset referred to.
        offset: u64,
    },
    /// A global-variable reference outside its data section.
    #[error("offset {offset:#x} is outside data section `{section}` ({size} bytes)")]
    DataOffsetOutOfRange {
        /// The data section.
        section: String,
        /// The offset referred to.
        offset: i64,
        /// The section's size.
        size: u64,
    },
    /// A call or code reference to an instruction that cannot be a target.
    #[error("call or code reference to instruction {target} of `{section}`, which is {problem}")]
    BadCodeTarget {
        /// The code section.
        section: String,
        /// The instruction index referred to.
        target: i64,
        /// What is wrong with it (outside the section, the middle of an `lddw`, ...).
        problem: &'static str,
    },
    /// A map definition the loader cannot use; why.
    #[error("map definition: {0}")]
    MapDefinition(String),
    /// The `.BTF` section does not parse; why.
    #[error("BTF: {0}")]
    Btf(String),
    /// The `.BTF.ext` section does not parse; why.
    #[error("BTF.ext: {0}")]
    BtfExt(String),
    /// A program that exceeds the instruction limit once its subprograms are appended.
    #[error("program is larger than {0} instructions after linking its subprograms")]
    ProgramTooLarge(usize),
    /// A `license` section that is not NUL-terminated text.
    #[error("license is not NUL-terminated text")]
    BadLicense,
    /// A `version` section that is not 4 bytes; its size.
    #[error("version section must be 4 bytes, is {0}")]
    BadVersion(u64),
}

/// An ELF object that cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct ElfError {
    /// Where the problem is.
    pub location: Location,
    /// What it is.
    pub kind: ElfErrorKind,
}

impl ElfError {
    /// The error `kind` at `location`.
    pub fn new(location: Location, kind: ElfErrorKind) -> Self {
        ElfError { location, kind }
    }

    /// The error `kind` about the file as a whole.
    pub fn file(kind: ElfErrorKind) -> Self {
        ElfError::new(Location::File, kind)
    }
}
