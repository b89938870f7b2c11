#!/usr/bin/env bash
# Checks what users install, as they install it (scripts/test.sh runs it):
#   - `cargo install --path .` installs an `xbpf` CLI that runs examples/factorial.asm;
#   - every publishable crate packages into a tarball that builds on its own (no ../shared, no
#     file outside the crate): `cargo package --workspace` builds each one from its tarball;
#   - scripts/install-capi.sh installs the C library, header and pkg-config files, and the C
#     example host (examples/c-host) builds with `pkg-config --cflags --libs xbpf` against the
#     shared library and with `xbpf-static` against the static one, and passes on every engine.
# Everything is installed into a temporary directory, removed at the end.
#
# Usage: scripts/package-check.sh [install] [package] [capi]     (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(install package capi)

step() { printf '\n== %s\n' "$*"; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/xbpf-package-check.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The C host prints one "ok ..." line per check and ends with "0 failures".
run_c_host() {
  local host=$1 engine=$2 output
  output=$("$host" examples/c/maps_globals.o "$engine") || {
    printf '%s\n' "$output" >&2
    echo "$host failed on engine $engine" >&2
    return 1
  }
  if [ "$(printf '%s\n' "$output" | tail -n1)" != "0 failures" ]; then
    printf '%s\n' "$output" >&2
    echo "$host reported failures on engine $engine" >&2
    return 1
  fi
  echo "$host on $engine: $(printf '%s\n' "$output" | grep -c '^ok ') checks passed"
}

for check in "${checks[@]}"; do
  case "$check" in
    install)
      step "cargo install --path . (into $scratch/root)"
      # The workspace's target directory: the release build is shared with the other steps.
      cargo install --locked --quiet --path . --root "$scratch/root" --target-dir target
      factorial=$("$scratch/root/bin/xbpf" run examples/factorial.asm)
      if [ "$factorial" != 2432902008176640000 ]; then
        echo "installed xbpf printed '$factorial' for 20!, expected 2432902008176640000" >&2
        exit 1
      fi
      echo "installed xbpf run examples/factorial.asm: $factorial"
      ;;
    package)
      step "cargo package --workspace (each crate builds from its own tarball)"
      # --allow-dirty: this checks contents, it publishes nothing.
      cargo package --workspace --allow-dirty --quiet 2>&1 |
        grep -v "is not included in the published package" || true
      for crate in target/package/*.crate; do
        if tar -tzf "$crate" | grep -E '(^|/)(tests|benches|shared)/'; then
          echo "$crate contains test data (above)" >&2
          exit 1
        fi
      done
      ls target/package/*.crate
      ;;
    capi)
      if [ "$(uname -s)" != Linux ]; then
        echo "the C library check runs on Linux (readelf, LD_LIBRARY_PATH)" >&2
        exit 2
      fi
      if ! command -v pkg-config >/dev/null; then
        step "installing pkg-config"
        sudo_cmd=()
        [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq pkg-config >/dev/null
      fi
      prefix=$scratch/prefix
      step "scripts/install-capi.sh $prefix"
      scripts/install-capi.sh "$prefix"
      export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
      cc=${CC:-cc}
      step "C host against the shared library: $cc host.c \$(pkg-config --cflags --libs xbpf)"
      # shellcheck disable=SC2046 # pkg-config prints several words on purpose
      "$cc" -std=c11 -Wall -Werror examples/c-host/host.c $(pkg-config --cflags --libs xbpf) \
        -o "$scratch/host-shared"
      readelf -d "$scratch/host-shared" | grep -q 'NEEDED.*libxbpf_capi\.so' || {
        echo "host-shared does not load libxbpf_capi.so" >&2
        exit 1
      }
      step "C host against the static library: $cc host.c \$(pkg-config --cflags --libs xbpf-static)"
      # shellcheck disable=SC2046
      "$cc" -std=c11 -Wall -Werror examples/c-host/host.c \
        $(pkg-config --cflags --libs xbpf-static) -o "$scratch/host-static"
      if readelf -d "$scratch/host-static" | grep -q 'NEEDED.*libxbpf_capi'; then
        echo "host-static still loads libxbpf_capi" >&2
        exit 1
      fi
      step "both hosts on every engine"
      for engine in interp jit; do
        LD_LIBRARY_PATH=$prefix/lib run_c_host "$scratch/host-shared" "$engine"
        run_c_host "$scratch/host-static" "$engine"
      done
      ;;
    *) echo "unknown check $check (install, package, capi)" >&2; exit 2 ;;
  esac
done
step "packaging checks green"
