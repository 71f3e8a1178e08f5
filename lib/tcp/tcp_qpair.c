/*
 * NVMe/TCP queue pair: lifecycle, the receive loop and PDU parser, failure handling, the ops table.
 * process() bounds its reads per call (the read budget) for fairness, so owners must poll
 * level-triggered; it stops taking input while the transmit backlog is at its limit.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#include <openssl/ssl.h>

#include "tcp/tcp_internal.h"
#include "util/crc32c.h"
#include "util/clock.h"

static void capsule_obj_fini(void *obj)
{
	free(((struct tcp_capsule *)obj)->icd);
}

/* Reject parameters no NVMe/TCP peer would accept. */
static struct nvmf_association *tcp_association_alloc(bool controller, const struct nvmf_association_params *p)
{
	if (p->pda > NVME_TCP_MAX_PDA ||
	    (controller && p->maxh2cdata && (p->maxh2cdata < 4096 || p->maxh2cdata % 4))) {
		errno = EINVAL;
		return NULL;
	}
	return calloc(1, sizeof(struct nvmf_association));
}

static struct nvmf_qpair *tcp_qpair_alloc(struct nvmf_association *na, const struct nvmf_qpair_params *p)
{
	struct tcp_qpair *tq = calloc(1, sizeof(*tq));
	int fl = fcntl(p->fd, F_GETFL);

	if (tq == NULL || fl < 0 || fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto fail;
	int one = 1;
	(void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tq->qp.fd = p->fd;
	tq->controller = na->controller;
	tq->rbuf = malloc(TCP_RBUF_SIZE);
	if (tq->rbuf == NULL)
		goto fail;
	tcp_pool_init(&tq->tx_pool, sizeof(struct tcp_tx_item), 64);
	tcp_pool_init(&tq->capsule_pool, sizeof(struct tcp_capsule), 32);
	tcp_pool_init(&tq->xfer_pool, sizeof(struct tcp_xfer), 32);
	tq->read_budget = p->limits.read_budget ? p->limits.read_budget : TCP_DEFAULT_READ_BUDGET;
	tq->pdu_limit = p->limits.max_pdus;
	tq->tx_limit = p->limits.tx_backlog;
	if (p->tls && tcp_tls_attach(tq, p->tls, p->tls_optional) < 0)
		goto fail;
	tq->qp.admin = p->admin;
	tq->qp.na = na; /* the generic layer sets it too; the transport's init needs it */
	if (tq->controller) {
		const struct nvmf_association_params *ap = &na->params;
		tq->rxpda = ap->pda;
		tq->maxh2cdata = ap->maxh2cdata ? ap->maxh2cdata : TCP_DEFAULT_MAXH2CDATA;
	} else {
		tq->qp.qid = p->qid;
		tq->qp.qsize = p->qsize;
		tq->qp.sq_flow_control = na->params.sq_flow_control;
		tq->rxpda = na->params.pda;
		if (tcp_host_init(tq) < 0)
			goto fail;
	}
	return &tq->qp;
fail:
	if (tq && tq->tls)
		tcp_tls_free(tq);
	else if (p->tls)
		SSL_free(p->tls); /* ours from the start, as the fd */
	if (tq) {
		tcp_pool_destroy(&tq->tx_pool, NULL);
		tcp_pool_destroy(&tq->capsule_pool, NULL);
		tcp_pool_destroy(&tq->xfer_pool, NULL);
		free(tq->cids);
		free(tq->h2c_slots);
		free(tq->cid_free);
		free(tq->rbuf);
		free(tq);
	}
	int e = errno ? errno : ENOMEM;
	close(p->fd);
	errno = e;
	return NULL;
}

/* Stop all I/O and run every pending callback with error. */
static void tcp_shutdown(struct tcp_qpair *tq, int error)
{
	tq->dead = true;
	shutdown(tq->qp.fd, SHUT_RDWR);
	tcp_tx_drain(tq, error);
	if (tq->controller)
		tcp_ctrl_fail_all(tq, error);
	else
		tcp_host_fail_all(tq, error);
}

void tcp_fail(struct tcp_qpair *tq, int error, const char *why)
{
	if (tq->dead && !tq->terminating)
		return;
	tq->terminating = false;
	tcp_shutdown(tq, error);
	nvmf_qpair_report_error(&tq->qp, error, tcp_tls_failure(tq) ? tcp_tls_failure(tq) : why);
}

/* Read and drop what the peer sends while our TermReq waits, so a level-triggered
 * poll does not spin; bounded per call.  False on EOF or error. */
static bool term_discard_input(struct tcp_qpair *tq)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n = tcp_tls_read(tq, tq->rbuf, TCP_RBUF_SIZE);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return true;
}

static int term_progress(struct tcp_qpair *tq, bool discard)
{
	const void *head = tq->txq_head;
	const size_t sent = tq->tx_sent;
	int rc = tcp_tx_write(tq);

	if (rc == -EAGAIN) {
		if (tq->txq_head != head || tq->tx_sent != sent)
			tq->term_deadline = nvmf_clock_ns() + TCP_TERM_LINGER_MS * 1000000ull;
		if ((!discard || term_discard_input(tq)) && nvmf_clock_ns() < tq->term_deadline)
			return -EAGAIN;
	}
	/* The TermReq is out, or the peer will not take it. */
	tq->terminating = false;
	tcp_shutdown(tq, -EPROTO);
	nvmf_qpair_report_error(&tq->qp, -EPROTO, tq->term_why);
	return -EPROTO;
}

int tcp_term_progress(struct tcp_qpair *tq)
{
	return term_progress(tq, true);
}

void tcp_fatal_pdu(struct tcp_qpair *tq, uint16_t fes, uint32_t fei, const void *hdr, size_t hdr_len,
		   const char *why)
{
	if (tq->dead)
		return;
	snprintf(tq->term_why, sizeof(tq->term_why), "%s (FES %u, FEI %u)", why, fes, fei);
	/* A termination request in error is not answered with one: just close (NVMe/TCP
	 * transport errors), so two peers never trade them. */
	const uint8_t type = hdr_len ? *(const uint8_t *)hdr : 0;
	if (type == NVME_TCP_PDU_H2C_TERM_REQ || type == NVME_TCP_PDU_C2H_TERM_REQ) {
		snprintf(tq->term_why, sizeof(tq->term_why), "malformed %s (FES %u, FEI %u): closed",
			 nvmf_tcp_pdu_name(type), fes, fei);
		tcp_fail(tq, -EPROTO, tq->term_why);
		return;
	}
	/* Queued output would only reach the peer ahead of the TermReq, or never: drop it
	 * (except a PDU already partly written), and fail every pending operation now. */
	tq->dead = true;
	tcp_tx_drop_unstarted(tq, -EPROTO);
	if (tq->controller)
		tcp_ctrl_fail_all(tq, -EPROTO);
	else
		tcp_host_fail_all(tq, -EPROTO);
	struct tcp_tx_item *it = tcp_tx_alloc(tq, 0);
	if (it == NULL) {
		tq->dead = false;
		tcp_fail(tq, -EPROTO, tq->term_why);
		return;
	}
	size_t n = nvmf_tcp_build_term_req(it->hdr, tq->controller, fes, fei, hdr, hdr_len);
	tcp_tx_queue(tq, it, n, NULL, 0, false);
	/* The failure is reported once the TermReq has left (see tcp_term_progress). */
	tq->terminating = true;
	tq->term_deadline = nvmf_clock_ns() + TCP_TERM_LINGER_MS * 1000000ull;
	(void)term_progress(tq, false); /* hdr may point into rbuf: no reading here */
}

static void tcp_qpair_close(struct nvmf_qpair *qp)
{
	struct tcp_qpair *tq = TQ(qp);

	if (!tq->dead || tq->terminating) {
		tq->terminating = false;
		tcp_shutdown(tq, -ECONNABORTED);
	}
}

static void tcp_qpair_destroy(struct nvmf_qpair *qp)
{
	struct tcp_qpair *tq = TQ(qp);

	tcp_tls_free(tq);
	close(qp->fd);
	tcp_pool_destroy(&tq->tx_pool, NULL);
	tcp_pool_destroy(&tq->capsule_pool, capsule_obj_fini);
	tcp_pool_destroy(&tq->xfer_pool, NULL);
	free(tq->cids);
	free(tq->h2c_slots);
	free(tq->cid_free);
	free(tq->r2ts);
	free(tq->rbuf);
	free(tq);
}

/* ---- Receive ---- */

static uint32_t max_data_for(const struct tcp_qpair *tq, uint8_t type)
{
	switch (type) {
	case NVME_TCP_PDU_CAPSULE_CMD:
		return nvmf_qpair_incapsule_limit(&tq->qp);
	case NVME_TCP_PDU_H2C_DATA:
		return tq->maxh2cdata;
	default:
		return UINT32_MAX; /* C2HData: bounded by the command's buffer, checked later */
	}
}

/* Handle a complete PDU header (with digest and padding); sets up the data phase. */
static int handle_header(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_common_header *ch = (const void *)hdr;

	switch (ch->pdu_type) {
	case NVME_TCP_PDU_ICREQ:
		return tcp_ctrl_icreq(tq, hdr);
	case NVME_TCP_PDU_ICRESP:
		return tcp_host_icresp(tq, hdr);
	case NVME_TCP_PDU_H2C_TERM_REQ:
	case NVME_TCP_PDU_C2H_TERM_REQ: {
		const struct nvme_tcp_term_req *t = (const void *)hdr;
		char msg[96];
		snprintf(msg, sizeof(msg), "peer sent %s (FES %u, FEI %u)", nvmf_tcp_pdu_name(ch->pdu_type),
			 le16toh(t->fes), le32toh(t->fei));
		tcp_fail(tq, -ECONNRESET, msg);
		return -1;
	}
	case NVME_TCP_PDU_CAPSULE_CMD:
		return tcp_ctrl_cmd_hdr(tq, hdr);
	case NVME_TCP_PDU_CAPSULE_RESP:
		return tcp_host_resp(tq, hdr);
	case NVME_TCP_PDU_H2C_DATA:
		return tcp_ctrl_h2c_hdr(tq, hdr);
	case NVME_TCP_PDU_C2H_DATA:
		return tcp_host_c2h_hdr(tq, hdr);
	case NVME_TCP_PDU_R2T:
		return tcp_host_r2t(tq, hdr);
	}
	return -1;
}

static void finish_data(struct tcp_qpair *tq, bool digest_ok)
{
	enum tcp_rx_action act = tq->rx_act;

	tq->rx_state = RX_HDR;
	tq->rx_act = ACT_NONE;
	switch (act) {
	case ACT_CAPSULE_CMD:
		tcp_ctrl_cmd_done(tq, digest_ok);
		break;
	case ACT_H2C:
		tcp_ctrl_h2c_done(tq, digest_ok);
		break;
	case ACT_C2H:
		tcp_host_c2h_done(tq, digest_ok);
		break;
	case ACT_NONE:
		break;
	}
}

/* Parse every complete PDU in the receive buffer.  Returns PDUs handled, -1 once dead. */
static int rx_parse(struct tcp_qpair *tq)
{
	int handled = 0;

	tq->rx_held = false;
	while (!tq->dead) {
		uint8_t *p = tq->rbuf + tq->rpos;
		size_t avail = tq->rend - tq->rpos;

		if (tq->rx_state == RX_DATA) {
			size_t n = avail < tq->rx_left ? avail : tq->rx_left;
			if (n == 0)
				break;
			if (tq->rx_dst) {
				memcpy(tq->rx_dst, p, n);
				tq->rx_dst += n;
			}
			if (tq->rx_ddgst)
				tq->rx_crc = nvmf_crc32c_update(tq->rx_crc, p, n);
			tq->rpos += n;
			tq->rx_left -= (uint32_t)n;
			if (tq->rx_left)
				break;
			if (tq->rx_ddgst)
				tq->rx_state = RX_DDGST;
			else
				finish_data(tq, true);
			continue;
		}
		if (tq->rx_state == RX_DDGST) {
			if (avail < NVME_TCP_DIGEST_LEN)
				break;
			uint32_t d;
			memcpy(&d, p, sizeof(d));
			tq->rpos += NVME_TCP_DIGEST_LEN;
			finish_data(tq, le32toh(d) == nvmf_crc32c_final(tq->rx_crc));
			continue;
		}

		/* RX_HDR */
		if (avail < sizeof(struct nvme_tcp_common_header))
			break;
		/* A peer that does not read its responses gets no more commands handled;
		 * one that sends many gets its share of this call. */
		if (tcp_tx_full(tq) || tq->rx_quota == 0) {
			tq->rx_held = true;
			break;
		}
		struct nvme_tcp_common_header ch;
		memcpy(&ch, p, sizeof(ch));
		if (!tq->ch_checked) {
			struct nvmf_tcp_rx_rules rules = {
				.controller = tq->controller,
				.handshake = !tq->qp.ready,
				.hdgst = tq->qp.hdgst,
				.ddgst = tq->qp.ddgst,
				.pda = tq->rxpda,
				.max_data = max_data_for(tq, ch.pdu_type),
			};
			uint32_t fei = 0;
			int fes = nvmf_tcp_check_common_header(&ch, &rules, &fei);
			if (fes) {
				size_t echo = ch.hlen >= sizeof(ch) ? ch.hlen : sizeof(ch);
				if (echo > avail)
					echo = avail;
				tcp_fatal_pdu(tq, (uint16_t)fes, fei, p, echo, "bad PDU header");
				return -1;
			}
			tq->ch_checked = true;
		}
		const bool term = ch.pdu_type == NVME_TCP_PDU_H2C_TERM_REQ || ch.pdu_type == NVME_TCP_PDU_C2H_TERM_REQ;
		const size_t hd = (ch.flags & NVME_TCP_F_HDGST) ? NVME_TCP_DIGEST_LEN : 0;
		size_t need = term ? le32toh(ch.plen) : ch.pdo ? ch.pdo : (size_t)ch.hlen + hd;
		if (avail < need)
			break;
		if (hd && !nvmf_tcp_header_digest_ok(p)) {
			tcp_fatal_pdu(tq, NVME_TCP_FES_HEADER_DIGEST_ERROR, 0, p, ch.hlen, "header digest mismatch");
			return -1;
		}
		tq->ch_checked = false;
		tq->rpos += need;
		tq->rx_act = ACT_NONE;
		tq->rx_dst = NULL;
		tq->rx_left = term ? 0 : nvmf_tcp_pdu_data_len(&ch);
		tq->rx_ddgst = (ch.flags & NVME_TCP_F_DDGST) != 0;
		tq->rx_crc = NVMF_CRC32C_INIT;
		tq->rx_flags = ch.flags;
		handled++;
		tq->rx_quota--;
		if (handle_header(tq, p) < 0)
			return -1;
		if (tq->rx_left)
			tq->rx_state = RX_DATA;
		else if (tq->rx_act != ACT_NONE)
			finish_data(tq, true);
	}
	return tq->dead ? -1 : handled;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Read once, at most max (> 0) bytes: straight into the data destination when it is waiting,
 * else into the buffer.  Returns bytes read, 0 on EOF, -EAGAIN when nothing is there. */
static ssize_t rx_fill(struct tcp_qpair *tq, bool *short_read, size_t max)
{
	ssize_t n;
	size_t want;

	if (tq->rpos == tq->rend)
		tq->rpos = tq->rend = 0;
	if (tq->rx_state == RX_DATA && tq->rx_dst && tq->rpos == tq->rend) {
		size_t direct = min_size(tq->rx_left, max);
		struct iovec iov[2] = {
			{.iov_base = tq->rx_dst, .iov_len = direct},
			{.iov_base = tq->rbuf, .iov_len = min_size(TCP_RBUF_SIZE, max - direct)},
		};
		want = iov[0].iov_len + iov[1].iov_len;
		do
			n = tcp_tls_readv(tq, iov, iov[1].iov_len ? 2 : 1);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			size_t d = (size_t)n < tq->rx_left ? (size_t)n : tq->rx_left;
			if (tq->rx_ddgst)
				tq->rx_crc = nvmf_crc32c_update(tq->rx_crc, tq->rx_dst, d);
			tq->rx_dst += d;
			tq->rx_left -= (uint32_t)d;
			tq->rend = (size_t)n - d;
			if (tq->rx_left == 0) {
				if (tq->rx_ddgst)
					tq->rx_state = RX_DDGST;
				else
					finish_data(tq, true);
			}
		}
	} else {
		if (tq->rpos > 0 && TCP_RBUF_SIZE - tq->rend < 4096) {
			memmove(tq->rbuf, tq->rbuf + tq->rpos, tq->rend - tq->rpos);
			tq->rend -= tq->rpos;
			tq->rpos = 0;
		}
		want = min_size(TCP_RBUF_SIZE - tq->rend, max);
		do
			n = tcp_tls_read(tq, tq->rbuf + tq->rend, want);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			tq->rend += (size_t)n;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	*short_read = (size_t)n < want;
	return n;
}

/* Write what the socket takes; 0, or a negative errno once the queue pair has failed. */
static int tx_push(struct tcp_qpair *tq)
{
	int rc = tcp_tx_flush(tq);

	return rc < 0 && rc != -EAGAIN ? rc : 0;
}

static int tcp_process(struct nvmf_qpair *qp)
{
	struct tcp_qpair *tq = TQ(qp);
	int handled = 0;

	if (tq->terminating) {
		int rc = tcp_term_progress(tq);
		return rc == -EAGAIN ? 0 : rc;
	}
	if (tq->dead)
		return -ENOTCONN;
	/* Reads stop at the budget and parsing at the PDU quota so that one busy connection
	 * cannot starve the others of a shared thread; what is read is parsed before leaving,
	 * except input held back (rx_held: want_write stays true until it is handled). */
	size_t budget = tq->read_budget;
	bool more_input = true;
	tq->rx_quota = tq->pdu_limit ? tq->pdu_limit : UINT_MAX;
	for (;;) {
		/* A full backlog holds input back: what drains now lets it in. */
		if (tcp_tx_full(tq) && tx_push(tq) < 0)
			return tq->terminating ? handled : -ENOTCONN;
		int n = rx_parse(tq);
		if (n < 0)
			return tq->terminating ? handled : -EPROTO;
		handled += n;
		if (tq->rx_held) {
			if (n == 0 || tq->rx_quota == 0)
				break; /* the peer is not reading, or this call's share is spent: POLLOUT brings us back */
			continue;
		}
		/* Bytes TLS already decrypted wake no poll: they are taken past the budget (a record at most). */
		bool tls_pending = tcp_tls_pending(tq);
		if (((!more_input || budget == 0) && !tls_pending) || tq->rx_quota == 0 || tcp_tx_full(tq))
			break;
		bool short_read = false;
		ssize_t r = rx_fill(tq, &short_read, budget ? budget : TCP_TLS_RECORD_MAX);
		if (tq->dead)
			return tq->terminating ? handled : -EPROTO;
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			tcp_fail(tq, -ECONNRESET, "connection closed by peer");
			return -ECONNRESET;
		}
		if (r < 0) {
			tcp_fail(tq, (int)r, "read failed");
			return (int)r;
		}
		budget -= (size_t)r < budget ? (size_t)r : budget;
		more_input = !short_read; /* parse what came, then leave */
	}
	int rc = tcp_tx_flush(tq);
	if (rc < 0 && rc != -EAGAIN && !tq->terminating)
		return rc;
	return handled;
}

static int tcp_flush(struct nvmf_qpair *qp)
{
	return tcp_tx_flush(TQ(qp));
}

static bool tcp_want_write(const struct nvmf_qpair *qp)
{
	/* Input held back (full backlog, spent quota) is handled by the process() that POLLOUT
	 * brings, even with the queue empty (no POLLIN would come for it). */
	/* So is input TLS has decrypted and kept: it wakes no poll either. */
	return TQ(qp)->txq_head != NULL || TQ(qp)->rx_held || tcp_tls_pending(TQ(qp));
}

static bool tcp_want_read(const struct nvmf_qpair *qp)
{
	const struct tcp_qpair *tq = TQ(qp);

	/* Terminating: input is read and dropped while the TermReq waits. */
	return tq->terminating || (!tq->dead && !tcp_tx_full(tq));
}

static void tcp_set_limits(struct nvmf_qpair *qp, const struct nvmf_qpair_limits *limits)
{
	struct tcp_qpair *tq = TQ(qp);

	tq->read_budget = limits->read_budget ? limits->read_budget : TCP_DEFAULT_READ_BUDGET;
	tq->pdu_limit = limits->max_pdus;
	tq->tx_limit = limits->tx_backlog;
}

static unsigned tcp_outstanding(const struct nvmf_qpair *qp)
{
	return TQ(qp)->outstanding;
}

static struct nvmf_capsule *tcp_capsule_alloc(struct nvmf_qpair *qp)
{
	struct tcp_qpair *tq = TQ(qp);
	struct tcp_capsule *tc = tcp_pool_get(&tq->capsule_pool);

	if (tc == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	tc->in_use = true;
	tc->queued = false;
	tc->ddgst_error = false;
	tc->resp_deferred = false;
	tc->icd_len = 0;
	tc->xfers = NULL;
	tc->r2t_out = 0;
	tc->c2h_next = 0;
	tc->rx_next = 0;
	tc->nc.qp = qp;
	return &tc->nc;
}

static void tcp_capsule_free(struct nvmf_capsule *nc)
{
	struct tcp_qpair *tq = TQ(nc->qp);
	struct tcp_capsule *tc = TC(nc);

	if (tq->controller)
		tcp_ctrl_capsule_release(tq, tc);
	else
		tcp_host_capsule_release(tq, tc);
	tc->in_use = false;
	tcp_pool_put(&tq->capsule_pool, tc);
}

const struct nvmf_transport_ops nvmf_tcp_ops = {
	.trtype = NVMF_TRTYPE_TCP,
	.name = "tcp",
	.association_alloc = tcp_association_alloc,
	.qpair_alloc = tcp_qpair_alloc,
	.qpair_close = tcp_qpair_close,
	.qpair_destroy = tcp_qpair_destroy,
	.process = tcp_process,
	.flush = tcp_flush,
	.want_write = tcp_want_write,
	.want_read = tcp_want_read,
	.set_limits = tcp_set_limits,
	.outstanding = tcp_outstanding,
	.capsule_alloc = tcp_capsule_alloc,
	.capsule_free = tcp_capsule_free,
	.capsule_transmit = tcp_host_transmit,
	.validate_command = tcp_ctrl_validate,
	.data_len = tcp_ctrl_data_len,
	.incapsule_data = tcp_ctrl_icd,
	.receive_data = tcp_ctrl_receive_data,
	.send_data = tcp_ctrl_send_data,
	.send_response = tcp_ctrl_send_response,
};
