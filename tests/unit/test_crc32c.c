/* CRC32C (Castagnoli) known answers, and the iovec form against the contiguous one. */
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "util/crc32c.h"
#include "check_eq.h"

int main(void)
{
	uint8_t buf[4096];

	/* The CRC-32C check value, and RFC 3720 B.4 (iSCSI) vectors. */
	CHECK_EQ(nvmf_crc32c("123456789", 9), 0xE3069283u);
	memset(buf, 0, 32);
	CHECK_EQ(nvmf_crc32c(buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, 32);
	CHECK_EQ(nvmf_crc32c(buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ(nvmf_crc32c(buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CHECK_EQ(nvmf_crc32c(buf, 32), 0x113FDB5Cu);
	CHECK_EQ(nvmf_crc32c(buf, 0), 0u);

	/* Incremental and iovec forms agree with one call, at every split. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 8));
	const uint32_t whole = nvmf_crc32c(buf, sizeof(buf));
	for (size_t a = 0; a <= sizeof(buf); a += 97) {
		for (size_t b = a; b <= sizeof(buf); b += 389) {
			struct iovec iov[4] = {
				{buf, a}, {buf + a, 0}, {buf + a, b - a}, {buf + b, sizeof(buf) - b}};
			CHECK_EQ(nvmf_crc32c_iov(iov, 4), whole);
			uint32_t c = nvmf_crc32c_update(NVMF_CRC32C_INIT, buf, a);
			c = nvmf_crc32c_update(c, buf + a, b - a);
			c = nvmf_crc32c_update(c, buf + b, sizeof(buf) - b);
			CHECK_EQ(nvmf_crc32c_final(c), whole);
		}
	}
	CHECK_EQ(nvmf_crc32c_iov(NULL, 0), 0u);

	printf("crc32c: %d failures\n", failures);
	return failures ? 1 : 0;
}
