//! Local calls, helper calls and `exit`.
//!
//! A local call is a native `bl`: the caller saves the link register (its own return address,
//! if it is a callee) and the eBPF callee-saved registers it uses on the native stack, in
//! 16-byte slots, moves r10 down one frame and branches; `exit` in a callee is a `ret`. The
//! depth limit is checked on r10: with eight frames active, r10 is at the context's
//! `call_limit`.
//!
//! Helper calls go through a Rust trampoline: r1 to r5 are stored in the context (the helper's
//! arguments, and the copy r1 to r5 are restored from afterwards), r0 receives the result in
//! x0, and a recorded error sends the run to the exit stub.

use super::asm::{Base, Cond, Gpr, Inst, Mem, PairMode, Width};
use super::codegen::Codegen;
use super::regs::{CTX, FP, IP0, LR};
use super::select::branch_target;
use crate::context::field;
use crate::error::CompileError;
use xbpf_isa::CallTarget;
use xbpf_isa::exec::STACK_FRAME_SIZE;

/// r1 to r5 (x1 to x5) and their slots in `RunContext::args`.
const ARGUMENT_PAIRS: [(Gpr, Gpr, i32); 2] = [
    (Gpr::X1, Gpr::X2, field::ARGS),
    (Gpr::X3, Gpr::X4, field::ARGS + 16),
];
const LAST_ARGUMENT: (Gpr, i32) = (Gpr::X5, field::ARGS + 32);

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
                self.store_helper_arguments();
                self.mov64(Gpr::X0, CTX);
                self.mov_imm(Gpr::X1, helper);
                self.mov_imm(Gpr::X2, u64::from(id as u32));
                self.mov_imm(Gpr::X3, pc as u64);
                self.call_rust(self.routines.call_helper);
                self.finish_helper_call();
                Ok(())
            }
            // Rejected by `check_preparable` before compilation.
            CallTarget::Kfunc(id) => Err(CompileError::Assembler(format!("kfunc call {id}"))),
        }
    }

    /// `callx reg`: the register holds a helper id.
    pub fn call_by_register(&mut self, pc: usize, id: Gpr) {
        self.store_helper_arguments();
        // The id is read before x0 and x2 are overwritten (it may be in either).
        self.mov64(Gpr::X1, id);
        self.mov64(Gpr::X0, CTX);
        self.mov_imm(Gpr::X2, pc as u64);
        self.call_rust(self.routines.call_helper_by_id);
        self.finish_helper_call();
    }

    fn argument_pair(&mut self, load: bool, (a, b, offset): (Gpr, Gpr, i32)) {
        self.emit(Inst::Pair {
            load,
            a,
            b,
            base: Base::Reg(CTX),
            offset,
            mode: PairMode::Offset,
        });
    }

    fn store_helper_arguments(&mut self) {
        for pair in ARGUMENT_PAIRS {
            self.argument_pair(false, pair);
        }
        let (last, offset) = LAST_ARGUMENT;
        self.store64(last, Mem::at(CTX, offset));
    }

    /// Calls a Rust routine (arguments already in place), keeping the link register.
    fn call_rust(&mut self, routine: u64) {
        self.emit(Inst::Push { src: LR });
        self.mov_imm(IP0, routine);
        self.emit(Inst::Blr(IP0));
        self.emit(Inst::Pop { dst: LR });
    }

    /// Stop if the helper failed; restore r1 to r5 (r0 is the result, already in x0).
    fn finish_helper_call(&mut self) {
        self.load64(IP0, Mem::at(CTX, field::EXIT_CODE));
        self.emit(Inst::Cbz {
            nonzero: true,
            w: Width::W64,
            reg: IP0,
            label: self.stubs.recorded,
        });
        for pair in ARGUMENT_PAIRS {
            self.argument_pair(true, pair);
        }
        let (last, offset) = LAST_ARGUMENT;
        self.load64(last, Mem::at(CTX, offset));
    }

    fn local_call(&mut self, pc: usize, target: usize) -> Result<(), CompileError> {
        let label = self.target(target)?;
        let too_deep = self.trap(pc, self.stubs.call_depth);
        self.load64(IP0, Mem::at(CTX, field::CALL_LIMIT));
        self.emit(Inst::Cmp {
            w: Width::W64,
            a: FP,
            b: IP0,
        });
        self.emit(Inst::BCond(Cond::Ls, too_deep));
        let mut saved = vec![LR];
        saved.extend(&self.saved_across_calls);
        self.push_all(&saved);
        let frame = STACK_FRAME_SIZE as u32;
        self.emit(Inst::AddImm {
            sub: true,
            w: Width::W64,
            dst: FP,
            src: FP,
            imm: frame,
        });
        self.emit(Inst::Bl(label));
        self.emit(Inst::AddImm {
            sub: false,
            w: Width::W64,
            dst: FP,
            src: FP,
            imm: frame,
        });
        self.pop_all(&saved);
        Ok(())
    }

    /// `exit`: returns from a local call, or ends the program in the outermost frame. Where
    /// the analysis cannot tell which frames the instruction runs in (code shared between
    /// functions), r10 tells at run time.
    pub fn exit(&mut self, pc: usize) {
        let exit_program = self.stubs.exit_program;
        let frames = self.analysis.frames(pc);
        if !frames.callee {
            self.emit(Inst::B(exit_program));
        } else if !frames.outermost {
            self.emit(Inst::Ret);
        } else {
            self.load64(IP0, Mem::at(CTX, field::STACK_TOP));
            self.emit(Inst::Cmp {
                w: Width::W64,
                a: FP,
                b: IP0,
            });
            self.emit(Inst::BCond(Cond::Eq, exit_program));
            self.emit(Inst::Ret);
        }
    }
}
