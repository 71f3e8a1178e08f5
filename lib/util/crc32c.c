#include "util/crc32c.h"

#include <isa-l/crc.h>

uint32_t nvmf_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	return crc32_iscsi((unsigned char *)buf, (int)len, crc);
}

uint32_t nvmf_crc32c(const void *buf, size_t len)
{
	return nvmf_crc32c_final(nvmf_crc32c_update(NVMF_CRC32C_INIT, buf, len));
}

uint32_t nvmf_crc32c_iov(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = NVMF_CRC32C_INIT;

	for (int i = 0; i < iovcnt; i++)
		crc = nvmf_crc32c_update(crc, iov[i].iov_base, iov[i].iov_len);
	return nvmf_crc32c_final(crc);
}
