//! Accept/reject cases for every check, the classic false positives of other verifiers, and the
//! unsafe variants that must be rejected. Every accepted case that can run on the interpreter
//! is also run with random inputs: no memory fault, r0 inside the computed exit range.

mod common;

use common::{Expect, Ty, check_verdict, run, run_randomly};
use xbpf_verifier::{Check, VerifierConfig};

use Check::*;
use Expect::{Accept, Reject};

/// Options a case runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Options {
    Default,
    Leaks,
    DivZero,
    Termination,
    NoDisjuncts,
}

impl Options {
    fn config(self) -> VerifierConfig {
        let mut config = VerifierConfig::default();
        match self {
            Options::Default => {}
            Options::Leaks => config.allow_pointer_leaks = true,
            Options::DivZero => config.check_division_by_zero = true,
            Options::Termination => config.check_termination = true,
            Options::NoDisjuncts => config.max_disjuncts = 1,
        }
        config
    }
}

use Options::*;

/// Loads the packet pointers of `Ty::Packet` into r2 (data) and r3 (data_end).
macro_rules! pkt {
    () => {
        "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n"
    };
}

/// r0 = lookup of key 0 (on the stack at r10-4) in map `$m`.
macro_rules! lookup {
    ($m:literal) => {
        concat!(
            "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index ",
            $m,
            "\ncall 1\n"
        )
    };
}

const G: Ty = Ty::Generic(16);
const P: Ty = Ty::Packet;

#[rustfmt::skip]
const CASES: &[(&str, Ty, Options, &str, Expect)] = &[
    // ---- registers ----
    ("return a constant", G, Default, "mov %r0, 7\nexit", Accept),
    ("return uninitialised r0", G, Default, "exit", Reject(UninitializedRegister)),
    ("read uninitialised r3", G, Default, "mov %r0, %r3\nexit", Reject(UninitializedRegister)),
    ("add to uninitialised r0", G, Default, "add %r0, 1\nexit", Reject(UninitializedRegister)),
    ("compare uninitialised r4", G, Default, "mov %r0, 0\njeq %r4, 0, +0\nexit", Reject(UninitializedRegister)),
    ("r2 uninitialised at entry", G, Default, "mov %r0, %r2\nexit", Reject(UninitializedRegister)),
    ("uninitialised on one path", G, Default, "ldxb %r2, [%r1+0]\njeq %r2, 0, skip\nmov %r0, 1\nskip:\nexit", Reject(UninitializedRegister)),
    ("initialised on both paths", G, Default, "ldxb %r2, [%r1+0]\nmov %r0, 2\njeq %r2, 0, skip\nmov %r0, 1\nskip:\nexit", Accept),
    ("return the context pointer", G, Default, "mov %r0, %r1\nexit", Reject(PointerLeak)),
    ("return the context pointer, leaks allowed", G, Leaks, "mov %r0, %r1\nexit", Accept),
    ("return a stack pointer", G, Default, "mov %r0, %r10\nexit", Reject(PointerLeak)),
    ("32-bit move of a pointer", G, Default, "mov32 %r0, %r1\nexit", Reject(PointerArithmetic)),
    ("32-bit move of a number", G, Default, "lddw %r0, 0x100000005\nmov32 %r0, %r0\nexit", Accept),
    ("64-bit arithmetic", G, Default, "mov %r0, 6\nmul %r0, 7\nsub %r0, 2\nexit", Accept),
    ("32-bit arithmetic", G, Default, "mov32 %r0, -1\nadd32 %r0, 2\nexit", Accept),
    ("shifts and masks", G, Default, "ldxdw %r0, [%r1+0]\nand %r0, 0xff\nlsh %r0, 3\nrsh %r0, 1\narsh %r0, 1\nexit", Accept),
    ("byte swaps", G, Default, "ldxdw %r0, [%r1+0]\nbe16 %r0\nle32 %r0\nbswap64 %r0\nexit", Accept),
    ("sign-extending move", G, Default, "ldxb %r0, [%r1+0]\nmovsx864 %r0, %r0\nexit", Accept),

    // ---- context ----
    ("context read in bounds", G, Default, "ldxdw %r0, [%r1+8]\nexit", Accept),
    ("context read past the end", G, Default, "ldxdw %r0, [%r1+9]\nexit", Reject(OutOfBounds)),
    ("context read before the start", G, Default, "ldxb %r0, [%r1-1]\nexit", Reject(OutOfBounds)),
    ("context write", G, Default, "stdw [%r1+8], 3\nmov %r0, 0\nexit", Accept),
    ("context write past the end", Ty::Generic(8), Default, "stw [%r1+6], 3\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("context pointer moved by a constant", G, Default, "add %r1, 12\nldxw %r0, [%r1+0]\nexit", Accept),
    ("context pointer moved too far", G, Default, "add %r1, 13\nldxw %r0, [%r1+0]\nexit", Reject(OutOfBounds)),
    ("context pointer moved by a masked byte", G, Default, "ldxb %r2, [%r1+0]\nand %r2, 7\nadd %r1, %r2\nldxb %r0, [%r1+8]\nexit", Accept),
    ("context pointer moved by a byte too wide", G, Default, "ldxb %r2, [%r1+0]\nand %r2, 7\nadd %r1, %r2\nldxb %r0, [%r1+9]\nexit", Reject(OutOfBounds)),
    ("context pointer moved by an unknown number", G, Default, "ldxb %r2, [%r1+0]\nadd %r1, %r2\nldxb %r0, [%r1+0]\nexit", Reject(OutOfBounds)),
    ("store the stack pointer in the context", G, Default, "stxdw [%r1+0], %r10\nmov %r0, 0\nexit", Reject(PointerLeak)),
    ("store the stack pointer in the context, leaks allowed", G, Leaks, "stxdw [%r1+0], %r10\nmov %r0, 0\nexit", Accept),
    ("xdp: read ingress_ifindex", Ty::Xdp, Default, "ldxw %r0, [%r1+12]\nexit", Accept),
    ("xdp: the context is read-only", Ty::Xdp, Default, "stw [%r1+12], 1\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("xdp: data loaded as 8 bytes", Ty::Xdp, Default, "ldxdw %r2, [%r1+0]\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("xdp: data loaded as 2 bytes", Ty::Xdp, Default, "ldxh %r2, [%r1+0]\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("xdp: read past xdp_md", Ty::Xdp, Default, "ldxw %r0, [%r1+24]\nexit", Reject(OutOfBounds)),
    ("xdp: write the data pointer", Ty::Xdp, Default, "stw [%r1+0], 0\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("socket: write cb[]", Ty::Socket, Default, "stw [%r1+48], 1\nldxw %r0, [%r1+48]\nexit", Accept),
    ("socket: write mark", Ty::Socket, Default, "stw [%r1+8], 1\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("socket: no direct packet access", Ty::Socket, Default, "ldxw %r2, [%r1+76]\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("socket: read len and protocol", Ty::Socket, Default, "ldxw %r0, [%r1+0]\nldxw %r2, [%r1+16]\nadd %r0, %r2\nexit", Accept),
    ("tc: write mark", Ty::Tc, Default, "stw [%r1+8], 1\nmov %r0, 0\nexit", Accept),
    ("tc: packet bounds", Ty::Tc, Default, "ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxh %r0, [%r2+12]\nexit\nmov %r0, 0\nexit", Accept),

    // ---- stack ----
    ("stack write then read", G, Default, "stdw [%r10-8], 5\nldxdw %r0, [%r10-8]\nexit", Accept),
    ("stack read uninitialised", G, Default, "ldxdw %r0, [%r10-8]\nexit", Reject(UninitializedStack)),
    ("stack read half initialised", G, Default, "stw [%r10-8], 5\nldxdw %r0, [%r10-8]\nexit", Reject(UninitializedStack)),
    ("stack read of two halves", G, Default, "stw [%r10-8], 5\nstw [%r10-4], 6\nldxdw %r0, [%r10-8]\nexit", Accept),
    ("stack access at r10", G, Default, "stb [%r10+0], 5\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("stack access below the frame", G, Default, "stb [%r10-513], 5\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("stack access at the frame bottom", G, Default, "stb [%r10-512], 5\nldxb %r0, [%r10-512]\nexit", Accept),
    ("stack pointer copy", G, Default, "mov %r2, %r10\nadd %r2, -16\nstdw [%r2+0], 1\nldxdw %r0, [%r10-16]\nexit", Accept),
    ("spilled context pointer fills back", G, Default, "stxdw [%r10-8], %r1\nmov %r1, 0\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+4]\nexit", Accept),
    ("spilled pointer partially overwritten", G, Default, "stxdw [%r10-8], %r1\nstb [%r10-8], 0\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+4]\nexit", Reject(NotAPointer)),
    ("spilled pointer filled by halves", G, Default, "stxdw [%r10-8], %r1\nldxw %r2, [%r10-8]\nldxw %r0, [%r2+4]\nexit", Reject(NotAPointer)),
    ("spilled pointer stored with 4 bytes", G, Default, "stxw [%r10-8], %r1\nstw [%r10-4], 0\nldxdw %r2, [%r10-8]\nldxw %r0, [%r2+0]\nexit", Reject(NotAPointer)),
    ("variable stack offset read, all initialised", G, Default, "stdw [%r10-16], 1\nstdw [%r10-8], 2\nldxb %r1, [%r1+0]\nand %r1, 1\nlsh %r1, 3\nmov %r2, %r10\nadd %r2, %r1\nldxdw %r0, [%r2-16]\nexit", Accept),
    ("variable stack offset read, one slot uninitialised", G, Default, "stdw [%r10-16], 1\nldxb %r1, [%r1+0]\nand %r1, 1\nlsh %r1, 3\nmov %r2, %r10\nadd %r2, %r1\nldxdw %r0, [%r2-16]\nexit", Reject(UninitializedStack)),
    ("variable stack offset write does not initialise", G, Default, "ldxb %r1, [%r1+0]\nand %r1, 8\nmov %r2, %r10\nadd %r2, %r1\nstdw [%r2-16], 1\nldxdw %r0, [%r10-16]\nexit", Reject(UninitializedStack)),
    ("variable stack offset out of the frame", G, Default, "ldxb %r1, [%r1+0]\nmov %r2, %r10\nsub %r2, %r1\nstb [%r2-300], 1\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("stack pointers subtract to a number", G, Default, "mov %r2, %r10\nadd %r2, -24\nmov %r0, %r10\nsub %r0, %r2\nexit", Accept),
    ("stack pointers compare", G, Default, "mov %r2, %r10\nadd %r2, -24\nmov %r0, 0\njgt %r2, %r10, +1\nmov %r0, 1\nexit", Accept),
    ("atomic add on the stack", G, Default, "stdw [%r10-8], 1\nmov %r1, 2\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit", Accept),
    ("atomic fetch on uninitialised stack", G, Default, "mov %r1, 2\nlock fetch add [%r10-8], %r1\nmov %r0, %r1\nexit", Reject(UninitializedStack)),
    ("atomic on a spilled pointer", G, Default, "stxdw [%r10-8], %r1\nmov %r1, 2\nlock add [%r10-8], %r1\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("atomic with a pointer operand", G, Default, "stdw [%r10-8], 0\nlock add [%r10-8], %r10\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("atomic on the context", G, Default, "mov %r2, 1\nlock add [%r1+0], %r2\nmov %r0, 0\nexit", Reject(ContextAccess)),
    ("cmpxchg on the stack", G, Default, "stdw [%r10-8], 3\nmov %r0, 3\nmov %r1, 4\nlock cmpxchg [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit", Accept),
    ("cmpxchg with uninitialised r0", G, Default, "stdw [%r10-8], 3\nmov %r1, 4\nlock cmpxchg [%r10-8], %r1\nexit", Reject(UninitializedRegister)),
    ("xchg on map values", G, Default, concat!(lookup!("1"), "jeq %r0, 0, +3\nmov %r1, 5\nlock xchg [%r0+8], %r1\nmov %r0, %r1\nexit\nmov %r0, 0\nexit"), Accept),

    // ---- packet ----
    ("packet: data + 14 > data_end", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, drop\nldxh %r0, [%r2+12]\nexit\ndrop:\nmov %r0, 1\nexit"), Accept),
    ("packet: off by one", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, drop\nldxh %r0, [%r2+13]\nexit\ndrop:\nmov %r0, 1\nexit"), Reject(OutOfBounds)),
    ("packet: no check", P, Default, concat!(pkt!(), "ldxb %r0, [%r2+0]\nexit"), Reject(OutOfBounds)),
    ("packet: check on the wrong branch", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nmov %r0, 1\nexit\nldxb %r0, [%r2+0]\nexit"), Reject(OutOfBounds)),
    ("packet: negative offset", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2-1]\nexit\nmov %r0, 1\nexit"), Reject(OutOfBounds)),
    ("packet: jge leaves one more byte", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njge %r4, %r3, +2\nldxb %r0, [%r2+14]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: reversed comparison", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njlt %r3, %r4, +2\nldxb %r0, [%r2+13]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: check on the taken branch", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 8\njle %r4, %r3, +2\nmov %r0, 1\nexit\nldxdw %r0, [%r2+0]\nexit"), Accept),
    ("packet: access through a copy made before the check", P, Default, concat!(pkt!(), "mov %r5, %r2\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxw %r0, [%r5+10]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: access through the checked pointer", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r4-1]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: the checked pointer itself is past the end", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r4+0]\nexit\nmov %r0, 1\nexit"), Reject(OutOfBounds)),
    ("packet: length from data_end - data", P, Default, concat!(pkt!(), "mov %r4, %r3\nsub %r4, %r2\njlt %r4, 14, +2\nldxb %r0, [%r2+13]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: length check one short", P, Default, concat!(pkt!(), "mov %r4, %r3\nsub %r4, %r2\njlt %r4, 13, +2\nldxb %r0, [%r2+13]\nexit\nmov %r0, 1\nexit"), Reject(OutOfBounds)),
    ("packet: variable-length header", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, drop\nldxb %r5, [%r2+0]\nand %r5, 15\nlsh %r5, 2\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 4\njgt %r7, %r3, drop\nldxw %r0, [%r6+0]\nexit\ndrop:\nmov %r0, 0\nexit"), Accept),
    ("packet: variable-length header, read one past", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, drop\nldxb %r5, [%r2+0]\nand %r5, 15\nlsh %r5, 2\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 4\njgt %r7, %r3, drop\nldxw %r0, [%r6+1]\nexit\ndrop:\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("packet: offset checked then added again", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, drop\nldxb %r5, [%r2+0]\nmov %r6, %r2\nadd %r6, %r5\nadd %r6, 8\njgt %r6, %r3, drop\nmov %r7, %r2\nadd %r7, %r5\nldxdw %r0, [%r7+0]\nexit\ndrop:\nmov %r0, 0\nexit"), Accept),
    ("packet: unbounded offset", P, Default, concat!(pkt!(), "ldxdw %r5, [%r1+24]\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 1\njgt %r7, %r3, drop\nldxb %r0, [%r6+0]\nexit\ndrop:\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("packet: signed bound on a loaded byte", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, drop\nldxb %r5, [%r2+0]\njsgt %r5, 10, drop\nmov %r6, %r2\nadd %r6, %r5\nldxw %r0, [%r6+6]\nexit\ndrop:\nmov %r0, 0\nexit"), Accept),
    ("packet: signed bound on a sign-extended word", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, drop\nldxsw %r5, [%r2+0]\njsgt %r5, 10, drop\nmov %r6, %r2\nadd %r6, %r5\nldxw %r0, [%r6+6]\nexit\ndrop:\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("packet: 32-bit bound on a word", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, drop\nldxw %r5, [%r2+0]\njgt32 %r5, 10, drop\nmov %r6, %r2\nadd %r6, %r5\nldxw %r0, [%r6+6]\nexit\ndrop:\nmov %r0, 0\nexit"), Accept),
    ("packet: bound checked on a copy of the offset", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, drop\nldxb %r5, [%r2+0]\nmov %r8, %r5\njgt %r8, 12, drop\nmov %r6, %r2\nadd %r6, %r5\nldxdw %r0, [%r6+0]\nexit\ndrop:\nmov %r0, 0\nexit"), Accept),
    ("packet: write", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +1\nstw [%r2+0], 7\nmov %r0, 0\nexit"), Accept),
    ("packet: loop over bytes", P, Default, concat!(pkt!(), "mov %r0, 0\nmov %r5, 0\nloop:\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 1\njgt %r7, %r3, done\nldxb %r8, [%r6+0]\nadd %r0, %r8\nadd %r5, 1\njlt %r5, 64, loop\ndone:\nexit"), Accept),
    ("packet: loop reads one past", P, Default, concat!(pkt!(), "mov %r0, 0\nmov %r5, 0\nloop:\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 1\njgt %r7, %r3, done\nldxb %r8, [%r6+1]\nadd %r0, %r8\nadd %r5, 1\njlt %r5, 64, loop\ndone:\nexit"), Reject(OutOfBounds)),
    ("packet: metadata checked against data", P, Default, "ldxdw %r2, [%r1+0]\nldxdw %r4, [%r1+16]\nmov %r5, %r4\nadd %r5, 4\njgt %r5, %r2, +2\nldxw %r0, [%r4+0]\nexit\nmov %r0, 0\nexit", Accept),
    ("packet: metadata unchecked", P, Default, "ldxdw %r4, [%r1+16]\nldxw %r0, [%r4+0]\nexit", Reject(OutOfBounds)),
    ("packet: compared with the context", P, Default, concat!(pkt!(), "mov %r0, 0\njgt %r2, %r1, +1\nmov %r0, 1\nexit"), Reject(PointerComparison)),
    ("packet: compared with a number", P, Default, concat!(pkt!(), "mov %r0, 0\njgt %r2, 100, +1\nmov %r0, 1\nexit"), Reject(PointerComparison)),
    ("packet: arithmetic on data_end", P, Default, concat!(pkt!(), "add %r3, -4\nmov %r0, 0\nexit"), Reject(PointerArithmetic)),
    ("packet: read data_end", P, Default, concat!(pkt!(), "ldxb %r0, [%r3-1]\nexit"), Reject(OutOfBounds)),
    ("packet: spilled pointer keeps its range", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +5\nstxdw [%r10-8], %r2\nmov %r2, 0\nldxdw %r5, [%r10-8]\nldxb %r0, [%r5+13]\nexit\nmov %r0, 1\nexit"), Accept),
    ("packet: spilled pointer range is not widened", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +5\nstxdw [%r10-8], %r2\nmov %r2, 0\nldxdw %r5, [%r10-8]\nldxb %r0, [%r5+14]\nexit\nmov %r0, 1\nexit"), Reject(OutOfBounds)),
    ("packet: pointer survives a local call in r6", P, Default, concat!(pkt!(), "mov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +4\nmov %r6, %r2\ncall local f\nldxdw %r0, [%r6+0]\nexit\nmov %r0, 0\nexit\nf:\nmov %r0, 0\nexit"), Accept),
    ("packet: pointers die when the packet changes", Ty::Xdp, Default, "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nmov %r6, %r2\nmov %r2, 4\ncall 44\nldxb %r0, [%r6+0]\nexit\nmov %r0, 0\nexit", Reject(NotAPointer)),
    ("packet: xdp ctx pointers", Ty::Xdp, Default, "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +2\nldxdw %r0, [%r2+0]\nexit\nmov %r0, 2\nexit", Accept),

    // ---- maps ----
    ("map: lookup, null check, read", G, Default, concat!(lookup!("0"), "jeq %r0, 0, +2\nldxdw %r0, [%r0+8]\nexit\nmov %r0, 0\nexit"), Accept),
    ("map: no null check", G, Default, concat!(lookup!("0"), "ldxdw %r0, [%r0+8]\nexit"), Reject(MaybeNull)),
    ("map: read past the value", G, Default, concat!(lookup!("0"), "jeq %r0, 0, +2\nldxdw %r0, [%r0+9]\nexit\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("map: null check with jne", G, Default, concat!(lookup!("0"), "jne %r0, 0, +2\nmov %r0, 0\nexit\nldxw %r0, [%r0+0]\nexit"), Accept),
    ("map: null check on a copy", G, Default, concat!(lookup!("0"), "mov %r6, %r0\njeq %r6, 0, +2\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("map: null check on a spilled copy", G, Default, concat!(lookup!("0"), "stxdw [%r10-16], %r0\njeq %r0, 0, +3\nldxdw %r1, [%r10-16]\nldxw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("map: null checked pointer used on the null path", G, Default, concat!(lookup!("0"), "jne %r0, 0, +1\nldxw %r0, [%r0+0]\nexit"), Reject(NotAPointer)),
    ("map: null check with jgt 0", G, Default, concat!(lookup!("0"), "jgt %r0, 0, +2\nmov %r0, 0\nexit\nldxw %r0, [%r0+0]\nexit"), Accept),
    ("map: arithmetic before the null check", G, Default, concat!(lookup!("0"), "add %r0, 4\njeq %r0, 0, +2\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Reject(PointerArithmetic)),
    ("map: write the value", G, Default, concat!(lookup!("0"), "jeq %r0, 0, +1\nstdw [%r0+8], 1\nmov %r0, 0\nexit"), Accept),
    ("map: store a pointer into a value", G, Default, concat!(lookup!("0"), "jeq %r0, 0, +1\nstxdw [%r0+0], %r10\nmov %r0, 0\nexit"), Reject(PointerLeak)),
    ("map: store a pointer into a value, leaks allowed", G, Leaks, concat!(lookup!("0"), "jeq %r0, 0, +1\nstxdw [%r0+0], %r10\nmov %r0, 0\nexit"), Accept),
    ("map: variable index into an array value", G, Default, concat!(lookup!("1"), "jeq %r0, 0, +6\nldxw %r1, [%r0+0]\nand %r1, 15\nlsh %r1, 2\nadd %r0, %r1\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("map: variable index past a small value", G, Default, concat!(lookup!("0"), "jeq %r0, 0, +6\nldxw %r1, [%r0+0]\nand %r1, 15\nlsh %r1, 2\nadd %r0, %r1\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("map: index checked with jlt", G, Default, concat!(lookup!("1"), "jeq %r0, 0, +5\nldxw %r1, [%r0+0]\njge %r1, 60, +3\nadd %r0, %r1\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("map: index checked one too loosely", G, Default, concat!(lookup!("1"), "jeq %r0, 0, +5\nldxw %r1, [%r0+0]\njgt %r1, 61, +3\nadd %r0, %r1\nldxw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("map: uninitialised key", G, Default, "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Reject(UninitializedStack)),
    ("map: key half initialised", G, Default, "sth [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Reject(UninitializedStack)),
    ("map: key is a number", G, Default, "mov %r2, 0\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Reject(NotAPointer)),
    ("map: key from the context", G, Default, "mov %r2, %r1\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Accept),
    ("map: key past the context end", G, Default, "mov %r2, %r1\nadd %r2, 14\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("map: key holding a spilled pointer", G, Default, "stxdw [%r10-8], %r1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, map_by_index 0\ncall 1\nmov %r0, 0\nexit", Reject(PointerLeak)),
    ("map: update from the stack", G, Default, "stw [%r10-4], 0\nstdw [%r10-24], 1\nstdw [%r10-16], 2\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -24\nmov %r4, 0\nlddw %r1, map_by_index 0\ncall 2\nexit", Accept),
    ("map: update with a short value", G, Default, "stw [%r10-20], 0\nstdw [%r10-8], 2\nmov %r2, %r10\nadd %r2, -20\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\nlddw %r1, map_by_index 0\ncall 2\nexit", Reject(OutOfBounds)),
    ("map: update with an uninitialised value", G, Default, "stw [%r10-4], 0\nstdw [%r10-24], 1\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -24\nmov %r4, 0\nlddw %r1, map_by_index 0\ncall 2\nexit", Reject(UninitializedStack)),
    ("map: flags must be a number", G, Default, "stw [%r10-4], 0\nstdw [%r10-24], 1\nstdw [%r10-16], 2\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -24\nmov %r4, %r10\nlddw %r1, map_by_index 0\ncall 2\nexit", Reject(HelperArgument)),
    ("map: lookup without a map", G, Default, "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r1, %r10\ncall 1\nmov %r0, 0\nexit", Reject(HelperArgument)),
    ("map: arithmetic on the map", G, Default, "lddw %r1, map_by_index 0\nadd %r1, 8\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("map: reading the map object", G, Default, "lddw %r1, map_by_index 0\nldxw %r0, [%r1+0]\nexit", Reject(NotAPointer)),
    ("map: index outside the table", G, Default, "lddw %r1, map_by_index 9\nmov %r0, 0\nexit", Reject(MapReference)),
    ("map: direct value access", G, Default, "lddw %r1, map_value_by_index 1, 8\nldxdw %r0, [%r1+48]\nexit", Accept),
    ("map: direct value access past the end", G, Default, "lddw %r1, map_value_by_index 1, 8\nldxdw %r0, [%r1+49]\nexit", Reject(OutOfBounds)),
    ("map: direct value offset past the value", G, Default, "lddw %r1, map_value_by_index 1, 64\nmov %r0, 0\nexit", Reject(MapReference)),
    ("map: direct value of a hash map", G, Default, "lddw %r1, map_value_by_index 0, 0\nmov %r0, 0\nexit", Reject(MapReference)),
    ("map: read-only value read", G, Default, "lddw %r1, map_value_by_index 3, 0\nldxdw %r0, [%r1+24]\nexit", Accept),
    ("map: read-only value written", G, Default, "lddw %r1, map_value_by_index 3, 0\nstdw [%r1+0], 1\nmov %r0, 0\nexit", Reject(ReadOnlyMemory)),
    ("map: map in map", G, Default, concat!(lookup!("2"), "jeq %r0, 0, out\nstw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nmov %r1, %r0\ncall 1\njeq %r0, 0, out\nldxdw %r0, [%r0+0]\nexit\nout:\nmov %r0, 0\nexit"), Accept),
    ("map: map in map, inner value overrun", G, Default, concat!(lookup!("2"), "jeq %r0, 0, out\nstw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nmov %r1, %r0\ncall 1\njeq %r0, 0, out\nldxdw %r0, [%r0+4]\nexit\nout:\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("map: map in map, inner map unchecked", G, Default, concat!(lookup!("2"), "stw [%r10-8], 1\nmov %r2, %r10\nadd %r2, -8\nmov %r1, %r0\ncall 1\nmov %r0, 0\nexit"), Reject(HelperArgument)),
    ("map: ring buffer reserve and submit", G, Default, "lddw %r1, map_by_index 4\nmov %r2, 16\nmov %r3, 0\ncall 131\njeq %r0, 0, +5\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit", Accept),
    ("map: ring buffer record overrun", G, Default, "lddw %r1, map_by_index 4\nmov %r2, 16\nmov %r3, 0\ncall 131\njeq %r0, 0, +2\nstdw [%r0+9], 1\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("map: ring buffer size not constant", G, Default, "ldxb %r2, [%r1+0]\nlddw %r1, map_by_index 4\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit", Reject(HelperArgument)),

    // ---- helpers ----
    ("helper: unknown id", G, Default, "call 999\nexit", Reject(UnknownHelper)),
    ("helper: not for this program type", G, Default, "mov %r2, 0\ncall 44\nexit", Reject(UnknownHelper)),
    ("helper: random number", G, Default, "call 7\nexit", Accept),
    ("helper: r1..r5 keep their values", G, Default, "mov %r6, %r1\ncall 7\nldxw %r0, [%r6+0]\nexit", Accept),
    ("helper: print from the stack", G, Default, "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\nexit", Accept),
    ("helper: print zero bytes", G, Default, "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 6\nexit", Reject(HelperArgument)),
    ("helper: print past initialised bytes", G, Default, "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 9\ncall 6\nexit", Reject(OutOfBounds)),
    ("helper: print uninitialised bytes", G, Default, "stw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\nexit", Reject(UninitializedStack)),
    ("helper: print with an unbounded size", G, Default, "stdw [%r10-8], 0\nldxdw %r2, [%r1+0]\nmov %r1, %r10\nadd %r1, -8\ncall 6\nexit", Reject(HelperArgument)),
    ("helper: print with a checked size", G, Default, "stdw [%r10-16], 0\nstdw [%r10-8], 0\nldxdw %r2, [%r1+0]\njgt %r2, 16, +5\njeq %r2, 0, +4\nmov %r1, %r10\nadd %r1, -16\ncall 6\nexit\nmov %r0, 0\nexit", Accept),
    ("helper: probe_read initialises the stack", G, Default, "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nmov %r3, 0\ncall 4\nldxdw %r0, [%r10-16]\nexit", Accept),
    ("helper: probe_read into too little stack", G, Default, "mov %r1, %r10\nadd %r1, -8\nmov %r2, 16\nmov %r3, 0\ncall 4\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("helper: probe_read into a read-only value", G, Default, "lddw %r1, map_value_by_index 3, 0\nmov %r2, 8\nmov %r3, 0\ncall 4\nmov %r0, 0\nexit", Reject(ReadOnlyMemory)),
    ("helper: tail call", G, Default, "lddw %r2, map_by_index 5\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit", Accept),
    ("helper: tail call with a moved context", G, Default, "add %r1, 4\nlddw %r2, map_by_index 5\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit", Reject(HelperArgument)),
    ("helper: number argument given a pointer", G, Default, "lddw %r2, map_by_index 5\nmov %r3, %r10\ncall 12\nmov %r0, 0\nexit", Reject(HelperArgument)),
    ("helper: uninitialised argument", G, Default, "lddw %r2, map_by_index 5\ncall 12\nmov %r0, 0\nexit", Reject(UninitializedRegister)),
    ("helper: csum_diff with null input", Ty::Xdp, Default, "mov %r1, 0\nmov %r2, 0\nstdw [%r10-8], 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 8\nmov %r5, 0\ncall 28\nexit", Accept),
    ("helper: csum_diff with null input of size 4", Ty::Xdp, Default, "mov %r1, 0\nmov %r2, 4\nstdw [%r10-8], 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 8\nmov %r5, 0\ncall 28\nexit", Reject(HelperArgument)),
    ("helper: callx with a known id", Ty::Conformance(0), Default, "mov %r1, 1\nmov %r2, 5\ncall %r2\nmov %r0, 2\nexit", Accept),
    ("helper: callx with an unknown id", Ty::Conformance(8), Default, "ldxb %r2, [%r1+0]\ncall %r2\nmov %r0, 2\nexit", Reject(Unsupported)),
    ("helper: kfunc", G, Default, "call runtime 3\nexit", Reject(Unsupported)),
    ("helper: lddw variable", G, Default, "lddw %r0, variable 3\nexit", Reject(Unsupported)),
    ("helper: prandom is a 32-bit number", G, Default, "call 7\nrsh %r0, 32\njeq %r0, 0, +2\nmov %r0, %r10\nexit\nmov %r0, 0\nexit", Accept),

    // ---- pointer arithmetic and comparison ----
    ("pointer plus pointer", G, Default, "mov %r0, %r10\nadd %r0, %r1\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("pointer times two", G, Default, "mul %r1, 2\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("pointer masked", G, Default, "and %r1, -8\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("pointer negated", G, Default, "neg %r1\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("pointer byte-swapped", G, Default, "be64 %r1\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("32-bit add to a pointer", G, Default, "add32 %r1, 4\nmov %r0, 0\nexit", Reject(PointerArithmetic)),
    ("number minus pointer", G, Default, "mov %r0, 100\nsub %r0, %r1\nexit", Reject(PointerArithmetic)),
    ("number plus pointer", G, Default, "mov %r2, 4\nadd %r2, %r1\nldxw %r0, [%r2+0]\nexit", Accept),
    ("number plus pointer, out of bounds", G, Default, "mov %r2, 13\nadd %r2, %r1\nldxw %r0, [%r2+0]\nexit", Reject(OutOfBounds)),
    ("pointers of different regions subtracted", G, Default, "mov %r0, %r10\nsub %r0, %r1\nexit", Reject(PointerSubtraction)),
    ("pointers of different regions compared", G, Default, "mov %r0, 0\njgt %r10, %r1, +1\nmov %r0, 1\nexit", Reject(PointerComparison)),
    ("pointer compared with 0", G, Default, "mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit", Accept),
    ("32-bit comparison of a pointer", G, Default, "mov %r0, 0\njeq32 %r1, 0, +1\nmov %r0, 1\nexit", Reject(PointerComparison)),
    ("maybe-null pointers compared", G, Default, concat!(lookup!("0"), "mov %r6, %r0\n", lookup!("0"), "mov %r1, 0\njgt %r6, %r0, +0\nmov %r0, 0\nexit"), Reject(PointerComparison)),
    ("dereference a number", G, Default, "mov %r2, 4096\nldxw %r0, [%r2+0]\nexit", Reject(NotAPointer)),
    ("dereference null", Ty::Conformance(0), Default, "ldxw %r0, [%r1+0]\nexit", Reject(NotAPointer)),
    ("conformance memory in bounds", Ty::Conformance(8), Default, "ldxdw %r0, [%r1+0]\nexit", Accept),
    ("conformance memory length", Ty::Conformance(8), Default, "mov %r0, %r2\nexit", Accept),
    ("conformance memory bounded by r2", Ty::Conformance(8), Default, "mov %r3, %r1\nadd %r3, %r2\nldxb %r0, [%r3-1]\nexit", Accept),

    // ---- division ----
    ("division by a possibly zero number", G, Default, "mov %r0, 100\nldxb %r1, [%r1+0]\ndiv %r0, %r1\nexit", Accept),
    ("division by a possibly zero number, checked", G, DivZero, "mov %r0, 100\nldxb %r1, [%r1+0]\ndiv %r0, %r1\nexit", Reject(DivisionByZero)),
    ("modulo by zero, checked", G, DivZero, "mov %r0, 100\nmod %r0, 0\nexit", Reject(DivisionByZero)),
    ("division after a zero check, checked", G, DivZero, "mov %r0, 100\nldxb %r1, [%r1+0]\njeq %r1, 0, +1\ndiv %r0, %r1\nexit", Accept),
    ("32-bit division by a number zero in its low half, checked", G, DivZero, "mov %r0, 100\nlddw %r1, 0x100000000\ndiv32 %r0, %r1\nexit", Reject(DivisionByZero)),

    // ---- calls ----
    ("call: returns a value", G, Default, "mov %r1, 3\ncall local f\nexit\nf:\nmov %r0, %r1\nadd %r0, 1\nexit", Accept),
    ("call: callee reads r6", G, Default, "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit", Reject(UninitializedRegister)),
    ("call: callee leaves r0 unset", G, Default, "call local f\nexit\nf:\nmov %r1, 0\nexit", Reject(UninitializedRegister)),
    ("call: r6..r9 are preserved", G, Default, "mov %r6, %r1\ncall local f\nldxw %r0, [%r6+0]\nexit\nf:\nmov %r6, 0\nmov %r0, 0\nexit", Accept),
    ("call: recursion", G, Default, "call local f\nexit\nf:\ncall local f\nmov %r0, 0\nexit", Reject(Recursion)),
    ("call: mutual recursion", G, Default, "call local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f\nexit", Reject(Recursion)),
    ("call: too deep", G, Default, "call local f1\nexit\nf1:\ncall local f2\nexit\nf2:\ncall local f3\nexit\nf3:\ncall local f4\nexit\nf4:\ncall local f5\nexit\nf5:\ncall local f6\nexit\nf6:\ncall local f7\nexit\nf7:\ncall local f8\nexit\nf8:\nmov %r0, 0\nexit", Reject(CallDepth)),
    ("call: eight frames", G, Default, "call local f1\nexit\nf1:\ncall local f2\nexit\nf2:\ncall local f3\nexit\nf3:\ncall local f4\nexit\nf4:\ncall local f5\nexit\nf5:\ncall local f6\nexit\nf6:\ncall local f7\nexit\nf7:\nmov %r0, 0\nexit", Accept),
    ("call: callee returns its stack", G, Default, "call local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r10\nexit", Reject(StackPointerEscape)),
    ("call: callee writes the caller's stack", G, Default, "mov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1+0], 9\nmov %r0, 0\nexit", Accept),
    ("call: callee reads the caller's uninitialised stack", G, Default, "mov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit", Reject(UninitializedStack)),
    ("call: callee reads the caller's stack", G, Default, "stdw [%r10-8], 4\nmov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit", Accept),
    ("call: callee's stack is its own", G, Default, "stdw [%r10-8], 4\ncall local f\nexit\nf:\nldxdw %r0, [%r10-8]\nexit", Reject(UninitializedStack)),
    ("call: stale pointer into a finished frame", G, Default, "call local f\nldxdw %r0, [%r1+0]\nexit\nf:\nstdw [%r10-8], 1\nmov %r1, %r10\nadd %r1, -8\nmov %r0, 0\nexit", Reject(UninitializedRegister)),
    ("call: callee checks the map value", G, Default, concat!(lookup!("0"), "mov %r1, %r0\ncall local f\nexit\nf:\nmov %r0, 0\njeq %r1, 0, +1\nldxw %r0, [%r1+4]\nexit"), Accept),
    ("call: callee forgets the null check", G, Default, concat!(lookup!("0"), "mov %r1, %r0\ncall local f\nexit\nf:\nldxw %r0, [%r1+4]\nexit"), Reject(MaybeNull)),
    ("call: same callee, two contexts", G, Default, "mov %r1, %r10\nadd %r1, -8\nstdw [%r10-8], 0\ncall local f\nmov %r6, %r0\nmov %r1, %r10\nadd %r1, -16\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit", Reject(UninitializedStack)),
    ("call: jump out of the function", G, Default, "call local f\nmov %r0, 0\nexit\nf:\nja -3", Reject(ControlFlow)),

    // ---- loops and termination ----
    ("loop: bounded counter", G, Default, "mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 2\nadd %r1, 1\njlt %r1, 10, loop\nexit", Accept),
    ("loop: bounded counter, termination checked", G, Termination, "mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 2\nadd %r1, 1\njlt %r1, 10, loop\nexit", Accept),
    ("loop: infinite, termination checked", G, Termination, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", Reject(UnboundedLoop)),
    ("loop: infinite, termination not checked", G, Default, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", Accept),
    ("loop: data-dependent bound, termination checked", G, Termination, "ldxdw %r2, [%r1+0]\nmov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, %r2, loop\nexit", Reject(UnboundedLoop)),
    // The loop counter is related to the loop variable by differences only: a count-down is
    // beyond it.
    ("loop: countdown, termination checked", G, Termination, "mov %r0, 0\nmov %r1, 100\nloop:\nsub %r1, 1\nadd %r0, 3\njne %r1, 0, loop\nexit", Reject(UnboundedLoop)),
    // Writes at a variable offset initialise nothing for sure: filling an array byte by byte
    // in a loop does not prove it initialised.
    ("loop: stack array fill", G, Default, "mov %r1, 0\nloop:\nmov %r2, %r10\nadd %r2, %r1\nstb [%r2-64], 0\nadd %r1, 1\njlt %r1, 64, loop\nmov %r0, 0\nexit", Accept),
    ("loop: stack array fill, then read", G, Default, "mov %r1, 0\nloop:\nmov %r2, %r10\nadd %r2, %r1\nstb [%r2-64], 0\nadd %r1, 1\njlt %r1, 64, loop\nldxdw %r0, [%r10-64]\nexit", Reject(UninitializedStack)),
    ("loop: stack array fill one too far", G, Default, "mov %r1, 0\nloop:\nmov %r2, %r10\nadd %r2, %r1\nstb [%r2-64], 0\nadd %r1, 1\njle %r1, 64, loop\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("loop: nested", G, Default, "mov %r0, 0\nmov %r1, 0\nouter:\nmov %r2, 0\ninner:\nadd %r0, 1\nadd %r2, 1\njlt %r2, 4, inner\nadd %r1, 1\njlt %r1, 4, outer\nexit", Accept),
    ("loop: map value index in a loop", G, Default, concat!(lookup!("1"), "jeq %r0, 0, done\nmov %r1, 0\nloop:\nmov %r2, %r0\nadd %r2, %r1\nstb [%r2+0], 1\nadd %r1, 1\njlt %r1, 64, loop\ndone:\nmov %r0, 0\nexit"), Accept),
    ("loop: map value index one too far", G, Default, concat!(lookup!("1"), "jeq %r0, 0, done\nmov %r1, 0\nloop:\nmov %r2, %r0\nadd %r2, %r1\nstb [%r2+0], 1\nadd %r1, 1\njlt %r1, 65, loop\ndone:\nmov %r0, 0\nexit"), Reject(OutOfBounds)),

    // ---- legacy packet loads ----
    ("legacy: absolute load", Ty::Socket, Default, "ldabsh 12\nexit", Accept),
    ("legacy: indirect load", Ty::Socket, Default, "ldxw %r6, [%r1+0]\nldindb %r6, 14\nexit", Accept),
    ("legacy: indirect through a pointer", Ty::Socket, Default, "ldindb %r1, 14\nexit", Reject(LegacyPacketAccess)),
    ("legacy: not for generic programs", G, Default, "ldabsb 0\nexit", Reject(LegacyPacketAccess)),

    // ---- precision: joins that disagree on types or nullness ----
    ("join: stack or map value, both readable", G, Default, concat!("stdw [%r10-16], 1\n", lookup!("0"), "mov %r6, %r10\nadd %r6, -16\njeq %r0, 0, +1\nmov %r6, %r0\nldxdw %r0, [%r6+0]\nexit"), Accept),
    ("join: stack or map value, merged into one state", G, NoDisjuncts, concat!("stdw [%r10-16], 1\n", lookup!("0"), "mov %r6, %r10\nadd %r6, -16\njeq %r0, 0, +1\nmov %r6, %r0\nldxdw %r0, [%r6+0]\nexit"), Reject(NotAPointer)),
    ("join: null flag correlates with the pointer", G, Default, concat!(lookup!("0"), "mov %r6, 0\njeq %r0, 0, +1\nmov %r6, 1\njeq %r6, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("join: null flag inverted", G, Default, concat!(lookup!("0"), "mov %r6, 0\njeq %r0, 0, +1\nmov %r6, 1\njne %r6, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit"), Reject(NotAPointer)),
    ("join: pointer or null constant", G, Default, concat!(lookup!("0"), "mov %r6, %r0\njne %r6, 0, +1\nmov %r6, 0\njeq %r6, 0, +2\nldxdw %r0, [%r6+0]\nexit\nmov %r0, 0\nexit"), Accept),
    ("join: different map values", G, Default, concat!(lookup!("0"), "mov %r6, %r0\n", lookup!("1"), "jeq %r6, 0, +1\nmov %r0, %r6\njeq %r0, 0, +2\nldxdw %r0, [%r0+8]\nexit\nmov %r0, 0\nexit"), Accept),
    ("join: different map values, read past the smaller", G, Default, concat!(lookup!("0"), "mov %r6, %r0\n", lookup!("1"), "jeq %r6, 0, +1\nmov %r0, %r6\njeq %r0, 0, +2\nldxdw %r0, [%r0+16]\nexit\nmov %r0, 0\nexit"), Reject(OutOfBounds)),
    ("join: bounds from both branches", G, Default, "ldxb %r2, [%r1+0]\njgt %r2, 7, +2\nadd %r1, %r2\nja +1\nadd %r1, 4\nldxdw %r0, [%r1+0]\nexit", Accept),
    ("join: clamped length", G, Default, "ldxb %r2, [%r1+0]\njle %r2, 8, +1\nmov %r2, 8\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit", Accept),
    ("join: clamped length, one short", G, Default, "ldxb %r2, [%r1+0]\njle %r2, 9, +1\nmov %r2, 9\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit", Reject(OutOfBounds)),
    ("join: signed and unsigned checks", G, Default, "ldxdw %r2, [%r1+0]\njslt %r2, 0, +4\njgt %r2, 8, +3\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Accept),
    ("join: signed check alone", G, Default, "ldxdw %r2, [%r1+0]\njsgt %r2, 8, +3\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("join: 32-bit check of a 64-bit value", G, Default, "ldxdw %r2, [%r1+0]\njgt32 %r2, 8, +3\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("spill: bound on the register holds for its spilled copy", G, Default, "ldxb %r2, [%r1+0]\nstxdw [%r10-8], %r2\njgt %r2, 8, +4\nldxdw %r3, [%r10-8]\nadd %r1, %r3\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Accept),
    ("spill: bound on the filled copy holds for the register", G, Default, "ldxb %r2, [%r1+0]\nstxdw [%r10-8], %r2\nldxdw %r3, [%r10-8]\njgt %r3, 8, +3\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Accept),
    ("spill: bound on a register no longer equal to the spill", G, Default, "ldxb %r2, [%r1+0]\nstxdw [%r10-8], %r2\nldxb %r2, [%r1+1]\njgt %r2, 8, +4\nldxdw %r3, [%r10-8]\nadd %r1, %r3\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("spill: bound on a spill overwritten since", G, Default, "ldxb %r2, [%r1+0]\nstxdw [%r10-8], %r2\nldxb %r4, [%r1+1]\nstxdw [%r10-8], %r4\njgt %r2, 8, +4\nldxdw %r3, [%r10-8]\nadd %r1, %r3\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Reject(OutOfBounds)),
    ("spill: copies through a register move", G, Default, "ldxb %r2, [%r1+0]\nmov %r5, %r2\nstxdw [%r10-8], %r5\njgt %r2, 8, +4\nldxdw %r3, [%r10-8]\nadd %r1, %r3\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Accept),
    ("join: 32-bit check after zero extension", G, Default, "ldxdw %r2, [%r1+0]\nmov32 %r2, %r2\njgt32 %r2, 8, +3\nadd %r1, %r2\nldxdw %r0, [%r1+0]\nexit\nmov %r0, 0\nexit", Accept),
];

#[test]
fn cases_verify_as_expected() {
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for &(name, ty, options, source, expect) in CASES {
        assert!(names.insert(name), "duplicate case name {name}");
        let result = run(&ty.program_type(), source, &options.config());
        if let Err(message) = check_verdict(name, &result, expect) {
            failures.push(message);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn accepted_cases_run_safely_inside_their_exit_range() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (i, &(name, ty, options, source, expect)) in CASES.iter().enumerate() {
        if expect != Accept || !ty.runnable() || options == Leaks {
            continue;
        }
        let Ok(report) = run(&ty.program_type(), source, &options.config()) else {
            continue;
        };
        ran += 1;
        if let Err(message) = run_randomly(ty, source, &report, 300, 0x9e37_79b9 + i as u64) {
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(ran > 80, "only {ran} accepted cases ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_check_is_exercised_both_ways_or_rejects() {
    let rejected: std::collections::BTreeSet<Check> = CASES
        .iter()
        .filter_map(|c| match c.4 {
            Reject(check) => Some(check),
            Accept => None,
        })
        .collect();
    for check in Check::ALL {
        // Return-value checks need a program type with a return range: tested separately.
        if check != ReturnValue {
            assert!(rejected.contains(&check), "no case is rejected by {check}");
        }
    }
}
