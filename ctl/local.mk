# ctl/: rules for this folder (see the top-level Makefile.am).
