//! SARIF 2.1.0 output: one run of the `xbpf-verifier` tool, one rule per check, one result per
//! rejected program.

use crate::prelude::*;

use super::json::Json;
use crate::checks::Check;
use crate::report::Rejection;

/// One rejected program: the file it came from and its name inside the file (ELF section and
/// function, say).
pub struct SarifEntry<'a> {
    /// The file the program came from (the SARIF artifact location).
    pub artifact: &'a str,
    /// The program's name inside that file.
    pub program: &'a str,
    /// Why it was rejected.
    pub rejection: &'a Rejection,
}

/// A SARIF 2.1.0 log of these rejections.
pub fn render(entries: &[SarifEntry<'_>]) -> String {
    let rules: Vec<Json> = Check::ALL
        .iter()
        .map(|check| {
            Json::object([
                ("id", Json::str(check.id())),
                (
                    "shortDescription",
                    Json::object([("text", Json::str(check.description()))]),
                ),
                (
                    "defaultConfiguration",
                    Json::object([("level", Json::str("error"))]),
                ),
            ])
        })
        .collect();
    let results: Vec<Json> = entries.iter().map(result).collect();
    Json::object([
        (
            "$schema",
            Json::str("https://json.schemastore.org/sarif-2.1.0.json"),
        ),
        ("version", Json::str("2.1.0")),
        (
            "runs",
            Json::Array(vec![Json::object([
                (
                    "tool",
                    Json::object([(
                        "driver",
                        Json::object([
                            ("name", Json::str("xbpf-verifier")),
                            ("version", Json::str(env!("CARGO_PKG_VERSION"))),
                            ("rules", Json::Array(rules)),
                        ]),
                    )]),
                ),
                ("results", Json::Array(results)),
            ])]),
        ),
    ])
    .render()
}

fn result(entry: &SarifEntry<'_>) -> Json {
    let rejection = entry.rejection;
    let rule_index = Check::ALL
        .iter()
        .position(|c| *c == rejection.check)
        .unwrap_or(0);
    let instruction = rejection
        .instruction
        .map(|i| i.to_string())
        .unwrap_or_default();
    // With a source line the location is in the C file; without, it is the instruction's
    // address in the object.
    let physical = match &rejection.location {
        Some(source) => Json::object([
            (
                "artifactLocation",
                Json::object([("uri", Json::str(source.file.clone()))]),
            ),
            (
                "region",
                Json::object([
                    ("startLine", Json::Int(source.line.max(1) as i128)),
                    ("startColumn", Json::Int(source.column.max(1) as i128)),
                ]),
            ),
        ]),
        None => Json::object([
            (
                "artifactLocation",
                Json::object([("uri", Json::str(entry.artifact))]),
            ),
            (
                "address",
                Json::object([
                    ("relativeAddress", Json::Int(rejection.pc as i128 * 8)),
                    ("kind", Json::str("instruction")),
                    (
                        "name",
                        Json::str(format!("{} pc {}", entry.program, rejection.pc)),
                    ),
                ]),
            ),
        ]),
    };
    Json::object([
        ("ruleId", Json::str(rejection.check.id())),
        ("ruleIndex", Json::Int(rule_index as i128)),
        ("level", Json::str("error")),
        (
            "message",
            Json::object([(
                "text",
                Json::str(format!(
                    "{}: instruction {} ({}): {}",
                    entry.program, rejection.pc, instruction, rejection.message
                )),
            )]),
        ),
        (
            "locations",
            Json::Array(vec![Json::object([
                ("physicalLocation", physical),
                (
                    "logicalLocations",
                    Json::Array(vec![Json::object([
                        ("name", Json::str(entry.program)),
                        ("kind", Json::str("function")),
                    ])]),
                ),
            ])]),
        ),
        ("properties", super::json::rejection(rejection)),
    ])
}
