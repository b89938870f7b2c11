//! Program linking, as libbpf does it: a program is its entry function plus every function it
//! calls (or takes the address of), transitively, appended after it in one instruction array,
//! with call offsets fixed up and `lddw` relocations turned into map-index pseudo-sources.

use super::error::{ElfError, ElfErrorKind, Location};
use super::line_info::{LineInfo, SectionLines};
use super::maps::{MapTable, SectionRole};
use super::raw::{RawObject, RawReloc, SymbolKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use xbpf_isa::insn::{Insn, op};
use xbpf_isa::program::DEFAULT_MAX_INSNS;

/// `R_BPF_64_64`: a 64-bit immediate (`lddw`).
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: a call's 32-bit immediate.
const R_BPF_64_32: u32 = 10;
/// `src` of a local call.
const CALL_LOCAL: u8 = 1;
/// `lddw` pseudo-sources this loader emits.
const PSEUDO_MAP_IDX: u8 = 5;
const PSEUDO_MAP_IDX_VALUE: u8 = 6;
const PSEUDO_FUNC: u8 = 4;

/// A function of a code section, in instruction slots.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// A section of code: its instructions, functions and relocations by slot.
#[derive(Clone, Debug)]
pub struct CodeSection {
    pub index: usize,
    pub name: String,
    pub insns: Vec<Insn>,
    pub functions: Vec<Function>,
    pub relocs: BTreeMap<usize, RawReloc>,
}

impl CodeSection {
    fn function_containing(&self, slot: usize) -> Option<usize> {
        self.functions
            .iter()
            .position(|f| f.start <= slot && slot < f.end)
    }
}

/// Reads every code section: instructions, function extents and relocations.
pub fn code_sections(
    raw: &RawObject<'_>,
    roles: &[SectionRole],
) -> Result<Vec<CodeSection>, ElfError> {
    let mut sections = Vec::new();
    for (index, role) in roles.iter().enumerate() {
        if *role != SectionRole::Program || raw.sections[index].data.is_empty() {
            continue;
        }
        let section = &raw.sections[index];
        if !section.data.len().is_multiple_of(8) {
            return Err(ElfError::new(
                raw.section_location(index),
                ElfErrorKind::PartialInstruction(section.data.len() as u64),
            ));
        }
        let insns = xbpf_isa::insn::slots_from_bytes(section.data).map_err(|_| {
            ElfError::new(
                raw.section_location(index),
                ElfErrorKind::PartialInstruction(section.data.len() as u64),
            )
        })?;
        let functions = functions(raw, index, insns.len())?;
        let mut relocs = BTreeMap::new();
        for reloc in &raw.relocations[index] {
            if !reloc.offset.is_multiple_of(8) || reloc.offset / 8 >= insns.len() as u64 {
                return Err(ElfError::new(
                    reloc.location(),
                    ElfErrorKind::Malformed(format!(
                        "offset {:#x} is not an instruction of `{}` ({} bytes)",
                        reloc.offset,
                        section.name,
                        section.data.len()
                    )),
                ));
            }
            relocs.insert((reloc.offset / 8) as usize, reloc.clone());
        }
        sections.push(CodeSection {
            index,
            name: section.name.clone(),
            insns,
            functions,
            relocs,
        });
    }
    Ok(sections)
}

/// Function extents from the FUNC symbols of a section. A section without FUNC symbols (old
/// compilers) is one function named like the section, as PREVAIL and the corpus name it.
fn functions(raw: &RawObject<'_>, index: usize, len: usize) -> Result<Vec<Function>, ElfError> {
    let mut symbols: Vec<_> = raw
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| s.section == Some(index) && s.kind == SymbolKind::Func)
        .collect();
    symbols.sort_by_key(|(_, s)| s.value);
    symbols.dedup_by_key(|(_, s)| s.value);
    if symbols.is_empty() {
        let name = raw.sections[index].name.clone();
        return Ok(vec![Function {
            name,
            start: 0,
            end: len,
        }]);
    }
    let byte_len = len as u64 * 8;
    let mut functions = Vec::with_capacity(symbols.len());
    for (position, (symbol_index, symbol)) in symbols.iter().enumerate() {
        let next = symbols
            .get(position + 1)
            .map_or(byte_len, |(_, next)| next.value);
        let start = symbol.value;
        let end = if symbol.size > 0 {
            start.saturating_add(symbol.size)
        } else {
            next
        };
        if !start.is_multiple_of(8) || !end.is_multiple_of(8) || start >= end || end > byte_len {
            return Err(ElfError::new(
                Location::Symbol {
                    name: symbol.name.clone(),
                    index: *symbol_index,
                },
                ElfErrorKind::BadFunctionBounds {
                    name: symbol.name.clone(),
                    start,
                    end,
                },
            ));
        }
        functions.push(Function {
            name: symbol.name.clone(),
            start: (start / 8) as usize,
            end: (end / 8) as usize,
        });
    }
    Ok(functions)
}

/// A linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedProgram {
    pub insns: Vec<Insn>,
    /// Entry pc and name of every function in the array (the entry function first, at 0).
    pub functions: Vec<(usize, String)>,
    pub line_info: Vec<LineInfo>,
}

/// A reference from an instruction to code: a local call or an `lddw` code address.
struct CodeRef {
    linked_pc: usize,
    section: usize,
    target: i64,
    origin: Location,
}

/// Links the program whose entry is function `function` of `sections[section]`.
pub fn link(
    raw: &RawObject<'_>,
    roles: &[SectionRole],
    sections: &[CodeSection],
    maps: &MapTable,
    lines: &SectionLines,
    section: usize,
    function: usize,
) -> Result<LinkedProgram, ElfError> {
    let mut insns = Vec::new();
    let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
    let mut order = Vec::new();
    let mut queue = VecDeque::from([(section, function)]);
    placed.insert((section, function), 0);
    while let Some((section_pos, function_pos)) = queue.pop_front() {
        let code = &sections[section_pos];
        let func = &code.functions[function_pos];
        let base = insns.len();
        order.push((section_pos, function_pos, base));
        let len = func.end - func.start;
        if base + len > DEFAULT_MAX_INSNS {
            return Err(ElfError::new(
                raw.section_location(code.index),
                ElfErrorKind::ProgramTooLarge(DEFAULT_MAX_INSNS),
            ));
        }
        insns.extend_from_slice(&code.insns[func.start..func.end]);
        let mut refs = Vec::new();
        let mut slot = func.start;
        while slot < func.end {
            let linked_pc = base + slot - func.start;
            let insn = code.insns[slot];
            let is_lddw = insn.opcode == op::LDDW;
            if let Some(reloc) = code.relocs.get(&slot) {
                apply_reloc(
                    raw, roles, sections, maps, code, func, slot, reloc, &mut insns, linked_pc,
                    &mut refs,
                )?;
            } else if insn.opcode == op::CALL && insn.src == CALL_LOCAL
                || is_lddw && insn.src == PSEUDO_FUNC
            {
                refs.push(CodeRef {
                    linked_pc,
                    section: section_pos,
                    target: slot as i64 + 1 + i64::from(insn.imm),
                    origin: raw.offset_location(code.index, slot as u64 * 8),
                });
            }
            slot += if is_lddw { 2 } else { 1 };
        }
        for code_ref in refs {
            let target_code = &sections[code_ref.section];
            let bad = |problem| {
                ElfError::new(
                    code_ref.origin.clone(),
                    ElfErrorKind::BadCodeTarget {
                        section: target_code.name.clone(),
                        target: code_ref.target,
                        problem,
                    },
                )
            };
            let target = usize::try_from(code_ref.target)
                .ok()
                .filter(|t| *t < target_code.insns.len())
                .ok_or_else(|| bad("outside the section"))?;
            let callee = target_code
                .function_containing(target)
                .ok_or_else(|| bad("not inside any function"))?;
            let callee_base = match placed.get(&(code_ref.section, callee)) {
                Some(base) => *base,
                None => {
                    // Not placed yet: it goes after everything placed or queued so far.
                    let queued: usize = queue
                        .iter()
                        .map(|(s, f)| {
                            sections[*s].functions[*f].end - sections[*s].functions[*f].start
                        })
                        .sum();
                    let base = insns.len() + queued;
                    placed.insert((code_ref.section, callee), base);
                    queue.push_back((code_ref.section, callee));
                    base
                }
            };
            let linked_target = callee_base + (target - target_code.functions[callee].start);
            let offset = linked_target as i64 - (code_ref.linked_pc as i64 + 1);
            insns[code_ref.linked_pc].imm =
                i32::try_from(offset).map_err(|_| bad("too far away for a 32-bit offset"))?;
        }
    }
    let mut functions = Vec::new();
    let mut line_info = Vec::new();
    for (section_pos, function_pos, base) in order {
        let code = &sections[section_pos];
        let func = &code.functions[function_pos];
        functions.push((base, func.name.clone()));
        if let Some(section_lines) = lines.get(&code.name) {
            line_info.extend(
                section_lines
                    .iter()
                    .filter(|line| func.start <= line.pc && line.pc < func.end)
                    .map(|line| LineInfo {
                        pc: base + line.pc - func.start,
                        ..line.clone()
                    }),
            );
        }
    }
    line_info.sort_by_key(|line| line.pc);
    Ok(LinkedProgram {
        insns,
        functions,
        line_info,
    })
}

#[allow(clippy::too_many_arguments)]
fn apply_reloc(
    raw: &RawObject<'_>,
    roles: &[SectionRole],
    sections: &[CodeSection],
    maps: &MapTable,
    code: &CodeSection,
    func: &super::link::Function,
    slot: usize,
    reloc: &RawReloc,
    insns: &mut [Insn],
    linked_pc: usize,
    refs: &mut Vec<CodeRef>,
) -> Result<(), ElfError> {
    let error = |kind| ElfError::new(reloc.location(), kind);
    let insn = code.insns[slot];
    let symbol = &raw.symbols[reloc.symbol];
    let what = |insn: Insn| match insn.opcode {
        op::LDDW => "lddw",
        op::CALL => "call",
        _ => "other",
    };
    match reloc.r_type {
        R_BPF_64_64 => {
            if insn.opcode != op::LDDW || slot + 1 >= func.end {
                return Err(error(ElfErrorKind::RelocationMismatch {
                    what: what(insn),
                    opcode: insn.opcode,
                    expected: "a complete lddw",
                }));
            }
        }
        R_BPF_64_32 => {
            if insn.opcode != op::CALL || insn.src != CALL_LOCAL {
                if symbol.undefined {
                    return Err(error(ElfErrorKind::UndefinedSymbol(symbol.name.clone())));
                }
                return Err(error(ElfErrorKind::RelocationMismatch {
                    what: what(insn),
                    opcode: insn.opcode,
                    expected: "a local call (call with src 1)",
                }));
            }
        }
        other => return Err(error(ElfErrorKind::UnsupportedRelocation(other))),
    }
    if symbol.undefined {
        return Err(error(ElfErrorKind::UndefinedSymbol(symbol.name.clone())));
    }
    let target_section = symbol.section.ok_or_else(|| {
        error(ElfErrorKind::UnrelocatableTarget {
            name: symbol.name.clone(),
            section: "<absolute>".into(),
        })
    })?;
    let role = roles[target_section];
    if reloc.r_type == R_BPF_64_32 {
        let section_pos = code_section_pos(sections, target_section).ok_or_else(|| {
            error(ElfErrorKind::UnrelocatableTarget {
                name: symbol.name.clone(),
                section: raw.section_name(target_section).into(),
            })
        })?;
        let base = i64::try_from(symbol.value / 8).unwrap_or(i64::MAX);
        refs.push(CodeRef {
            linked_pc,
            section: section_pos,
            target: base.saturating_add(i64::from(insn.imm)).saturating_add(1),
            origin: reloc.location(),
        });
        return Ok(());
    }
    let addend = i64::from(insn.imm);
    let offset = i64::try_from(symbol.value)
        .unwrap_or(i64::MAX)
        .saturating_add(addend);
    match role {
        SectionRole::LegacyMaps | SectionRole::BtfMaps => {
            let index = u64::try_from(offset)
                .ok()
                .and_then(|offset| maps.definition_at(target_section, offset))
                .ok_or_else(|| {
                    error(ElfErrorKind::NoMapAtOffset {
                        section: raw.section_name(target_section).into(),
                        offset: offset as u64,
                    })
                })?;
            insns[linked_pc].src = PSEUDO_MAP_IDX;
            insns[linked_pc].imm = index as i32;
            insns[linked_pc + 1].imm = 0;
        }
        SectionRole::Data { .. } => {
            let size = raw.sections[target_section].size;
            let index = maps.data_map(target_section);
            let in_range = offset >= 0 && (offset as u64) <= size && offset <= i64::from(i32::MAX);
            let (Some(index), true) = (index, in_range) else {
                return Err(error(ElfErrorKind::DataOffsetOutOfRange {
                    section: raw.section_name(target_section).into(),
                    offset,
                    size,
                }));
            };
            insns[linked_pc].src = PSEUDO_MAP_IDX_VALUE;
            insns[linked_pc].imm = index as i32;
            insns[linked_pc + 1].imm = offset as i32;
        }
        SectionRole::Program => {
            let section_pos = code_section_pos(sections, target_section).ok_or_else(|| {
                error(ElfErrorKind::UnrelocatableTarget {
                    name: symbol.name.clone(),
                    section: raw.section_name(target_section).into(),
                })
            })?;
            if offset % 8 != 0 {
                return Err(error(ElfErrorKind::BadCodeTarget {
                    section: raw.section_name(target_section).into(),
                    target: offset,
                    problem: "not on an instruction boundary",
                }));
            }
            insns[linked_pc].src = PSEUDO_FUNC;
            insns[linked_pc + 1].imm = 0;
            refs.push(CodeRef {
                linked_pc,
                section: section_pos,
                target: offset / 8,
                origin: reloc.location(),
            });
        }
        _ => {
            return Err(error(ElfErrorKind::UnrelocatableTarget {
                name: symbol.name.clone(),
                section: raw.section_name(target_section).into(),
            }));
        }
    }
    Ok(())
}

fn code_section_pos(sections: &[CodeSection], index: usize) -> Option<usize> {
    sections.iter().position(|code| code.index == index)
}
