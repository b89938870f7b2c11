//! The embedding API: load programs (ELF objects, raw instructions, assembly), create their
//! maps, prepare them on an engine with the Linux-compatible helpers plus the host's own, and
//! run them many times on contexts the host supplies.
//!
//! ```no_run
//! use xbpf::runtime::Runtime;
//! let runtime = Runtime::new(Box::new(xbpf::interp::Interpreter));
//! let object = runtime.load_elf(&std::fs::read("prog.o").unwrap()).unwrap();
//! let program = runtime.load_program(&object, "xdp", "xdp_prog").unwrap();
//! let mut ctx = [0u8; 16];
//! let r0 = runtime.run(program, &mut ctx).unwrap();
//! ```

mod ctx_rewrite;
mod resolve;

use crate::elf::{ElfError, ElfObject};
use crate::helpers::{
    Callbacks, HelperEnv, HostInfo, linux_helper_name, register_linux_helpers, tail_call,
};
use crate::maps::cpu::default_cpus;
use crate::maps::{
    DEFAULT_MAX_MAP_BYTES, Map, MapError, MapId, MapRegistry, MapSpec, MapType, SlotTarget,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use xbpf_isa::exec::Interrupt;
use xbpf_isa::{
    CallTarget, Engine, ExecConfig, ExecError, Executable, HelperContext, HelperError, HelperTable,
    Insn, Instruction, PrepareError, Program, Region, RunInput, ValidationError,
};

/// A prepared program's id in its runtime (what program arrays hold).
pub type ProgramId = u32;

/// Default of [`RuntimeConfig::max_total_map_bytes`]: 4 GiB.
pub const DEFAULT_MAX_TOTAL_MAP_BYTES: u64 = 4 << 30;

/// How programs are prepared and maps created.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Instruction budget per run (each tail call and callback run gets its own).
    pub fuel: Option<u64>,
    /// Check every memory access. Only programs a verifier accepted may run without.
    pub bounds_checks: bool,
    /// CPUs per-CPU maps keep values for.
    pub cpus: usize,
    /// Memory limit of one map.
    pub max_map_bytes: u64,
    /// Memory limit of all the runtime's maps together (each charged its whole capacity when
    /// created, see [`Map::charged_bytes`]).
    pub max_total_map_bytes: u64,
    /// A flag that stops running programs when set.
    pub interrupt: Option<Interrupt>,
    /// Run programs the verifier accepted (`load_program_verified`) without runtime bounds
    /// checks. Off by default: the checks stay as defence in depth.
    pub trust_verifier: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            fuel: None,
            bounds_checks: true,
            cpus: default_cpus(),
            max_map_bytes: DEFAULT_MAX_MAP_BYTES,
            max_total_map_bytes: DEFAULT_MAX_TOTAL_MAP_BYTES,
            interrupt: None,
            trust_verifier: false,
        }
    }
}

/// Why loading, preparing or running failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The ELF object does not load.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// A map cannot be created or initialised.
    #[error("map `{name}`: {source}")]
    Map {
        /// The map's name.
        name: String,
        /// Why.
        #[source]
        source: MapError,
    },
    /// The object has no such program.
    #[error("no program `{function}` in section `{section}`")]
    NoSuchProgram {
        /// The section asked for.
        section: String,
        /// The function asked for.
        function: String,
    },
    /// No map has this id in the runtime.
    #[error("no map has id {0}")]
    NoSuchMap(MapId),
    /// No program has this id in the runtime.
    #[error("no program has id {0}")]
    NoSuchProgramId(ProgramId),
    /// A reference the loader resolves (a callback, a context rewrite) cannot be resolved.
    #[error("instruction {pc}: {message}")]
    Resolve {
        /// The instruction.
        pc: usize,
        /// Why.
        message: String,
    },
    /// The bytecode does not validate.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A call of a helper the runtime does not provide.
    #[error(
        "instruction {pc}: helper {id}{} is not available in this runtime",
        name.map(|n| format!(" (bpf_{n})")).unwrap_or_default()
    )]
    UnknownHelper {
        /// The call.
        pc: usize,
        /// The helper id.
        id: i64,
        /// Linux's name for it (without `bpf_`), when it is a Linux helper.
        name: Option<&'static str>,
    },
    /// The engine cannot prepare the program.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The run failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `load_program_verified`: the verifier rejected the program.
    #[error(
        "the verifier rejected {section}/{function}:\n{}",
        xbpf_verifier::diagnostics::text::render(rejection)
    )]
    Rejected {
        /// The program's section.
        section: String,
        /// The program's function.
        function: String,
        /// Why it was rejected.
        rejection: Box<xbpf_verifier::Rejection>,
    },
    /// A run ended with a tail call but no target program was recorded.
    #[error("a helper ended the run with a tail call but named no target program")]
    TailCallWithoutTarget,
    /// A packet pointer field of the program type lies outside the context given to the run.
    #[error("packet pointer field at ctx offset {offset} does not fit the context")]
    PacketField {
        /// The field's offset in the context.
        offset: usize,
    },
    /// A packet address too large for a 4-byte context field.
    #[error("packet address {addr:#x} does not fit the {width}-byte context field")]
    PacketAddressTooWide {
        /// The address.
        addr: u64,
        /// The field's width in bytes.
        width: usize,
    },
}

/// Where a context holds pointers to the packet (filled in with real addresses per run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFields {
    /// Offset of the packet start pointer.
    pub data: usize,
    /// Offset of the packet end pointer.
    pub data_end: usize,
    /// Offset of the metadata pointer (set equal to `data`: no metadata).
    pub data_meta: Option<usize>,
    /// Width of each field: 8, or 4 for Linux's `__u32` fields (which only hold addresses
    /// below 4 GiB; Linux rewrites those loads, which needs the verifier's context typing).
    pub width: usize,
}

/// An ELF object whose maps exist in a runtime.
pub struct LoadedObject {
    elf: ElfObject,
    map_ids: Vec<MapId>,
    prepared: Mutex<HashMap<(String, String), ProgramId>>,
    slots_filled: Mutex<bool>,
}

impl LoadedObject {
    /// The parsed object.
    pub fn elf(&self) -> &ElfObject {
        &self.elf
    }

    /// Runtime map ids, by the object's map index.
    pub fn map_ids(&self) -> &[MapId] {
        &self.map_ids
    }

    /// The runtime id of the object's map named `name`.
    pub fn map_id(&self, name: &str) -> Option<MapId> {
        self.elf
            .maps()
            .iter()
            .position(|spec| spec.name == name)
            .map(|index| self.map_ids[index])
    }
}

type SharedExecutable = Arc<Mutex<Box<dyn Executable>>>;

/// How a program is loaded: for which program type, verified or not.
#[derive(Clone, Copy)]
struct Typed<'a> {
    program_type: &'a xbpf_verifier::ProgramType,
    verify: bool,
}

type CustomHelper =
    Arc<dyn Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync>;

/// A runtime: an engine, maps, programs and helpers.
///
/// Maps may be used from any thread while programs run. Each prepared program runs on one
/// thread at a time (its executable owns a stack); prepare it twice to run it in parallel.
pub struct Runtime {
    engine: Box<dyn Engine>,
    config: RuntimeConfig,
    maps: Arc<MapRegistry>,
    host: Arc<HostInfo>,
    callbacks: Arc<Callbacks>,
    custom_helpers: Vec<(u32, String, CustomHelper)>,
    programs: RwLock<Vec<SharedExecutable>>,
    /// Context layouts of programs whose packet pointer loads were rewritten.
    shadows: RwLock<HashMap<ProgramId, ContextShadow>>,
    /// What the maps created so far are charged against `max_total_map_bytes` (maps live as
    /// long as the runtime, so this only grows).
    map_bytes: Mutex<u64>,
}

/// Where a program loaded for a program type with packet pointer fields expects them: its
/// context is extended to `total` bytes and the 8-byte pointers go at these offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextShadow {
    /// Size of the program type's context.
    pub ctx_size: usize,
    /// Size of the extended context.
    pub total: usize,
    /// Where the packet pointers go in the extended context.
    pub fields: PacketFields,
}

impl ContextShadow {
    /// The shadow layout for a program type, if its context has packet pointer fields.
    /// 8-byte fields hold the pointers in place; 4-byte (Linux `__u32`) fields get 8-byte
    /// shadow slots after the context, and loads of them are rewritten.
    fn for_type(
        ty: &xbpf_verifier::ProgramType,
    ) -> Option<(ContextShadow, Vec<ctx_rewrite::ShadowField>)> {
        use xbpf_verifier::FieldKind;
        let find = |kind: FieldKind| ty.context.fields.iter().find(|f| f.kind == kind);
        let data = find(FieldKind::PacketData)?;
        let end = find(FieldKind::PacketEnd)?;
        let meta = find(FieldKind::PacketMeta);
        let ctx_size = ty.context.size as usize;
        if data.size == 8 && end.size == 8 {
            let fields = PacketFields {
                data: data.offset as usize,
                data_end: end.offset as usize,
                data_meta: meta.map(|m| m.offset as usize),
                width: 8,
            };
            return Some((
                ContextShadow {
                    ctx_size,
                    total: ctx_size,
                    fields,
                },
                Vec::new(),
            ));
        }
        let base = ctx_size.next_multiple_of(8);
        let mut shadow_fields = vec![
            ctx_rewrite::ShadowField {
                field: data.offset,
                shadow: base as u32,
            },
            ctx_rewrite::ShadowField {
                field: end.offset,
                shadow: base as u32 + 8,
            },
        ];
        if let Some(meta) = meta {
            shadow_fields.push(ctx_rewrite::ShadowField {
                field: meta.offset,
                shadow: base as u32 + 16,
            });
        }
        let fields = PacketFields {
            data: base,
            data_end: base + 8,
            data_meta: meta.map(|_| base + 16),
            width: 8,
        };
        let total = base + 8 * shadow_fields.len();
        Some((
            ContextShadow {
                ctx_size,
                total,
                fields,
            },
            shadow_fields,
        ))
    }
}

impl Runtime {
    /// A runtime on `engine` with the default configuration.
    pub fn new(engine: Box<dyn Engine>) -> Runtime {
        Runtime::with_config(engine, RuntimeConfig::default())
    }

    /// A runtime on `engine` with `config`.
    pub fn with_config(engine: Box<dyn Engine>, config: RuntimeConfig) -> Runtime {
        let host = Arc::new(HostInfo::new(config.cpus));
        Runtime {
            engine,
            config,
            maps: Arc::new(MapRegistry::new()),
            host,
            callbacks: Arc::new(Callbacks::default()),
            custom_helpers: Vec::new(),
            programs: RwLock::new(Vec::new()),
            shadows: RwLock::new(HashMap::new()),
            map_bytes: Mutex::new(0),
        }
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Replaces what helpers report about the host (pid, comm, trace sink, probe memory).
    /// Applies to programs prepared afterwards.
    pub fn set_host_info(&mut self, host: HostInfo) {
        self.host = Arc::new(host);
    }

    /// Registers a host-defined helper (replacing a built-in one with the same id). Applies
    /// to programs prepared afterwards.
    pub fn register_helper<F>(&mut self, id: u32, name: impl Into<String>, helper: F)
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.custom_helpers
            .push((id, name.into(), Arc::new(helper)));
    }

    /// The full helper table programs get: the built-in Linux helpers, then the host's.
    pub fn helper_table(&self) -> HelperTable {
        let mut table = HelperTable::new();
        let env = HelperEnv {
            maps: Arc::clone(&self.maps),
            host: Arc::clone(&self.host),
            callbacks: Arc::downgrade(&self.callbacks),
        };
        register_linux_helpers(&mut table, &env);
        for (id, name, helper) in &self.custom_helpers {
            let helper = Arc::clone(helper);
            table.register(*id, name.clone(), move |ctx, args| helper(ctx, args));
        }
        table
    }

    /// The maps of this runtime.
    pub fn maps(&self) -> &MapRegistry {
        &self.maps
    }

    /// The map with this id.
    pub fn map(&self, id: MapId) -> Result<Arc<Map>, RuntimeError> {
        self.maps.get(id).ok_or(RuntimeError::NoSuchMap(id))
    }

    /// Creates a map, within the limits of one map and of all the runtime's maps.
    pub fn create_map(&self, spec: &MapSpec) -> Result<MapId, RuntimeError> {
        let map_error = |source| RuntimeError::Map {
            name: spec.name.clone(),
            source,
        };
        let charge = Map::charge(spec, self.config.cpus);
        // Held while the map is allocated, so concurrent creations cannot both fit in what
        // is left.
        let mut in_use = lock(&self.map_bytes);
        let limit = self.config.max_total_map_bytes;
        if in_use.saturating_add(charge) > limit {
            return Err(map_error(MapError::TotalTooLarge {
                name: spec.name.clone(),
                bytes: charge,
                in_use: *in_use,
                limit,
            }));
        }
        let map = Map::new(spec, self.config.cpus, self.config.max_map_bytes).map_err(map_error)?;
        *in_use += charge;
        Ok(self.maps.insert(map))
    }

    /// What the runtime's maps are charged against `RuntimeConfig::max_total_map_bytes`.
    pub fn map_bytes(&self) -> u64 {
        *lock(&self.map_bytes)
    }

    /// Parses an ELF object and creates its maps (inner maps of map-in-maps included).
    pub fn load_elf(&self, bytes: &[u8]) -> Result<LoadedObject, RuntimeError> {
        let elf = ElfObject::parse(bytes)?;
        let mut map_ids = Vec::with_capacity(elf.maps().len());
        for spec in elf.maps() {
            map_ids.push(self.create_map(spec)?);
        }
        for (index, spec) in elf.maps().iter().enumerate() {
            for (slot, target) in &spec.initial_slots {
                if let SlotTarget::Map(inner) = target {
                    let inner_id = *map_ids
                        .get(*inner)
                        .ok_or(RuntimeError::NoSuchMap(*inner as MapId))?;
                    self.set_inner_map(map_ids[index], &slot.to_le_bytes(), inner_id)?;
                }
            }
        }
        Ok(LoadedObject {
            elf,
            map_ids,
            prepared: Mutex::new(HashMap::new()),
            slots_filled: Mutex::new(false),
        })
    }

    /// Prepares program (`section`, `function`) of a loaded object; programs its program
    /// arrays name are prepared too. Loading the same program twice returns the same id.
    pub fn load_program(
        &self,
        object: &LoadedObject,
        section: &str,
        function: &str,
    ) -> Result<ProgramId, RuntimeError> {
        let id = self.prepare_from_object(object, section, function, None)?;
        self.fill_program_slots(object, None)?;
        Ok(id)
    }

    /// Like [`Runtime::load_program`], but the verifier must first accept the program (and
    /// every program its program arrays name) as a program of type `program_type`. Rejections
    /// name the instruction, the failed check and, with BTF line info, the C source line.
    pub fn load_program_verified(
        &self,
        object: &LoadedObject,
        section: &str,
        function: &str,
        program_type: &xbpf_verifier::ProgramType,
    ) -> Result<ProgramId, RuntimeError> {
        self.load_program_as(object, section, function, program_type, true)
    }

    /// Loads a program as a program of `program_type`, verified or not. When the type's
    /// context has packet pointer fields, loads of them are rewritten to read real 64-bit
    /// pointers (see [`Runtime::run_packet`]).
    pub fn load_program_as(
        &self,
        object: &LoadedObject,
        section: &str,
        function: &str,
        program_type: &xbpf_verifier::ProgramType,
        verify: bool,
    ) -> Result<ProgramId, RuntimeError> {
        let typed = Typed {
            program_type,
            verify,
        };
        let id = self.prepare_from_object(object, section, function, Some(typed))?;
        self.fill_program_slots(object, Some(typed))?;
        Ok(id)
    }

    /// The context layout program `program` runs with, when it was loaded for a program type
    /// with packet pointers.
    pub fn context_shadow(&self, program: ProgramId) -> Option<ContextShadow> {
        self.shadows
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&program)
            .copied()
    }

    /// Runs a program on a context and a packet. For programs loaded for a program type with
    /// packet pointer fields, the packet's real addresses are put where the (rewritten)
    /// program reads them; `ctx` is the type's context (shorter is zero-padded) and gets the
    /// program's writes back.
    pub fn run_packet(
        &self,
        program: ProgramId,
        ctx: &mut [u8],
        packet: &mut [u8],
    ) -> Result<u64, RuntimeError> {
        let Some(shadow) = self.context_shadow(program) else {
            return self.run_with_packet(program, ctx, Some(packet), None);
        };
        let mut extended = vec![0u8; shadow.total.max(ctx.len())];
        extended[..ctx.len()].copy_from_slice(ctx);
        let result =
            self.run_with_packet(program, &mut extended, Some(packet), Some(shadow.fields));
        let len = ctx.len();
        ctx.copy_from_slice(&extended[..len]);
        result
    }

    fn verify(
        &self,
        object: &LoadedObject,
        program: &crate::elf::ElfProgram,
        program_type: &xbpf_verifier::ProgramType,
    ) -> Result<(), RuntimeError> {
        let slots = Program::new(program.insns.clone())?;
        let config = xbpf_verifier::VerifierConfig {
            line_table: Some(crate::program_types::line_table(program)),
            ..xbpf_verifier::VerifierConfig::default()
        };
        let maps = crate::program_types::map_descriptors(&object.elf);
        xbpf_verifier::verify(&slots, program_type, &maps, &config)
            .map(|_| ())
            .map_err(|rejection| RuntimeError::Rejected {
                section: program.section.clone(),
                function: program.function.clone(),
                rejection,
            })
    }

    fn prepare_from_object(
        &self,
        object: &LoadedObject,
        section: &str,
        function: &str,
        typed: Option<Typed<'_>>,
    ) -> Result<ProgramId, RuntimeError> {
        let key = (section.to_owned(), function.to_owned());
        if let Some(id) = lock(&object.prepared).get(&key) {
            return Ok(*id);
        }
        let program =
            object
                .elf
                .program(section, function)
                .ok_or_else(|| RuntimeError::NoSuchProgram {
                    section: section.into(),
                    function: function.into(),
                })?;
        let checked = match typed {
            Some(Typed {
                program_type,
                verify: true,
            }) => {
                self.verify(object, program, program_type)?;
                !self.config.trust_verifier
            }
            _ => true,
        };
        let shadow = typed.and_then(|t| ContextShadow::for_type(t.program_type));
        let mut insns = program.insns.clone();
        if let Some((_, fields)) = &shadow
            && !fields.is_empty()
        {
            let validated = Program::new(insns.clone())?;
            ctx_rewrite::rewrite(&validated, &mut insns, fields).map_err(|e| {
                RuntimeError::Resolve {
                    pc: e.pc,
                    message: e.to_string(),
                }
            })?;
        }
        let executable =
            self.prepare_elf_program(object, &insns, &program.functions, 0, checked)?;
        let id = self.add_executable(executable);
        if let Some((layout, _)) = shadow {
            self.shadows
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, layout);
        }
        lock(&object.prepared).insert(key, id);
        Ok(id)
    }

    fn fill_program_slots(
        &self,
        object: &LoadedObject,
        typed: Option<Typed<'_>>,
    ) -> Result<(), RuntimeError> {
        let mut filled = lock(&object.slots_filled);
        if *filled {
            return Ok(());
        }
        *filled = true;
        drop(filled);
        for (index, spec) in object.elf.maps().iter().enumerate() {
            for (slot, target) in &spec.initial_slots {
                if let SlotTarget::Program { section, function } = target {
                    let program = self.prepare_from_object(object, section, function, typed)?;
                    self.set_program_slot(object.map_ids[index], *slot, program)?;
                }
            }
        }
        Ok(())
    }

    /// Resolves and prepares ELF instructions; code references (`bpf_loop` callbacks) become
    /// callback programs of their own.
    fn prepare_elf_program(
        &self,
        object: &LoadedObject,
        insns: &[Insn],
        functions: &[(usize, String)],
        depth: usize,
        bounds_checks: bool,
    ) -> Result<Box<dyn Executable>, RuntimeError> {
        let mut code_ref = |pc: usize, target: usize| -> Result<u64, RuntimeError> {
            let resolve_error = |message: String| RuntimeError::Resolve { pc, message };
            if depth >= 4 {
                return Err(resolve_error("callbacks nest too deeply".into()));
            }
            let name = functions
                .iter()
                .find(|(start, _)| *start == target)
                .map(|(_, name)| name)
                .ok_or_else(|| {
                    resolve_error(format!("code reference to {target}, not a function"))
                })?;
            let callee = object
                .elf
                .programs()
                .iter()
                .find(|p| &p.function == name)
                .ok_or_else(|| resolve_error(format!("function `{name}` not found")))?;
            let executable = self.prepare_elf_program(
                object,
                &callee.insns,
                &callee.functions,
                depth + 1,
                bounds_checks,
            )?;
            Ok(self.callbacks.insert(executable))
        };
        let resolved = resolve::resolve(insns, &object.map_ids, &self.maps, &mut code_ref)?;
        self.prepare_slots(resolved, bounds_checks)
    }

    /// Prepares raw instructions. Map references (`lddw` src 1/5 and 2/6) index `maps`.
    pub fn load_insns(&self, insns: &[Insn], maps: &[MapId]) -> Result<ProgramId, RuntimeError> {
        let mut no_code = |pc: usize, _| -> Result<u64, RuntimeError> {
            Err(RuntimeError::Resolve {
                pc,
                message: "code references need an ELF object".into(),
            })
        };
        let resolved = resolve::resolve(insns, maps, &self.maps, &mut no_code)?;
        let executable = self.prepare_slots(resolved, true)?;
        Ok(self.add_executable(executable))
    }

    /// Assembles and prepares a program in xbpf assembly.
    pub fn load_asm(&self, source: &str, maps: &[MapId]) -> Result<ProgramId, RuntimeError> {
        let insns = xbpf_isa::assemble(source).map_err(|e| RuntimeError::Resolve {
            pc: 0,
            message: e.to_string(),
        })?;
        self.load_insns(&insns, maps)
    }

    fn prepare_slots(
        &self,
        slots: Vec<Insn>,
        bounds_checks: bool,
    ) -> Result<Box<dyn Executable>, RuntimeError> {
        let program = Program::new(slots)?;
        let helpers = self.helper_table();
        for (pc, instruction) in program.instructions() {
            if let Instruction::Call(CallTarget::Helper(id)) = instruction
                && u32::try_from(*id).map_or(true, |id| !helpers.contains(id))
            {
                return Err(RuntimeError::UnknownHelper {
                    pc,
                    id: i64::from(*id),
                    name: u32::try_from(*id).ok().and_then(linux_helper_name),
                });
            }
        }
        let config = ExecConfig {
            fuel: self.config.fuel,
            bounds_checks: self.config.bounds_checks && bounds_checks,
            helpers: Arc::new(helpers),
            interrupt: self.config.interrupt.clone(),
        };
        Ok(self.engine.prepare(&program, &config)?)
    }

    fn add_executable(&self, executable: Box<dyn Executable>) -> ProgramId {
        let mut programs = self.programs.write().unwrap_or_else(|e| e.into_inner());
        programs.push(Arc::new(Mutex::new(executable)));
        programs.len() as ProgramId
    }

    fn executable(&self, id: ProgramId) -> Option<SharedExecutable> {
        let programs = self.programs.read().unwrap_or_else(|e| e.into_inner());
        programs.get((id as usize).checked_sub(1)?).cloned()
    }

    /// Puts program `program` at `index` of program array `map` (for tail calls).
    pub fn set_program_slot(
        &self,
        map: MapId,
        index: u32,
        program: ProgramId,
    ) -> Result<(), RuntimeError> {
        let array = self.map(map)?;
        if array.map_type() != MapType::ProgArray || self.executable(program).is_none() {
            return Err(RuntimeError::Map {
                name: array.spec().name.clone(),
                source: MapError::BadReference("program array slot"),
            });
        }
        array
            .set_id(&index.to_le_bytes(), program, 0)
            .map_err(|source| RuntimeError::Map {
                name: array.spec().name.clone(),
                source,
            })
    }

    /// Stores map `inner` at `key` of map-in-map `outer`; it must match the inner definition.
    pub fn set_inner_map(
        &self,
        outer: MapId,
        key: &[u8],
        inner: MapId,
    ) -> Result<(), RuntimeError> {
        let outer_map = self.map(outer)?;
        let inner_map = self.map(inner)?;
        let error = |source| RuntimeError::Map {
            name: outer_map.spec().name.clone(),
            source,
        };
        let template = outer_map
            .spec()
            .inner
            .as_deref()
            .ok_or(MapError::Unsupported("inner maps"))
            .map_err(error)?;
        let spec = inner_map.spec();
        let compatible = spec.map_type == template.map_type
            && spec.key_size == template.key_size
            && spec.value_size == template.value_size;
        if !compatible {
            return Err(error(MapError::BadReference("compatible inner map")));
        }
        outer_map.set_id(key, inner, 0).map_err(error)
    }

    /// Runs `program` with r1 pointing to `ctx` (0 when empty).
    pub fn run(&self, program: ProgramId, ctx: &mut [u8]) -> Result<u64, RuntimeError> {
        self.run_with_packet(program, ctx, None, None)
    }

    /// Runs `program` with a context and packet data; `fields` says where the context holds
    /// the packet pointers, which are set to the packet's real addresses. Legacy packet loads
    /// read the packet.
    pub fn run_with_packet(
        &self,
        program: ProgramId,
        ctx: &mut [u8],
        packet: Option<&mut [u8]>,
        fields: Option<PacketFields>,
    ) -> Result<u64, RuntimeError> {
        let mut input = RunInput::empty();
        if let Some(packet) = packet {
            let region = input.add_memory(packet);
            input.set_packet(region);
            if let Some(fields) = fields {
                let end = region.start + region.len;
                write_pointer(ctx, fields.data, region.start, fields.width)?;
                write_pointer(ctx, fields.data_end, end, fields.width)?;
                if let Some(meta) = fields.data_meta {
                    write_pointer(ctx, meta, region.start, fields.width)?;
                }
            }
        }
        if !ctx.is_empty() {
            let region = input.add_memory(ctx);
            input.args[0] = region.start;
        }
        for region in self.maps.regions() {
            // SAFETY: map arenas are fixed allocations owned by maps the registry keeps alive
            // for the runtime's life (maps are never removed), and our code only accesses them
            // through raw-pointer copies, so no Rust reference aliases program writes.
            unsafe { input.add_raw_region(region) };
        }
        self.run_input(program, &input)
    }

    /// Runs `program` on a prepared input (the host adds the map regions itself, see
    /// [`Runtime::map_regions`]). Tail calls run their target with the same input, up to
    /// 33 in a chain.
    pub fn run_input(&self, program: ProgramId, input: &RunInput<'_>) -> Result<u64, RuntimeError> {
        tail_call::begin_chain();
        crate::helpers::redirect::clear();
        let mut current = program;
        loop {
            let executable = self
                .executable(current)
                .ok_or(RuntimeError::NoSuchProgramId(current))?;
            let result = lock(&executable).run(input);
            match result {
                Err(ExecError::TailCall { .. }) => {
                    current =
                        tail_call::take_pending().ok_or(RuntimeError::TailCallWithoutTarget)?;
                }
                other => return Ok(other?),
            }
        }
    }

    /// The memory regions of every map, for hosts that build their own `RunInput`.
    pub fn map_regions(&self) -> Vec<Region> {
        self.maps.regions()
    }

    /// Lets the `probe_read` family read `region` (besides each run's own memory).
    ///
    /// # Safety
    /// The memory must stay valid and readable for as long as programs of this runtime run.
    pub unsafe fn add_probe_region(&self, region: Region) {
        self.host
            .probe_regions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(region);
    }
}

fn write_pointer(
    ctx: &mut [u8],
    offset: usize,
    addr: u64,
    width: usize,
) -> Result<(), RuntimeError> {
    let field = offset
        .checked_add(width)
        .and_then(|end| ctx.get_mut(offset..end))
        .ok_or(RuntimeError::PacketField { offset })?;
    match width {
        8 => field.copy_from_slice(&addr.to_le_bytes()),
        4 => {
            let narrow = u32::try_from(addr)
                .map_err(|_| RuntimeError::PacketAddressTooWide { addr, width })?;
            field.copy_from_slice(&narrow.to_le_bytes());
        }
        _ => return Err(RuntimeError::PacketField { offset }),
    }
    Ok(())
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
