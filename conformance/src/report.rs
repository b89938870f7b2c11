//! Renders results as text (one line per test, then the summary line) or JSON.

use crate::runner::{Outcome, TestResult};
use std::fmt::Write;

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that were skipped.
    pub skipped: usize,
}

impl Summary {
    /// Counts the outcomes.
    pub fn of(results: &[TestResult]) -> Summary {
        let mut summary = Summary::default();
        for result in results {
            match result.outcome {
                Outcome::Pass => summary.passed += 1,
                Outcome::Fail { .. } => summary.failed += 1,
                Outcome::Skip { .. } => summary.skipped += 1,
            }
        }
        summary
    }

    /// `N passed, N failed` with `, N skipped` when any were skipped.
    pub fn line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            let _ = write!(line, ", {} skipped", self.skipped);
        }
        line
    }
}

/// One line per test, then the summary line.
pub fn render_text(results: &[TestResult]) -> String {
    let mut out = String::new();
    for result in results {
        let _ = match &result.outcome {
            Outcome::Pass => writeln!(out, "PASS  {:<8} {}", result.target, result.test),
            Outcome::Fail { expected, got } => writeln!(
                out,
                "FAIL  {:<8} {}: expected {expected}, got {got}",
                result.target, result.test
            ),
            Outcome::Skip { reason } => {
                writeln!(out, "SKIP  {:<8} {}: {reason}", result.target, result.test)
            }
        };
    }
    out.push_str(&Summary::of(results).line());
    out.push('\n');
    out
}

/// A JSON document: `{"results": [...], "passed": N, "failed": N, "skipped": N}`.
pub fn render_json(results: &[TestResult]) -> String {
    let summary = Summary::of(results);
    let mut out = String::from("{\n  \"results\": [");
    for (index, result) in results.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\n    {{\"test\": {}, \"target\": {}, ",
            json_string(&result.test),
            json_string(&result.target)
        );
        let _ = match &result.outcome {
            Outcome::Pass => write!(out, "\"outcome\": \"pass\"}}"),
            Outcome::Fail { expected, got } => write!(
                out,
                "\"outcome\": \"fail\", \"expected\": {}, \"got\": {}}}",
                json_string(expected),
                json_string(got)
            ),
            Outcome::Skip { reason } => write!(
                out,
                "\"outcome\": \"skip\", \"reason\": {}}}",
                json_string(reason)
            ),
        };
    }
    let _ = write!(
        out,
        "\n  ],\n  \"passed\": {},\n  \"failed\": {},\n  \"skipped\": {}\n}}\n",
        summary.passed, summary.failed, summary.skipped
    );
    out
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome) -> TestResult {
        TestResult {
            test: "a.data".into(),
            target: "interp".into(),
            outcome,
        }
    }

    #[test]
    fn summary_line_mentions_skips_only_when_present() {
        let results = vec![
            result(Outcome::Pass),
            result(Outcome::Fail {
                expected: "0x1".into(),
                got: "0x2".into(),
            }),
        ];
        assert!(render_text(&results).ends_with("1 passed, 1 failed\n"));
        let mut with_skip = results.clone();
        with_skip.push(result(Outcome::Skip {
            reason: "why".into(),
        }));
        assert!(render_text(&with_skip).ends_with("1 passed, 1 failed, 1 skipped\n"));
    }

    #[test]
    fn json_escapes_strings() {
        assert_eq!(json_string("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
        let json = render_json(&[result(Outcome::Pass)]);
        assert!(json.contains("\"outcome\": \"pass\""));
        assert!(json.contains("\"passed\": 1"));
    }
}
