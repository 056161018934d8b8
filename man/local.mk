# man/: the manual pages. They are plain man(7) sources, installed as they
# are. Tests that keep them honest:
#   tests/unit/test-man-lint.sh       mandoc and groff find nothing to warn
#                                     about; every recipe extracts and parses
#   tests/unit/test-man-drift.sh      options, commands, keys, defaults,
#                                     ranges and config examples agree with
#                                     the built programs (77 until built)
#   tests/integration/man-recipes.sh  every recipe of raftfs(7) works on a
#                                     real three-node cluster (77 without
#                                     root, /dev/fuse or a replicating build)
# man/extract-recipe.sh prints one recipe of raftfs(7) as plain shell.

dist_man_MANS += man/raftfsd.8 man/raftfsctl.8 man/raftfs.conf.5 man/raftfs.7

EXTRA_DIST += man/extract-recipe.sh

TESTS += tests/unit/test-man-lint.sh tests/unit/test-man-drift.sh \
	tests/integration/man-recipes.sh
EXTRA_DIST += tests/unit/test-man-lint.sh tests/unit/test-man-drift.sh \
	tests/integration/man-recipes.sh
