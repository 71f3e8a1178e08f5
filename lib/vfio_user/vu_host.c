/*
 * Host queue pairs over vfio-user: a userspace NVMe PCIe driver's queues.
 * Commands go into the SQ ring in shared memory with PRPs to a bounce
 * buffer of their own, the tail doorbell is written through the mmapped
 * BAR0 (or its shadow, see ring()); completions are found by their phase tag in the CQ ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vu_host.h"
#include "vu_internal.h"

struct vu_slot {
	struct nvmf_capsule *nc; /* NULL: free */
	uint8_t *bounce;
	uint64_t bounce_iova;
	uint64_t *prp_list;
	uint64_t prp_list_iova;
	bool direct; /* the data is the caller's buffer itself, in the shared memory */
};

struct vu_hqpair {
	struct nvmf_qpair qp;
	struct vu_client *cl;
	uint16_t qid, qsize;
	struct nvme_command *sq;
	struct nvme_completion *cq;
	uint64_t sq_iova, cq_iova;
	uint16_t sq_tail, cq_head;
	bool phase;
	bool polled;
	struct vu_slot *slots;
	uint16_t *free_cids;
	unsigned nfree;
	unsigned outstanding;
	/* Shadow doorbells (I/O queues of a device that took them): the tail and head go there,
	 * and to BAR0 only when the device's EventIdx asks. */
	volatile uint32_t *sq_shadow, *cq_shadow, *sq_ei, *cq_ei;
};

static struct vu_hqpair *hqp(const struct nvmf_qpair *qp)
{
	return (struct vu_hqpair *)qp;
}

struct nvmf_qpair *vu_host_qpair_create(struct nvmf_association *na, struct vu_client *c, uint16_t qid,
					uint16_t qsize, int vector, const struct nvmf_qpair_params *params)
{
	struct vu_hqpair *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->cl = c;
	q->qid = qid;
	q->qsize = qsize;
	q->phase = true;
	q->polled = vector < 0;
	q->qp.fd = eventfd(q->polled ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->slots = calloc(qsize, sizeof(*q->slots));
	q->free_cids = calloc(qsize, sizeof(*q->free_cids));
	q->sq = vu_client_alloc(c, (size_t)qsize * 64, &q->sq_iova);
	q->cq = vu_client_alloc(c, (size_t)qsize * 16, &q->cq_iova);
	bool ok = q->qp.fd >= 0 && q->slots && q->free_cids && q->sq && q->cq;
	/* One entry stays empty: qsize - 1 commands at once. */
	for (unsigned i = 0; ok && i + 1 < qsize; i++) {
		struct vu_slot *s = &q->slots[i];
		s->bounce = vu_client_alloc(c, VU_HOST_MAX_XFER, &s->bounce_iova);
		s->prp_list = vu_client_alloc(c, VU_PAGE, &s->prp_list_iova);
		ok = s->bounce && s->prp_list;
		q->free_cids[q->nfree++] = (uint16_t)(qsize - 2 - i);
	}
	if (ok && !q->polled && vu_client_set_msix(c, (unsigned)vector, q->qp.fd) < 0)
		ok = false;
	if (!ok) {
		if (q->qp.fd >= 0)
			close(q->qp.fd);
		free(q->slots);
		free(q->free_cids);
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	volatile uint32_t *shadow, *eventidx;
	if (qid && vu_client_shadow(c, &shadow, &eventidx)) {
		q->sq_shadow = &shadow[2 * qid];
		q->cq_shadow = &shadow[2 * qid + 1];
		q->sq_ei = &eventidx[2 * qid];
		q->cq_ei = &eventidx[2 * qid + 1];
	}
	q->qp.ready = true;
	q->qp.qid = qid;
	q->qp.qsize = qsize;
	if (nvmf_qpair_setup(&q->qp, na, params) < 0)
		return NULL;
	return &q->qp;
}

void vu_host_qpair_rings(const struct nvmf_qpair *qp, uint64_t *sq_iova, uint64_t *cq_iova)
{
	*sq_iova = hqp(qp)->sq_iova;
	*cq_iova = hqp(qp)->cq_iova;
}

/*
 * Doorbell i moves from old to value: in the shadow buffer if the queue has
 * one, then in BAR0 unless the device's EventIdx lies outside the entries
 * just added (NVMe's rule for shadow doorbells; 16-bit wrapping arithmetic).
 */
static void ring(struct vu_hqpair *q, unsigned i, volatile uint32_t *shadow, volatile uint32_t *ei, uint16_t old,
		 uint16_t value)
{
	if (shadow) {
		__atomic_store_n(shadow, value, __ATOMIC_RELEASE);
		/* Our store before the EventIdx load: the device stores EventIdx, then loads ours. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t event = (uint16_t)__atomic_load_n(ei, __ATOMIC_RELAXED);
		if ((uint16_t)(value - event - 1) >= (uint16_t)(value - old))
			return;
	}
	int rc = vu_client_ring(q->cl, i, value);
	if (rc < 0)
		nvmf_qpair_report_error(&q->qp, rc, "doorbell write failed");
}

static void finish(struct vu_hqpair *q, uint16_t cid, const struct nvme_completion *cqe, int error)
{
	struct vu_slot *s = &q->slots[cid];
	struct nvmf_capsule *nc = s->nc;
	s->nc = NULL;
	q->free_cids[q->nfree++] = cid;
	q->outstanding--;
	if (!error && (le16toh(cqe->status) & 0xfffe) == 0 && nc->data_len && !nc->send && !s->direct)
		memcpy(nc->data, s->bounce, nc->data_len);
	if (!error)
		nc->transferred = nc->data_len;
	if (nc->done)
		nc->done(nc->done_arg, nc, cqe, error);
}

void vu_host_qpair_close(struct nvmf_qpair *qp)
{
	struct vu_hqpair *q = hqp(qp);
	for (uint16_t i = 0; i + 1 < q->qsize; i++)
		if (q->slots[i].nc)
			finish(q, i, NULL, -ECONNABORTED);
}

void vu_host_qpair_destroy(struct nvmf_qpair *qp)
{
	struct vu_hqpair *q = hqp(qp);
	if (qp->fd >= 0)
		close(qp->fd);
	qp->fd = -1;
	free(q->slots);
	free(q->free_cids);
}

int vu_host_process(struct nvmf_qpair *qp)
{
	struct vu_hqpair *q = hqp(qp);
	if (!q->polled) {
		uint64_t v;
		ssize_t n = read(qp->fd, &v, sizeof(v));
		(void)n;
	}
	int done = 0;
	uint16_t old_head = q->cq_head;
	for (;;) {
		struct nvme_completion *e = &q->cq[q->cq_head];
		uint16_t status = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);
		if ((bool)(status & 1) != q->phase)
			break;
		struct nvme_completion cqe;
		memcpy(&cqe, e, sizeof(cqe));
		if (++q->cq_head == q->qsize) {
			q->cq_head = 0;
			q->phase = !q->phase;
		}
		uint16_t cid = cqe.cid;
		if (cid + 1u >= q->qsize || !q->slots[cid].nc) {
			nvmf_qpair_report_error(qp, -EPROTO, "completion for a command not outstanding");
			return -EPROTO;
		}
		finish(q, cid, &cqe, 0);
		done++;
	}
	if (done)
		ring(q, 2u * q->qid + 1, q->cq_shadow, q->cq_ei, old_head, q->cq_head);
	return done;
}

unsigned vu_host_outstanding(const struct nvmf_qpair *qp)
{
	return hqp(qp)->outstanding;
}

struct nvmf_capsule *vu_host_capsule_alloc(struct nvmf_qpair *qp)
{
	(void)qp;
	return calloc(1, sizeof(struct nvmf_capsule));
}

int vu_host_capsule_transmit(struct nvmf_capsule *nc)
{
	struct vu_hqpair *q = hqp(nc->qp);
	if (nc->data_len > VU_HOST_MAX_XFER)
		return -EINVAL;
	if (q->nfree == 0)
		return -EBUSY;
	uint16_t cid = q->free_cids[--q->nfree];
	struct vu_slot *s = &q->slots[cid];
	s->nc = nc;
	q->outstanding++;
	struct nvme_command sqe = nc->sqe;
	sqe.cid = cid;
	if (nc->data_len) {
		/*
		 * The data goes by PRPs: straight to the caller's buffer when it is a
		 * page-aligned one in the shared memory (nvmf_host_io_buffer), else to
		 * the slot's bounce buffer.  Commands without data keep their pointer
		 * (queue creation).
		 */
		uint64_t iova;
		s->direct = ((uintptr_t)nc->data & (VU_PAGE - 1)) == 0 &&
			    vu_client_iova_of(q->cl, nc->data, nc->data_len, &iova);
		if (!s->direct) {
			iova = s->bounce_iova;
			if (nc->send)
				memcpy(s->bounce, nc->data, nc->data_len);
		}
		sqe.flags &= (uint8_t)~NVME_CMD_PSDT_MASK;
		memset(&sqe.dptr, 0, sizeof(sqe.dptr));
		sqe.dptr.prp.prp1 = iova;
		size_t pages = (nc->data_len + VU_PAGE - 1) / VU_PAGE;
		if (pages == 2) {
			sqe.dptr.prp.prp2 = iova + VU_PAGE;
		} else if (pages > 2) {
			for (size_t i = 1; i < pages; i++)
				s->prp_list[i - 1] = iova + i * VU_PAGE;
			sqe.dptr.prp.prp2 = s->prp_list_iova;
		}
	}
	nc->sqe.cid = cid;
	memcpy(&q->sq[q->sq_tail], &sqe, sizeof(sqe));
	uint16_t old_tail = q->sq_tail;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->qsize);
	ring(q, 2u * q->qid, q->sq_shadow, q->sq_ei, old_tail, q->sq_tail);
	return 0;
}
