#!/usr/bin/env bash
# build.sh [BUILDDIR [CONFIGURE-ARGS...]] — configures (once) and builds raftfs
# out of tree. Default BUILDDIR is build/ in the source tree. Idempotent: a
# second run only rebuilds what changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-$top/build}
shift || true

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
        autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$builddir"
cd "$builddir"
if [ ! -f Makefile ]; then
        "$top/configure" -q --enable-werror "$@"
fi
make -j"$(nproc)" all
