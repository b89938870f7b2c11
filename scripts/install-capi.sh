#!/usr/bin/env bash
# Builds the C API (crate xbpf-capi) in release mode and installs it under PREFIX:
#   PREFIX/include/xbpf.h
#   PREFIX/lib/libxbpf_capi.a                  static library
#   PREFIX/lib/libxbpf_capi.so (.dylib)        shared library
#   PREFIX/lib/pkgconfig/xbpf.pc               -lxbpf_capi (the shared library where both exist);
#                                              Libs.private: the static library's system libraries
#   PREFIX/lib/pkgconfig/xbpf-static.pc        the static library by path, plus those libraries
#
# Linking a C host:
#   cc host.c $(pkg-config --cflags --libs xbpf)          # shared (run with the library on the
#                                                         # loader path, e.g. LD_LIBRARY_PATH)
#   cc host.c $(pkg-config --cflags --libs xbpf-static)   # static: no run-time dependency on xbpf
#
# The system libraries the static library needs are asked from rustc
# (`--print native-static-libs`) for the host this runs on, so the .pc files are right for it.
# For Linux and macOS hosts (pkg-config is not the convention on Windows).
#
# Usage: scripts/install-capi.sh PREFIX
# Environment: DESTDIR stages the files under DESTDIR/PREFIX (the .pc files still say PREFIX);
#              CARGO_TARGET_DIR is honoured.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
prefix=$1
case "$prefix" in
  /*) ;;
  *) echo "PREFIX must be an absolute path (got $prefix)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
case "$(uname -s)" in
  Darwin) shared=libxbpf_capi.dylib ;;
  *) shared=libxbpf_capi.so ;;
esac

# One build of every crate type of the manifest (cdylib, staticlib, rlib); cargo replays the
# note on later runs, so it is there even when nothing is rebuilt.
build_log=$(cargo rustc --release --locked -p xbpf-capi -- --print native-static-libs 2>&1) || {
  printf '%s\n' "$build_log" >&2
  exit 1
}
native_libs=$(printf '%s\n' "$build_log" | sed -n 's/^note: native-static-libs: //p' | tail -n1)
if [ -z "$native_libs" ]; then
  printf '%s\n' "$build_log" >&2
  echo "rustc did not print the static library's native libraries" >&2
  exit 1
fi

dest=${DESTDIR:-}
libdir=$prefix/lib
includedir=$prefix/include
install -d "$dest$libdir/pkgconfig" "$dest$includedir"
install -m 644 capi/include/xbpf.h "$dest$includedir/xbpf.h"
install -m 644 "$target_dir/release/libxbpf_capi.a" "$dest$libdir/libxbpf_capi.a"
install -m 755 "$target_dir/release/$shared" "$dest$libdir/$shared"
if [ "$(uname -s)" = Darwin ]; then
  # rustc names the dylib @rpath/...; an installed library is found by its absolute path.
  install_name_tool -id "$libdir/$shared" "$dest$libdir/$shared"
fi

description="eBPF runtime (RFC 9669): verifier, interpreter and JITs; C API"
cat >"$dest$libdir/pkgconfig/xbpf.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: xbpf
Description: $description
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lxbpf_capi
Libs.private: $native_libs
EOF
cat >"$dest$libdir/pkgconfig/xbpf-static.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: xbpf-static
Description: $description (static library)
Version: $version
Cflags: -I\${includedir}
Libs: \${libdir}/libxbpf_capi.a $native_libs
EOF
echo "installed xbpf $version (C API) under $dest$prefix"
