//! On architectures without a back end the JIT reports itself unavailable, as a typed error.
#![cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]

mod common;

use common::*;
use xbpf_isa::{Engine, ExecConfig, PrepareError};
use xbpf_jit::Jit;

#[test]
fn without_a_back_end_preparing_is_an_engine_error() {
    let program = program(&[mov64(0, imm(1)), exit()]);
    assert!(matches!(
        Jit::new().prepare(&program, &ExecConfig::default()),
        Err(PrepareError::Engine { engine: "jit", .. })
    ));
}
