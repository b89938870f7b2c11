//! Loads, stores, atomics and legacy packet loads, with their bounds checks.
//!
//! A checked access computes its address into x9 (a 64-bit wrapping add, as the interpreter
//! does) and compares its offset from the start of the stack and of the run's first region
//! (both kept in registers) against limits; both comparisons are unsigned on the offset, so no
//! address can overflow past them. When neither region holds the access, an out-of-line path
//! calls the Rust checker over every region, which records `OutOfBounds` if none allows it.
//!
//! Accesses through r10 that stay inside the current 512-byte frame need no check: r10 is
//! always the top of one of the eight frames of the stack buffer.
//!
//! Atomics use the ARMv8.1 LSE instructions where the CPU has them (and the options allow), or
//! else load-acquire/store-release exclusive loops, which every ARMv8.0 CPU has. Both have
//! acquire-release ordering, like Rust's `SeqCst` read-modify-writes the interpreter uses. Both
//! fault on misaligned addresses, which eBPF allows: those take a plain read-modify-write, as
//! in the interpreter.

use super::asm::{AluOp, Base, Cond, Gpr, Inst, Label, LseOp, Mem, Size, Width};
use super::codegen::Codegen;
use super::regs::{self, ADDR, CTX, REGION_START, STACK_START, T1, T2, T3};
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

/// The two regions checked inline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InlineRegion {
    Stack,
    First,
}

impl Codegen<'_> {
    /// `[base, #off]` if the access can address it directly (and, with blinding, the offset
    /// fits in a byte), else the address in x9.
    fn address(&mut self, base: Gpr, off: i32, size: Size) -> Mem {
        let blinded = self.options.constant_blinding && i8::try_from(off).is_err();
        if Mem::offset_fits(size, off) && !blinded {
            return Mem::at(base, off);
        }
        self.add_offset(ADDR, base, off);
        Mem::at(ADDR, 0)
    }

    /// The memory operand of an access of `size` bytes at `base + off`, after its bounds check.
    fn access(&mut self, pc: usize, base: Reg, off: i16, size: Size, access: Access) -> Mem {
        let bytes = size.bytes();
        let base_gpr = regs::ebpf(base);
        let off = i32::from(off);
        let frame = STACK_FRAME_SIZE as i32;
        let in_frame = base == Reg::R10 && off >= -frame && off + bytes as i32 <= 0;
        if !self.options.bounds_checks || in_frame {
            return self.address(base_gpr, off, size);
        }
        self.add_offset(ADDR, base_gpr, off);
        // Accesses through r10 are most likely stack accesses; anything else most likely
        // targets the input memory.
        let order = if base == Reg::R10 {
            [InlineRegion::Stack, InlineRegion::First]
        } else {
            [InlineRegion::First, InlineRegion::Stack]
        };
        let resume = self.new_label();
        let info = AccessInfo {
            pc,
            size: bytes,
            access,
        }
        .encode();
        let slow = self.cold_check(info, resume);
        for (index, region) in order.into_iter().enumerate() {
            let last = index + 1 == order.len();
            let (inside, outside) = match region {
                InlineRegion::Stack => {
                    self.sub(T1, ADDR, STACK_START);
                    // offset <= STACK_SIZE - size (4088 at most: an immediate).
                    self.emit(Inst::CmpImm {
                        negate: false,
                        w: Width::W64,
                        a: T1,
                        imm: STACK_SIZE as u32 - bytes,
                    });
                    (Cond::Ls, Cond::Hi)
                }
                InlineRegion::First => {
                    self.sub(T1, ADDR, REGION_START);
                    self.load64(T2, Mem::at(CTX, field::region_limit(access, bytes)));
                    self.emit(Inst::Cmp {
                        w: Width::W64,
                        a: T1,
                        b: T2,
                    });
                    (Cond::Lo, Cond::Hs)
                }
            };
            if last {
                self.emit(Inst::BCond(outside, slow));
            } else {
                self.emit(Inst::BCond(inside, resume));
            }
        }
        self.emit(Inst::Bind(resume));
        Mem::at(ADDR, 0)
    }

    /// `dst = a - b` (64-bit).
    fn sub(&mut self, dst: Gpr, a: Gpr, b: Gpr) {
        self.emit(Inst::Alu {
            op: AluOp::Sub,
            w: Width::W64,
            dst,
            a,
            b,
        });
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
            mem,
        });
    }

    pub fn store(&mut self, pc: usize, mem_size: MemSize, dst: Reg, off: i16, src: Source) {
        let size = size(mem_size);
        let mem = self.access(pc, dst, off, size, Access::Write);
        let value = match src {
            Source::Reg(reg) => regs::ebpf(reg),
            Source::Imm(0) => Gpr::Zr,
            Source::Imm(imm) => {
                // Only the low `size` bytes are stored: the sign-extended value serves all sizes.
                self.emit(Inst::MovConst {
                    dst: T1,
                    value: imm as i64 as u64,
                    scratch: T2,
                });
                T1
            }
        };
        self.emit(Inst::Store {
            size,
            src: value,
            mem,
        });
    }

    /// The address of an atomic access in a register (atomics take no offset).
    fn atomic_address(&mut self, pc: usize, base: Reg, off: i16, size: Size) -> Gpr {
        match self.access(pc, base, off, size, Access::Write) {
            Mem::Offset {
                base: Base::Reg(reg),
                offset: 0,
            } => reg,
            Mem::Offset {
                base: Base::Reg(reg),
                offset,
            } => {
                self.add_offset(ADDR, reg, offset);
                ADDR
            }
            // `access` only returns register bases with offsets.
            _ => ADDR,
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
        let addr = self.atomic_address(pc, dst, off, size);
        let value = regs::ebpf(src);
        // Atomic instructions fault on misaligned addresses; eBPF allows them, and the
        // interpreter gives them a plain read-modify-write (one run is single-threaded).
        let misaligned = self.new_label();
        let done = self.new_label();
        self.emit(Inst::TstImm {
            w: Width::W64,
            a: addr,
            imm: u64::from(size.bytes() - 1),
        });
        self.emit(Inst::BCond(Cond::Ne, misaligned));
        if self.lse {
            self.atomic_lse(w, op, fetch, addr, value);
        } else {
            self.atomic_exclusive(w, op, fetch, addr, value);
        }
        self.emit(Inst::B(done));
        self.emit(Inst::Bind(misaligned));
        self.read_modify_write(w, op, fetch, addr, value);
        self.emit(Inst::Bind(done));
    }

    /// The atomic operation as a plain load, operation and store (for misaligned addresses).
    fn read_modify_write(&mut self, w: Width, op: AtomicOp, fetch: bool, addr: Gpr, value: Gpr) {
        let size = match w {
            Width::W32 => Size::B32,
            Width::W64 => Size::B64,
        };
        let at = Mem::at(addr, 0);
        self.emit(Inst::Load {
            size,
            sign_extend: false,
            dst: T1,
            mem: at,
        });
        let r0 = regs::ebpf(Reg::R0);
        if op == AtomicOp::CmpXchg {
            let mismatch = self.new_label();
            self.emit(Inst::Cmp { w, a: T1, b: r0 });
            self.emit(Inst::BCond(Cond::Ne, mismatch));
            self.emit(Inst::Store {
                size,
                src: value,
                mem: at,
            });
            self.emit(Inst::Bind(mismatch));
            self.mov64(r0, T1);
            return;
        }
        let new = self.atomic_new_value(w, op, value);
        self.emit(Inst::Store {
            size,
            src: new,
            mem: at,
        });
        if fetch || op == AtomicOp::Xchg {
            self.mov64(value, T1);
        }
    }

    /// One LSE instruction; the old value goes through x10 so that no operand register is
    /// both read and written by it.
    fn atomic_lse(&mut self, w: Width, op: AtomicOp, fetch: bool, addr: Gpr, value: Gpr) {
        let r0 = regs::ebpf(Reg::R0);
        let (lse, operand) = match op {
            AtomicOp::Add => (LseOp::Add, value),
            AtomicOp::Or => (LseOp::Set, value),
            AtomicOp::Xor => (LseOp::Eor, value),
            AtomicOp::Xchg => (LseOp::Swp, value),
            AtomicOp::And => {
                // ldclr clears the bits set in its operand.
                self.emit(Inst::Mvn {
                    w,
                    dst: T2,
                    src: value,
                });
                (LseOp::Clr, T2)
            }
            AtomicOp::CmpXchg => {
                self.mov64(T1, r0);
                self.emit(Inst::Cas {
                    w,
                    compare: T1,
                    src: value,
                    addr,
                });
                self.mov64(r0, T1);
                return;
            }
        };
        self.emit(Inst::Lse {
            op: lse,
            w,
            src: operand,
            old: T1,
            addr,
        });
        if fetch || op == AtomicOp::Xchg {
            self.mov64(value, T1);
        }
    }

    /// A load-acquire/store-release exclusive loop: x10 = old value, x11 = new value, w12 =
    /// store status.
    fn atomic_exclusive(&mut self, w: Width, op: AtomicOp, fetch: bool, addr: Gpr, value: Gpr) {
        let r0 = regs::ebpf(Reg::R0);
        let retry = self.new_label();
        self.emit(Inst::Bind(retry));
        self.emit(Inst::LoadExclusive { w, dst: T1, addr });
        if op == AtomicOp::CmpXchg {
            let mismatch = self.new_label();
            let done = self.new_label();
            self.emit(Inst::Cmp { w, a: T1, b: r0 });
            self.emit(Inst::BCond(Cond::Ne, mismatch));
            self.store_exclusive(w, value, addr, retry);
            self.emit(Inst::B(done));
            self.emit(Inst::Bind(mismatch));
            self.emit(Inst::Clrex);
            self.emit(Inst::Bind(done));
            // The old value, zero-extended for 32-bit (ldaxr w zero-extends).
            self.mov64(r0, T1);
            return;
        }
        let new = self.atomic_new_value(w, op, value);
        self.store_exclusive(w, new, addr, retry);
        if fetch || op == AtomicOp::Xchg {
            self.mov64(value, T1);
        }
    }

    /// `stlxr w12, src, [addr]`, retrying the loop at `retry` when the store fails.
    /// The value an atomic `op` (not `cmpxchg`) stores, from the old value in T1 and the
    /// operand `value`: `value` itself for `xchg`, else `T1 op value` computed into T2.
    fn atomic_new_value(&mut self, w: Width, op: AtomicOp, value: Gpr) -> Gpr {
        let alu = match op {
            AtomicOp::Xchg => return value,
            AtomicOp::Add => AluOp::Add,
            AtomicOp::Or => AluOp::Orr,
            AtomicOp::And => AluOp::And,
            _ => AluOp::Eor,
        };
        self.emit(Inst::Alu {
            op: alu,
            w,
            dst: T2,
            a: T1,
            b: value,
        });
        T2
    }

    fn store_exclusive(&mut self, w: Width, src: Gpr, addr: Gpr, retry: Label) {
        self.emit(Inst::StoreExclusive {
            w,
            status: T3,
            src,
            addr,
        });
        self.emit(Inst::Cbz {
            nonzero: true,
            w: Width::W32,
            reg: T3,
            label: retry,
        });
    }

    /// Legacy packet load: r0 = ntoh(*(size *)(packet + offset)), or exit with r0 = 0 when the
    /// offset (the low 32 bits of reg + imm, signed) is negative or the bytes are outside.
    pub fn load_packet(&mut self, mem_size: MemSize, mode: PacketMode, imm: i32) {
        let fail = self.stubs.packet_fail;
        let bytes = size(mem_size).bytes();
        match mode {
            PacketMode::Abs => {
                if imm < 0 {
                    self.emit(Inst::B(fail));
                    return;
                }
                self.emit(Inst::MovConst {
                    dst: ADDR,
                    value: imm as u64,
                    scratch: T1,
                });
            }
            PacketMode::Ind(reg) => {
                // A 32-bit add keeps the low 32 bits of the 64-bit sum.
                self.add_constant(Width::W32, false, ADDR, regs::ebpf(reg), imm);
                self.emit(Inst::Tbz {
                    nonzero: true,
                    reg: ADDR,
                    bit: 31,
                    label: fail,
                });
            }
        }
        // x9 is now a non-negative offset below 2^31: offset + size cannot overflow.
        self.emit(Inst::AddImm {
            sub: false,
            w: Width::W64,
            dst: T1,
            src: ADDR,
            imm: bytes,
        });
        self.load64(T2, Mem::at(CTX, field::PACKET_LEN));
        self.emit(Inst::Cmp {
            w: Width::W64,
            a: T1,
            b: T2,
        });
        self.emit(Inst::BCond(Cond::Hi, fail));
        self.load64(T2, Mem::at(CTX, field::PACKET_START));
        let r0 = regs::ebpf(Reg::R0);
        let at = Mem::Index {
            base: Base::Reg(T2),
            index: ADDR,
        };
        let (size, swap) = match mem_size {
            MemSize::B => (Size::B8, None),
            MemSize::H => (
                Size::B16,
                Some(Inst::Rev16 {
                    w: Width::W32,
                    dst: r0,
                    src: r0,
                }),
            ),
            MemSize::W | MemSize::DW => (
                Size::B32,
                Some(Inst::Rev {
                    w: Width::W32,
                    dst: r0,
                    src: r0,
                }),
            ),
        };
        self.emit(Inst::Load {
            size,
            sign_extend: false,
            dst: r0,
            mem: at,
        });
        if let Some(swap) = swap {
            self.emit(swap);
        }
    }
}
