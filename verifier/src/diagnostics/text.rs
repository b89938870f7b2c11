//! Plain-text diagnostics.

use crate::prelude::*;

use crate::report::{Rejection, Report};
use core::fmt::Write;

/// A rejection as a few lines of text: the failed check at its instruction, the message, the
/// registers involved, the source line and the path that reaches it.
pub fn render(rejection: &Rejection) -> String {
    let mut out = String::new();
    let instruction = rejection
        .instruction
        .map(|i| i.to_string())
        .unwrap_or_else(|| "(no instruction)".to_string());
    let _ = writeln!(
        out,
        "error[{}]: instruction {}: {}",
        rejection.check.id(),
        rejection.pc,
        instruction
    );
    let _ = writeln!(out, "  {}", rejection.message);
    for register in &rejection.registers {
        let _ = writeln!(out, "  r{} = {}", register.register, register.value);
    }
    if let Some(source) = &rejection.location {
        let _ = write!(
            out,
            "  at {}:{}:{}",
            source.file, source.line, source.column
        );
        match &source.text {
            Some(text) => {
                let _ = writeln!(out, ": {}", text.trim());
            }
            None => out.push('\n'),
        }
    }
    if !rejection.call_stack.is_empty() {
        let calls: Vec<String> = rejection.call_stack.iter().map(usize::to_string).collect();
        let _ = writeln!(out, "  called from: {}", calls.join(" -> "));
    }
    let path: Vec<String> = rejection.path.iter().map(usize::to_string).collect();
    let _ = write!(out, "  path: {}", path.join(" -> "));
    out
}

/// A one-paragraph summary of an accepted program, with the invariants if collected.
pub fn render_report(report: &Report) -> String {
    let mut out = String::from("verified");
    match &report.exit_range {
        Some(range) => {
            let _ = write!(out, ": r0 at exit is {range}");
        }
        None => out.push_str(": no exit is reachable"),
    }
    if let Some(bound) = report.loop_bound {
        let _ = write!(out, "; at most {bound} loop iterations");
    }
    out.push('\n');
    for (pc, lines) in &report.invariants {
        for line in lines {
            let _ = writeln!(out, "{pc:>5}: {line}");
        }
    }
    out
}
