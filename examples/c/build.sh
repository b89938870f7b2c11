#!/bin/sh
# Rebuilds the example objects from their C sources, and the embedding example's plugin
# (../host/plugin.o). The .o files are committed so tests run without clang. Needs clang 19
# with the BPF target.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
for source in *.c ../host/plugin.c; do
    "$CLANG" -O2 -g -target bpf -mcpu=v4 -c "$source" -o "${source%.c}.o"
done
