//! Loads, stores, atomics and legacy packet loads, with their bounds checks.
//!
//! A checked access computes its address into rax (a 64-bit wrapping add, as the interpreter
//! does) and compares the offset from the start of the region it most likely falls in (the
//! stack for r10-based accesses, the run's first region otherwise) against a limit; the
//! comparison is unsigned on the offset, so no address can overflow past it. Inside, execution
//! falls through to the access: the fast path has no taken branch. Otherwise an out-of-line
//! path checks the other region and, when that fails too, calls the Rust checker over every
//! region, which records `OutOfBounds` if none allows it.
//!
//! Accesses through r10 that stay inside the current 512-byte frame need no check: r10 is
//! always the top of one of the eight frames of the stack buffer.

use super::asm::{AluOp, Cond, Inst, Label, LockOp, Mem, Operand, ProgramImm, Size, Width};
use super::codegen::Codegen;
use super::regs::{self, CTX, RAX, RCX, RDX};
use crate::context::field;
use crate::runtime::AccessInfo;
use xbpf_isa::exec::{STACK_FRAME_SIZE, STACK_SIZE};
use xbpf_isa::{Access, AtomicOp, MemSize, PacketMode, Reg, Source};

fn size(size: MemSize) -> Size {
    match size {
        MemSize::B => Size::B8,
        MemSize::H => Size::B16,
        MemSize::W => Size::B32,
        MemSize::DW => Size::B64,
    }
}

/// How far into a region an access may start: a constant (the stack's size is fixed) or a
/// context field (the first region's limit for the access size).
#[derive(Clone, Copy, Debug)]
enum Limit {
    Imm(i32),
    Field(i32),
}

/// One inline region check: `rcx = rax - [ctx + start]; cmp rcx, limit`, after which `inside`
/// holds exactly when the access lies in the region.
#[derive(Clone, Copy, Debug)]
pub struct RegionCheck {
    start: i32,
    limit: Limit,
    inside: Cond,
}

impl RegionCheck {
    /// The stack, for an access of `bytes` bytes.
    fn stack(bytes: u32) -> RegionCheck {
        RegionCheck {
            start: field::STACK_START,
            limit: Limit::Imm(STACK_SIZE as i32 - bytes as i32),
            inside: Cond::Be,
        }
    }

    /// The run's first region, for an access of `bytes` bytes.
    fn first_region(access: Access, bytes: u32) -> RegionCheck {
        RegionCheck {
            start: field::REGION_START,
            limit: Limit::Field(field::region_limit(access, bytes)),
            inside: Cond::B,
        }
    }

    fn outside(self) -> Cond {
        match self.inside {
            Cond::Be => Cond::A,
            _ => Cond::Ae,
        }
    }
}

impl Codegen<'_> {
    /// `rax = base + off` (a 64-bit wrapping add). An offset that needs more than a byte is
    /// one of the program's constants (blinded when blinding is on).
    fn address_into_rax(&mut self, base: Reg, off: i16) {
        let base = regs::ebpf(base);
        if let Ok(disp8) = i8::try_from(off) {
            self.emit(Inst::Lea {
                w: Width::W64,
                dst: RAX,
                src: Mem::new(base, i32::from(disp8)),
            });
        } else {
            self.emit(Inst::AddConst {
                w: Width::W64,
                dst: RAX,
                base,
                imm: i32::from(off),
            });
        }
    }

    /// `[base + off]` without a check: the operand itself, or `[rax]` after computing the
    /// address when blinding keeps an offset out of the code.
    fn unchecked(&mut self, base: Reg, off: i16) -> Mem {
        if self.options.constant_blinding && i8::try_from(off).is_err() {
            self.address_into_rax(base, off);
            return Mem::new(RAX, 0);
        }
        Mem::new(regs::ebpf(base), i32::from(off))
    }

    /// The memory operand of an access of `size` bytes at `base + off`, after its bounds check.
    fn access(&mut self, pc: usize, base: Reg, off: i16, size: Size, access: Access) -> Mem {
        let bytes = size.bytes();
        if !self.options.bounds_checks {
            return self.unchecked(base, off);
        }
        let frame = STACK_FRAME_SIZE as i32;
        if base == Reg::R10 && i32::from(off) >= -frame && i32::from(off) + bytes as i32 <= 0 {
            return self.unchecked(base, off);
        }
        self.address_into_rax(base, off);
        // Accesses through r10 are most likely stack accesses; anything else most likely
        // targets the input memory.
        let (likely, other) = if base == Reg::R10 {
            (
                RegionCheck::stack(bytes),
                RegionCheck::first_region(access, bytes),
            )
        } else {
            (
                RegionCheck::first_region(access, bytes),
                RegionCheck::stack(bytes),
            )
        };
        let resume = self.new_label();
        let info = AccessInfo {
            pc,
            size: bytes,
            access,
        }
        .encode();
        let slow = self.cold_check(info, Some(other), resume);
        self.region_compare(likely);
        self.emit(Inst::Jcc(likely.outside(), slow));
        self.emit(Inst::Bind(resume));
        Mem::new(RAX, 0)
    }

    /// Compares the offset of the access at rax into `region` with its limit (clobbers rcx).
    pub fn region_compare(&mut self, region: RegionCheck) {
        self.mov64(RCX, RAX);
        self.emit(Inst::AluLoad {
            op: AluOp::Sub,
            w: Width::W64,
            dst: RCX,
            src: Mem::new(CTX, region.start),
        });
        self.emit(match region.limit {
            Limit::Imm(imm) => Inst::Alu {
                op: AluOp::Cmp,
                w: Width::W64,
                dst: RCX,
                src: Operand::Imm(imm),
            },
            Limit::Field(offset) => Inst::AluLoad {
                op: AluOp::Cmp,
                w: Width::W64,
                dst: RCX,
                src: Mem::new(CTX, offset),
            },
        });
    }

    /// The out-of-line part of a check: `region` (if any), then the Rust checker.
    pub fn emit_cold_check(&mut self, info: u64, region: Option<RegionCheck>, resume: Label) {
        if let Some(region) = region {
            self.region_compare(region);
            self.emit(Inst::Jcc(region.inside, resume));
        }
        self.emit(Inst::MovImm {
            dst: RDX,
            imm: info,
        });
        self.emit(Inst::Call(self.stubs.check_access));
        self.emit(Inst::Jmp(resume));
    }

    pub fn load(
        &mut self,
        pc: usize,
        mem_size: MemSize,
        sign_extend: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let size = size(mem_size);
        let mem = self.access(pc, src, off, size, Access::Read);
        self.emit(Inst::Load {
            size,
            sign_extend,
            dst: regs::ebpf(dst),
            src: mem,
        });
    }

    pub fn store(&mut self, pc: usize, mem_size: MemSize, dst: Reg, off: i16, src: Source) {
        let size = size(mem_size);
        let mem = self.access(pc, dst, off, size, Access::Write);
        match src {
            Source::Reg(reg) => self.emit(Inst::Store {
                size,
                dst: mem,
                src: regs::ebpf(reg),
            }),
            // rcx: the address may be in rax.
            Source::Imm(value) => self.emit(Inst::StoreImm {
                size,
                dst: mem,
                imm: ProgramImm {
                    value,
                    scratch: RCX,
                },
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn atomic(
        &mut self,
        pc: usize,
        w: Width,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let size = match w {
            Width::W32 => Size::B32,
            Width::W64 => Size::B64,
        };
        let mut mem = self.access(pc, dst, off, size, Access::Write);
        let value = regs::ebpf(src);
        let lock_op = match op {
            AtomicOp::Add => Some(LockOp::Add),
            AtomicOp::Or => Some(LockOp::Or),
            AtomicOp::And => Some(LockOp::And),
            AtomicOp::Xor => Some(LockOp::Xor),
            AtomicOp::Xchg | AtomicOp::CmpXchg => None,
        };
        match (op, lock_op, fetch) {
            (_, Some(lock_op), false) => self.emit(Inst::Locked {
                op: lock_op,
                w,
                dst: mem,
                src: value,
            }),
            (AtomicOp::Add, _, true) => self.emit(Inst::Xadd {
                w,
                dst: mem,
                src: value,
            }),
            (AtomicOp::Xchg, _, _) => self.emit(Inst::Xchg {
                w,
                dst: mem,
                src: value,
            }),
            (AtomicOp::CmpXchg, _, _) => {
                // cmpxchg compares with rax, which may hold the checked address.
                if mem.base == RAX {
                    self.mov64(RDX, RAX);
                    mem.base = RDX;
                }
                let r0 = regs::ebpf(Reg::R0);
                self.emit(Inst::Mov {
                    w,
                    dst: RAX,
                    src: r0,
                });
                self.emit(Inst::CmpXchg {
                    w,
                    dst: mem,
                    src: value,
                });
                self.emit(Inst::Mov {
                    w,
                    dst: r0,
                    src: RAX,
                });
            }
            (_, Some(lock_op), true) => {
                // Fetching or/and/xor have no x86 instruction: a cmpxchg loop.
                if mem.base == RAX {
                    self.mov64(RDX, RAX);
                    mem.base = RDX;
                }
                let alu = match lock_op {
                    LockOp::Or => AluOp::Or,
                    LockOp::And => AluOp::And,
                    LockOp::Xor | LockOp::Add => AluOp::Xor,
                };
                self.emit(Inst::Load {
                    size,
                    sign_extend: false,
                    dst: RAX,
                    src: mem,
                });
                let retry = self.new_label();
                self.emit(Inst::Bind(retry));
                self.emit(Inst::Mov {
                    w,
                    dst: RCX,
                    src: RAX,
                });
                self.emit(Inst::Alu {
                    op: alu,
                    w,
                    dst: RCX,
                    src: Operand::Reg(value),
                });
                self.emit(Inst::CmpXchg {
                    w,
                    dst: mem,
                    src: RCX,
                });
                self.emit(Inst::Jcc(Cond::Ne, retry));
                self.emit(Inst::Mov {
                    w,
                    dst: value,
                    src: RAX,
                });
            }
            (_, None, _) => {}
        }
    }

    /// Legacy packet load: r0 = ntoh(*(size *)(packet + offset)), or exit with r0 = 0 when the
    /// offset (the low 32 bits of reg + imm, signed) is negative or the bytes are outside.
    pub fn load_packet(&mut self, mem_size: MemSize, mode: PacketMode, imm: i32) {
        let fail = self.stubs.packet_fail;
        let bytes = size(mem_size).bytes() as i32;
        match mode {
            PacketMode::Abs => {
                if imm < 0 {
                    self.emit(Inst::Jmp(fail));
                    return;
                }
                self.emit(Inst::MovConst {
                    dst: RAX,
                    imm: imm as u64,
                    scratch: RCX,
                });
            }
            PacketMode::Ind(reg) => {
                // A 32-bit add keeps the low 32 bits of the 64-bit sum.
                self.emit(Inst::AddConst {
                    w: Width::W32,
                    dst: RAX,
                    base: regs::ebpf(reg),
                    imm,
                });
                self.emit(Inst::Alu {
                    op: AluOp::Test,
                    w: Width::W32,
                    dst: RAX,
                    src: Operand::Reg(RAX),
                });
                self.emit(Inst::Jcc(Cond::S, fail));
            }
        }
        // rax is now a non-negative offset below 2^31: offset + size cannot overflow.
        self.emit(Inst::Lea {
            w: Width::W64,
            dst: RCX,
            src: Mem::new(RAX, bytes),
        });
        self.emit(Inst::AluLoad {
            op: AluOp::Cmp,
            w: Width::W64,
            dst: RCX,
            src: Mem::new(CTX, field::PACKET_LEN),
        });
        self.emit(Inst::Jcc(Cond::A, fail));
        self.emit(Inst::AluLoad {
            op: AluOp::Add,
            w: Width::W64,
            dst: RAX,
            src: Mem::new(CTX, field::PACKET_START),
        });
        let at = Mem::new(RAX, 0);
        match mem_size {
            MemSize::B => self.emit(Inst::Load {
                size: Size::B8,
                sign_extend: false,
                dst: RAX,
                src: at,
            }),
            MemSize::H => {
                self.emit(Inst::Load {
                    size: Size::B16,
                    sign_extend: false,
                    dst: RAX,
                    src: at,
                });
                self.emit(Inst::Swap16 { dst: RAX });
            }
            MemSize::W | MemSize::DW => {
                self.emit(Inst::Load {
                    size: Size::B32,
                    sign_extend: false,
                    dst: RAX,
                    src: at,
                });
                self.emit(Inst::Bswap {
                    w: Width::W32,
                    dst: RAX,
                });
            }
        }
        self.mov64(regs::ebpf(Reg::R0), RAX);
    }
}
