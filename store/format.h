/* format.h — the on-disk formats of store/, as pure encode/decode functions.
 *
 * All integers little-endian (lib/codec.h), all checksums CRC-32C. Version 1.
 *
 * Segment file "seg-<first index as 16 lower-case hex digits>":
 *   header, 32 bytes
 *     0  8  magic "RFSSEG\r\n"
 *     8  4  version (1)
 *    12  4  header size (32)
 *    16  8  first index: the index of the first record; equals the name
 *    24  4  reserved, 0
 *    28  4  crc32c of bytes 0..27
 *   then records back to back, each a 36-byte header and the payload:
 *     0  4  header crc: crc32c of bytes 4..35
 *     4  4  payload length
 *     8  8  index (the segment's first index, +1 per record)
 *    16  8  term (never decreasing)
 *    24  1  type (RaftEntryType)
 *    25  1  flags, 0
 *    26  2  reserved, 0
 *    28  4  batch start: offset in this file of the first record of the write
 *           that carried this record (the writer issues one write and one
 *           fdatasync per batch; the next batch is written only after the
 *           previous one's fdatasync returned)
 *    32  4  payload crc: crc32c of the payload
 *   A segment is created complete with its header (temporary file, fsync,
 *   rename, fsync directory), so a segment name always has a valid header.
 *   The end of the data is the end of the file.
 *
 * Telling a torn write from damage: only the last batch of the last segment
 * can be incomplete after a crash, and it may be incomplete in any pattern
 * (pages reach the disk in any order). The scanner stops at the first record
 * that does not verify, at offset X. In the last segment, X is the torn tail
 * unless some later, valid record names a batch start after X — proof that
 * a later batch was written, hence X's batch had been synced before. Anything
 * that does not verify in an earlier segment is damage. (Damage inside the
 * very last batch looks like a torn write and is cut off; no format can tell
 * the two apart without a second sync per write.)
 *
 * Meta file "meta", 48 bytes, replaced by rename:
 *     0  8  magic "RFSMETA\n"
 *     8  4  version (1)
 *    12  4  reserved, 0
 *    16  8  term    24  8  vote    32  8  commit
 *    40  4  reserved, 0
 *    44  4  crc32c of bytes 0..43
 *
 * Snapshot file "snapshot", replaced by rename:
 *     0  8  magic "RFSSNAP\n"
 *     8  4  version (1)
 *    12  4  conf length C
 *    16  8  index   24  8  term  (the last entry the state covers: the
 *                                 applied index and its state are one file)
 *    32  8  data length D
 *    40  4  crc32c of the data
 *    44  4  crc32c of bytes 0..43 followed by the conf bytes
 *    48  C  conf (membership at index, opaque to store/)
 *  48+C  D  data (state machine image, opaque to store/)
 *   The file is exactly 48 + C + D bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/entry.h"

#define STORE_FORMAT_VERSION 1u

#define SEGMENT_MAGIC "RFSSEG\r\n"
#define SEGMENT_HEADER_SIZE 32u
#define RECORD_HEADER_SIZE 36u
#define RECORD_BATCH_START_OFFSET 28u

#define META_MAGIC "RFSMETA\n"
#define META_SIZE 48u

#define SNAPSHOT_MAGIC "RFSSNAP\n"
#define SNAPSHOT_HEADER_SIZE 48u

/* Largest payload the format allows (the store's limit may be lower). */
#define RECORD_MAX_PAYLOAD (256u * 1024u * 1024u)
/* Largest segment the format allows (offsets are u32). */
#define SEGMENT_MAX_SIZE UINT64_C(0xffffffff)

/* File name of a segment: "seg-" + 16 hex digits + NUL. */
#define SEGMENT_NAME_MAX 21
void segment_name(uint64_t first_index, char ret[static SEGMENT_NAME_MAX]);
/* Parses a segment file name; false when `name` is not exactly one. */
bool segment_name_parse(const char *name, uint64_t *ret_first_index);

void segment_header_encode(uint64_t first_index, uint8_t ret[static SEGMENT_HEADER_SIZE]);
/* 0, or -EBADMSG with *ret_reason set to a static string. */
int segment_header_decode(const uint8_t *p, size_t len, uint64_t *ret_first_index,
                          const char **ret_reason);

/* Writes a record header for `e` at p, without checksums: the payload must
 * follow it in memory, and record_seal() completes the record. */
void record_header_encode(const RaftEntry *e, uint8_t p[static RECORD_HEADER_SIZE]);
/* Sets the batch start of the record at p (header followed by its payload)
 * and computes both checksums. The writer thread does this, so the CRC of
 * large payloads is not computed on the event loop. */
void record_seal(uint8_t *p, uint32_t batch_start);

typedef struct RecordHeader {
        uint32_t len;
        uint64_t index;
        uint64_t term;
        uint8_t type;
        uint32_t batch_start;
        uint32_t data_crc;
} RecordHeader;

/* Checks the header crc and the fixed fields (type, flags, reserved,
 * len <= max_payload). 0 or -EBADMSG with a static reason. */
int record_header_decode(const uint8_t p[static RECORD_HEADER_SIZE], uint32_t max_payload,
                         RecordHeader *ret, const char **ret_reason);

/* ---- the recovery scanner ----------------------------------------------- */

typedef enum ScanStatus {
        SCAN_CLEAN,     /* every byte after the header is a valid record */
        SCAN_TORN,      /* last segment: an incomplete final write from `end` on */
        SCAN_CORRUPT,   /* damage at `end` (reason says what) */
} ScanStatus;

typedef struct ScanResult {
        ScanStatus status;
        uint64_t end;           /* CLEAN: file length; TORN: cut here; CORRUPT: offset of the damage */
        uint64_t n_records;     /* valid records before `end` */
        uint64_t last_term;     /* term of the last valid record (0 when none) */
        const char *reason;     /* static string for TORN/CORRUPT */
} ScanResult;

/* Called for each valid record, in order; a negative return aborts the scan
 * and is returned by segment_scan(). */
typedef int (*ScanRecordFn)(void *userdata, const RecordHeader *h, uint64_t offset,
                            const uint8_t *payload);

/* Scans a whole segment file held in memory. `expected_first` is the index
 * from the file name; `prev_term` the term of the record before this segment
 * (0 when none): terms may not decrease. `is_last` allows a torn tail. The
 * header must already have been checked by the caller, but is verified again.
 * Returns 0 with *ret filled (whatever the status), or a callback's error. */
int segment_scan(const uint8_t *data, size_t len, uint64_t expected_first, uint64_t prev_term,
                 uint32_t max_payload, bool is_last, ScanRecordFn fn, void *userdata,
                 ScanResult *ret);

/* ---- meta --------------------------------------------------------------- */
void meta_encode(const RaftHardState *hs, uint8_t ret[static META_SIZE]);
int meta_decode(const uint8_t *p, size_t len, RaftHardState *ret, const char **ret_reason);

/* ---- snapshot header ---------------------------------------------------- */
typedef struct SnapshotHeader {
        uint64_t index;
        uint64_t term;
        uint32_t conf_len;
        uint64_t data_len;
        uint32_t data_crc;
} SnapshotHeader;

/* Encodes the 48-byte header; the header crc covers the conf bytes too. */
void snapshot_header_encode(const SnapshotHeader *h, const uint8_t *conf,
                            uint8_t ret[static SNAPSHOT_HEADER_SIZE]);
/* Decodes the fixed 48 bytes (magic, version) without the crc check, so the
 * caller learns conf_len and can read the conf; then call
 * snapshot_header_verify(). 0 or -EBADMSG with a static reason. */
int snapshot_header_decode(const uint8_t *p, size_t len, uint32_t max_conf,
                           SnapshotHeader *ret, const char **ret_reason);
int snapshot_header_verify(const uint8_t p[static SNAPSHOT_HEADER_SIZE], const uint8_t *conf,
                           uint32_t conf_len);
