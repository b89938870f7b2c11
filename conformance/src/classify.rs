//! The upstream runner's instruction classification (FORMAT.md section 5.1): which CPU version
//! and which conformance groups a program needs. Quirks of the upstream table are reproduced
//! so that skip decisions match it.

use std::fmt;
use std::str::FromStr;
use xbpf_isa::Insn;

/// eBPF CPU (ISA) version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuVersion {
    /// The original instruction set.
    V1,
    /// Adds `jlt`, `jle`, `jslt` and `jsle`.
    V2,
    /// Adds the 32-bit conditional jumps (JMP32 class), the atomics and local calls.
    V3,
    /// Adds `ja32`, sign-extending loads and moves, signed division and `bswap`.
    V4,
}

impl FromStr for CpuVersion {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "v1" => Ok(CpuVersion::V1),
            "v2" => Ok(CpuVersion::V2),
            "v3" => Ok(CpuVersion::V3),
            "v4" => Ok(CpuVersion::V4),
            other => Err(format!("invalid CPU version `{other}` (v1, v2, v3 or v4)")),
        }
    }
}

impl fmt::Display for CpuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            CpuVersion::V1 => "v1",
            CpuVersion::V2 => "v2",
            CpuVersion::V3 => "v3",
            CpuVersion::V4 => "v4",
        };
        f.write_str(text)
    }
}

/// A conformance group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// The base instructions: 32-bit ALU, loads, stores, calls and exit (as the upstream table
    /// tags them).
    Base32,
    /// 64-bit ALU, 64-bit jumps and `lddw`.
    Base64,
    /// 32-bit atomic operations.
    Atomic32,
    /// 64-bit atomic operations.
    Atomic64,
    /// 32-bit multiplication, division and modulo.
    Divmul32,
    /// 64-bit multiplication, division and modulo.
    Divmul64,
    /// Legacy packet loads (`ldabs`, `ldind`).
    Packet,
    /// `callx`: helper calls through a register.
    Callx,
}

impl Group {
    /// Every group.
    pub const ALL: [Group; 8] = [
        Group::Base32,
        Group::Base64,
        Group::Atomic32,
        Group::Atomic64,
        Group::Divmul32,
        Group::Divmul64,
        Group::Packet,
        Group::Callx,
    ];

    /// The group's name as the runner spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Group::Base32 => "base32",
            Group::Base64 => "base64",
            Group::Atomic32 => "atomic32",
            Group::Atomic64 => "atomic64",
            Group::Divmul32 => "divmul32",
            Group::Divmul64 => "divmul64",
            Group::Packet => "packet",
            Group::Callx => "callx",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The 32-bit group a 64-bit group implies (`base64` implies `base32`, and so on).
    pub const fn implied(self) -> Option<Group> {
        match self {
            Group::Base64 => Some(Group::Base32),
            Group::Atomic64 => Some(Group::Atomic32),
            Group::Divmul64 => Some(Group::Divmul32),
            _ => None,
        }
    }
}

impl FromStr for Group {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Group::ALL
            .into_iter()
            .find(|group| group.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown group `{text}` (base32, base64, atomic32, atomic64, divmul32, divmul64, packet, callx)"
                )
            })
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Groups(u8);

impl Groups {
    /// No group.
    pub const NONE: Groups = Groups(0);
    /// Every group.
    pub const ALL: Groups = Groups(0xff);

    /// Adds a group.
    pub fn insert(&mut self, group: Group) {
        self.0 |= group.bit();
    }

    /// Removes a group.
    pub fn remove(&mut self, group: Group) {
        self.0 &= !group.bit();
    }

    /// Whether the group is in the set.
    pub fn contains(self, group: Group) -> bool {
        self.0 & group.bit() != 0
    }

    /// Whether every group of `other` is in this set.
    pub fn contains_all(self, other: Groups) -> bool {
        other.0 & !self.0 == 0
    }

    /// The groups in the set.
    pub fn iter(self) -> impl Iterator<Item = Group> {
        Group::ALL
            .into_iter()
            .filter(move |group| self.contains(*group))
    }
}

/// What a program needs: the highest CPU version and the union of groups of its instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirements {
    /// The highest CPU version any instruction needs.
    pub version: CpuVersion,
    /// The groups the instructions belong to.
    pub groups: Groups,
}

/// Classifies a program, skipping the second slot of each `lddw`. Instructions missing from
/// the upstream table contribute nothing.
pub fn classify(slots: &[Insn]) -> Requirements {
    let mut requirements = Requirements {
        version: CpuVersion::V1,
        groups: Groups::NONE,
    };
    let mut pc = 0;
    while pc < slots.len() {
        let slot = slots[pc];
        if let Some((version, group)) = classify_slot(slot) {
            requirements.version = requirements.version.max(version);
            requirements.groups.insert(group);
        }
        pc += if slot.opcode == 0x18 { 2 } else { 1 };
    }
    requirements
}

/// The upstream table, keyed on the opcode plus the src, imm or offset field for some opcodes.
fn classify_slot(slot: Insn) -> Option<(CpuVersion, Group)> {
    use CpuVersion::*;
    use Group::*;
    let opcode = slot.opcode;
    let entry = match opcode {
        0x18 if slot.src <= 6 => (V1, Base64),
        0x85 => match slot.src {
            0 => (V1, Base32),
            1 | 2 => (V3, Base32),
            _ => return None,
        },
        0xbc => match slot.off {
            0 => (V1, Base32),
            8 | 16 => (V4, Base32),
            _ => return None,
        },
        0xbf => match slot.off {
            0 => (V1, Base64),
            8 | 16 | 32 => (V4, Base64),
            _ => return None,
        },
        0xd4 | 0xdc => match slot.imm {
            16 | 32 => (V1, Base32),
            64 => (V1, Base64),
            _ => return None,
        },
        0xd7 => (V4, Base32),
        0xc3 | 0xdb => {
            let group = if opcode == 0xc3 { Atomic32 } else { Atomic64 };
            match slot.imm {
                0x00 | 0x01 | 0x40 | 0x41 | 0x50 | 0x51 | 0xa0 | 0xa1 | 0xe1 | 0xf1 => (V3, group),
                _ => return None,
            }
        }
        0x24 | 0x2c => (V1, Divmul32),
        0x27 | 0x2f => (V1, Divmul64),
        0x34 | 0x3c | 0x94 | 0x9c | 0x37 | 0x3f | 0x97 | 0x9f => {
            let group = if opcode & 0x07 == 0x04 {
                Divmul32
            } else {
                Divmul64
            };
            match slot.off {
                0 => (V1, group),
                1 => (V4, group),
                _ => return None,
            }
        }
        0x20 | 0x28 | 0x30 | 0x40 | 0x48 | 0x50 => (V1, Packet),
        0x8d => (V1, Callx),
        0x06 | 0x81 | 0x89 | 0x91 => (V4, Base32),
        0xa5 | 0xad | 0xb5 | 0xbd | 0xc5 | 0xcd | 0xd5 | 0xdd => (V2, Base64),
        0x16 | 0x1e | 0x26 | 0x2e | 0x36 | 0x3e | 0x46 | 0x4e | 0x56 | 0x5e | 0x66 | 0x6e
        | 0x76 | 0x7e | 0xa6 | 0xae | 0xb6 | 0xbe | 0xc6 | 0xce | 0xd6 | 0xde => (V3, Base32),
        0x04 | 0x05 | 0x0c | 0x14 | 0x1c | 0x1f | 0x44 | 0x4c | 0x54 | 0x5c | 0x61 | 0x62
        | 0x63 | 0x64 | 0x69 | 0x6a | 0x6b | 0x6c | 0x6d | 0x71 | 0x72 | 0x73 | 0x74 | 0x7c
        | 0x84 | 0x87 | 0x95 | 0xa4 | 0xac | 0xb4 | 0xc4 | 0xcc => (V1, Base32),
        0x00 | 0x07 | 0x0f | 0x15 | 0x17 | 0x1d | 0x25 | 0x2d | 0x35 | 0x3d | 0x45 | 0x47
        | 0x4d | 0x4f | 0x55 | 0x57 | 0x5d | 0x5f | 0x65 | 0x67 | 0x6f | 0x75 | 0x77 | 0x79
        | 0x7a | 0x7b | 0x7d | 0x7f | 0xa7 | 0xaf | 0xb7 | 0xc7 | 0xcf => (V1, Base64),
        _ => return None,
    };
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_quirks_are_kept() {
        // sub64 reg and neg64 are tagged base32 upstream
        assert_eq!(
            classify_slot(Insn::new(0x1f, 0, 1, 0, 0)),
            Some((CpuVersion::V1, Group::Base32))
        );
        assert_eq!(
            classify_slot(Insn::new(0x87, 0, 0, 0, 0)),
            Some((CpuVersion::V1, Group::Base32))
        );
        // mov32 with offset 32 is not in the table
        assert_eq!(classify_slot(Insn::new(0xbc, 0, 1, 32, 0)), None);
    }

    #[test]
    fn requirements_take_the_maximum_and_the_union() {
        let slots = [
            Insn::new(0x18, 0, 0, 0, 1),
            Insn::new(0x8d, 0, 0, 0, 0), // second lddw slot: skipped even though it is not zero
            Insn::new(0xdb, 1, 2, 0, 0xf1),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        let requirements = classify(&slots);
        assert_eq!(requirements.version, CpuVersion::V3);
        assert!(requirements.groups.contains(Group::Atomic64));
        assert!(requirements.groups.contains(Group::Base64));
        assert!(!requirements.groups.contains(Group::Callx));
    }

    #[test]
    fn group_sets() {
        let mut groups = Groups::NONE;
        groups.insert(Group::Callx);
        assert!(Groups::ALL.contains_all(groups));
        groups.remove(Group::Callx);
        assert_eq!(groups, Groups::NONE);
        assert_eq!("divmul64".parse::<Group>(), Ok(Group::Divmul64));
        assert!("v5".parse::<CpuVersion>().is_err());
    }
}
