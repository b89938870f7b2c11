//! # xbpf-conformance
//!
//! Reads bpf_conformance `.data` tests, runs them on in-process engines (any
//! [`xbpf_isa::Engine`]) or on an external plugin, and grades them like the upstream runner.
//! It also holds the plugin side of the protocol, so the upstream runner can drive xbpf.

#![warn(missing_docs)]

pub mod classify;
pub mod data;
pub mod hex;
pub mod plugin;
pub mod report;
pub mod runner;

pub use classify::{CpuVersion, Group, Groups};
pub use plugin::{PluginCommand, PluginRequest};
pub use report::{Summary, render_json, render_text};
pub use runner::{Options, Outcome, Target, TestResult, discover, run_suite};
