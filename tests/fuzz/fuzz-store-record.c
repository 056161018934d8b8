#include "config.h"
/* fuzz-store-record.c — drives the store's decoders and its recovery scanner
 * (store/format.c) with arbitrary bytes.
 *
 * Input: one flag byte, then the contents of a segment file.
 *   bit 0: scan as the last segment (a torn tail is allowed)
 *   bit 1: repair the checksums first (segment header and every record whose
 *          length fits), so the fuzzer reaches the checks behind the CRCs:
 *          index order, term order, batch starts, lengths
 *   bits 2-7: the term of the record before the segment
 * The same bytes are also given to the meta and snapshot header decoders.
 * Checks: nothing is read out of bounds (ASan), records are reported in
 * order inside the input, the result is one of the three statuses with a
 * consistent end offset, and a scan is deterministic. */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/crc32c.h"
#include "store/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Seen {
        size_t len;
        uint64_t next_off;
        uint64_t n;
        uint64_t last_index;
} Seen;

static int on_record(void *userdata, const RecordHeader *h, uint64_t offset, const uint8_t *payload) {
        Seen *s = userdata;

        assert(offset >= s->next_off);
        assert(offset + RECORD_HEADER_SIZE + h->len <= s->len);
        assert(s->n == 0 || h->index == s->last_index + 1);
        if (h->len > 0)
                assert(payload[h->len - 1] == payload[h->len - 1]);     /* in bounds for ASan */
        s->next_off = offset + RECORD_HEADER_SIZE + h->len;
        s->last_index = h->index;
        s->n++;
        return 0;
}

static void repair(uint8_t *p, size_t len) {
        if (len < SEGMENT_HEADER_SIZE)
                return;
        le32_store(p + 28, crc32c(0, p, 28));
        for (size_t off = SEGMENT_HEADER_SIZE; off + RECORD_HEADER_SIZE <= len; ) {
                uint32_t n = le32_load(p + off + 4);
                if (n > len - off - RECORD_HEADER_SIZE)
                        break;
                le32_store(p + off + 32, crc32c(0, p + off + RECORD_HEADER_SIZE, n));
                le32_store(p + off, crc32c(0, p + off + 4, RECORD_HEADER_SIZE - 4));
                off += RECORD_HEADER_SIZE + n;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t flags, *seg;
        size_t len;
        uint64_t first = 1;
        ScanResult a, b;
        Seen seen;
        RaftHardState hs;
        SnapshotHeader sh;
        const char *reason;

        if (size == 0 || size > (1u << 20))
                return 0;
        flags = data[0];
        len = size - 1;
        seg = malloc(len ? len : 1);
        if (!seg)
                return 0;
        memcpy(seg, data + 1, len);
        if (flags & 2)
                repair(seg, len);
        if (len >= 24)
                first = le64_load(seg + 16);

        seen = (Seen) { .len = len, .next_off = SEGMENT_HEADER_SIZE };
        assert(segment_scan(seg, len, first, flags >> 2, 1u << 20, flags & 1, on_record, &seen, &a) == 0);
        assert(a.status == SCAN_CLEAN || a.status == SCAN_TORN || a.status == SCAN_CORRUPT);
        assert(a.end <= len);
        assert(a.n_records == seen.n);
        if (a.status == SCAN_CLEAN)
                assert(a.end == len && !a.reason);
        else
                assert(a.reason);
        if (a.status == SCAN_TORN)
                assert(flags & 1);
        if (seen.n > 0)
                assert(a.end == seen.next_off);
        assert(segment_scan(seg, len, first, flags >> 2, 1u << 20, flags & 1, NULL, NULL, &b) == 0);
        assert(a.status == b.status && a.end == b.end && a.n_records == b.n_records);

        (void) meta_decode(seg, len, &hs, &reason);
        if (snapshot_header_decode(seg, len, 1u << 20, &sh, &reason) == 0 && len >= SNAPSHOT_HEADER_SIZE &&
            sh.conf_len <= len - SNAPSHOT_HEADER_SIZE)
                (void) snapshot_header_verify(seg, seg + SNAPSHOT_HEADER_SIZE, sh.conf_len);
        free(seg);
        return 0;
}
