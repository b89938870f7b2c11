//! The raw 8-byte instruction slot (RFC 9669 section 3) and the opcode field constants.

use crate::prelude::*;

/// Size of one instruction slot in bytes.
pub const SLOT_SIZE: usize = 8;

/// One raw 8-byte instruction slot, fields as laid out in RFC 9669 section 3.
///
/// `lddw` occupies two consecutive slots; the second one is also an `Insn` whose only
/// meaningful field is `imm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode byte: class in the low 3 bits, the rest depends on the class.
    pub opcode: u8,
    /// Destination register number (low nibble of byte 1); 0..=15 can be encoded.
    pub dst: u8,
    /// Source register number (high nibble of byte 1); 0..=15 can be encoded.
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds a slot from its fields. Register numbers are masked to 4 bits.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            opcode,
            dst: dst & 0xf,
            src: src & 0xf,
            off,
            imm,
        }
    }

    /// Decodes one little-endian slot.
    pub fn from_bytes(bytes: [u8; SLOT_SIZE]) -> Self {
        Insn {
            opcode: bytes[0],
            dst: bytes[1] & 0xf,
            src: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// Encodes the slot as 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; SLOT_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0xf) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class (low 3 bits of the opcode).
    pub fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

/// Splits a byte string into slots. Fails when the length is not a multiple of 8.
pub fn slots_from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, crate::ValidationError> {
    if !bytes.len().is_multiple_of(SLOT_SIZE) {
        return Err(crate::ValidationError::PartialSlot {
            len: bytes.len(),
            trailing: bytes.len() % SLOT_SIZE,
        });
    }
    Ok(bytes
        .chunks_exact(SLOT_SIZE)
        .map(|chunk| {
            let mut slot = [0u8; SLOT_SIZE];
            slot.copy_from_slice(chunk);
            Insn::from_bytes(slot)
        })
        .collect())
}

/// Encodes slots back to bytes.
pub fn slots_to_bytes(slots: &[Insn]) -> Vec<u8> {
    slots.iter().flat_map(|slot| slot.to_bytes()).collect()
}

/// Opcode field values (RFC 9669 sections 3 to 5).
pub mod op {
    // Instruction classes (section 3.1).
    /// Class `LD`: `lddw` and the legacy packet loads.
    pub const CLASS_LD: u8 = 0x00;
    /// Class `LDX`: loads into a register.
    pub const CLASS_LDX: u8 = 0x01;
    /// Class `ST`: stores of an immediate.
    pub const CLASS_ST: u8 = 0x02;
    /// Class `STX`: stores of a register, and atomics.
    pub const CLASS_STX: u8 = 0x03;
    /// Class `ALU`: 32-bit arithmetic.
    pub const CLASS_ALU: u8 = 0x04;
    /// Class `JMP`: 64-bit jumps, calls and exit.
    pub const CLASS_JMP: u8 = 0x05;
    /// Class `JMP32`: 32-bit jumps.
    pub const CLASS_JMP32: u8 = 0x06;
    /// Class `ALU64`: 64-bit arithmetic.
    pub const CLASS_ALU64: u8 = 0x07;

    // Source bit for ALU and JMP classes (section 4).
    /// Source `K`: the immediate is the operand.
    pub const SRC_K: u8 = 0x00;
    /// Source `X`: the src register is the operand.
    pub const SRC_X: u8 = 0x08;

    // ALU operation codes, upper 4 bits (section 4.1).
    /// `dst += src`.
    pub const ALU_ADD: u8 = 0x00;
    /// `dst -= src`.
    pub const ALU_SUB: u8 = 0x10;
    /// `dst *= src`.
    pub const ALU_MUL: u8 = 0x20;
    /// `dst /= src` (unsigned; signed with offset 1).
    pub const ALU_DIV: u8 = 0x30;
    /// `dst
    /// = src`.
    pub const ALU_OR: u8 = 0x40;
    /// `dst &= src`.
    pub const ALU_AND: u8 = 0x50;
    /// `dst <<= src`.
    pub const ALU_LSH: u8 = 0x60;
    /// `dst >>= src` (logical).
    pub const ALU_RSH: u8 = 0x70;
    /// `dst = -dst`.
    pub const ALU_NEG: u8 = 0x80;
    /// `dst %= src` (unsigned; signed with offset 1).
    pub const ALU_MOD: u8 = 0x90;
    /// `dst ^= src`.
    pub const ALU_XOR: u8 = 0xa0;
    /// `dst = src` (sign-extending with offset 8, 16 or 32).
    pub const ALU_MOV: u8 = 0xb0;
    /// `dst >>= src` (arithmetic).
    pub const ALU_ARSH: u8 = 0xc0;
    /// Byte swap (`le`, `be`; `bswap` in the ALU64 class).
    pub const ALU_END: u8 = 0xd0;

    // Jump operation codes, upper 4 bits (section 4.3).
    /// Unconditional jump.
    pub const JMP_JA: u8 = 0x00;
    /// Jump if `dst == src`.
    pub const JMP_JEQ: u8 = 0x10;
    /// Jump if `dst > src` (unsigned).
    pub const JMP_JGT: u8 = 0x20;
    /// Jump if `dst >= src` (unsigned).
    pub const JMP_JGE: u8 = 0x30;
    /// Jump if `dst & src != 0`.
    pub const JMP_JSET: u8 = 0x40;
    /// Jump if `dst != src`.
    pub const JMP_JNE: u8 = 0x50;
    /// Jump if `dst > src` (signed).
    pub const JMP_JSGT: u8 = 0x60;
    /// Jump if `dst >= src` (signed).
    pub const JMP_JSGE: u8 = 0x70;
    /// Call a helper, a local function or a kfunc.
    pub const JMP_CALL: u8 = 0x80;
    /// Return from the function (or end the program).
    pub const JMP_EXIT: u8 = 0x90;
    /// Jump if `dst < src` (unsigned).
    pub const JMP_JLT: u8 = 0xa0;
    /// Jump if `dst <= src` (unsigned).
    pub const JMP_JLE: u8 = 0xb0;
    /// Jump if `dst < src` (signed).
    pub const JMP_JSLT: u8 = 0xc0;
    /// Jump if `dst <= src` (signed).
    pub const JMP_JSLE: u8 = 0xd0;

    // Load/store size (section 5.1).
    /// 4 bytes.
    pub const SIZE_W: u8 = 0x00;
    /// 2 bytes.
    pub const SIZE_H: u8 = 0x08;
    /// 1 byte.
    pub const SIZE_B: u8 = 0x10;
    /// 8 bytes.
    pub const SIZE_DW: u8 = 0x18;

    // Load/store mode (section 5.1).
    /// 64-bit immediate (`lddw`).
    pub const MODE_IMM: u8 = 0x00;
    /// Legacy packet load at an absolute offset.
    pub const MODE_ABS: u8 = 0x20;
    /// Legacy packet load at a register plus an offset.
    pub const MODE_IND: u8 = 0x40;
    /// Regular load or store.
    pub const MODE_MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MODE_MEMSX: u8 = 0x80;
    /// Atomic operation.
    pub const MODE_ATOMIC: u8 = 0xc0;

    // Atomic operations, in the imm field (section 5.3).
    /// Atomic add.
    pub const ATOMIC_ADD: i32 = 0x00;
    /// Atomic or.
    pub const ATOMIC_OR: i32 = 0x40;
    /// Atomic and.
    pub const ATOMIC_AND: i32 = 0x50;
    /// Atomic exclusive or.
    pub const ATOMIC_XOR: i32 = 0xa0;
    /// Flag: the operation also loads the old value into src.
    pub const ATOMIC_FETCH: i32 = 0x01;
    /// Atomic exchange.
    pub const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
    /// Atomic compare-and-exchange (with r0).
    pub const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;

    /// `lddw` opcode (LD | IMM | DW).
    pub const LDDW: u8 = CLASS_LD | MODE_IMM | SIZE_DW;
    /// `exit` opcode.
    pub const EXIT: u8 = CLASS_JMP | JMP_EXIT;
    /// `call` opcode (helper, local or kfunc by the src field).
    pub const CALL: u8 = CLASS_JMP | JMP_CALL;
    /// `callx` opcode (call through a register, held in dst).
    pub const CALLX: u8 = CLASS_JMP | JMP_CALL | SRC_X;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trips_through_bytes() {
        let slot = Insn::new(0x61, 3, 10, -8, -123456);
        assert_eq!(Insn::from_bytes(slot.to_bytes()), slot);
        assert_eq!(
            slot.to_bytes(),
            [0x61, 0xa3, 0xf8, 0xff, 0xc0, 0x1d, 0xfe, 0xff]
        );
    }

    #[test]
    fn partial_slot_is_an_error() {
        assert!(slots_from_bytes(&[0u8; 12]).is_err());
        assert_eq!(slots_from_bytes(&[0u8; 16]).unwrap().len(), 2);
    }
}
