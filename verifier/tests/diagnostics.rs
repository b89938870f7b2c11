//! Diagnostics: what a rejection says (instruction, check, values, path, source line) in text,
//! JSON and SARIF; what a report says (exit range, invariants, loop bound).

mod common;

use common::{Ty, program, run, test_maps};
use xbpf_verifier::diagnostics::{json, sarif, text};
use xbpf_verifier::{Check, LineTable, ProgramType, SourceLocation, VerifierConfig, verify};

/// A minimal JSON well-formedness check: parses one value and requires the whole input used.
fn parse_json(input: &str) -> Result<(), String> {
    fn value(s: &[u8], i: &mut usize) -> Result<(), String> {
        skip(s, i);
        match s.get(*i) {
            Some(b'{') => {
                *i += 1;
                skip(s, i);
                if s.get(*i) == Some(&b'}') {
                    *i += 1;
                    return Ok(());
                }
                loop {
                    skip(s, i);
                    string(s, i)?;
                    skip(s, i);
                    expect(s, i, b':')?;
                    value(s, i)?;
                    skip(s, i);
                    match s.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return Ok(());
                        }
                        _ => return Err(format!("expected , or }} at {i}")),
                    }
                }
            }
            Some(b'[') => {
                *i += 1;
                skip(s, i);
                if s.get(*i) == Some(&b']') {
                    *i += 1;
                    return Ok(());
                }
                loop {
                    value(s, i)?;
                    skip(s, i);
                    match s.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b']') => {
                            *i += 1;
                            return Ok(());
                        }
                        _ => return Err(format!("expected , or ] at {i}")),
                    }
                }
            }
            Some(b'"') => string(s, i),
            Some(b't') => literal(s, i, "true"),
            Some(b'f') => literal(s, i, "false"),
            Some(b'n') => literal(s, i, "null"),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                *i += 1;
                while s.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                    *i += 1;
                }
                Ok(())
            }
            _ => Err(format!("unexpected input at {i}")),
        }
    }
    fn skip(s: &[u8], i: &mut usize) {
        while s.get(*i).is_some_and(|c| c.is_ascii_whitespace()) {
            *i += 1;
        }
    }
    fn expect(s: &[u8], i: &mut usize, c: u8) -> Result<(), String> {
        if s.get(*i) == Some(&c) {
            *i += 1;
            Ok(())
        } else {
            Err(format!("expected {} at {i}", c as char))
        }
    }
    fn literal(s: &[u8], i: &mut usize, word: &str) -> Result<(), String> {
        if s[*i..].starts_with(word.as_bytes()) {
            *i += word.len();
            Ok(())
        } else {
            Err(format!("bad literal at {i}"))
        }
    }
    fn string(s: &[u8], i: &mut usize) -> Result<(), String> {
        expect(s, i, b'"')?;
        loop {
            match s.get(*i) {
                Some(b'"') => {
                    *i += 1;
                    return Ok(());
                }
                Some(b'\\') => *i += 2,
                Some(c) if *c < 0x20 => return Err(format!("raw control character at {i}")),
                Some(_) => *i += 1,
                None => return Err("unterminated string".into()),
            }
        }
    }
    let bytes = input.as_bytes();
    let mut i = 0;
    value(bytes, &mut i)?;
    if i == bytes.len() {
        Ok(())
    } else {
        Err(format!("trailing input at {i}"))
    }
}

const UNCHECKED_PACKET: &str = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +2\nldxw %r0, [%r2+2]\nexit\nmov %r0, 0\nexit";

#[test]
fn rejections_name_instruction_check_values_and_path() {
    let rejection = run(
        &Ty::Packet.program_type(),
        UNCHECKED_PACKET,
        &VerifierConfig::default(),
    )
    .unwrap_err();
    assert_eq!(rejection.pc, 5);
    assert_eq!(rejection.check, Check::OutOfBounds);
    assert_eq!(
        rejection.instruction.map(|i| i.to_string()).as_deref(),
        Some("ldxw %r0, [%r2+2]")
    );
    assert_eq!(rejection.registers.len(), 1);
    assert_eq!(rejection.registers[0].register, 2);
    assert_eq!(rejection.registers[0].value, "packet + 0");
    assert_eq!(rejection.path, vec![0, 5]);
    assert!(
        rejection.message.contains("packet_end - 4"),
        "{}",
        rejection.message
    );
    let rendered = text::render(&rejection);
    assert!(rendered.starts_with("error[out-of-bounds]: instruction 5: ldxw %r0, [%r2+2]"));
    assert!(rendered.contains("r2 = packet + 0"));
    assert!(rendered.contains("path: 0 -> 5"));
    assert_eq!(rejection.to_string(), rendered);
}

#[test]
fn rejections_inside_callees_show_the_call_stack() {
    let source = "mov %r1, 0\ncall local f\nexit\nf:\nldxb %r0, [%r1+0]\nexit";
    let rejection = run(&ProgramType::generic(8), source, &VerifierConfig::default()).unwrap_err();
    assert_eq!(rejection.check, Check::NotAPointer);
    assert_eq!(rejection.pc, 3);
    assert_eq!(rejection.call_stack, vec![1]);
    assert_eq!(rejection.path, vec![1, 3]);
    assert!(text::render(&rejection).contains("called from: 1"));
}

#[test]
fn source_lines_come_from_the_line_table() {
    let mut lines = LineTable::new();
    lines.insert(
        0,
        SourceLocation {
            file: "parser.c".into(),
            line: 10,
            column: 2,
            text: Some("void *data = (void *)(long)ctx->data;".into()),
        },
    );
    lines.insert(
        5,
        SourceLocation {
            file: "parser.c".into(),
            line: 14,
            column: 9,
            text: Some("return *(u32 *)(data + 2);".into()),
        },
    );
    let config = VerifierConfig {
        line_table: Some(lines),
        ..VerifierConfig::default()
    };
    let rejection = run(&Ty::Packet.program_type(), UNCHECKED_PACKET, &config).unwrap_err();
    let location = rejection.location.clone().expect("a source location");
    assert_eq!((location.file.as_str(), location.line), ("parser.c", 14));
    assert!(text::render(&rejection).contains("at parser.c:14:9: return *(u32 *)(data + 2);"));

    let sarif = sarif::render(&[sarif::SarifEntry {
        artifact: "parser.o",
        program: "xdp/parse",
        rejection: &rejection,
    }]);
    parse_json(&sarif).unwrap_or_else(|e| panic!("invalid SARIF JSON ({e}):\n{sarif}"));
    assert!(sarif.contains(r#""uri":"parser.c""#));
    assert!(sarif.contains(r#""startLine":14"#));
}

#[test]
fn json_and_sarif_are_well_formed() {
    let rejection = run(
        &Ty::Packet.program_type(),
        UNCHECKED_PACKET,
        &VerifierConfig::default(),
    )
    .unwrap_err();
    let rejected = json::rejection(&rejection).render();
    parse_json(&rejected).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{rejected}"));
    assert!(rejected.contains(r#""check":"out-of-bounds""#));
    assert!(rejected.contains(r#""pc":5"#));
    assert!(rejected.contains(r#""path":[0,5]"#));
    assert!(rejected.contains(r#""instruction":"ldxw %r0, [%r2+2]""#));

    let sarif = sarif::render(&[sarif::SarifEntry {
        artifact: "prog.o",
        program: "xdp",
        rejection: &rejection,
    }]);
    parse_json(&sarif).unwrap_or_else(|e| panic!("invalid SARIF ({e}):\n{sarif}"));
    assert!(sarif.contains(r#""version":"2.1.0""#));
    assert!(sarif.contains(r#""ruleId":"out-of-bounds""#));
    assert!(sarif.contains(r#""name":"xbpf-verifier""#));
    assert!(sarif.contains(r#""uri":"prog.o""#));
    // Every check is a rule, so ruleIndex points into the rules array.
    for check in Check::ALL {
        assert!(sarif.contains(&format!(r#""id":"{}""#, check.id())));
    }
    let empty = sarif::render(&[]);
    parse_json(&empty).unwrap();
    assert!(empty.contains(r#""results":[]"#));

    let report = run(
        &ProgramType::generic(8),
        "mov %r0, 3\nexit",
        &VerifierConfig::default(),
    )
    .unwrap();
    let verified = json::report(&report).render();
    parse_json(&verified).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{verified}"));
    assert!(verified.contains(r#""smin":3,"smax":3,"umin":3,"umax":3"#));
}

#[test]
fn reports_give_exit_ranges() {
    let cases: &[(&str, i64, i64)] = &[
        ("mov %r0, 5\nexit", 5, 5),
        ("call 7\nand %r0, 0xff\nexit", 0, 255),
        (
            "ldxb %r1, [%r1+0]\nmov %r0, 1\njgt %r1, 10, +1\nmov %r0, 2\nexit",
            1,
            2,
        ),
        (
            "ldxsw %r0, [%r1+0]\njslt %r0, 0, +2\nmov %r0, -1\nexit\nmov32 %r0, 7\nexit",
            -1,
            7,
        ),
        (
            "mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 1\nadd %r1, 1\njlt %r1, 10, loop\nexit",
            10,
            10,
        ),
    ];
    for &(source, lo, hi) in cases {
        let report = run(&ProgramType::generic(8), source, &VerifierConfig::default())
            .unwrap_or_else(|r| panic!("{source}: {r}"));
        let range = report.exit_range.expect("an exit is reachable");
        assert_eq!((range.smin, range.smax), (lo, hi), "{source}: {range}");
    }
    let report = run(
        &ProgramType::generic(8),
        "mov %r0, 0\nja -2",
        &VerifierConfig::default(),
    )
    .unwrap();
    assert_eq!(report.exit_range, None, "no exit is reachable");
}

#[test]
fn return_ranges_of_program_types_are_checked() {
    let mut ty = ProgramType::generic(8);
    ty.return_range = Some((0, 4));
    let config = VerifierConfig::default();
    assert!(run(&ty, "ldxb %r0, [%r1+0]\nand %r0, 3\nexit", &config).is_ok());
    let rejection = run(&ty, "ldxb %r0, [%r1+0]\nand %r0, 7\nexit", &config).unwrap_err();
    assert_eq!(rejection.check, Check::ReturnValue);
    assert!(
        rejection.message.contains("[0, 4]"),
        "{}",
        rejection.message
    );
}

#[test]
fn invariants_are_collected_on_request() {
    let source = "ldxb %r2, [%r1+0]\njgt %r2, 9, +2\nmov %r0, %r2\nexit\nmov %r0, 0\nexit";
    let config = VerifierConfig {
        collect_invariants: true,
        ..VerifierConfig::default()
    };
    let report = verify(
        &program(source),
        &ProgramType::generic(8),
        &test_maps(),
        &config,
    )
    .unwrap();
    assert_eq!(report.invariants.len(), 6);
    assert!(
        report.invariants[&0][0].contains("r1: ctx + 0"),
        "{:?}",
        report.invariants[&0]
    );
    assert!(
        report.invariants[&2][0].contains("r2: number [0, 9]"),
        "{:?}",
        report.invariants[&2]
    );
    assert!(
        report.invariants[&4][0].contains("r2: number [10, 255]"),
        "{:?}",
        report.invariants[&4]
    );
    let plain = verify(
        &program(source),
        &ProgramType::generic(8),
        &test_maps(),
        &VerifierConfig::default(),
    )
    .unwrap();
    assert!(plain.invariants.is_empty());
    assert!(text::render_report(&report).contains("    2: "));
}

#[test]
fn termination_reports_a_loop_bound() {
    let config = VerifierConfig {
        check_termination: true,
        ..VerifierConfig::default()
    };
    let source = "mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 1\nadd %r1, 1\njlt %r1, 10, loop\nexit";
    let report = run(&ProgramType::generic(8), source, &config).unwrap();
    assert_eq!(report.loop_bound, Some(10));
    let no_loop = run(&ProgramType::generic(8), "mov %r0, 0\nexit", &config).unwrap();
    assert_eq!(no_loop.loop_bound, Some(0));
}

#[test]
fn structural_errors_are_rejections_too() {
    let rejection = run(
        &ProgramType::generic(8),
        "call local f\nmov %r0, 0\nexit\nf:\nja -3",
        &VerifierConfig::default(),
    )
    .unwrap_err();
    assert_eq!(rejection.check, Check::ControlFlow);
    assert_eq!(rejection.pc, 3);
    assert!(
        rejection.message.contains("leaves the function"),
        "{}",
        rejection.message
    );
}
