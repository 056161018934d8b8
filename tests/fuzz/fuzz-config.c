#include "config.h"
/* fuzz-config.c — feeds arbitrary bytes to the raftfs.conf parser.
 *
 * The parser must either accept the input (then the result must survive a
 * dump and re-parse to an equal dump) or return -EINVAL/-ENOMEM with one
 * "PATH..." error message; it must never crash, leak or read out of bounds. */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

static char *dump(const Conf *c) {
        char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);

        assert(f);
        conf_dump(c, f);
        fclose(f);
        return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Conf *c = NULL, *c2 = NULL;
        char *err = NULL, *d1, *d2;
        int r;

        if (size > CONF_FILE_MAX_BYTES)
                return 0;
        r = conf_parse("fuzz.conf", (const char *) data, size, &c, &err);
        if (r < 0) {
                assert(r == -EINVAL || r == -ENOMEM);
                assert(r == -ENOMEM || (err && strncmp(err, "fuzz.conf:", 10) == 0));
                assert(!c);
                free(err);
                return 0;
        }
        assert(!err);

        /* Accepted input: the dump must parse back to the same dump. */
        d1 = dump(c);
        r = conf_parse("fuzz.conf", d1, strlen(d1), &c2, &err);
        if (r < 0) {
                fprintf(stderr, "dump did not re-parse: %s\n%s", err, d1);
                abort();
        }
        d2 = dump(c2);
        assert(strcmp(d1, d2) == 0);
        free(d1);
        free(d2);
        conf_free(c);
        conf_free(c2);
        return 0;
}
