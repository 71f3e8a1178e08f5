/*
 * tcp_host_rx: a controller's byte stream into a host-side NVMe/TCP queue
 * pair, in chunks split where the input says, nvmf_qpair_process() after
 * each.  Once the handshake is through, the host has commands out (reads,
 * writes, commands without data, some abandoned by their owner), so
 * responses, C2HData and R2Ts have something to match.
 *
 * Input: byte 0: bit 0 header digests requested, bit 1 data digests, bit 2
 * SQ flow control kept, bit 3 admin queue, bits 4-5 HPDA, bit 6 8 KiB of
 * in-capsule data on I/O queues, bit 7 MAXR2T 4 (else 1).  Bytes 1-256: a
 * plan for the commands on CIDs 0-127 (the host hands out the lowest free
 * CID first), 16 bits LE each: bits 0-1 data direction (0 none,
 * 1 controller to host, 2-3 host to controller), bit 2 the owner frees the
 * capsule right after sending it, bits 3-15 the data length in 16-byte
 * units.  The rest is what the controller sends, starting with its ICResp.
 * Invariants: every command's done callback runs exactly once, with a CQE
 * or an error (after nvmf_qpair_free at the latest); error_cb at most once.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "fuzz.h"

#define NCMDS 128
#define PLAN_BYTES (2 * NCMDS)

struct cmd {
	struct hst *h;
	struct nvmf_capsule *nc; /* NULL once freed */
	uint8_t *buf;
	int done;
	bool sent;
	bool abandoned;
};

struct hst {
	struct nvmf_qpair *qp;
	int peer;
	int errors;
	struct cmd cmds[NCMDS];
};

static void on_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct cmd *c = arg;
	FUZZ_CHECK(!c->abandoned);
	FUZZ_CHECK(nc == c->nc);
	FUZZ_CHECK((cqe != NULL) == (error == 0));
	c->done++;
	FUZZ_CHECK(c->done == 1);
	nvmf_capsule_free(nc);
	c->nc = NULL;
}

static void on_error(void *arg, struct nvmf_qpair *qp, int error)
{
	struct hst *h = arg;
	(void)qp;
	FUZZ_CHECK(error < 0);
	h->errors++;
}

static void pump(void *arg)
{
	struct hst *h = arg;
	(void)nvmf_qpair_process(h->qp);
	fuzz_drain(h->peer);
}

static uint16_t plan_entry(const uint8_t *data, size_t len, unsigned i)
{
	size_t at = 1 + 2 * (size_t)i;
	return at + 1 < len ? (uint16_t)(data[at] | data[at + 1] << 8) : 0;
}

/* Send every planned command the queue takes. */
static void submit_all(struct hst *h, const uint8_t *data, size_t len)
{
	for (unsigned i = 0; i < NCMDS; i++) {
		uint16_t e = plan_entry(data, len, i);
		unsigned dir = e & 3;
		size_t dlen = dir ? (size_t)(e >> 3) * 16 : 0;
		struct cmd *c = &h->cmds[i];
		struct nvme_command sqe = {.opc = dir == 1 ? 0x02 : dir ? 0x01 : 0x00, .nsid = htole32(1)};
		c->h = h;
		c->nc = nvmf_capsule_alloc_command(h->qp, &sqe);
		FUZZ_CHECK(c->nc);
		if (dlen) {
			c->buf = malloc(dlen); /* exactly the length: ASan sees any overrun */
			FUZZ_CHECK(c->buf);
			memset(c->buf, (int)i, dlen);
			FUZZ_CHECK(nvmf_capsule_append_data(c->nc, c->buf, dlen, dir >= 2) == 0);
		}
		nvmf_capsule_set_done(c->nc, on_done, c);
		int rc = nvmf_capsule_transmit(c->nc);
		if (rc < 0) {
			FUZZ_CHECK(rc == -EBUSY || rc == -ENOTCONN);
			nvmf_capsule_free(c->nc);
			c->nc = NULL;
			return;
		}
		c->sent = true;
		if (e & 4) {
			c->abandoned = true;
			nvmf_capsule_free(c->nc);
			c->nc = NULL;
		}
	}
}

int fuzz_one(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	const uint8_t cfg = data[0];
	struct nvmf_association_params ap = {
		.header_digests = cfg & 1,
		.data_digests = (cfg >> 1) & 1,
		.sq_flow_control = (cfg >> 2) & 1,
		.pda = (cfg >> 4) & 3,
		.ioccsz = (cfg >> 6) & 1 ? 8192 : 0,
		.maxr2t = (cfg >> 7) & 1 ? 3 : 0,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &ap);
	FUZZ_CHECK(na);
	int fds[2];
	FUZZ_CHECK(fuzz_socketpair(fds) == 0);
	static struct hst h;
	memset(&h, 0, sizeof(h));
	h.peer = fds[1];
	struct nvmf_qpair_params qp = {.admin = (cfg >> 3) & 1, .qid = (cfg >> 3) & 1 ? 0 : 1, .qsize = NCMDS,
				       .fd = fds[0], .error_cb = on_error, .cb_arg = &h};
	h.qp = nvmf_qpair_create(na, &qp);
	FUZZ_CHECK(h.qp);
	nvmf_association_free(na);
	pump(&h); /* the ICReq goes out */

	struct fuzz_splitter sp;
	fuzz_split_init(&sp, data, len);
	size_t skip = 1 + PLAN_BYTES < len ? 1 + PLAN_BYTES : len;
	const uint8_t *p = data + skip;
	size_t left = len - skip;
	bool submitted = false;
	/* The ICResp alone first, so the commands are out before anything answers them. */
	size_t first = 0;
	if (left >= 8) {
		first = (size_t)p[4] | (size_t)p[5] << 8 | (size_t)p[6] << 16 | (size_t)p[7] << 24;
		first = first < 8 ? 8 : first > left ? left : first;
	}
	while (left && !nvmf_qpair_failed(h.qp)) {
		size_t n = first ? first : fuzz_split_next(&sp, left);
		first = 0;
		if (!fuzz_write_all(h.peer, p, n, pump, &h))
			break;
		p += n;
		left -= n;
		for (int i = 0; i < 8; i++) {
			pump(&h);
			if (!submitted && nvmf_qpair_ready(h.qp) && !nvmf_qpair_failed(h.qp)) {
				submitted = true;
				submit_all(&h, data, len);
				pump(&h);
			}
			if (fuzz_pending(fds[0]) == 0 || nvmf_qpair_failed(h.qp))
				break;
		}
	}
	for (int i = 0; i < 4; i++)
		pump(&h);
	if (fuzz_verbose()) {
		unsigned sent = 0, done = 0;
		for (unsigned i = 0; i < NCMDS; i++) {
			sent += h.cmds[i].sent;
			done += h.cmds[i].done;
		}
		fprintf(stderr, "tcp_host_rx: %u sent, %u completed, %zu bytes unsent, %s\n", sent, done, left,
			nvmf_qpair_failed(h.qp) ? nvmf_qpair_error(h.qp) : "alive");
	}
	FUZZ_CHECK(h.errors <= 1);
	FUZZ_CHECK(h.errors == 0 || nvmf_qpair_failed(h.qp));
	nvmf_qpair_free(h.qp); /* every command still out completes now */
	for (unsigned i = 0; i < NCMDS; i++) {
		struct cmd *c = &h.cmds[i];
		FUZZ_CHECK(c->abandoned || c->done == (c->sent ? 1 : 0));
		free(c->buf);
	}
	close(h.peer);
	return 0;
}
