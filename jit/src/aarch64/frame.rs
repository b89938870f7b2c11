//! The entry prologue and the stubs emitted once per program: normal exit, traps and the
//! out-of-line bounds check routine.
//!
//! Stack discipline: sp stays 16-byte aligned at every instruction (AAPCS64 requires it for any
//! sp-based access, and calls into Rust need it): registers are pushed in pairs, or alone in a
//! 16-byte slot. The prologue saves sp after its pushes in the context, and every way out
//! restores it from there, so a trap taken deep inside local calls unwinds them all at once.

use super::asm::{Base, Gpr, Inst, Mem, PairMode, Size, Width};
use super::codegen::Codegen;
use super::regs::{self, ADDR, CTX, FP, FUEL, INTERRUPT, IP0, IP1, LR, REGION_START, STACK_START};
use crate::context::field;
use crate::exit::ExitCode;
use xbpf_isa::Reg;

impl Codegen<'_> {
    pub fn load64(&mut self, dst: Gpr, mem: Mem) {
        self.emit(Inst::Load {
            size: Size::B64,
            sign_extend: false,
            dst,
            mem,
        });
    }

    pub fn store64(&mut self, src: Gpr, mem: Mem) {
        self.emit(Inst::Store {
            size: Size::B64,
            src,
            mem,
        });
    }

    /// Pushes registers on the native stack, two per 16-byte slot.
    pub fn push_all(&mut self, gprs: &[Gpr]) {
        for chunk in gprs.chunks(2) {
            match *chunk {
                [a, b] => self.emit(Inst::Pair {
                    load: false,
                    a,
                    b,
                    base: Base::Sp,
                    offset: -16,
                    mode: PairMode::PreIndex,
                }),
                [a] => self.emit(Inst::Push { src: a }),
                _ => {}
            }
        }
    }

    /// Pops what [`Codegen::push_all`] pushed.
    pub fn pop_all(&mut self, gprs: &[Gpr]) {
        for chunk in gprs.chunks(2).rev() {
            match *chunk {
                [a, b] => self.emit(Inst::Pair {
                    load: true,
                    a,
                    b,
                    base: Base::Sp,
                    offset: 16,
                    mode: PairMode::PostIndex,
                }),
                [a] => self.emit(Inst::Pop { dst: a }),
                _ => {}
            }
        }
    }

    /// Sets up a frame record, saves the callee-saved registers the code uses, takes the
    /// context argument and sets up the registers: r1 to r5 from the array the second argument
    /// points to, r10 at the top of the stack, the rest 0, and the values inline checks keep in
    /// registers.
    pub fn emit_prologue(&mut self) {
        self.push_all(&[Gpr::X29, LR]);
        self.emit(Inst::MovFromSp { dst: Gpr::X29 });
        self.push_all(&self.saved_by_prologue.clone());
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: CTX,
            src: Gpr::X0,
        });
        // The arguments' address arrives in x1, which is r1.
        let reads_arguments = regs::arguments().any(|reg| self.analysis.uses(reg));
        if reads_arguments {
            self.emit(Inst::Mov {
                w: Width::W64,
                dst: IP1,
                src: Gpr::X1,
            });
        }
        self.emit(Inst::MovFromSp { dst: IP0 });
        self.store64(IP0, Mem::at(CTX, field::SAVED_SP));
        if self.analysis.uses(Reg::R10) {
            self.load64(FP, Mem::at(CTX, field::STACK_TOP));
        }
        if self.options.bounds_checks {
            self.load64(STACK_START, Mem::at(CTX, field::STACK_START));
            self.load64(REGION_START, Mem::at(CTX, field::REGION_START));
        }
        if self.options.fuel {
            self.load64(FUEL, Mem::at(CTX, field::FUEL));
        }
        if self.options.interrupt {
            self.load64(INTERRUPT, Mem::at(CTX, field::INTERRUPT));
        }
        if reads_arguments {
            for (index, reg) in regs::arguments().enumerate() {
                if self.analysis.uses(reg) {
                    self.load64(regs::ebpf(reg), Mem::at(IP1, 8 * index as i32));
                }
            }
        }
        for reg in std::iter::once(Reg::R0).chain(regs::callee_saved()) {
            if self.analysis.uses(reg) {
                self.mov_imm(regs::ebpf(reg), 0);
            }
        }
    }

    /// Undoes the prologue, from the stack pointer it left, and returns x0 to the host.
    fn return_to_host(&mut self) {
        self.pop_all(&self.saved_by_prologue.clone());
        self.pop_all(&[Gpr::X29, LR]);
        self.emit(Inst::Ret);
    }

    /// Emits the shared stubs.
    pub fn emit_stubs(&mut self) {
        let stubs = self.stubs;
        let r0 = regs::ebpf(Reg::R0);

        // A normal exit runs in the outermost frame (the analysis sends an `exit` here only
        // there, or after checking r10), where sp is what the prologue left: no need to reload
        // it, which would put a store-to-load round trip on the way out of every run. r0 is x0,
        // the return register; the exit code in the context is already `Exit`.
        self.emit(Inst::Bind(stubs.exit_program));
        self.return_to_host();

        // A failed legacy packet load can happen in any frame: the program exits with r0 = 0.
        self.emit(Inst::Bind(stubs.packet_fail));
        self.mov_imm(r0, 0);

        self.emit(Inst::Bind(stubs.epilogue));
        self.load64(IP0, Mem::at(CTX, field::SAVED_SP));
        self.emit(Inst::MovToSp { src: IP0 });
        self.return_to_host();

        let record_pc = self.new_label();
        for (label, code) in [
            (stubs.out_of_fuel, ExitCode::OutOfFuel),
            (stubs.call_depth, ExitCode::CallDepthExceeded),
            (stubs.interrupted, ExitCode::Interrupted),
        ] {
            self.emit(Inst::Bind(label));
            self.exit_with(code);
            self.emit(Inst::B(record_pc));
        }
        self.emit(Inst::Bind(record_pc));
        self.store64(IP1, Mem::at(CTX, field::TRAP_PC));
        self.emit(Inst::B(stubs.epilogue));

        // The routine that failed recorded the code already; writing it again keeps a routine
        // that forgot from passing for a normal exit.
        self.emit(Inst::Bind(stubs.recorded));
        self.exit_with(ExitCode::Recorded);
        self.emit(Inst::B(stubs.epilogue));

        if self.options.bounds_checks {
            self.emit_check_access_routine();
        }
    }

    /// The out-of-line bounds check: called with `bl`, the address in x9 and the access info
    /// in x17. Preserves every eBPF register and x9; returns only when the access is allowed.
    /// Its caller saved the link register it had; this one is kept in the spill area.
    fn emit_check_access_routine(&mut self) {
        self.emit(Inst::Bind(self.stubs.check_access));
        // r0-r5 (x0-x5), the address and the return address, in the context's eight slots.
        let spilled = [
            (Gpr::X0, Gpr::X1),
            (Gpr::X2, Gpr::X3),
            (Gpr::X4, Gpr::X5),
            (ADDR, LR),
        ];
        for (slot, (a, b)) in spilled.into_iter().enumerate() {
            self.emit(Inst::Pair {
                load: false,
                a,
                b,
                base: Base::Reg(CTX),
                offset: field::SPILL + 16 * slot as i32,
                mode: PairMode::Offset,
            });
        }
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: Gpr::X0,
            src: CTX,
        });
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: Gpr::X1,
            src: ADDR,
        });
        self.emit(Inst::Mov {
            w: Width::W64,
            dst: Gpr::X2,
            src: IP1,
        });
        self.mov_imm(IP0, self.routines.check_access);
        self.emit(Inst::Blr(IP0));
        self.emit(Inst::Cbz {
            nonzero: false,
            w: Width::W64,
            reg: Gpr::X0,
            label: self.stubs.recorded,
        });
        for (slot, (a, b)) in spilled.into_iter().enumerate() {
            self.emit(Inst::Pair {
                load: true,
                a,
                b,
                base: Base::Reg(CTX),
                offset: field::SPILL + 16 * slot as i32,
                mode: PairMode::Offset,
            });
        }
        self.emit(Inst::Ret);
    }
}
