//! Shared code of the xbpf fuzz targets: how input bytes become programs ([`case`]), the
//! memory they run on ([`memory`]), how engine runs are compared ([`compare`]), the verifier
//! soundness check ([`soundness`]) and the body of every target ([`targets`]).

pub mod case;
pub mod compare;
pub mod memory;
pub mod soundness;
pub mod targets;
