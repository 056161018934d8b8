/* crc32c.h — CRC-32C (Castagnoli), the checksum of every raftfs record.
 *
 * crc32c() uses the SSE4.2 instruction when the CPU has it and a table
 * otherwise; both give the same results (tests compare them). Pass 0 as the
 * initial crc; feed pieces by passing the previous result. */
#pragma once

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The portable table implementation, exported for tests and benchmarks. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);
/* True when crc32c() uses the hardware instruction. */
int crc32c_hw_available(void);
