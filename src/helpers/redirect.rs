//! `bpf_redirect_map`: XDP programs redirect a packet to an entry of a devmap, cpumap or
//! xskmap. There is no network stack to hand the packet to here, so the helper records the
//! target for the host ([`take_redirect`]) and returns `XDP_REDIRECT`, as Linux does.

use super::{HelperEnv, failed};
use crate::maps::{MapId, id_of_handle};
use std::cell::Cell;
use xbpf_isa::{HelperContext, HelperError};

/// `XDP_REDIRECT`.
pub const XDP_REDIRECT: u64 = 4;

/// Where the last run redirected its packet: a redirect map and the key of its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The redirect map (devmap, cpumap, xskmap).
    pub map: MapId,
    /// The key of the entry the packet goes to.
    pub key: u32,
}

thread_local! {
    static LAST: Cell<Option<Redirect>> = const { Cell::new(None) };
}

/// Takes the redirect the last run on this thread asked for, if any.
pub fn take_redirect() -> Option<Redirect> {
    LAST.with(Cell::take)
}

/// Forgets any recorded redirect (at the start of a run).
pub fn clear() {
    LAST.with(|last| last.set(None));
}

/// `redirect_map(map, key, flags)`: `XDP_REDIRECT` when the entry exists, else the action in
/// the low two bits of `flags`.
pub fn redirect_map(
    env: &HelperEnv,
    _: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env
        .maps
        .by_handle(args[0])
        .ok_or_else(|| failed(format!("{:#x} is not a map", args[0])))?;
    if !map.is_redirect_map() {
        return Err(failed(format!(
            "redirect through map `{}`, which is not a devmap, cpumap or xskmap",
            map.spec().name
        )));
    }
    let key = args[1] as u32;
    if !map.redirect_target(&key.to_le_bytes()) {
        return Ok(args[2] & 0x3);
    }
    let map_id = id_of_handle(args[0]).unwrap_or(0);
    LAST.with(|last| last.set(Some(Redirect { map: map_id, key })));
    Ok(XDP_REDIRECT)
}
