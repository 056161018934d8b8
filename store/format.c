#include "config.h"

/* format.c — encoding and decoding of the store's files (spec in format.h).
 *
 * Pure functions over memory: no I/O, no allocation. The recovery scanner
 * lives here too, so that the fuzzer (tests/fuzz/fuzz-store-record.c) can
 * drive exactly the code that judges real files. Every reason string is
 * static and names what failed, for the operator's message. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/crc32c.h"
#include "store/format.h"

void segment_name(uint64_t first_index, char ret[static SEGMENT_NAME_MAX]) {
        (void) snprintf(ret, SEGMENT_NAME_MAX, "seg-%016" PRIx64, first_index);
}

bool segment_name_parse(const char *name, uint64_t *ret_first_index) {
        uint64_t v = 0;

        if (strncmp(name, "seg-", 4) != 0 || strlen(name) != 20)
                return false;
        for (const char *p = name + 4; *p; p++) {
                int d;
                if (*p >= '0' && *p <= '9')
                        d = *p - '0';
                else if (*p >= 'a' && *p <= 'f')
                        d = *p - 'a' + 10;
                else
                        return false;
                v = (v << 4) | (uint64_t) d;
        }
        *ret_first_index = v;
        return true;
}

void segment_header_encode(uint64_t first_index, uint8_t ret[static SEGMENT_HEADER_SIZE]) {
        memcpy(ret, SEGMENT_MAGIC, 8);
        le32_store(ret + 8, STORE_FORMAT_VERSION);
        le32_store(ret + 12, SEGMENT_HEADER_SIZE);
        le64_store(ret + 16, first_index);
        le32_store(ret + 24, 0);
        le32_store(ret + 28, crc32c(0, ret, 28));
}

int segment_header_decode(const uint8_t *p, size_t len, uint64_t *ret_first_index,
                          const char **ret_reason) {
        const char *reason = NULL;

        if (len < SEGMENT_HEADER_SIZE)
                reason = "file shorter than a segment header";
        else if (memcmp(p, SEGMENT_MAGIC, 8) != 0)
                reason = "bad segment magic";
        else if (le32_load(p + 28) != crc32c(0, p, 28))
                reason = "segment header CRC mismatch";
        else if (le32_load(p + 8) != STORE_FORMAT_VERSION)
                reason = "unsupported segment format version";
        else if (le32_load(p + 12) != SEGMENT_HEADER_SIZE || le32_load(p + 24) != 0)
                reason = "bad segment header fields";
        if (reason) {
                *ret_reason = reason;
                return -EBADMSG;
        }
        *ret_first_index = le64_load(p + 16);
        return 0;
}

void record_header_encode(const RaftEntry *e, uint8_t p[static RECORD_HEADER_SIZE]) {
        le32_store(p + 4, e->len);
        le64_store(p + 8, e->index);
        le64_store(p + 16, e->term);
        p[24] = e->type;
        p[25] = 0;
        le16_store(p + 26, 0);
        le32_store(p + 28, 0);
        le32_store(p + 32, 0);
        le32_store(p, 0);
}

void record_seal(uint8_t *p, uint32_t batch_start) {
        le32_store(p + RECORD_BATCH_START_OFFSET, batch_start);
        le32_store(p + 32, crc32c(0, p + RECORD_HEADER_SIZE, le32_load(p + 4)));
        le32_store(p, crc32c(0, p + 4, RECORD_HEADER_SIZE - 4));
}

static bool entry_type_valid(uint8_t t) {
        return t == RAFT_ENTRY_NORMAL || t == RAFT_ENTRY_NOOP || t == RAFT_ENTRY_CONF;
}

int record_header_decode(const uint8_t p[static RECORD_HEADER_SIZE], uint32_t max_payload,
                         RecordHeader *ret, const char **ret_reason) {
        const char *reason = NULL;

        if (le32_load(p) != crc32c(0, p + 4, RECORD_HEADER_SIZE - 4))
                reason = "record header CRC mismatch";
        else if (p[25] != 0 || le16_load(p + 26) != 0)
                reason = "record flags or reserved bytes not zero";
        else if (!entry_type_valid(p[24]))
                reason = "unknown record type";
        else if (le32_load(p + 4) > max_payload)
                reason = "record length over the limit";
        if (reason) {
                *ret_reason = reason;
                return -EBADMSG;
        }
        *ret = (RecordHeader) {
                .len = le32_load(p + 4),
                .index = le64_load(p + 8),
                .term = le64_load(p + 16),
                .type = p[24],
                .batch_start = le32_load(p + RECORD_BATCH_START_OFFSET),
                .data_crc = le32_load(p + 32),
        };
        return 0;
}

/* The expectations a record at `off` must meet, given what precedes it. */
typedef struct ScanCursor {
        uint64_t next_index;
        uint64_t term;
        uint32_t batch_start;   /* of the previous record, 0 before the first */
} ScanCursor;

static const char *record_check(const uint8_t *data, size_t len, uint64_t off,
                                const ScanCursor *c, uint32_t max_payload, RecordHeader *ret) {
        const char *reason = NULL;

        if (len - off < RECORD_HEADER_SIZE)
                return "incomplete record header at the end of the file";
        if (record_header_decode(data + off, max_payload, ret, &reason) < 0)
                return reason;
        if (ret->len > len - off - RECORD_HEADER_SIZE)
                return "record extends past the end of the file";
        if (ret->index != c->next_index)
                return "record index does not follow the previous one";
        if (ret->term < c->term)
                return "record term lower than the previous one";
        if (ret->batch_start > off || ret->batch_start < SEGMENT_HEADER_SIZE ||
            (ret->batch_start != off && ret->batch_start != c->batch_start))
                return "record batch start inconsistent";
        if (crc32c(0, data + off + RECORD_HEADER_SIZE, ret->len) != ret->data_crc)
                return "record payload CRC mismatch";
        return NULL;
}

/* Is there a valid record after `bad` that belongs to a batch begun after
 * `bad`? Such a record proves that the batch holding `bad` was synced (the
 * writer starts a batch only after the previous fdatasync), so the failure
 * at `bad` is damage, not a torn write. Cheap field checks come before the
 * CRCs, so scanning a tail of garbage or zeros stays fast. */
static bool later_batch_exists(const uint8_t *data, size_t len, uint64_t bad, uint32_t max_payload) {
        for (uint64_t p = bad + 1; p + RECORD_HEADER_SIZE <= len; p++) {
                const uint8_t *h = data + p;
                uint32_t bs = le32_load(h + RECORD_BATCH_START_OFFSET);
                uint32_t n = le32_load(h + 4);
                RecordHeader rh;
                const char *reason;

                if (bs <= bad || bs > p || n > len - p - RECORD_HEADER_SIZE)
                        continue;
                if (record_header_decode(h, max_payload, &rh, &reason) < 0)
                        continue;
                if (crc32c(0, h + RECORD_HEADER_SIZE, rh.len) == rh.data_crc)
                        return true;
        }
        return false;
}

int segment_scan(const uint8_t *data, size_t len, uint64_t expected_first, uint64_t prev_term,
                 uint32_t max_payload, bool is_last, ScanRecordFn fn, void *userdata,
                 ScanResult *ret) {
        ScanResult res = { .status = SCAN_CORRUPT };
        ScanCursor c = { .next_index = expected_first, .term = prev_term };
        const char *reason = NULL;
        uint64_t first, off = SEGMENT_HEADER_SIZE;
        RecordHeader h;

        if (segment_header_decode(data, len, &first, &reason) < 0) {
                res.reason = reason;
                *ret = res;
                return 0;
        }
        if (first != expected_first) {
                res.end = 16;
                res.reason = "first index in the segment header differs from the file name";
                *ret = res;
                return 0;
        }

        while (off < len) {
                reason = record_check(data, len, off, &c, max_payload, &h);
                if (reason)
                        break;
                if (fn) {
                        int r = fn(userdata, &h, off, data + off + RECORD_HEADER_SIZE);
                        if (r < 0)
                                return r;
                }
                c.next_index++;
                c.term = h.term;
                c.batch_start = h.batch_start;
                res.n_records++;
                res.last_term = h.term;
                off += RECORD_HEADER_SIZE + h.len;
        }

        res.end = off;
        if (off == len)
                res.status = SCAN_CLEAN;
        else if (!is_last)
                res.reason = reason;
        else if (later_batch_exists(data, len, off, max_payload)) {
                res.reason = reason;
        } else {
                res.status = SCAN_TORN;
                res.reason = reason;
        }
        *ret = res;
        return 0;
}

void meta_encode(const RaftHardState *hs, uint8_t ret[static META_SIZE]) {
        memcpy(ret, META_MAGIC, 8);
        le32_store(ret + 8, STORE_FORMAT_VERSION);
        le32_store(ret + 12, 0);
        le64_store(ret + 16, hs->term);
        le64_store(ret + 24, hs->vote);
        le64_store(ret + 32, hs->commit);
        le32_store(ret + 40, 0);
        le32_store(ret + 44, crc32c(0, ret, 44));
}

int meta_decode(const uint8_t *p, size_t len, RaftHardState *ret, const char **ret_reason) {
        const char *reason = NULL;

        if (len != META_SIZE)
                reason = "meta file has the wrong size";
        else if (memcmp(p, META_MAGIC, 8) != 0)
                reason = "bad meta magic";
        else if (le32_load(p + 44) != crc32c(0, p, 44))
                reason = "meta CRC mismatch";
        else if (le32_load(p + 8) != STORE_FORMAT_VERSION)
                reason = "unsupported meta format version";
        else if (le32_load(p + 12) != 0 || le32_load(p + 40) != 0)
                reason = "meta reserved bytes not zero";
        if (reason) {
                *ret_reason = reason;
                return -EBADMSG;
        }
        *ret = (RaftHardState) {
                .term = le64_load(p + 16),
                .vote = le64_load(p + 24),
                .commit = le64_load(p + 32),
        };
        return 0;
}

void snapshot_header_encode(const SnapshotHeader *h, const uint8_t *conf,
                            uint8_t ret[static SNAPSHOT_HEADER_SIZE]) {
        memcpy(ret, SNAPSHOT_MAGIC, 8);
        le32_store(ret + 8, STORE_FORMAT_VERSION);
        le32_store(ret + 12, h->conf_len);
        le64_store(ret + 16, h->index);
        le64_store(ret + 24, h->term);
        le64_store(ret + 32, h->data_len);
        le32_store(ret + 40, h->data_crc);
        le32_store(ret + 44, crc32c(crc32c(0, ret, 44), conf, h->conf_len));
}

int snapshot_header_decode(const uint8_t *p, size_t len, uint32_t max_conf,
                           SnapshotHeader *ret, const char **ret_reason) {
        const char *reason = NULL;

        if (len < SNAPSHOT_HEADER_SIZE)
                reason = "snapshot file shorter than its header";
        else if (memcmp(p, SNAPSHOT_MAGIC, 8) != 0)
                reason = "bad snapshot magic";
        else if (le32_load(p + 8) != STORE_FORMAT_VERSION)
                reason = "unsupported snapshot format version";
        else if (le32_load(p + 12) > max_conf)
                reason = "snapshot conf length over the limit";
        if (reason) {
                *ret_reason = reason;
                return -EBADMSG;
        }
        *ret = (SnapshotHeader) {
                .conf_len = le32_load(p + 12),
                .index = le64_load(p + 16),
                .term = le64_load(p + 24),
                .data_len = le64_load(p + 32),
                .data_crc = le32_load(p + 40),
        };
        return 0;
}

int snapshot_header_verify(const uint8_t p[static SNAPSHOT_HEADER_SIZE], const uint8_t *conf,
                           uint32_t conf_len) {
        uint32_t crc = crc32c(crc32c(0, p, 44), conf, conf_len);
        return le32_load(p + 44) == crc ? 0 : -EBADMSG;
}
