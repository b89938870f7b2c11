//! Builds the C example host (examples/c-host/host.c) with the system C compiler against the
//! static library and runs it on the example object, on every engine of this build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The static library cargo built for this test run: beside the test binary in `deps/`
/// (or one level up, where `cargo build` copies it).
fn static_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let beside = deps.join("libxbpf_capi.a");
    if beside.is_file() {
        return beside;
    }
    deps.parent().unwrap().join("libxbpf_capi.a")
}

#[test]
fn c_host_builds_and_runs() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("skipped: the C host is built with the host's gcc, for x86-64 Linux only");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let library = static_library();
    assert!(
        library.is_file(),
        "static library not built at {}",
        library.display()
    );
    let out = std::env::temp_dir().join(format!("xbpf-c-host-{}", std::process::id()));
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()))
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(root.join("capi/include"))
        .arg(root.join("examples/c-host/host.c"))
        .arg(&library)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("a C compiler (gcc, or $CC) runs");
    assert!(status.success(), "the C host does not compile");
    for engine in xbpf::engines::engine_names() {
        let output = Command::new(&out)
            .arg(root.join("examples/c/maps_globals.o"))
            .arg(engine)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{engine}:\n{stdout}");
        assert!(stdout.ends_with("0 failures\n"), "{engine}:\n{stdout}");
        let passed = stdout
            .lines()
            .filter(|line| line.starts_with("ok "))
            .count();
        assert_eq!(passed, 15, "{engine}:\n{stdout}");
    }
    let _ = std::fs::remove_file(&out);
}
