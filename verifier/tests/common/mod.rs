//! Shared helpers of the verifier's integration tests.
#![allow(dead_code)]

use xbpf_isa::{Program, assemble};
use xbpf_verifier::{
    Check, MapDescriptor, MapType, ProgramType, Rejection, Report, VerifierConfig, verify,
};

/// Assembles a test program (panics with the assembler's message on a typo).
pub fn program(source: &str) -> Program {
    let slots = assemble(source).unwrap_or_else(|e| panic!("assembling {source:?}: {e}"));
    Program::new(slots).unwrap_or_else(|e| panic!("validating {source:?}: {e}"))
}

/// The maps every test program may reference by index.
pub fn test_maps() -> Vec<MapDescriptor> {
    let mut read_only = MapDescriptor::new(MapType::Array, 4, 32, 1);
    read_only.read_only = true;
    let mut outer = MapDescriptor::new(MapType::ArrayOfMaps, 4, 4, 4);
    outer.inner = Some(Box::new(MapDescriptor::new(MapType::Hash, 4, 8, 16)));
    vec![
        MapDescriptor::new(MapType::Hash, 4, 16, 128),    // 0
        MapDescriptor::new(MapType::Array, 4, 64, 1),     // 1
        outer,                                            // 2
        read_only,                                        // 3
        MapDescriptor::new(MapType::RingBuf, 0, 0, 4096), // 4
        MapDescriptor::new(MapType::ProgArray, 4, 4, 8),  // 5
    ]
}

pub fn run(
    ty: &ProgramType,
    source: &str,
    config: &VerifierConfig,
) -> Result<Report, Box<Rejection>> {
    verify(&program(source), ty, &test_maps(), config)
}

/// The expected verdict of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Accept,
    Reject(Check),
}

/// Checks a verdict, printing the diagnostic on a mismatch.
pub fn check_verdict(
    name: &str,
    result: &Result<Report, Box<Rejection>>,
    expect: Expect,
) -> Result<(), String> {
    match (result, expect) {
        (Ok(_), Expect::Accept) => Ok(()),
        (Err(r), Expect::Reject(check)) if r.check == check => Ok(()),
        (Ok(report), Expect::Reject(check)) => Err(format!(
            "{name}: accepted (exit {:?}), expected rejection by {check}",
            report.exit_range.map(|r| r.to_string())
        )),
        (Err(r), _) => Err(format!("{name}: expected {expect:?}, got\n{r}")),
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use xbpf_interp::Interpreter;
use xbpf_isa::{Engine, ExecConfig, ExecError, HelperTable, Instruction, LoadImmKind, RunInput};
use xbpf_verifier::{ContextLayout, CtxField, FieldKind, PacketAccess};

/// The program types the tests use. Every one but `Xdp` and `Tc` can also run on the
/// interpreter (their contexts hold 32-bit packet pointers, which only a runtime that rewrites
/// context loads can provide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `ProgramType::generic(size)`.
    Generic(u32),
    /// XDP-like with 64-bit pointer fields: data at 0, data_end at 8, data_meta at 16, a
    /// writable u64 at 24.
    Packet,
    /// `ProgramType::socket_filter()` with a packet for legacy loads.
    Socket,
    /// `ProgramType::conformance(size)`.
    Conformance(u32),
    Xdp,
    Tc,
}

impl Ty {
    pub fn program_type(self) -> ProgramType {
        match self {
            Ty::Generic(size) => ProgramType::generic(size),
            Ty::Packet => {
                let mut ty = ProgramType::xdp();
                ty.name = "packet64".into();
                let field = |offset, kind| CtxField {
                    offset,
                    size: 8,
                    kind,
                };
                ty.context = ContextLayout {
                    size: 32,
                    fields: vec![
                        field(0, FieldKind::PacketData),
                        field(8, FieldKind::PacketEnd),
                        field(16, FieldKind::PacketMeta),
                        field(24, FieldKind::Data { writable: true }),
                    ],
                };
                ty.packet = Some(PacketAccess {
                    max_size: 0xffff,
                    max_meta: 32,
                    writable: true,
                });
                ty
            }
            Ty::Socket => ProgramType::socket_filter(),
            Ty::Conformance(size) => ProgramType::conformance(size),
            Ty::Xdp => ProgramType::xdp(),
            Ty::Tc => ProgramType::tc_classifier(),
        }
    }

    pub fn runnable(self) -> bool {
        !matches!(self, Ty::Xdp | Ty::Tc)
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn fill(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            *b = self.next() as u8;
        }
    }
}

const HANDLE_BASE: u64 = 0x5a5a_0000;
/// Value sizes of the flattened map table of `test_maps()` (the inner map of map 2 is id 6);
/// the ring buffer (4) gets a record buffer.
const VALUE_SIZES: [usize; 7] = [16, 64, 4, 32, 256, 4, 8];

static HELPER_RANDOM: AtomicU64 = AtomicU64::new(0x1234_5678_9abc_def1);

fn helper_random() -> u64 {
    let mut x = HELPER_RANDOM.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    HELPER_RANDOM.store(x, Ordering::Relaxed);
    x
}

/// Runs an accepted program on the interpreter with `runs` random inputs; every run must end
/// without a memory fault and with r0 inside the verifier's exit range.
pub fn run_randomly(
    ty: Ty,
    source: &str,
    report: &Report,
    runs: usize,
    seed: u64,
) -> Result<(), String> {
    run_program_randomly(ty, &program(source), report, runs, seed)
}

/// `run_randomly` for a program already built.
pub fn run_program_randomly(
    ty: Ty,
    program: &Program,
    report: &Report,
    runs: usize,
    seed: u64,
) -> Result<(), String> {
    let mut values: Vec<Vec<u8>> = VALUE_SIZES.iter().map(|&n| vec![0u8; n]).collect();
    let addresses: Vec<u64> = values.iter_mut().map(|v| v.as_mut_ptr() as u64).collect();

    // Resolve map references the way a loader would.
    let mut slots = Vec::new();
    for (_, instruction) in program.instructions() {
        let resolved = match *instruction {
            Instruction::LoadImm64 { dst, kind, imm } => {
                let index = (imm & 0xffff_ffff) as usize;
                let value = match kind {
                    LoadImmKind::MapByFd | LoadImmKind::MapByIndex => HANDLE_BASE + index as u64,
                    LoadImmKind::MapValueByFd | LoadImmKind::MapValueByIndex => {
                        addresses[index] + (imm >> 32)
                    }
                    _ => imm,
                };
                Instruction::LoadImm64 {
                    dst,
                    kind: LoadImmKind::Imm,
                    imm: value,
                }
            }
            other => other,
        };
        slots.extend(resolved.encode());
    }
    let resolved = xbpf_isa::Program::new(slots).map_err(|e| e.to_string())?;

    let mut helpers = HelperTable::new();
    let lookup_addresses = addresses.clone();
    helpers.register(1, "map_lookup_elem", move |_, args| {
        if helper_random().is_multiple_of(3) {
            return Ok(0);
        }
        let id = args[0].wrapping_sub(HANDLE_BASE) as usize;
        Ok(match id {
            2 => HANDLE_BASE + 6,
            id if id < lookup_addresses.len() => lookup_addresses[id],
            _ => 0,
        })
    });
    let ring = addresses[4];
    helpers.register(131, "ringbuf_reserve", move |_, args| {
        Ok(if helper_random().is_multiple_of(3) || args[1] > 256 {
            0
        } else {
            ring
        })
    });
    for id in [
        2, 3, 4, 6, 8, 12, 16, 23, 25, 26, 28, 44, 51, 54, 65, 87, 88, 89, 130, 132, 133,
    ] {
        helpers.register(id, "returns 0", |_, _| Ok(0));
    }
    for id in [5, 14, 15] {
        helpers.register(id, "random", |_, _| Ok(helper_random()));
    }
    helpers.register(7, "get_prandom_u32", |_, _| {
        Ok(helper_random() as u32 as u64)
    });
    if let Ty::Conformance(_) = ty {
        helpers.register(5, "conformance helper", |_, args| Ok(args[0]));
    }
    let config = ExecConfig {
        fuel: Some(200_000),
        bounds_checks: true,
        helpers: Arc::new(helpers),
        interrupt: None,
    };
    let mut executable = Interpreter
        .prepare(&resolved, &config)
        .map_err(|e| format!("prepare: {e}"))?;
    let range = report.exit_range;
    let mut rng = Rng(seed | 1);
    for run in 0..runs {
        for v in values.iter_mut() {
            rng.fill(v);
        }
        let mut ctx = vec![0u8; 192];
        let mut packet = vec![0u8; 256];
        rng.fill(&mut ctx);
        rng.fill(&mut packet);
        let result = {
            let mut input = RunInput::empty();
            match ty {
                Ty::Generic(size) => {
                    let region = input.add_memory(&mut ctx[..size as usize]);
                    input.args[0] = region.start;
                }
                Ty::Conformance(size) => {
                    input = RunInput::with_memory(&mut ctx[..size as usize]);
                }
                Ty::Packet => {
                    let meta = rng.below(33) as usize;
                    let len = rng.below(201) as usize;
                    let base = packet.as_mut_ptr() as u64;
                    let data = base + 32;
                    ctx[0..8].copy_from_slice(&data.to_le_bytes());
                    ctx[8..16].copy_from_slice(&(data + len as u64).to_le_bytes());
                    ctx[16..24].copy_from_slice(&(data - meta as u64).to_le_bytes());
                    input.add_memory(&mut packet[32 - meta..32 + len]);
                    let region = input.add_memory(&mut ctx[..32]);
                    input.args[0] = region.start;
                }
                Ty::Socket => {
                    let len = rng.below(200) as usize;
                    let pkt = input.add_memory(&mut packet[..len]);
                    input.set_packet(pkt);
                    let region = input.add_memory(&mut ctx[..192]);
                    input.args[0] = region.start;
                }
                Ty::Xdp | Ty::Tc => return Err("not runnable".into()),
            }
            for v in values.iter_mut() {
                input.add_memory(v);
            }
            executable.run(&input)
        };
        match result {
            Ok(r0) => {
                if let Some(range) = range
                    && !range.contains(r0)
                {
                    return Err(format!(
                        "run {run}: r0 = {r0:#x} is outside the exit range {range}"
                    ));
                }
                if range.is_none() {
                    return Err(format!(
                        "run {run}: exited with {r0:#x} though no exit is reachable"
                    ));
                }
            }
            Err(ExecError::OutOfFuel { .. }) => {}
            Err(error) => return Err(format!("run {run}: {error}")),
        }
    }
    Ok(())
}
