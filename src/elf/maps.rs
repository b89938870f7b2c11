//! Map definitions of an object: legacy `struct bpf_map_def` entries in `maps` sections,
//! BTF-defined maps in `.maps`, and one single-element array per global data section.
//!
//! Map indices (what `lddw` map references carry) follow that order: legacy maps by section and
//! offset, then BTF-defined maps by offset, then data sections by section index.

use super::btf::{Btf, Detail, Kind, SectionVar};
use super::bytes::u32_at;
use super::error::{ElfError, ElfErrorKind};
use super::raw::{RawObject, SymbolKind};
use crate::maps::spec::{F_MMAPABLE, F_RDONLY_PROG, MapOrigin, MapSpec, MapType, SlotTarget};

/// Smallest legacy definition: type, key_size, value_size, max_entries.
const LEGACY_MIN_DEF: u64 = 16;
/// `struct bpf_elf_map` (iproute2, Cilium): its `inner_idx` is the 9th word.
const BPF_ELF_MAP_SIZE: u64 = 36;

/// What a section of the object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionRole {
    Program,
    LegacyMaps,
    BtfMaps,
    Data { read_only: bool },
    License,
    Version,
    Other,
}

const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const SHT_PROGBITS: u32 = 1;
const SHT_NOBITS: u32 = 8;

/// Classifies a section by type, flags and name, as libbpf does.
pub fn role(name: &str, sh_type: u32, flags: u64) -> SectionRole {
    let data_like = sh_type == SHT_PROGBITS || sh_type == SHT_NOBITS;
    if sh_type == SHT_PROGBITS && flags & SHF_EXECINSTR != 0 {
        SectionRole::Program
    } else if name == "license" {
        SectionRole::License
    } else if name == "version" {
        SectionRole::Version
    } else if name == "maps" || name.starts_with("maps/") {
        SectionRole::LegacyMaps
    } else if name == ".maps" {
        SectionRole::BtfMaps
    } else if data_like && flags & SHF_ALLOC != 0 && is_data_name(name) {
        SectionRole::Data {
            read_only: flags & SHF_WRITE == 0 || name.starts_with(".rodata"),
        }
    } else {
        SectionRole::Other
    }
}

fn is_data_name(name: &str) -> bool {
    [".data", ".rodata", ".bss"].iter().any(|prefix| {
        name == *prefix
            || name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Where a map lives in the object, to resolve relocations against it.
#[derive(Clone, Debug)]
pub struct MapSite {
    pub section: usize,
    /// Offset of the definition in the section (0 for data sections).
    pub offset: u64,
    /// Size of the definition (the section size for data sections).
    pub size: u64,
    pub is_data: bool,
}

/// The maps of an object and where each is defined.
#[derive(Clone, Debug, Default)]
pub struct MapTable {
    pub specs: Vec<MapSpec>,
    pub sites: Vec<MapSite>,
}

impl MapTable {
    /// The index of the map defined at `offset` of definition section `section`.
    pub fn definition_at(&self, section: usize, offset: u64) -> Option<usize> {
        self.sites
            .iter()
            .position(|site| !site.is_data && site.section == section && site.offset == offset)
    }

    /// The index of the map holding data section `section`.
    pub fn data_map(&self, section: usize) -> Option<usize> {
        self.sites
            .iter()
            .position(|site| site.is_data && site.section == section)
    }
}

/// Collects every map definition of the object.
pub fn collect(
    raw: &RawObject<'_>,
    roles: &[SectionRole],
    btf: Option<&Btf>,
) -> Result<MapTable, ElfError> {
    let mut table = MapTable::default();
    let mut legacy_inner = Vec::new();
    for (index, role) in roles.iter().enumerate() {
        if *role == SectionRole::LegacyMaps {
            collect_legacy(raw, index, &mut table, &mut legacy_inner)?;
        }
    }
    for (outer, inner) in legacy_inner {
        let inner_spec = table.specs.get(inner as usize).cloned().ok_or_else(|| {
            ElfError::new(
                raw.offset_location(table.sites[outer].section, table.sites[outer].offset),
                ElfErrorKind::MapDefinition(format!(
                    "inner map index {inner} does not name a legacy map"
                )),
            )
        })?;
        table.specs[outer].inner = Some(Box::new(inner_spec));
    }
    for (index, role) in roles.iter().enumerate() {
        if *role == SectionRole::BtfMaps {
            collect_btf(raw, index, btf, &mut table)?;
        }
    }
    for (index, role) in roles.iter().enumerate() {
        if let SectionRole::Data { read_only } = *role {
            collect_data(raw, index, read_only, &mut table)?;
        }
    }
    for (index, role) in roles.iter().enumerate() {
        if *role == SectionRole::BtfMaps {
            collect_initial_slots(raw, index, btf, &mut table)?;
        }
    }
    Ok(table)
}

/// Symbols naming map definitions in `section`, by offset, without duplicates.
fn definition_symbols(raw: &RawObject<'_>, section: usize) -> Vec<(String, u64, u64)> {
    let mut symbols: Vec<(String, u64, u64)> = raw
        .symbols
        .iter()
        .filter(|symbol| {
            symbol.section == Some(section)
                && !symbol.name.is_empty()
                && matches!(symbol.kind, SymbolKind::Object | SymbolKind::NoType)
        })
        .map(|symbol| (symbol.name.clone(), symbol.value, symbol.size))
        .collect();
    symbols.sort_by_key(|(_, offset, _)| *offset);
    symbols.dedup_by_key(|(_, offset, _)| *offset);
    symbols
}

fn collect_legacy(
    raw: &RawObject<'_>,
    section: usize,
    table: &mut MapTable,
    inner_links: &mut Vec<(usize, u32)>,
) -> Result<(), ElfError> {
    let data = raw.sections[section].data;
    let symbols = definition_symbols(raw, section);
    if symbols.is_empty() {
        return Ok(());
    }
    let default_size = data.len() as u64 / symbols.len() as u64;
    for (name, offset, size) in symbols {
        let def_size = if size > 0 { size } else { default_size };
        let location = || raw.offset_location(section, offset);
        let fits = offset
            .checked_add(def_size)
            .is_some_and(|end| end <= data.len() as u64);
        if def_size < LEGACY_MIN_DEF || !fits {
            return Err(ElfError::new(
                location(),
                ElfErrorKind::Truncated {
                    what: "legacy map definition",
                    needed: def_size.max(LEGACY_MIN_DEF),
                    available: (data.len() as u64).saturating_sub(offset),
                },
            ));
        }
        let def = &data[offset as usize..(offset + def_size) as usize];
        let word = |index: u64| {
            if (index + 1) * 4 <= def_size {
                u32_at(def, (index * 4) as usize).unwrap_or(0)
            } else {
                0
            }
        };
        let map_type = MapType::from_id(word(0));
        let mut spec = MapSpec {
            name,
            map_type,
            key_size: word(1),
            value_size: word(2),
            max_entries: word(3),
            flags: word(4),
            inner: None,
            initial_data: None,
            initial_slots: Vec::new(),
            origin: MapOrigin::Legacy,
        };
        default_id_sizes(&mut spec);
        if map_type.holds_maps() {
            let inner_word = if def_size >= BPF_ELF_MAP_SIZE { 8 } else { 5 };
            inner_links.push((table.specs.len(), word(inner_word)));
        }
        table.specs.push(spec);
        table.sites.push(MapSite {
            section,
            offset,
            size: def_size,
            is_data: false,
        });
    }
    Ok(())
}

fn collect_btf(
    raw: &RawObject<'_>,
    section: usize,
    btf: Option<&Btf>,
    table: &mut MapTable,
) -> Result<(), ElfError> {
    let symbols = definition_symbols(raw, section);
    if symbols.is_empty() {
        return Ok(());
    }
    let btf = btf.ok_or_else(|| {
        ElfError::new(
            raw.section_location(section),
            ElfErrorKind::MapDefinition("BTF-defined maps need a .BTF section".into()),
        )
    })?;
    let vars = btf.datasec(".maps").ok_or_else(|| {
        ElfError::new(
            raw.section_location(section),
            ElfErrorKind::MapDefinition("BTF has no DATASEC `.maps`".into()),
        )
    })?;
    for (name, offset, size) in symbols {
        let location = || raw.offset_location(section, offset);
        let var = map_variable(btf, vars, &name, offset).ok_or_else(|| {
            ElfError::new(
                location(),
                ElfErrorKind::MapDefinition(format!(
                    "map `{name}` has no variable in the BTF DATASEC `.maps`"
                )),
            )
        })?;
        let var_type = btf
            .get(var.type_id)
            .filter(|ty| ty.kind == Kind::Var)
            .ok_or_else(|| {
                ElfError::new(
                    location(),
                    ElfErrorKind::MapDefinition(format!(
                        "`.maps` entry of `{name}` is not a BTF VAR"
                    )),
                )
            })?;
        let (mut spec, _) = btf_definition(btf, var_type.size_or_type, &name, 0)
            .map_err(|message| ElfError::new(location(), ElfErrorKind::MapDefinition(message)))?;
        spec.name = name;
        table.specs.push(spec);
        table.sites.push(MapSite {
            section,
            offset,
            size: if size > 0 { size } else { u64::from(var.size) },
            is_data: false,
        });
    }
    Ok(())
}

/// The `.maps` DATASEC entry of a map: by variable name (compilers leave DATASEC offsets 0 in
/// object files, libbpf fills them in at load), else by offset.
fn map_variable<'b>(
    btf: &Btf,
    vars: &'b [SectionVar],
    name: &str,
    offset: u64,
) -> Option<&'b SectionVar> {
    vars.iter()
        .find(|var| btf.name(var.type_id) == name)
        .or_else(|| {
            vars.iter()
                .find(|var| u64::from(var.offset) == offset && offset != 0)
        })
}

/// Reads a BTF map definition struct; also returns the byte offset of its `values` member.
fn btf_definition(
    btf: &Btf,
    type_id: u32,
    name: &str,
    depth: usize,
) -> Result<(MapSpec, Option<u64>), String> {
    let id = btf.skip_modifiers(type_id)?;
    let ty = btf
        .get(id)
        .ok_or_else(|| format!("type id {id} does not exist"))?;
    let Detail::Members(members) = &ty.detail else {
        return Err(format!("definition of `{name}` is not a struct"));
    };
    if ty.kind != Kind::Struct {
        return Err(format!("definition of `{name}` is not a struct"));
    }
    let mut spec = MapSpec::new(name, MapType::Unknown(0), 0, 0, 0);
    spec.origin = MapOrigin::Btf;
    let mut values_offset = None;
    for member in members {
        let member_name = btf.string(member.name_off).unwrap_or("");
        let context = |e: String| format!("field `{member_name}` of `{name}`: {e}");
        match member_name {
            "type" => {
                spec.map_type = MapType::from_id(uint_field(btf, member.type_id).map_err(context)?)
            }
            "key_size" => spec.key_size = uint_field(btf, member.type_id).map_err(context)?,
            "value_size" => spec.value_size = uint_field(btf, member.type_id).map_err(context)?,
            "max_entries" => spec.max_entries = uint_field(btf, member.type_id).map_err(context)?,
            "map_flags" => spec.flags = uint_field(btf, member.type_id).map_err(context)?,
            "key" => spec.key_size = pointee_size(btf, member.type_id).map_err(context)?,
            "value" => spec.value_size = pointee_size(btf, member.type_id).map_err(context)?,
            "values" => {
                values_offset = Some(u64::from(member.bit_offset & 0xff_ffff) / 8);
                if let Some(inner_id) = values_element(btf, member.type_id).map_err(context)? {
                    if depth > 0 {
                        return Err(format!("map `{name}`: inner maps cannot hold maps"));
                    }
                    let (inner, _) =
                        btf_definition(btf, inner_id, &format!("{name}.inner"), depth + 1)?;
                    spec.inner = Some(Box::new(inner));
                }
            }
            _ => {}
        }
    }
    default_id_sizes(&mut spec);
    Ok((spec, values_offset))
}

/// Map-in-map and program array values are 4-byte ids (file descriptors in Linux); objects
/// often leave the sizes 0 and let the loader fill them in, as libbpf and bpf_load do.
fn default_id_sizes(spec: &mut MapSpec) {
    if spec.map_type.holds_maps() || spec.map_type == MapType::ProgArray {
        if spec.key_size == 0 {
            spec.key_size = 4;
        }
        if spec.value_size == 0 {
            spec.value_size = 4;
        }
    }
}

/// `__uint(name, N)` is `int (*name)[N]`: N is the array length.
fn uint_field(btf: &Btf, type_id: u32) -> Result<u32, String> {
    let ptr = btf.skip_modifiers(type_id)?;
    let ty = btf.get(ptr).ok_or("missing type")?;
    if ty.kind != Kind::Ptr {
        return Err("expected __uint (a pointer to an array)".into());
    }
    let array = btf.skip_modifiers(ty.size_or_type)?;
    match btf.get(array).map(|ty| &ty.detail) {
        Some(Detail::Array { nelems, .. }) => Ok(*nelems),
        _ => Err("expected __uint (a pointer to an array)".into()),
    }
}

/// `__type(name, T)` is `T *name`: the size of T.
fn pointee_size(btf: &Btf, type_id: u32) -> Result<u32, String> {
    let ptr = btf.skip_modifiers(type_id)?;
    let ty = btf.get(ptr).ok_or("missing type")?;
    if ty.kind != Kind::Ptr {
        return Err("expected __type (a pointer)".into());
    }
    let size = btf.size_of(ty.size_or_type)?;
    u32::try_from(size).map_err(|_| format!("size {size} does not fit 32 bits"))
}

/// `__array(values, T)` is `T *values[]`: the inner map definition when T is a struct (None for
/// program arrays, whose T is a function prototype).
fn values_element(btf: &Btf, type_id: u32) -> Result<Option<u32>, String> {
    let array = btf.skip_modifiers(type_id)?;
    let Some(Detail::Array { elem, .. }) = btf.get(array).map(|ty| &ty.detail) else {
        return Err("expected __array (an array of pointers)".into());
    };
    let ptr = btf.skip_modifiers(*elem)?;
    let ty = btf.get(ptr).ok_or("missing type")?;
    if ty.kind != Kind::Ptr {
        return Err("expected __array (an array of pointers)".into());
    }
    let target = btf.skip_modifiers(ty.size_or_type)?;
    Ok(match btf.get(target).map(|ty| ty.kind) {
        Some(Kind::Struct) => Some(target),
        _ => None,
    })
}

/// Largest global data section accepted (the whole section is one map value).
const MAX_DATA_SECTION: u64 = 1 << 30;

fn collect_data(
    raw: &RawObject<'_>,
    section: usize,
    read_only: bool,
    table: &mut MapTable,
) -> Result<(), ElfError> {
    let header = &raw.sections[section];
    if header.size == 0 {
        return Ok(());
    }
    let value_size = u32::try_from(header.size)
        .ok()
        .filter(|size| u64::from(*size) <= MAX_DATA_SECTION)
        .ok_or_else(|| {
            ElfError::new(
                raw.section_location(section),
                ElfErrorKind::MapDefinition(format!(
                    "data section of {} bytes exceeds the limit of {MAX_DATA_SECTION}",
                    header.size
                )),
            )
        })?;
    let mut spec = MapSpec::new(header.name.clone(), MapType::Array, 4, value_size, 1);
    spec.flags = F_MMAPABLE | if read_only { F_RDONLY_PROG } else { 0 };
    spec.origin = MapOrigin::GlobalData;
    spec.initial_data = (!header.is_nobits()).then(|| header.data.to_vec());
    table.specs.push(spec);
    table.sites.push(MapSite {
        section,
        offset: 0,
        size: header.size,
        is_data: true,
    });
    Ok(())
}

/// `.values = { [i] = &inner_map }` or `{ [i] = &prog }` in `.maps`: relocations in the outer
/// definition at the `values` member.
fn collect_initial_slots(
    raw: &RawObject<'_>,
    section: usize,
    btf: Option<&Btf>,
    table: &mut MapTable,
) -> Result<(), ElfError> {
    let Some(btf) = btf else {
        return Ok(());
    };
    let Some(vars) = btf.datasec(".maps") else {
        return Ok(());
    };
    for reloc in &raw.relocations[section] {
        let location = || reloc.location();
        let outer = table
            .sites
            .iter()
            .position(|site| {
                !site.is_data
                    && site.section == section
                    && reloc.offset >= site.offset
                    && reloc.offset - site.offset < site.size
            })
            .ok_or_else(|| {
                ElfError::new(
                    location(),
                    ElfErrorKind::MapDefinition("relocation outside every map definition".into()),
                )
            })?;
        let site_offset = table.sites[outer].offset;
        let var = map_variable(btf, vars, &table.specs[outer].name, site_offset)
            .and_then(|var| btf.get(var.type_id))
            .map(|ty| ty.size_or_type);
        let values_offset = var
            .and_then(|type_id| btf_definition(btf, type_id, "", 0).ok())
            .and_then(|(_, offset)| offset)
            .ok_or_else(|| {
                ElfError::new(
                    location(),
                    ElfErrorKind::MapDefinition(format!(
                        "map `{}` is initialised but has no `values` field",
                        table.specs[outer].name
                    )),
                )
            })?;
        let within = reloc.offset - site_offset;
        if within < values_offset || !(within - values_offset).is_multiple_of(8) {
            return Err(ElfError::new(
                location(),
                ElfErrorKind::MapDefinition("relocation is not on a `values` slot".into()),
            ));
        }
        let slot = u32::try_from((within - values_offset) / 8).unwrap_or(u32::MAX);
        let symbol = &raw.symbols[reloc.symbol];
        let target = match symbol.section {
            Some(target) if target == section => {
                SlotTarget::Map(table.definition_at(section, symbol.value).ok_or_else(|| {
                    ElfError::new(
                        location(),
                        ElfErrorKind::NoMapAtOffset {
                            section: raw.section_name(section).into(),
                            offset: symbol.value,
                        },
                    )
                })?)
            }
            Some(target) if raw.sections[target].flags & SHF_EXECINSTR != 0 => {
                SlotTarget::Program {
                    section: raw.section_name(target).into(),
                    function: symbol.name.clone(),
                }
            }
            _ => {
                return Err(ElfError::new(
                    location(),
                    ElfErrorKind::UnrelocatableTarget {
                        name: symbol.name.clone(),
                        section: symbol
                            .section
                            .map_or("<undefined>", |s| raw.section_name(s))
                            .into(),
                    },
                ));
            }
        };
        table.specs[outer].initial_slots.push((slot, target));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_classified_like_libbpf() {
        assert_eq!(
            role("xdp", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR),
            SectionRole::Program
        );
        assert_eq!(
            role("maps", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE),
            SectionRole::LegacyMaps
        );
        assert_eq!(
            role("maps/inner", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE),
            SectionRole::LegacyMaps
        );
        assert_eq!(
            role(".maps", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE),
            SectionRole::BtfMaps
        );
        assert_eq!(
            role(".rodata.str1.1", SHT_PROGBITS, SHF_ALLOC),
            SectionRole::Data { read_only: true }
        );
        assert_eq!(
            role(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE),
            SectionRole::Data { read_only: false }
        );
        assert_eq!(role(".datax", SHT_PROGBITS, SHF_ALLOC), SectionRole::Other);
        assert_eq!(role(".debug_info", SHT_PROGBITS, 0), SectionRole::Other);
    }
}
