#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then format check, clippy, the
# API docs, every test, a fuzz smoke, ThreadSanitizer on the concurrency stress test
# (scripts/tsan.sh), the bpf_conformance suite on every engine of this build, the packaging
# checks (scripts/package-check.sh), and the tests again on ARM64 Linux (qemu) and Windows x64
# (Wine) via scripts/cross.sh.
#
# Usage: scripts/test.sh            (from the repository root; ../shared must hold the suite)
# Environment: XBPF_SUITE overrides the conformance suite directory.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${XBPF_SUITE:-../shared/conformance/tests}

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --release -- -D warnings

step "cargo doc (every public item documented, no rustdoc warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "cargo test"
cargo test --workspace --release

step "differential test: interpreter vs JIT on 100,000 random programs"
XBPF_DIFF_CASES=100000 cargo test --release -p xbpf-jit --test differential

step "verifier soundness: 100,000 generated programs on the interpreter and the unchecked JIT"
XBPF_JIT_SOUNDNESS_CASES=100000 cargo test --release -p xbpf-verifier --test unchecked_jit_soundness

step "fuzz smoke: every fuzz target for 20 s"
scripts/fuzz.sh --smoke

step "data races: the concurrency stress test under ThreadSanitizer"
scripts/tsan.sh

step "benchmarks: build, then run each once with its result checks (criterion --test)"
cargo bench --benches -- --test

step "conformance suite on every engine ($suite)"
if [ ! -d "$suite" ]; then
  echo "conformance suite not found at $suite (set XBPF_SUITE)" >&2
  exit 1
fi
target/release/xbpf conformance --suite "$suite" --engine all | grep -v "^PASS "
for engine in interp jit; do
  target/release/xbpf conformance --suite "$suite" --plugin "target/release/xbpf plugin --engine $engine" | grep -v "^PASS "
done

step "packaging: cargo install, crate tarballs, the C library with pkg-config"
scripts/package-check.sh

step "the same tests on ARM64 (qemu) and Windows x64 (Wine); macOS and no_std type-checks"
scripts/cross.sh aarch64 windows macos nostd

step "all green"
