#!/usr/bin/env bash
# Data races: the concurrency stress test (tests/concurrency.rs: threads running programs on
# every engine that update shared maps with atomics while the host reads, updates and deletes)
# built with ThreadSanitizer. Any report fails the run. Generated JIT code is not instrumented;
# the host's, the helpers' and the interpreter's accesses are.
#
# Needs a nightly toolchain with rust-src (-Zbuild-std rebuilds the standard library with the
# sanitizer); installs them when missing. Builds into target/tsan.
#
# Usage: scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add rust-src --toolchain nightly >/dev/null

host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS=-Zsanitizer=thread CARGO_TARGET_DIR=target/tsan \
  TSAN_OPTIONS="halt_on_error=1" \
  cargo +nightly test -Zbuild-std --target "$host" --release --test concurrency
