//! Context access rewriting for packet pointers, as Linux's `convert_ctx_access` does.
//!
//! Linux contexts (`struct xdp_md`, `struct __sk_buff`) hold packet pointers in `__u32`
//! fields: the kernel rewrites each load of such a field into a load of the real 64-bit
//! pointer. A userspace host's packet lives anywhere in a 64-bit address space, so the same is
//! done here: the runtime appends a shadow area of 8-byte pointers to the context, and each
//! 4-byte load of a packet field through the context pointer becomes an 8-byte load of its
//! shadow slot.
//!
//! Which loads go through the context pointer is found by a small must-analysis per function:
//! r1 holds the context at the entry of the program, copies and constant offsets of it are
//! followed through registers and 8-byte stack spills via r10 (what compilers emit). A 4-byte
//! load at a packet field offset through a register that may or may not be the context cannot
//! be rewritten soundly and is a load-time error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use xbpf_isa::insn::op;
use xbpf_isa::{AluOp, CallTarget, Insn, Instruction, MemSize, Program, Reg, Source, Width};

/// What a register (or spilled stack slot) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    /// The context pointer plus this offset.
    Ctx(i64),
    /// Not the context pointer.
    Other,
    /// The context pointer on some paths only.
    Maybe,
}

impl Value {
    fn join(self, other: Value) -> Value {
        match (self, other) {
            (a, b) if a == b => a,
            (Value::Other, Value::Other) => Value::Other,
            _ => Value::Maybe,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    regs: [Value; 11],
    /// 8-byte spills at r10 + offset.
    stack: BTreeMap<i16, Value>,
}

impl State {
    fn join(&self, other: &State) -> State {
        let mut regs = self.regs;
        for (reg, value) in regs.iter_mut().zip(other.regs) {
            *reg = reg.join(value);
        }
        let keys: BTreeSet<i16> = self
            .stack
            .keys()
            .chain(other.stack.keys())
            .copied()
            .collect();
        let stack = keys
            .into_iter()
            .map(|key| {
                let a = self.stack.get(&key).copied().unwrap_or(Value::Other);
                let b = other.stack.get(&key).copied().unwrap_or(Value::Other);
                (key, a.join(b))
            })
            .filter(|(_, value)| *value != Value::Other)
            .collect();
        State { regs, stack }
    }
}

/// Where a packet pointer field is and where its 8-byte shadow goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShadowField {
    /// Offset of the `__u32` field in the context.
    pub field: u32,
    /// Offset of the 8-byte pointer in the extended context.
    pub shadow: u32,
}

/// A load the rewriting cannot decide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "instruction {pc}: a 4-byte load at offset {offset} may or may not read the context's packet \
     pointer (the context pointer is not tracked on every path)"
)]
pub struct AmbiguousLoad {
    pub pc: usize,
    pub offset: i64,
}

/// Rewrites, in place, every 4-byte load of a packet pointer field through the context into
/// an 8-byte load of its shadow slot. Returns the number of loads rewritten.
pub fn rewrite(
    program: &Program,
    slots: &mut [Insn],
    fields: &[ShadowField],
) -> Result<usize, AmbiguousLoad> {
    let states = analyse(program);
    let mut rewritten = 0;
    for (pc, instruction) in program.instructions() {
        let Instruction::Load {
            size: MemSize::W,
            sign_extend: false,
            src,
            off,
            ..
        } = *instruction
        else {
            continue;
        };
        let Some(state) = states.get(&pc) else {
            continue;
        };
        match state.regs[src.index()] {
            Value::Ctx(base) => {
                let offset = base + i64::from(off);
                if let Some(field) = fields.iter().find(|f| i64::from(f.field) == offset) {
                    let new_off = i64::from(field.shadow) - base;
                    let Ok(new_off) = i16::try_from(new_off) else {
                        return Err(AmbiguousLoad { pc, offset });
                    };
                    slots[pc].opcode = op::CLASS_LDX | op::MODE_MEM | op::SIZE_DW;
                    slots[pc].off = new_off;
                    rewritten += 1;
                }
            }
            Value::Maybe if fields.iter().any(|f| i64::from(f.field) == i64::from(off)) => {
                return Err(AmbiguousLoad {
                    pc,
                    offset: i64::from(off),
                });
            }
            _ => {}
        }
    }
    Ok(rewritten)
}

/// The state before each reachable instruction.
fn analyse(program: &Program) -> BTreeMap<usize, State> {
    let mut states: BTreeMap<usize, State> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for &entry in program.functions() {
        let mut regs = [Value::Other; 11];
        if entry == 0 {
            regs[1] = Value::Ctx(0);
        }
        states.insert(
            entry,
            State {
                regs,
                stack: BTreeMap::new(),
            },
        );
        queue.push_back(entry);
    }
    while let Some(pc) = queue.pop_front() {
        let Some(instruction) = program.instruction(pc) else {
            continue;
        };
        let mut state = states[&pc].clone();
        let successors = step(pc, instruction, &mut state);
        for next in successors {
            if program.instruction(next).is_none() {
                continue;
            }
            let merged = match states.get(&next) {
                Some(old) => old.join(&state),
                None => state.clone(),
            };
            if states.get(&next) != Some(&merged) {
                states.insert(next, merged);
                queue.push_back(next);
            }
        }
    }
    states
}

/// Applies `instruction` to `state`; returns the successors.
fn step(pc: usize, instruction: &Instruction, state: &mut State) -> Vec<usize> {
    let next = pc + 1;
    let target = |off: i64| (pc as i64 + 1 + off) as usize;
    let set = |state: &mut State, reg: Reg, value: Value| {
        if reg != Reg::R10 {
            state.regs[reg.index()] = value;
        }
    };
    match *instruction {
        Instruction::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        } => {
            let pointerish = |value: Value| matches!(value, Value::Ctx(_) | Value::Maybe);
            let value = match (op, src, state.regs[dst.index()]) {
                (AluOp::Mov, Source::Reg(src), _) => state.regs[src.index()],
                (AluOp::Mov, Source::Imm(_), _) => Value::Other,
                (AluOp::Add, Source::Imm(imm), Value::Ctx(k)) => Value::Ctx(k + i64::from(imm)),
                (AluOp::Sub, Source::Imm(imm), Value::Ctx(k)) => Value::Ctx(k - i64::from(imm)),
                (_, _, old) if pointerish(old) => Value::Maybe,
                (AluOp::Add, Source::Reg(src), _) if pointerish(state.regs[src.index()]) => {
                    Value::Maybe
                }
                _ => Value::Other,
            };
            set(state, dst, value);
            vec![next]
        }
        Instruction::LoadImm64 { dst, .. } => {
            set(state, dst, Value::Other);
            vec![next + 1]
        }
        Instruction::Load {
            size,
            dst,
            src,
            off,
            ..
        } => {
            let value = if src == Reg::R10 && size == MemSize::DW {
                state.stack.get(&off).copied().unwrap_or(Value::Other)
            } else {
                Value::Other
            };
            set(state, dst, value);
            vec![next]
        }
        Instruction::Store {
            size,
            dst,
            off,
            src,
        } => {
            if dst == Reg::R10 {
                let len = i16::try_from(size.bytes()).unwrap_or(8);
                state
                    .stack
                    .retain(|slot, _| *slot + 8 <= off || off.saturating_add(len) <= *slot);
                if let (MemSize::DW, Source::Reg(src)) = (size, src) {
                    let value = state.regs[src.index()];
                    if value != Value::Other {
                        state.stack.insert(off, value);
                    }
                }
            }
            vec![next]
        }
        Instruction::Call(target_kind) => {
            for reg in 0..=5u8 {
                if let Some(reg) = Reg::new(reg) {
                    set(state, reg, Value::Other);
                }
            }
            match target_kind {
                CallTarget::Local(_) | CallTarget::Helper(_) | CallTarget::Kfunc(_) => vec![next],
            }
        }
        Instruction::Callx(_) => {
            for reg in 0..=5u8 {
                if let Some(reg) = Reg::new(reg) {
                    set(state, reg, Value::Other);
                }
            }
            vec![next]
        }
        Instruction::Exit => Vec::new(),
        Instruction::Ja { off, .. } => vec![target(i64::from(off))],
        Instruction::Jump { off, .. } => vec![next, target(i64::from(off))],
        Instruction::LoadPacket { .. } => {
            set(state, Reg::R0, Value::Other);
            for reg in 1..=5u8 {
                if let Some(reg) = Reg::new(reg) {
                    set(state, reg, Value::Other);
                }
            }
            vec![next]
        }
        other => {
            if let Some(dst) = other.written_register() {
                set(state, dst, Value::Other);
            }
            vec![next]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [ShadowField; 2] = [
        ShadowField {
            field: 0,
            shadow: 24,
        },
        ShadowField {
            field: 4,
            shadow: 32,
        },
    ];

    fn rewritten(source: &str) -> Result<Vec<Insn>, AmbiguousLoad> {
        let slots = xbpf_isa::assemble(source).unwrap();
        let program = Program::new(slots.clone()).unwrap();
        let mut out = slots;
        rewrite(&program, &mut out, &FIELDS)?;
        Ok(out)
    }

    #[test]
    fn loads_through_copies_and_spills_of_the_context_are_rewritten() {
        let out = rewritten(
            "mov %r6, %r1\nstxdw [%r10-8], %r6\nldxw %r2, [%r6+0]\nldxdw %r7, [%r10-8]\n\
             ldxw %r3, [%r7+4]\nadd %r7, 4\nldxw %r4, [%r7+0]\nldxw %r5, [%r1+12]\nexit\n",
        )
        .unwrap();
        assert_eq!((out[2].opcode, out[2].off), (0x79, 24));
        assert_eq!((out[4].opcode, out[4].off), (0x79, 32));
        assert_eq!(
            (out[6].opcode, out[6].off),
            (0x79, 28),
            "ctx + 4, shadow 32"
        );
        assert_eq!(out[7].opcode, 0x61, "not a packet field");
    }

    #[test]
    fn other_memory_and_clobbered_registers_are_left_alone() {
        let out = rewritten("mov %r1, %r10\nadd %r1, -8\nldxw %r0, [%r1+0]\nexit\n").unwrap();
        assert_eq!(out[2].opcode, 0x61);
        let out = rewritten("call 5\nldxw %r0, [%r1+0]\nexit\n").unwrap();
        assert_eq!(out[1].opcode, 0x61, "r1 is clobbered by the call");
    }

    #[test]
    fn a_maybe_context_load_is_refused() {
        let error =
            rewritten("mov %r2, %r1\njeq %r3, 0, +1\nmov %r2, %r10\nldxw %r0, [%r2+4]\nexit\n")
                .unwrap_err();
        assert_eq!(error, AmbiguousLoad { pc: 3, offset: 4 });
    }
}
