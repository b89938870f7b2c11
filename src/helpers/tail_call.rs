//! `bpf_tail_call`: the helper records the target program and stops the run with
//! `HelperError::TailCall`; the runtime then runs the target with the same context. State is
//! per thread (a run never leaves its thread), reset at the start of every top-level run.

use super::{HelperEnv, NOT_FOUND, errno, failed};
use crate::maps::MapType;
use std::cell::Cell;
use xbpf_isa::{HelperContext, HelperError};

/// Most tail calls in one chain (Linux `MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;

thread_local! {
    static PENDING: Cell<Option<u32>> = const { Cell::new(None) };
    static COUNT: Cell<u32> = const { Cell::new(0) };
}

/// Starts a new chain: no pending target, no tail calls taken.
pub fn begin_chain() {
    PENDING.with(|p| p.set(None));
    COUNT.with(|c| c.set(0));
}

/// The program a tail call asked for, if the last run ended in one.
pub fn take_pending() -> Option<u32> {
    PENDING.with(|p| p.take())
}

/// `tail_call(ctx, prog_array, index)`: on success the program stops and the target runs; on
/// failure (empty slot, index out of range, chain too long) the program continues with a
/// negative errno, as in Linux.
pub fn helper(
    env: &HelperEnv,
    _: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env
        .maps
        .by_handle(args[1])
        .ok_or_else(|| failed(format!("{:#x} is not a map", args[1])))?;
    if map.map_type() != MapType::ProgArray {
        return Err(failed(format!(
            "tail call through map `{}`, which is not a program array",
            map.spec().name
        )));
    }
    let index = (args[2] as u32).to_le_bytes();
    let Ok(Some(target)) = map.id_at(&index) else {
        return Ok(errno(NOT_FOUND));
    };
    let taken = COUNT.with(|c| c.get());
    if taken >= MAX_TAIL_CALLS {
        return Ok(errno(NOT_FOUND));
    }
    COUNT.with(|c| c.set(taken + 1));
    PENDING.with(|p| p.set(Some(target)));
    Err(HelperError::TailCall)
}
