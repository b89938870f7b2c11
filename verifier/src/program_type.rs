//! Program types: the host interface the verifier checks a program against. A program type
//! says what r1..r5 hold at entry, how the context is laid out (which bytes may be read or
//! written, which fields load packet pointers), whether the program may touch packet data,
//! and which helpers it may call with which prototypes.

use crate::prelude::*;

use crate::domain::interval::Scalar;
use crate::helpers::{ArgKind, HelperPrototype, HelperSet, RetKind, linux};

/// What a context field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// Plain data.
    Data {
        /// Whether the program may write it.
        writable: bool,
    },
    /// Loading the field (at exactly its offset and size) yields the packet data pointer.
    PacketData,
    /// ... the packet end pointer.
    PacketEnd,
    /// ... the packet metadata pointer.
    PacketMeta,
}

/// A byte range of the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CtxField {
    /// The first byte.
    pub offset: u32,
    /// The size in bytes.
    pub size: u32,
    /// What the bytes hold.
    pub kind: FieldKind,
}

/// The layout of the context: bytes not covered by a field are inaccessible.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContextLayout {
    /// The context's size in bytes.
    pub size: u32,
    /// The accessible fields; the rest is inaccessible.
    pub fields: Vec<CtxField>,
}

impl ContextLayout {
    /// `size` bytes of plain data, readable and (if `writable`) writable.
    pub fn flat(size: u32, writable: bool) -> ContextLayout {
        ContextLayout {
            size,
            fields: vec![CtxField {
                offset: 0,
                size,
                kind: FieldKind::Data { writable },
            }],
        }
    }

    /// The field starting exactly at `offset`, if any.
    pub fn field_at(&self, offset: u32) -> Option<&CtxField> {
        self.fields.iter().find(|f| f.offset == offset)
    }

    /// Whether every byte of `[lo, hi)` is plain data allowing the access.
    pub fn data_allows(&self, lo: u64, hi: u64, write: bool) -> bool {
        let mut at = lo;
        while at < hi {
            let Some(field) = self.fields.iter().find(|f| {
                (f.offset as u64) <= at
                    && at < f.offset as u64 + f.size as u64
                    && matches!(f.kind, FieldKind::Data { writable } if writable || !write)
            }) else {
                return false;
            };
            at = field.offset as u64 + field.size as u64;
        }
        true
    }
}

/// What an argument register holds at entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EntryArg {
    /// Nothing: reading the register is an error.
    Uninit,
    /// A pointer to the start of the context.
    Ctx,
    /// A number.
    Number(Scalar),
}

/// Direct packet access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketAccess {
    /// Largest packet the host passes (bounds `data_end - data`).
    pub max_size: u32,
    /// Largest metadata area before the packet data.
    pub max_meta: u32,
    /// Whether the program may write packet bytes.
    pub writable: bool,
}

/// A program type.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramType {
    /// The type's name, for diagnostics (`xdp`, `socket_filter`, ...).
    pub name: String,
    /// r1..r5 at entry.
    pub entry: [EntryArg; 5],
    /// The context r1 points to.
    pub context: ContextLayout,
    /// Direct packet access through context fields, if the type allows it.
    pub packet: Option<PacketAccess>,
    /// Whether legacy packet loads (`ldabs`/`ldind`) are allowed.
    pub legacy_packet_loads: bool,
    /// The helpers the program may call, with their prototypes.
    pub helpers: HelperSet,
    /// Whether every stack byte is initialised at entry (zeroed stacks, as in the conformance
    /// convention) instead of uninitialised.
    pub stack_initialized: bool,
    /// If set, r0 at program exit must lie in this signed range.
    pub return_range: Option<(i64, i64)>,
}

const UNINIT_ARGS: [EntryArg; 5] = [EntryArg::Uninit; 5];

impl ProgramType {
    /// A host-defined hook: r1 points to a context of `ctx_size` readable and writable bytes,
    /// with the common helpers.
    pub fn generic(ctx_size: u32) -> ProgramType {
        let mut entry = UNINIT_ARGS;
        entry[0] = EntryArg::Ctx;
        ProgramType {
            name: "generic".into(),
            entry,
            context: ContextLayout::flat(ctx_size, true),
            packet: None,
            legacy_packet_loads: false,
            helpers: linux::set(linux::COMMON),
            stack_initialized: false,
            return_range: None,
        }
    }

    /// The conformance convention: r1 points to a readable and writable memory region of
    /// `mem_size` bytes (r1 = 0 when there is none), r2 = `mem_size`; legacy packet loads read
    /// that memory; helper 5 takes anything and returns a number.
    pub fn conformance(mem_size: u32) -> ProgramType {
        let mut entry = UNINIT_ARGS;
        entry[0] = if mem_size == 0 {
            EntryArg::Number(Scalar::constant(0))
        } else {
            EntryArg::Ctx
        };
        entry[1] = EntryArg::Number(Scalar::constant(mem_size as u64));
        let mut helpers = HelperSet::new();
        helpers.insert(
            5,
            HelperPrototype::new(
                "conformance_helper",
                &[
                    ArgKind::Anything,
                    ArgKind::DontCare,
                    ArgKind::DontCare,
                    ArgKind::DontCare,
                    ArgKind::DontCare,
                ],
                RetKind::Integer,
            ),
        );
        ProgramType {
            name: "conformance".into(),
            entry,
            context: ContextLayout::flat(mem_size, true),
            packet: None,
            legacy_packet_loads: true,
            helpers,
            stack_initialized: false,
            return_range: None,
        }
    }

    /// XDP: the context is Linux's `struct xdp_md` (32-bit fields; `data`, `data_end`,
    /// `data_meta` load packet pointers), the packet is writable.
    pub fn xdp() -> ProgramType {
        let mut entry = UNINIT_ARGS;
        entry[0] = EntryArg::Ctx;
        let read = FieldKind::Data { writable: false };
        let field = |offset, kind| CtxField {
            offset,
            size: 4,
            kind,
        };
        let mut helper_ids = linux::COMMON.to_vec();
        helper_ids.extend([
            linux::REDIRECT,
            linux::PERF_EVENT_OUTPUT,
            linux::CSUM_DIFF,
            linux::XDP_ADJUST_HEAD,
            linux::REDIRECT_MAP,
            linux::XDP_ADJUST_META,
            linux::XDP_ADJUST_TAIL,
            linux::FIB_LOOKUP,
        ]);
        ProgramType {
            name: "xdp".into(),
            entry,
            context: ContextLayout {
                size: 24,
                fields: vec![
                    field(0, FieldKind::PacketData),
                    field(4, FieldKind::PacketEnd),
                    field(8, FieldKind::PacketMeta),
                    field(12, read),
                    field(16, read),
                    field(20, read),
                ],
            },
            packet: Some(PacketAccess {
                max_size: 0xffff,
                max_meta: 256,
                writable: true,
            }),
            legacy_packet_loads: false,
            helpers: linux::set(&helper_ids),
            stack_initialized: false,
            return_range: None,
        }
    }

    /// A socket filter: the context is Linux's `struct __sk_buff` without direct packet access
    /// (the packet is read with legacy loads and `skb_load_bytes`); only `cb[]` is writable.
    pub fn socket_filter() -> ProgramType {
        let mut ty = ProgramType::sk_buff("socket_filter", false);
        ty.helpers
            .extend(linux::set(&[linux::SKB_LOAD_BYTES, 46, 47]));
        ty
    }

    /// A traffic-control classifier: `struct __sk_buff` with direct packet access (`data` at
    /// 76, `data_end` at 80, `data_meta` at 140), writable packet, `mark`, `priority`,
    /// `tc_index`, `cb[]` and `tc_classid` writable.
    pub fn tc_classifier() -> ProgramType {
        let mut ty = ProgramType::sk_buff("tc_classifier", true);
        ty.helpers.extend(linux::set(&[
            linux::SKB_STORE_BYTES,
            linux::L3_CSUM_REPLACE,
            linux::L4_CSUM_REPLACE,
            13,
            18,
            19,
            20,
            21,
            linux::REDIRECT,
            linux::PERF_EVENT_OUTPUT,
            linux::SKB_LOAD_BYTES,
            linux::CSUM_DIFF,
            29,
            30,
            31,
            32,
            34,
            38,
            linux::SKB_PULL_DATA,
            40,
            41,
            43,
            48,
            50,
            68,
            linux::FIB_LOOKUP,
        ]));
        ty
    }

    fn sk_buff(name: &str, direct_packet: bool) -> ProgramType {
        let mut entry = UNINIT_ARGS;
        entry[0] = EntryArg::Ctx;
        let data = |offset, size, writable| CtxField {
            offset,
            size,
            kind: FieldKind::Data { writable },
        };
        let tc = direct_packet;
        let mut fields = vec![
            data(0, 8, false),   // len, pkt_type
            data(8, 4, tc),      // mark
            data(12, 4, false),  // queue_mapping
            data(16, 16, false), // protocol, vlan_present, vlan_tci, vlan_proto
            data(32, 4, tc),     // priority
            data(36, 8, false),  // ingress_ifindex, ifindex
            data(44, 4, tc),     // tc_index
            data(48, 20, true),  // cb[5]
            data(68, 4, false),  // hash
            data(84, 56, false), // napi_id .. local_port
        ];
        if tc {
            fields.push(data(72, 4, true)); // tc_classid
            fields.push(CtxField {
                offset: 76,
                size: 4,
                kind: FieldKind::PacketData,
            });
            fields.push(CtxField {
                offset: 80,
                size: 4,
                kind: FieldKind::PacketEnd,
            });
            fields.push(CtxField {
                offset: 140,
                size: 4,
                kind: FieldKind::PacketMeta,
            });
        }
        ProgramType {
            name: name.into(),
            entry,
            context: ContextLayout { size: 192, fields },
            packet: direct_packet.then_some(PacketAccess {
                max_size: 0xffff,
                max_meta: 256,
                writable: true,
            }),
            legacy_packet_loads: true,
            helpers: linux::set(linux::COMMON),
            stack_initialized: false,
            return_range: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_permissions() {
        let xdp = ProgramType::xdp();
        assert!(xdp.context.data_allows(12, 24, false));
        assert!(
            !xdp.context.data_allows(12, 16, true),
            "xdp_md is read-only"
        );
        assert!(
            !xdp.context.data_allows(0, 4, false),
            "data is a pointer field"
        );
        assert!(!xdp.context.data_allows(20, 28, false), "past the end");
        let sock = ProgramType::socket_filter();
        assert!(sock.context.data_allows(48, 68, true), "cb[] is writable");
        assert!(
            !sock.context.data_allows(76, 80, false),
            "no direct packet access"
        );
        assert!(ContextLayout::flat(0, true).data_allows(0, 0, true));
        assert!(!ContextLayout::flat(0, true).data_allows(0, 1, false));
    }
}
