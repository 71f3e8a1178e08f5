/*
 * The latency histogram: buckets, percentiles, and a batch counted at once
 * (nvmf_latency_add_many) giving exactly what one add per sample gives.
 */
#include <stdio.h>
#include <string.h>

#include "util/latency.h"
#include "check_eq.h"

static struct nvmf_latency one_by_one, batched;
static struct nvmf_latency_snapshot a, b;

int main(void)
{
	/* Small values have a bucket each; above 8 a bucket is 1/8 of a power of two. */
	struct nvmf_latency l;
	memset(&l, 0, sizeof(l));
	nvmf_latency_add(&l, 5);
	nvmf_latency_snapshot(&l, &a);
	CHECK_EQ(a.count, 1);
	CHECK_EQ(nvmf_latency_percentile(&a, 0.5), 5);
	nvmf_latency_add(&l, 1000);
	nvmf_latency_snapshot(&l, &a);
	CHECK_EQ(a.sum_ns, 1005);
	CHECK_EQ(nvmf_latency_percentile(&a, 1.0), 1023); /* 1000 lies in [960, 1023] */
	CHECK_EQ(nvmf_latency_count_le(&a, 1022), 1);
	CHECK_EQ(nvmf_latency_count_le(&a, 1023), 2);

	/* A batch: few distinct buckets, then more distinct buckets than the local runs hold. */
	uint64_t samples[300];
	for (unsigned i = 0; i < 300; i++)
		samples[i] = i < 200 ? 4000 + i % 3 : (uint64_t)1 << (i % 40);
	for (unsigned i = 0; i < 300; i++)
		nvmf_latency_add(&one_by_one, samples[i]);
	nvmf_latency_add_many(&batched, samples, 100);
	nvmf_latency_add_many(&batched, samples + 100, 200);
	nvmf_latency_add_many(&batched, samples, 0);
	nvmf_latency_snapshot(&one_by_one, &a);
	nvmf_latency_snapshot(&batched, &b);
	CHECK_EQ(b.count, 300);
	CHECK_EQ(b.sum_ns, a.sum_ns);
	for (unsigned i = 0; i < NVMF_LAT_BUCKETS; i++)
		CHECK_EQ(b.bucket[i], a.bucket[i]);

	if (failures)
		return 1;
	printf("latency: ok\n");
	return 0;
}
