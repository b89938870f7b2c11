//! JSON output, written by hand: a small value tree and its serialisation.

use crate::prelude::*;

use crate::report::{Rejection, Report};
use core::fmt::Write;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (kept exact; JSON numbers are arbitrary-precision text).
    Int(i128),
    /// A string (escaped when written).
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, its members in this order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// An object with these members, in this order.
    pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Json)>) -> Json {
        Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Compact text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => escape(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes `s` as a JSON string literal.
fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
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
}

/// A rejection as a JSON object.
pub fn rejection(rejection: &Rejection) -> Json {
    let source = match &rejection.location {
        Some(s) => Json::object([
            ("file", Json::str(s.file.clone())),
            ("line", Json::Int(s.line as i128)),
            ("column", Json::Int(s.column as i128)),
            ("text", s.text.clone().map(Json::Str).unwrap_or(Json::Null)),
        ]),
        None => Json::Null,
    };
    Json::object([
        ("verdict", Json::str("rejected")),
        ("pc", Json::Int(rejection.pc as i128)),
        (
            "instruction",
            rejection
                .instruction
                .map(|i| Json::Str(i.to_string()))
                .unwrap_or(Json::Null),
        ),
        ("check", Json::str(rejection.check.id())),
        ("description", Json::str(rejection.check.description())),
        ("message", Json::str(rejection.message.clone())),
        (
            "registers",
            Json::Array(
                rejection
                    .registers
                    .iter()
                    .map(|r| {
                        Json::object([
                            ("register", Json::str(format!("r{}", r.register))),
                            ("value", Json::str(r.value.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "path",
            Json::Array(
                rejection
                    .path
                    .iter()
                    .map(|&p| Json::Int(p as i128))
                    .collect(),
            ),
        ),
        (
            "call_stack",
            Json::Array(
                rejection
                    .call_stack
                    .iter()
                    .map(|&p| Json::Int(p as i128))
                    .collect(),
            ),
        ),
        ("source", source),
    ])
}

/// A report as a JSON object.
pub fn report(report: &Report) -> Json {
    let exit = match &report.exit_range {
        Some(range) => Json::object([
            ("smin", Json::Int(range.smin as i128)),
            ("smax", Json::Int(range.smax as i128)),
            ("umin", Json::Int(range.umin as i128)),
            ("umax", Json::Int(range.umax as i128)),
            ("text", Json::str(range.to_string())),
        ]),
        None => Json::Null,
    };
    let invariants = Json::Object(
        report
            .invariants
            .iter()
            .map(|(pc, lines)| {
                (
                    pc.to_string(),
                    Json::Array(lines.iter().cloned().map(Json::Str).collect()),
                )
            })
            .collect(),
    );
    Json::object([
        ("verdict", Json::str("verified")),
        ("exit_range", exit),
        (
            "loop_bound",
            report
                .loop_bound
                .map(|b| Json::Int(b as i128))
                .unwrap_or(Json::Null),
        ),
        (
            "stats",
            Json::object([
                ("instructions", Json::Int(report.stats.instructions as i128)),
                (
                    "function_analyses",
                    Json::Int(report.stats.function_analyses as i128),
                ),
                (
                    "block_executions",
                    Json::Int(report.stats.block_executions as i128),
                ),
                (
                    "max_disjuncts",
                    Json::Int(report.stats.max_disjuncts as i128),
                ),
            ]),
        ),
        ("invariants", invariants),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let value = Json::object([
            (
                "a",
                Json::str("quote \" backslash \\ newline \n ctrl \u{1}"),
            ),
            (
                "b",
                Json::Array(vec![Json::Int(-3), Json::Bool(true), Json::Null]),
            ),
        ]);
        assert_eq!(
            value.render(),
            r#"{"a":"quote \" backslash \\ newline \n ctrl \u0001","b":[-3,true,null]}"#
        );
    }
}
