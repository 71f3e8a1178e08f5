/*
 * A controller queue pair's limits (struct nvmf_qpair_limits) against a raw
 * host on 127.0.0.1: one process() call reads at most the read budget and
 * handles at most max_pdus PDUs (the rest waits, want_write true); a
 * host that sends commands and never reads its responses stops being read
 * once the transmit backlog is full (want_read false), and is read again,
 * to the last command, once it reads.  The commands precede Connect, so the
 * transport itself answers each (Command Sequence Error): output without data.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"
#include "tcp/tcp_pdu.h"

#define CMD_LEN sizeof(struct nvme_tcp_capsule_cmd)
#define RESP_LEN sizeof(struct nvme_tcp_capsule_resp)

static struct nvmf_association *ctrl_na;

static void on_error(void *arg, struct nvmf_qpair *qp, int error)
{
	(void)arg;
	(void)qp;
	fprintf(stderr, "controller queue pair failed: %d\n", error);
	exit(1);
}

/* A controller queue pair on b with limits; the raw host on a has done the handshake. */
static struct nvmf_qpair *ctrl_qpair(int a, int b, size_t read_budget, unsigned max_pdus, size_t tx_backlog)
{
	struct nvmf_qpair_params cp = {
		.fd = b,
		.error_cb = on_error,
		.limits = {.read_budget = read_budget, .max_pdus = max_pdus, .tx_backlog = tx_backlog},
	};
	struct nvmf_qpair *qp = nvmf_qpair_create(ctrl_na, &cp);
	CHECK(qp);
	uint8_t pdu[128];
	size_t n = nvmf_tcp_build_icreq(pdu, 0, false, false, 0);
	lb_write_all(a, pdu, n);
	for (int i = 0; i < 1000 && !nvmf_qpair_ready(qp); i++) {
		CHECK(nvmf_qpair_process(qp) >= 0);
		if (!nvmf_qpair_ready(qp))
			poll(NULL, 0, 1);
	}
	CHECK(nvmf_qpair_ready(qp));
	CHECK(lb_read_n(a, pdu, sizeof(struct nvme_tcp_icresp), 5000) == sizeof(struct nvme_tcp_icresp));
	return qp;
}

/* count Keep Alive capsules, CIDs from 0. */
static uint8_t *commands(size_t count)
{
	uint8_t *buf = malloc(count * CMD_LEN);
	CHECK(buf);
	for (size_t i = 0; i < count; i++) {
		struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE, .cid = (uint16_t)i};
		CHECK(nvmf_tcp_build_capsule_cmd(buf + i * CMD_LEN, &sqe, 0, false, false, 0) == CMD_LEN);
	}
	return buf;
}

static int unsent(int fd)
{
	int n = 0;
	CHECK(ioctl(fd, SIOCOUTQ, &n) == 0);
	return n;
}

static void case_read_budget(void)
{
	int a, b;
	lb_pair(&a, &b);
	struct nvmf_qpair *qp = ctrl_qpair(a, b, 4096, 0, 0);
	enum { N = 100 };
	uint8_t *cmds = commands(N);
	lb_write_all(a, cmds, N * CMD_LEN);
	/* Wait until the controller's socket holds all of it, so one read could take it all. */
	for (int i = 0; i < 5000 && unsent(a) > 0; i++)
		poll(NULL, 0, 1);
	CHECK(unsent(a) == 0);
	int first = nvmf_qpair_process(qp);
	/* 4096 bytes hold 56 whole commands. */
	CHECK(first == 4096 / (int)CMD_LEN);
	int total = first;
	for (int i = 0; i < 100 && total < N; i++) {
		int n = nvmf_qpair_process(qp);
		CHECK(n >= 0 && n <= 4096 / (int)CMD_LEN + 1);
		total += n;
	}
	CHECK(total == N);
	/* Every command answered. */
	static uint8_t resp[N * RESP_LEN];
	CHECK(lb_read_n(a, resp, sizeof(resp), 5000) == sizeof(resp));
	for (int i = 0; i < N; i++) {
		const struct nvme_tcp_capsule_resp *r = (const void *)(resp + i * RESP_LEN);
		CHECK(r->ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP && le16toh(r->cqe.cid) == i);
	}
	free(cmds);
	nvmf_qpair_free(qp);
	close(a);
}

static void case_pdu_quota(void)
{
	int a, b;
	lb_pair(&a, &b);
	enum { N = 100, QUOTA = 10 };
	struct nvmf_qpair *qp = ctrl_qpair(a, b, 0, QUOTA, 0);
	uint8_t *cmds = commands(N);
	lb_write_all(a, cmds, N * CMD_LEN);
	for (int i = 0; i < 5000 && unsent(a) > 0; i++)
		poll(NULL, 0, 1);
	CHECK(unsent(a) == 0);
	/* Ten calls of ten: what is read but not handled keeps want_write true, with nothing
	 * more to read and the answers all written. */
	for (int call = 0; call < N / QUOTA; call++) {
		CHECK(nvmf_qpair_process(qp) == QUOTA);
		CHECK(nvmf_qpair_want_write(qp) == (call < N / QUOTA - 1));
	}
	CHECK(nvmf_qpair_process(qp) == 0);
	static uint8_t resp[N * RESP_LEN];
	CHECK(lb_read_n(a, resp, sizeof(resp), 5000) == sizeof(resp));
	for (int i = 0; i < N; i++)
		CHECK(le16toh(((const struct nvme_tcp_capsule_resp *)(resp + i * RESP_LEN))->cqe.cid) == i);
	free(cmds);
	nvmf_qpair_free(qp);
	close(a);
}

static void case_backlog(void)
{
	int a, b;
	lb_pair(&a, &b);
	const size_t backlog = 16384;
	struct nvmf_qpair *qp = ctrl_qpair(a, b, 0, 0, backlog);
	int fl = fcntl(a, F_GETFL);
	CHECK(fl >= 0 && fcntl(a, F_SETFL, fl | O_NONBLOCK) == 0);
	enum { BATCH = 4096 };
	uint8_t *cmds = commands(BATCH);
	const size_t len = (size_t)BATCH * CMD_LEN;
	size_t off = 0;
	uint64_t sent = 0;
	/* The host writes and never reads, the controller processes, until it stops taking input:
	 * its backlog full and the socket taking no more of it.  The kernel may grow the socket's
	 * send buffer after the backlog first fills (seen: to 4 MiB), and what drains into it
	 * rightly lets input in again; so stopped means several calls in a row that took nothing. */
	int rounds = 0;
	for (int quiet = 0; quiet < 8;) {
		CHECK(++rounds < 1000000);
		ssize_t w = write(a, cmds + off, len - off);
		if (w > 0) {
			sent += (uint64_t)w;
			off = (off + (size_t)w) % len;
		} else {
			CHECK(w < 0 && errno == EAGAIN);
		}
		int n = nvmf_qpair_process(qp);
		CHECK(n >= 0);
		CHECK(sent < (256u << 20)); /* it never stopped reading */
		quiet = n == 0 && !nvmf_qpair_want_read(qp) ? quiet + 1 : 0;
	}
	CHECK(nvmf_qpair_want_write(qp));
	/* Stopped: further calls take no input, however much waits. */
	for (int i = 0; i < 100; i++) {
		ssize_t w = write(a, cmds + off, len - off);
		if (w > 0) {
			sent += (uint64_t)w;
			off = (off + (size_t)w) % len;
		}
		CHECK(nvmf_qpair_process(qp) == 0);
		CHECK(!nvmf_qpair_want_read(qp));
	}
	CHECK(unsent(a) > 0);
	/* Complete a command cut short, so that every one gets an answer. */
	size_t cut = (size_t)(sent % CMD_LEN);
	const uint8_t *tail = cmds + off;
	size_t tail_len = cut ? CMD_LEN - cut : 0;
	uint64_t count = (sent + CMD_LEN - 1) / CMD_LEN;
	/* The host reads: the controller drains its backlog, reads again, answers everything. */
	static uint8_t rbuf[RESP_LEN * 1024];
	size_t have = 0;
	uint64_t got = 0;
	bool resumed = false;
	for (int idle = 0; got < count; ) {
		CHECK(nvmf_qpair_process(qp) >= 0);
		resumed |= nvmf_qpair_want_read(qp);
		if (tail_len) {
			ssize_t w = write(a, tail, tail_len);
			if (w > 0) {
				tail += w;
				tail_len -= (size_t)w;
			}
		}
		ssize_t n = read(a, rbuf + have, sizeof(rbuf) - have);
		if (n <= 0) {
			CHECK(n < 0 && errno == EAGAIN);
			CHECK(++idle < 5000);
			poll(NULL, 0, 1);
			continue;
		}
		idle = 0;
		have += (size_t)n;
		size_t i = 0;
		for (; i + RESP_LEN <= have; i += RESP_LEN, got++) {
			const struct nvme_tcp_capsule_resp *r = (const void *)(rbuf + i);
			CHECK(r->ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP);
			CHECK(le16toh(r->cqe.cid) == got % BATCH);
			CHECK(NVME_STATUS_GET_SC(le16toh(r->cqe.status)) == NVME_SC_COMMAND_SEQUENCE_ERROR);
		}
		memmove(rbuf, rbuf + i, have - i);
		have -= i;
	}
	CHECK(resumed && tail_len == 0 && have == 0);
	fprintf(stderr, "backlog: %llu commands answered; input stopped after %d rounds\n",
		(unsigned long long)count, rounds);
	free(cmds);
	nvmf_qpair_free(qp);
	close(a);
}

int main(void)
{
	struct nvmf_association_params cp = {.sq_flow_control = false, .ioccsz = 8192};
	ctrl_na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &cp);
	CHECK(ctrl_na);
	case_read_budget();
	case_pdu_quota();
	case_backlog();
	nvmf_association_free(ctrl_na);
	return 0;
}
