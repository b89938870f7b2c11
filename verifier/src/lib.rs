//! # xbpf-verifier
//!
//! An abstract-interpretation verifier for eBPF programs.

pub mod concrete;
pub mod domain;
