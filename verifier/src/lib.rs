//! # xbpf-verifier
//!
//! An abstract-interpretation verifier that proves eBPF programs memory-safe before they run,
//! and says precisely why when it cannot.
//!
//! ```
//! use xbpf_isa::{Program, assemble};
//! use xbpf_verifier::{ProgramType, VerifierConfig, verify};
//!
//! // r0 = *(u32 *)(ctx + 4), for a 16-byte context
//! let program = Program::new(assemble("ldxw %r0, [%r1+4]\nexit")?)?;
//! let report = verify(&program, &ProgramType::generic(16), &[], &VerifierConfig::default())?;
//! assert!(report.exit_range.unwrap().contains(0xffff_ffff));
//!
//! // ... but not past its end
//! let program = Program::new(assemble("ldxw %r0, [%r1+14]\nexit")?)?;
//! let rejection = verify(&program, &ProgramType::generic(16), &[], &VerifierConfig::default())
//!     .unwrap_err();
//! assert_eq!(rejection.check, xbpf_verifier::Check::OutOfBounds);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it works: the program is split into functions and basic blocks ([`cfg`](mod@cfg)); each
//! function is iterated in weak topological order ([`wto`], `fixpoint`) over abstract states
//! ([`domain`]) that give every register a type (number, pointer into a region, maybe-null
//! pointer, ...) with signed/unsigned/32-bit intervals and known bits, relate registers and the
//! packet bounds in a zone, and model the stack byte by byte. States that disagree on types,
//! nullness, zero/constant flags or initialised stack bytes are kept apart at joins (bounded
//! disjunction, [`domain::disjunction`]); registers dead at a block ([`liveness`]) are forgotten
//! on the way in, so states differing only in values never read again merge. Every
//! instruction's safety conditions ([`checks::Check`]) are checked on the final states
//! ([`transfer`]): blocks outside loops as soon as they run, loops once they are stable.
//!
//! The host interface is [`ProgramType`] (context layout, packet access, helper prototypes)
//! and [`MapDescriptor`]s for the maps the program references by index.

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

/// The `alloc` names the `std` prelude would provide, for `no_std` builds.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

pub mod cfg;
pub mod checks;
pub mod concrete;
pub mod config;
pub mod diagnostics;
pub mod domain;
mod fixpoint;
pub mod helpers;
pub mod liveness;
pub mod maps;
pub mod program_type;
pub mod report;
pub mod transfer;
pub mod wto;

use crate::prelude::*;
pub use checks::Check;
pub use config::{LineTable, SourceLocation, VerifierConfig};
pub use helpers::{ArgKind, HelperPrototype, HelperSet, RetKind};
pub use maps::{MapDescriptor, MapType};
pub use program_type::{ContextLayout, CtxField, EntryArg, FieldKind, PacketAccess, ProgramType};
pub use report::{ExitRange, RegisterValue, Rejection, Report, Stats};

use domain::disjunction::Disjunction;
use domain::interval::{Scalar, Thresholds};
use domain::stack::StackFrame;
use domain::state::{ExtraBounds, NREGS, State};
use domain::types::{Region, Value};
use maps::MapTable;
use transfer::Machine;
use xbpf_isa::{Instruction, Program, Source};

/// Verifies `program` as a program of `program_type` whose `lddw` map references index
/// `maps`. On success the report gives the range of r0 at exit; on failure the rejection names
/// the instruction, the failed check, the abstract values involved and a path reaching it.
pub fn verify(
    program: &Program,
    program_type: &ProgramType,
    maps: &[MapDescriptor],
    config: &VerifierConfig,
) -> Result<Report, Box<Rejection>> {
    let cfg = cfg::Cfg::build(program).map_err(|error| {
        let pc = error.pc();
        Box::new(Rejection {
            pc,
            instruction: program.instruction(pc).copied(),
            check: Check::ControlFlow,
            message: error.to_string(),
            registers: Vec::new(),
            path: vec![pc],
            call_stack: Vec::new(),
            location: config
                .line_table
                .as_ref()
                .and_then(|t| t.lookup(pc).cloned()),
        })
    })?;
    let maps = MapTable::new(maps);
    let machine = Machine {
        program_type,
        maps: &maps,
        config,
    };
    let mut analyzer = fixpoint::Analyzer {
        program,
        cfg: &cfg,
        machine,
        config,
        thresholds: thresholds(program, program_type, &maps),
        exit: None,
        loop_bound: None,
        invariants: Default::default(),
        liveness: Default::default(),
        stats: Stats {
            instructions: program.instructions().count(),
            ..Stats::default()
        },
    };
    let entry = entry_state(program_type);
    analyzer.analyze(0, Disjunction::single(entry), Vec::new(), vec![0], true)?;
    Ok(Report {
        exit_range: analyzer.exit.map(ExitRange::new),
        loop_bound: analyzer.loop_bound.map(|b| b.max(0) as u64),
        invariants: analyzer.invariants,
        stats: analyzer.stats,
    })
}

/// The state at the program's entry.
fn entry_state(program_type: &ProgramType) -> State {
    let mut regs = [Value::UNINIT; NREGS];
    for (i, arg) in program_type.entry.iter().enumerate() {
        regs[i + 1] = match arg {
            EntryArg::Uninit => Value::UNINIT,
            EntryArg::Ctx => Value::pointer(Region::Ctx, 0),
            EntryArg::Number(scalar) => Value::number(*scalar),
        };
    }
    let (max_size, max_meta) = program_type
        .packet
        .map_or((0, 0), |p| (p.max_size as i64, p.max_meta as i64));
    let stack = if program_type.stack_initialized {
        StackFrame::initialized()
    } else {
        StackFrame::new()
    };
    State::new(
        regs,
        stack,
        ExtraBounds {
            packet_end: (0, max_size),
            packet_meta: (-max_meta, 0),
            loop_count: (0, 0),
        },
    )
}

/// Widening thresholds: the program's immediates and the sizes of its regions.
fn thresholds(program: &Program, program_type: &ProgramType, maps: &MapTable) -> Thresholds {
    let mut constants: Vec<i64> = Vec::new();
    for (_, instruction) in program.instructions() {
        match *instruction {
            Instruction::Alu {
                src: Source::Imm(imm),
                ..
            }
            | Instruction::Jump {
                src: Source::Imm(imm),
                ..
            }
            | Instruction::Store {
                src: Source::Imm(imm),
                ..
            } => constants.push(imm as i64),
            Instruction::LoadImm64 { imm, .. } => constants.push(imm as i64),
            Instruction::Load { off, .. } => constants.push(off as i64),
            _ => {}
        }
    }
    constants.push(program_type.context.size as i64);
    constants.push(domain::stack::FRAME_BYTES as i64);
    if let Some(packet) = program_type.packet {
        constants.push(packet.max_size as i64);
    }
    for id in 0..maps.len() {
        if let Some(map) = maps.get(id as u32) {
            constants.push(map.value_size as i64);
            constants.push(map.max_entries as i64);
        }
    }
    constants.push(Scalar::TOP.smax);
    Thresholds::new(constants)
}
