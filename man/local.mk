# man/: the manual pages. They are plain man(7) sources, installed as they
# are. tests/unit/test-man-lint.sh keeps them clean for mandoc and groff;
# tests/unit/test-man-drift.sh checks them against what the programs accept;
# man/extract-recipe.sh gives the integration tests the recipes of raftfs(7).

dist_man_MANS += man/raftfsd.8 man/raftfsctl.8 man/raftfs.conf.5 man/raftfs.7

EXTRA_DIST += man/extract-recipe.sh

TESTS += tests/unit/test-man-lint.sh tests/unit/test-man-drift.sh
EXTRA_DIST += tests/unit/test-man-lint.sh tests/unit/test-man-drift.sh
