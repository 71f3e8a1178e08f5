#include <string.h>

#include "latency.h"

/* Values below 8 have a bucket each; above, a power of two splits into 8. */
static unsigned bucket_of(uint64_t ns)
{
	if (ns < NVMF_LAT_SUB)
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 3 */
	unsigned sub = (unsigned)(ns >> (e - 3)) & (NVMF_LAT_SUB - 1);
	unsigned i = (e - 2) * NVMF_LAT_SUB + sub;
	return i < NVMF_LAT_BUCKETS ? i : NVMF_LAT_BUCKETS - 1;
}

/* The largest value bucket i holds. */
static uint64_t bucket_upper(unsigned i)
{
	if (i < NVMF_LAT_SUB)
		return i;
	unsigned e = i / NVMF_LAT_SUB + 2, sub = i % NVMF_LAT_SUB;
	return ((uint64_t)(NVMF_LAT_SUB + sub + 1) << (e - 3)) - 1;
}

void nvmf_latency_add(struct nvmf_latency *l, uint64_t ns)
{
	atomic_fetch_add_explicit(&l->bucket[bucket_of(ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->sum_ns, ns, memory_order_relaxed);
}

void nvmf_latency_add_many(struct nvmf_latency *l, const uint64_t *ns, unsigned n)
{
	/* Samples of one batch mostly share a few buckets: count them locally first. */
	enum { RUNS = 8 };
	unsigned bucket[RUNS], count[RUNS], runs = 0;
	uint64_t sum = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned b = bucket_of(ns[i]);
		sum += ns[i];
		unsigned r = 0;
		while (r < runs && bucket[r] != b)
			r++;
		if (r == runs) {
			if (runs == RUNS) {
				atomic_fetch_add_explicit(&l->bucket[b], 1, memory_order_relaxed);
				continue;
			}
			bucket[runs] = b;
			count[runs++] = 0;
		}
		count[r]++;
	}
	for (unsigned r = 0; r < runs; r++)
		atomic_fetch_add_explicit(&l->bucket[bucket[r]], count[r], memory_order_relaxed);
	atomic_fetch_add_explicit(&l->sum_ns, sum, memory_order_relaxed);
}

void nvmf_latency_snapshot(struct nvmf_latency *l, struct nvmf_latency_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < NVMF_LAT_BUCKETS; i++) {
		out->bucket[i] = atomic_load_explicit(&l->bucket[i], memory_order_relaxed);
		out->count += out->bucket[i];
	}
	out->sum_ns = atomic_load_explicit(&l->sum_ns, memory_order_relaxed);
}

uint64_t nvmf_latency_percentile(const struct nvmf_latency_snapshot *s, double p)
{
	if (s->count == 0)
		return 0;
	uint64_t want = (uint64_t)(p * (double)s->count + 0.5);
	if (want == 0)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < NVMF_LAT_BUCKETS; i++) {
		seen += s->bucket[i];
		if (seen >= want)
			return bucket_upper(i);
	}
	return bucket_upper(NVMF_LAT_BUCKETS - 1);
}

uint64_t nvmf_latency_count_le(const struct nvmf_latency_snapshot *s, uint64_t le_ns)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < NVMF_LAT_BUCKETS && bucket_upper(i) <= le_ns; i++)
		n += s->bucket[i];
	return n;
}
