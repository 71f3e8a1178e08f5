/*
 * The host library's API against a real nvmfd: connect, admin commands,
 * asynchronous I/O of every opcode, keep alive, discovery, reconnect after
 * the target restarts, and the controller loss timeout.
 * usage: test_host_api NVMFD
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvmf/host.h>

#include "spawn_nvmfd.h"

#define NQN "nqn.2024-01.io.nvmf:apitest"

#include "check.h"

static const char *nvmfd_path;
static struct nvmfd_proc target;

struct io_state {
	int done;
	int errors;
	uint16_t last_status;
	int last_error;
};

static void io_cb(void *arg, const struct nvmf_host_completion *cpl)
{
	struct io_state *s = arg;
	s->done++;
	if (cpl->error || cpl->status)
		s->errors++;
	s->last_status = cpl->status;
	s->last_error = cpl->error;
}

/* Poll until n callbacks ran (or the queue failed). */
static int drain(struct nvmf_host_qpair *qp, struct io_state *s, int n)
{
	time_t end = time(NULL) + 30;
	while (s->done < n && time(NULL) < end) {
		int rc = nvmf_host_qpair_wait(qp, 100);
		if (rc < 0 && s->done < n && nvmf_host_qpair_outstanding(qp) == 0)
			return rc;
	}
	return s->done >= n ? 0 : -ETIMEDOUT;
}

static struct nvmf_host_ctrl *connect_to(int port, const char *nqn, unsigned nq, struct nvmf_host_opts *o)
{
	struct nvmf_host_addr addr;
	char uri[300], err[1024];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/%s", port, nqn);
	if (nvmf_host_parse_address(uri, &addr, err, sizeof(err)))
		return NULL;
	struct nvmf_host_opts local;
	if (!o) {
		nvmf_host_opts_default(&local);
		o = &local;
	}
	o->nr_io_queues = (uint16_t)nq;
	struct nvmf_host_ctrl *c = NULL;
	int rc = nvmf_host_connect(&addr, o, &c, err, sizeof(err));
	if (rc)
		printf("# connect: %s\n", err);
	return c;
}

static void test_admin_and_io(void)
{
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.kato_ms = 1000;
	o.hdgst = o.ddgst = true;
	struct nvmf_host_ctrl *c = connect_to(target.port, NQN, 2, &o);
	CHECK(c != NULL, "connect with 2 I/O queues, digests, KATO 1 s");
	if (!c)
		return;
	CHECK(nvmf_host_ctrl_nr_io_queues(c) == 2, "2 I/O queues");
	const struct nvme_id_ctrl *id = nvmf_host_ctrl_identify_data(c);
	CHECK(!strncmp(id->subnqn, NQN, strlen(NQN)), "Identify Controller subnqn %.40s", id->subnqn);
	uint64_t vs = 0;
	CHECK(nvmf_host_property_get(c, NVME_REG_VS, false, &vs) == 0 && vs >= NVME_VS(1, 2, 0), "Property Get VS %#llx",
	      (unsigned long long)vs);
	uint64_t csts = 0;
	CHECK(nvmf_host_property_get(c, NVME_REG_CSTS, false, &csts) == 0 && (csts & NVME_CSTS_RDY), "CSTS.RDY");

	struct nvmf_host_ns_info ns;
	CHECK(nvmf_host_ns_info(c, 1, &ns) == 0 && ns.nsze == 131072 && ns.block_size == 512, "namespace 1: %llu x %u",
	      (unsigned long long)ns.nsze, ns.block_size);
	CHECK(nvmf_host_ns_info(c, 5, &ns) != 0, "namespace 5 inactive: %s", nvmf_host_ctrl_error(c));
	uint32_t result = 0;
	CHECK(nvmf_host_get_features(c, NVME_FEAT_NUM_QUEUES, 0, 0, 0, NULL, 0, &result) == 0, "Get Features NQ %#x",
	      result);

	/* Async writes on queue 1, reads on queue 2, depth 16. */
	struct nvmf_host_qpair *q1 = nvmf_host_ctrl_io_qpair(c, 0), *q2 = nvmf_host_ctrl_io_qpair(c, 1);
	enum { N = 16, BS = 4096 };
	uint8_t *wbuf = malloc(N * BS), *rbuf = calloc(N, BS);
	for (int i = 0; i < N * BS; i++)
		wbuf[i] = (uint8_t)(i * 7 + 3);
	struct io_state s = {0};
	int rc = 0;
	for (int i = 0; i < N && !rc; i++)
		rc = nvmf_host_write(q1, 1, (uint64_t)i * 8, 8, wbuf + i * BS, BS, io_cb, &s);
	CHECK(rc == 0 && nvmf_host_qpair_outstanding(q1) == N, "16 writes queued");
	nvmf_host_qpair_flush(q1);
	CHECK(drain(q1, &s, N) == 0 && s.errors == 0, "16 writes completed");
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < N && !rc; i++)
		rc = nvmf_host_read(q2, 1, (uint64_t)i * 8, 8, rbuf + i * BS, BS, io_cb, &s);
	nvmf_host_qpair_flush(q2);
	CHECK(drain(q2, &s, N) == 0 && s.errors == 0 && !memcmp(wbuf, rbuf, N * BS), "16 reads on another queue match");

	/* Compare: equal, then different. */
	if (id->oncs & NVME_CTRL_ONCS_COMPARE) {
		memset(&s, 0, sizeof(s));
		nvmf_host_compare(q1, 1, 0, 8, wbuf, BS, io_cb, &s);
		nvmf_host_qpair_flush(q1);
		drain(q1, &s, 1);
		CHECK(s.errors == 0, "Compare equal succeeds");
		memset(&s, 0, sizeof(s));
		memset(rbuf, 0xee, BS);
		nvmf_host_compare(q1, 1, 8, 8, rbuf, BS, io_cb, &s);
		nvmf_host_qpair_flush(q1);
		drain(q1, &s, 1);
		char st[256];
		nvmf_host_status_format(s.last_status, false, st, sizeof(st));
		CHECK(NVME_STATUS_GET_SCT(s.last_status) == NVME_SCT_MEDIA_ERROR &&
			      NVME_STATUS_GET_SC(s.last_status) == NVME_SC_COMPARE_FAILURE,
		      "Compare different: %s", st);
	} else {
		printf("# Compare not supported (ONCS %#x)\n", id->oncs);
	}
	memset(&s, 0, sizeof(s));
	nvmf_host_flush(q1, 1, io_cb, &s);
	nvmf_host_qpair_flush(q1);
	CHECK(drain(q1, &s, 1) == 0 && s.errors == 0, "Flush");
	if (id->oncs & NVME_CTRL_ONCS_WRITE_ZEROES) {
		memset(&s, 0, sizeof(s));
		nvmf_host_write_zeroes(q1, 1, 0, 8, 0, io_cb, &s);
		nvmf_host_qpair_flush(q1);
		drain(q1, &s, 1);
		struct nvmf_host_completion cpl;
		memset(rbuf, 0xff, BS);
		nvmf_host_read_sync(q1, 1, 0, 8, rbuf, BS, &cpl);
		bool zero = true;
		for (int i = 0; i < BS; i++)
			zero &= rbuf[i] == 0;
		CHECK(s.errors == 0 && zero, "Write Zeroes, read back zeros");
	}
	if (id->oncs & NVME_CTRL_ONCS_DSM) {
		static struct nvme_dsm_range r = {.nlb = 8, .slba = 8};
		memset(&s, 0, sizeof(s));
		nvmf_host_dsm(q1, 1, &r, 1, NVME_DSM_ATTR_DEALLOCATE, io_cb, &s);
		nvmf_host_qpair_flush(q1);
		CHECK(drain(q1, &s, 1) == 0 && s.errors == 0, "Dataset Management deallocate");
	}
	/* Blocking I/O and a status error with the partial count. */
	struct nvmf_host_completion cpl = {0};
	rc = nvmf_host_read_sync(q2, 1, ns.nsze - 1, 8, rbuf, BS, &cpl);
	char st[256];
	nvmf_host_result_format(rc, st, sizeof(st));
	CHECK(rc > 0 && NVME_STATUS_GET_SC(rc) == NVME_SC_LBA_OUT_OF_RANGE, "read past the end: %s", st);

	/* Keep alive: 1 s KATO, so one every 500 ms from the process loop; the target must not drop us. */
	uint64_t ka0 = nvmf_host_ctrl_keep_alives(c);
	time_t end = time(NULL) + 3;
	while (time(NULL) < end) {
		struct pollfd p = {.fd = nvmf_host_ctrl_fd(c), .events = POLLIN};
		poll(&p, 1, nvmf_host_ctrl_next_timeout_ms(c));
		if (nvmf_host_ctrl_process(c) < 0)
			break;
	}
	uint64_t ka = nvmf_host_ctrl_keep_alives(c) - ka0;
	CHECK(ka >= 4, "%llu Keep Alives in 3 s", (unsigned long long)ka);
	CHECK(nvmf_host_read_sync(q1, 1, 0, 8, rbuf, BS, NULL) == 0, "I/O still works after keep-alive period");
	/* Blocking I/O alone (no nvmf_host_ctrl_process) keeps the association alive too. */
	ka0 = nvmf_host_ctrl_keep_alives(c);
	end = time(NULL) + 3;
	rc = 0;
	while (time(NULL) < end && rc == 0)
		rc = nvmf_host_read_sync(q1, 1, 0, 8, rbuf, BS, NULL);
	ka = nvmf_host_ctrl_keep_alives(c) - ka0;
	CHECK(rc == 0 && ka >= 4, "%llu Keep Alives during 3 s of blocking reads", (unsigned long long)ka);
	CHECK(nvmf_host_disconnect(c) == 0, "clean shutdown (CC.SHN, CSTS.SHST complete)");
	free(wbuf);
	free(rbuf);
}

static void test_discovery(void)
{
	struct nvmf_host_ctrl *c = connect_to(target.port, NVME_DISCOVERY_NQN, 0, NULL);
	CHECK(c != NULL, "connect to the discovery controller");
	if (!c)
		return;
	struct nvmf_discovery_log_header *log;
	size_t n = 0;
	int rc = nvmf_host_discover(c, &log, &n);
	bool found = false;
	for (size_t i = 0; rc == 0 && i < n; i++)
		found |= !strcmp(nvmf_host_discovery_entry(log, i)->subnqn, NQN);
	CHECK(rc == 0 && found, "discovery log lists %s (%zu records)", NQN, n);
	if (rc == 0)
		free(log);
	nvmf_host_disconnect(c);
}

static void *restart_later(void *arg)
{
	(void)arg;
	usleep(1500 * 1000);
	int port = target.port;
	if (nvmfd_start(nvmfd_path, NQN, port, &target))
		printf("# restart failed\n");
	return NULL;
}

static void test_reconnect(void)
{
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.reconnect_delay_s = 1;
	o.ctrl_loss_tmo_s = 10;
	o.timeout_ms = 3000;
	struct nvmf_host_ctrl *c = connect_to(target.port, NQN, 1, &o);
	CHECK(c != NULL, "connect with reconnect enabled");
	if (!c)
		return;
	struct nvmf_host_qpair *q = nvmf_host_ctrl_io_qpair(c, 0);
	uint8_t buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	CHECK(nvmf_host_write_sync(q, 1, 100, 8, buf, sizeof(buf), NULL) == 0, "write before the restart");

	/* Kill the target; it comes back 1.5 s later on the same port. */
	int port = target.port;
	nvmfd_stop(&target, 1);
	target.port = port;
	pthread_t th;
	pthread_create(&th, NULL, restart_later, NULL);
	struct io_state s = {0};
	uint8_t rbuf[4096];
	int rc = nvmf_host_read(q, 1, 100, 8, rbuf, sizeof(rbuf), io_cb, &s);
	nvmf_host_qpair_flush(q);
	time_t end = time(NULL) + 20;
	while (s.done == 0 && time(NULL) < end)
		nvmf_host_qpair_wait(q, 100);
	pthread_join(th, NULL);
	CHECK(rc == 0 && s.done == 1 && s.errors == 0, "read issued during the outage completed after reconnect (error %d)",
	      s.last_error);
	CHECK(nvmf_host_ctrl_reconnects(c) == 1, "one reconnect");
	CHECK(nvmf_host_write_sync(q, 1, 100, 8, buf, sizeof(buf), NULL) == 0 &&
		      nvmf_host_read_sync(q, 1, 100, 8, rbuf, sizeof(rbuf), NULL) == 0 && !memcmp(buf, rbuf, 4096),
	      "I/O after reconnect");
	nvmf_host_disconnect(c);

	/* Controller loss timeout: the target stays away. */
	o.ctrl_loss_tmo_s = 2;
	c = connect_to(target.port, NQN, 1, &o);
	CHECK(c != NULL, "connect with a 2 s controller loss timeout");
	if (!c)
		return;
	q = nvmf_host_ctrl_io_qpair(c, 0);
	port = target.port;
	nvmfd_stop(&target, 1);
	memset(&s, 0, sizeof(s));
	nvmf_host_read(q, 1, 100, 8, rbuf, sizeof(rbuf), io_cb, &s);
	nvmf_host_qpair_flush(q);
	end = time(NULL) + 20;
	while (s.done == 0 && time(NULL) < end)
		nvmf_host_qpair_wait(q, 100);
	CHECK(s.done == 1 && s.last_error < 0, "outstanding read failed after the timeout (%s)", strerror(-s.last_error));
	CHECK(strstr(nvmf_host_ctrl_error(c), "controller loss timeout") != NULL, "error: %s", nvmf_host_ctrl_error(c));
	nvmf_host_disconnect(c);
	nvmfd_start(nvmfd_path, NQN, port, &target);
}

int main(int argc, char **argv)
{
	if (argc < 2 || access(argv[1], X_OK)) {
		printf("nvmfd not built: skip\n");
		return 77;
	}
	nvmfd_path = argv[1];
	if (nvmfd_start(nvmfd_path, NQN, 0, &target))
		return 1;
	test_admin_and_io();
	test_discovery();
	test_reconnect();
	nvmfd_stop(&target, 0);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
