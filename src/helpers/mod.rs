//! Linux-compatible helpers, implemented portably and registered into an
//! [`xbpf_isa::HelperTable`] as closures over the runtime's state ([`HelperEnv`]).
//!
//! Helpers read and write program memory only through `HelperContext::memory()`, so every
//! pointer argument is checked against the run's regions. Argument errors Linux reports with a
//! negative errno return that errno; a map handle that names no map stops the program (only an
//! unverified program can pass one).

mod names;
pub mod printf;
pub mod redirect;
pub mod tail_call;

pub use names::linux_helper_name;

use crate::maps::cpu::current_cpu;
use crate::maps::{Lookup, Map, MapRegistry, MapType, handle_of};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;
use xbpf_isa::exec::MemoryFault;
use xbpf_isa::{
    Access, Executable, HelperContext, HelperError, HelperTable, MemoryMap, Region, RunInput,
};

/// Helper ids (Linux `enum bpf_func_id`).
pub mod id {
    /// `bpf_map_lookup_elem`.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `bpf_map_update_elem`.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `bpf_map_delete_elem`.
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `bpf_probe_read`.
    pub const PROBE_READ: u32 = 4;
    /// `bpf_ktime_get_ns`.
    pub const KTIME_GET_NS: u32 = 5;
    /// `bpf_trace_printk`.
    pub const TRACE_PRINTK: u32 = 6;
    /// `bpf_get_prandom_u32`.
    pub const GET_PRANDOM_U32: u32 = 7;
    /// `bpf_get_smp_processor_id`.
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// `bpf_tail_call`.
    pub const TAIL_CALL: u32 = 12;
    /// `bpf_get_current_pid_tgid`.
    pub const GET_CURRENT_PID_TGID: u32 = 14;
    /// `bpf_get_current_uid_gid`.
    pub const GET_CURRENT_UID_GID: u32 = 15;
    /// `bpf_get_current_comm`.
    pub const GET_CURRENT_COMM: u32 = 16;
    /// `bpf_perf_event_output`.
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    /// `bpf_redirect_map`.
    pub const REDIRECT_MAP: u32 = 51;
    /// `bpf_csum_diff`.
    pub const CSUM_DIFF: u32 = 28;
    /// `bpf_get_numa_node_id`.
    pub const GET_NUMA_NODE_ID: u32 = 42;
    /// `bpf_probe_read_str`.
    pub const PROBE_READ_STR: u32 = 45;
    /// `bpf_map_push_elem`.
    pub const MAP_PUSH_ELEM: u32 = 87;
    /// `bpf_map_pop_elem`.
    pub const MAP_POP_ELEM: u32 = 88;
    /// `bpf_map_peek_elem`.
    pub const MAP_PEEK_ELEM: u32 = 89;
    /// `bpf_probe_read_user`.
    pub const PROBE_READ_USER: u32 = 112;
    /// `bpf_probe_read_kernel`.
    pub const PROBE_READ_KERNEL: u32 = 113;
    /// `bpf_probe_read_user_str`.
    pub const PROBE_READ_USER_STR: u32 = 114;
    /// `bpf_probe_read_kernel_str`.
    pub const PROBE_READ_KERNEL_STR: u32 = 115;
    /// `bpf_jiffies64`.
    pub const JIFFIES64: u32 = 118;
    /// `bpf_ktime_get_boot_ns`.
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    /// `bpf_ringbuf_output`.
    pub const RINGBUF_OUTPUT: u32 = 130;
    /// `bpf_ringbuf_reserve`.
    pub const RINGBUF_RESERVE: u32 = 131;
    /// `bpf_ringbuf_submit`.
    pub const RINGBUF_SUBMIT: u32 = 132;
    /// `bpf_ringbuf_discard`.
    pub const RINGBUF_DISCARD: u32 = 133;
    /// `bpf_ringbuf_query`.
    pub const RINGBUF_QUERY: u32 = 134;
    /// `bpf_ktime_get_coarse_ns`.
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    /// `bpf_snprintf`.
    pub const SNPRINTF: u32 = 165;
    /// `bpf_loop`.
    pub const LOOP: u32 = 181;
    /// `bpf_ktime_get_tai_ns`.
    pub const KTIME_GET_TAI_NS: u32 = 208;
}

const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const E2BIG: i64 = -7;
const ENOENT: i64 = -2;
/// Jiffies per second (Linux `HZ`) for `bpf_jiffies64`.
pub const HZ: u64 = 1000;
/// Most iterations `bpf_loop` runs (Linux: `BPF_MAX_LOOPS`).
pub const MAX_LOOPS: u64 = 1 << 23;
/// Longest format string `trace_printk` and `snprintf` read.
const MAX_FORMAT: usize = 1024;

/// Where `bpf_trace_printk` output goes.
pub type TraceSink = Arc<dyn Fn(&str) + Send + Sync>;

/// What the host tells helpers about the "current task" and the outside world.
pub struct HostInfo {
    /// `bpf_get_current_pid_tgid`: tgid in the upper 32 bits, pid in the lower.
    pub pid_tgid: u64,
    /// `bpf_get_current_uid_gid`: gid in the upper 32 bits, uid in the lower.
    pub uid_gid: u64,
    /// `bpf_get_current_comm` (up to 16 bytes, NUL-padded).
    pub comm: Vec<u8>,
    /// `bpf_trace_printk` output.
    pub trace: TraceSink,
    /// Memory the `probe_read` family may read besides the run's own regions.
    pub probe_regions: RwLock<Vec<Region>>,
    /// Number of CPUs (`bpf_get_smp_processor_id` is below it).
    pub cpus: usize,
    /// Zero of `ktime_get_ns` and friends.
    pub epoch: Instant,
}

impl HostInfo {
    /// This process's ids, a `comm` of `xbpf`, trace output to standard error.
    pub fn new(cpus: usize) -> HostInfo {
        let pid = u64::from(std::process::id());
        HostInfo {
            pid_tgid: (pid << 32) | pid,
            uid_gid: 0,
            comm: b"xbpf".to_vec(),
            trace: Arc::new(|line| eprint!("{line}")),
            probe_regions: RwLock::new(Vec::new()),
            cpus,
            epoch: Instant::now(),
        }
    }

    fn nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A program `bpf_loop` can call back: a subprogram prepared as its own executable.
pub type Callback = Arc<Mutex<Box<dyn Executable>>>;

/// Callback programs by token (what an `lddw` code reference resolves to).
#[derive(Default)]
pub struct Callbacks {
    programs: RwLock<Vec<Callback>>,
}

const CALLBACK_BASE: u64 = 0xffff_b000_0000_0000;

impl Callbacks {
    /// Registers a callback; returns the token programs pass to `bpf_loop`.
    pub fn insert(&self, program: Box<dyn Executable>) -> u64 {
        let mut programs = self.programs.write().unwrap_or_else(|e| e.into_inner());
        programs.push(Arc::new(Mutex::new(program)));
        CALLBACK_BASE | ((programs.len() as u64 - 1) << 4)
    }

    fn get(&self, token: u64) -> Option<Callback> {
        let offset = token.checked_sub(CALLBACK_BASE)?;
        if offset & 0xf != 0 {
            return None;
        }
        let programs = self.programs.read().unwrap_or_else(|e| e.into_inner());
        programs.get(usize::try_from(offset >> 4).ok()?).cloned()
    }
}

/// The state helpers close over.
#[derive(Clone)]
pub struct HelperEnv {
    /// The maps programs refer to by handle.
    pub maps: Arc<MapRegistry>,
    /// The task identity, trace output and probe regions.
    pub host: Arc<HostInfo>,
    /// Weak: callback executables hold the helper table, which holds this.
    pub callbacks: Weak<Callbacks>,
}

fn failed(message: impl Into<String>) -> HelperError {
    HelperError::Failed(message.into())
}

fn map_arg(env: &HelperEnv, handle: u64) -> Result<Arc<Map>, HelperError> {
    env.maps
        .by_handle(handle)
        .ok_or_else(|| failed(format!("{handle:#x} is not a map")))
}

fn errno(value: i64) -> u64 {
    value as u64
}

fn result(outcome: Result<(), crate::maps::MapError>) -> u64 {
    match outcome {
        Ok(()) => 0,
        Err(error) => errno(error.errno()),
    }
}

/// A helper implementation over the runtime's state.
type EnvHelper =
    dyn Fn(&HelperEnv, &mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync;

/// Registers every helper this module implements into `table`.
pub fn register_linux_helpers(table: &mut HelperTable, env: &HelperEnv) {
    let register = |table: &mut HelperTable, id: u32, f: Box<EnvHelper>| {
        let env = env.clone();
        let name = format!("bpf_{}", linux_helper_name(id).unwrap_or("unknown"));
        table.register(id, name, move |ctx, args| f(&env, ctx, args));
    };
    register(table, id::MAP_LOOKUP_ELEM, Box::new(map_lookup_elem));
    register(table, id::MAP_UPDATE_ELEM, Box::new(map_update_elem));
    register(table, id::MAP_DELETE_ELEM, Box::new(map_delete_elem));
    for probe in [id::PROBE_READ, id::PROBE_READ_USER, id::PROBE_READ_KERNEL] {
        register(table, probe, Box::new(probe_read));
    }
    for probe in [
        id::PROBE_READ_STR,
        id::PROBE_READ_USER_STR,
        id::PROBE_READ_KERNEL_STR,
    ] {
        register(table, probe, Box::new(probe_read_str));
    }
    for clock in [
        id::KTIME_GET_NS,
        id::KTIME_GET_BOOT_NS,
        id::KTIME_GET_COARSE_NS,
        id::KTIME_GET_TAI_NS,
    ] {
        register(table, clock, Box::new(|env, _, _| Ok(env.host.nanos())));
    }
    register(
        table,
        id::JIFFIES64,
        Box::new(|env, _, _| Ok(env.host.nanos() / (1_000_000_000 / HZ))),
    );
    register(table, id::TRACE_PRINTK, Box::new(trace_printk));
    register(
        table,
        id::GET_PRANDOM_U32,
        Box::new(|_, _, _| Ok(u64::from(prandom_u32()))),
    );
    register(
        table,
        id::GET_SMP_PROCESSOR_ID,
        Box::new(|env, _, _| Ok(current_cpu(env.host.cpus) as u64)),
    );
    register(table, id::GET_NUMA_NODE_ID, Box::new(|_, _, _| Ok(0)));
    register(table, id::TAIL_CALL, Box::new(tail_call::helper));
    register(
        table,
        id::GET_CURRENT_PID_TGID,
        Box::new(|env, _, _| Ok(env.host.pid_tgid)),
    );
    register(
        table,
        id::GET_CURRENT_UID_GID,
        Box::new(|env, _, _| Ok(env.host.uid_gid)),
    );
    register(table, id::GET_CURRENT_COMM, Box::new(get_current_comm));
    register(table, id::PERF_EVENT_OUTPUT, Box::new(perf_event_output));
    register(table, id::CSUM_DIFF, Box::new(csum_diff));
    register(table, id::MAP_PUSH_ELEM, Box::new(map_push_elem));
    register(
        table,
        id::MAP_POP_ELEM,
        Box::new(|env, ctx, args| map_pop_elem(env, ctx, args, true)),
    );
    register(
        table,
        id::MAP_PEEK_ELEM,
        Box::new(|env, ctx, args| map_pop_elem(env, ctx, args, false)),
    );
    register(table, id::RINGBUF_OUTPUT, Box::new(ringbuf_output));
    register(table, id::RINGBUF_RESERVE, Box::new(ringbuf_reserve));
    register(
        table,
        id::RINGBUF_SUBMIT,
        Box::new(|env, _, args| ringbuf_commit(env, args, false)),
    );
    register(
        table,
        id::RINGBUF_DISCARD,
        Box::new(|env, _, args| ringbuf_commit(env, args, true)),
    );
    register(table, id::RINGBUF_QUERY, Box::new(ringbuf_query));
    register(table, id::SNPRINTF, Box::new(snprintf));
    register(table, id::REDIRECT_MAP, Box::new(redirect::redirect_map));
    register(table, id::LOOP, Box::new(bpf_loop));
}

fn map_lookup_elem(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[0])?;
    let key = ctx.memory().read(args[1], map.spec().key_size as usize)?;
    match map.lookup_for_program(&key) {
        Ok(Some(Lookup::Value(addr))) => Ok(addr),
        Ok(Some(Lookup::InnerMap(id))) => Ok(handle_of(id)),
        Ok(None) => Ok(0),
        Err(error) => Err(failed(format!("map `{}`: {error}", map.spec().name))),
    }
}

fn map_update_elem(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[0])?;
    let key = ctx.memory().read(args[1], map.spec().key_size as usize)?;
    let value = ctx.memory().read(args[2], map.spec().value_size as usize)?;
    Ok(result(map.update_for_program(&key, &value, args[3])))
}

fn map_delete_elem(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[0])?;
    let key = ctx.memory().read(args[1], map.spec().key_size as usize)?;
    Ok(result(map.delete(&key)))
}

fn map_push_elem(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[0])?;
    let value = ctx.memory().read(args[1], map.spec().value_size as usize)?;
    Ok(result(map.push(&value, args[2])))
}

fn map_pop_elem(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
    remove: bool,
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[0])?;
    match map.pop(remove) {
        Ok(value) => {
            ctx.memory().write(args[1], &value)?;
            Ok(0)
        }
        Err(error) => Ok(errno(error.errno())),
    }
}

/// Memory the probe helpers may read: the run's regions plus the host's probe regions.
fn probe_memory(env: &HelperEnv, ctx: &HelperContext<'_>) -> MemoryMap {
    let mut memory = ctx.memory().clone();
    let extra = env
        .host
        .probe_regions
        .read()
        .unwrap_or_else(|e| e.into_inner());
    for region in extra.iter() {
        memory.push(Region {
            writable: false,
            ..*region
        });
    }
    memory
}

/// Fails unless the program may write `size` bytes at `dst` (checked before any buffer of
/// that size is allocated).
fn writable(ctx: &HelperContext<'_>, dst: u64, size: usize) -> Result<(), HelperError> {
    if ctx.memory().allows(dst, size as u64, Access::Write) {
        Ok(())
    } else {
        Err(HelperError::Memory(MemoryFault {
            addr: dst,
            size: size as u64,
            access: Access::Write,
        }))
    }
}

/// `probe_read(dst, size, src)`: copies, or zeroes `dst` and returns -EFAULT (as Linux does).
fn probe_read(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let (dst, size, src) = (args[0], args[1] as u32 as usize, args[2]);
    writable(ctx, dst, size)?;
    match probe_memory(env, ctx).read(src, size) {
        Ok(bytes) => {
            ctx.memory().write(dst, &bytes)?;
            Ok(0)
        }
        Err(_) => {
            ctx.memory().write(dst, &vec![0; size])?;
            Ok(errno(EFAULT))
        }
    }
}

/// `probe_read_str(dst, size, src)`: copies up to `size - 1` bytes and a NUL; returns the length
/// with the NUL. On a fault, zeroes `dst` and returns -EFAULT.
fn probe_read_str(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let (dst, size, src) = (args[0], args[1] as u32 as usize, args[2]);
    if size == 0 {
        return Ok(0);
    }
    writable(ctx, dst, size)?;
    match probe_memory(env, ctx).read_c_str(src, size - 1) {
        Ok(mut bytes) => {
            bytes.push(0);
            ctx.memory().write(dst, &bytes)?;
            Ok(bytes.len() as u64)
        }
        Err(_) => {
            ctx.memory().write(dst, &vec![0; size])?;
            Ok(errno(EFAULT))
        }
    }
}

/// Reads a format string: at most `len` bytes, stopping at the first NUL.
fn read_format(ctx: &HelperContext<'_>, addr: u64, len: usize) -> Result<Vec<u8>, HelperError> {
    let bytes = ctx.memory().read(addr, len.min(MAX_FORMAT))?;
    Ok(bytes.split(|b| *b == 0).next().unwrap_or(&[]).to_vec())
}

fn trace_printk(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let format = read_format(ctx, args[0], args[1] as u32 as usize)?;
    match printf::format(&format, &args[2..5], ctx.memory()) {
        Ok(text) => {
            let text = String::from_utf8_lossy(&text);
            (env.host.trace)(&text);
            Ok(text.len() as u64)
        }
        Err(_) => Ok(errno(EINVAL)),
    }
}

/// `snprintf(str, str_size, fmt, data, data_len)`: `data` holds the arguments as u64s.
fn snprintf(
    _: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let (out, out_size, data, data_len) = (
        args[0],
        args[1] as u32 as usize,
        args[3],
        args[4] as u32 as usize,
    );
    if data_len % 8 != 0 || data_len > 12 * 8 {
        return Ok(errno(EINVAL));
    }
    let format = ctx.memory().read_c_str(args[2], MAX_FORMAT)?;
    let values: Vec<u64> = ctx
        .memory()
        .read(data, data_len)?
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])))
        .collect();
    let Ok(mut text) = printf::format(&format, &values, ctx.memory()) else {
        return Ok(errno(EINVAL));
    };
    let total = text.len() + 1;
    if out_size > 0 {
        text.truncate(out_size - 1);
        text.push(0);
        ctx.memory().write(out, &text)?;
    }
    Ok(total as u64)
}

fn get_current_comm(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let size = args[1] as u32 as usize;
    if size == 0 {
        return Ok(errno(EINVAL));
    }
    writable(ctx, args[0], size)?;
    let mut buffer = vec![0u8; size];
    let len = env.host.comm.len().min(size - 1).min(15);
    buffer[..len].copy_from_slice(&env.host.comm[..len]);
    ctx.memory().write(args[0], &buffer)?;
    Ok(0)
}

/// `BPF_F_CURRENT_CPU`.
const CURRENT_CPU: u64 = 0xffff_ffff;

fn perf_event_output(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = map_arg(env, args[1])?;
    if map.map_type() != MapType::PerfEventArray {
        return Ok(errno(EINVAL));
    }
    let index = args[2] & CURRENT_CPU;
    let cpu = if index == CURRENT_CPU {
        current_cpu(env.host.cpus) as u32
    } else {
        index as u32
    };
    let data = ctx.memory().read(args[3], args[4] as u32 as usize)?;
    Ok(result(map.perf_output(cpu, &data)))
}

/// `csum_diff(from, from_size, to, to_size, seed)`: the one's-complement sum of `seed`, the
/// negated words of `from` and the words of `to`, folded to 32 bits.
fn csum_diff(
    _: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let (from_size, to_size) = (args[1] as u32 as usize, args[3] as u32 as usize);
    if from_size % 4 != 0 || to_size % 4 != 0 || from_size > 512 || to_size > 512 {
        return Ok(errno(EINVAL));
    }
    let from = ctx.memory().read(args[0], from_size)?;
    let to = ctx.memory().read(args[2], to_size)?;
    let word =
        |chunk: &[u8]| u64::from(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    let mut sum = args[4] & 0xffff_ffff;
    sum += from
        .chunks_exact(4)
        .map(|c| !word(c) & 0xffff_ffff)
        .sum::<u64>();
    sum += to.chunks_exact(4).map(word).sum::<u64>();
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    Ok(sum)
}

fn ring_map(env: &HelperEnv, handle: u64) -> Result<Arc<Map>, HelperError> {
    let map = map_arg(env, handle)?;
    if map.ring().is_none() {
        return Err(failed(format!(
            "map `{}` is not a ring buffer",
            map.spec().name
        )));
    }
    Ok(map)
}

fn ringbuf_output(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = ring_map(env, args[0])?;
    let data = ctx.memory().read(args[1], args[2] as u32 as usize)?;
    Ok(result(map.ring().map_or(Ok(()), |ring| ring.output(&data))))
}

fn ringbuf_reserve(
    env: &HelperEnv,
    _: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = ring_map(env, args[0])?;
    if args[2] != 0 {
        return Ok(0);
    }
    Ok(map
        .ring()
        .and_then(|ring| ring.reserve(args[1]).ok())
        .unwrap_or(0))
}

fn ringbuf_commit(env: &HelperEnv, args: [u64; 5], discard: bool) -> Result<u64, HelperError> {
    let addr = args[0];
    for id in 1..=env.maps.len() as u32 {
        let Some(map) = env.maps.get(id) else {
            continue;
        };
        if let Some(ring) = map.ring()
            && ring.arena().offset_of(addr).is_some()
        {
            ring.commit(addr, discard)
                .map_err(|e| failed(format!("ring buffer `{}`: {e}", map.spec().name)))?;
            return Ok(0);
        }
    }
    Err(failed(format!(
        "{addr:#x} is not a reserved ring buffer record"
    )))
}

fn ringbuf_query(
    env: &HelperEnv,
    _: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let map = ring_map(env, args[0])?;
    Ok(map.ring().map_or(0, |ring| ring.query(args[1])))
}

/// `bpf_loop(nr_loops, callback, callback_ctx, flags)`: runs the callback subprogram with
/// (index, callback_ctx) until it returns non-zero or `nr_loops` iterations ran; returns the
/// number of iterations. The callback sees the caller's memory (its stack included).
fn bpf_loop(
    env: &HelperEnv,
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let (count, token, callback_ctx, flags) = (args[0] as u32 as u64, args[1], args[2], args[3]);
    if flags != 0 {
        return Ok(errno(EINVAL));
    }
    if count > MAX_LOOPS {
        return Ok(errno(E2BIG));
    }
    let callbacks = env
        .callbacks
        .upgrade()
        .ok_or_else(|| failed("the runtime is gone"))?;
    let callback = callbacks
        .get(token)
        .ok_or_else(|| failed(format!("{token:#x} is not a callback function")))?;
    let mut program = callback
        .try_lock()
        .map_err(|_| failed("bpf_loop callback is already running (recursive bpf_loop)"))?;
    let mut input = RunInput::empty();
    for region in ctx.memory().regions() {
        // SAFETY: these regions are the memory of the run that called this helper; that run
        // is suspended inside this call, so they stay valid until the nested runs below end.
        unsafe { input.add_raw_region(*region) };
    }
    for index in 0..count {
        input.args = [index, callback_ctx, 0, 0, 0];
        let stop = program
            .run(&input)
            .map_err(|e| failed(format!("bpf_loop callback: {e}")))?;
        if stop != 0 {
            return Ok(index + 1);
        }
    }
    Ok(count)
}

thread_local! {
    static PRANDOM: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A xorshift64* generator per thread, seeded from the clock and the thread.
fn prandom_u32() -> u32 {
    PRANDOM.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            x = nanos ^ (state as *const _ as u64) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    })
}

/// ENOENT, for the tail-call helper.
pub(crate) const NOT_FOUND: i64 = ENOENT;

#[cfg(test)]
mod tests;
