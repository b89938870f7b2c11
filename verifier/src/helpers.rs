//! Helper prototypes: what each argument register must hold and what the helper returns.
//! The host declares them per program type; [`linux`] has prototypes of common Linux helpers
//! under their Linux ids.

use crate::prelude::*;

use alloc::collections::BTreeMap;

/// What an argument register must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// Not read by the helper.
    DontCare,
    /// Any initialised value.
    Anything,
    /// A number.
    Number,
    /// The context pointer, unmodified.
    Ctx,
    /// A map object (from `lddw` with a map pseudo-source).
    MapPtr,
    /// Readable, initialised memory of the key size of the map in an earlier `MapPtr` argument.
    MapKey,
    /// Readable, initialised memory of that map's value size.
    MapValue,
    /// Writable memory of that map's value size, initialised by the helper.
    MapValueOut,
    /// Readable, initialised memory whose size is the next argument.
    MemRead,
    /// Like `MemRead`, or null (the number 0) with a size that may be zero.
    MemReadOrNull,
    /// Writable memory whose size is the next argument, initialised by the helper.
    MemWrite,
    /// Readable, initialised memory whose size is the next argument, which the helper may
    /// also overwrite with numbers (an in/out structure such as `fib_lookup`'s parameters).
    MemReadWrite,
    /// The size of the previous memory argument: a number greater than 0.
    Size,
    /// The size of the previous memory argument, possibly 0.
    SizeOrZero,
    /// A size that must be a known constant greater than 0 (the size of returned memory).
    ConstSize,
}

/// What the helper leaves in r0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetKind {
    /// Any number.
    Integer,
    /// A number in `[min, max]` (signed).
    IntegerInRange(i64, i64),
    /// A pointer to a value of the map in the `MapPtr` argument, or null; for a map-in-map,
    /// the inner map or null.
    MapValueOrNull,
    /// A pointer to memory of the size in the `ConstSize` argument, or null.
    MemOrNull,
}

/// The contract of one helper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperPrototype {
    /// The helper's name (`bpf_map_lookup_elem`, say), for diagnostics.
    pub name: String,
    /// r1, r2, ... (at most five).
    pub args: Vec<ArgKind>,
    /// What r0 holds after the call.
    pub ret: RetKind,
    /// Whether the helper may move or resize the packet (every packet pointer dies).
    pub changes_packet: bool,
}

impl HelperPrototype {
    /// A helper taking `args` (r1, r2, ...) and returning `ret`, that leaves the packet alone.
    pub fn new(name: impl Into<String>, args: &[ArgKind], ret: RetKind) -> HelperPrototype {
        HelperPrototype {
            name: name.into(),
            args: args.to_vec(),
            ret,
            changes_packet: false,
        }
    }

    /// Marks the helper as one that changes packet data.
    pub fn changing_packet(mut self) -> HelperPrototype {
        self.changes_packet = true;
        self
    }
}

/// The helpers a program type allows, by id.
pub type HelperSet = BTreeMap<i32, HelperPrototype>;

/// Prototypes of Linux helpers (ids from `include/uapi/linux/bpf.h`), for the built-in program
/// types and tests. The runtime declares the set it actually provides.
pub mod linux {
    use super::ArgKind::*;
    use super::RetKind::*;
    use super::{HelperPrototype, HelperSet};

    /// `bpf_map_lookup_elem` (helper 1).
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    /// `bpf_map_update_elem` (helper 2).
    pub const MAP_UPDATE_ELEM: i32 = 2;
    /// `bpf_map_delete_elem` (helper 3).
    pub const MAP_DELETE_ELEM: i32 = 3;
    /// `bpf_probe_read` (helper 4).
    pub const PROBE_READ: i32 = 4;
    /// `bpf_ktime_get_ns` (helper 5).
    pub const KTIME_GET_NS: i32 = 5;
    /// `bpf_trace_printk` (helper 6).
    pub const TRACE_PRINTK: i32 = 6;
    /// `bpf_get_prandom_u32` (helper 7).
    pub const GET_PRANDOM_U32: i32 = 7;
    /// `bpf_get_smp_processor_id` (helper 8).
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    /// `bpf_skb_store_bytes` (helper 9).
    pub const SKB_STORE_BYTES: i32 = 9;
    /// `bpf_l3_csum_replace` (helper 10).
    pub const L3_CSUM_REPLACE: i32 = 10;
    /// `bpf_l4_csum_replace` (helper 11).
    pub const L4_CSUM_REPLACE: i32 = 11;
    /// `bpf_tail_call` (helper 12).
    pub const TAIL_CALL: i32 = 12;
    /// `bpf_get_current_pid_tgid` (helper 14).
    pub const GET_CURRENT_PID_TGID: i32 = 14;
    /// `bpf_get_current_uid_gid` (helper 15).
    pub const GET_CURRENT_UID_GID: i32 = 15;
    /// `bpf_get_current_comm` (helper 16).
    pub const GET_CURRENT_COMM: i32 = 16;
    /// `bpf_redirect` (helper 23).
    pub const REDIRECT: i32 = 23;
    /// `bpf_perf_event_output` (helper 25).
    pub const PERF_EVENT_OUTPUT: i32 = 25;
    /// `bpf_skb_load_bytes` (helper 26).
    pub const SKB_LOAD_BYTES: i32 = 26;
    /// `bpf_csum_diff` (helper 28).
    pub const CSUM_DIFF: i32 = 28;
    /// `bpf_skb_pull_data` (helper 39).
    pub const SKB_PULL_DATA: i32 = 39;
    /// `bpf_xdp_adjust_head` (helper 44).
    pub const XDP_ADJUST_HEAD: i32 = 44;
    /// `bpf_redirect_map` (helper 51).
    pub const REDIRECT_MAP: i32 = 51;
    /// `bpf_perf_prog_read_value` (helper 56).
    pub const PERF_PROG_READ_VALUE: i32 = 56;
    /// `bpf_override_return` (helper 58).
    pub const OVERRIDE_RETURN: i32 = 58;
    /// `bpf_fib_lookup` (helper 69).
    pub const FIB_LOOKUP: i32 = 69;
    /// `bpf_xdp_adjust_meta` (helper 54).
    pub const XDP_ADJUST_META: i32 = 54;
    /// `bpf_xdp_adjust_tail` (helper 65).
    pub const XDP_ADJUST_TAIL: i32 = 65;
    /// `bpf_ringbuf_output` (helper 130).
    pub const RINGBUF_OUTPUT: i32 = 130;
    /// `bpf_ringbuf_reserve` (helper 131).
    pub const RINGBUF_RESERVE: i32 = 131;
    /// `bpf_ringbuf_submit` (helper 132).
    pub const RINGBUF_SUBMIT: i32 = 132;
    /// `bpf_ringbuf_discard` (helper 133).
    pub const RINGBUF_DISCARD: i32 = 133;

    /// The prototype of a Linux helper by id, if this table knows it.
    pub fn prototype(id: i32) -> Option<HelperPrototype> {
        let p = HelperPrototype::new;
        let u32_range = IntegerInRange(0, u32::MAX as i64);
        Some(match id {
            1 => p("map_lookup_elem", &[MapPtr, MapKey], MapValueOrNull),
            2 => p(
                "map_update_elem",
                &[MapPtr, MapKey, MapValue, Number],
                Integer,
            ),
            3 => p("map_delete_elem", &[MapPtr, MapKey], Integer),
            4 => p("probe_read", &[MemWrite, SizeOrZero, Anything], Integer),
            5 => p("ktime_get_ns", &[], Integer),
            6 => p(
                "trace_printk",
                &[MemRead, Size, DontCare, DontCare, DontCare],
                Integer,
            ),
            7 => p("get_prandom_u32", &[], u32_range),
            8 => p("get_smp_processor_id", &[], u32_range),
            9 => p(
                "skb_store_bytes",
                &[Ctx, Number, MemRead, Size, Number],
                Integer,
            )
            .changing_packet(),
            10 => p(
                "l3_csum_replace",
                &[Ctx, Number, Number, Number, Number],
                Integer,
            )
            .changing_packet(),
            11 => p(
                "l4_csum_replace",
                &[Ctx, Number, Number, Number, Number],
                Integer,
            )
            .changing_packet(),
            12 => p("tail_call", &[Ctx, MapPtr, Number], Integer),
            13 => p("clone_redirect", &[Ctx, Number, Number], Integer).changing_packet(),
            14 => p("get_current_pid_tgid", &[], Integer),
            15 => p("get_current_uid_gid", &[], Integer),
            16 => p("get_current_comm", &[MemWrite, Size], Integer),
            17 => p("get_cgroup_classid", &[Ctx], u32_range),
            18 => p("skb_vlan_push", &[Ctx, Number, Number], Integer).changing_packet(),
            19 => p("skb_vlan_pop", &[Ctx], Integer).changing_packet(),
            20 => p(
                "skb_get_tunnel_key",
                &[Ctx, MemWrite, Size, Number],
                Integer,
            ),
            21 => p("skb_set_tunnel_key", &[Ctx, MemRead, Size, Number], Integer),
            22 => p("perf_event_read", &[MapPtr, Number], Integer),
            23 => p("redirect", &[Number, Number], Integer),
            24 => p("get_route_realm", &[Ctx], u32_range),
            25 => p(
                "perf_event_output",
                &[Ctx, MapPtr, Number, MemRead, SizeOrZero],
                Integer,
            ),
            26 => p("skb_load_bytes", &[Ctx, Number, MemWrite, Size], Integer),
            27 => p("get_stackid", &[Ctx, MapPtr, Number], Integer),
            28 => p(
                "csum_diff",
                &[MemReadOrNull, SizeOrZero, MemReadOrNull, SizeOrZero, Number],
                Integer,
            ),
            31 => p("skb_change_proto", &[Ctx, Number, Number], Integer).changing_packet(),
            32 => p("skb_change_type", &[Ctx, Number], Integer),
            34 => p("get_hash_recalc", &[Ctx], u32_range),
            35 => p("get_current_task", &[], Integer),
            38 => p("skb_change_tail", &[Ctx, Number, Number], Integer).changing_packet(),
            39 => p("skb_pull_data", &[Ctx, Number], Integer).changing_packet(),
            40 => p("csum_update", &[Ctx, Number], Integer),
            41 => p("set_hash_invalid", &[Ctx], Integer),
            42 => p("get_numa_node_id", &[], Integer),
            43 => p("skb_change_head", &[Ctx, Number, Number], Integer).changing_packet(),
            44 => p("xdp_adjust_head", &[Ctx, Number], Integer).changing_packet(),
            45 => p("probe_read_str", &[MemWrite, Size, Anything], Integer),
            46 => p("get_socket_cookie", &[Ctx], Integer),
            47 => p("get_socket_uid", &[Ctx], u32_range),
            48 => p("set_hash", &[Ctx, Number], Integer),
            50 => p("skb_adjust_room", &[Ctx, Number, Number, Number], Integer).changing_packet(),
            51 => p("redirect_map", &[MapPtr, Number, Number], Integer),
            54 => p("xdp_adjust_meta", &[Ctx, Number], Integer).changing_packet(),
            65 => p("xdp_adjust_tail", &[Ctx, Number], Integer).changing_packet(),
            67 => p("get_stack", &[Ctx, MemWrite, SizeOrZero, Number], Integer),
            87 => p("map_push_elem", &[MapPtr, MapValue, Number], Integer),
            88 => p("map_pop_elem", &[MapPtr, MapValueOut], Integer),
            89 => p("map_peek_elem", &[MapPtr, MapValueOut], Integer),
            29 => p("skb_get_tunnel_opt", &[Ctx, MemWrite, Size], Integer),
            30 => p("skb_set_tunnel_opt", &[Ctx, MemRead, Size], Integer),
            33 => p("skb_under_cgroup", &[Ctx, MapPtr, Number], Integer),
            36 => p("probe_write_user", &[Anything, MemRead, Size], Integer),
            37 => p("current_task_under_cgroup", &[MapPtr, Number], Integer),
            49 => p("setsockopt", &[Ctx, Number, Number, MemRead, Size], Integer),
            52 => p("sk_redirect_map", &[Ctx, MapPtr, Number, Number], Integer),
            53 => p("sock_map_update", &[Ctx, MapPtr, MapKey, Number], Integer),
            55 => p(
                "perf_event_read_value",
                &[MapPtr, Number, MemWrite, Size],
                Integer,
            ),
            56 => p("perf_prog_read_value", &[Ctx, MemWrite, Size], Integer),
            57 => p(
                "getsockopt",
                &[Ctx, Number, Number, MemWrite, Size],
                Integer,
            ),
            58 => p("override_return", &[Ctx, Number], Integer),
            59 => p("sock_ops_cb_flags_set", &[Ctx, Number], Integer),
            64 => p("bind", &[Ctx, MemRead, Size], Integer),
            68 => p(
                "skb_load_bytes_relative",
                &[Ctx, Number, MemWrite, Size, Number],
                Integer,
            ),
            69 => p("fib_lookup", &[Ctx, MemReadWrite, Size, Number], Integer),
            70 => p("sock_hash_update", &[Ctx, MapPtr, MapKey, Number], Integer),
            80 => p("get_current_cgroup_id", &[], Integer),
            112 => p(
                "probe_read_user",
                &[MemWrite, SizeOrZero, Anything],
                Integer,
            ),
            113 => p(
                "probe_read_kernel",
                &[MemWrite, SizeOrZero, Anything],
                Integer,
            ),
            114 => p(
                "probe_read_user_str",
                &[MemWrite, SizeOrZero, Anything],
                Integer,
            ),
            115 => p(
                "probe_read_kernel_str",
                &[MemWrite, SizeOrZero, Anything],
                Integer,
            ),
            118 => p("jiffies64", &[], Integer),
            125 => p("ktime_get_boot_ns", &[], Integer),
            130 => p(
                "ringbuf_output",
                &[MapPtr, MemRead, SizeOrZero, Number],
                Integer,
            ),
            131 => p("ringbuf_reserve", &[MapPtr, ConstSize, Number], MemOrNull),
            132 => p("ringbuf_submit", &[Anything, Number], Integer),
            133 => p("ringbuf_discard", &[Anything, Number], Integer),
            _ => return None,
        })
    }

    /// Every prototype this table knows.
    pub fn all() -> HelperSet {
        (1..=256)
            .filter_map(|id| prototype(id).map(|p| (id, p)))
            .collect()
    }

    /// The prototypes of these ids (unknown ids are skipped).
    pub fn set(ids: &[i32]) -> HelperSet {
        ids.iter()
            .filter_map(|&id| prototype(id).map(|p| (id, p)))
            .collect()
    }

    /// Helpers any program type can use: maps, time (`ktime_get_ns`, `jiffies64`, ...),
    /// random numbers, printing, probe reads, ring buffers.
    pub const COMMON: &[i32] = &[
        1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 87, 88, 89, 112, 113, 118, 125, 130, 131, 132, 133,
    ];
}
