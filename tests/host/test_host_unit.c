/* Host pieces with no sockets: address parsing, status strings, the perf histogram. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvmf/host.h>

#include "histogram.h"

static int failures;
#define CHECK(cond, ...)                                                                                             \
	do {                                                                                                         \
		if (!(cond)) {                                                                                       \
			printf("FAIL (%s:%d) - ", __FILE__, __LINE__);                                               \
			printf(__VA_ARGS__);                                                                         \
			printf("\n");                                                                                \
			failures++;                                                                                  \
		}                                                                                                    \
	} while (0)

static void test_addresses(void)
{
	struct nvmf_host_addr a;
	char err[256];
	CHECK(nvmf_host_parse_address("tcp://127.0.0.1:4420/nqn.2014-08.org.nvmexpress.discovery", &a, err,
				      sizeof(err)) == 0,
	      "uri: %s", err);
	CHECK(!strcmp(a.traddr, "127.0.0.1") && !strcmp(a.trsvcid, "4420") && !strcmp(a.subnqn, NVME_DISCOVERY_NQN) &&
		      a.adrfam == NVMF_ADRFAM_IPV4 && a.trtype == NVMF_TRTYPE_TCP,
	      "uri fields");
	CHECK(nvmf_host_parse_address("tcp://10.0.0.1", &a, err, sizeof(err)) == 0 && !strcmp(a.trsvcid, "4420") &&
		      a.subnqn[0] == '\0',
	      "uri default port, no nqn");
	CHECK(nvmf_host_parse_address("tcp://10.0.0.1:4421/", &a, err, sizeof(err)) == 0 && a.subnqn[0] == '\0',
	      "uri trailing slash");
	CHECK(nvmf_host_parse_address("tcp://[::1]:4420/nqn.a:b", &a, err, sizeof(err)) == 0 &&
		      !strcmp(a.traddr, "::1") && a.adrfam == NVMF_ADRFAM_IPV6 && !strcmp(a.subnqn, "nqn.a:b"),
	      "ipv6 uri");
	CHECK(nvmf_host_parse_address(
		      "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1", &a, err,
		      sizeof(err)) == 0 &&
		      !strcmp(a.subnqn, "nqn.2016-06.io.spdk:cnode1") && !strcmp(a.trsvcid, "4420"),
	      "spdk trid: %s", err);
	CHECK(nvmf_host_parse_address("trtype=TCP traddr=192.168.1.2 trsvcid=4430", &a, err, sizeof(err)) == 0 &&
		      !strcmp(a.traddr, "192.168.1.2") && !strcmp(a.trsvcid, "4430") && a.subnqn[0] == '\0',
	      "trid with '=' and upper case");
	CHECK(nvmf_host_parse_address("trtype:rdma traddr:1.2.3.4", &a, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "rdma"),
	      "rdma rejected: %s", err);
	CHECK(nvmf_host_parse_address("trtype:tcp trsvcid:4420", &a, err, sizeof(err)) == -EINVAL, "no traddr");
	CHECK(nvmf_host_parse_address("tcp://1.2.3.4:0/x", &a, err, sizeof(err)) == -EINVAL, "port 0");
	CHECK(nvmf_host_parse_address("tcp://1.2.3.4:abc/x", &a, err, sizeof(err)) == -EINVAL, "port abc");
	CHECK(nvmf_host_parse_address("http://1.2.3.4", &a, err, sizeof(err)) == -EINVAL, "http");
	CHECK(nvmf_host_parse_address("tcp://[::1", &a, err, sizeof(err)) == -EINVAL, "unterminated [");
	CHECK(nvmf_host_parse_address("trtype:tcp traddr:1.2.3.4 bogus:1", &a, err, sizeof(err)) == -EINVAL, "bogus key");
	char longnqn[400] = "tcp://1.2.3.4/nqn.";
	memset(longnqn + strlen(longnqn), 'x', 250);
	CHECK(nvmf_host_parse_address(longnqn, &a, err, sizeof(err)) == -EINVAL, "NQN over 223 bytes");
	char buf[400];
	nvmf_host_parse_address("tcp://[fe80::1]:4420/nqn.x:y", &a, err, sizeof(err));
	nvmf_host_format_address(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "tcp://[fe80::1]:4420/nqn.x:y"), "format: %s", buf);

	uint8_t id[16];
	CHECK(nvmf_host_parse_uuid("0f8fad5b-d9cb-469f-a165-70867728950e", id) == 0 && id[0] == 0x0f && id[15] == 0x0e,
	      "uuid");
	CHECK(nvmf_host_parse_uuid("0f8fad5b-d9cb-469f-a165-70867728950", id) != 0, "short uuid");
	CHECK(nvmf_host_parse_uuid("0f8fad5bxd9cb-469f-a165-70867728950e", id) != 0, "bad dash");
	nvmf_host_parse_uuid("0f8fad5b-d9cb-469f-a165-70867728950e", id);
	nvmf_host_nqn_from_hostid(id, buf, sizeof(buf));
	CHECK(!strcmp(buf, "nqn.2014-08.org.nvmexpress:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"), "hostnqn %s", buf);

	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	CHECK(!strncmp(o.hostnqn, "nqn.", 4) && strlen(o.hostnqn) <= NVME_NQN_MAX, "default hostnqn %s", o.hostnqn);
	CHECK(o.kato_ms == 5000 && o.admin_qsize == 32 && o.io_qsize == 128, "defaults");
}

static void test_status(void)
{
	char buf[256];
	nvmf_host_status_format(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE), false, buf, sizeof(buf));
	CHECK(!strcmp(buf, "LBA_RANGE: The command references an LBA that exceeds the size of the namespace (0x80)"),
	      "%s", buf);
	nvmf_host_status_format(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, false, buf,
				sizeof(buf));
	CHECK(!strncmp(buf, "INVALID_OPCODE:", 15) && strstr(buf, "(0x4001)"), "%s", buf);
	/* SCT 1 0x82: a Connect error for Fabrics commands, a read-only range for I/O. */
	CHECK(!strncmp(nvmf_host_status_str(NVME_STATUS(1, 0x82), true), "CONNECT_INVALID_PARAM", 21), "fabrics 0x182");
	CHECK(!strncmp(nvmf_host_status_str(NVME_STATUS(1, 0x82), false), "READ_ONLY", 9), "nvm 0x182");
	CHECK(!strncmp(nvmf_host_status_str(NVME_STATUS(1, 0x09), true), "INVALID_LOG_PAGE", 16),
	      "fabrics falls back to generic command specific");
	CHECK(!strncmp(nvmf_host_status_str(NVME_STATUS(2, 0x85), false), "COMPARE_FAILED", 14), "media");
	CHECK(!strncmp(nvmf_host_status_str(NVME_STATUS(3, 0x02), false), "ANA_INACCESSIBLE", 16), "path");
	CHECK(!strcmp(nvmf_host_status_str(NVME_STATUS(0, 0x7e), false), "Unknown"), "unknown");
	nvmf_host_result_format(-ECONNREFUSED, buf, sizeof(buf));
	CHECK(!strcmp(buf, "Connection refused"), "%s", buf);
}

static void test_histogram(void)
{
	struct hist *h = malloc(sizeof(*h));
	hist_init(h);
	CHECK(hist_quantile(h, 0.5) == 0 && hist_mean(h) == 0, "empty");
	/* Bucket boundaries are contiguous and each holds its own bounds. */
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
		CHECK(hist_bucket_high(i) + 1 == hist_bucket_low(i + 1), "contiguous at %u", i);
		CHECK(hist_index(hist_bucket_low(i)) == i && hist_index(hist_bucket_high(i)) == i, "bounds at %u", i);
		if (failures)
			break;
	}
	CHECK(hist_index(UINT64_MAX) == HIST_BUCKETS - 1, "top bucket");
	/* Relative error under 1/32 everywhere above the exact range. */
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
		unsigned i = hist_index(v);
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		CHECK(lo <= v && v <= hi && (double)(hi - lo) <= (double)v / 16.0 + 1, "precision at %llu",
		      (unsigned long long)v);
	}
	/* 1..100000 ns uniformly: quantiles within 4 %. */
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(h, v);
	struct {
		double q;
		double want;
	} qs[] = {{0.5, 50000}, {0.99, 99000}, {0.999, 99900}, {0.1, 10000}};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double got = (double)hist_quantile(h, qs[i].q);
		CHECK(got > qs[i].want * 0.96 && got < qs[i].want * 1.04, "q%.3f = %.0f want %.0f", qs[i].q, got,
		      qs[i].want);
	}
	CHECK(h->min == 1 && h->max == 100000 && hist_quantile(h, 1.0) == 100000, "min/max");
	CHECK(hist_mean(h) > 50000.4 && hist_mean(h) < 50000.6, "mean exact %.2f", hist_mean(h));
	struct hist *h2 = malloc(sizeof(*h2));
	hist_init(h2);
	hist_add(h2, 5000000);
	hist_merge(h, h2);
	CHECK(h->count == 100001 && h->max == 5000000 && hist_quantile(h, 1.0) == 5000000, "merge");
	CHECK(hist_quantile(h, 0.5) < 60000, "merge keeps the median");
	free(h);
	free(h2);
}

int main(void)
{
	test_addresses();
	test_status();
	test_histogram();
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
