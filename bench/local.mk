# bench/: rules for this folder (see the top-level Makefile.am).
EXTRA_DIST += bench/failover.sh bench/METADATA.md
