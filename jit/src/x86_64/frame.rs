//! The entry prologue and the stubs emitted once per program: normal exit, traps and the
//! out-of-line bounds check routine.
//!
//! Stack discipline: the prologue leaves rsp 16-byte aligned and saves it in the context. Local
//! calls keep that alignment (see `calls.rs`), so every call into Rust made from the body is
//! aligned as both conventions require. Every way out restores rsp from the context, so a trap
//! taken deep inside local calls unwinds them all at once.

use super::asm::{AluOp, Cond, Gpr, Inst, Mem, Operand, Size, Width};
use super::codegen::Codegen;
use super::regs::{self, CTX, FP, RAX, RDX};
use crate::context::field;
use crate::exit::ExitCode;
use xbpf_isa::Reg;

impl Codegen<'_> {
    /// Bytes below the saved registers that keep rsp 16-byte aligned after the prologue.
    fn prologue_padding(&self) -> i32 {
        // On entry rsp is 8 modulo 16 (the return address); each push adds 8.
        if self.saved_by_prologue.len().is_multiple_of(2) {
            8
        } else {
            0
        }
    }

    fn load64(&mut self, dst: Gpr, src: Mem) {
        self.emit(Inst::Load {
            size: Size::B64,
            sign_extend: false,
            dst,
            src,
        });
    }

    fn store64(&mut self, dst: Mem, src: Gpr) {
        self.emit(Inst::Store {
            size: Size::B64,
            dst,
            src,
        });
    }

    fn adjust_rsp(&mut self, op: AluOp, bytes: i32) {
        if bytes != 0 {
            self.emit(Inst::Alu {
                op,
                w: Width::W64,
                dst: Gpr::Rsp,
                src: Operand::Imm(bytes),
            });
        }
    }

    /// Saves the host's callee-saved registers, takes the context argument and sets up the
    /// eBPF registers: r1 to r5 from the array the second argument points to, r10 at the top
    /// of the stack, the rest 0.
    pub fn emit_prologue(&mut self) {
        for gpr in self.saved_by_prologue.clone() {
            self.emit(Inst::Push(gpr));
        }
        self.adjust_rsp(AluOp::Sub, self.prologue_padding());
        let [context_argument, args_argument, ..] = self.conv.arguments();
        // Both before any eBPF register is written: the argument registers are eBPF ones.
        self.mov64(CTX, context_argument);
        let reads_arguments = regs::arguments().any(|reg| self.analysis.uses(reg));
        if reads_arguments {
            self.mov64(RAX, args_argument);
        }
        self.store64(Mem::new(CTX, field::SAVED_SP), Gpr::Rsp);
        if self.analysis.uses(Reg::R10) {
            self.load64(FP, Mem::new(CTX, field::STACK_TOP));
        }
        if reads_arguments {
            for (index, reg) in regs::arguments().enumerate() {
                if self.analysis.uses(reg) {
                    self.load64(regs::ebpf(reg), Mem::new(RAX, 8 * index as i32));
                }
            }
        }
        for reg in std::iter::once(Reg::R0).chain(regs::callee_saved()) {
            if self.analysis.uses(reg) {
                let gpr = regs::ebpf(reg);
                self.emit(Inst::Alu {
                    op: AluOp::Xor,
                    w: Width::W32,
                    dst: gpr,
                    src: Operand::Reg(gpr),
                });
            }
        }
    }

    /// Undoes the prologue, from the stack pointer it left, and returns rax to the host.
    fn return_to_host(&mut self) {
        self.adjust_rsp(AluOp::Add, self.prologue_padding());
        for gpr in self.saved_by_prologue.clone().into_iter().rev() {
            self.emit(Inst::Pop(gpr));
        }
        self.emit(Inst::Ret);
    }

    /// Emits the shared stubs.
    pub fn emit_stubs(&mut self) {
        let stubs = self.stubs;
        let r0 = regs::ebpf(Reg::R0);

        // A normal exit runs in the outermost frame (the analysis sends an `exit` here only
        // there, or after checking r10), where rsp is what the prologue left: no need to reload
        // it, which would put a store-to-load round trip on the way out of every run. r0 goes
        // back in rax; the exit code in the context is already `Exit`.
        self.emit(Inst::Bind(stubs.exit_program));
        self.mov64(RAX, r0);
        self.return_to_host();

        // A failed legacy packet load can happen in any frame: the program exits with r0 = 0.
        self.emit(Inst::Bind(stubs.packet_fail));
        self.emit(Inst::Alu {
            op: AluOp::Xor,
            w: Width::W32,
            dst: RAX,
            src: Operand::Reg(RAX),
        });

        self.emit(Inst::Bind(stubs.epilogue));
        self.load64(Gpr::Rsp, Mem::new(CTX, field::SAVED_SP));
        self.return_to_host();

        let record_pc = self.new_label();
        for (label, code) in [
            (stubs.out_of_fuel, ExitCode::OutOfFuel),
            (stubs.call_depth, ExitCode::CallDepthExceeded),
            (stubs.interrupted, ExitCode::Interrupted),
        ] {
            self.emit(Inst::Bind(label));
            self.exit_with(code);
            self.emit(Inst::Jmp(record_pc));
        }
        self.emit(Inst::Bind(record_pc));
        self.store64(Mem::new(CTX, field::TRAP_PC), RDX);
        self.emit(Inst::Jmp(stubs.epilogue));

        // The routine that failed recorded the code already; writing it again keeps a routine
        // that forgot from passing for a normal exit.
        self.emit(Inst::Bind(stubs.recorded));
        self.exit_with(ExitCode::Recorded);
        self.emit(Inst::Jmp(stubs.epilogue));

        if self.options.bounds_checks {
            self.emit_check_access_routine();
        }
    }

    /// The out-of-line bounds check: called with the address in rax and the access info in
    /// rdx. Preserves every eBPF register and rax; returns only when the access is allowed.
    fn emit_check_access_routine(&mut self) {
        self.emit(Inst::Bind(self.stubs.check_access));
        let spilled = self.volatile_ebpf_registers();
        for (slot, gpr) in spilled.iter().chain([&RAX]).enumerate() {
            self.store64(Mem::new(CTX, field::SPILL + 8 * slot as i32), *gpr);
        }
        // Entered by a call from aligned code: 8 more bytes realign the stack.
        let frame = 8 + self.conv.shadow_space();
        self.adjust_rsp(AluOp::Sub, frame);
        let [ctx_arg, addr_arg, info_arg, _] = self.conv.arguments();
        // Order matters: each source is read before its register becomes a destination.
        self.mov64(info_arg, RDX);
        self.mov64(addr_arg, RAX);
        self.mov64(ctx_arg, CTX);
        self.emit(Inst::MovImm {
            dst: RAX,
            imm: self.routines.check_access,
        });
        self.emit(Inst::CallReg(RAX));
        self.adjust_rsp(AluOp::Add, frame);
        self.emit(Inst::Alu {
            op: AluOp::Test,
            w: Width::W64,
            dst: RAX,
            src: Operand::Reg(RAX),
        });
        self.emit(Inst::Jcc(Cond::E, self.stubs.recorded));
        for (slot, gpr) in spilled.iter().chain([&RAX]).enumerate() {
            self.load64(*gpr, Mem::new(CTX, field::SPILL + 8 * slot as i32));
        }
        self.emit(Inst::Ret);
    }

    /// x86 registers of the eBPF registers a call into Rust may clobber (r0 to r5 are in
    /// registers that are volatile in at least one convention), limited to those in use.
    pub fn volatile_ebpf_registers(&self) -> Vec<Gpr> {
        (0..=5)
            .map(regs::reg)
            .filter(|reg| self.analysis.uses(*reg))
            .map(regs::ebpf)
            .collect()
    }
}
