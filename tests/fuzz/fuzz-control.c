#include "config.h"
/* fuzz-control.c — feeds arbitrary bytes to the control protocol decoders
 * (daemon/control-proto.c), as the daemon sees them from a client and
 * raftfsctl sees them from a daemon: the input is cut into frames by
 * ctl_frame_parse() and every frame goes through every payload decoder.
 * Nothing may crash, leak or read out of bounds; a decoded status, member
 * list or change must re-encode. */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon/control-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_all(const CtlFrame *f) {
        CtlStatus st;
        CtlMember *m;
        CtlChange ch;
        CtlSession s;
        CtlSnapshotEnd e;
        char *a, *b;
        bool rec;
        uint64_t v;
        int err;
        const uint8_t *p;
        size_t n;
        Buf out = BUF_INIT;

        (void) ctl_get_empty(f);
        if (ctl_get_error(f, &err, &a) == 0) {
                assert(err < 0);
                free(a);
        }
        if (ctl_get_string(f, &a) == 0)
                free(a);
        if (ctl_get_strings(f, &a, &b) == 0) {
                free(a);
                free(b);
        }
        if (ctl_get_watch(f, &a, &rec) == 0)
                free(a);
        (void) ctl_get_u64(f, &v);
        if (ctl_get_status(f, &st) == 0) {
                assert(ctl_put_status(&out, f->id, &st) == 0);
                ctl_status_done(&st);
        }
        if (ctl_get_members(f, &m, &n) == 0) {
                assert(ctl_put_members(&out, f->id, m, n) == 0);
                ctl_members_free(m, n);
        }
        (void) ctl_get_session(f, &v, &s);
        if (ctl_get_change(f, &ch) == 0) {
                assert(ctl_put_change(&out, f->id, &ch) == 0);
                ctl_change_done(&ch);
        }
        (void) ctl_get_data(f, &p, &n);
        (void) ctl_get_snapshot_end(f, &e);
        buf_done(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t pos = 0;

        while (pos < size) {
                CtlFrame f;
                int k = ctl_frame_parse(data + pos, size - pos, &f);
                if (k <= 0) {
                        if (k == -EPROTONOSUPPORT)
                                decode_all(&f);
                        break;
                }
                assert((size_t) k <= size - pos);
                decode_all(&f);
                pos += (size_t) k;
        }
        return 0;
}
