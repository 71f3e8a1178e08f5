/* NVMe/TCP controller side: ICReq, command capsules and Connect, R2T/H2CData, C2HData and responses. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/tcp_internal.h"

#define FEI_CCCID offsetof(struct nvme_tcp_data_pdu, cccid)
#define FEI_TTAG offsetof(struct nvme_tcp_data_pdu, ttag)
#define FEI_DATAO offsetof(struct nvme_tcp_data_pdu, datao)
#define FEI_DATAL offsetof(struct nvme_tcp_data_pdu, datal)

int tcp_ctrl_icreq(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_icreq *r = (const void *)hdr;
	const struct nvmf_association_params *ap = &tq->qp.na->params;
	uint32_t fei;

	if (le16toh(r->pfv) != NVME_TCP_PFV_1_0)
		fei = offsetof(struct nvme_tcp_icreq, pfv);
	else if (r->hpda > NVME_TCP_MAX_PDA)
		fei = offsetof(struct nvme_tcp_icreq, hpda);
	else if (r->dgst & ~(NVME_TCP_DGST_HDGST_ENABLE | NVME_TCP_DGST_DDGST_ENABLE))
		fei = offsetof(struct nvme_tcp_icreq, dgst);
	else {
		const uint32_t maxr2t = le32toh(r->maxr2t);
		struct tcp_tx_item *it = tcp_tx_alloc(tq, 0);
		if (it == NULL) {
			tcp_fail(tq, -ENOMEM, "out of memory");
			return -1;
		}
		tq->maxr2t = maxr2t < TCP_MAX_R2T_PER_CMD - 1 ? maxr2t : TCP_MAX_R2T_PER_CMD - 1;
		tq->qp.hdgst = (r->dgst & NVME_TCP_DGST_HDGST_ENABLE) && ap->header_digests;
		tq->qp.ddgst = (r->dgst & NVME_TCP_DGST_DDGST_ENABLE) && ap->data_digests;
		tq->txpda = r->hpda;
		size_t n = nvmf_tcp_build_icresp(it->hdr, tq->rxpda, tq->qp.hdgst, tq->qp.ddgst, tq->maxh2cdata);
		tcp_tx_queue(tq, it, n, NULL, 0, false);
		tq->qp.ready = true;
		return 0;
	}
	tcp_fatal_pdu(tq, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, fei, hdr, sizeof(*r), "bad ICReq");
	return -1;
}

int tcp_ctrl_cmd_hdr(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_capsule_cmd *c = (const void *)hdr;

	/* The queue has no free entry: the host broke the protocol (the spec's PDU Sequence Error). */
	if (nvmf_qpair_sq_full(&tq->qp)) {
		tcp_fatal_pdu(tq, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, hdr, c->ch.hlen,
			      "command beyond the submission queue's size");
		return -1;
	}
	struct nvmf_capsule *nc = nvmf_capsule_alloc_received(&tq->qp, &c->sqe);

	if (nc == NULL) {
		tcp_fail(tq, -ENOMEM, "out of memory");
		return -1;
	}
	struct tcp_capsule *tc = TC(nc);
	tc->icd_len = tq->rx_left;
	if (tc->icd_len > tc->icd_cap) {
		/* Page-aligned: a write's backend takes the data from here, O_DIRECT included. */
		size_t cap = (tc->icd_len + TCP_ICD_ALIGN - 1) & ~(size_t)(TCP_ICD_ALIGN - 1);
		uint8_t *b = aligned_alloc(TCP_ICD_ALIGN, cap);
		if (b == NULL) {
			nvmf_capsule_free(nc);
			tcp_fail(tq, -ENOMEM, "out of memory");
			return -1;
		}
		free(tc->icd);
		tc->icd = b;
		tc->icd_cap = (uint32_t)cap;
	}
	tq->rx_tc = tc;
	tq->rx_dst = tc->icd;
	tq->rx_act = ACT_CAPSULE_CMD;
	return 0;
}

/* The generic layer has filled CID, SQID and SQHD. */
static int queue_response(struct tcp_qpair *tq, const struct nvme_completion *cqe)
{
	struct tcp_tx_item *it = tcp_tx_alloc(tq, 0);

	if (it == NULL)
		return -ENOMEM;
	size_t n = nvmf_tcp_build_capsule_resp(it->hdr, cqe, tq->qp.hdgst);
	tcp_tx_queue(tq, it, n, NULL, 0, false);
	return 0;
}

void tcp_ctrl_cmd_done(struct tcp_qpair *tq, bool digest_ok)
{
	struct tcp_capsule *tc = tq->rx_tc;

	tq->rx_tc = NULL;
	nvmf_qpair_command_received(&tq->qp, &tc->nc, digest_ok);
}

/* ---- R2T / H2CData ---- */

static int r2t_alloc(struct tcp_qpair *tq)
{
	if (tq->r2t_free >= tq->nr2ts) {
		unsigned n = tq->nr2ts ? tq->nr2ts * 2 : 64;
		if (n > 0xffff)
			n = 0xffff;
		if (n <= tq->nr2ts)
			return -1;
		struct tcp_r2t *r = realloc(tq->r2ts, n * sizeof(*r));
		if (r == NULL)
			return -1;
		for (unsigned i = tq->nr2ts; i < n; i++) {
			r[i].active = false;
			r[i].next_free = (uint16_t)(i + 1);
		}
		tq->r2ts = r;
		tq->r2t_free = tq->nr2ts;
		tq->nr2ts = n;
	}
	unsigned t = tq->r2t_free;
	tq->r2t_free = tq->r2ts[t].next_free;
	return (int)t;
}

static void r2t_release(struct tcp_qpair *tq, unsigned t)
{
	tq->r2ts[t].active = false;
	tq->r2ts[t].next_free = (uint16_t)tq->r2t_free;
	tq->r2t_free = t;
}

/* Ask for more data while the command has R2T credit left. */
static int issue_r2ts(struct tcp_qpair *tq, struct tcp_capsule *tc)
{
	const uint16_t cid = le16toh(tc->nc.sqe.cid);

	for (struct tcp_xfer *x = tc->xfers; x; x = x->next) {
		while (!x->error && x->issued < x->len && tc->r2t_out < tq->maxr2t + 1) {
			const uint32_t n = x->len - x->issued < tq->maxh2cdata ? x->len - x->issued : tq->maxh2cdata;
			struct tcp_tx_item *it = tcp_tx_alloc(tq, 0);
			int t = it ? r2t_alloc(tq) : -1;
			if (t < 0) {
				if (it)
					tcp_tx_discard(tq, it);
				tcp_fail(tq, -ENOMEM, "out of memory or TTAGs");
				return -1;
			}
			struct tcp_r2t *r = &tq->r2ts[t];
			r->active = true;
			r->cid = cid;
			r->x = x;
			r->r2to = x->offset + x->issued;
			r->r2tl = n;
			r->got = 0;
			size_t h = nvmf_tcp_build_r2t(it->hdr, cid, (uint16_t)t, r->r2to, n, tq->qp.hdgst);
			tcp_tx_queue(tq, it, h, NULL, 0, false);
			x->issued += n;
			x->nr2t++;
			tc->r2t_out++;
		}
	}
	return 0;
}

static bool cid_has_r2t(const struct tcp_qpair *tq, uint16_t cid)
{
	for (unsigned i = 0; i < tq->nr2ts; i++)
		if (tq->r2ts[i].active && tq->r2ts[i].cid == cid)
			return true;
	return false;
}

int tcp_ctrl_h2c_hdr(struct tcp_qpair *tq, const uint8_t *hdr)
{
	const struct nvme_tcp_data_pdu *d = (const void *)hdr;
	const uint16_t cid = le16toh(d->cccid), ttag = le16toh(d->ttag);
	const uint32_t datao = le32toh(d->datao), datal = le32toh(d->datal);
	struct tcp_r2t *r = ttag < tq->nr2ts && tq->r2ts[ttag].active ? &tq->r2ts[ttag] : NULL;
	uint16_t fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei;

	if (r == NULL)
		fei = cid_has_r2t(tq, cid) ? FEI_TTAG : FEI_CCCID;
	else if (r->cid != cid)
		fei = FEI_CCCID;
	else {
		struct tcp_xfer *x = r->x;
		const uint64_t cmd_len = x->tc ? tcp_ctrl_data_len(&x->tc->nc) : (uint64_t)x->offset + x->len;
		const uint64_t end = (uint64_t)datao + datal, r2t_end = (uint64_t)r->r2to + r->r2tl;
		/* FEI is reserved (0) with FES 04h. */
		if (datao != r->r2to + r->got) {
			fei = FEI_DATAO;
			if (datao >= cmd_len)
				fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
		} else if (datal != tq->rx_left || end > r2t_end) {
			fei = FEI_DATAL;
			if (end > cmd_len)
				fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
		} else if (!(d->ch.flags & NVME_TCP_F_DATA_LAST) != (end != r2t_end)) {
			/* LAST_PDU marks exactly the R2T's final H2CData. */
			fei = offsetof(struct nvme_tcp_common_header, flags);
		} else {
			tq->rx_ttag = ttag;
			tq->rx_datal = datal;
			tq->rx_dst = x->buf ? x->buf + (datao - x->offset) : NULL;
			tq->rx_act = ACT_H2C;
			return 0;
		}
	}
	tcp_fatal_pdu(tq, fes, fei, hdr, d->ch.hlen, "bad H2CData");
	return -1;
}

static void xfer_unlink(struct tcp_capsule *tc, struct tcp_xfer *x)
{
	for (struct tcp_xfer **pp = &tc->xfers; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			return;
		}
}

void tcp_ctrl_h2c_done(struct tcp_qpair *tq, bool digest_ok)
{
	struct tcp_r2t *r = &tq->r2ts[tq->rx_ttag];
	struct tcp_xfer *x = r->x;
	struct tcp_capsule *tc = x->tc;

	r->got += tq->rx_datal;
	x->received += tq->rx_datal;
	if (!digest_ok && !x->error)
		x->error = -EBADMSG; /* not fatal: the command fails, the stream goes on */
	if (r->got == r->r2tl) {
		r2t_release(tq, tq->rx_ttag);
		x->nr2t--;
		if (tc)
			tc->r2t_out--;
	}
	const bool done = x->nr2t == 0 && (x->error || x->received == x->len);
	if (done) {
		if (tc)
			xfer_unlink(tc, x);
		nvmf_data_done_cb cb = x->cb;
		void *arg = x->cb_arg;
		int err = x->error;
		tcp_pool_put(&tq->xfer_pool, x);
		if (tc && issue_r2ts(tq, tc) < 0)
			return;
		if (cb)
			cb(arg, &tc->nc, err);
		return;
	}
	if (tc)
		(void)issue_r2ts(tq, tc);
}

int tcp_ctrl_receive_data(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len, unsigned flags,
			  nvmf_data_done_cb cb, void *arg)
{
	struct tcp_qpair *tq = TQ(nc->qp);
	struct tcp_capsule *tc = TC(nc);

	(void)flags; /* the data comes from the socket: the kernel does the copy */
	if (tq->dead)
		return -ENOTCONN; /* terminating: not reported failed yet */
	if (tc->icd_len) {
		memcpy(buf, tc->icd + offset, len);
		if (cb)
			cb(arg, nc, 0);
		return 0;
	}
	if (nc->sqe.dptr.sgl.type != NVME_SGL_TRANSPORT)
		return -EINVAL;
	/* Hosts (ours, Linux) refuse an R2T overlapping or preceding an earlier one. */
	if (offset < tc->rx_next)
		return -EINVAL;
	if (len == 0) {
		if (cb)
			cb(arg, nc, 0);
		return 0;
	}
	struct tcp_xfer *x = tcp_pool_get(&tq->xfer_pool);
	if (x == NULL)
		return -ENOMEM;
	memset(x, 0, sizeof(*x));
	x->tc = tc;
	x->buf = buf;
	x->offset = offset;
	x->len = (uint32_t)len;
	x->cb = cb;
	x->cb_arg = arg;
	tc->rx_next = offset + (uint32_t)len;
	struct tcp_xfer **pp = &tc->xfers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = x;
	(void)issue_r2ts(tq, tc);
	return 0;
}

/* ---- C2HData and responses ---- */

int tcp_ctrl_send_data(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt, bool last,
		       nvmf_data_done_cb cb, void *arg)
{
	struct tcp_qpair *tq = TQ(nc->qp);
	struct tcp_capsule *tc = TC(nc);
	const uint16_t cid = le16toh(nc->sqe.cid);
	const bool success = last && !tq->qp.sq_flow_control;
	size_t total = 0;

	if (tq->dead)
		return -ENOTCONN;
	if (tc->icd_len || nc->sqe.dptr.sgl.type != NVME_SGL_TRANSPORT)
		return -EINVAL;
	/* Hosts (ours, Linux) take C2HData only in order, without gaps. */
	if (offset != tc->c2h_next)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total == 0) {
		if (cb)
			cb(arg, nc, 0);
		return 0;
	}

	int vi = 0;
	size_t voff = 0; /* position within iov[vi] */
	uint32_t off = offset;
	size_t left = total;
	while (left) {
		const size_t chunk = left < TCP_C2H_MAX ? left : TCP_C2H_MAX;
		/* Count the caller's iovecs this PDU spans (one, usually: no loop). */
		int nseg = 1;
		if (iov[vi].iov_len - voff < chunk) {
			int j = vi;
			size_t o = voff, need = chunk;
			nseg = 0;
			while (need) {
				size_t avail = iov[j].iov_len - o;
				if (avail) {
					need -= avail < need ? avail : need;
					nseg++;
				}
				j++, o = 0;
			}
		}
		struct tcp_tx_item *it = tcp_tx_alloc(tq, nseg);
		if (it == NULL) {
			tcp_fail(tq, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
		/* Segments go straight into the item's iovec array, after the header's slot. */
		struct iovec *seg = it->iov + 1;
		int k = 0;
		size_t need = chunk;
		while (need) {
			size_t avail = iov[vi].iov_len - voff;
			if (avail == 0) {
				vi++, voff = 0;
				continue;
			}
			size_t take = avail < need ? avail : need;
			seg[k].iov_base = (uint8_t *)iov[vi].iov_base + voff;
			seg[k].iov_len = take;
			k++;
			need -= take;
			voff += take;
			if (voff == iov[vi].iov_len)
				vi++, voff = 0;
		}
		left -= chunk;
		const bool final = left == 0;
		size_t h = nvmf_tcp_build_c2h_data(it->hdr, cid, off, (uint32_t)chunk, final && last, final && success,
						   tq->qp.hdgst, tq->qp.ddgst, tq->txpda);
		tcp_tx_queue(tq, it, h, seg, k, tq->qp.ddgst);
		if (final) {
			it->cb = cb;
			it->cb_arg = arg;
			it->cb_nc = nc;
		}
		off += (uint32_t)chunk;
	}
	tc->c2h_next = off;
	return success ? NVMF_SUCCESS_SENT : 0;
}

int tcp_ctrl_send_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe)
{
	if (TQ(nc->qp)->dead)
		return -ENOTCONN;
	return queue_response(TQ(nc->qp), cqe);
}

/* ---- Command inspection ---- */

uint16_t tcp_ctrl_validate(const struct nvmf_capsule *nc)
{
	const struct tcp_capsule *tc = TC(nc);
	const struct nvme_sgl_desc *sgl = &nc->sqe.dptr.sgl;
	const uint32_t len = le32toh(sgl->length);

	if ((nc->sqe.flags & NVME_CMD_PSDT_MASK) != NVME_CMD_PSDT_SGL)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	if (tc->icd_len) {
		if (sgl->type != NVME_SGL_INCAPSULE)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID) | NVME_STATUS_DNR;
		if (le64toh(sgl->address) != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_OFFSET_INVALID) | NVME_STATUS_DNR;
		if (len != tc->icd_len)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID) | NVME_STATUS_DNR;
		return 0;
	}
	if (sgl->type == NVME_SGL_TRANSPORT)
		return 0;
	if (sgl->type == NVME_SGL_INCAPSULE) {
		/* In-capsule type without data: only a zero-length descriptor is consistent. */
		if (len != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID) | NVME_STATUS_DNR;
		if (le64toh(sgl->address) != 0)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_OFFSET_INVALID) | NVME_STATUS_DNR;
		return 0;
	}
	return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID) | NVME_STATUS_DNR;
}

size_t tcp_ctrl_data_len(const struct nvmf_capsule *nc)
{
	const struct tcp_capsule *tc = TC(nc);

	if (tc->icd_len)
		return tc->icd_len;
	if (nc->sqe.dptr.sgl.type == NVME_SGL_TRANSPORT)
		return le32toh(nc->sqe.dptr.sgl.length);
	return 0;
}

const void *tcp_ctrl_icd(const struct nvmf_capsule *nc, size_t *len)
{
	const struct tcp_capsule *tc = TC(nc);

	if (len)
		*len = tc->icd_len;
	return tc->icd_len ? tc->icd : NULL;
}

/* ---- Teardown ---- */

void tcp_ctrl_capsule_release(struct tcp_qpair *tq, struct tcp_capsule *tc)
{
	struct tcp_xfer *x = tc->xfers;

	tc->xfers = NULL;
	tc->r2t_out = 0;
	while (x) {
		struct tcp_xfer *next = x->next;
		nvmf_data_done_cb cb = x->cb;
		void *arg = x->cb_arg;
		if (tq->rx_act == ACT_H2C && tq->r2ts[tq->rx_ttag].x == x)
			tq->rx_dst = NULL; /* data mid-flight into a buffer the owner gave up */
		x->cb = NULL;
		x->tc = NULL;
		x->buf = NULL;
		x->error = -ECONNABORTED;
		if (x->nr2t == 0)
			tcp_pool_put(&tq->xfer_pool, x);
		/* else: stays until its R2Ts' data has been read and dropped */
		if (cb)
			cb(arg, &tc->nc, -ECONNABORTED);
		x = next;
	}
}

struct fail_ctx {
	struct tcp_qpair *tq;
	int error;
};

static void fail_capsule(void *obj, void *arg)
{
	struct tcp_capsule *tc = obj;
	struct fail_ctx *f = arg;

	if (!tc->in_use || tc->xfers == NULL)
		return;
	struct tcp_xfer *x = tc->xfers;
	tc->xfers = NULL;
	tc->r2t_out = 0;
	while (x) {
		struct tcp_xfer *next = x->next;
		nvmf_data_done_cb cb = x->cb;
		void *cb_arg = x->cb_arg;
		tcp_pool_put(&f->tq->xfer_pool, x);
		if (cb)
			cb(cb_arg, &tc->nc, f->error);
		x = next;
	}
}

void tcp_ctrl_fail_all(struct tcp_qpair *tq, int error)
{
	struct fail_ctx f = {tq, error};

	if (tq->rx_act == ACT_CAPSULE_CMD && tq->rx_tc) {
		/* A command whose data was still arriving. */
		struct tcp_capsule *tc = tq->rx_tc;
		tq->rx_tc = NULL;
		tq->rx_act = ACT_NONE;
		nvmf_capsule_free(&tc->nc);
	}
	tq->rx_act = ACT_NONE;
	tq->rx_dst = NULL;
	/* Abandoned transfers are only reachable through R2T slots. */
	for (unsigned i = 0; i < tq->nr2ts; i++) {
		struct tcp_r2t *r = &tq->r2ts[i];
		if (r->active && r->x->tc == NULL && --r->x->nr2t == 0)
			tcp_pool_put(&tq->xfer_pool, r->x);
		r->active = false;
	}
	tcp_pool_foreach(&tq->capsule_pool, fail_capsule, &f);
}
