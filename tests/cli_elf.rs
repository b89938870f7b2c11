//! `xbpf run` and `xbpf disasm` on ELF objects: the example C programs give the same r0 and
//! map contents on every engine of this build.

use std::process::{Command, Output};

fn xbpf(args: &[&str]) -> Output {
    let mut words: Vec<String> = std::env::var("XBPF_TEST_RUNNER")
        .map(|runner| runner.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    words.push(env!("CARGO_BIN_EXE_xbpf").to_string());
    Command::new(&words[0])
        .args(&words[1..])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the xbpf binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An example run: object, extra arguments, memory, expected r0, substrings of the map dump.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static str,
    u64,
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (
        "examples/c/maps_globals.o",
        &[],
        "01 02 03 04 05 06 07 01",
        108,
        &[
            r#"{"key": "01000000", "value": "0200000000000000"}"#,
            r#""name": "totals""#,
            r#"{"key": "00000000", "value": "6c00000000000000"}"#,
            r#""name": ".bss""#,
        ],
    ),
    (
        "examples/c/tail_calls.o",
        &["--section", "xbpf", "--function", "dispatch"],
        "00 02",
        42,
        &[
            r#""name": "visits""#,
            r#"{"key": "02000000", "value": "0100000000000000"}"#,
        ],
    ),
    (
        "examples/c/loop_ringbuf.o",
        &["--function", "sum_squares"],
        "05",
        30,
        &[
            r#""name": "events""#,
            "73756d3d3330206e3d35",
            r#""name": "squares""#,
        ],
    ),
];

#[test]
fn example_objects_run_alike_on_every_engine() {
    for engine in xbpf::engines::engine_names() {
        for (object, extra, memory, r0, dump) in CASES {
            let mut args = vec![
                "run",
                object,
                "--engine",
                engine,
                "--mem",
                memory,
                "--dump-maps",
            ];
            args.extend_from_slice(extra);
            let output = xbpf(&args);
            assert!(
                output.status.success(),
                "{object} on {engine}: {}",
                stderr(&output)
            );
            let text = stdout(&output);
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some(r0.to_string().as_str()),
                "{object} on {engine}"
            );
            let json = lines.collect::<Vec<_>>().join("\n");
            assert!(json.starts_with("{\"maps\": ["), "{json}");
            for expected in *dump {
                assert!(
                    json.contains(expected),
                    "{object} on {engine}: no {expected} in {json}"
                );
            }
        }
    }
}

#[test]
fn trace_printk_goes_to_stderr() {
    let output = xbpf(&[
        "run",
        "examples/c/maps_globals.o",
        "--mem",
        "0000000000000000",
    ]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "8\n");
    assert_eq!(stderr(&output), "run 1: sum 8\n");
}

#[test]
fn ambiguous_or_missing_programs_are_usage_errors() {
    let output = xbpf(&["run", "examples/c/tail_calls.o", "--section", "xbpf/stage"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("stage0"), "{}", stderr(&output));
    let output = xbpf(&["run", "examples/c/tail_calls.o", "--function", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no program matches"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_objects_are_input_errors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus/build/badrelo.o"
    );
    assert!(
        std::path::Path::new(path).is_file(),
        "corpus missing: {path}"
    );
    let output = xbpf(&["run", path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("undefined symbol `ebpf_map_update_elem`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn disasm_shows_tables_maps_and_programs() {
    let output = xbpf(&["disasm", "examples/c/tail_calls.o"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "xbpf/stage",
        "R_BPF_64_32",
        "R_BPF_64_ABS64 stage0",
        "0: stages prog_array key 4 value 4 max_entries 3",
        "# program xbpf/dispatch",
        "lddw %r2, map_by_index 0",
        "visit():",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}

/// An Ethernet + IPv4 + UDP frame to port 53, as hex.
fn dns_frame() -> String {
    let mut packet = [0u8; 42];
    packet[12] = 0x08;
    packet[14] = 0x45;
    packet[23] = 17;
    packet[36..38].copy_from_slice(&53u16.to_be_bytes());
    packet.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn xdp_objects_run_on_a_packet_after_verification_on_every_engine() {
    let frame = dns_frame();
    for engine in xbpf::engines::engine_names() {
        let output = xbpf(&[
            "run",
            "examples/c/xdp_filter.o",
            "--packet",
            &frame,
            "--verify",
            "--engine",
            engine,
            "--dump-maps",
        ]);
        assert!(output.status.success(), "{engine}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.starts_with("1\n"),
            "{engine}: XDP_DROP expected, got {text}"
        );
        assert!(
            text.contains(r#"{"key": "11000000", "value": "0100000000000000"}"#),
            "{engine}: UDP counted once: {text}"
        );
    }
}

#[test]
fn verification_failures_exit_1_with_the_diagnostic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus/build/wronghelper.o"
    );
    assert!(
        std::path::Path::new(path).is_file(),
        "corpus missing: {path}"
    );
    let output = xbpf(&["run", path, "--verify"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("helper 53 is not available to xdp programs"),
        "{message}"
    );
    assert!(message.contains("wronghelper.c:21"), "{message}");
}

#[test]
fn repeated_runs_report_timing_and_keep_their_maps() {
    let output = xbpf(&[
        "run",
        "examples/c/tail_calls.o",
        "--function",
        "dispatch",
        "--mem",
        "00 02",
        "--repeat",
        "3",
        "--dump-maps",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("runs=3 min_ns="),
        "{}",
        stderr(&output)
    );
    // three runs through every stage: each visit counter is 3
    assert!(
        stdout(&output).contains(r#"{"key": "03000000", "value": "0300000000000000"}"#),
        "{}",
        stdout(&output)
    );
}
