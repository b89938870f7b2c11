#!/usr/bin/env bash
# Runs the test suite on other targets, for real, under emulation:
#   ARM64 Linux   (aarch64-unknown-linux-gnu) under qemu user-mode emulation, on a CPU with the
#                 LSE atomics and on one without, plus the JIT differential test on 100,000
#                 programs and the conformance suite on every engine
#   Windows x64   (x86_64-pc-windows-gnu)     under Wine
# and type-checks what cannot run here:
#   macOS         (x86_64-apple-darwin, aarch64-apple-darwin): cargo check of lib, bin, tests
#   no_std        the crates embedded hosts use (xbpf-isa, xbpf-interp, xbpf-verifier), built
#                 without std for x86_64-unknown-none and for a 32-bit microcontroller
#                 (thumbv7em-none-eabihf, which has no 64-bit atomics)
# Installs what it needs (Debian packages, rustup targets) and builds the Wine shim.
#
# Usage: scripts/cross.sh [aarch64] [windows] [macos] [nostd]     (default: all)
# Environment: XBPF_SUITE overrides the conformance suite directory.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${XBPF_SUITE:-../shared/conformance/tests}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64 windows macos nostd)

step() { printf '\n== %s\n' "$*"; }

need_packages=()
for target in "${targets[@]}"; do
  case "$target" in
    aarch64)
      command -v qemu-aarch64 >/dev/null || need_packages+=(qemu-user)
      command -v aarch64-linux-gnu-gcc >/dev/null || need_packages+=(gcc-aarch64-linux-gnu)
      [ -d /usr/aarch64-linux-gnu/lib ] || need_packages+=(libc6-dev-arm64-cross)
      ;;
    windows)
      command -v x86_64-w64-mingw32-gcc >/dev/null || need_packages+=(gcc-mingw-w64-x86-64)
      command -v wine >/dev/null || need_packages+=(wine wine64)
      ;;
    macos|nostd) ;;
    *) echo "unknown target $target (aarch64, windows, macos, nostd)" >&2; exit 2 ;;
  esac
done
if [ ${#need_packages[@]} -gt 0 ]; then
  step "installing ${need_packages[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

for target in "${targets[@]}"; do
  case "$target" in
    aarch64)
      triple=aarch64-unknown-linux-gnu
      rustup target add "$triple" >/dev/null 2>&1
      # qemu's default CPU ("max") has the ARMv8.1 LSE atomics; a Cortex-A53 is ARMv8.0
      # without them, so the JIT's run-time choice takes its other path there.
      lse_runner="qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu"
      baseline_runner="qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu"
      step "tests on ARM64 Linux (qemu-aarch64 -cpu max: LSE atomics)"
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$lse_runner" XBPF_TEST_RUNNER="$lse_runner" \
        cargo test --workspace --release --target "$triple"
      step "ARM64 differential test: interpreter vs JIT (with and without LSE) on 100,000 random programs"
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$lse_runner" XBPF_DIFF_CASES=100000 \
        cargo test --release --target "$triple" -p xbpf-jit --test differential
      # Only JIT code depends on the CPU's atomics, so only the JIT's tests run again here.
      step "JIT tests on ARM64 Linux without LSE (qemu-aarch64 -cpu cortex-a53)"
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$baseline_runner" \
        XBPF_TEST_RUNNER="$baseline_runner" \
        cargo test --release --target "$triple" -p xbpf-jit
      for runner in "$lse_runner" "$baseline_runner"; do
        step "conformance suite on every engine under $runner ($suite)"
        $runner "target/$triple/release/xbpf" conformance --suite "$suite" --engine all |
          grep -v "^PASS "
      done
      ;;
    windows)
      triple=x86_64-pc-windows-gnu
      rustup target add "$triple" >/dev/null 2>&1
      shim=target/wine-shim
      mkdir -p "$shim"
      x86_64-w64-mingw32-gcc -O2 -shared -o "$shim/bcryptprimitives.dll" \
        scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32
      export WINEPATH="$PWD/$shim" WINEDEBUG=-all
      wineboot --init >/dev/null 2>&1 || true
      step "tests on Windows x64 (Wine)"
      cargo test --workspace --release --target "$triple"
      ;;
    macos)
      for triple in x86_64-apple-darwin aarch64-apple-darwin; do
        rustup target add "$triple" >/dev/null 2>&1
        step "type-check for $triple (lib, bin, tests, examples)"
        cargo check --workspace --lib --bins --tests --examples --target "$triple"
      done
      ;;
    nostd)
      for triple in x86_64-unknown-none thumbv7em-none-eabihf; do
        rustup target add "$triple" >/dev/null 2>&1
        step "no_std builds ($triple)"
        cargo build --release --no-default-features --target "$triple" \
          -p xbpf-isa -p xbpf-interp -p xbpf-verifier
      done
      ;;
  esac
done
step "cross-target tests green"
