/*
 * A latency histogram that threads update at once without locks: buckets
 * of 1/8 of a power of two (about 12 % wide), counted with relaxed atomics.
 * Readers take a snapshot and ask it for percentiles or bucket counts.
 */
#ifndef NVMF_UTIL_LATENCY_H
#define NVMF_UTIL_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#define NVMF_LAT_SUB 8
#define NVMF_LAT_BUCKETS (62 * NVMF_LAT_SUB)

struct nvmf_latency {
	atomic_uint_fast64_t bucket[NVMF_LAT_BUCKETS];
	atomic_uint_fast64_t sum_ns;
};

struct nvmf_latency_snapshot {
	uint64_t bucket[NVMF_LAT_BUCKETS];
	uint64_t count, sum_ns;
};

/* Count one latency of ns nanoseconds. */
void nvmf_latency_add(struct nvmf_latency *l, uint64_t ns);
/* Count n latencies at once: one atomic per distinct bucket, not per sample. */
void nvmf_latency_add_many(struct nvmf_latency *l, const uint64_t *ns, unsigned n);
void nvmf_latency_snapshot(struct nvmf_latency *l, struct nvmf_latency_snapshot *out);
/* The latency (ns, a bucket's upper bound) below which a fraction p (0..1) of the samples fall; 0 with none. */
uint64_t nvmf_latency_percentile(const struct nvmf_latency_snapshot *s, double p);
/* Samples of at most le_ns (counted by whole buckets whose upper bound is at most le_ns). */
uint64_t nvmf_latency_count_le(const struct nvmf_latency_snapshot *s, uint64_t le_ns);

#endif
