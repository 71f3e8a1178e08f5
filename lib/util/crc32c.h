/* CRC32C (Castagnoli) as NVMe/TCP digests use it, computed by ISA-L. */
#ifndef NVMF_UTIL_CRC32C_H
#define NVMF_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The digest of one buffer: seed ~0, final complement, as on the wire (little endian). */
uint32_t nvmf_crc32c(const void *buf, size_t len);
/* Incremental form: crc = nvmf_crc32c_update(NVMF_CRC32C_INIT, ...); digest = nvmf_crc32c_final(crc). */
#define NVMF_CRC32C_INIT 0xffffffffu
uint32_t nvmf_crc32c_update(uint32_t crc, const void *buf, size_t len);
static inline uint32_t nvmf_crc32c_final(uint32_t crc) { return ~crc; }
/* The digest of the bytes an I/O vector describes. */
uint32_t nvmf_crc32c_iov(const struct iovec *iov, int iovcnt);

#endif
