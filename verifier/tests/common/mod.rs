//! Shared helpers of the verifier's integration tests.
#![allow(dead_code)]

use xbpf_isa::{Program, assemble};
use xbpf_verifier::{
    Check, MapDescriptor, MapType, ProgramType, Rejection, Report, VerifierConfig, verify,
};

/// Assembles a test program (panics with the assembler's message on a typo).
pub fn program(source: &str) -> Program {
    let slots = assemble(source).unwrap_or_else(|e| panic!("assembling {source:?}: {e}"));
    Program::new(slots).unwrap_or_else(|e| panic!("validating {source:?}: {e}"))
}

/// The maps every test program may reference by index.
pub fn test_maps() -> Vec<MapDescriptor> {
    let mut read_only = MapDescriptor::new(MapType::Array, 4, 32, 1);
    read_only.read_only = true;
    let mut outer = MapDescriptor::new(MapType::ArrayOfMaps, 4, 4, 4);
    outer.inner = Some(Box::new(MapDescriptor::new(MapType::Hash, 4, 8, 16)));
    vec![
        MapDescriptor::new(MapType::Hash, 4, 16, 128),   // 0
        MapDescriptor::new(MapType::Array, 4, 64, 1),    // 1
        outer,                                           // 2
        read_only,                                       // 3
        MapDescriptor::new(MapType::RingBuf, 0, 0, 4096), // 4
        MapDescriptor::new(MapType::ProgArray, 4, 4, 8), // 5
    ]
}

pub fn run(ty: &ProgramType, source: &str, config: &VerifierConfig) -> Result<Report, Box<Rejection>> {
    verify(&program(source), ty, &test_maps(), config)
}

/// The expected verdict of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Accept,
    Reject(Check),
}

/// Checks a verdict, printing the diagnostic on a mismatch.
pub fn check_verdict(name: &str, result: &Result<Report, Box<Rejection>>, expect: Expect) -> Result<(), String> {
    match (result, expect) {
        (Ok(_), Expect::Accept) => Ok(()),
        (Err(r), Expect::Reject(check)) if r.check == check => Ok(()),
        (Ok(report), Expect::Reject(check)) => Err(format!(
            "{name}: accepted (exit {:?}), expected rejection by {check}",
            report.exit_range.map(|r| r.to_string())
        )),
        (Err(r), _) => Err(format!("{name}: expected {expect:?}, got\n{r}")),
    }
}
