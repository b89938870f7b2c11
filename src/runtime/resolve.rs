//! Turns pseudo `lddw`s into plain 64-bit constants for execution: map references become the
//! map's opaque handle, map value references the value's host address, code references a
//! callback token. Engines then see only `lddw` src 0.

use super::RuntimeError;
use crate::maps::{Lookup, MapId, MapRegistry, MapType, handle_of};
use xbpf_isa::Insn;
use xbpf_isa::insn::op;

const MAP_BY_FD: u8 = 1;
const MAP_VALUE_BY_FD: u8 = 2;
const CODE: u8 = 4;
const MAP_BY_INDEX: u8 = 5;
const MAP_VALUE_BY_INDEX: u8 = 6;

/// Resolves every pseudo `lddw` of `insns`. Map indices index `maps`; `code_ref(pc, target)`
/// turns a code address into a constant.
pub fn resolve(
    insns: &[Insn],
    maps: &[MapId],
    registry: &MapRegistry,
    code_ref: &mut dyn FnMut(usize, usize) -> Result<u64, RuntimeError>,
) -> Result<Vec<Insn>, RuntimeError> {
    let mut out = insns.to_vec();
    let mut pc = 0;
    while pc < out.len() {
        let insn = out[pc];
        if insn.opcode != op::LDDW {
            pc += 1;
            continue;
        }
        if insn.src == 0 || pc + 1 >= out.len() {
            pc += 2;
            continue;
        }
        let error = |message: String| RuntimeError::Resolve { pc, message };
        let map_id = |index: i32| {
            usize::try_from(index)
                .ok()
                .and_then(|i| maps.get(i).copied())
                .ok_or_else(|| error(format!("map index {index} names no map")))
        };
        let value = match insn.src {
            MAP_BY_FD | MAP_BY_INDEX => handle_of(map_id(insn.imm)?),
            MAP_VALUE_BY_FD | MAP_VALUE_BY_INDEX => {
                let id = map_id(insn.imm)?;
                let map = registry
                    .get(id)
                    .ok_or_else(|| error(format!("map {id} does not exist")))?;
                let offset = out[pc + 1].imm as u32;
                if map.map_type() != MapType::Array || offset > map.spec().value_size {
                    return Err(error(format!(
                        "direct value access at offset {offset} of map `{}` needs an array map \
                         with a value that large",
                        map.spec().name
                    )));
                }
                let Ok(Some(Lookup::Value(addr))) = map.lookup_for_program(&0u32.to_le_bytes())
                else {
                    return Err(error(format!("map `{}` has no element 0", map.spec().name)));
                };
                addr + u64::from(offset)
            }
            CODE => {
                let target = pc as i64 + 1 + i64::from(insn.imm);
                let target = usize::try_from(target)
                    .ok()
                    .filter(|t| *t < out.len())
                    .ok_or_else(|| error(format!("code reference to {target} is outside")))?;
                code_ref(pc, target)?
            }
            other => return Err(error(format!("unsupported lddw pseudo-source {other}"))),
        };
        out[pc].src = 0;
        out[pc].imm = value as u32 as i32;
        out[pc + 1].imm = (value >> 32) as u32 as i32;
        pc += 2;
    }
    Ok(out)
}
