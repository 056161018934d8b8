#include "config.h"

/* read.c — synchronous entry reads for the raft core (RaftEntrySource).
 *
 * Recent entries come from the cache (which holds everything not yet
 * durable); older ones are read back from their segment with one pread per
 * run of consecutive records, and verified again (header crc, index, term,
 * length, payload crc): a disk that changed under us is -EUCLEAN, never wrong
 * data. The loop thread keeps its own read-only descriptor per segment,
 * opened on first use; an entry is only read from disk once it is durable,
 * so the file exists and holds it. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/macro.h"
#include "store/format.h"
#include "store/io.h"
#include "store/store-internal.h"

typedef struct EntryArray {
        RaftEntry *v;
        size_t n, cap;
} EntryArray;

static void entry_array_done(EntryArray *a) {
        for (size_t i = 0; i < a->n; i++)
                raft_entry_done(&a->v[i]);
        a->v = mfree(a->v);
        a->n = a->cap = 0;
}

static RaftEntry *entry_array_add(EntryArray *a) {
        if (a->n == a->cap) {
                size_t cap = MAX(a->cap * 2, (size_t) 8);
                RaftEntry *v = realloc(a->v, cap * sizeof *v);
                if (!v)
                        return NULL;
                a->v = v;
                a->cap = cap;
        }
        a->v[a->n] = (RaftEntry) {};
        return &a->v[a->n++];
}

static int seg_fd(Store *s, ViewSegment *seg) {
        char name[SEGMENT_NAME_MAX];

        if (seg->fd < 0) {
                segment_name(seg->first, name);
                seg->fd = s->io->openat(s->io->userdata, s->dirfd, name, O_RDONLY, 0);
                if (seg->fd < 0) {
                        int r = seg->fd;
                        seg->fd = -1;
                        return r == -ENOENT ? -EIO : r;
                }
        }
        return seg->fd;
}

static int copy_from_cache(Store *s, uint64_t index, RaftEntry *out) {
        const RaftEntry *e = deq_at(&s->cache, index - view_cache_first(s));

        *out = (RaftEntry) { .term = e->term, .index = e->index, .type = e->type, .len = e->len };
        if (e->len > 0) {
                out->data = malloc(e->len);
                if (!out->data)
                        return -ENOMEM;
                memcpy(out->data, e->data, e->len);
        }
        return 0;
}

static int decode_read_record(const uint8_t *p, uint64_t index, const IndexEntry *ie, RaftEntry *out,
                              uint32_t max_payload) {
        RecordHeader h;
        const char *reason;

        if (record_header_decode(p, max_payload, &h, &reason) < 0 || h.index != index ||
            h.term != ie->term || h.len != ie->len ||
            crc32c(0, p + RECORD_HEADER_SIZE, h.len) != h.data_crc)
                return -EUCLEAN;
        *out = (RaftEntry) { .term = h.term, .index = h.index, .type = h.type, .len = h.len };
        if (h.len > 0) {
                out->data = malloc(h.len);
                if (!out->data)
                        return -ENOMEM;
                memcpy(out->data, p + RECORD_HEADER_SIZE, h.len);
        }
        return 0;
}

/* Reads entries [lo, hi) (all in one segment, all durable) with one pread. */
static int read_run(Store *s, uint64_t lo, uint64_t hi, EntryArray *a) {
        ViewSegment *seg = &s->segs[view_seg_find(s, lo)];
        const IndexEntry *last = view_idx(s, hi - 1);
        uint64_t start = view_idx(s, lo)->offset;
        uint64_t end = last->offset + RECORD_HEADER_SIZE + (uint64_t) last->len;
        _cleanup_free_ uint8_t *buf = malloc(end - start);
        int fd, r;

        if (!buf)
                return -ENOMEM;
        fd = seg_fd(s, seg);
        if (fd < 0)
                return fd;
        r = io_read_all(s->io, fd, buf, end - start, start);
        if (r < 0)
                return r;
        for (uint64_t i = lo; i < hi; i++) {
                const IndexEntry *ie = view_idx(s, i);
                RaftEntry *out = entry_array_add(a);
                if (!out)
                        return -ENOMEM;
                r = decode_read_record(buf + (ie->offset - start), i, ie, out, RECORD_MAX_PAYLOAD);
                if (r < 0) {
                        a->n--;
                        return r;
                }
        }
        return 0;
}

/* Entries [lo, j) before `limit` in the segment of lo that fit the byte
 * budget; at least one when nothing was taken yet (`have_any` false). */
static uint64_t run_end(Store *s, uint64_t lo, uint64_t limit, size_t max_bytes, bool have_any,
                        uint64_t *total) {
        size_t si = view_seg_find(s, lo);
        uint64_t seg_end = si + 1 < s->n_segs ? s->segs[si + 1].first : UINT64_MAX;
        uint64_t j = lo;

        limit = MIN(limit, seg_end);
        while (j < limit) {
                uint32_t len = view_idx(s, j)->len;
                if ((have_any || j > lo) && *total + len > max_bytes)
                        break;
                *total += len;
                j++;
        }
        return j;
}

int store_entries(Store *s, uint64_t lo, uint64_t hi, size_t max_bytes,
                  RaftEntry **ret_entries, size_t *ret_n) {
        EntryArray a = {};
        uint64_t total = 0, i = lo;
        int r;

        assert(s);
        r = view_check_usable(s);
        if (r < 0)
                return r;
        if (lo >= hi || lo < s->first_index || hi > s->last_index + 1)
                return -ENOENT;

        while (i < hi && (a.n == 0 || total < max_bytes)) {
                uint64_t cf = view_cache_first(s);
                if (i >= cf) {
                        uint32_t len = ((RaftEntry *) deq_at(&s->cache, i - cf))->len;
                        RaftEntry *out;
                        if (a.n > 0 && total + len > max_bytes)
                                break;
                        out = entry_array_add(&a);
                        if (!out) {
                                r = -ENOMEM;
                                break;
                        }
                        r = copy_from_cache(s, i, out);
                        if (r < 0) {
                                a.n--;
                                break;
                        }
                        total += len;
                        i++;
                } else {
                        uint64_t j = run_end(s, i, MIN(hi, cf), max_bytes, a.n > 0, &total);
                        if (j == i)
                                break;
                        r = read_run(s, i, j, &a);
                        if (r < 0)
                                break;
                        i = j;
                }
        }
        if (r < 0) {
                entry_array_done(&a);
                return r;
        }
        *ret_entries = a.v;
        *ret_n = a.n;
        return 0;
}

static int source_term(void *userdata, uint64_t index, uint64_t *ret_term) {
        return store_term(userdata, index, ret_term);
}

static int source_entries(void *userdata, uint64_t lo, uint64_t hi, size_t max_bytes,
                          RaftEntry **ret_entries, size_t *ret_n) {
        return store_entries(userdata, lo, hi, max_bytes, ret_entries, ret_n);
}

RaftEntrySource store_entry_source(Store *s) {
        return (RaftEntrySource) {
                .userdata = s,
                .term = source_term,
                .entries = source_entries,
        };
}
