//! Linux's common program types, built on the verifier's [`ProgramType`], and their selection
//! by ELF section name prefix as libbpf does it (`xdp`, `socket`, `kprobe/...`, ...).
//!
//! Context layouts are Linux's UAPI structs (`struct __sk_buff`, `struct xdp_md`,
//! `struct bpf_sock_ops`, `struct bpf_sock_addr`, `struct bpf_sock`, `pt_regs`...). Tracing
//! contexts are read-only; their pt_regs layout is x86-64's unless the host asks for another
//! architecture, since that is what clang builds for by default (`__TARGET_ARCH_x86`).

use crate::elf::{ElfObject, ElfProgram};
use crate::maps::MapSpec;
use xbpf_verifier::helpers::linux;
use xbpf_verifier::{
    ContextLayout, CtxField, EntryArg, FieldKind, LineTable, MapDescriptor, ProgramType,
    SourceLocation,
};

/// The architecture whose `pt_regs` tracing programs read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegsArch {
    /// `struct pt_regs`: 21 registers, 168 bytes.
    X86_64,
    /// `struct user_pt_regs`: x0-x30, sp, pc, pstate, 272 bytes.
    Aarch64,
}

impl RegsArch {
    /// The size of the register structure in bytes.
    pub fn pt_regs_size(self) -> u32 {
        match self {
            RegsArch::X86_64 => 21 * 8,
            RegsArch::Aarch64 => 34 * 8,
        }
    }
}

/// Largest tracepoint record a tracepoint program may read (the real size depends on the
/// tracepoint's format, which a userspace host defines).
pub const TRACEPOINT_CONTEXT_SIZE: u32 = 4096;
/// `raw_tracepoint` contexts: `u64 args[12]`.
pub const RAW_TRACEPOINT_ARGS: u32 = 12;

/// Helpers tracing programs may call besides the common ones.
const TRACING_HELPERS: &[i32] = &[16, 22, 25, 27, 35, 36, 37, 45, 55, 67, 80, 114, 115];

fn with_ctx(name: &str, context: ContextLayout, helpers: &[i32]) -> ProgramType {
    let mut ty = ProgramType::generic(context.size);
    ty.name = name.into();
    ty.context = context;
    let mut ids = linux::COMMON.to_vec();
    ids.extend_from_slice(helpers);
    ty.helpers = linux::set(&ids);
    ty
}

fn read_only(size: u32) -> ContextLayout {
    ContextLayout::flat(size, false)
}

fn fields(size: u32, ranges: &[(u32, u32, bool)]) -> ContextLayout {
    ContextLayout {
        size,
        fields: ranges
            .iter()
            .map(|&(offset, size, writable)| CtxField {
                offset,
                size,
                kind: FieldKind::Data { writable },
            })
            .collect(),
    }
}

/// `kprobe/`, `kretprobe/`, `uprobe/`, `uretprobe/`: r1 points to the probed task's registers.
pub fn kprobe(arch: RegsArch) -> ProgramType {
    let mut ty = with_ctx("kprobe", read_only(arch.pt_regs_size()), TRACING_HELPERS);
    ty.helpers.extend(linux::set(&[linux::OVERRIDE_RETURN]));
    ty
}

/// `tracepoint/`, `tp/`: r1 points to the tracepoint's record.
pub fn tracepoint() -> ProgramType {
    with_ctx(
        "tracepoint",
        read_only(TRACEPOINT_CONTEXT_SIZE),
        TRACING_HELPERS,
    )
}

/// `raw_tracepoint/`, `raw_tp/`: r1 points to the tracepoint's `u64` arguments.
pub fn raw_tracepoint() -> ProgramType {
    with_ctx(
        "raw_tracepoint",
        read_only(RAW_TRACEPOINT_ARGS * 8),
        TRACING_HELPERS,
    )
}

/// `perf_event`: `struct bpf_perf_event_data { pt_regs regs; u64 sample_period; u64 addr; }`.
pub fn perf_event(arch: RegsArch) -> ProgramType {
    let mut ty = with_ctx(
        "perf_event",
        read_only(arch.pt_regs_size() + 16),
        TRACING_HELPERS,
    );
    ty.helpers
        .extend(linux::set(&[linux::PERF_PROG_READ_VALUE]));
    ty
}

/// `sockops`: `struct bpf_sock_ops` (224 bytes); `reply`/`replylong` and `sk_txhash` are
/// writable.
pub fn sock_ops() -> ProgramType {
    let context = fields(
        224,
        &[
            (0, 4, false),    // op
            (4, 16, true),    // args[4] / reply / replylong[4]
            (20, 144, false), // family .. sacked_out
            (164, 4, true),   // sk_txhash
            (168, 56, false), // bytes_received .. skb_hwtstamp
        ],
    );
    with_ctx("sock_ops", context, &[25, 49, 53, 57, 59, 70])
}

/// `cgroup/connect4`, `cgroup/bind6`, `cgroup/sendmsg4`...: `struct bpf_sock_addr` (72
/// bytes); the user address and port are writable.
pub fn sock_addr() -> ProgramType {
    let context = fields(
        72,
        &[
            (0, 4, false),   // user_family
            (4, 20, true),   // user_ip4, user_ip6[4]
            (24, 4, true),   // user_port
            (28, 12, false), // family, type, protocol
            (40, 20, true),  // msg_src_ip4, msg_src_ip6[4]
            (64, 8, false),  // sk
        ],
    );
    with_ctx("sock_addr", context, &[49, 57, 64])
}

/// `cgroup/sock`, `cgroup/post_bind4`...: `struct bpf_sock` (80 bytes); `bound_dev_if`,
/// `mark` and `priority` are writable.
pub fn cgroup_sock() -> ProgramType {
    let context = fields(
        80,
        &[
            (0, 4, true),    // bound_dev_if
            (4, 12, false),  // family, type, protocol
            (16, 8, true),   // mark, priority
            (24, 56, false), // src_ip4 .. rx_queue_mapping
        ],
    );
    with_ctx("cgroup_sock", context, &[])
}

/// A `struct __sk_buff` type with direct packet reads (writes when `writable_packet`).
fn sk_buff_direct(name: &str, writable_packet: bool) -> ProgramType {
    let mut ty = ProgramType::tc_classifier();
    ty.name = name.into();
    if let Some(packet) = &mut ty.packet {
        packet.writable = writable_packet;
    }
    ty
}

/// `cgroup_skb/ingress`, `cgroup_skb/egress`, `cgroup/skb`: reads packets directly.
pub fn cgroup_skb() -> ProgramType {
    sk_buff_direct("cgroup_skb", false)
}

/// `lwt_in`, `lwt_out`, `lwt_xmit`, `lwt_seg6local`.
pub fn lwt() -> ProgramType {
    sk_buff_direct("lwt", false)
}

/// `sk_skb/...`: stream parsers and verdicts, with writable packets.
pub fn sk_skb() -> ProgramType {
    sk_buff_direct("sk_skb", true)
}

/// The program type libbpf gives a section by its name, if it is one of the types above.
pub fn for_section(section: &str, arch: RegsArch) -> Option<ProgramType> {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| section.starts_with(p));
    Some(if starts(&["xdp"]) {
        ProgramType::xdp()
    } else if starts(&["socket"]) {
        ProgramType::socket_filter()
    } else if starts(&["classifier", "tc", "action"]) {
        ProgramType::tc_classifier()
    } else if starts(&[
        "kprobe/",
        "kretprobe/",
        "uprobe",
        "uretprobe",
        "ksyscall/",
        "kretsyscall/",
    ]) {
        kprobe(arch)
    } else if starts(&["tracepoint/", "tp/"]) {
        tracepoint()
    } else if starts(&["raw_tracepoint", "raw_tp"]) {
        raw_tracepoint()
    } else if starts(&["perf_event"]) {
        perf_event(arch)
    } else if starts(&["cgroup_skb/", "cgroup/skb"]) {
        cgroup_skb()
    } else if starts(&["sockops"]) {
        sock_ops()
    } else if starts(&["sk_skb"]) {
        sk_skb()
    } else if starts(&["lwt_"]) {
        lwt()
    } else if starts(&["cgroup/sock", "cgroup/post_bind"]) {
        cgroup_sock()
    } else if starts(&[
        "cgroup/bind",
        "cgroup/connect",
        "cgroup/sendmsg",
        "cgroup/recvmsg",
        "cgroup/getpeername",
        "cgroup/getsockname",
    ]) {
        sock_addr()
    } else {
        return None;
    })
}

/// The program type of a program in an object at `object_path`: by section prefix as libbpf
/// does it; for sections without a known prefix, the convention of the PREVAIL sample set
/// (which the verifier corpus follows): Cilium objects hold XDP programs when their file name
/// says `xdp` and traffic-control programs otherwise (their sections are tail-call slots such
/// as `2/1`, or names such as `from-netdev`); anything else is a socket filter.
pub fn for_program(object_path: &str, section: &str, arch: RegsArch) -> ProgramType {
    if let Some(ty) = for_section(section, arch) {
        return ty;
    }
    let file_name = object_path.rsplit('/').next().unwrap_or(object_path);
    if object_path.contains("cilium") {
        if file_name.contains("xdp") {
            return ProgramType::xdp();
        }
        return ProgramType::tc_classifier();
    }
    unspecified()
}

/// The type of a program whose section names no program type (`.text`, or a name a loader
/// such as `tc ... sec NAME` attaches without a type): the context is read as a
/// `struct __sk_buff` (as PREVAIL and its sample set assume), with direct packet access
/// through its `data`/`data_end`/`data_meta` fields, every other field readable and writable,
/// and every helper whose prototype is known (each call is still checked against it).
pub fn unspecified() -> ProgramType {
    let mut ty = ProgramType::tc_classifier();
    ty.name = "unspec".into();
    for field in &mut ty.context.fields {
        if let FieldKind::Data { writable } = &mut field.kind {
            *writable = true;
        }
    }
    ty.helpers = linux::all();
    ty
}

/// The program type called `name`: the names above, the verifier's own (`xdp`,
/// `socket_filter`, `tc_classifier`), or `generic:SIZE` for a host hook with a SIZE-byte
/// readable and writable context.
pub fn by_name(name: &str, arch: RegsArch) -> Option<ProgramType> {
    if let Some(size) = name.strip_prefix("generic:") {
        return size.parse().ok().map(ProgramType::generic);
    }
    Some(match name {
        "xdp" => ProgramType::xdp(),
        "socket_filter" => ProgramType::socket_filter(),
        "tc_classifier" => ProgramType::tc_classifier(),
        "kprobe" => kprobe(arch),
        "tracepoint" => tracepoint(),
        "raw_tracepoint" => raw_tracepoint(),
        "perf_event" => perf_event(arch),
        "sock_ops" => sock_ops(),
        "sock_addr" => sock_addr(),
        "cgroup_sock" => cgroup_sock(),
        "cgroup_skb" => cgroup_skb(),
        "sk_skb" => sk_skb(),
        "lwt" => lwt(),
        "unspec" => unspecified(),
        _ => return None,
    })
}

/// What the verifier needs to know of a map.
pub fn map_descriptor(spec: &MapSpec) -> MapDescriptor {
    MapDescriptor {
        map_type: xbpf_verifier::MapType::from_linux(spec.map_type.id()),
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        inner: spec
            .inner
            .as_deref()
            .map(|inner| Box::new(map_descriptor(inner))),
        read_only: spec.is_read_only_for_programs(),
    }
}

/// The map descriptors of an object, by map index (what its programs' `lddw`s carry).
pub fn map_descriptors(object: &ElfObject) -> Vec<MapDescriptor> {
    object.maps().iter().map(map_descriptor).collect()
}

/// A program's BTF line info as the verifier's line table.
pub fn line_table(program: &ElfProgram) -> LineTable {
    let mut table = LineTable::new();
    for line in &program.line_info {
        table.insert(
            line.pc,
            SourceLocation {
                file: line.file.clone(),
                line: line.line,
                column: line.column,
                text: Some(line.source.clone()),
            },
        );
    }
    table
}

/// A host hook's program type: r1 points to a `ctx_size`-byte context laid out as `fields`
/// (bytes outside every field are inaccessible), with these Linux helpers; the host's own
/// helpers are added with [`ProgramType::helpers`].
pub fn host_hook(
    name: &str,
    ctx_size: u32,
    fields: Vec<CtxField>,
    linux_helpers: &[i32],
) -> ProgramType {
    let mut ty = ProgramType::generic(ctx_size);
    ty.name = name.into();
    ty.entry = [
        EntryArg::Ctx,
        EntryArg::Uninit,
        EntryArg::Uninit,
        EntryArg::Uninit,
        EntryArg::Uninit,
    ];
    ty.context = ContextLayout {
        size: ctx_size,
        fields,
    };
    ty.helpers = linux::set(linux_helpers);
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_select_types_like_libbpf() {
        let name = |s: &str| for_section(s, RegsArch::X86_64).map(|t| t.name);
        assert_eq!(name("xdp"), Some("xdp".into()));
        assert_eq!(name("xdp_redirect_map"), Some("xdp".into()));
        assert_eq!(name("socket1"), Some("socket_filter".into()));
        assert_eq!(name("kprobe/sys_write"), Some("kprobe".into()));
        assert_eq!(name("kretprobe/tcp_v4_connect"), Some("kprobe".into()));
        assert_eq!(
            name("tracepoint/syscalls/sys_enter_open"),
            Some("tracepoint".into())
        );
        assert_eq!(
            name("raw_tracepoint/sys_enter"),
            Some("raw_tracepoint".into())
        );
        assert_eq!(name("perf_event"), Some("perf_event".into()));
        assert_eq!(name("sockops"), Some("sock_ops".into()));
        assert_eq!(name("cgroup/connect4"), Some("sock_addr".into()));
        assert_eq!(name("cgroup/skb"), Some("cgroup_skb".into()));
        assert_eq!(name("classifier"), Some("tc_classifier".into()));
        assert_eq!(name(".text"), None);
    }

    #[test]
    fn layouts_match_the_linux_structs() {
        assert_eq!(kprobe(RegsArch::X86_64).context.size, 168);
        assert_eq!(perf_event(RegsArch::Aarch64).context.size, 288);
        let ops = sock_ops();
        assert!(ops.context.data_allows(4, 20, true), "reply is writable");
        assert!(!ops.context.data_allows(0, 4, true), "op is read-only");
        assert!(ops.context.data_allows(0, 224, false));
        let addr = sock_addr();
        assert!(
            addr.context.data_allows(24, 28, true),
            "user_port is writable"
        );
        assert!(
            !addr.context.data_allows(28, 32, true),
            "family is read-only"
        );
        let skb = cgroup_skb();
        assert!(!skb.packet.unwrap().writable);
        assert!(by_name("generic:32", RegsArch::X86_64).is_some_and(|t| t.context.size == 32));
    }
}
