//! Loader for ELF objects built by `clang -target bpf` (with or without BTF).
//!
//! [`ElfObject::parse`] reads every program (each function of each code section, linked with
//! the subprograms it calls), every map (legacy `maps`, BTF-defined `.maps`, global data
//! sections), the license, the kernel version and BTF line info. Program instructions keep
//! their map references unresolved, as map-index pseudo `lddw`s (src 5: map by index; src 6:
//! value of map by index, next slot's imm = offset; src 4: code address), so the verifier can
//! analyse them against map descriptors; the runtime resolves them to addresses before running.
//!
//! The ELF layer uses the `object` crate (0.40, low-level `read::elf` API with the `unaligned`
//! feature): it checks header, section table and string bounds for us on any input and has no
//! dependencies; everything BPF-specific (relocation semantics, BTF, map definitions) is here.
//! Every malformed input yields an [`ElfError`] naming the section and offset; nothing panics.

mod btf;
mod bytes;
mod error;
mod inspect;
mod line_info;
mod link;
mod maps;
mod raw;

pub use error::{ElfError, ElfErrorKind, Location};
pub use inspect::{Inspection, RelocationInfo, SectionInfo, SymbolInfo, inspect};
pub use line_info::LineInfo;

use crate::maps::MapSpec;
use maps::SectionRole;
use raw::RawObject;
use xbpf_isa::Insn;

/// One program of an object: an entry function and the subprograms linked after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfProgram {
    /// The ELF section (its name gives the program type: `xdp`, `kprobe/...`).
    pub section: String,
    /// The entry function's symbol.
    pub function: String,
    /// The linked instructions; map references are unresolved map-index pseudo `lddw`s.
    pub insns: Vec<Insn>,
    /// Entry pc and name of each function in `insns` (the entry function is first, at 0).
    pub functions: Vec<(usize, String)>,
    /// Source positions by pc, from BTF.ext (empty without BTF).
    pub line_info: Vec<LineInfo>,
}

impl ElfProgram {
    /// The source position of the instruction at `pc`: the last line-info entry at or before
    /// it within the same function.
    pub fn line_at(&self, pc: usize) -> Option<&LineInfo> {
        let function_start = self
            .functions
            .iter()
            .map(|(start, _)| *start)
            .filter(|start| *start <= pc)
            .max()
            .unwrap_or(0);
        self.line_info
            .iter()
            .rev()
            .find(|line| line.pc <= pc && line.pc >= function_start)
    }
}

/// A loaded ELF object.
#[derive(Clone, Debug)]
pub struct ElfObject {
    programs: Vec<ElfProgram>,
    maps: Vec<MapSpec>,
    license: Option<String>,
    kernel_version: Option<u32>,
    has_btf: bool,
}

impl ElfObject {
    /// Parses an object file.
    pub fn parse(data: &[u8]) -> Result<ElfObject, ElfError> {
        let raw = RawObject::parse(data)?;
        let roles: Vec<SectionRole> = raw
            .sections
            .iter()
            .map(|s| maps::role(&s.name, s.sh_type, s.flags))
            .collect();
        let btf_section = raw.sections.iter().position(|s| s.name == ".BTF");
        let btf = btf_section
            .map(|index| {
                btf::Btf::parse(raw.sections[index].data).map_err(|e| {
                    ElfError::new(
                        raw.offset_location(index, e.offset as u64),
                        ElfErrorKind::Btf(e.message),
                    )
                })
            })
            .transpose()?;
        let lines = match (&btf, raw.sections.iter().position(|s| s.name == ".BTF.ext")) {
            (Some(btf), Some(index)) => {
                line_info::parse(raw.sections[index].data, btf).map_err(|e| {
                    ElfError::new(
                        raw.offset_location(index, e.offset as u64),
                        ElfErrorKind::BtfExt(e.message),
                    )
                })?
            }
            _ => Default::default(),
        };
        let map_table = maps::collect(&raw, &roles, btf.as_ref())?;
        let code = link::code_sections(&raw, &roles)?;
        let mut programs = Vec::new();
        for (section_pos, section) in code.iter().enumerate() {
            for (function_pos, function) in section.functions.iter().enumerate() {
                let linked = link::link(
                    &raw,
                    &roles,
                    &code,
                    &map_table,
                    &lines,
                    section_pos,
                    function_pos,
                )?;
                programs.push(ElfProgram {
                    section: section.name.clone(),
                    function: function.name.clone(),
                    insns: linked.insns,
                    functions: linked.functions,
                    line_info: linked.line_info,
                });
            }
        }
        let license = section_by_role(&raw, &roles, SectionRole::License)
            .map(|index| {
                let data = raw.sections[index].data;
                let text = data.split(|b| *b == 0).next().unwrap_or(&[]);
                std::str::from_utf8(text).map(str::to_owned).map_err(|_| {
                    ElfError::new(raw.section_location(index), ElfErrorKind::BadLicense)
                })
            })
            .transpose()?;
        let kernel_version = section_by_role(&raw, &roles, SectionRole::Version)
            .map(|index| {
                let data = raw.sections[index].data;
                <[u8; 4]>::try_from(data)
                    .map(u32::from_le_bytes)
                    .map_err(|_| {
                        ElfError::new(
                            raw.section_location(index),
                            ElfErrorKind::BadVersion(data.len() as u64),
                        )
                    })
            })
            .transpose()?;
        Ok(ElfObject {
            programs,
            maps: map_table.specs,
            license,
            kernel_version,
            has_btf: btf.is_some(),
        })
    }

    /// Every program: each function of each code section, in section then address order.
    pub fn programs(&self) -> &[ElfProgram] {
        &self.programs
    }

    /// The program with this entry function in this section.
    pub fn program(&self, section: &str, function: &str) -> Option<&ElfProgram> {
        self.programs
            .iter()
            .find(|p| p.section == section && p.function == function)
    }

    /// The maps, by index (the index pseudo `lddw`s carry).
    pub fn maps(&self) -> &[MapSpec] {
        &self.maps
    }

    /// The `license` section's text.
    pub fn license(&self) -> Option<&str> {
        self.license.as_deref()
    }

    /// The `version` section's kernel version.
    pub fn kernel_version(&self) -> Option<u32> {
        self.kernel_version
    }

    /// Whether the object has a `.BTF` section.
    pub fn has_btf(&self) -> bool {
        self.has_btf
    }
}

fn section_by_role(raw: &RawObject<'_>, roles: &[SectionRole], role: SectionRole) -> Option<usize> {
    (0..raw.sections.len()).find(|index| roles[*index] == role)
}
