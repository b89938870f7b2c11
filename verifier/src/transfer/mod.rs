//! Transfer functions: what each instruction does to an abstract state, and the assertions it
//! must satisfy. A failed assertion is returned as a [`Violation`]; during the fixpoint
//! iteration the analysis then continues from [`Machine::havoc_after`], a sound
//! over-approximation of whatever the instruction did if it did not fault, and the final
//! checking pass reports the violation.

use crate::prelude::*;

mod alu;
mod branch;
mod call;
mod memory;

use crate::checks::{Check, Violation};
use crate::config::VerifierConfig;
use crate::domain::interval::Scalar;
use crate::domain::state::{NREGS, State};
use crate::domain::types::{Nullness, Region, Value, ValueType};
use crate::domain::zone::{VAR_PACKET_END, VAR_PACKET_META};
use crate::maps::MapTable;
use crate::program_type::ProgramType;
use xbpf_isa::{Instruction, LoadImmKind, Reg};

pub use branch::Branches;

/// Everything the transfer functions read besides the state.
pub struct Machine<'a> {
    /// The program type (context, packet, helpers).
    pub program_type: &'a ProgramType,
    /// The maps the program references.
    pub maps: &'a MapTable,
    /// The verifier options.
    pub config: &'a VerifierConfig,
}

/// What happens after an instruction that does not branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Continue with the next instruction.
    Next,
    /// No concrete state reaches the next instruction.
    Dead,
}

/// The result of a transfer function: its value, or the check that failed.
pub type Outcome<T> = Result<T, Violation>;

impl Machine<'_> {
    /// Reads a register, which must be initialised.
    pub fn read(&self, state: &State, reg: Reg) -> Outcome<Value> {
        if reg == Reg::R10 {
            return Ok(Value::pointer(Region::Stack(state.depth() as u8), 0));
        }
        let value = state.regs[reg.index()];
        if value.is_initialized() {
            Ok(value)
        } else {
            Err(Violation::new(
                Check::UninitializedRegister,
                format!("r{} is read before it is written", reg.number()),
                &[reg.number()],
            ))
        }
    }

    /// Executes one instruction that is not a jump, a local call or an exit.
    pub fn step(&self, state: &mut State, pc: usize, instruction: &Instruction) -> Outcome<Flow> {
        match *instruction {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(state, width, op, dst, src),
            Instruction::Neg { width, dst } => self.neg(state, width, dst),
            Instruction::MovSx {
                width,
                dst,
                src,
                from_bits,
            } => self.movsx(state, width, dst, src, from_bits),
            Instruction::Endian { order, bits, dst } => self.endian(state, order, bits, dst),
            Instruction::LoadImm64 { dst, kind, imm } => self.load_imm(state, dst, kind, imm),
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => self.load(state, size, sign_extend, dst, src, off),
            Instruction::Store {
                size,
                dst,
                off,
                src,
            } => self.store(state, pc, size, dst, off, src),
            Instruction::Atomic {
                width,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(state, width, op, fetch, dst, src, off),
            Instruction::LoadPacket { size, mode, .. } => self.load_packet(state, size, mode),
            Instruction::Call(xbpf_isa::CallTarget::Helper(id)) => self.call_helper(state, pc, id),
            Instruction::Callx(reg) => {
                let target = self.read(state, reg)?;
                match (target.ty, target.scalar.as_constant()) {
                    (ValueType::Number, Some(id)) if id <= i32::MAX as u64 => {
                        self.call_helper(state, pc, id as i32)
                    }
                    _ => Err(Violation::new(
                        Check::Unsupported,
                        format!(
                            "callx through r{} = {target}: the helper id is not a known constant",
                            reg.number()
                        ),
                        &[reg.number()],
                    )),
                }
            }
            Instruction::Call(xbpf_isa::CallTarget::Kfunc(id)) => Err(Violation::new(
                Check::Unsupported,
                format!("kfunc call {id}: platform functions have no prototype"),
                &[],
            )),
            // Local calls, jumps and exits are the analysis's business.
            Instruction::Call(xbpf_isa::CallTarget::Local(_))
            | Instruction::Ja { .. }
            | Instruction::Jump { .. }
            | Instruction::Exit => Ok(Flow::Next),
        }
    }

    fn load_imm(&self, state: &mut State, dst: Reg, kind: LoadImmKind, imm: u64) -> Outcome<Flow> {
        let d = dst.index();
        let value = match kind {
            LoadImmKind::Imm => Value::constant(imm),
            LoadImmKind::MapByFd | LoadImmKind::MapByIndex => {
                let index = imm & 0xffff_ffff;
                let map = self.maps.by_index(index).ok_or_else(|| {
                    Violation::new(
                        Check::MapReference,
                        format!(
                            "lddw references map {index}, but the table has {} maps",
                            self.maps.len()
                        ),
                        &[],
                    )
                })?;
                Value::pointer(Region::Map(map), 0)
            }
            LoadImmKind::MapValueByFd | LoadImmKind::MapValueByIndex => {
                let index = imm & 0xffff_ffff;
                let offset = imm >> 32;
                let map = self.maps.by_index(index).ok_or_else(|| {
                    Violation::new(
                        Check::MapReference,
                        format!("lddw references the value of map {index}, which does not exist"),
                        &[],
                    )
                })?;
                let descriptor = self.maps.get(map).expect("ids from by_index exist");
                if !descriptor.map_type.allows_direct_value_access() {
                    return Err(Violation::new(
                        Check::MapReference,
                        format!(
                            "lddw addresses a value of map {index} ({:?}) directly; only array maps allow it",
                            descriptor.map_type
                        ),
                        &[],
                    ));
                }
                if offset >= descriptor.value_size as u64 {
                    return Err(Violation::new(
                        Check::MapReference,
                        format!(
                            "lddw addresses offset {offset} of map {index}'s {}-byte value",
                            descriptor.value_size
                        ),
                        &[],
                    ));
                }
                Value::pointer(Region::MapValue(map), offset as i64)
            }
            LoadImmKind::Variable | LoadImmKind::Code => {
                return Err(Violation::new(
                    Check::Unsupported,
                    format!("lddw pseudo-source {kind:?} cannot be checked"),
                    &[],
                ));
            }
        };
        state.set(d, value);
        Ok(Flow::Next)
    }

    /// A sound state after `instruction` executed without faulting, for when a check failed
    /// and the analysis must go on: what it wrote is unknown, and so is every stack byte it may
    /// have written.
    pub fn havoc_after(&self, state: &mut State, instruction: &Instruction) {
        let mut havoc_memory = false;
        match instruction {
            Instruction::Store { .. } | Instruction::Atomic { .. } => havoc_memory = true,
            Instruction::Call(_) | Instruction::Callx(_) => {
                havoc_memory = true;
                for r in 1..=5 {
                    if state.regs[r].is_initialized() {
                        state.set(r, Value::ANY);
                    }
                }
                self.invalidate_packet(state);
            }
            _ => {}
        }
        if let Some(reg) = instruction.written_register()
            && reg != Reg::R10
        {
            state.set(reg.index(), Value::ANY);
        }
        if havoc_memory {
            for depth in 0..state.stacks.len() {
                let stack = state.stack_mut(depth);
                stack.write_somewhere(0, crate::domain::stack::FRAME_BYTES, Value::ANY);
            }
        }
    }

    /// Every packet pointer dies (a helper moved or resized the packet).
    pub fn invalidate_packet(&self, state: &mut State) {
        let is_packet =
            |value: &Value| matches!(value.region().map(Region::family), Some(Region::Packet));
        for r in 0..NREGS {
            if is_packet(&state.regs[r]) {
                state.set(r, Value::ANY);
            }
        }
        for depth in 0..state.stacks.len() {
            if state.stacks[depth]
                .cells()
                .iter()
                .any(|cell| is_packet(&cell.value))
            {
                state.stack_mut(depth).invalidate(is_packet);
            }
        }
        for caller in &mut state.callers {
            for (value, _) in &mut caller.saved {
                if is_packet(value) {
                    *value = Value::ANY;
                }
            }
        }
        state.zone.forget(VAR_PACKET_END);
        state.zone.forget(VAR_PACKET_META);
        if let Some(packet) = self.program_type.packet {
            state.extra.packet_end = (0, packet.max_size as i64);
            state.extra.packet_meta = (-(packet.max_meta as i64), 0);
        }
    }

    /// A pointer's value for messages.
    pub fn describe(state: &State, reg: u8) -> String {
        if reg == 10 {
            return format!("stack{} + 0", state.depth());
        }
        state.regs[reg as usize].to_string()
    }
}

/// A maybe-null pointer produced at `pc` (ids are pc + 1 so that 0 means "no id").
pub fn null_id(pc: usize) -> u32 {
    pc as u32 + 1
}

/// The copy id a spill at `pc` creates (high bit set: a different namespace from null ids).
pub fn copy_id(pc: usize) -> u32 {
    (pc as u32 + 1) | 0x8000_0000
}

/// A number of `size` bytes loaded without (or with) sign extension.
pub fn loaded_number(size: u32, sign_extend: bool) -> Scalar {
    let bits = 8 * size;
    if bits >= 64 {
        Scalar::TOP
    } else if sign_extend {
        let half = 1i64 << (bits - 1);
        Scalar::signed_range(-half, half - 1)
    } else {
        Scalar::unsigned_range(0, (1u64 << bits) - 1)
    }
}

/// Whether a value is a pointer that may be null.
pub fn maybe_null(value: &Value) -> Option<u32> {
    match value.ty {
        ValueType::Pointer(_, Nullness::MaybeNull(id)) => Some(id),
        _ => None,
    }
}
