#!/bin/bash
# fusefs-conformance.sh — a POSIX conformance run on the mount of a 3-node
# cluster: CPython's own file-system regression tests (Debian package
# libpython3.11-testsuite: test_os, test_posix, test_shutil, test_tempfile,
# test_fileio, test_io, test_pathlib, test_glob, test_stat, test_fileinput,
# test_filecmp, test_zipfile, test_tarfile), run with their temporary files on
# a follower's mount (linearizable), with the default limits (1 MiB files:
# the suites' few larger files fail with EFBIG, and whatever reuses their
# leftovers; raising the limit makes multi-MiB commits that a loaded 2-core
# machine does not replicate within op_timeout).
#
# Known failures, by design (each is checked to be the only kind seen):
#   test_utime*                    the tree keeps no atime (reported = mtime)
#   test_copy_file_range*, test_splice_offset_out
#                                  they read a file through a second descriptor
#                                  while the writing one is still open: data is
#                                  committed (visible) at close/fsync only
#   test_copytree_named_pipe and the tests that reuse its leftover directory
#                                  no FIFOs (EPERM: regular files, directories
#                                  and symlinks only)
#   test_sparse_file_*             no holes: st_blocks counts every byte
#   "File too large" (TestCopyFileObj, TestZeroCopySendfile,
#   test_large_file_ops, two zipfile tests)   files over max_file_size
# Skipped (exit 77) when the test suite is not installed.
. "$(dirname "$0")/fusefs-lib.sh"

PY=/usr/bin/python3.11
[ -x "$PY" ] && [ -f /usr/lib/python3.11/test/test_os.py ] ||
        skip "libpython3.11-testsuite not installed"

# Without -v: in linearizable mode every path step of the suites' many
# stat()s waits for a read barrier, and debug-logging each raft message of
# those barriers would be most of the run's cost.
start_node() {
        "$RAFTFSD" -c "$T/$1/raftfs.conf" >>"$T/$1/raftfsd.log" 2>&1 &
        echo $! >"$T/$1/pid"
        PIDS="$PIDS $!"
}

mount_cluster n1 n2 n3
F=$(mnt n2)
t0=$(date +%s)
modules="test_os test_posix test_shutil test_tempfile test_fileio test_io test_pathlib test_glob
         test_stat test_fileinput test_filecmp test_zipfile test_tarfile"
log "CPython file-system tests on $F"
( cd "$F" && TMPDIR=$F timeout 900 "$PY" -m test -v $modules ) >"$T/conformance.log" 2>&1 || true
grep -E "^(FAIL|ERROR):" "$T/conformance.log" | sort >"$T/failed"
ok=$(grep -c '\.\.\. ok$' "$T/conformance.log" || true)
skipped=$(grep -c '\.\.\. skipped' "$T/conformance.log" || true)
echo "$ok passed, $(wc -l <"$T/failed") failed, $skipped skipped in $(( $(date +%s) - t0 )) s"
cat "$T/failed"
unexpected=$(grep -Ev 'test_utime|test_copy_file_range|test_splice_offset_out|test_copytree_named_pipe|File too large|TestCopyFileObj|TestZeroCopySendfile|test_large_file|test_append_to_concatenated_zip_file|test_destinsrc_false|test_rmtree_does_not_choke|test_rmtree_on_symlink|test_sparse_file|test_write_filtered_python_package' "$T/failed" || true)
[ -z "$unexpected" ] || fail "unexpected failures: $unexpected"
[ "$ok" -gt 2000 ] || fail "only $ok tests passed"
echo PASS
