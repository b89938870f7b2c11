//! A read-only view of an object's ELF tables (sections, symbols, relocations) for
//! `xbpf disasm` and debugging.

use super::ElfError;
use super::maps::{SectionRole, role};
use super::raw::{RawObject, SymbolKind};

/// One section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Its index in the section table.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// What the loader uses it for: `program`, `maps`, `btf-maps`, `data`, `rodata`,
    /// `license`, `version` or `other`.
    pub role: &'static str,
}

/// One symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolInfo {
    /// Its index in the symbol table.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Defining section's name; `None` for undefined or absolute symbols.
    pub section: Option<String>,
    /// Its value (for symbols in a section, the offset in it).
    pub value: u64,
    /// Its size in bytes.
    pub size: u64,
    /// `notype`, `object`, `func`, `section`, `file` or `other`.
    pub kind: &'static str,
}

/// One relocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocationInfo {
    /// The section it applies to.
    pub section: String,
    /// The byte offset it patches in that section.
    pub offset: u64,
    /// `R_BPF_64_64`, `R_BPF_64_32`, ... or the number.
    pub kind: String,
    /// The name of the symbol it refers to.
    pub symbol: String,
}

/// The tables of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Every section, in table order.
    pub sections: Vec<SectionInfo>,
    /// Every symbol, in table order.
    pub symbols: Vec<SymbolInfo>,
    /// Every relocation of every relocation section.
    pub relocations: Vec<RelocationInfo>,
}

/// Reads the tables of `data` (checked like [`super::ElfObject::parse`] does).
pub fn inspect(data: &[u8]) -> Result<Inspection, ElfError> {
    let raw = RawObject::parse(data)?;
    let sections = raw
        .sections
        .iter()
        .enumerate()
        .skip(1)
        .map(|(index, s)| SectionInfo {
            index,
            name: s.name.clone(),
            size: s.size,
            role: match role(&s.name, s.sh_type, s.flags) {
                SectionRole::Program => "program",
                SectionRole::LegacyMaps => "maps",
                SectionRole::BtfMaps => "btf-maps",
                SectionRole::Data { read_only: false } => "data",
                SectionRole::Data { read_only: true } => "rodata",
                SectionRole::License => "license",
                SectionRole::Version => "version",
                SectionRole::Other => "other",
            },
        })
        .collect();
    let symbols = raw
        .symbols
        .iter()
        .enumerate()
        .skip(1)
        .map(|(index, s)| SymbolInfo {
            index,
            name: s.name.clone(),
            section: s.section.map(|i| raw.section_name(i).to_owned()),
            value: s.value,
            size: s.size,
            kind: match s.kind {
                SymbolKind::NoType => "notype",
                SymbolKind::Object => "object",
                SymbolKind::Func => "func",
                SymbolKind::Section => "section",
                SymbolKind::File => "file",
                SymbolKind::Other => "other",
            },
        })
        .collect();
    let mut relocations = Vec::new();
    for (index, relocs) in raw.relocations.iter().enumerate() {
        for reloc in relocs {
            relocations.push(RelocationInfo {
                section: raw.section_name(index).to_owned(),
                offset: reloc.offset,
                kind: match reloc.r_type {
                    0 => "R_BPF_NONE".into(),
                    1 => "R_BPF_64_64".into(),
                    2 => "R_BPF_64_ABS64".into(),
                    3 => "R_BPF_64_ABS32".into(),
                    4 => "R_BPF_64_NODYLD32".into(),
                    10 => "R_BPF_64_32".into(),
                    other => other.to_string(),
                },
                symbol: raw
                    .symbols
                    .get(reloc.symbol)
                    .map_or_else(String::new, |s| s.name.clone()),
            });
        }
    }
    Ok(Inspection {
        sections,
        symbols,
        relocations,
    })
}
