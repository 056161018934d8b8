#include "config.h"
/* fuzz-codec.c — drives lib/codec.h readers with arbitrary bytes.
 *
 * The first byte is a little program: each 2-bit pair picks which getter to
 * call next, so libFuzzer explores every interleaving of fixed-size reads,
 * blobs and strings. Checks: the reader never reads past its input (ASan),
 * positions only move forward, and a failed reader stays failed. */

#include <assert.h>
#include <stdlib.h>

#include "lib/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        uint8_t prog = data[0];
        Reader r = reader_init(data + 1, size - 1);
        for (int step = 0; step < 64; step++) {
                size_t before = r.pos;
                int was_failed = r.error;
                int e = 0;
                switch ((prog >> ((step % 4) * 2)) & 3) {
                case 0: { uint8_t v; e = get_u8(&r, &v); break; }
                case 1: { uint32_t v; e = get_u32(&r, &v); break; }
                case 2: { const uint8_t *p; size_t n; e = get_blob(&r, 1024, &p, &n);
                          if (e == 0 && n) assert(p >= data && p + n <= data + size);
                          break; }
                default: { char *s = NULL; e = get_str_dup(&r, 255, &s); free(s); break; }
                }
                assert(r.pos >= before && r.pos <= r.len);
                if (was_failed)
                        assert(e == was_failed && r.pos == before);
                if (e < 0)
                        assert(r.error == e || e == -12);
        }
        (void) reader_finish(&r);
        return 0;
}
