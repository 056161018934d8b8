# tree/: the replicated file-system state machine (pure: no I/O, no clocks).
noinst_LIBRARIES += tree/libtree.a
tree_libtree_a_SOURCES = \
	tree/tree.h \
	tree/tree-internal.h \
	tree/apply.c \
	tree/cmd.c \
	tree/itable.c \
	tree/lock.c \
	tree/ns.c \
	tree/session.c \
	tree/snapshot.c \
	tree/tree.c \
	tree/xattr.c
