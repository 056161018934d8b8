#include "config.h"
/* crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * The table version processes one byte per step with a 256-entry table built
 * at first use (pthread_once keeps that race-free). On x86-64 with SSE4.2 the
 * crc32 instruction does 8 bytes per step; the choice is made once from
 * CPUID. Both paths compute the same function; tests/unit/test-lib checks
 * them against each other and against the published check value. */

#include <pthread.h>

#include "lib/crc32c.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82F63B78) : c >> 1;
                table[i] = c;
        }
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len) {
        const uint8_t *p = data;

        (void) pthread_once(&table_once, table_init);
        crc = ~crc;
        while (len--)
                crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <string.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len) {
        const uint8_t *p = data;
        uint64_t c = ~crc;

        while (len > 0 && ((uintptr_t) p & 7)) {
                c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
                len--;
        }
        while (len >= 8) {
                uint64_t v;
                memcpy(&v, p, 8);
                c = __builtin_ia32_crc32di(c, v);
                p += 8;
                len -= 8;
        }
        while (len--)
                c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
        return ~(uint32_t) c;
}

static int hw_state = -1;       /* -1 unknown, 0 no, 1 yes; benign race: same value */

int crc32c_hw_available(void) {
        int s = __atomic_load_n(&hw_state, __ATOMIC_RELAXED);
        if (s < 0) {
                unsigned a, b, c, d;
                s = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 1 : 0;
                __atomic_store_n(&hw_state, s, __ATOMIC_RELAXED);
        }
        return s;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len) {
        return crc32c_hw_available() ? crc32c_hw(crc, data, len) : crc32c_sw(crc, data, len);
}
#else
int crc32c_hw_available(void) {
        return 0;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len) {
        return crc32c_sw(crc, data, len);
}
#endif
