# bench/peers/: the peer benchmark clients and the bench/run driver.
# etcd-bench and raftfs-bench need only pthreads; zk-bench needs Debian's
# libzookeeper-mt-dev, which bench/run installs on demand and compiles itself
# (configure does not check for it: it is not a build dependency of raftfs).
noinst_PROGRAMS += bench/peers/etcd-bench bench/peers/raftfs-bench
bench_peers_etcd_bench_SOURCES = bench/peers/etcd-bench.c bench/peers/peer-util.c bench/peers/peer-util.h
bench_peers_etcd_bench_LDADD = $(PTHREAD_LIBS)
bench_peers_raftfs_bench_SOURCES = bench/peers/raftfs-bench.c bench/peers/peer-util.c bench/peers/peer-util.h
bench_peers_raftfs_bench_LDADD = $(PTHREAD_LIBS)
EXTRA_DIST += bench/run bench/peers/zk-bench.c bench/peers/etcd.sh bench/peers/zk.sh
