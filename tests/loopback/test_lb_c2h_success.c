/*
 * A controller that ends reads with C2HData LAST_PDU|SUCCESS and sends no
 * CapsuleResp, as SPDK's target does whenever a completion's DW0 and DW1 are
 * zero, although the host kept SQ flow control on.  Written with raw socket
 * PDUs in its own thread; its SQHD counts completions, as SPDK's does, and it
 * answers each batch of commands in reverse order.  The host queue pair
 * (queue size 32, depth 16) must complete every command with success and its
 * data byte for byte, far past the queue size, without the SQ ever looking
 * full; commands answered with a CapsuleResp keep working alongside; and
 * SUCCESS without LAST_PDU stays fatal (FES 1 at the flags offset).
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"
#include "tcp/tcp_pdu.h"

#define QSIZE 32
#define QD 16
#define MAXLEN 8192
#define BATCH 4

/* cdw11 bits: how the fake controller answers the command. */
#define ANSWER_RESP 1u	   /* a CapsuleResp (DW0 = the sequence number), no SUCCESS */
#define ANSWER_FLUSH 2u	   /* answer what is pending now: the host sends no more for a while */
#define ANSWER_NO_LAST 4u  /* SUCCESS without LAST_PDU: a fatal error */

/* ---- The fake controller ---- */

struct fake {
	int fd;
	unsigned sqhd; /* completions so far, modulo the queue size (SPDK's SQHD) */
	uint8_t last_hdr[24]; /* the last C2HData header sent */
	uint8_t term[NVME_TCP_TERM_REQ_MAX_PLEN]; /* the host's TermReq, if it sent one */
	size_t term_len;
	pthread_t th;
};

static void read_exact(int fd, void *buf, size_t len)
{
	CHECK(lb_read_n(fd, buf, len, 10000) == len);
}

static void send_resp(struct fake *f, uint16_t cid, uint32_t cdw0)
{
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	f->sqhd = (f->sqhd + 1) % QSIZE;
	struct nvme_completion cqe = {.cid = htole16(cid), .cdw0 = htole32(cdw0), .sqhd = htole16((uint16_t)f->sqhd)};
	lb_write_all(f->fd, pdu, nvmf_tcp_build_capsule_resp(pdu, &cqe, false));
}

/* Read data in two PDUs (one when short); the last carries SUCCESS unless a response follows. */
static void answer(struct fake *f, const struct nvme_command *sqe)
{
	static uint8_t data[MAXLEN];
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	const uint16_t cid = le16toh(sqe->cid);
	const uint32_t seq = le32toh(sqe->cdw10), how = le32toh(sqe->cdw11);
	const uint32_t len = le32toh(sqe->dptr.sgl.length);

	if (sqe->opc == NVME_OPC_FLUSH) {
		CHECK(len == 0);
		send_resp(f, cid, seq);
		return;
	}
	CHECK(sqe->opc == NVME_OPC_READ && sqe->dptr.sgl.type == NVME_SGL_TRANSPORT && len > 0 && len <= MAXLEN);
	lb_fill_pattern(data, len, seq);
	const uint32_t first = len >= 2048 ? len / 2 : 0;
	if (first) {
		size_t h = nvmf_tcp_build_c2h_data(pdu, cid, 0, first, false, false, false, false, 0);
		lb_write_all(f->fd, pdu, h);
		lb_write_all(f->fd, data, first);
	}
	const bool success = !(how & ANSWER_RESP);
	const bool last = !(how & ANSWER_NO_LAST);
	size_t h = nvmf_tcp_build_c2h_data(pdu, cid, first, len - first, last, success, false, false, 0);
	memcpy(f->last_hdr, pdu, sizeof(f->last_hdr));
	lb_write_all(f->fd, pdu, h);
	lb_write_all(f->fd, data + first, len - first);
	if (success)
		f->sqhd = (f->sqhd + 1) % QSIZE; /* completed all the same */
	else
		send_resp(f, cid, seq);
}

/* Serve commands until the host closes or terminates: collect a batch, answer it last first. */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct nvme_command pending[QSIZE];
	unsigned npending = 0;

	for (;;) {
		struct nvme_tcp_capsule_cmd cmd;
		if (lb_read_n(f->fd, &cmd, sizeof(cmd.ch), 10000) != sizeof(cmd.ch))
			break;
		const uint32_t plen = le32toh(cmd.ch.plen);
		if (cmd.ch.pdu_type == NVME_TCP_PDU_H2C_TERM_REQ) {
			CHECK(plen >= 24 && plen <= sizeof(f->term));
			memcpy(f->term, &cmd.ch, sizeof(cmd.ch));
			read_exact(f->fd, f->term + sizeof(cmd.ch), plen - sizeof(cmd.ch));
			f->term_len = plen;
			break;
		}
		CHECK(cmd.ch.pdu_type == NVME_TCP_PDU_CAPSULE_CMD && plen == sizeof(cmd));
		read_exact(f->fd, (uint8_t *)&cmd + sizeof(cmd.ch), sizeof(cmd) - sizeof(cmd.ch));
		CHECK(npending < QSIZE);
		pending[npending++] = cmd.sqe;
		if (npending < BATCH && !(le32toh(cmd.sqe.cdw11) & ANSWER_FLUSH))
			continue;
		while (npending)
			answer(f, &pending[--npending]);
	}
	return NULL;
}

/* ---- The host ---- */

struct slot {
	struct nvmf_capsule *nc;
	uint8_t buf[MAXLEN];
	uint32_t seq, len, how;
	bool done;
	int error;
	uint16_t status;
	uint32_t cdw0;
};

static struct nvmf_qpair *hq;
static struct slot slots[QD];
static unsigned inflight, completed;

static void done_cb(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct slot *s = arg;

	(void)nc;
	s->done = true;
	s->error = error;
	s->status = cqe ? le16toh(cqe->status) & 0xfffe : 0xffff;
	s->cdw0 = cqe ? le32toh(cqe->cdw0) : 0;
}

static void submit(struct slot *s, uint32_t seq, uint32_t how)
{
	struct nvme_command sqe = {.opc = NVME_OPC_READ, .nsid = htole32(1)};

	s->seq = seq;
	s->how = how;
	s->len = 512u * (1 + seq % (MAXLEN / 512));
	s->done = false;
	if ((how & ANSWER_RESP) && seq % 2) {
		sqe.opc = NVME_OPC_FLUSH;
		s->len = 0;
	}
	sqe.cdw10 = htole32(seq);
	sqe.cdw11 = htole32(how);
	s->nc = nvmf_capsule_alloc_command(hq, &sqe);
	CHECK(s->nc);
	if (s->len)
		CHECK(nvmf_capsule_append_data(s->nc, s->buf, s->len, false) == 0);
	nvmf_capsule_set_done(s->nc, done_cb, s);
	/* Depth 16 on a queue of 32: never full, whatever completed the commands before. */
	CHECK(nvmf_capsule_transmit(s->nc) == 0);
	inflight++;
}

static void check_done(struct slot *s)
{
	static uint8_t want[MAXLEN];

	CHECK(s->error == 0 && s->status == 0);
	CHECK(nvmf_capsule_data_transferred(s->nc) == s->len);
	if (s->len) {
		lb_fill_pattern(want, s->len, s->seq);
		CHECK(memcmp(s->buf, want, s->len) == 0);
	}
	/* A CapsuleResp's DW0 reaches the owner; a SUCCESS completion has DW0 zero. */
	CHECK(s->cdw0 == ((s->how & ANSWER_RESP) ? s->seq : 0));
	nvmf_capsule_free(s->nc);
	s->nc = NULL;
	inflight--;
	completed++;
}

/* Send what is queued, wait for input, process it; the queue pair must stay healthy. */
static void pump(bool may_fail)
{
	int rc = nvmf_qpair_flush(hq);
	CHECK(rc >= 0 || rc == -EAGAIN || may_fail);
	struct pollfd p = {.fd = nvmf_qpair_fd(hq), .events = POLLIN};
	if (nvmf_qpair_want_write(hq))
		p.events |= POLLOUT;
	CHECK(poll(&p, 1, 10000) == 1); /* a guard against a hang, not a speed check */
	rc = nvmf_qpair_process(hq);
	CHECK(rc >= 0 || may_fail);
}

/* n commands from seq on at depth QD, answered as how says; the last one flushes the batch. */
static void run(uint32_t seq, unsigned n, uint32_t how)
{
	unsigned sent = 0, target = completed + n;

	while (completed < target) {
		for (unsigned i = 0; i < QD && sent < n; i++) {
			if (slots[i].nc)
				continue;
			submit(&slots[i], seq + sent, sent + 1 == n || n - sent < BATCH ? how | ANSWER_FLUSH : how);
			sent++;
		}
		pump(false);
		for (unsigned i = 0; i < QD; i++)
			if (slots[i].nc && slots[i].done)
				check_done(&slots[i]);
	}
	CHECK(inflight == 0 && nvmf_qpair_outstanding(hq) == 0);
}

int main(void)
{
	int a, b;
	struct fake f = {0};

	lb_pair(&a, &b);
	f.fd = b;
	int one = 1; /* the fake writes headers and data apart: no Nagle delays */
	CHECK(setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	struct nvmf_association_params ap = {.sq_flow_control = true};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &ap);
	CHECK(na);
	struct nvmf_qpair_params qp = {.admin = false, .qid = 1, .qsize = QSIZE, .fd = a};
	hq = nvmf_qpair_create(na, &qp);
	CHECK(hq);
	(void)nvmf_qpair_flush(hq);
	struct nvme_tcp_icreq req;
	read_exact(b, &req, sizeof(req));
	CHECK(req.ch.pdu_type == NVME_TCP_PDU_ICREQ);
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	lb_write_all(b, pdu, nvmf_tcp_build_icresp(pdu, 0, false, false, 65536));
	while (!nvmf_qpair_ready(hq))
		pump(false);
	CHECK(nvmf_qpair_sq_flow_control(hq));
	CHECK(pthread_create(&f.th, NULL, fake_main, &f) == 0);

	run(0, 1000, 0);
	printf("ok: 1000 reads completed by C2HData SUCCESS, SQ flow control on, queue size %u, depth %u\n", QSIZE, QD);
	run(1000, 300, ANSWER_RESP);
	printf("ok: then 300 reads and flushes answered by CapsuleResp\n");
	for (uint32_t i = 0; i < 10; i++)
		run(2000 + i * 40, 40, i % 2 ? ANSWER_RESP : 0);
	printf("ok: SUCCESS and CapsuleResp alternating by batch\n");

	/* SUCCESS without LAST_PDU: fatal, the TermReq echoing that C2HData header. */
	submit(&slots[0], 5000, ANSWER_NO_LAST | ANSWER_FLUSH);
	while (!slots[0].done)
		pump(true);
	CHECK(slots[0].error < 0 && nvmf_qpair_failed(hq));
	nvmf_capsule_free(slots[0].nc);
	CHECK(pthread_join(f.th, NULL) == 0);
	const struct nvme_tcp_term_req *t = (const void *)f.term;
	CHECK(f.term_len == 24 + sizeof(f.last_hdr));
	CHECK(t->ch.pdu_type == NVME_TCP_PDU_H2C_TERM_REQ && t->ch.flags == 0 && t->ch.hlen == 24 && t->ch.pdo == 0);
	CHECK(le16toh(t->fes) == NVME_TCP_FES_INVALID_PDU_HEADER_FIELD);
	CHECK(le32toh(t->fei) == offsetof(struct nvme_tcp_common_header, flags));
	CHECK(memcmp(f.term + 24, f.last_hdr, sizeof(f.last_hdr)) == 0);
	CHECK(f.last_hdr[1] == NVME_TCP_F_DATA_SUCCESS);
	CHECK(lb_wait_closed(b, 10000));
	printf("ok: SUCCESS without LAST_PDU: H2CTermReq FES 1 FEI 1\n");

	nvmf_qpair_free(hq);
	close(b);
	nvmf_association_free(na);
	printf("all C2HData SUCCESS cases passed (%u commands)\n", completed);
	return 0;
}
