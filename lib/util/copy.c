/* nvmf_copy_to_storage: memcpy with non-temporal stores (SSE2, part of every x86-64 CPU), and the fence after. */
#include "util/copy.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>

/* Below this a plain copy is cheaper: streaming part of a line and fencing cost more than they save. */
#define STREAM_MIN 256

void nvmf_copy_to_storage(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	if (n < STREAM_MIN) {
		memcpy(d, s, n);
		return;
	}
	/* Streaming stores need 16-byte aligned destinations: the head goes the usual way. */
	size_t head = (16 - ((uintptr_t)d & 15)) & 15;
	memcpy(d, s, head);
	d += head;
	s += head;
	n -= head;
	for (; n >= 64; n -= 64, d += 64, s += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	memcpy(d, s, n);
}

void nvmf_copy_to_storage_done(void)
{
	/* Streaming stores are weakly ordered: they must land before the completion is posted. */
	_mm_sfence();
}

#else

void nvmf_copy_to_storage(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

void nvmf_copy_to_storage_done(void)
{
}

#endif
