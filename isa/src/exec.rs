//! The execution ABI every engine implements: memory regions, helpers, run inputs, errors and
//! the `Engine` trait.
//!
//! Programs address host memory directly (as in Linux, uBPF and rbpf): r1 holds the real address
//! of the input memory and r10 the real address of the top of the current stack frame. Safety
//! comes from the regions: every access of a program run with bounds checks must lie inside the
//! stack or inside a region the host declared for this run.

use crate::prelude::*;
use crate::program::Program;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};

/// Bytes of stack per call frame (Linux: `MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;
/// Maximum number of call frames, the entry function included (Linux: `MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;
/// Total stack of one run: every frame gets its own 512 bytes.
pub const STACK_SIZE: usize = STACK_FRAME_SIZE * MAX_CALL_FRAMES;

/// Whether an access reads or writes memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A load (or the read of a helper).
    Read,
    /// A store, an atomic operation, or the write of a helper.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// A range of host memory a program may access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// Host address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether stores (and atomics) are allowed.
    pub writable: bool,
}

impl Region {
    /// Whether `[addr, addr + size)` lies inside the region and `access` is allowed.
    /// Overflow-safe for any `addr` and `size`.
    #[inline]
    pub fn allows(&self, addr: u64, size: u64, access: Access) -> bool {
        let offset = addr.wrapping_sub(self.start);
        addr >= self.start
            && offset <= self.len
            && size <= self.len - offset
            && (access == Access::Read || self.writable)
    }

    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// The set of regions of one run, stack included. Checks are a linear scan: runs have a handful
/// of regions, and engines check the stack and the input memory inline before falling back here.
#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    regions: Vec<Region>,
}

impl MemoryMap {
    /// A map with these regions.
    pub fn new(regions: Vec<Region>) -> Self {
        MemoryMap { regions }
    }

    /// Adds a region.
    pub fn push(&mut self, region: Region) {
        if region.len > 0 {
            self.regions.push(region);
        }
    }

    /// The regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Whether some region allows the access.
    #[inline]
    pub fn allows(&self, addr: u64, size: u64, access: Access) -> bool {
        self.regions
            .iter()
            .any(|region| region.allows(addr, size, access))
    }

    /// Copies `len` bytes at `addr` out of program memory, if a region allows reading them.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryFault> {
        if !self.allows(addr, len as u64, Access::Read) {
            return Err(MemoryFault {
                addr,
                size: len as u64,
                access: Access::Read,
            });
        }
        let mut out = vec![0u8; len];
        // SAFETY: a region the host declared valid for this run covers [addr, addr + len);
        // the destination is a fresh buffer, so the ranges cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), len) };
        Ok(out)
    }

    /// Copies `data` into program memory at `addr`, if a writable region covers it.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), MemoryFault> {
        if !self.allows(addr, data.len() as u64, Access::Write) {
            return Err(MemoryFault {
                addr,
                size: data.len() as u64,
                access: Access::Write,
            });
        }
        // SAFETY: a writable region the host declared valid for this run covers the range;
        // `data` is a Rust slice, which cannot alias program memory the engine accesses only
        // through raw pointers while the helper runs.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_c_str(&self, addr: u64, max: usize) -> Result<Vec<u8>, MemoryFault> {
        let mut out = Vec::new();
        for i in 0..max as u64 {
            let byte = self.read(addr.wrapping_add(i), 1)?[0];
            if byte == 0 {
                break;
            }
            out.push(byte);
        }
        Ok(out)
    }
}

/// An access no region allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{access} of {size} bytes at {addr:#x} is outside every region")]
pub struct MemoryFault {
    /// The first address of the access.
    pub addr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it reads or writes.
    pub access: Access,
}

/// What a helper can see of the running program.
pub struct HelperContext<'a> {
    memory: &'a MemoryMap,
}

impl<'a> HelperContext<'a> {
    /// Built by engines for each helper call.
    pub fn new(memory: &'a MemoryMap) -> Self {
        HelperContext { memory }
    }

    /// The memory the program may access (its stack and the run's regions).
    pub fn memory(&self) -> &MemoryMap {
        self.memory
    }
}

/// Why a helper did not return a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// The helper failed; the program stops with this message.
    #[error("{0}")]
    Failed(String),
    /// The helper accessed memory the program may not access.
    #[error(transparent)]
    Memory(#[from] MemoryFault),
    /// A successful tail call: the program stops and the host runs the target (which the
    /// helper recorded where the host can find it).
    #[error("tail call")]
    TailCall,
}

/// A helper function: gets r1 to r5, returns r0.
pub type HelperFn =
    dyn Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync;

/// A helper registered under an id.
#[derive(Clone)]
pub struct Helper {
    /// Name for diagnostics and disassembly (`bpf_map_lookup_elem`, ...).
    pub name: String,
    /// The implementation.
    pub func: Arc<HelperFn>,
}

impl fmt::Debug for Helper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Helper").field("name", &self.name).finish()
    }
}

/// Helpers by id, filled by the host.
#[derive(Clone, Debug, Default)]
pub struct HelperTable {
    helpers: BTreeMap<u32, Helper>,
}

impl HelperTable {
    /// An empty table.
    pub fn new() -> Self {
        HelperTable::default()
    }

    /// Registers (or replaces) the helper with this id.
    pub fn register<F>(&mut self, id: u32, name: impl Into<String>, func: F)
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.helpers.insert(
            id,
            Helper {
                name: name.into(),
                func: Arc::new(func),
            },
        );
    }

    /// The helper with this id.
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.helpers.get(&id)
    }

    /// Whether a helper has this id.
    pub fn contains(&self, id: u32) -> bool {
        self.helpers.contains_key(&id)
    }

    /// All helpers by id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Helper)> {
        self.helpers.iter().map(|(id, helper)| (*id, helper))
    }

    /// Calls helper `id`. Unknown ids are an error (`callx` can name any id at run time).
    pub fn call(
        &self,
        id: u64,
        memory: &MemoryMap,
        args: [u64; 5],
        pc: usize,
    ) -> Result<u64, ExecError> {
        let helper = u32::try_from(id)
            .ok()
            .and_then(|id| self.helpers.get(&id))
            .ok_or(ExecError::UnknownHelper { pc, id })?;
        let mut context = HelperContext::new(memory);
        (helper.func)(&mut context, args).map_err(|error| match error {
            HelperError::TailCall => ExecError::TailCall { pc },
            other => ExecError::Helper {
                pc,
                id,
                name: helper.name.clone(),
                message: other.to_string(),
            },
        })
    }
}

/// A flag another thread sets to stop a running program (wall-clock deadlines).
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag that is not set.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Asks running programs that watch this flag to stop.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Clears the flag.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Whether the flag is set.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Address of the flag, for JIT code that polls it.
    pub fn as_ptr(&self) -> *const AtomicBool {
        Arc::as_ptr(&self.0)
    }
}

/// How an engine prepares a program.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Instruction budget per run; `None` for no limit.
    pub fuel: Option<u64>,
    /// Check every memory access against the run's regions. Only programs the verifier accepted
    /// may run without checks.
    pub bounds_checks: bool,
    /// The helpers the program may call.
    pub helpers: Arc<HelperTable>,
    /// Polled at every block entry: when set, the run stops with `ExecError::Interrupted`.
    pub interrupt: Option<Interrupt>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            fuel: None,
            bounds_checks: true,
            helpers: Arc::new(HelperTable::new()),
            interrupt: None,
        }
    }
}

/// The inputs of one run: initial argument registers and the memory the program may access.
///
/// The lifetime ties the run input to the buffers it was built from, so they outlive the run.
#[derive(Clone, Debug)]
pub struct RunInput<'a> {
    /// Initial values of r1 to r5.
    pub args: [u64; 5],
    regions: RegionList,
    packet: Option<Region>,
    _buffers: PhantomData<&'a mut [u8]>,
}

/// The regions of a run. Runs rarely have more than a context and a packet, so the first few
/// are stored inline: building a `RunInput` does not allocate, and engines reading the regions
/// at the start of every run do not follow a pointer to another cache line.
#[derive(Clone, Debug)]
struct RegionList {
    inline: [Region; INLINE_REGIONS],
    inline_len: usize,
    /// Every region, once there are more than `INLINE_REGIONS` (then `inline` is unused).
    spilled: Vec<Region>,
}

const INLINE_REGIONS: usize = 3;

const NO_REGION: Region = Region {
    start: 0,
    len: 0,
    writable: false,
};

impl RegionList {
    #[inline]
    const fn new() -> RegionList {
        RegionList {
            inline: [NO_REGION; INLINE_REGIONS],
            inline_len: 0,
            spilled: Vec::new(),
        }
    }

    #[inline]
    const fn one(region: Region) -> RegionList {
        let mut inline = [NO_REGION; INLINE_REGIONS];
        inline[0] = region;
        RegionList {
            inline,
            inline_len: 1,
            spilled: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, region: Region) {
        if !self.spilled.is_empty() {
            self.spilled.push(region);
        } else if self.inline_len < INLINE_REGIONS {
            self.inline[self.inline_len] = region;
            self.inline_len += 1;
        } else {
            self.spilled.extend_from_slice(&self.inline);
            self.spilled.push(region);
        }
    }

    #[inline]
    fn as_slice(&self) -> &[Region] {
        if self.spilled.is_empty() {
            &self.inline[..self.inline_len]
        } else {
            &self.spilled
        }
    }
}

impl<'a> RunInput<'a> {
    /// No memory: r1 to r5 are zero.
    #[inline]
    pub fn empty() -> RunInput<'static> {
        RunInput {
            args: [0; 5],
            regions: RegionList::new(),
            packet: None,
            _buffers: PhantomData,
        }
    }

    /// The conformance-suite convention: r1 points to a writable copy of `memory` (0 when it is
    /// empty), r2 holds its length, and legacy packet loads read from it.
    #[inline]
    pub fn with_memory(memory: &'a mut [u8]) -> RunInput<'a> {
        let region = Region {
            start: memory.as_mut_ptr() as u64,
            len: memory.len() as u64,
            writable: true,
        };
        // Built in one piece: hosts call this once per run.
        let (regions, packet, r1) = if region.len == 0 {
            (RegionList::new(), Some(region), 0)
        } else {
            (RegionList::one(region), Some(region), region.start)
        };
        RunInput {
            args: [r1, region.len, 0, 0, 0],
            regions,
            packet,
            _buffers: PhantomData,
        }
    }

    /// Lets the program read and write `memory`; returns its region (the address to pass).
    #[inline]
    pub fn add_memory(&mut self, memory: &'a mut [u8]) -> Region {
        let region = Region {
            start: memory.as_mut_ptr() as u64,
            len: memory.len() as u64,
            writable: true,
        };
        self.push(region);
        region
    }

    /// Lets the program read `memory`.
    #[inline]
    pub fn add_readonly(&mut self, memory: &'a [u8]) -> Region {
        let region = Region {
            start: memory.as_ptr() as u64,
            len: memory.len() as u64,
            writable: false,
        };
        self.push(region);
        region
    }

    /// Lets the program access host memory that is not a Rust borrow (map storage, say).
    ///
    /// # Safety
    /// The range must stay valid (and, if writable, writable without aliasing any live Rust
    /// reference) for every run that uses this input.
    #[inline]
    pub unsafe fn add_raw_region(&mut self, region: Region) {
        self.push(region);
    }

    /// Sets the data legacy packet loads (`ldabs`/`ldind`) read; it must be one of the regions.
    #[inline]
    pub fn set_packet(&mut self, packet: Region) {
        self.packet = Some(packet);
    }

    /// The regions besides the stack.
    #[inline]
    pub fn regions(&self) -> &[Region] {
        self.regions.as_slice()
    }

    /// The data legacy packet loads read, if any.
    #[inline]
    pub fn packet(&self) -> Option<Region> {
        self.packet
    }

    #[inline]
    fn push(&mut self, region: Region) {
        if region.len > 0 {
            self.regions.push(region);
        }
    }
}

/// Why a run stopped without a result. Every variant names the pc where it happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A load, store or atomic outside the stack and the run's regions (or a write to a
    /// read-only region).
    #[error("instruction {pc}: {access} of {size} bytes at {addr:#x} is out of bounds")]
    OutOfBounds {
        /// The accessing instruction.
        pc: usize,
        /// Whether it reads or writes.
        access: Access,
        /// The effective address.
        addr: u64,
        /// The access size in bytes.
        size: u64,
    },
    /// A local call when [`MAX_CALL_FRAMES`] frames are already active.
    #[error("instruction {pc}: call depth exceeds {MAX_CALL_FRAMES} frames")]
    CallDepthExceeded {
        /// The call.
        pc: usize,
    },
    /// The fuel left is less than the fuel block starting here.
    #[error("instruction {pc}: out of fuel")]
    OutOfFuel {
        /// The start of the fuel block.
        pc: usize,
    },
    /// The host set the interrupt flag.
    #[error("instruction {pc}: interrupted by the host")]
    Interrupted {
        /// Where the engine noticed it.
        pc: usize,
    },
    /// A `callx` whose register holds an id no helper has.
    #[error("instruction {pc}: no helper has id {id}")]
    UnknownHelper {
        /// The call.
        pc: usize,
        /// The id the register held.
        id: u64,
    },
    /// A helper returned an error.
    #[error("instruction {pc}: helper {id} ({name}) failed: {message}")]
    Helper {
        /// The call.
        pc: usize,
        /// The helper's id.
        id: u64,
        /// The helper's name.
        name: String,
        /// The helper's error.
        message: String,
    },
    /// The program made a tail call, which the runtime (not the engine) carries out.
    #[error("instruction {pc}: tail call")]
    TailCall {
        /// The call.
        pc: usize,
    },
}

impl ExecError {
    /// The pc where the run stopped.
    pub fn pc(&self) -> usize {
        match *self {
            ExecError::OutOfBounds { pc, .. }
            | ExecError::CallDepthExceeded { pc }
            | ExecError::OutOfFuel { pc }
            | ExecError::Interrupted { pc }
            | ExecError::UnknownHelper { pc, .. }
            | ExecError::Helper { pc, .. }
            | ExecError::TailCall { pc } => pc,
        }
    }
}

/// Why an engine cannot prepare a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// A `call` of a helper the configuration does not have.
    #[error("instruction {pc}: no helper has id {id}")]
    UnknownHelper {
        /// The call.
        pc: usize,
        /// The helper id.
        id: i64,
    },
    /// An instruction the engine cannot run (a kfunc call, an unresolved `lddw`, ...).
    #[error("instruction {pc}: {what} is not supported by the {engine} engine")]
    Unsupported {
        /// The instruction.
        pc: usize,
        /// The engine's name.
        engine: &'static str,
        /// What it cannot run.
        what: String,
    },
    /// The engine failed for a reason of its own (executable memory, say).
    #[error("{engine} engine: {message}")]
    Engine {
        /// The engine's name.
        engine: &'static str,
        /// What failed.
        message: String,
    },
}

/// An execution engine: prepares a validated program once, then runs it many times.
pub trait Engine: Send + Sync {
    /// Short name (`interp`, `jit`).
    fn name(&self) -> &'static str;

    /// Prepares `program` (pre-decoding or compiling it).
    fn prepare(
        &self,
        program: &Program,
        config: &ExecConfig,
    ) -> Result<Box<dyn Executable>, PrepareError>;
}

/// A prepared program. Each run gets a fresh view of the stack (zeroed at preparation and
/// reused afterwards, so it always holds initialised bytes).
pub trait Executable: Send {
    /// Runs the program to completion and returns r0.
    fn run(&mut self, input: &RunInput<'_>) -> Result<u64, ExecError>;
}

/// Checks what every engine requires of a program before preparing it: helpers exist, no kfunc
/// calls and no unresolved `lddw` pseudo-sources remain.
pub fn check_preparable(
    program: &Program,
    config: &ExecConfig,
    engine: &'static str,
) -> Result<(), PrepareError> {
    use crate::instruction::{CallTarget, Instruction, LoadImmKind};
    for (pc, instruction) in program.instructions() {
        match *instruction {
            Instruction::Call(CallTarget::Helper(id))
                if u32::try_from(id).map_or(true, |id| !config.helpers.contains(id)) =>
            {
                return Err(PrepareError::UnknownHelper { pc, id: id as i64 });
            }
            Instruction::Call(CallTarget::Kfunc(id)) => {
                return Err(PrepareError::Unsupported {
                    pc,
                    engine,
                    what: format!("kfunc call {id}"),
                });
            }
            Instruction::LoadImm64 { kind, .. } if kind != LoadImmKind::Imm => {
                return Err(PrepareError::Unsupported {
                    pc,
                    engine,
                    what: format!("unresolved lddw pseudo-source {kind:?}"),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_checks_are_overflow_safe() {
        let region = Region {
            start: 0x1000,
            len: 0x10,
            writable: false,
        };
        assert!(region.allows(0x1000, 0x10, Access::Read));
        assert!(region.allows(0x100f, 1, Access::Read));
        assert!(!region.allows(0x100f, 2, Access::Read));
        assert!(!region.allows(0xfff, 1, Access::Read));
        assert!(!region.allows(0x1008, u64::MAX, Access::Read));
        assert!(!region.allows(u64::MAX, 2, Access::Read));
        assert!(!region.allows(0x1000, 1, Access::Write));
    }

    #[test]
    fn memory_map_reads_and_writes_only_inside_regions() {
        let mut buffer = [1u8, 2, 3, 4];
        let mut input = RunInput::empty();
        let region = input.add_memory(&mut buffer);
        let map = MemoryMap::new(input.regions().to_vec());
        assert_eq!(map.read(region.start + 1, 2).unwrap(), vec![2, 3]);
        assert!(map.read(region.start + 3, 2).is_err());
        map.write(region.start, &[9]).unwrap();
        assert_eq!(map.read(region.start, 1).unwrap(), vec![9]);
    }

    #[test]
    fn with_memory_follows_the_conformance_convention() {
        let mut buffer = [0u8; 8];
        let input = RunInput::with_memory(&mut buffer);
        assert_eq!(input.args[1], 8);
        assert_ne!(input.args[0], 0);
        let mut nothing: [u8; 0] = [];
        let input = RunInput::with_memory(&mut nothing);
        assert_eq!(input.args[..2], [0, 0]);
        assert!(input.regions().is_empty());
    }

    #[test]
    fn regions_keep_their_order_past_the_inline_ones() {
        let mut buffers = [[0u8; 4]; 6];
        let mut input = RunInput::empty();
        let mut added = Vec::new();
        for (i, buffer) in buffers.iter_mut().enumerate() {
            let region = if i % 2 == 0 {
                input.add_memory(buffer)
            } else {
                input.add_readonly(buffer)
            };
            added.push(region);
            assert_eq!(input.regions(), &added[..], "after {} regions", i + 1);
        }
        let copy = input.clone();
        assert_eq!(copy.regions(), &added[..]);
    }

    #[test]
    fn unknown_helpers_are_errors() {
        let table = HelperTable::new();
        let map = MemoryMap::default();
        assert_eq!(
            table.call(7, &map, [0; 5], 3),
            Err(ExecError::UnknownHelper { pc: 3, id: 7 })
        );
    }
}
