//! The dispatch loop: runs pre-decoded ops until the entry function exits.
//!
//! One `match` per op on its flat [`Kind`]; the registers live in a local array indexed by
//! [`crate::code::RegIndex`] (so without bounds checks); calls keep their frames in a fixed-size
//! array owned by the executable, so a run allocates nothing.

use crate::prelude::*;
use xbpf_isa::exec::{Interrupt, MAX_CALL_FRAMES, STACK_FRAME_SIZE};
use xbpf_isa::{
    AluOp, AtomicOp, ByteOrder, ExecError, HelperTable, JmpCond, MemoryMap, RunInput, Width,
};

use crate::code::{Code, FALL_THROUGH, Kind, Op};
use crate::memory::Memory;
use crate::semantics::{alu32, alu64, byte_order, condition, movsx, neg};

/// What a run needs besides the code and the registers.
pub(crate) struct Run<'a> {
    pub memory: Memory<'a>,
    pub input: &'a RunInput<'a>,
    pub helpers: &'a HelperTable,
    /// The memory map helpers see (the stack plus the run's regions), kept between runs and
    /// rebuilt only when the run's regions change.
    pub helper_memory: &'a mut MemoryMap,
    pub interrupt: Option<&'a Interrupt>,
}

/// What a local call saves: where to return and the callee-saved registers r6 to r9.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Frame {
    return_pc: usize,
    saved: [u64; 4],
}

/// The frames of the callers of the current function (the entry function has none).
pub(crate) type Frames = [Frame; MAX_CALL_FRAMES - 1];

/// Runs `code` from pc 0. With `METERED`, each pc's fuel is charged from `fuel` when execution
/// reaches it (what is left stays in `fuel` however the run ends). With `POLL`, the interrupt flag is polled at every taken backward jump and local
/// call (before helper calls it is polled always, it costs nothing there).
///
/// `code` comes from [`crate::code::translate`] on a validated program, so every pc reached is
/// inside it: jump and call targets were checked, and the last instruction is `exit` or `ja`.
///
/// Inlined into `InterpretedProgram::run` (one copy per variant): as a call, a run first stored
/// the `Run` fields to memory and the loop's prologue loaded and spilled them again, about 30 of
/// the 158 host instructions a two-instruction program cost (`simple`: 14.4 → 11.1 ns).
#[inline(always)]
pub(crate) fn execute<const METERED: bool, const POLL: bool>(
    code: &Code,
    run: &mut Run<'_>,
    frames: &mut Frames,
    fuel: &mut u64,
) -> Result<u64, ExecError> {
    let ops = &code.ops[..];
    let mut r = [0u64; 11];
    r[1..6].copy_from_slice(&run.input.args);
    r[10] = run.memory.stack_top();
    let mut depth = 0;
    let mut pc = 0;

    loop {
        let op = &ops[pc];
        if METERED {
            let block = code.fuel[pc];
            if block != 0 {
                let block = u64::from(block);
                if *fuel < block {
                    return Err(ExecError::OutOfFuel { pc });
                }
                *fuel -= block;
            }
        }

        /// Continues at `$target`, the target of the jump at `$from`, polling the interrupt
        /// flag when the jump goes backwards.
        macro_rules! jump_to {
            ($target:expr, $from:expr) => {{
                let target = $target;
                if POLL && target <= $from {
                    poll(run.interrupt, target)?;
                }
                pc = target;
                continue;
            }};
        }

        /// A conditional jump: to the op's target when `$taken`, else to the next slot or to
        /// the target of the `ja` folded into the jump.
        macro_rules! jump_if {
            ($taken:expr) => {{
                if $taken {
                    jump_to!(op.target(), pc);
                }
                if op.next != FALL_THROUGH {
                    jump_to!(op.next as usize, pc + 1);
                }
            }};
        }

        /// A fused `mov dst, src; OP dst, $operand` (ALU64): `dst = src OP $operand`.
        macro_rules! mov_then {
            ($alu:expr, $operand:expr) => {{
                r[op.d()] = alu64($alu, r[op.s()], $operand);
                pc += 2;
                continue;
            }};
        }

        /// A fused `[mov dst, src;] lsh dst, imm; rsh/arsh dst, off` of `$slots` slots.
        macro_rules! shift_pair {
            ($right:expr, $slots:expr) => {{
                let shifted = alu64(AluOp::Lsh, r[op.s()], op.imm64());
                r[op.d()] = alu64($right, shifted, op.mem_offset());
                pc += $slots;
                continue;
            }};
        }

        /// Reads a `$word` at `src + off` (RFC 9669 §5.1).
        macro_rules! load {
            ($word:ty) => {
                run.memory
                    .load::<$word>(pc, r[op.s()].wrapping_add(op.mem_offset()))?
            };
        }

        /// Writes `$value` at `dst + off` (RFC 9669 §5.1).
        macro_rules! store {
            ($value:expr) => {
                run.memory
                    .store(pc, r[op.d()].wrapping_add(op.mem_offset()), $value)?
            };
        }

        match op.kind {
            // RFC 9669 §4.1 Arithmetic instructions (semantics in `semantics::alu64/alu32`).
            Kind::Add64Imm => r[op.d()] = alu64(AluOp::Add, r[op.d()], op.imm64()),
            Kind::Add64Reg => r[op.d()] = alu64(AluOp::Add, r[op.d()], r[op.s()]),
            Kind::Add32Imm => r[op.d()] = alu32(AluOp::Add, r[op.d()], op.imm64()),
            Kind::Add32Reg => r[op.d()] = alu32(AluOp::Add, r[op.d()], r[op.s()]),
            Kind::Sub64Imm => r[op.d()] = alu64(AluOp::Sub, r[op.d()], op.imm64()),
            Kind::Sub64Reg => r[op.d()] = alu64(AluOp::Sub, r[op.d()], r[op.s()]),
            Kind::Sub32Imm => r[op.d()] = alu32(AluOp::Sub, r[op.d()], op.imm64()),
            Kind::Sub32Reg => r[op.d()] = alu32(AluOp::Sub, r[op.d()], r[op.s()]),
            Kind::Mul64Imm => r[op.d()] = alu64(AluOp::Mul, r[op.d()], op.imm64()),
            Kind::Mul64Reg => r[op.d()] = alu64(AluOp::Mul, r[op.d()], r[op.s()]),
            Kind::Mul32Imm => r[op.d()] = alu32(AluOp::Mul, r[op.d()], op.imm64()),
            Kind::Mul32Reg => r[op.d()] = alu32(AluOp::Mul, r[op.d()], r[op.s()]),
            Kind::Div64Imm => r[op.d()] = alu64(AluOp::Div, r[op.d()], op.imm64()),
            Kind::Div64Reg => r[op.d()] = alu64(AluOp::Div, r[op.d()], r[op.s()]),
            Kind::Div32Imm => r[op.d()] = alu32(AluOp::Div, r[op.d()], op.imm64()),
            Kind::Div32Reg => r[op.d()] = alu32(AluOp::Div, r[op.d()], r[op.s()]),
            Kind::SDiv64Imm => r[op.d()] = alu64(AluOp::SDiv, r[op.d()], op.imm64()),
            Kind::SDiv64Reg => r[op.d()] = alu64(AluOp::SDiv, r[op.d()], r[op.s()]),
            Kind::SDiv32Imm => r[op.d()] = alu32(AluOp::SDiv, r[op.d()], op.imm64()),
            Kind::SDiv32Reg => r[op.d()] = alu32(AluOp::SDiv, r[op.d()], r[op.s()]),
            Kind::Or64Imm => r[op.d()] = alu64(AluOp::Or, r[op.d()], op.imm64()),
            Kind::Or64Reg => r[op.d()] = alu64(AluOp::Or, r[op.d()], r[op.s()]),
            Kind::Or32Imm => r[op.d()] = alu32(AluOp::Or, r[op.d()], op.imm64()),
            Kind::Or32Reg => r[op.d()] = alu32(AluOp::Or, r[op.d()], r[op.s()]),
            Kind::And64Imm => r[op.d()] = alu64(AluOp::And, r[op.d()], op.imm64()),
            Kind::And64Reg => r[op.d()] = alu64(AluOp::And, r[op.d()], r[op.s()]),
            Kind::And32Imm => r[op.d()] = alu32(AluOp::And, r[op.d()], op.imm64()),
            Kind::And32Reg => r[op.d()] = alu32(AluOp::And, r[op.d()], r[op.s()]),
            Kind::Lsh64Imm => r[op.d()] = alu64(AluOp::Lsh, r[op.d()], op.imm64()),
            Kind::Lsh64Reg => r[op.d()] = alu64(AluOp::Lsh, r[op.d()], r[op.s()]),
            Kind::Lsh32Imm => r[op.d()] = alu32(AluOp::Lsh, r[op.d()], op.imm64()),
            Kind::Lsh32Reg => r[op.d()] = alu32(AluOp::Lsh, r[op.d()], r[op.s()]),
            Kind::Rsh64Imm => r[op.d()] = alu64(AluOp::Rsh, r[op.d()], op.imm64()),
            Kind::Rsh64Reg => r[op.d()] = alu64(AluOp::Rsh, r[op.d()], r[op.s()]),
            Kind::Rsh32Imm => r[op.d()] = alu32(AluOp::Rsh, r[op.d()], op.imm64()),
            Kind::Rsh32Reg => r[op.d()] = alu32(AluOp::Rsh, r[op.d()], r[op.s()]),
            Kind::Mod64Imm => r[op.d()] = alu64(AluOp::Mod, r[op.d()], op.imm64()),
            Kind::Mod64Reg => r[op.d()] = alu64(AluOp::Mod, r[op.d()], r[op.s()]),
            Kind::Mod32Imm => r[op.d()] = alu32(AluOp::Mod, r[op.d()], op.imm64()),
            Kind::Mod32Reg => r[op.d()] = alu32(AluOp::Mod, r[op.d()], r[op.s()]),
            Kind::SMod64Imm => r[op.d()] = alu64(AluOp::SMod, r[op.d()], op.imm64()),
            Kind::SMod64Reg => r[op.d()] = alu64(AluOp::SMod, r[op.d()], r[op.s()]),
            Kind::SMod32Imm => r[op.d()] = alu32(AluOp::SMod, r[op.d()], op.imm64()),
            Kind::SMod32Reg => r[op.d()] = alu32(AluOp::SMod, r[op.d()], r[op.s()]),
            Kind::Xor64Imm => r[op.d()] = alu64(AluOp::Xor, r[op.d()], op.imm64()),
            Kind::Xor64Reg => r[op.d()] = alu64(AluOp::Xor, r[op.d()], r[op.s()]),
            Kind::Xor32Imm => r[op.d()] = alu32(AluOp::Xor, r[op.d()], op.imm64()),
            Kind::Xor32Reg => r[op.d()] = alu32(AluOp::Xor, r[op.d()], r[op.s()]),
            Kind::Mov64Imm => r[op.d()] = alu64(AluOp::Mov, r[op.d()], op.imm64()),
            Kind::Mov64Reg => r[op.d()] = alu64(AluOp::Mov, r[op.d()], r[op.s()]),
            Kind::Mov32Imm => r[op.d()] = alu32(AluOp::Mov, r[op.d()], op.imm64()),
            Kind::Mov32Reg => r[op.d()] = alu32(AluOp::Mov, r[op.d()], r[op.s()]),
            Kind::Arsh64Imm => r[op.d()] = alu64(AluOp::Arsh, r[op.d()], op.imm64()),
            Kind::Arsh64Reg => r[op.d()] = alu64(AluOp::Arsh, r[op.d()], r[op.s()]),
            Kind::Arsh32Imm => r[op.d()] = alu32(AluOp::Arsh, r[op.d()], op.imm64()),
            Kind::Arsh32Reg => r[op.d()] = alu32(AluOp::Arsh, r[op.d()], r[op.s()]),
            Kind::Neg64 => r[op.d()] = neg(Width::W64, r[op.d()]),
            Kind::Neg32 => r[op.d()] = neg(Width::W32, r[op.d()]),
            Kind::MovSx64From8 => r[op.d()] = movsx(Width::W64, 8, r[op.s()]),
            Kind::MovSx64From16 => r[op.d()] = movsx(Width::W64, 16, r[op.s()]),
            Kind::MovSx64From32 => r[op.d()] = movsx(Width::W64, 32, r[op.s()]),
            Kind::MovSx32From8 => r[op.d()] = movsx(Width::W32, 8, r[op.s()]),
            Kind::MovSx32From16 => r[op.d()] = movsx(Width::W32, 16, r[op.s()]),

            // RFC 9669 §4.2 Byte swap instructions.
            Kind::Le16 => r[op.d()] = byte_order(ByteOrder::ToLe, 16, r[op.d()]),
            Kind::Le32 => r[op.d()] = byte_order(ByteOrder::ToLe, 32, r[op.d()]),
            Kind::Le64 => r[op.d()] = byte_order(ByteOrder::ToLe, 64, r[op.d()]),
            Kind::Be16 => r[op.d()] = byte_order(ByteOrder::ToBe, 16, r[op.d()]),
            Kind::Be32 => r[op.d()] = byte_order(ByteOrder::ToBe, 32, r[op.d()]),
            Kind::Be64 => r[op.d()] = byte_order(ByteOrder::ToBe, 64, r[op.d()]),
            Kind::Swap16 => r[op.d()] = byte_order(ByteOrder::Swap, 16, r[op.d()]),
            Kind::Swap32 => r[op.d()] = byte_order(ByteOrder::Swap, 32, r[op.d()]),
            Kind::Swap64 => r[op.d()] = byte_order(ByteOrder::Swap, 64, r[op.d()]),

            // RFC 9669 §5.4 64-bit immediate instructions: two slots.
            Kind::Lddw => {
                r[op.d()] = op.lddw_constant();
                pc += 1;
            }
            Kind::LddwSecondSlot => {}

            // RFC 9669 §5.1 Regular load and store operations: loads zero-extend.
            Kind::LdxB => r[op.d()] = u64::from(load!(u8)),
            Kind::LdxH => r[op.d()] = u64::from(load!(u16)),
            Kind::LdxW => r[op.d()] = u64::from(load!(u32)),
            Kind::LdxDW => r[op.d()] = load!(u64),
            // RFC 9669 §5.2 Sign-extension load operations: sign-extend to 64 bits.
            Kind::LdxSB => r[op.d()] = load!(u8) as i8 as i64 as u64,
            Kind::LdxSH => r[op.d()] = load!(u16) as i16 as i64 as u64,
            Kind::LdxSW => r[op.d()] = load!(u32) as i32 as i64 as u64,
            // Stores write the low bytes of the immediate (sign-extended for `stdw`) or register.
            Kind::StB => store!(op.imm64() as u8),
            Kind::StH => store!(op.imm64() as u16),
            Kind::StW => store!(op.imm64() as u32),
            Kind::StDW => store!(op.imm64()),
            Kind::StxB => store!(r[op.s()] as u8),
            Kind::StxH => store!(r[op.s()] as u16),
            Kind::StxW => store!(r[op.s()] as u32),
            Kind::StxDW => store!(r[op.s()]),

            // RFC 9669 §5.3 Atomic operations.
            Kind::AtomicAdd32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Add, false)?,
            Kind::AtomicOr32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Or, false)?,
            Kind::AtomicAnd32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::And, false)?,
            Kind::AtomicXor32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Xor, false)?,
            Kind::AtomicFetchAdd32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Add, true)?,
            Kind::AtomicFetchOr32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Or, true)?,
            Kind::AtomicFetchAnd32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::And, true)?,
            Kind::AtomicFetchXor32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Xor, true)?,
            Kind::AtomicXchg32 => atomic(&mut r, run, pc, op, Width::W32, AtomicOp::Xchg, true)?,
            Kind::AtomicCmpXchg32 => {
                atomic(&mut r, run, pc, op, Width::W32, AtomicOp::CmpXchg, true)?
            }
            Kind::AtomicAdd64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Add, false)?,
            Kind::AtomicOr64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Or, false)?,
            Kind::AtomicAnd64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::And, false)?,
            Kind::AtomicXor64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Xor, false)?,
            Kind::AtomicFetchAdd64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Add, true)?,
            Kind::AtomicFetchOr64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Or, true)?,
            Kind::AtomicFetchAnd64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::And, true)?,
            Kind::AtomicFetchXor64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Xor, true)?,
            Kind::AtomicXchg64 => atomic(&mut r, run, pc, op, Width::W64, AtomicOp::Xchg, true)?,
            Kind::AtomicCmpXchg64 => {
                atomic(&mut r, run, pc, op, Width::W64, AtomicOp::CmpXchg, true)?
            }

            // RFC 9669 §5.5 Legacy BPF packet access instructions (Linux semantics).
            Kind::PacketAbs => match packet_load(run, pc, op.off, 0, op.imm64())? {
                Some(value) => r[0] = value,
                None => return Ok(0),
            },
            Kind::PacketInd => match packet_load(run, pc, op.off, r[op.s()], op.imm64())? {
                Some(value) => r[0] = value,
                None => return Ok(0),
            },

            // RFC 9669 §4.3 Jump instructions: 64-bit (JMP) and low-32-bit (JMP32) comparisons,
            // the immediate sign-extended (semantics in `semantics::condition`).
            Kind::Ja => jump_to!(op.target(), pc),
            Kind::Jeq64Imm => jump_if!(condition(JmpCond::Eq, Width::W64, r[op.d()], op.imm64())),
            Kind::Jeq64Reg => jump_if!(condition(JmpCond::Eq, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jeq32Imm => jump_if!(condition(JmpCond::Eq, Width::W32, r[op.d()], op.imm64())),
            Kind::Jeq32Reg => jump_if!(condition(JmpCond::Eq, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jne64Imm => jump_if!(condition(JmpCond::Ne, Width::W64, r[op.d()], op.imm64())),
            Kind::Jne64Reg => jump_if!(condition(JmpCond::Ne, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jne32Imm => jump_if!(condition(JmpCond::Ne, Width::W32, r[op.d()], op.imm64())),
            Kind::Jne32Reg => jump_if!(condition(JmpCond::Ne, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jset64Imm => jump_if!(condition(JmpCond::Set, Width::W64, r[op.d()], op.imm64())),
            Kind::Jset64Reg => jump_if!(condition(JmpCond::Set, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jset32Imm => jump_if!(condition(JmpCond::Set, Width::W32, r[op.d()], op.imm64())),
            Kind::Jset32Reg => jump_if!(condition(JmpCond::Set, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jgt64Imm => jump_if!(condition(JmpCond::Gt, Width::W64, r[op.d()], op.imm64())),
            Kind::Jgt64Reg => jump_if!(condition(JmpCond::Gt, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jgt32Imm => jump_if!(condition(JmpCond::Gt, Width::W32, r[op.d()], op.imm64())),
            Kind::Jgt32Reg => jump_if!(condition(JmpCond::Gt, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jge64Imm => jump_if!(condition(JmpCond::Ge, Width::W64, r[op.d()], op.imm64())),
            Kind::Jge64Reg => jump_if!(condition(JmpCond::Ge, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jge32Imm => jump_if!(condition(JmpCond::Ge, Width::W32, r[op.d()], op.imm64())),
            Kind::Jge32Reg => jump_if!(condition(JmpCond::Ge, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jlt64Imm => jump_if!(condition(JmpCond::Lt, Width::W64, r[op.d()], op.imm64())),
            Kind::Jlt64Reg => jump_if!(condition(JmpCond::Lt, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jlt32Imm => jump_if!(condition(JmpCond::Lt, Width::W32, r[op.d()], op.imm64())),
            Kind::Jlt32Reg => jump_if!(condition(JmpCond::Lt, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jle64Imm => jump_if!(condition(JmpCond::Le, Width::W64, r[op.d()], op.imm64())),
            Kind::Jle64Reg => jump_if!(condition(JmpCond::Le, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jle32Imm => jump_if!(condition(JmpCond::Le, Width::W32, r[op.d()], op.imm64())),
            Kind::Jle32Reg => jump_if!(condition(JmpCond::Le, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jsgt64Imm => jump_if!(condition(JmpCond::Sgt, Width::W64, r[op.d()], op.imm64())),
            Kind::Jsgt64Reg => jump_if!(condition(JmpCond::Sgt, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jsgt32Imm => jump_if!(condition(JmpCond::Sgt, Width::W32, r[op.d()], op.imm64())),
            Kind::Jsgt32Reg => jump_if!(condition(JmpCond::Sgt, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jsge64Imm => jump_if!(condition(JmpCond::Sge, Width::W64, r[op.d()], op.imm64())),
            Kind::Jsge64Reg => jump_if!(condition(JmpCond::Sge, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jsge32Imm => jump_if!(condition(JmpCond::Sge, Width::W32, r[op.d()], op.imm64())),
            Kind::Jsge32Reg => jump_if!(condition(JmpCond::Sge, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jslt64Imm => jump_if!(condition(JmpCond::Slt, Width::W64, r[op.d()], op.imm64())),
            Kind::Jslt64Reg => jump_if!(condition(JmpCond::Slt, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jslt32Imm => jump_if!(condition(JmpCond::Slt, Width::W32, r[op.d()], op.imm64())),
            Kind::Jslt32Reg => jump_if!(condition(JmpCond::Slt, Width::W32, r[op.d()], r[op.s()])),
            Kind::Jsle64Imm => jump_if!(condition(JmpCond::Sle, Width::W64, r[op.d()], op.imm64())),
            Kind::Jsle64Reg => jump_if!(condition(JmpCond::Sle, Width::W64, r[op.d()], r[op.s()])),
            Kind::Jsle32Imm => jump_if!(condition(JmpCond::Sle, Width::W32, r[op.d()], op.imm64())),
            Kind::Jsle32Reg => jump_if!(condition(JmpCond::Sle, Width::W32, r[op.d()], r[op.s()])),

            // RFC 9669 §4.3.1 Helper functions: r1-r5 in, r0 out. This project keeps r1-r5
            // intact (Linux clobbers them; its verifier forbids reading them afterwards).
            Kind::CallHelper => {
                poll(run.interrupt, pc)?;
                r[0] = call_helper(run, u64::from(op.imm as u32), &r, pc)?;
            }
            // `callx`: the register holds a helper id, resolved now.
            Kind::Callx => {
                poll(run.interrupt, pc)?;
                r[0] = call_helper(run, r[op.d()], &r, pc)?;
            }
            // RFC 9669 §4.3.2 Program-local functions. Linux is the tie-breaker for what a
            // call preserves and how deep calls go: r6-r9 are saved, the callee gets its own
            // 512-byte stack frame below the caller's, and at most 8 frames are active.
            Kind::CallLocal => {
                let Some(frame) = frames.get_mut(depth) else {
                    return Err(ExecError::CallDepthExceeded { pc });
                };
                *frame = Frame {
                    return_pc: pc + 1,
                    saved: [r[6], r[7], r[8], r[9]],
                };
                depth += 1;
                r[10] = r[10].wrapping_sub(STACK_FRAME_SIZE as u64);
                let target = op.target();
                if POLL {
                    poll(run.interrupt, target)?;
                }
                pc = target;
                continue;
            }
            // RFC 9669 §4.3 EXIT: return to the caller, or end the run with r0.
            Kind::Exit => match depth.checked_sub(1).and_then(|caller| frames.get(caller)) {
                None => return Ok(r[0]),
                Some(frame) => {
                    [r[6], r[7], r[8], r[9]] = frame.saved;
                    r[10] = r[10].wrapping_add(STACK_FRAME_SIZE as u64);
                    pc = frame.return_pc;
                    depth -= 1;
                    continue;
                }
            },

            // Fused sequences (`crate::fuse`): the same semantics, on `src` where the sequence
            // starts with `mov dst, src`; each skips the slots it covers.
            Kind::MovAdd64Imm => mov_then!(AluOp::Add, op.imm64()),
            Kind::MovAdd64Reg => mov_then!(AluOp::Add, r[op.s2()]),
            Kind::MovSub64Imm => mov_then!(AluOp::Sub, op.imm64()),
            Kind::MovSub64Reg => mov_then!(AluOp::Sub, r[op.s2()]),
            Kind::MovMul64Imm => mov_then!(AluOp::Mul, op.imm64()),
            Kind::MovMul64Reg => mov_then!(AluOp::Mul, r[op.s2()]),
            Kind::MovDiv64Imm => mov_then!(AluOp::Div, op.imm64()),
            Kind::MovDiv64Reg => mov_then!(AluOp::Div, r[op.s2()]),
            Kind::MovMod64Imm => mov_then!(AluOp::Mod, op.imm64()),
            Kind::MovMod64Reg => mov_then!(AluOp::Mod, r[op.s2()]),
            Kind::MovOr64Imm => mov_then!(AluOp::Or, op.imm64()),
            Kind::MovOr64Reg => mov_then!(AluOp::Or, r[op.s2()]),
            Kind::MovAnd64Imm => mov_then!(AluOp::And, op.imm64()),
            Kind::MovAnd64Reg => mov_then!(AluOp::And, r[op.s2()]),
            Kind::MovXor64Imm => mov_then!(AluOp::Xor, op.imm64()),
            Kind::MovXor64Reg => mov_then!(AluOp::Xor, r[op.s2()]),
            Kind::MovLsh64Imm => mov_then!(AluOp::Lsh, op.imm64()),
            Kind::MovLsh64Reg => mov_then!(AluOp::Lsh, r[op.s2()]),
            Kind::MovRsh64Imm => mov_then!(AluOp::Rsh, op.imm64()),
            Kind::MovRsh64Reg => mov_then!(AluOp::Rsh, r[op.s2()]),
            Kind::MovArsh64Imm => mov_then!(AluOp::Arsh, op.imm64()),
            Kind::MovArsh64Reg => mov_then!(AluOp::Arsh, r[op.s2()]),
            Kind::LshRsh => shift_pair!(AluOp::Rsh, 2),
            Kind::LshArsh => shift_pair!(AluOp::Arsh, 2),
            Kind::MovLshRsh => shift_pair!(AluOp::Rsh, 3),
            Kind::MovLshArsh => shift_pair!(AluOp::Arsh, 3),
            Kind::MovImmJa => {
                r[op.d()] = op.imm64();
                jump_to!(op.target(), pc + 1);
            }
            Kind::SelectImm => {
                // The jump is forward and lands where both paths meet: no poll, and the value
                // is chosen without a branch that depends on the data.
                r[op.d()] = op.imm64();
                let jump = &ops[pc + 1];
                let (cond, width, imm) = jump.kind.jump_parts();
                let operand = if imm { jump.imm64() } else { r[jump.s()] };
                let taken = condition(cond, width, r[jump.d()], operand);
                r[op.d()] = if taken { op.imm64() } else { op.mem_offset() };
                pc += 3;
                continue;
            }
        }
        pc += 1;
    }
}

/// Stops the run if the host raised the interrupt flag.
#[inline(always)]
fn poll(interrupt: Option<&Interrupt>, pc: usize) -> Result<(), ExecError> {
    match interrupt {
        Some(flag) if flag.is_triggered() => Err(ExecError::Interrupted { pc }),
        _ => Ok(()),
    }
}

/// RFC 9669 §5.3 Atomic operations: `*(width *)(dst + off) OP= src`, atomically. With FETCH
/// (always set for XCHG) the old value goes to `src`; CMPXCHG compares with r0, stores `src` on a
/// match and always loads the old value into r0. 32-bit forms act on 4 bytes and zero-extend
/// the value they load.
#[inline(never)]
fn atomic(
    r: &mut [u64; 11],
    run: &Run<'_>,
    pc: usize,
    op: &Op,
    width: Width,
    rmw: AtomicOp,
    fetch: bool,
) -> Result<(), ExecError> {
    let s = op.s();
    // Base register plus the signed offset, wrapping like any register arithmetic (the bounds
    // check then rejects what wrapped).
    let addr = r[op.d()].wrapping_add(op.mem_offset());
    let old = match width {
        Width::W32 => u64::from(
            run.memory
                .atomic32(pc, addr, rmw, r[s] as u32, r[0] as u32)?,
        ),
        Width::W64 => run.memory.atomic64(pc, addr, rmw, r[s], r[0])?,
    };
    match rmw {
        AtomicOp::CmpXchg => r[0] = old,
        _ if fetch => r[s] = old,
        _ => {}
    }
    Ok(())
}

/// Calls helper `id` with r1-r5 and returns its r0. Helpers see the stack and the run's regions.
#[inline(never)]
fn call_helper(run: &mut Run<'_>, id: u64, r: &[u64; 11], pc: usize) -> Result<u64, ExecError> {
    let stack = run.memory.stack_region();
    let regions = run.helper_memory.regions();
    if regions.first() != Some(&stack) || regions.get(1..) != Some(run.input.regions()) {
        let mut regions = Vec::with_capacity(1 + run.input.regions().len());
        regions.push(stack);
        regions.extend_from_slice(run.input.regions());
        *run.helper_memory = MemoryMap::new(regions);
    }
    let args = [r[1], r[2], r[3], r[4], r[5]];
    run.helpers.call(id, run.helper_memory, args, pc)
}

/// RFC 9669 §5.5 Legacy BPF packet access, with Linux semantics (the RFC only deprecates these):
/// the offset is `int offset = src + imm` (the low 32 bits of the 64-bit sum, signed); `size`
/// (1, 2 or 4) bytes at that offset of the packet are read in network byte order and
/// zero-extended. `None` when there is no packet, the offset is negative or the bytes are not
/// all inside the packet: the program then ends at once with r0 = 0, from however many frames
/// deep. r1-r5 are left unchanged.
#[inline(never)]
fn packet_load(
    run: &Run<'_>,
    pc: usize,
    size: i32,
    base: u64,
    imm: u64,
) -> Result<Option<u64>, ExecError> {
    let offset = base.wrapping_add(imm) as u32 as i32;
    let size = size as u64;
    let Some(packet) = run.input.packet() else {
        return Ok(None);
    };
    if offset < 0 || size > packet.len || offset as u64 > packet.len - size {
        return Ok(None);
    }
    let addr = packet.start.wrapping_add(offset as u64);
    // The packet bytes are also checked like any load, so a packet the host declared outside
    // the run's regions cannot make the interpreter read arbitrary memory.
    let memory = &run.memory;
    Ok(Some(match size {
        1 => u64::from(memory.load::<u8>(pc, addr)?),
        2 => u64::from(u16::from_be(memory.load::<u16>(pc, addr)?)),
        _ => u64::from(u32::from_be(memory.load::<u32>(pc, addr)?)),
    }))
}
