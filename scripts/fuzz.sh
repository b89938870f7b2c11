#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer): seeds the corpora from the shared test data, builds the
# targets of fuzz/ and runs them. Installs what it needs (cargo-fuzz; the nightly toolchain,
# falling back to stable with RUSTC_BOOTSTRAP=1 when nightly cannot be installed).
#
# Usage:
#   scripts/fuzz.sh --smoke             checks the fuzz crate (fmt, clippy, its tests: every target
#                                       on the shared test data, on stable), then runs every target
#                                       for XBPF_FUZZ_SMOKE_SECONDS (default 20) each: the bounded
#                                       run CI does
#   scripts/fuzz.sh TARGET [SECONDS]    one target for SECONDS (default 600): long campaigns,
#                                       e.g. scripts/fuzz.sh soundness 3600
#   scripts/fuzz.sh --list              the targets
#
# Targets (fuzz/fuzz_targets/): decode, assemble, differential, verify, soundness,
# conformance_data, elf. Their input formats are described in fuzz/src/case.rs and targets.rs.
#
# Corpora grow in fuzz/corpus/TARGET (gitignored). A crash stops the run with a non-zero exit
# status and leaves the input in fuzz/artifacts/TARGET/; reproduce it with
#   cargo +nightly fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...
# or on stable, without sanitizer, with timing:
#   cargo run --release --manifest-path fuzz/Cargo.toml --example replay -- TARGET FILE...
# Builds are release builds with debug assertions (overflow checks) and AddressSanitizer.
#
# Environment: XBPF_SHARED (default ../shared: the conformance suite and verifier corpus the
# seeds come from), XBPF_FUZZ_SMOKE_SECONDS, XBPF_FUZZ_NICE (default 19: the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."

shared=${XBPF_SHARED:-../shared}
smoke_seconds=${XBPF_FUZZ_SMOKE_SECONDS:-20}
niceness=${XBPF_FUZZ_NICE:-19}

step() { printf '\n== %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage

# The toolchain: nightly if present or installable, else stable with RUSTC_BOOTSTRAP=1 (the
# -Z flags cargo-fuzz passes are nightly-only otherwise).
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
elif rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "fuzz.sh: no nightly toolchain and none can be installed: using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

fuzz() { cargo "${toolchain[@]}" fuzz "$@"; }

targets=$(fuzz list)
if [ "$1" = "--list" ]; then
  echo "$targets"
  exit 0
fi

step "seed corpora from $shared"
python3 fuzz/seeds.py "$shared"

# run TARGET SECONDS: one bounded libFuzzer run on the target's corpus (the seeds and what
# earlier runs added).
run() {
  local target=$1 seconds=$2
  step "fuzz $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  nice -n "$niceness" cargo "${toolchain[@]}" fuzz run -a "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1
}

step "build the fuzz targets"
nice -n "$niceness" cargo "${toolchain[@]}" fuzz build -a

case "$1" in
  --smoke)
    # fuzz/ is a workspace of its own: the main workspace's fmt, clippy and tests skip it.
    step "fuzz crate: fmt, clippy, tests (stable)"
    cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
    cargo test --manifest-path fuzz/Cargo.toml --release
    for target in $targets; do
      run "$target" "$smoke_seconds"
    done
    step "fuzz smoke: every target ran ${smoke_seconds}s without a crash"
    ;;
  -*) usage ;;
  *)
    grep -qx "$1" <<<"$targets" || { echo "unknown target $1; targets: $(echo $targets)" >&2; exit 2; }
    run "$1" "${2:-600}"
    ;;
esac
