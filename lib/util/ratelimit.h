/* At most N events a second (log lines a hostile peer could otherwise flood). Thread-safe. */
#ifndef NVMF_UTIL_RATELIMIT_H
#define NVMF_UTIL_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "util/clock.h"

struct nvmf_ratelimit {
	atomic_uint_fast64_t second;
	atomic_uint count;
};

/* True when one more event fits in this second's allowance of per_second. */
static inline bool nvmf_ratelimit_allow(struct nvmf_ratelimit *rl, unsigned per_second)
{
	uint64_t now = nvmf_clock_ms() / 1000;
	if (atomic_exchange(&rl->second, now) != now)
		atomic_store(&rl->count, 0);
	return atomic_fetch_add(&rl->count, 1) < per_second;
}

#endif
