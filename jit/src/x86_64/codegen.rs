//! The code generator: walks the program once, emitting the entry prologue, one native sequence
//! per eBPF instruction, then the out-of-line code of each site (cold paths) and the shared
//! stubs every way out of the program goes through.

use super::abi::{CallingConvention, Routines};
use super::asm::{AluOp, Cond, Gpr, Inst, Label, Mem, Operand, Size};
use super::encoder::{Encoder, JumpPlan};
use super::memory::RegionCheck;
use super::peephole;
use super::peephole::{ForwardedCopy, JumpOverJa, Sequence};
use super::regs::{self, CTX, RAX, RDX};
use crate::analysis::Analysis;
use crate::blinding::Keys;
use crate::context::field;
use crate::error::CompileError;
use crate::exit::ExitCode;
use crate::listing::Layout;
use crate::options::Options;
use xbpf_isa::{HelperTable, Instruction, Program, Reg, Source};

/// Labels of the code emitted once and shared by every site.
#[derive(Clone, Copy, Debug)]
pub struct Stubs {
    /// Returns r0 (in rax) from the outermost frame.
    pub exit_program: Label,
    /// A failed legacy packet load: the program exits with r0 = 0, from any frame.
    pub packet_fail: Label,
    /// Restores the stack pointer and the caller's registers and returns rax.
    pub epilogue: Label,
    /// Traps with the pc in edx.
    pub out_of_fuel: Label,
    pub call_depth: Label,
    pub interrupted: Label,
    /// Ends the run with `ExitCode::Recorded` (a Rust routine recorded the error).
    pub recorded: Label,
    /// Out-of-line bounds check: address in rax, access info in rdx; returns only if allowed.
    pub check_access: Label,
}

/// Code of one site that runs rarely, emitted after the body to keep the hot path compact.
#[derive(Clone, Copy, Debug)]
pub enum Cold {
    /// `mov edx, pc; jmp stub`: a trap that reports `pc`.
    Trap { at: Label, pc: usize, stub: Label },
    /// Checks one more region inline, else calls the out-of-line bounds check; then resumes.
    CheckAccess {
        at: Label,
        info: u64,
        region: Option<RegionCheck>,
        resume: Label,
    },
}

/// Largest program the JIT compiles: pcs must fit in the 27 bits of an access info word, and
/// block lengths in an imm32.
pub const MAX_PROGRAM_LEN: usize = (1 << 27) - 1;

/// Largest code size: every rel32 must reach across the whole buffer.
pub const MAX_CODE_SIZE: usize = 1 << 30;

/// The result of one pass.
pub struct Pass {
    pub code: Vec<u8>,
    pub plan: JumpPlan,
    pub layout: Layout,
}

pub struct Codegen<'a> {
    pub e: Encoder,
    pub program: &'a Program,
    pub analysis: &'a Analysis,
    pub options: Options,
    pub conv: CallingConvention,
    pub routines: Routines,
    pub helpers: &'a HelperTable,
    pub stubs: Stubs,
    labels: Vec<Option<Label>>,
    cold: Vec<Cold>,
    /// x86 registers of the eBPF callee-saved registers the program uses.
    pub saved_across_calls: Vec<Gpr>,
    /// Callee-saved registers of the host convention the prologue saves.
    pub saved_by_prologue: Vec<Gpr>,
    /// eBPF registers (bit n for rn) known to hold values below 2^32 at this point of the
    /// current block (`peephole::upper_zero_after`).
    pub upper_zero: u16,
    /// Copies left out whose jump is still to come (`peephole::forwarded_copy_at`).
    forwards: Vec<ForwardedCopy>,
}

impl<'a> Codegen<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        program: &'a Program,
        analysis: &'a Analysis,
        options: Options,
        conv: CallingConvention,
        helpers: &'a HelperTable,
        plan: JumpPlan,
        keys: Option<Keys>,
    ) -> Codegen<'a> {
        let mut e = Encoder::new(plan, program.len(), keys);
        let stubs = Stubs {
            exit_program: e.new_label(),
            packet_fail: e.new_label(),
            epilogue: e.new_label(),
            out_of_fuel: e.new_label(),
            call_depth: e.new_label(),
            interrupted: e.new_label(),
            recorded: e.new_label(),
            check_access: e.new_label(),
        };
        let labels = (0..program.len())
            .map(|pc| analysis.is_target(pc).then(|| e.new_label()))
            .collect();
        let saved_across_calls = regs::callee_saved()
            .filter(|reg| analysis.uses(*reg))
            .map(regs::ebpf)
            .collect();
        let mut written: Vec<Gpr> = (0..=10)
            .map(regs::reg)
            .filter(|reg| analysis.uses(*reg))
            .map(regs::ebpf)
            .collect();
        written.push(CTX);
        let saved_by_prologue = conv
            .callee_saved()
            .iter()
            .copied()
            .filter(|gpr| written.contains(gpr))
            .collect();
        Codegen {
            e,
            program,
            analysis,
            options,
            conv,
            routines: conv.routines(),
            helpers,
            stubs,
            labels,
            cold: Vec::new(),
            saved_across_calls,
            saved_by_prologue,
            upper_zero: 0,
            forwards: Vec::new(),
        }
    }

    /// Emits the whole program.
    pub fn generate(mut self) -> Result<Pass, CompileError> {
        self.emit_prologue();
        let body_start = self.e.offset();
        let mut pc_offsets = vec![0u32; self.program.len()];
        let mut next_pc = 0;
        // Instructions before this pc were selected together with an earlier one.
        let mut selected_until = 0;
        for (pc, instruction) in self.program.instructions() {
            if self.analysis.is_loop_head(pc) {
                // Before the pc's offset: the padding belongs to the code before the loop.
                self.emit(Inst::AlignLoop);
            }
            // The second slot of an lddw has no code: it starts where the next instruction does.
            let offset = self.offset32()?;
            for slot in &mut pc_offsets[next_pc..=pc] {
                *slot = offset;
            }
            self.block_start(pc)?;
            if self.analysis.is_target(pc) || self.program.fuel_block_len(pc) > 0 {
                // a block start: control may arrive from elsewhere
                self.upper_zero = 0;
            }
            if pc >= selected_until {
                selected_until = pc + self.select_sequence(pc, instruction)?;
            }
            self.upper_zero = peephole::upper_zero_after(self.upper_zero, instruction);
            next_pc = pc + 1;
        }
        for slot in pc_offsets.iter_mut().skip(next_pc) {
            *slot = self.offset32()?;
        }
        let cold_start = self.e.offset();
        for cold in std::mem::take(&mut self.cold) {
            self.emit_cold(cold);
        }
        let stubs_start = self.e.offset();
        self.emit_stubs();
        let end = self.e.offset();
        if end > MAX_CODE_SIZE {
            return Err(CompileError::CodeTooLarge {
                size: end,
                limit: MAX_CODE_SIZE,
            });
        }
        let (code, plan) = self.e.finish()?;
        Ok(Pass {
            code,
            plan,
            layout: Layout {
                prologue: 0..body_start,
                pc_offsets,
                body_end: cold_start,
                cold: cold_start..stubs_start,
                stubs: stubs_start..end,
            },
        })
    }

    /// Selects the instruction at `pc`, or a sequence starting there (`peephole`); returns how
    /// many instructions that covered.
    fn select_sequence(
        &mut self,
        pc: usize,
        instruction: &Instruction,
    ) -> Result<usize, CompileError> {
        let covered = self.select_sequence_forwarded(pc, instruction)?;
        if !self.forwards.is_empty() {
            self.forwards.retain(|copy| copy.jump_pc > pc);
        }
        Ok(covered)
    }

    /// `select_sequence`, with the copies left out before a jump at `pc` applied to it.
    fn select_sequence_forwarded(
        &mut self,
        pc: usize,
        instruction: &Instruction,
    ) -> Result<usize, CompileError> {
        match peephole::sequence_at(self.program, self.analysis, self.options.fuel, pc) {
            Some(Sequence::Widening(widening)) => {
                self.widen(widening);
                return Ok(widening.len);
            }
            Some(Sequence::JumpOverJa(pair)) => {
                let pair = JumpOverJa {
                    dst: self.forwarded(pc, pair.dst),
                    src: self.forwarded_source(pc, pair.src),
                    ..pair
                };
                self.jump_unless(pair)?;
                return Ok(2);
            }
            Some(Sequence::CopyAdd(pair)) => {
                self.copy_add(pair);
                return Ok(2);
            }
            Some(Sequence::ForwardedCopy(copy)) => {
                self.forwards.push(copy);
                return Ok(1);
            }
            None => {}
        }
        let mut instruction = *instruction;
        if let Instruction::Jump { dst, src, .. } = &mut instruction {
            *dst = self.forwarded(pc, *dst);
            *src = self.forwarded_source(pc, *src);
        }
        self.select(pc, &instruction)?;
        Ok(1)
    }

    /// What the jump at `pc` reads for `reg`, after the copies left out before it.
    fn forwarded(&self, pc: usize, reg: Reg) -> Reg {
        self.forwards
            .iter()
            .filter(|copy| copy.jump_pc == pc)
            .fold(reg, |reg, copy| copy.map(reg))
    }

    fn forwarded_source(&self, pc: usize, source: Source) -> Source {
        match source {
            Source::Reg(reg) => Source::Reg(self.forwarded(pc, reg)),
            imm => imm,
        }
    }

    fn offset32(&self) -> Result<u32, CompileError> {
        u32::try_from(self.e.offset()).map_err(|_| CompileError::CodeTooLarge {
            size: self.e.offset(),
            limit: MAX_CODE_SIZE,
        })
    }

    /// Emits one instruction.
    pub fn emit(&mut self, inst: Inst) {
        self.e.emit(inst);
    }

    pub fn new_label(&mut self) -> Label {
        self.e.new_label()
    }

    /// The label of a jump or call target.
    pub fn target(&self, pc: usize) -> Result<Label, CompileError> {
        self.labels
            .get(pc)
            .copied()
            .flatten()
            .ok_or_else(|| CompileError::Assembler(format!("pc {pc} is a target without a label")))
    }

    /// A label to jump to for a trap at `pc`; its code goes out of line.
    pub fn trap(&mut self, pc: usize, stub: Label) -> Label {
        let at = self.new_label();
        self.cold.push(Cold::Trap { at, pc, stub });
        at
    }

    /// A label to jump to for an out-of-line bounds check (of `region` inline, then of every
    /// region in Rust) that resumes at `resume`.
    pub fn cold_check(&mut self, info: u64, region: Option<RegionCheck>, resume: Label) -> Label {
        let at = self.new_label();
        self.cold.push(Cold::CheckAccess {
            at,
            info,
            region,
            resume,
        });
        at
    }

    /// Code at the start of every instruction: its label, interrupt poll and fuel charge.
    fn block_start(&mut self, pc: usize) -> Result<(), CompileError> {
        if self.analysis.is_target(pc) {
            let label = self.target(pc)?;
            self.emit(Inst::Bind(label));
        }
        if self.options.interrupt && self.analysis.polls_interrupt(pc) {
            let trap = self.trap(pc, self.stubs.interrupted);
            self.emit(Inst::Load {
                size: Size::B64,
                sign_extend: false,
                dst: RAX,
                src: Mem::new(CTX, field::INTERRUPT),
            });
            self.emit(Inst::AluStore {
                op: AluOp::Cmp,
                size: Size::B8,
                dst: Mem::new(RAX, 0),
                src: Operand::Imm(0),
            });
            self.emit(Inst::Jcc(Cond::Ne, trap));
        }
        let block_len = self.program.fuel_block_len(pc);
        if self.options.fuel && block_len > 0 {
            // The length is at most the program length, which fits in an imm32.
            let charge = i32::try_from(block_len).unwrap_or(i32::MAX);
            let trap = self.trap(pc, self.stubs.out_of_fuel);
            self.emit(Inst::AluStore {
                op: AluOp::Sub,
                size: Size::B64,
                dst: Mem::new(CTX, field::FUEL),
                src: Operand::Imm(charge),
            });
            self.emit(Inst::Jcc(Cond::B, trap));
        }
        Ok(())
    }

    fn emit_cold(&mut self, cold: Cold) {
        match cold {
            Cold::Trap { at, pc, stub } => {
                self.emit(Inst::Bind(at));
                self.emit(Inst::MovImm {
                    dst: RDX,
                    imm: pc as u64,
                });
                self.emit(Inst::Jmp(stub));
            }
            Cold::CheckAccess {
                at,
                info,
                region,
                resume,
            } => {
                self.emit(Inst::Bind(at));
                self.emit_cold_check(info, region, resume);
            }
        }
    }

    /// Writes `code` as the run's exit code (through eax).
    pub fn exit_with(&mut self, code: ExitCode) {
        self.emit(Inst::MovImm {
            dst: RAX,
            imm: u64::from(code.value()),
        });
        self.emit(Inst::Store {
            size: Size::B64,
            dst: Mem::new(CTX, field::EXIT_CODE),
            src: RAX,
        });
    }
}
