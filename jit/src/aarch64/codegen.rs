//! The code generator: walks the program once, emitting the entry prologue, one native sequence
//! per eBPF instruction, then the out-of-line code of each site (cold paths) and the shared
//! stubs every way out of the program goes through.

use super::abi::Routines;
use super::asm::{Cond, Gpr, Inst, Label, Mem, Size, Width, add_immediate};
use super::encoder::{Encoder, Finished, JumpPlan};
use super::regs::{self, CTX, FP, FUEL, INTERRUPT, IP0, IP1, LR, REGION_START, STACK_START};
use crate::analysis::Analysis;
use crate::blinding::Keys;
use crate::context::field;
use crate::error::CompileError;
use crate::exit::ExitCode;
use crate::listing::Layout;
use crate::options::Options;
use xbpf_isa::{HelperTable, Program, Reg};

/// Labels of the code emitted once and shared by every site.
#[derive(Clone, Copy, Debug)]
pub struct Stubs {
    /// Returns r0 (in x0) from the outermost frame.
    pub exit_program: Label,
    /// A failed legacy packet load: the program exits with r0 = 0, from any frame.
    pub packet_fail: Label,
    /// Restores the stack pointer and the caller's registers and returns x0.
    pub epilogue: Label,
    /// Traps with the pc in x17.
    pub out_of_fuel: Label,
    pub call_depth: Label,
    pub interrupted: Label,
    /// Ends the run with `ExitCode::Recorded` (a Rust routine recorded the error).
    pub recorded: Label,
    /// Out-of-line bounds check: address in x9, access info in x17, called with `bl`; returns
    /// only if the access is allowed.
    pub check_access: Label,
}

/// Code of one site that runs rarely, emitted after the body to keep the hot path compact.
#[derive(Clone, Copy, Debug)]
pub enum Cold {
    /// `mov w17, pc; b stub`: a trap that reports `pc`.
    Trap { at: Label, pc: usize, stub: Label },
    /// Calls the out-of-line bounds check, then resumes.
    CheckAccess { at: Label, info: u64, resume: Label },
}

/// Largest program the JIT compiles: pcs must fit in the 27 bits of an access info word.
pub const MAX_PROGRAM_LEN: usize = (1 << 27) - 1;

/// Largest code size: `b` and `bl` must reach across the whole buffer (+-128 MiB).
pub const MAX_CODE_SIZE: usize = 1 << 27;

/// The result of one pass.
pub struct Pass {
    pub finished: Finished,
    pub layout: Layout,
}

pub struct Codegen<'a> {
    pub e: Encoder,
    pub program: &'a Program,
    pub analysis: &'a Analysis,
    pub options: Options,
    /// Whether atomics use the ARMv8.1 LSE instructions (else exclusive load/store loops).
    pub lse: bool,
    pub routines: Routines,
    pub helpers: &'a HelperTable,
    pub stubs: Stubs,
    labels: Vec<Option<Label>>,
    cold: Vec<Cold>,
    /// Registers of the eBPF callee-saved registers the program uses.
    pub saved_across_calls: Vec<Gpr>,
    /// Callee-saved registers of AAPCS64 the prologue saves (besides x29 and x30).
    pub saved_by_prologue: Vec<Gpr>,
}

impl<'a> Codegen<'a> {
    pub fn new(
        program: &'a Program,
        analysis: &'a Analysis,
        options: Options,
        lse: bool,
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
        let saved_across_calls: Vec<Gpr> = regs::callee_saved()
            .filter(|reg| analysis.uses(*reg))
            .map(regs::ebpf)
            .collect();
        let mut saved_by_prologue = vec![CTX];
        saved_by_prologue.extend(&saved_across_calls);
        if analysis.uses(Reg::R10) {
            saved_by_prologue.push(FP);
        }
        if options.bounds_checks {
            saved_by_prologue.extend([STACK_START, REGION_START]);
        }
        if options.fuel {
            saved_by_prologue.push(FUEL);
        }
        if options.interrupt {
            saved_by_prologue.push(INTERRUPT);
        }
        Codegen {
            e,
            program,
            analysis,
            options,
            lse,
            routines: Routines::new(),
            helpers,
            stubs,
            labels,
            cold: Vec::new(),
            saved_across_calls,
            saved_by_prologue,
        }
    }

    /// Emits the whole program.
    pub fn generate(mut self) -> Result<Pass, CompileError> {
        self.emit_prologue();
        let body_start = self.e.offset();
        let mut pc_offsets = vec![0u32; self.program.len()];
        let mut next_pc = 0;
        for (pc, instruction) in self.program.instructions() {
            // The second slot of an lddw has no code: it starts where the next instruction does.
            let offset = self.offset32()?;
            for slot in &mut pc_offsets[next_pc..=pc] {
                *slot = offset;
            }
            self.block_start(pc)?;
            self.select(pc, instruction)?;
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
        Ok(Pass {
            finished: self.e.finish()?,
            layout: Layout {
                prologue: 0..body_start,
                pc_offsets,
                body_end: cold_start,
                cold: cold_start..stubs_start,
                stubs: stubs_start..end,
            },
        })
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

    /// A label to branch to for a trap at `pc`; its code goes out of line.
    pub fn trap(&mut self, pc: usize, stub: Label) -> Label {
        let at = self.new_label();
        self.cold.push(Cold::Trap { at, pc, stub });
        at
    }

    /// A label to branch to for an out-of-line bounds check that resumes at `resume`.
    pub fn cold_check(&mut self, info: u64, resume: Label) -> Label {
        let at = self.new_label();
        self.cold.push(Cold::CheckAccess { at, info, resume });
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
                size: Size::B8,
                sign_extend: false,
                dst: IP0,
                mem: Mem::at(INTERRUPT, 0),
            });
            self.emit(Inst::Cbz {
                nonzero: true,
                w: Width::W32,
                reg: IP0,
                label: trap,
            });
        }
        let block_len = self.program.fuel_block_len(pc) as u64;
        if self.options.fuel && block_len > 0 {
            let trap = self.trap(pc, self.stubs.out_of_fuel);
            // fuel -= len, trapping when it borrows (fuel < len): `subs` clears the carry.
            if add_immediate(block_len) {
                self.emit(Inst::SubsImm {
                    w: Width::W64,
                    dst: FUEL,
                    src: FUEL,
                    imm: block_len as u32,
                });
            } else {
                self.mov_imm(IP0, block_len);
                self.emit(Inst::Alu {
                    op: super::asm::AluOp::Subs,
                    w: Width::W64,
                    dst: FUEL,
                    a: FUEL,
                    b: IP0,
                });
            }
            self.emit(Inst::BCond(Cond::Lo, trap));
        }
        Ok(())
    }

    fn emit_cold(&mut self, cold: Cold) {
        match cold {
            Cold::Trap { at, pc, stub } => {
                self.emit(Inst::Bind(at));
                self.mov_imm(IP1, pc as u64);
                self.emit(Inst::B(stub));
            }
            Cold::CheckAccess { at, info, resume } => {
                self.emit(Inst::Bind(at));
                // The link register may hold a local callee's return address.
                self.emit(Inst::Push { src: LR });
                self.mov_imm(IP1, info);
                self.emit(Inst::Bl(self.stubs.check_access));
                self.emit(Inst::Pop { dst: LR });
                self.emit(Inst::B(resume));
            }
        }
    }

    /// Writes `code` as the run's exit code (through x16, which traps do not use for the pc).
    pub fn exit_with(&mut self, code: ExitCode) {
        self.mov_imm(IP0, u64::from(code.value()));
        self.emit(Inst::Store {
            size: Size::B64,
            src: IP0,
            mem: Mem::at(CTX, field::EXIT_CODE),
        });
    }
}
