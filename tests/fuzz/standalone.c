#include "config.h"
/* standalone.c — runs a libFuzzer target without libFuzzer.
 *
 * Used when the tree is not configured with --enable-fuzzing, so that every
 * fuzz target also runs in `make check`: it feeds each file of the corpus
 * directory (argument, or $top_srcdir/tests/fuzz/corpus/<program name>),
 * then FUZZ_MUTATIONS (default 3000) deterministic mutations of them (bit
 * flips, truncations, byte insertions, splices), drawn from a seeded
 * xorshift generator. The seed is printed; FUZZ_SEED replays a run. */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Input {
        uint8_t *data;
        size_t len;
} Input;

static uint64_t rng_state;

static uint64_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static int read_file(const char *path, Input *ret) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return -errno;
        Input in = { NULL, 0 };
        size_t cap = 0;
        for (;;) {
                if (in.len == cap) {
                        cap = cap ? cap * 2 : 4096;
                        uint8_t *p = realloc(in.data, cap);
                        if (!p) {
                                free(in.data);
                                fclose(f);
                                return -ENOMEM;
                        }
                        in.data = p;
                }
                size_t n = fread(in.data + in.len, 1, cap - in.len, f);
                if (n == 0)
                        break;
                in.len += n;
        }
        fclose(f);
        *ret = in;
        return 0;
}

static void mutate(const Input *a, const Input *b, Input *out) {
        size_t cap = a->len + b->len + 16;
        out->data = malloc(cap);
        if (!out->data)
                abort();
        if (a->len)
                memcpy(out->data, a->data, a->len);
        out->len = a->len;
        int rounds = 1 + (int) (rnd() % 4);
        for (int k = 0; k < rounds; k++) {
                switch (rnd() % 5) {
                case 0: /* flip a bit */
                        if (out->len)
                                out->data[rnd() % out->len] ^= (uint8_t) (1u << (rnd() % 8));
                        break;
                case 1: /* truncate */
                        if (out->len)
                                out->len = rnd() % out->len;
                        break;
                case 2: /* set a byte to an interesting value */
                        if (out->len) {
                                static const uint8_t v[] = { 0, 1, 0x7f, 0x80, 0xff };
                                out->data[rnd() % out->len] = v[rnd() % sizeof v];
                        }
                        break;
                case 3: /* insert a random byte */
                        if (out->len + 1 < cap) {
                                size_t at = out->len ? rnd() % out->len : 0;
                                memmove(out->data + at + 1, out->data + at, out->len - at);
                                out->data[at] = (uint8_t) rnd();
                                out->len++;
                        }
                        break;
                default: /* splice the tail of another input */
                        if (b->len && out->len) {
                                size_t at = rnd() % out->len, from = rnd() % b->len;
                                size_t n = b->len - from;
                                if (at + n > cap)
                                        n = cap - at;
                                memcpy(out->data + at, b->data + from, n);
                                out->len = at + n;
                        }
                        break;
                }
        }
}

int main(int argc, char **argv) {
        char dirbuf[4096];
        const char *dir = argc > 1 ? argv[1] : NULL;
        if (!dir) {
                const char *top = getenv("top_srcdir");
                char *prog = strdup(argv[0]);
                if (!prog)
                        return 1;
                snprintf(dirbuf, sizeof dirbuf, "%s/tests/fuzz/corpus/%s", top ? top : ".", basename(prog));
                free(prog);
                dir = dirbuf;
        }

        Input *inputs = NULL;
        size_t n = 0;
        DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        char path[8192];
                        struct stat st;
                        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        Input in;
                        if (read_file(path, &in) < 0)
                                continue;
                        Input *p = realloc(inputs, (n + 1) * sizeof *p);
                        if (!p)
                                return 1;
                        inputs = p;
                        inputs[n++] = in;
                }
                closedir(d);
        }
        if (n == 0) {
                /* No corpus: still try empty and a few random inputs. */
                inputs = calloc(1, sizeof *inputs);
                if (!inputs)
                        return 1;
                n = 1;
        }

        const char *s = getenv("FUZZ_SEED");
        rng_state = s ? strtoull(s, NULL, 0) : UINT64_C(0x5eed);
        if (rng_state == 0)
                rng_state = 1;
        long mutations = getenv("FUZZ_MUTATIONS") ? atol(getenv("FUZZ_MUTATIONS")) : 3000;
        printf("%s: %zu corpus inputs from %s, %ld mutations, FUZZ_SEED=%" PRIu64 "\n",
               argv[0], n, dir, mutations, rng_state);

        for (size_t i = 0; i < n; i++)
                LLVMFuzzerTestOneInput(inputs[i].data ? inputs[i].data : (const uint8_t *) "", inputs[i].len);
        for (long k = 0; k < mutations; k++) {
                Input out;
                mutate(&inputs[rnd() % n], &inputs[rnd() % n], &out);
                LLVMFuzzerTestOneInput(out.data, out.len);
                free(out.data);
        }
        for (size_t i = 0; i < n; i++)
                free(inputs[i].data);
        free(inputs);
        return 0;
}
