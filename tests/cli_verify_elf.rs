//! `xbpf verify` on ELF objects and on a corpus table: program listing, selection, exit codes
//! (0 safe, 1 rejected, 2 unloadable or bad usage), source lines, JSON and SARIF, and the
//! corpus summary ending with `N passed, N failed`.

use std::path::PathBuf;
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

fn corpus(path: &str) -> String {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/verifier-corpus"
    ));
    assert!(
        dir.join("expected.tsv").exists(),
        "the verifier corpus is missing: expected {}/expected.tsv",
        dir.display()
    );
    dir.join(path).to_string_lossy().into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_program_of_an_object_is_listed_and_verified() {
    let output = xbpf(&["verify", &corpus("build/bpf2bpf.o")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for name in [".text/add1", ".text/add2", "test/func"] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert_eq!(text.matches("verified").count(), 3, "{text}");
}

#[test]
fn a_rejection_names_the_check_and_the_source_line() {
    let object = corpus("build/nullmapref.o");
    let output = xbpf(&["verify", &object]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("error[maybe-null]"), "{text}");
    assert!(text.contains("nullmapref.c:23"), "{text}");
    let json = stdout(&xbpf(&["verify", &object, "--format", "json"]));
    assert!(json.contains("\"accepted\":false") || json.contains("\"accepted\": false"));
    assert!(json.contains("maybe-null"), "{json}");
    let sarif = stdout(&xbpf(&["verify", &object, "--format", "sarif"]));
    assert!(sarif.contains("\"2.1.0\""), "{sarif}");
    assert!(sarif.contains("test/test_repro"), "{sarif}");
}

#[test]
fn sections_and_functions_select_programs() {
    let object = corpus("cilium/bpf_xdp_dsr_linux.o");
    let output = xbpf(&["verify", &object, "--section", "2/17"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("2/17/tail_rev_nodeport_lb4 (xdp,"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let output = xbpf(&["verify", &object, "--section", "no-such-section"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no program matches"));
    // A type named on the command line replaces the section's.
    let output = xbpf(&[
        "verify",
        &corpus("build/packet_access.o"),
        "--type",
        "sock_ops",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[test]
fn malformed_objects_fail_to_load() {
    let output = xbpf(&["verify", &corpus("build/badrelo.o")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("relocation"));
}

#[test]
fn pointer_leaks_are_an_option() {
    let object = corpus("build/exposeptr.o");
    assert_eq!(xbpf(&["verify", &object]).status.code(), Some(1));
    assert_eq!(
        xbpf(&["verify", &object, "--allow-pointer-leaks"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_corpus_table_is_run_and_summarised() {
    let dir = std::env::temp_dir().join(format!("xbpf-cli-corpus-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("build")).unwrap();
    for object in ["bpf2bpf.o", "nullmapref.o", "badrelo.o", "wronghelper.o"] {
        // Read and write rather than `fs::copy`: a copy keeps the source's
        // read-only attribute, which forbids deleting the file on Windows.
        let bytes = std::fs::read(corpus(&format!("build/{object}"))).unwrap();
        std::fs::write(dir.join("build").join(object), bytes).unwrap();
    }
    let table = dir.join("expected.tsv");
    std::fs::write(
        &table,
        "object\tsection\tfunction\texpected\tnote\n\
         build/bpf2bpf.o\ttest\tfunc\tpass\t\n\
         build/badrelo.o\t.text\tfunc\treject_load\t\n\
         build/wronghelper.o\txdp\tfunc\treject\t\n\
         build/nullmapref.o\ttest\ttest_repro\tpass\t\n",
    )
    .unwrap();
    let output = xbpf(&["verify", "--corpus", table.to_str().unwrap(), "--jobs", "2"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.lines().last() == Some("3 passed, 1 failed"), "{text}");
    assert!(
        text.contains("build/nullmapref.o test/test_repro"),
        "{text}"
    );
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.contains("peak MiB"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
