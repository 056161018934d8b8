#include "config.h"
/* xattr.c — the user.* extended attributes of an inode.
 *
 * Most inodes have none, so an inode holds only a pointer; when present the
 * attributes are one array sorted by name (listxattr and snapshots need a
 * deterministic order anyway, and the sets are small). `bytes` (names plus
 * values) is counted against the per-inode and whole-tree limits. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tree/tree-internal.h"

/* Index of name, or -(insertion point) - 1. */
static long find(const Xattrs *x, const char *name) {
        long lo = 0, hi = x ? (long) x->n : 0;
        while (lo < hi) {
                long mid = lo + (hi - lo) / 2;
                int c = strcmp(x->items[mid].name, name);
                if (c == 0)
                        return mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -lo - 1;
}

const Xattr *xattrs_find(const Xattrs *x, const char *name) {
        long k = find(x, name);
        return k >= 0 ? &x->items[k] : NULL;
}

void xattrs_free(Xattrs *x) {
        if (!x)
                return;
        for (uint32_t k = 0; k < x->n; k++) {
                free(x->items[k].name);
                free(x->items[k].value);
        }
        free(x);
}

int xattrs_set(Tree *t, Inode *i, const char *name, const uint8_t *value, size_t len) {
        uint8_t *v = NULL;
        if (len > 0) {
                v = malloc(len);
                if (!v)
                        return -ENOMEM;
                memcpy(v, value, len);
        }
        long k = find(i->xattrs, name);
        if (k >= 0) {
                Xattr *x = &i->xattrs->items[k];
                i->xattrs->bytes = i->xattrs->bytes - x->len + (uint32_t) len;
                t->total_bytes = t->total_bytes - x->len + len;
                free(x->value);
                x->value = v;
                x->len = (uint32_t) len;
                return 0;
        }
        char *n = strdup(name);
        uint32_t count = i->xattrs ? i->xattrs->n : 0;
        Xattrs *xs = n ? realloc(i->xattrs, sizeof(Xattrs) + (count + 1) * sizeof(Xattr)) : NULL;
        if (!xs) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        if (!i->xattrs)
                xs->n = xs->bytes = 0;
        i->xattrs = xs;
        size_t pos = (size_t) (-k - 1);
        memmove(&xs->items[pos + 1], &xs->items[pos], (xs->n - pos) * sizeof(Xattr));
        xs->items[pos] = (Xattr) { n, v, (uint32_t) len };
        xs->n++;
        uint32_t add = (uint32_t) (strlen(name) + len);
        xs->bytes += add;
        t->total_bytes += add;
        return 0;
}

int xattrs_remove(Tree *t, Inode *i, const char *name) {
        long k = find(i->xattrs, name);
        if (k < 0)
                return -ENODATA;
        Xattrs *xs = i->xattrs;
        Xattr *x = &xs->items[k];
        uint32_t sub = (uint32_t) (strlen(x->name) + x->len);
        xs->bytes -= sub;
        t->total_bytes -= sub;
        free(x->name);
        free(x->value);
        memmove(&xs->items[k], &xs->items[k + 1], (xs->n - (size_t) k - 1) * sizeof(Xattr));
        xs->n--;
        if (xs->n == 0)
                i->xattrs = mfree(xs);
        return 0;
}

bool ephemeral_value(const uint8_t *value, size_t len) {
        return (len == 1 && value[0] == '1') || (len == 2 && value[0] == '1' && value[1] == '\n');
}
