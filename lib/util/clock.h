/* The monotonic clock, read one way everywhere. */
#ifndef NVMF_UTIL_CLOCK_H
#define NVMF_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t nvmf_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t nvmf_clock_us(void)
{
	return nvmf_clock_ns() / 1000u;
}

static inline uint64_t nvmf_clock_ms(void)
{
	return nvmf_clock_ns() / 1000000u;
}

#endif
