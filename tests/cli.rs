//! End-to-end tests of the `xbpf` command: output formats, exit codes, and the bundled examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The words that start the xbpf binary: under cross-testing (qemu, Wine) the emulator named
/// by `XBPF_TEST_RUNNER` comes first, since the binary cannot be executed directly.
fn xbpf_command_words() -> Vec<String> {
    let mut words: Vec<String> = std::env::var("XBPF_TEST_RUNNER")
        .map(|runner| runner.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    words.push(env!("CARGO_BIN_EXE_xbpf").to_string());
    words
}

fn xbpf_command() -> Command {
    let words = xbpf_command_words();
    let mut command = Command::new(&words[0]);
    command
        .args(&words[1..])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

fn xbpf(args: &[&str]) -> Output {
    xbpf_command()
        .args(args)
        .output()
        .expect("the xbpf binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn suite() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/tests");
    assert!(
        path.is_dir(),
        "the bpf_conformance suite is expected at {} (../shared beside the repository)",
        path.display()
    );
    path
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xbpf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Every example declares its expected r0 (`# expect: N`) and optional memory (`# mem: HEX`).
#[test]
fn bundled_examples_print_their_expected_result() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "asm") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("# {key}: ")))
                .map(str::to_string)
        };
        let expected = header("expect").expect("examples declare `# expect: N`");
        let mut args = vec!["run".to_string(), path.display().to_string()];
        if let Some(mem) = header("mem") {
            args.extend(["--mem".to_string(), mem]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = xbpf(&args);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            stderr(&output)
        );
        assert_eq!(stdout(&output).trim(), expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} examples found");
}

#[test]
fn run_prints_r0_in_decimal_and_nothing_else() {
    let program = temp_file("neg.asm", b"mov %r0, -1\nexit\n");
    let output = xbpf(&["run", program.to_str().unwrap()]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "18446744073709551615\n");
}

#[test]
fn run_reads_memory_from_hex_and_from_files() {
    let program = temp_file("len.asm", b"ldxb %r0, [%r1+1]\nadd %r0, %r2\nexit\n");
    let output = xbpf(&["run", program.to_str().unwrap(), "--mem", "01 02 03"]);
    assert_eq!(stdout(&output), "5\n", "{}", stderr(&output));
    let memory = temp_file("mem.bin", &[9, 10]);
    let output = xbpf(&[
        "run",
        program.to_str().unwrap(),
        "--mem-file",
        memory.to_str().unwrap(),
    ]);
    assert_eq!(stdout(&output), "12\n", "{}", stderr(&output));
}

#[test]
fn a_fault_exits_1_with_the_instruction_on_stderr() {
    let program = temp_file("oob.asm", b"mov %r0, 0\nldxdw %r0, [%r1+8]\nexit\n");
    let output = xbpf(&["run", program.to_str().unwrap(), "--mem", "00 00"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("instruction 1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn fuel_stops_an_infinite_loop() {
    let program = temp_file("spin.asm", b"loop:\nja loop\nexit\n");
    let output = xbpf(&["run", program.to_str().unwrap(), "--fuel", "1000"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("out of fuel"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn repeat_reports_timing_on_stderr() {
    let output = xbpf(&["run", "examples/factorial.asm", "--repeat", "5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "2432902008176640000");
    let line = stderr(&output);
    assert!(line.starts_with("runs=5 min_ns="), "{line}");
    assert!(line.contains(" median_ns="), "{line}");
    // 20! by a loop: 2 instructions before it, 20 iterations of 3, then exit
    assert!(line.contains(" insns=63 "), "{line}");
    assert!(line.contains(" median_ns_per_insn="), "{line}");
}

#[test]
fn bad_input_exits_2_with_a_located_error() {
    let program = temp_file("bad.asm", b"mov %r0, 1\nfrob %r0\nexit\n");
    let output = xbpf(&["run", program.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
    let invalid = temp_file("invalid.bin", &[0xff, 0, 0, 0, 0, 0, 0, 0]);
    let output = xbpf(&["run", invalid.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("instruction 0"),
        "{}",
        stderr(&output)
    );
    let output = xbpf(&["run", "/nonexistent/program"]);
    assert_eq!(output.status.code(), Some(2));
    let output = xbpf(&["run", "examples/factorial.asm", "--engine", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown engine"));
}

#[test]
fn asm_then_disasm_round_trips() {
    let binary = std::env::temp_dir().join(format!("xbpf-fib-{}.bin", std::process::id()));
    let output = xbpf(&[
        "asm",
        "examples/fibonacci.asm",
        "-o",
        binary.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = xbpf(&["disasm", binary.to_str().unwrap()]);
    assert!(listing.status.success());
    let reassembled_source = temp_file("fib-again.asm", &listing.stdout);
    let again = xbpf(&["asm", reassembled_source.to_str().unwrap()]);
    let hex = xbpf(&["asm", "examples/fibonacci.asm"]);
    assert_eq!(stdout(&again), stdout(&hex));
    assert_eq!(
        stdout(&hex).lines().count(),
        std::fs::read(&binary).unwrap().len() / 8
    );
}

#[test]
fn conformance_on_the_interpreter_passes_everything() {
    let suite = suite();
    let output = xbpf(&[
        "conformance",
        "--suite",
        suite.to_str().unwrap(),
        "--engine",
        "interp",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert_eq!(text.lines().last(), Some("313 passed, 0 failed"));
}

#[test]
fn conformance_filters_skip_and_say_so() {
    let suite = suite();
    let output = xbpf(&[
        "conformance",
        "--suite",
        suite.to_str().unwrap(),
        "--engine",
        "interp",
        "--cpu-version",
        "v3",
        "--exclude-groups",
        "callx",
        "--include",
        "^(add|callx|ja32)",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("SKIP  interp   callx.data"), "{text}");
    assert!(
        text.contains("SKIP  interp   ja32.data: needs CPU v4"),
        "{text}"
    );
    assert!(
        text.ends_with("2 passed, 0 failed, 311 skipped\n"),
        "{text}"
    );
}

#[test]
fn conformance_json_is_machine_readable() {
    let suite = suite();
    let output = xbpf(&[
        "conformance",
        "--suite",
        suite.join("add.data").to_str().unwrap(),
        "--engine",
        "interp",
        "--format",
        "json",
    ]);
    let text = stdout(&output);
    assert!(text.contains("\"test\": \"add.data\""), "{text}");
    assert!(text.contains("\"passed\": 1"), "{text}");
}

#[test]
fn a_failing_test_fails_the_run() {
    let test = temp_file("wrong.data", b"-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n");
    let bad_asm = temp_file("badasm.data", b"-- asm\nfrob\nexit\n-- result\n0x2\n");
    let dir = test.parent().unwrap();
    let _ = bad_asm;
    let output = xbpf(&[
        "conformance",
        "--suite",
        dir.to_str().unwrap(),
        "--engine",
        "interp",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("FAIL  interp   wrong.data: expected 0x2, got 0x1"),
        "{text}"
    );
    assert!(text.contains("FAIL  interp   badasm.data"), "{text}");
}

#[test]
fn xbpf_as_a_plugin_passes_the_suite() {
    let suite = suite();
    let plugin = format!("{} plugin", xbpf_command_words().join(" "));
    let output = xbpf(&[
        "conformance",
        "--suite",
        suite.to_str().unwrap(),
        "--plugin",
        &plugin,
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert_eq!(text.lines().last(), Some("313 passed, 0 failed"));
}

#[test]
fn plugin_speaks_the_protocol() {
    use std::io::Write;
    // ldxb r0, [r1+1]; exit
    let mut child = xbpf_command()
        .args(["plugin", "0a  0b  "])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"71  10  01  00  00  00  00  00  95  00  00  00  00  00  00  00  \n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(stdout(&output), "b\n");
    let output = xbpf(&["plugin", "--program", "ff00000000000000"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn conformance_on_every_engine_passes_everything() {
    let suite = suite();
    let output = xbpf(&[
        "conformance",
        "--suite",
        suite.to_str().unwrap(),
        "--engine",
        "all",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    let engines = if xbpf::engines::HAS_JIT { 2 } else { 1 };
    assert_eq!(
        text.lines().last().map(str::to_string),
        Some(format!("{} passed, 0 failed", 313 * engines))
    );
}

#[test]
fn the_jit_runs_programs_and_lists_its_native_code() {
    if !xbpf::engines::HAS_JIT {
        let output = xbpf(&["run", "examples/factorial.asm", "--engine", "jit"]);
        assert_eq!(output.status.code(), Some(2), "no JIT on this target");
        return;
    }
    let output = xbpf(&["run", "examples/fibonacci.asm", "--engine", "jit"]);
    assert_eq!(stdout(&output), "13\n", "{}", stderr(&output));
    let output = xbpf(&["disasm", "--jit", "examples/factorial.asm"]);
    let listing = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(listing.contains("; 2: mul %r0, %r1"), "{listing}");
    let native_multiply = if cfg!(target_arch = "aarch64") {
        "mul x"
    } else {
        "imul"
    };
    assert!(listing.contains(native_multiply), "{listing}");
    let program = temp_file("oob-jit.asm", b"mov %r0, 0\nldxdw %r0, [%r1+8]\nexit\n");
    let output = xbpf(&[
        "run",
        program.to_str().unwrap(),
        "--mem",
        "00",
        "--engine",
        "jit",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("instruction 1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn verify_accepts_safe_programs_and_explains_rejections() {
    let program = temp_file("verify-oob.asm", b"ldxdw %r0, [%r1+8]\nexit\n");
    let path = program.to_str().unwrap();
    let output = xbpf(&["verify", path, "--mem-size", "16"]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("verified"), "{}", stdout(&output));

    let output = xbpf(&["verify", path, "--mem-size", "12"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("error[out-of-bounds]: instruction 0: ldxdw %r0, [%r1+8]"),
        "{text}"
    );
    assert!(text.contains("r1 = "), "{text}");

    let output = xbpf(&["verify", path, "--mem-size", "12", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("\"check\""), "{}", stdout(&output));

    let output = xbpf(&["verify", path, "--mem-size", "12", "--format", "sarif"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("\"version\":\"2.1.0\""),
        "{}",
        stdout(&output)
    );

    let output = xbpf(&["verify", path, "--type", "nonsense"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn verify_gives_conformance_files_their_memory() {
    let suite = suite();
    let output = xbpf(&["verify", suite.join("ldxdw.data").to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));
    let output = xbpf(&[
        "verify",
        suite.join("prime.data").to_str().unwrap(),
        "--print-invariants",
    ]);
    let text = stdout(&output);
    assert!(text.contains("r0 at exit is [0, 1]"), "{text}");
    assert!(text.lines().count() > 10, "invariants are printed: {text}");
}
