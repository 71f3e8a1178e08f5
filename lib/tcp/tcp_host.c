/* NVMe/TCP host side: ICReq/ICResp, CID table, command transmit, C2HData, R2T and responses. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/tcp_internal.h"

/* Stands in for a capsule freed before its response: the CID stays busy until then. */
static struct tcp_capsule orphan;
/* A freed capsule whose response is in but whose H2CData is still queued: the CID
 * stays busy (and PDUs for it are refused) until that data has left. */
static struct tcp_capsule orphan_done;

#define FEI_CCCID offsetof(struct nvme_tcp_data_pdu, cccid)
#define FEI_DATAO offsetof(struct nvme_tcp_data_pdu, datao)
#define FEI_DATAL offsetof(struct nvme_tcp_data_pdu, datal)

int tcp_host_init(struct tcp_qpair *tq)
{
	const struct nvmf_association_params *ap = &tq->qp.na->params;
	unsigned qsize = tq->qp.qsize;

	tq->cids = calloc(qsize, sizeof(*tq->cids));
	tq->h2c_slots = calloc(qsize, sizeof(*tq->h2c_slots));
	tq->cid_free = malloc(qsize * sizeof(*tq->cid_free));
	if (tq->cids == NULL || tq->h2c_slots == NULL || tq->cid_free == NULL)
		return -1;
	for (unsigned i = 0; i < qsize; i++) {
		tq->h2c_slots[i].tq = tq;
		tq->h2c_slots[i].cid = (uint16_t)i;
	}
	/* Low CIDs first. */
	for (unsigned i = 0; i < qsize; i++)
		tq->cid_free[i] = (uint16_t)(qsize - 1 - i);
	tq->ncid_free = qsize;

	struct tcp_tx_item *it = tcp_tx_alloc(tq, 0);
	if (it == NULL)
		return -1;
	size_t n = nvmf_tcp_build_icreq(it->hdr, ap->pda, ap->header_digests, ap->data_digests, ap->maxr2t);
	tcp_tx_queue(tq, it, n, NULL, 0, false);
	return 0;
}

int tcp_host_icresp(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_icresp *r = (const void *)hdr;
	const struct nvmf_association_params *ap = &tq->qp.na->params;
	const uint8_t asked = (ap->header_digests ? NVME_TCP_DGST_HDGST_ENABLE : 0) |
			      (ap->data_digests ? NVME_TCP_DGST_DDGST_ENABLE : 0);
	const uint32_t maxh2c = le32toh(r->maxh2cdata);
	uint32_t fei;

	if (le16toh(r->pfv) != NVME_TCP_PFV_1_0)
		fei = offsetof(struct nvme_tcp_icresp, pfv);
	else if (r->cpda > NVME_TCP_MAX_PDA)
		fei = offsetof(struct nvme_tcp_icresp, cpda);
	else if (r->dgst & ~asked)
		fei = offsetof(struct nvme_tcp_icresp, dgst);
	else if (maxh2c < 4096 || maxh2c % 4)
		fei = offsetof(struct nvme_tcp_icresp, maxh2cdata);
	else {
		tq->qp.hdgst = (r->dgst & NVME_TCP_DGST_HDGST_ENABLE) != 0;
		tq->qp.ddgst = (r->dgst & NVME_TCP_DGST_DDGST_ENABLE) != 0;
		tq->txpda = r->cpda;
		tq->maxh2cdata = maxh2c;
		tq->qp.ready = true;
		return 0;
	}
	tcp_fatal_pdu(tq, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, fei, hdr, sizeof(*r), "bad ICResp");
	return -1;
}

static struct tcp_capsule *lookup(struct tcp_qpair *tq, uint16_t cid)
{
	struct tcp_capsule *tc = cid < tq->qp.qsize ? tq->cids[cid] : NULL;

	return tc == &orphan_done ? NULL : tc;
}

static void release_cid(struct tcp_qpair *tq, uint16_t cid)
{
	tq->cids[cid] = NULL;
	tq->cid_free[tq->ncid_free++] = cid;
	tq->outstanding--;
}

/*
 * The controller has taken the SQ entries before pos: move our view of its SQ head
 * there, only forward and never past our tail, so neither a stale SQHD (SPDK counts
 * completions, which may come out of order) nor a bogus one can make the queue look
 * fuller or emptier than it is.
 */
static void sq_head_advance(struct tcp_qpair *tq, uint16_t pos)
{
	const unsigned qsize = tq->qp.qsize;

	if (pos < qsize && (pos + qsize - tq->sq_head) % qsize <= (tq->sq_tail + qsize - tq->sq_head) % qsize)
		tq->sq_head = pos;
}

/* The command's response is in: release the CID and tell the owner. */
static void complete(struct tcp_qpair *tq, struct tcp_capsule *tc, uint16_t cid, const struct nvme_completion *cqe)
{
	if (tq->h2c_slots[cid].pending) {
		/* Our data for it is still queued and points into the caller's buffer:
		 * neither the buffer nor the CID may be handed back before it is out. */
		if (tc == &orphan) {
			tq->cids[cid] = &orphan_done;
			return;
		}
		tc->resp_deferred = true;
		tc->deferred_cqe = *cqe;
		return;
	}
	release_cid(tq, cid);
	if (tc == &orphan)
		return;
	tc->queued = false;
	struct nvme_completion c = *cqe;
	/* A data digest error on read data turns success into a retryable transport error. */
	if (tc->ddgst_error && (le16toh(c.status) & 0xfffe) == 0)
		c.status = htole16(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR));
	if (tc->nc.done)
		tc->nc.done(tc->nc.done_arg, &tc->nc, &c, 0);
}

int tcp_host_resp(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_capsule_resp *r = (const void *)hdr;
	const uint16_t cid = le16toh(r->cqe.cid);
	struct tcp_capsule *tc = lookup(tq, cid);

	/* resp_deferred: its response is already in, so this one is for no command. */
	if (tc == NULL || (tc != &orphan && tc->resp_deferred)) {
		tcp_fatal_pdu(tq, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
			      offsetof(struct nvme_tcp_capsule_resp, cqe) + offsetof(struct nvme_completion, cid), hdr,
			      r->ch.hlen, "response for an unknown CID");
		return -1;
	}
	sq_head_advance(tq, le16toh(r->cqe.sqhd));
	complete(tq, tc, cid, &r->cqe);
	return 0;
}

/*
 * C2HData must fill the command's buffer in order, without gaps or overlap
 * (DATAO = bytes received so far), as the Linux host also demands.  SUCCESS
 * needs LAST_PDU (checked with the common header) and the whole command's
 * data.  It is accepted with SQ flow control on too, as Linux does: SPDK's
 * target sends it whenever the completion's DW0 and DW1 are zero (nvmfd sends
 * it only when the host disabled SQ flow control).  FEI is reserved (0) for
 * FES 04h and 05h.
 */
int tcp_host_c2h_hdr(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_data_pdu *d = (const void *)hdr;
	const uint16_t cid = le16toh(d->cccid);
	const uint32_t datao = le32toh(d->datao), datal = le32toh(d->datal);
	const bool success = (d->ch.flags & NVME_TCP_F_DATA_SUCCESS) != 0;
	struct tcp_capsule *tc = lookup(tq, cid);
	uint16_t fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei;

	if (tc == NULL || (tc != &orphan && (tc->nc.send || tc->nc.data_len == 0 || tc->resp_deferred)))
		fei = FEI_CCCID;
	else if (tc != &orphan && datao > tc->nc.data_len)
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
	else if (datal != tq->rx_left)
		fei = FEI_DATAL;
	else if (tc != &orphan && (uint64_t)datao + datal > tc->nc.data_len)
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
	else if (tc != &orphan && datao != tc->nc.transferred)
		fei = FEI_DATAO;
	else if (success && tc != &orphan && (uint64_t)datao + datal != tc->nc.data_len)
		fei = offsetof(struct nvme_tcp_common_header, flags);
	else {
		tq->rx_tc = tc;
		tq->rx_cid = cid;
		tq->rx_datal = datal;
		tq->rx_dst = tc == &orphan ? NULL : (uint8_t *)tc->nc.data + datao;
		tq->rx_act = ACT_C2H;
		return 0;
	}
	tcp_fatal_pdu(tq, fes, fei, hdr, d->ch.hlen, "bad C2HData");
	return -1;
}

void tcp_host_c2h_done(struct tcp_qpair *tq, bool digest_ok)
{
	struct tcp_capsule *tc = tq->rx_tc;

	tq->rx_tc = NULL;
	if (tc != &orphan) {
		tc->nc.transferred += tq->rx_datal;
		if (!digest_ok)
			tc->ddgst_error = true;
	}
	if (tq->rx_flags & NVME_TCP_F_DATA_SUCCESS) {
		/* As if a CapsuleResp had come: the controller has taken this command. */
		sq_head_advance(tq, tq->h2c_slots[tq->rx_cid].sq_next);
		struct nvme_completion cqe = {.cid = htole16(tq->rx_cid), .sqid = htole16(tq->qp.qid),
					      .sqhd = htole16(tq->sq_head)};
		complete(tq, tc, tq->rx_cid, &cqe);
	}
}

/* An H2CData PDU has been written (or dropped on failure, when fail_all reports the command). */
static void h2c_sent(void *arg, struct nvmf_capsule *nc, int error)
{
	struct tcp_h2c_slot *slot = arg;
	struct tcp_qpair *tq = slot->tq;

	(void)nc; /* NULL: the capsule may be gone */
	if (--slot->pending || error || tq->dead)
		return;
	struct tcp_capsule *tc = tq->cids[slot->cid];
	if (tc == &orphan_done)
		release_cid(tq, slot->cid);
	else if (tc && tc != &orphan && tc->resp_deferred) {
		tc->resp_deferred = false;
		complete(tq, tc, slot->cid, &tc->deferred_cqe);
	}
}

/* The last H2CData of an R2T: that R2T no longer counts against MAXR2T. */
static void h2c_sent_last(void *arg, struct nvmf_capsule *nc, int error)
{
	((struct tcp_h2c_slot *)arg)->r2t_out--;
	h2c_sent(arg, nc, error);
}

/*
 * A hostile controller must not make us queue unbounded H2CData: each R2T must
 * lie within the command's data and start at or after the end of the ones
 * before (Linux: "unexpected r2t offset"), and at most MAXR2T + 1 may be
 * outstanding.  An R2TL above MAXH2CDATA is fine: we split it.
 */
int tcp_host_r2t(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_r2t *r = (const void *)hdr;
	const uint16_t cid = le16toh(r->cccid), ttag = le16toh(r->ttag);
	const uint32_t r2to = le32toh(r->r2to), r2tl = le32toh(r->r2tl);
	struct tcp_capsule *tc = lookup(tq, cid);
	uint16_t fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei;

	if (tc == NULL || tc == &orphan || !tc->nc.send || tc->nc.data_len == 0 || tc->resp_deferred)
		fei = offsetof(struct nvme_tcp_r2t, cccid);
	else if (r2to >= tc->nc.data_len)
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
	else if (r2tl == 0)
		fei = offsetof(struct nvme_tcp_r2t, r2tl);
	else if ((uint64_t)r2to + r2tl > tc->nc.data_len)
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
	else if (r2to < tc->r2t_end)
		fei = offsetof(struct nvme_tcp_r2t, r2to); /* overlaps data already asked for */
	else if (tq->h2c_slots[cid].r2t_out > tq->qp.na->params.maxr2t)
		fes = NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, fei = 0; /* "R2T limit exceeded" */
	else {
		const uint32_t end = r2to + r2tl;
		for (uint32_t off = r2to; off < end;) {
			uint32_t n = end - off < tq->maxh2cdata ? end - off : tq->maxh2cdata;
			struct tcp_tx_item *it = tcp_tx_alloc(tq, 1);
			if (it == NULL) {
				tcp_fail(tq, -ENOMEM, "out of memory");
				return -1;
			}
			size_t h = nvmf_tcp_build_h2c_data(it->hdr, cid, ttag, off, n, off + n == end, tq->qp.hdgst,
							   tq->qp.ddgst, tq->txpda);
			struct iovec iov = {.iov_base = (uint8_t *)tc->nc.data + off, .iov_len = n};
			tcp_tx_queue(tq, it, h, &iov, 1, tq->qp.ddgst);
			it->cb = off + n == end ? h2c_sent_last : h2c_sent;
			it->cb_arg = &tq->h2c_slots[cid];
			tq->h2c_slots[cid].pending++;
			tc->nc.transferred += n;
			off += n;
		}
		tc->r2t_end = end;
		tq->h2c_slots[cid].r2t_out++;
		return 0;
	}
	tcp_fatal_pdu(tq, fes, fei, hdr, r->ch.hlen, "bad R2T");
	return -1;
}

int tcp_host_transmit(struct nvmf_capsule *nc)
{
	struct tcp_qpair *tq = TQ(nc->qp);
	struct tcp_capsule *tc = TC(nc);
	const unsigned qsize = tq->qp.qsize;

	if (tq->dead)
		return -ENOTCONN; /* terminating: not reported failed yet */
	if (!tq->qp.ready)
		return -EAGAIN;
	if (tc->queued)
		return -EINVAL;
	if (tq->ncid_free == 0)
		return -EBUSY;
	if (tq->qp.sq_flow_control && (unsigned)(tq->sq_tail + qsize - tq->sq_head) % qsize >= qsize - 1)
		return -EBUSY;

	const struct nvmf_fabrics_command *fc = (const void *)&nc->sqe;
	const bool connect = nc->sqe.opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_CONNECT;
	const uint32_t limit = tq->qp.admin ? NVMF_ADMIN_INCAPSULE_DATA : tq->qp.na->params.ioccsz;
	const bool icd = nc->send && nc->data_len && (connect || nc->data_len <= limit);
	struct tcp_tx_item *it = tcp_tx_alloc(tq, icd ? 1 : 0);
	if (it == NULL)
		return -ENOMEM;

	const uint16_t cid = tq->cid_free[--tq->ncid_free];
	nc->sqe.cid = htole16(cid);
	nc->sqe.flags = (uint8_t)((nc->sqe.flags & NVME_CMD_FUSE_MASK) | NVME_CMD_PSDT_SGL);
	memset(&nc->sqe.dptr.sgl, 0, sizeof(nc->sqe.dptr.sgl));
	nc->sqe.dptr.sgl.type = icd ? NVME_SGL_INCAPSULE : NVME_SGL_TRANSPORT;
	nc->sqe.dptr.sgl.length = htole32((uint32_t)nc->data_len);

	size_t h = nvmf_tcp_build_capsule_cmd(it->hdr, &nc->sqe, icd ? (uint32_t)nc->data_len : 0, tq->qp.hdgst,
					      tq->qp.ddgst, tq->txpda);
	struct iovec iov = {.iov_base = nc->data, .iov_len = nc->data_len};
	tcp_tx_queue(tq, it, h, &iov, icd ? 1 : 0, tq->qp.ddgst);
	nc->transferred = icd ? nc->data_len : 0;
	tc->cid = cid;
	tc->queued = true;
	tc->ddgst_error = false;
	tc->r2t_end = 0;
	tq->h2c_slots[cid].r2t_out = 0; /* a free CID has no H2CData queued */
	tq->cids[cid] = tc;
	tq->outstanding++;
	tq->sq_tail = (uint16_t)((tq->sq_tail + 1) % qsize);
	tq->h2c_slots[cid].sq_next = tq->sq_tail;
	return 0;
}

void tcp_host_capsule_release(struct tcp_qpair *tq, struct tcp_capsule *tc)
{
	if (tc->queued && !tq->dead)
		/* Response in but H2CData still queued: the CID waits for the data (not for
		 * this capsule); no response yet: it waits for the response. */
		tq->cids[tc->cid] = tc->resp_deferred ? &orphan_done : &orphan;
	tc->resp_deferred = false;
	if (tq->rx_act == ACT_C2H && tq->rx_tc == tc) {
		tq->rx_tc = &orphan; /* the rest of this PDU's data is dropped */
		tq->rx_dst = NULL;
	}
	tc->queued = false;
}

void tcp_host_fail_all(struct tcp_qpair *tq, int error)
{
	for (unsigned cid = 0; cid < tq->qp.qsize; cid++) {
		struct tcp_capsule *tc = tq->cids[cid];
		if (tc == NULL)
			continue;
		release_cid(tq, (uint16_t)cid);
		if (tc == &orphan || tc == &orphan_done)
			continue;
		tc->queued = false;
		if (tc->nc.done)
			tc->nc.done(tc->nc.done_arg, &tc->nc, NULL, error);
	}
}
