//! Local calls, helper calls and `exit`.
//!
//! A local call is a native `call`: the caller saves the eBPF callee-saved registers it uses on
//! the native stack, moves r10 down one frame and calls; `exit` in a callee is a `ret`. The
//! native frame of a call is a multiple of 16 bytes, so calls into Rust stay aligned at any
//! depth. The depth limit is checked on r10: with eight frames active, r10 is at the context's
//! `call_limit`.
//!
//! Helper calls go through a Rust trampoline: r1 to r5 are stored in the context (the helper's
//! arguments, and the copy r1 to r5 are restored from afterwards), r0 receives the result, and
//! a recorded error sends the run to the exit stub.

use super::asm::{AluOp, Cond, Gpr, Inst, Mem, Operand, Size, Width};
use super::codegen::Codegen;
use super::regs::{self, CTX, FP, RAX};
use super::select::branch_target;
use crate::context::field;
use crate::error::CompileError;
use xbpf_isa::exec::STACK_FRAME_SIZE;
use xbpf_isa::{CallTarget, Reg};

impl Codegen<'_> {
    pub fn call(&mut self, pc: usize, target: CallTarget) -> Result<(), CompileError> {
        match target {
            CallTarget::Local(offset) => self.local_call(pc, branch_target(pc, i64::from(offset))),
            CallTarget::Helper(id) => {
                // `check_preparable` guaranteed the helper exists.
                let helper = u32::try_from(id)
                    .ok()
                    .and_then(|id| self.helpers.get(id))
                    .ok_or_else(|| CompileError::Assembler(format!("helper {id} vanished")))?;
                let helper = helper as *const _ as u64;
                let [ctx_arg, helper_arg, id_arg, pc_arg] = self.conv.arguments();
                self.store_helper_arguments();
                self.emit(Inst::Mov {
                    w: Width::W64,
                    dst: ctx_arg,
                    src: CTX,
                });
                self.emit(Inst::MovImm {
                    dst: helper_arg,
                    imm: helper,
                });
                self.emit(Inst::MovImm {
                    dst: id_arg,
                    imm: id as u32 as u64,
                });
                self.emit(Inst::MovImm {
                    dst: pc_arg,
                    imm: pc as u64,
                });
                let routine = self.routines.call_helper;
                self.call_rust(routine);
                self.finish_helper_call();
                Ok(())
            }
            // Rejected by `check_preparable` before compilation.
            CallTarget::Kfunc(id) => Err(CompileError::Assembler(format!("kfunc call {id}"))),
        }
    }

    /// `callx reg`: the register holds a helper id.
    pub fn call_by_register(&mut self, pc: usize, id: Gpr) {
        let [ctx_arg, id_arg, pc_arg, _] = self.conv.arguments();
        // rax is no argument register in either convention, so the id survives the setup.
        self.mov64(RAX, id);
        self.store_helper_arguments();
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: id_arg,
            src: RAX,
        });
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: ctx_arg,
            src: CTX,
        });
        self.emit(Inst::MovImm {
            dst: pc_arg,
            imm: pc as u64,
        });
        let routine = self.routines.call_helper_by_id;
        self.call_rust(routine);
        self.finish_helper_call();
    }

    fn store_helper_arguments(&mut self) {
        for (index, reg) in regs::arguments().enumerate() {
            self.emit(Inst::Store {
                size: Size::B64,
                dst: Mem::new(CTX, field::ARGS + 8 * index as i32),
                src: regs::ebpf(reg),
            });
        }
    }

    /// Calls a Rust routine (arguments already in place) with the convention's shadow space.
    fn call_rust(&mut self, routine: u64) {
        let shadow = self.conv.shadow_space();
        if shadow != 0 {
            self.emit(Inst::Alu {
                op: AluOp::Sub,
                w: Width::W64,
                dst: Gpr::Rsp,
                src: Operand::Imm(shadow),
            });
        }
        self.emit(Inst::MovImm {
            dst: RAX,
            imm: routine,
        });
        self.emit(Inst::CallReg(RAX));
        if shadow != 0 {
            self.emit(Inst::Alu {
                op: AluOp::Add,
                w: Width::W64,
                dst: Gpr::Rsp,
                src: Operand::Imm(shadow),
            });
        }
    }

    /// r0 = the helper's result; stop if it failed; restore r1 to r5.
    fn finish_helper_call(&mut self) {
        self.mov64(regs::ebpf(Reg::R0), RAX);
        self.emit(Inst::AluStore {
            op: AluOp::Cmp,
            size: Size::B64,
            dst: Mem::new(CTX, field::EXIT_CODE),
            src: Operand::Imm(0),
        });
        self.emit(Inst::Jcc(Cond::Ne, self.stubs.recorded));
        for (index, reg) in regs::arguments().enumerate() {
            self.emit(Inst::Load {
                size: Size::B64,
                sign_extend: false,
                dst: regs::ebpf(reg),
                src: Mem::new(CTX, field::ARGS + 8 * index as i32),
            });
        }
    }

    fn local_call(&mut self, pc: usize, target: usize) -> Result<(), CompileError> {
        let label = self.target(target)?;
        let too_deep = self.trap(pc, self.stubs.call_depth);
        self.emit(Inst::AluLoad {
            op: AluOp::Cmp,
            w: Width::W64,
            dst: FP,
            src: Mem::new(CTX, field::CALL_LIMIT),
        });
        self.emit(Inst::Jcc(Cond::Be, too_deep));
        let saved = self.saved_across_calls.clone();
        for gpr in &saved {
            self.emit(Inst::Push(*gpr));
        }
        // The return address plus the saved registers must be a multiple of 16 bytes.
        let padding = if saved.len().is_multiple_of(2) { 8 } else { 0 };
        let frame = STACK_FRAME_SIZE as i32;
        if padding != 0 {
            self.emit(Inst::Alu {
                op: AluOp::Sub,
                w: Width::W64,
                dst: Gpr::Rsp,
                src: Operand::Imm(padding),
            });
        }
        self.emit(Inst::Alu {
            op: AluOp::Sub,
            w: Width::W64,
            dst: FP,
            src: Operand::Imm(frame),
        });
        self.emit(Inst::Call(label));
        self.emit(Inst::Alu {
            op: AluOp::Add,
            w: Width::W64,
            dst: FP,
            src: Operand::Imm(frame),
        });
        if padding != 0 {
            self.emit(Inst::Alu {
                op: AluOp::Add,
                w: Width::W64,
                dst: Gpr::Rsp,
                src: Operand::Imm(padding),
            });
        }
        for gpr in saved.iter().rev() {
            self.emit(Inst::Pop(*gpr));
        }
        Ok(())
    }

    /// `exit`: returns from a local call, or ends the program in the outermost frame. Where
    /// the analysis cannot tell which frames the instruction runs in (code shared between
    /// functions), r10 tells at run time.
    pub fn exit(&mut self, pc: usize) {
        let exit_program = self.stubs.exit_program;
        let frames = self.analysis.frames(pc);
        if !frames.callee {
            self.emit(Inst::Jmp(exit_program));
        } else if !frames.outermost {
            self.emit(Inst::Ret);
        } else {
            self.emit(Inst::AluLoad {
                op: AluOp::Cmp,
                w: Width::W64,
                dst: FP,
                src: Mem::new(CTX, field::STACK_TOP),
            });
            self.emit(Inst::Jcc(Cond::E, exit_program));
            self.emit(Inst::Ret);
        }
    }
}
