/*
 * A log-linear latency histogram: 2^HIST_SUB_BITS buckets per power of two,
 * so any value is placed within 1/32 (about 3%) of itself.  Fixed size,
 * no allocation: one per perf thread, merged at the end.
 */
#ifndef NVMF_PERF_HISTOGRAM_H
#define NVMF_PERF_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
unsigned hist_index(uint64_t v);
/* Smallest and largest value a bucket holds. */
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src);
/* Value at quantile q (0..1): the middle of the bucket holding it, clamped to [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

#endif
