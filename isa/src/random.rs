//! Random valid programs for differential tests, fuzzing and verifier soundness tests
//! (feature `random`).
//!
//! [`random_program`] turns unstructured bytes into a structured program that always
//! validates: functions made of forward conditional jumps, counted loops, local calls (a
//! recursive function that can exceed the frame limit), helper calls from [`helpers`],
//! `callx`, loads, stores and atomics on the stack and the input memory (in and out of
//! bounds), legacy packet loads, and every ALU, jump and v4 form, with edge values (0, -1,
//! INT_MIN) where they matter.
//!
//! Programs behave the same wherever their memory lives, so engines can be compared on
//! results: r9 holds the input memory pointer (r1 at entry) and is never written; r10 is the
//! stack; no pointer ever reaches another register, memory, or a helper's result. Only the
//! addresses in `OutOfBounds` errors depend on where memory is (an access through r9 reports
//! `memory start + offset`; through r10, a stack address).
//!
//! Running time is bounded by construction: loops count a register down that their body does
//! not write, recursion counts r6 down, and the generator keeps a static bound on the number of
//! instructions a run executes ([`RandomCase::max_steps`]).

use crate::Insn;
use crate::exec::{HelperError, HelperTable, STACK_FRAME_SIZE};
use crate::instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Instruction, JmpCond, LoadImmKind, MemSize, PacketMode,
    Reg, Source, Width,
};
use crate::program::Program;
use arbitrary::{Result, Unstructured};

/// A generated program and what to run it with.
#[derive(Clone, Debug)]
pub struct RandomCase {
    /// The program (valid by construction).
    pub program: Program,
    /// Initial contents of the input memory: run with `RunInput::with_memory`, so r1 points to
    /// it, r2 holds its length and legacy packet loads read it. A multiple of 8 bytes; give it
    /// 8-byte alignment so atomics do not cross cache lines.
    pub memory: Vec<u8>,
    /// Fuel to run with; small budgets make runs stop with `OutOfFuel`.
    pub fuel: Option<u64>,
    /// Upper bound on the instructions a run executes.
    pub max_steps: u64,
}

/// Ids of the helpers of [`helpers`].
pub mod helper_id {
    /// Wrapping sum of r1 to r5.
    pub const SUM: u32 = 1;
    /// A hash of r1 to r5.
    pub const MIX: u32 = 2;
    /// Fails when r1 is odd, else returns r1 / 2.
    pub const FAIL_IF_ODD: u32 = 3;
    /// Reads 8 bytes at r1 (fails outside the program's memory).
    pub const LOAD: u32 = 4;
    /// Writes r2 as 8 bytes at r1 (fails outside the program's writable memory).
    pub const STORE: u32 = 5;
    /// Every id above.
    pub const ALL: [u32; 5] = [SUM, MIX, FAIL_IF_ODD, LOAD, STORE];
    /// An id no helper has.
    pub const UNKNOWN: u32 = 99;
}

/// The helpers generated programs call. Their results and errors never depend on addresses.
pub fn helpers() -> HelperTable {
    let mut table = HelperTable::new();
    table.register(helper_id::SUM, "sum", |_, args| {
        Ok(args.iter().fold(0u64, |sum, arg| sum.wrapping_add(*arg)))
    });
    table.register(helper_id::MIX, "mix", |_, args| {
        Ok(args.iter().fold(0x9e37_79b9_7f4a_7c15u64, |hash, arg| {
            (hash ^ arg)
                .rotate_left(23)
                .wrapping_mul(0xbf58_476d_1ce4_e5b9)
        }))
    });
    table.register(helper_id::FAIL_IF_ODD, "fail_if_odd", |_, args| {
        if args[0] & 1 == 1 {
            Err(HelperError::Failed("odd argument".to_string()))
        } else {
            Ok(args[0] / 2)
        }
    });
    table.register(helper_id::LOAD, "load", |context, args| {
        let bytes = context
            .memory()
            .read(args[0], 8)
            .map_err(|_| HelperError::Failed("load out of bounds".to_string()))?;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes);
        Ok(u64::from_le_bytes(word))
    });
    table.register(helper_id::STORE, "store", |context, args| {
        context
            .memory()
            .write(args[0], &args[1].to_le_bytes())
            .map_err(|_| HelperError::Failed("store out of bounds".to_string()))?;
        Ok(0)
    });
    table
}

/// Generates a random valid program with its input.
pub fn random_program(u: &mut Unstructured<'_>) -> Result<RandomCase> {
    let memory_len = 8 * u.int_in_range(0..=8usize)?;
    let mut memory = vec![0u8; memory_len];
    u.fill_buffer(&mut memory)?;
    let plain_functions = u.int_in_range(0..=3usize)?;
    let mut generator = Generator {
        u,
        memory_len: memory_len as i32,
        plain_functions,
        costs: vec![0; plain_functions + 2],
    };
    // Callees first, so callers know what a call costs. Function 0 is the entry, 1 to
    // `plain_functions` are plain functions, the last one is the recursive function.
    let recursive = plain_functions + 1;
    let mut bodies = vec![Vec::new(); plain_functions + 2];
    bodies[recursive] = generator.recursive_function(recursive)?;
    for function in (0..=plain_functions).rev() {
        bodies[function] = generator.function(function)?;
    }
    let max_steps = generator.costs[0];
    let fuel = if generator.u.ratio(1, 4)? {
        Some(generator.u.int_in_range(0..=max_steps.saturating_mul(2))?)
    } else {
        None
    };
    let program = link(&bodies).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(RandomCase {
        program,
        memory,
        fuel,
        max_steps,
    })
}

/// One element of a function body before layout: an instruction, or a call to a function
/// whose address is known only once every function is placed.
#[derive(Clone, Copy, Debug)]
enum Item {
    Insn(Instruction),
    Call(usize),
}

impl Item {
    fn slots(&self) -> usize {
        match self {
            Item::Insn(instruction) => instruction.slots(),
            Item::Call(_) => 1,
        }
    }
}

fn slots(items: &[Item]) -> usize {
    items.iter().map(Item::slots).sum()
}

/// Lays the functions out one after another and resolves calls.
fn link(bodies: &[Vec<Item>]) -> std::result::Result<Program, crate::ValidationError> {
    let mut starts = Vec::with_capacity(bodies.len());
    let mut pc = 0;
    for body in bodies {
        starts.push(pc);
        pc += slots(body);
    }
    let mut insns: Vec<Insn> = Vec::with_capacity(pc);
    for body in bodies {
        for item in body {
            let instruction = match *item {
                Item::Insn(instruction) => instruction,
                Item::Call(function) => {
                    let offset = starts[function] as i64 - insns.len() as i64 - 1;
                    Instruction::Call(CallTarget::Local(offset as i32))
                }
            };
            insns.extend(instruction.encode());
        }
    }
    Program::new(insns)
}

/// The input memory pointer (r1 at entry), never written.
const MEM: Reg = match Reg::new(9) {
    Some(reg) => reg,
    None => Reg::R0,
};
/// Registers holding plain values: r0 to r8.
const DATA: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
/// Registers loops may count with (callee-saved, so calls keep them).
const COUNTERS: [u8; 3] = [6, 7, 8];
/// How many instructions one function may execute at most (statically bounded).
const FUNCTION_BUDGET: u64 = 20_000;
/// Loop iterations are 1 to this.
const MAX_ITERATIONS: i32 = 5;
/// Recursion depth requests go up to this (more than the 8-frame limit allows).
const MAX_RECURSION: i32 = 10;
/// Nesting depth of ifs and loops.
const MAX_NESTING: u32 = 3;

const EDGE_IMMEDIATES: [i32; 20] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    16,
    31,
    32,
    63,
    64,
    0x7f,
    0x80,
    0xff,
    0xffff,
    -128,
    i32::MIN,
    i32::MAX,
    0x10000,
];

const EDGE_CONSTANTS: [u64; 12] = [
    0,
    1,
    u64::MAX,
    1 << 63,
    (1 << 63) - 1,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0xffff_ffff_8000_0000,
    0x7fff_ffff,
    0x0102_0304_0506_0708,
    0x8000_0000_0000_0001,
];

fn reg(number: u8) -> Reg {
    Reg::new(number).unwrap_or(Reg::R0)
}

fn bit(number: u8) -> u16 {
    1 << number
}

/// A statement: its items and how many instructions it executes at most.
struct Code {
    items: Vec<Item>,
    cost: u64,
}

impl Code {
    fn new() -> Code {
        Code {
            items: Vec::new(),
            cost: 0,
        }
    }

    fn push(&mut self, instruction: Instruction) {
        self.items.push(Item::Insn(instruction));
        self.cost += 1;
    }

    fn append(&mut self, other: Code) {
        self.items.extend(other.items);
        self.cost = self.cost.saturating_add(other.cost);
    }
}

struct Generator<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    memory_len: i32,
    plain_functions: usize,
    /// Static bound on the instructions a call of each function executes.
    costs: Vec<u64>,
}

impl Generator<'_, '_> {
    fn recursive_index(&self) -> usize {
        self.plain_functions + 1
    }

    /// Index into `weights`, chosen with those relative weights.
    fn weighted(&mut self, weights: &[u32]) -> Result<usize> {
        let total: u32 = weights.iter().sum();
        let mut pick = self.u.int_in_range(0..=total.saturating_sub(1))?;
        for (index, weight) in weights.iter().enumerate() {
            if pick < *weight {
                return Ok(index);
            }
            pick -= weight;
        }
        Ok(0)
    }

    /// A register that may be written (not in `avoid`).
    fn writable(&mut self, avoid: u16) -> Result<Reg> {
        let choices: Vec<u8> = DATA
            .iter()
            .copied()
            .filter(|r| avoid & bit(*r) == 0)
            .collect();
        let index = self.u.choose_index(choices.len())?;
        Ok(reg(choices[index]))
    }

    /// Any register holding a plain value.
    fn readable(&mut self) -> Result<Reg> {
        Ok(reg(*self.u.choose(&DATA)?))
    }

    fn imm(&mut self) -> Result<i32> {
        if self.u.ratio(2, 3)? {
            Ok(*self.u.choose(&EDGE_IMMEDIATES)?)
        } else {
            self.u.arbitrary()
        }
    }

    fn constant(&mut self) -> Result<u64> {
        if self.u.ratio(1, 2)? {
            Ok(*self.u.choose(&EDGE_CONSTANTS)?)
        } else {
            self.u.arbitrary()
        }
    }

    fn width(&mut self) -> Result<Width> {
        Ok(if self.u.arbitrary()? {
            Width::W64
        } else {
            Width::W32
        })
    }

    fn source(&mut self) -> Result<Source> {
        Ok(if self.u.arbitrary()? {
            Source::Reg(self.readable()?)
        } else {
            Source::Imm(self.imm()?)
        })
    }

    fn mem_size(&mut self) -> Result<MemSize> {
        Ok(*self
            .u
            .choose(&[MemSize::B, MemSize::H, MemSize::W, MemSize::DW])?)
    }

    /// Base register and offset of an access of `size` bytes: mostly inside the input memory
    /// or the current stack frame, sometimes anywhere near them. `align` rounds in-bounds
    /// offsets down to a multiple of the size (for atomics).
    fn address(&mut self, size: i32, align: bool) -> Result<(Reg, i16)> {
        let frame = STACK_FRAME_SIZE as i32;
        let wild = self.u.ratio(1, 10)?;
        let use_memory = self.memory_len >= size && self.u.arbitrary()?;
        let (base, off) = if use_memory || (wild && self.u.arbitrary()?) {
            let off = if wild {
                self.u.int_in_range(-16..=self.memory_len + 16)?
            } else {
                self.u.int_in_range(0..=self.memory_len - size)?
            };
            (MEM, off)
        } else {
            let off = if wild {
                self.u.int_in_range(-8 * frame - 16..=frame + 16)?
            } else {
                self.u.int_in_range(-frame..=-size)?
            };
            (Reg::R10, off)
        };
        let off = if align && !wild {
            off - off.rem_euclid(size)
        } else {
            off
        };
        Ok((base, off as i16))
    }

    /// One instruction (or a short fixed sequence) without control flow.
    fn simple(&mut self, avoid: u16) -> Result<Code> {
        let mut code = Code::new();
        let kind = self.weighted(&[30, 6, 4, 4, 4, 3, 10, 10, 6, 3, 4])?;
        match kind {
            10 => {
                // a copy, then an addition to the copy (compilers' base-plus-offset address)
                let dst = self.writable(avoid)?;
                let base = self.readable()?;
                code.push(Instruction::Alu {
                    width: self.width()?,
                    op: AluOp::Mov,
                    dst,
                    src: Source::Reg(base),
                });
                let src = self.source()?;
                code.push(Instruction::Alu {
                    width: self.width()?,
                    op: AluOp::Add,
                    dst,
                    src,
                });
            }
            0 => {
                let op = *self.u.choose(&AluOp::ALL)?;
                let width = self.width()?;
                let dst = self.writable(avoid)?;
                let src = self.source()?;
                code.push(Instruction::Alu {
                    width,
                    op,
                    dst,
                    src,
                });
            }
            1 => {
                // Division by an edge value held in a register.
                let op = *self
                    .u
                    .choose(&[AluOp::Div, AluOp::Mod, AluOp::SDiv, AluOp::SMod])?;
                let width = self.width()?;
                let divisor = self.writable(avoid)?;
                let dst = self.writable(avoid)?;
                let value = *self
                    .u
                    .choose(&[0u64, u64::MAX, 1 << 63, 0xffff_ffff, 1 << 32])?;
                code.push(Instruction::LoadImm64 {
                    dst: divisor,
                    kind: LoadImmKind::Imm,
                    imm: value,
                });
                if dst != divisor && self.u.arbitrary()? {
                    // the dividend INT_MIN of either width
                    let dividend = if width == Width::W64 {
                        1 << 63
                    } else {
                        0x8000_0000
                    };
                    code.push(Instruction::LoadImm64 {
                        dst,
                        kind: LoadImmKind::Imm,
                        imm: dividend,
                    });
                }
                code.push(Instruction::Alu {
                    width,
                    op,
                    dst,
                    src: Source::Reg(divisor),
                });
            }
            2 => {
                let width = self.width()?;
                let dst = self.writable(avoid)?;
                code.push(Instruction::Neg { width, dst });
            }
            3 => {
                let width = self.width()?;
                let choices: &[u8] = if width == Width::W64 {
                    &[8, 16, 32]
                } else {
                    &[8, 16]
                };
                let from_bits = *self.u.choose(choices)?;
                let dst = self.writable(avoid)?;
                let src = self.readable()?;
                code.push(Instruction::MovSx {
                    width,
                    dst,
                    src,
                    from_bits,
                });
            }
            4 => {
                let order = *self
                    .u
                    .choose(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap])?;
                let bits = *self.u.choose(&[16u8, 32, 64])?;
                let dst = self.writable(avoid)?;
                code.push(Instruction::Endian { order, bits, dst });
            }
            5 => {
                let dst = self.writable(avoid)?;
                let imm = self.constant()?;
                code.push(Instruction::LoadImm64 {
                    dst,
                    kind: LoadImmKind::Imm,
                    imm,
                });
            }
            6 => {
                let size = self.mem_size()?;
                let (src, off) = self.address(size.bytes() as i32, false)?;
                let sign_extend = size != MemSize::DW && self.u.ratio(1, 4)?;
                let dst = self.writable(avoid)?;
                code.push(Instruction::Load {
                    size,
                    sign_extend,
                    dst,
                    src,
                    off,
                });
            }
            7 => {
                let size = self.mem_size()?;
                let (dst, off) = self.address(size.bytes() as i32, false)?;
                let src = if self.u.arbitrary()? {
                    Source::Reg(self.readable()?)
                } else {
                    Source::Imm(self.imm()?)
                };
                code.push(Instruction::Store {
                    size,
                    dst,
                    off,
                    src,
                });
            }
            8 => {
                let width = self.width()?;
                let bytes = width.bits() as i32 / 8;
                let (dst, off) = self.address(bytes, true)?;
                let (op, fetch) = *self.u.choose(&[
                    (AtomicOp::Add, false),
                    (AtomicOp::Or, false),
                    (AtomicOp::And, false),
                    (AtomicOp::Xor, false),
                    (AtomicOp::Add, true),
                    (AtomicOp::Or, true),
                    (AtomicOp::And, true),
                    (AtomicOp::Xor, true),
                    (AtomicOp::Xchg, true),
                    (AtomicOp::CmpXchg, true),
                ])?;
                // fetching forms write src; cmpxchg writes r0 (never avoided)
                let src = if fetch {
                    self.writable(avoid)?
                } else {
                    self.readable()?
                };
                code.push(Instruction::Atomic {
                    width,
                    op,
                    fetch,
                    dst,
                    src,
                    off,
                });
            }
            _ => {
                let size = *self.u.choose(&[MemSize::B, MemSize::H, MemSize::W])?;
                let imm = self.u.int_in_range(-4..=self.memory_len + 4)?;
                let mode = if self.u.arbitrary()? {
                    PacketMode::Abs
                } else {
                    // a small index in a register (sometimes a large or negative one)
                    let index = self.writable(avoid)?;
                    let value = if self.u.ratio(3, 4)? {
                        i32::from(self.u.int_in_range(0..=16u8)?)
                    } else {
                        self.imm()?
                    };
                    code.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: index,
                        src: Source::Imm(value),
                    });
                    PacketMode::Ind(index)
                };
                code.push(Instruction::LoadPacket { size, mode, imm });
            }
        }
        Ok(code)
    }

    /// A helper call: arguments set up (r1 sometimes a pointer for the memory helpers), the
    /// call, then r1 overwritten again if it held a pointer.
    fn helper_call(&mut self, avoid: u16) -> Result<Code> {
        let mut code = Code::new();
        let id = if self.u.ratio(1, 10)? {
            helper_id::UNKNOWN
        } else {
            *self.u.choose(&helper_id::ALL)?
        };
        let pointer = matches!(id, helper_id::LOAD | helper_id::STORE);
        if pointer {
            let (base, off) = self.address(8, false)?;
            code.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: Reg::R1,
                src: Source::Reg(base),
            });
            code.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R1,
                src: Source::Imm(i32::from(off)),
            });
        }
        let dynamic = id == helper_id::UNKNOWN || self.u.ratio(1, 4)?;
        if dynamic {
            let holder = self.writable(avoid | bit(1))?;
            code.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: holder,
                src: Source::Imm(id as i32),
            });
            code.push(Instruction::Callx(holder));
        } else {
            code.push(Instruction::Call(CallTarget::Helper(id as i32)));
        }
        if pointer {
            let value = self.imm()?;
            code.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: Reg::R1,
                src: Source::Imm(value),
            });
        }
        Ok(code)
    }

    /// A list of statements, keeping within `budget` instructions executed.
    fn block(&mut self, function: usize, nesting: u32, avoid: u16, budget: u64) -> Result<Code> {
        let count = self.u.int_in_range(1..=if nesting == 0 { 24 } else { 6 })?;
        let mut code = Code::new();
        for _ in 0..count {
            let remaining = budget.saturating_sub(code.cost);
            if remaining < 8 {
                break;
            }
            let statement = self.statement(function, nesting, avoid, remaining)?;
            code.append(statement);
        }
        Ok(code)
    }

    /// Functions `function` may call: later plain functions and the recursive one.
    fn callees(&self, function: usize) -> Vec<usize> {
        let recursive = self.recursive_index();
        if function == recursive {
            return Vec::new();
        }
        (function + 1..=recursive).collect()
    }

    fn statement(
        &mut self,
        function: usize,
        nesting: u32,
        avoid: u16,
        budget: u64,
    ) -> Result<Code> {
        let structured = nesting < MAX_NESTING;
        let kind = self.weighted(&[
            70,
            if structured { 10 } else { 0 },
            if structured { 5 } else { 0 },
            5,
            5,
            1,
            3,
        ])?;
        let mut code = Code::new();
        match kind {
            1 => {
                // if: a conditional forward jump over a block
                let inner = self.block(function, nesting + 1, avoid, budget.saturating_sub(1))?;
                let width = self.width()?;
                let cond = *self.u.choose(&JmpCond::ALL)?;
                let mut dst = self.readable()?;
                if self.u.ratio(1, 4)? {
                    // compare a copy (compilers copy a value to compare it and keep it)
                    let copy = self.writable(avoid)?;
                    code.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: copy,
                        src: Source::Reg(dst),
                    });
                    dst = copy;
                }
                let src = self.source()?;
                code.push(Instruction::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    off: slots(&inner.items) as i16,
                });
                code.append(inner);
            }
            2 => {
                // a counted loop over a block that does not write the counter
                let free: Vec<u8> = COUNTERS
                    .iter()
                    .copied()
                    .filter(|r| avoid & bit(*r) == 0)
                    .collect();
                if free.is_empty() {
                    return self.simple(avoid);
                }
                let counter = reg(free[self.u.choose_index(free.len())?]);
                let iterations = self.u.int_in_range(1..=MAX_ITERATIONS)?;
                let per_iteration = budget / iterations as u64;
                let body = self.block(
                    function,
                    nesting + 1,
                    avoid | bit(counter.number()),
                    per_iteration.saturating_sub(3),
                )?;
                code.push(Instruction::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: counter,
                    src: Source::Imm(iterations),
                });
                let body_slots = slots(&body.items);
                let body_cost = body.cost;
                code.items.extend(body.items);
                code.push(Instruction::Alu {
                    width: Width::W64,
                    op: AluOp::Sub,
                    dst: counter,
                    src: Source::Imm(1),
                });
                code.push(Instruction::Jump {
                    width: Width::W64,
                    cond: JmpCond::Ne,
                    dst: counter,
                    src: Source::Imm(0),
                    off: -(body_slots as i16) - 2,
                });
                code.cost = 1 + iterations as u64 * (body_cost + 2);
            }
            3 => {
                let callees = self.callees(function);
                let affordable: Vec<usize> = callees
                    .into_iter()
                    .filter(|callee| self.costs[*callee] + 2 <= budget)
                    .collect();
                if affordable.is_empty() {
                    return self.simple(avoid);
                }
                let callee = affordable[self.u.choose_index(affordable.len())?];
                if callee == self.recursive_index() {
                    if avoid & bit(6) != 0 {
                        return self.simple(avoid);
                    }
                    let depth = self.u.int_in_range(0..=MAX_RECURSION)?;
                    code.push(Instruction::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R6,
                        src: Source::Imm(depth),
                    });
                }
                code.items.push(Item::Call(callee));
                code.cost += 1 + self.costs[callee];
            }
            4 => return self.helper_call(avoid),
            5 => code.push(Instruction::Exit),
            6 => {
                // an unconditional forward jump over a block (dead code)
                let inner = self.block(function, MAX_NESTING, avoid, budget)?;
                let off = slots(&inner.items) as i32;
                let long = self.u.arbitrary()?;
                code.push(Instruction::Ja { off, long });
                code.items.extend(inner.items);
            }
            _ => return self.simple(avoid),
        }
        Ok(code)
    }

    /// Function 0 sets up r9 and every plain register; any function ends with `exit`.
    fn function(&mut self, function: usize) -> Result<Vec<Item>> {
        let mut code = Code::new();
        if function == 0 {
            code.push(Instruction::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: MEM,
                src: Source::Reg(Reg::R1),
            });
            for number in DATA {
                let imm = self.constant()?;
                code.push(Instruction::LoadImm64 {
                    dst: reg(number),
                    kind: LoadImmKind::Imm,
                    imm,
                });
            }
        }
        let body = self.block(function, 0, 0, FUNCTION_BUDGET)?;
        code.append(body);
        code.push(Instruction::Exit);
        self.costs[function] = code.cost;
        Ok(code.items)
    }

    /// `if r6 != 0 { r6 -= 1; call self }` then a body: recursion as deep as the caller's r6.
    fn recursive_function(&mut self, function: usize) -> Result<Vec<Item>> {
        let mut code = Code::new();
        code.push(Instruction::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R6,
            src: Source::Imm(0),
            off: 2,
        });
        code.push(Instruction::Alu {
            width: Width::W64,
            op: AluOp::Sub,
            dst: Reg::R6,
            src: Source::Imm(1),
        });
        code.items.push(Item::Call(function));
        let body = self.block(function, 1, 0, FUNCTION_BUDGET / 16)?;
        code.append(body);
        code.push(Instruction::Exit);
        // At most 8 frames are ever active.
        self.costs[function] = (code.cost + 1) * 8;
        Ok(code.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(count: usize) -> impl Iterator<Item = RandomCase> {
        (0..count).map(|seed| {
            // deterministic pseudo-random bytes per seed
            let mut state = seed as u64 ^ 0x2545_f491_4f6c_dd1d;
            let bytes: Vec<u8> = (0..4096)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            random_program(&mut Unstructured::new(&bytes)).expect("generation never fails")
        })
    }

    #[test]
    fn every_generated_program_validates_and_varies() {
        let mut opcodes = std::collections::BTreeSet::new();
        let mut recursive_calls = 0;
        for case in cases(500) {
            assert_eq!(case.memory.len() % 8, 0);
            for (_, instruction) in case.program.instructions() {
                for slot in instruction.encode() {
                    opcodes.insert(slot.opcode);
                }
                if let Instruction::Call(CallTarget::Local(offset)) = instruction
                    && *offset < 0
                {
                    recursive_calls += 1;
                }
                // r9 (the memory pointer) is only written by the first instruction
                if instruction.written_register() == Some(MEM) {
                    assert_eq!(
                        *instruction,
                        Instruction::Alu {
                            width: Width::W64,
                            op: AluOp::Mov,
                            dst: MEM,
                            src: Source::Reg(Reg::R1)
                        }
                    );
                }
            }
        }
        assert!(
            opcodes.len() > 100,
            "only {} opcodes generated",
            opcodes.len()
        );
        assert!(recursive_calls > 0);
    }

    #[test]
    fn exhausted_input_still_gives_a_valid_program() {
        let case = random_program(&mut Unstructured::new(&[])).unwrap();
        assert!(!case.program.is_empty());
    }
}
