/* nvmf_copy_to_storage: exact bytes at every alignment and length, nothing written outside. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/copy.h"
#include "check_eq.h"

#define SPAN 9000
#define GUARD 64

int main(void)
{
	static uint8_t src[SPAN + 64], dst[SPAN + 2 * GUARD + 64], want[sizeof(dst)];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 131 + (i >> 7) + 1);
	/* Lengths around the streaming threshold and the 64-byte body, up to a PRP page and beyond. */
	static const size_t lens[] = {0, 1, 15, 16, 63, 64, 255, 256, 257, 300, 511, 512, 4095, 4096, 4097, 8192, SPAN};
	unsigned mismatched = 0;
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (size_t da = 0; da < 32; da += 3) {
			for (size_t sa = 0; sa < 32; sa += 5) {
				size_t n = lens[l];
				memset(dst, 0xa5, sizeof(dst));
				memcpy(want, dst, sizeof(dst));
				memcpy(want + GUARD + da, src + sa, n);
				nvmf_copy_to_storage(dst + GUARD + da, src + sa, n);
				nvmf_copy_to_storage_done();
				if (memcmp(dst, want, sizeof(dst)) != 0) {
					mismatched++;
					fprintf(stderr, "FAIL: len %zu dst+%zu src+%zu\n", n, da, sa);
				}
			}
		}
	}
	CHECK_EQ(mismatched, 0);
	printf("copy: %d failures\n", failures);
	return failures ? 1 : 0;
}
