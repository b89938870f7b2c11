//! The ELF layer: sections, symbols and relocations read with the `object` crate's low-level
//! ELF API and checked for consistency (every index in range, every entry size right), so the
//! rest of the loader works on plain, trusted tables.

use super::error::{ElfError, ElfErrorKind, Location};
use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym};

/// Size of an `Elf64_Sym`.
const SYM_SIZE: u64 = 24;
/// Size of an `Elf64_Rel`.
const REL_SIZE: u64 = 16;

/// One section.
#[derive(Clone, Debug)]
pub struct RawSection<'a> {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    /// Size from the header (for `NOBITS` sections there is no data behind it).
    pub size: u64,
    /// The bytes (empty for `NOBITS`).
    pub data: &'a [u8],
}

impl RawSection<'_> {
    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS.0
    }
}

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    NoType,
    Object,
    Func,
    Section,
    File,
    Other,
}

/// One symbol.
#[derive(Clone, Debug)]
pub struct RawSymbol {
    pub name: String,
    /// Defining section; `None` for undefined, absolute and common symbols.
    pub section: Option<usize>,
    pub undefined: bool,
    pub value: u64,
    pub size: u64,
    pub kind: SymbolKind,
}

/// One relocation entry (`Elf64_Rel`).
#[derive(Clone, Debug)]
pub struct RawReloc {
    /// Name of the relocation section, for messages.
    pub reloc_section: String,
    /// Index of the entry in its section.
    pub entry: usize,
    /// Byte offset in the target section.
    pub offset: u64,
    pub r_type: u32,
    pub symbol: usize,
}

impl RawReloc {
    pub fn location(&self) -> Location {
        Location::Relocation {
            section: self.reloc_section.clone(),
            entry: self.entry,
            offset: self.offset,
        }
    }
}

/// The checked tables of an object.
#[derive(Clone, Debug)]
pub struct RawObject<'a> {
    /// By ELF section index (0 is the null section).
    pub sections: Vec<RawSection<'a>>,
    /// By symbol index (0 is the null symbol).
    pub symbols: Vec<RawSymbol>,
    /// Relocations by the index of the section they apply to.
    pub relocations: Vec<Vec<RawReloc>>,
}

impl<'a> RawObject<'a> {
    pub fn section_location(&self, index: usize) -> Location {
        Location::Section {
            name: self.section_name(index).to_owned(),
            index,
        }
    }

    pub fn offset_location(&self, index: usize, offset: u64) -> Location {
        Location::Offset {
            section: self.section_name(index).to_owned(),
            index,
            offset,
        }
    }

    pub fn section_name(&self, index: usize) -> &str {
        self.sections.get(index).map_or("?", |s| s.name.as_str())
    }

    /// Parses and checks the ELF structure of `data`.
    pub fn parse(data: &'a [u8]) -> Result<RawObject<'a>, ElfError> {
        let malformed =
            |e: object::read::Error| ElfError::file(ElfErrorKind::Malformed(e.to_string()));
        let header = elf::FileHeader64::<LE>::parse(data).map_err(malformed)?;
        if !header.is_class_64() || !header.is_little_endian() {
            return Err(ElfError::file(ElfErrorKind::NotElf64Le));
        }
        let endian = LE;
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF {
            return Err(ElfError::file(ElfErrorKind::NotBpf(machine.0)));
        }
        let table = header.sections(endian, data).map_err(malformed)?;
        let mut sections = Vec::with_capacity(table.len());
        for (index, section) in table.enumerate() {
            // A name outside the string table is not fatal (objects Linux loads have them); the
            // section is then only usable by index, and no role depends on it.
            let name = table.section_name(endian, section).map_or_else(
                |_| format!("<section #{}>", index.0),
                |name| String::from_utf8_lossy(name).into_owned(),
            );
            let sh_type = section.sh_type(endian);
            let bytes = if sh_type == elf::SHT_NOBITS || index.0 == 0 {
                &[][..]
            } else {
                section.data(endian, data).map_err(|e| {
                    ElfError::new(
                        Location::Section {
                            name: name.clone(),
                            index: index.0,
                        },
                        ElfErrorKind::Malformed(e.to_string()),
                    )
                })?
            };
            sections.push(RawSection {
                name,
                sh_type: sh_type.0,
                flags: section.sh_flags(endian).0,
                size: section.sh_size(endian),
                data: bytes,
            });
        }
        let mut raw = RawObject {
            sections,
            symbols: Vec::new(),
            relocations: Vec::new(),
        };
        let symtab_index = raw
            .sections
            .iter()
            .position(|s| s.sh_type == elf::SHT_SYMTAB.0)
            .ok_or_else(|| ElfError::file(ElfErrorKind::NoSymbolTable))?;
        raw.symbols = raw.parse_symbols(&table, symtab_index, data)?;
        raw.relocations = raw.parse_relocations(&table, symtab_index)?;
        Ok(raw)
    }

    fn parse_symbols(
        &self,
        table: &object::read::elf::SectionTable<'a, elf::FileHeader64<LE>, &'a [u8]>,
        symtab_index: usize,
        data: &'a [u8],
    ) -> Result<Vec<RawSymbol>, ElfError> {
        let endian = LE;
        let location = || self.section_location(symtab_index);
        let header = table
            .section(object::SectionIndex(symtab_index))
            .map_err(|e| ElfError::new(location(), ElfErrorKind::Malformed(e.to_string())))?;
        let entsize = header.sh_entsize(endian);
        if entsize != SYM_SIZE {
            return Err(ElfError::new(
                location(),
                ElfErrorKind::BadEntrySize {
                    expected: SYM_SIZE,
                    found: entsize,
                },
            ));
        }
        let symtab = object::read::elf::SymbolTable::parse(
            endian,
            data,
            table,
            object::SectionIndex(symtab_index),
            header,
        )
        .map_err(|e| ElfError::new(location(), ElfErrorKind::Malformed(e.to_string())))?;
        let mut symbols = Vec::with_capacity(symtab.len());
        for (index, symbol) in symtab.enumerate() {
            let name = symtab.symbol_name(endian, symbol).map_or_else(
                |_| format!("<symbol #{}>", index.0),
                |name| String::from_utf8_lossy(name).into_owned(),
            );
            let shndx = symbol.st_shndx(endian);
            let (section, undefined) = if shndx == elf::SHN_UNDEF {
                (None, true)
            } else if shndx == elf::SHN_ABS {
                (None, false)
            } else if shndx == elf::SHN_COMMON || shndx.is_reserved() {
                (None, true)
            } else {
                let section = usize::from(shndx.0);
                if section >= self.sections.len() {
                    return Err(ElfError::new(
                        Location::Symbol {
                            name,
                            index: index.0,
                        },
                        ElfErrorKind::NoSuchSection(section),
                    ));
                }
                (Some(section), false)
            };
            let kind = match symbol.st_type() {
                elf::STT_NOTYPE => SymbolKind::NoType,
                elf::STT_OBJECT => SymbolKind::Object,
                elf::STT_FUNC => SymbolKind::Func,
                elf::STT_SECTION => SymbolKind::Section,
                elf::STT_FILE => SymbolKind::File,
                _ => SymbolKind::Other,
            };
            let name = if kind == SymbolKind::Section && name.is_empty() {
                section.map_or(name, |s| self.sections[s].name.clone())
            } else {
                name
            };
            symbols.push(RawSymbol {
                name,
                section,
                undefined,
                value: symbol.st_value(endian),
                size: symbol.st_size(endian),
                kind,
            });
        }
        Ok(symbols)
    }

    fn parse_relocations(
        &self,
        table: &object::read::elf::SectionTable<'a, elf::FileHeader64<LE>, &'a [u8]>,
        symtab_index: usize,
    ) -> Result<Vec<Vec<RawReloc>>, ElfError> {
        let endian = LE;
        let mut relocations = vec![Vec::new(); self.sections.len()];
        for (index, header) in table.enumerate() {
            let section = &self.sections[index.0];
            if header.sh_type(endian) != elf::SHT_REL {
                continue;
            }
            let location = || self.section_location(index.0);
            let entsize = header.sh_entsize(endian);
            if entsize != REL_SIZE {
                return Err(ElfError::new(
                    location(),
                    ElfErrorKind::BadEntrySize {
                        expected: REL_SIZE,
                        found: entsize,
                    },
                ));
            }
            let target = header.sh_info(endian) as usize;
            let link = header.sh_link(endian) as usize;
            if target == 0 || target >= self.sections.len() {
                return Err(ElfError::new(
                    location(),
                    ElfErrorKind::NoSuchSection(target),
                ));
            }
            if link != symtab_index {
                return Err(ElfError::new(
                    location(),
                    ElfErrorKind::Malformed(format!(
                        "links to section #{link}, not to the symbol table (#{symtab_index})"
                    )),
                ));
            }
            let entries: &[elf::Rel64<LE>] = object::pod::slice_from_all_bytes(section.data)
                .map_err(|()| {
                    ElfError::new(
                        location(),
                        ElfErrorKind::Truncated {
                            what: "relocation table",
                            needed: section.data.len().next_multiple_of(REL_SIZE as usize) as u64,
                            available: section.data.len() as u64,
                        },
                    )
                })?;
            for (entry, rel) in entries.iter().enumerate() {
                let reloc = RawReloc {
                    reloc_section: section.name.clone(),
                    entry,
                    offset: rel.r_offset.get(endian),
                    r_type: rel.r_type(endian).0,
                    symbol: rel.r_sym(endian) as usize,
                };
                if reloc.symbol >= self.symbols.len() {
                    return Err(ElfError::new(
                        reloc.location(),
                        ElfErrorKind::NoSuchSymbol(reloc.symbol),
                    ));
                }
                relocations[target].push(reloc);
            }
        }
        Ok(relocations)
    }
}
