/*
 * The vfio-user transport's queue pairs, controller side: commands fetched
 * from submission queues in guest memory when the client rang the doorbell
 * (in the BAR0 memory it mmapped, or in its shadow doorbell buffer: the
 * reactor polls them while I/O flows), data moved by PRP entries or SGLs
 * in guest memory, responses posted with phase tags on completion queues
 * and signalled through the interrupt eventfds.  The generic layer (transport.c) sees ordinary
 * command capsules: Connect, CID and queue bookkeeping stay there.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/nvme_admin_spec.h>

#include "util/clock.h"
#include "util/copy.h"
#include "vu_guard.h"
#include "vu_host.h"
#include "vu_internal.h"

/* Commands fetched from one SQ per poll: other queues get their turn. */
#define VU_FETCH_BUDGET 64
/* Cache lines of a held copy's source prefetched: enough to start the hardware's stream. */
#define VU_PREFETCH_LINES 4

/* ctrl_capsule_alloc() resets each field by name: a new field needs its line there. */
struct vu_capsule {
	struct nvmf_capsule nc;
	uint64_t data_len; /* cached: 0 until computed */
	bool data_len_known;
	/* Commands the transport made itself (Connect, Property Get/Set). */
	bool internal;
	const void *idata;
	size_t ilen;
	vu_internal_done idone;
	void *iarg;
	/* Read data copied out: its callback runs on the next poll (the core answers first). */
	nvmf_data_done_cb sent_cb;
	void *sent_arg;
	struct vu_capsule *sent_next;
	/* Its read data waits in its queue's copies[copy - 1] (0: none). */
	unsigned copy;
	bool copy_failed; /* answered later: with Data Transfer Error */
};

/*
 * A copy held to the end of the fetch pass: a read's data into guest memory
 * (its answer held until then), or a write's from guest memory into storage
 * (its callback run then).
 */
struct vu_copy {
	struct vu_capsule *c;
	uint32_t offset;
	struct iovec src;
	bool answered; /* the core answered: cqe goes out after the copy */
	struct nvme_completion cqe;
	/* A write: dst in storage, src.iov_len bytes; cb(cb_arg) once the pass's copies are fenced. */
	void *dst;
	nvmf_data_done_cb cb;
	void *cb_arg;
};

struct vu_cqpair {
	struct vu_qpair v;
	struct vu_capsule *sent_head, *sent_tail;
	/* Capsules given back, for the next commands: no allocation per command. */
	struct vu_capsule *free_caps;
	unsigned nfree;
	uint32_t bad_tail; /* last invalid doorbell value reported (+1), to report each once */
	/*
	 * While a pass fetches commands, reads' copies into guest memory wait for
	 * its end, their sources prefetched meanwhile: a copy from memory that is
	 * not in cache then overlaps with the next commands' work instead of
	 * stalling on its first lines.  Writes into storage wait too: their
	 * non-temporal stores are fenced once for the pass, and the next
	 * command's locked instructions (counters, locks) no longer wait for
	 * each write's stores to drain.
	 */
	bool fetching;
	unsigned ncopies;
	struct vu_copy copies[VU_FETCH_BUDGET];
};

void vu_ctrl_init(struct vu_ctrl *vc)
{
	memset(vc, 0, sizeof(*vc));
	for (unsigned i = 0; i < VU_NR_VECTORS; i++)
		vc->msix_fd[i] = -1;
	vc->msi_fd = vc->intx_fd = -1;
}

/* One entry into the ring: false when the ring's memory is gone. */
static bool write_cqe(struct vu_ctrl *vc, struct nvme_completion *slot, const struct nvme_completion *c)
{
	bool fault = false;
	VU_GUARDED(
		&vc->dma,
		{
			memcpy(slot, c, 12);
			/* The status word (with the phase tag) last: the guest sees a whole entry. */
			atomic_thread_fence(memory_order_release);
			__atomic_store_n(&slot->cid, c->cid, __ATOMIC_RELAXED);
			__atomic_store_n(&slot->status, c->status, __ATOMIC_RELEASE);
		},
		fault = true);
	return !fault;
}

/* Write the entries cq holds (see vu_cq.by_line). */
static void write_held(struct vu_ctrl *vc, struct vu_cq *cq)
{
	for (unsigned i = 0; i < cq->nheld && cq->live && cq->ring && !vc->fatal; i++)
		if (!write_cqe(vc, &cq->ring[cq->held_slot + i], &cq->held[i]))
			vc->fatal = true; /* the queue's memory went away under its mapping */
	cq->nheld = 0;
}

void vu_post_cqe(struct vu_ctrl *vc, uint16_t cqid, const struct nvme_completion *cqe)
{
	struct vu_cq *cq = &vc->cq[cqid];
	if (cq->inflight)
		cq->inflight--;
	if (!cq->live || !cq->ring)
		return;
	uint16_t slot = cq->tail;
	struct nvme_completion c = *cqe;
	c.status = (uint16_t)((c.status & ~1u) | (cq->phase ? 1u : 0u));
	if (cq->by_line) {
		if (!cq->nheld)
			cq->held_slot = slot;
		cq->held[cq->nheld++] = c;
		/* Queues are page-aligned: four entries to a line; the ring's end ends one too. */
		if ((slot & 3) == 3 || slot + 1 == cq->size)
			write_held(vc, cq);
	} else if (!write_cqe(vc, &cq->ring[slot], &c)) {
		vc->fatal = true; /* the queue's memory went away under its mapping */
		return;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	if (cq->ien) {
		struct vu_vector *v = &vc->vec[cq->iv < VU_NR_VECTORS ? cq->iv : 0];
		v->pending++;
		v->admin |= cqid == 0;
		vc->irqs_pending = true;
	}
}

void vu_complete(struct vu_ctrl *vc, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t cdw0)
{
	struct vu_sq *sq = &vc->sq[sqid];
	struct nvme_completion c = {.cdw0 = cdw0, .sqhd = sq->head, .sqid = sqid, .cid = cid, .status = status};
	vu_post_cqe(vc, sq->cqid, &c);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (fd >= 0) {
		ssize_t n = write(fd, &one, sizeof(one));
		(void)n;
	}
}

int vu_signal_irqs(struct vu_ctrl *vc)
{
	if (!vc->irqs_pending)
		return 0;
	vc->irqs_pending = false;
	bool coalescing = vc->coalesce_thr && vc->coalesce_time;
	uint64_t now = 0;
	int n = 0;
	for (unsigned i = 0; i < VU_NR_VECTORS; i++) {
		struct vu_vector *v = &vc->vec[i];
		if (!v->pending)
			continue;
		if (coalescing && !v->admin && !v->cd && v->pending <= vc->coalesce_thr) {
			if (!now)
				now = nvmf_clock_ns();
			if (!v->since_ns)
				v->since_ns = now;
			if (now - v->since_ns < vc->coalesce_time * 100000ull) {
				vc->irqs_pending = true; /* held: looked at again next pass */
				continue;
			}
		}
		*v = (struct vu_vector){.cd = v->cd};
		/* MSI-X when the client set its vectors up, else MSI, else INTx. */
		int fd = vc->msix_fd[i];
		if (fd < 0)
			fd = vc->msi_fd >= 0 ? vc->msi_fd : vc->intx_fd;
		signal_fd(fd);
		n++;
	}
	return n;
}

bool vu_remap_queues(struct vu_ctrl *vc)
{
	bool ok = true;
	for (unsigned q = 0; q <= VU_MAX_QID; q++) {
		struct vu_sq *sq = &vc->sq[q];
		struct vu_cq *cq = &vc->cq[q];
		if (sq->live) {
			sq->ring = vu_dma_ptr(&vc->dma, sq->iova, (uint64_t)sq->size * 64, false);
			ok = ok && sq->ring;
		}
		if (cq->live) {
			cq->ring = vu_dma_ptr(&vc->dma, cq->iova, (uint64_t)cq->size * 16, true);
			ok = ok && cq->ring;
		}
	}
	if (vc->shadow) {
		vc->shadow = vu_dma_ptr(&vc->dma, vc->shadow_iova, VU_PAGE, true);
		vc->eventidx = vu_dma_ptr(&vc->dma, vc->eventidx_iova, VU_PAGE, true);
		ok = ok && vc->shadow && vc->eventidx;
		if (!vc->shadow || !vc->eventidx)
			vc->shadow = vc->eventidx = NULL;
	}
	return ok;
}

void vu_reset_queues(struct vu_ctrl *vc)
{
	for (unsigned q = 0; q <= VU_MAX_QID; q++) {
		struct vu_qpair *vqp = vc->sq[q].vqp;
		memset(&vc->sq[q], 0, sizeof(vc->sq[q]));
		vc->sq[q].vqp = vqp;
		memset(&vc->cq[q], 0, sizeof(vc->cq[q]));
		vc->vec[q] = (struct vu_vector){0};
		if (vc->doorbells) {
			vc->doorbells[2 * q] = 0;
			vc->doorbells[2 * q + 1] = 0;
		}
	}
	vc->shadow = vc->eventidx = NULL;
	vc->eventidx_followed = false;
	vc->irqs_pending = false;
	vc->coalesce_thr = vc->coalesce_time = 0;
}

void vu_zero_doorbell(struct vu_ctrl *vc, unsigned i)
{
	vc->doorbells[i] = 0;
	if (vc->shadow && i >= 2) {
		volatile uint32_t *shadow = vc->shadow;
		VU_GUARDED(&vc->dma, shadow[i] = 0, vc->fatal = true);
	}
}

bool vu_arm_eventidx(struct vu_ctrl *vc)
{
	if (!vc->shadow)
		return true;
	volatile uint32_t *shadow = vc->shadow, *eventidx = vc->eventidx;
	bool quiet = true;
	vc->eventidx_followed = false;
	VU_GUARDED(
		&vc->dma,
		{
			for (unsigned q = 1; q <= VU_MAX_QID; q++)
				if (vc->sq[q].live)
					__atomic_store_n(&eventidx[2 * q], vc->sq[q].head, __ATOMIC_RELAXED);
			/* The guest stores its tail, then reads EventIdx; we store EventIdx, then read the
			 * tail: one of us sees the other's store. */
			atomic_thread_fence(memory_order_seq_cst);
			for (unsigned q = 1; q <= VU_MAX_QID; q++) {
				uint32_t tail = vc->sq[q].live ? __atomic_load_n(&shadow[2 * q], __ATOMIC_RELAXED) : 0;
				/* An invalid tail was reported and fetches nothing: it must not keep us polling. */
				if (vc->sq[q].live && tail != vc->sq[q].head && tail < vc->sq[q].size)
					quiet = false;
			}
		},
		vc->fatal = true);
	return quiet;
}

/*
 * While the device polls: EventIdx one entry behind what the guest wrote,
 * so that its next writes never cross it and it rings BAR0 (a message) for
 * none of them, not even when its index wraps (the fixed value a polling
 * device could leave there is crossed once per wrap).
 */
static void follow_eventidx(struct vu_ctrl *vc, uint16_t sqid, uint16_t cqid, uint32_t tail, uint32_t head)
{
	volatile uint32_t *eventidx = vc->eventidx;
	uint32_t sq_ei = (tail ? tail : vc->sq[sqid].size) - 1, cq_ei = (head ? head : vc->cq[cqid].size) - 1;
	vc->eventidx_followed = true;
	VU_GUARDED(
		&vc->dma,
		{
			__atomic_store_n(&eventidx[2 * sqid], sq_ei, __ATOMIC_RELAXED);
			__atomic_store_n(&eventidx[2 * cqid + 1], cq_ei, __ATOMIC_RELAXED);
		},
		vc->fatal = true);
}

/* The SQ tail and CQ head doorbells of an I/O or admin queue: from the shadow buffer for I/O
 * queues that have one.  False when its memory went away (the controller is then fatal). */
static bool load_doorbells(struct vu_ctrl *vc, uint16_t sqid, uint16_t cqid, uint32_t *tail, uint32_t *head)
{
	volatile uint32_t *shadow = vc->shadow;
	if (!shadow || sqid == 0) {
		*tail = __atomic_load_n(&vc->doorbells[2 * sqid], __ATOMIC_ACQUIRE);
		*head = __atomic_load_n(&vc->doorbells[2 * cqid + 1], __ATOMIC_ACQUIRE);
		return true;
	}
	bool ok = true;
	VU_GUARDED(
		&vc->dma,
		{
			*tail = __atomic_load_n(&shadow[2 * sqid], __ATOMIC_ACQUIRE);
			*head = __atomic_load_n(&shadow[2 * cqid + 1], __ATOMIC_ACQUIRE);
		},
		ok = false);
	if (!ok)
		vc->fatal = true;
	return ok;
}

/* ---- Controller queue pairs ---- */

static struct vu_cqpair *cqp(struct nvmf_qpair *qp)
{
	return (struct vu_cqpair *)qp;
}

struct nvmf_qpair *vu_qpair_create(struct nvmf_association *na, struct vu_ctrl *vc, uint16_t qid,
				   const struct nvmf_qpair_params *params)
{
	struct vu_cqpair *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->v.vc = vc;
	q->v.qid = qid;
	q->v.qp.fd = -1;
	q->v.qp.ready = true;
	if (nvmf_qpair_setup(&q->v.qp, na, params) < 0)
		return NULL; /* freed by the generic layer */
	return &q->v.qp;
}

/* Run the callbacks of read data copied out (the core has answered those commands by now). */
static void run_sent(struct vu_cqpair *q, int error)
{
	while (q->sent_head) {
		struct vu_capsule *c = q->sent_head;
		q->sent_head = c->sent_next;
		if (!q->sent_head)
			q->sent_tail = NULL;
		nvmf_data_done_cb cb = c->sent_cb;
		c->sent_cb = NULL;
		if (cb)
			cb(c->sent_arg, &c->nc, error);
	}
}

static void ctrl_qpair_close(struct nvmf_qpair *qp)
{
	struct vu_cqpair *q = cqp(qp);
	struct vu_ctrl *vc = q->v.vc;
	if (vc && q->v.qid <= VU_MAX_QID && vc->sq[q->v.qid].vqp == &q->v)
		vc->sq[q->v.qid].vqp = NULL;
	q->v.vc = NULL;
	/* Held copies and answers go with the queue; held writes are answered failed. */
	unsigned n = q->ncopies;
	q->ncopies = 0;
	for (unsigned i = 0; i < n; i++) {
		struct vu_copy *j = &q->copies[i];
		j->c->copy = 0;
		if (j->cb)
			j->cb(j->cb_arg, &j->c->nc, -ECONNABORTED);
	}
	run_sent(q, -ECONNABORTED);
}

/* Report a doorbell write the NVMe specification calls invalid, once per value. */
static void doorbell_error(struct vu_cqpair *q, uint32_t value, uint8_t info)
{
	struct vu_ctrl *vc = q->v.vc;
	if (q->bad_tail == value + 1)
		return;
	q->bad_tail = value + 1;
	if (vc->hooks && vc->hooks->doorbell_error)
		vc->hooks->doorbell_error(vc, info);
}

static void flush_copies(struct vu_cqpair *q);

int vu_qpair_poll(struct nvmf_qpair *qp)
{
	struct vu_cqpair *q = cqp(qp);
	struct vu_ctrl *vc = q->v.vc;
	run_sent(q, 0);
	if (!vc || vc->fatal || !vc->doorbells)
		return 0;
	uint16_t qid = q->v.qid;
	struct vu_sq *sq = &vc->sq[qid];
	if (!sq->live || sq->deleting || sq->vqp != &q->v || !sq->ring)
		return 0;
	struct vu_cq *cq = &vc->cq[sq->cqid];
	if (!cq->live || !cq->ring)
		return 0;
	uint32_t tail, head;
	if (!load_doorbells(vc, qid, sq->cqid, &tail, &head))
		return 0;
	if (tail >= sq->size) {
		doorbell_error(q, tail, 0x01);
		return 0;
	}
	if (head >= cq->size) {
		doorbell_error(q, head, 0x01);
		return 0;
	}
	if (qid && vc->shadow && (tail != sq->head || head != cq->head))
		follow_eventidx(vc, qid, sq->cqid, tail, head);
	cq->head = (uint16_t)head;
	int n = 0;
	/* The host wrote these commands on another CPU: start every line's fetch before the
	 * first is read, so their misses overlap (a prefetch never faults). */
	unsigned ahead = (tail + sq->size - sq->head) % sq->size;
	if (ahead > VU_FETCH_BUDGET)
		ahead = VU_FETCH_BUDGET;
	for (unsigned i = 0, h = sq->head; i < ahead; i++, h = h + 1 == sq->size ? 0 : h + 1)
		__builtin_prefetch(&sq->ring[h], 0, 3);
	q->fetching = true;
	cq->by_line = true;
	while (sq->head != tail && n < VU_FETCH_BUDGET) {
		unsigned used = (unsigned)((cq->tail + cq->size - cq->head) % cq->size);
		if (used + cq->inflight + 1 >= cq->size)
			break; /* no room for its completion yet */
		struct nvme_command sqe;
		bool fault = false;
		VU_GUARDED(&vc->dma, memcpy(&sqe, &sq->ring[sq->head], sizeof(sqe)), fault = true);
		if (fault) {
			vc->fatal = true;
			break;
		}
		sq->head = (uint16_t)((sq->head + 1) % sq->size);
		cq->inflight++;
		n++;
		if (qid == 0 && vc->hooks && vc->hooks->admin_command(vc, &sqe))
			continue;
		if (sqe.opc == NVME_OPC_FABRICS) {
			/* No Fabrics commands on PCIe: the core must never see one from the guest. */
			vu_complete(vc, qid, sqe.cid, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0);
			continue;
		}
		struct nvmf_capsule *nc = nvmf_capsule_alloc_received(qp, &sqe);
		if (!nc) {
			vu_complete(vc, qid, sqe.cid, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
			continue;
		}
		q->v.inflight++;
		nvmf_qpair_command_received(qp, nc, true);
		/* The command may have closed the queue (Delete I/O SQ of itself, a reset). */
		if (q->v.vc != vc || !sq->live || sq->vqp != &q->v)
			break;
	}
	q->fetching = false;
	flush_copies(q);
	/* Before any interrupt for them (a reset in the pass left nothing held). */
	cq->by_line = false;
	write_held(vc, cq);
	return n;
}

static int ctrl_process(struct nvmf_qpair *qp)
{
	return vu_qpair_poll(qp);
}

int vu_qpair_submit_internal(struct nvmf_qpair *qp, const struct nvme_command *sqe, const void *data, size_t len,
			     vu_internal_done done, void *arg)
{
	struct nvmf_capsule *nc = nvmf_capsule_alloc_received(qp, sqe);
	if (!nc)
		return -ENOMEM;
	struct vu_capsule *c = (struct vu_capsule *)nc;
	/* A CID no command of the guest holds now. */
	uint16_t cid = 0xffff;
	while (cid && (qp->cid_busy[cid >> 6] >> (cid & 63) & 1))
		cid--;
	nc->sqe.cid = cid;
	c->internal = true;
	c->idata = data;
	c->ilen = len;
	c->idone = done;
	c->iarg = arg;
	nvmf_qpair_command_received(qp, nc, true);
	return 0;
}

/* ---- Capsules and data ---- */

/* Capsules a queue keeps for reuse: a queue has at most this many commands in flight. */
#define VU_CAPSULE_CACHE 1024

static struct nvmf_capsule *ctrl_capsule_alloc(struct nvmf_qpair *qp)
{
	struct vu_cqpair *q = cqp(qp);
	struct vu_capsule *c = q->free_caps;
	if (c) {
		/* Field by field, as the core resets nc: a memset here, a rep stos, was a quarter of
		 * the reactor's time on a null namespace (slow to start on AMD's cores). */
		q->free_caps = c->sent_next;
		q->nfree--;
		c->data_len = 0;
		c->data_len_known = false;
		c->internal = false;
		c->idata = NULL;
		c->ilen = 0;
		c->idone = NULL;
		c->iarg = NULL;
		c->sent_cb = NULL;
		c->sent_arg = NULL;
		c->sent_next = NULL;
		c->copy = 0;
		c->copy_failed = false;
	} else {
		c = calloc(1, sizeof(*c));
	}
	return c ? &c->nc : NULL;
}

static void vu_capsule_free(struct nvmf_capsule *nc)
{
	if (nc->qp && nc->qp->na->controller && cqp(nc->qp)->nfree < VU_CAPSULE_CACHE) {
		struct vu_cqpair *q = cqp(nc->qp);
		struct vu_capsule *c = (struct vu_capsule *)nc;
		c->sent_next = q->free_caps;
		q->free_caps = c;
		q->nfree++;
		return;
	}
	free(nc);
}

static uint64_t capsule_data_len(struct vu_capsule *c, uint16_t *st)
{
	*st = 0;
	if (c->internal)
		return c->ilen;
	struct vu_ctrl *vc = ((struct vu_qpair *)c->nc.qp)->vc;
	if ((c->nc.sqe.flags & NVME_CMD_PSDT_MASK) == 0)
		return VU_PRP_MAX_XFER;
	if (!c->data_len_known && vc) {
		c->data_len = vu_sgl_length(&vc->dma, &c->nc.sqe, st);
		c->data_len_known = *st == 0;
	}
	return c->data_len;
}

static uint16_t ctrl_validate_command(const struct nvmf_capsule *nc)
{
	struct vu_capsule *c = (struct vu_capsule *)nc;
	if (c->internal)
		return 0;
	uint8_t psdt = nc->sqe.flags & NVME_CMD_PSDT_MASK;
	if (psdt == NVME_CMD_PSDT_MASK)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	if (psdt == 0)
		return (nc->sqe.dptr.prp.prp1 & 3) ? NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_PRP_OFFSET) : 0;
	uint16_t st;
	capsule_data_len(c, &st);
	return st;
}

static size_t ctrl_data_len(const struct nvmf_capsule *nc)
{
	uint16_t st;
	uint64_t len = capsule_data_len((struct vu_capsule *)nc, &st);
	return st ? 0 : (size_t)len;
}

static const void *ctrl_incapsule_data(const struct nvmf_capsule *nc, size_t *len)
{
	const struct vu_capsule *c = (const struct vu_capsule *)nc;
	*len = c->internal ? c->ilen : 0;
	return c->internal ? c->idata : NULL;
}

/* vu_walk_data with guest memory that may fault: a fault is a Data Transfer Error (what the walk
 * stored meanwhile is undefined, as for any write that fails). */
static uint16_t walk_guarded(struct vu_dma *d, const struct nvme_command *sqe, uint64_t offset, uint64_t len,
			     bool write, vu_seg_fn fn, void *arg)
{
	uint16_t st = 0;
	VU_GUARDED(d, st = vu_walk_data(d, sqe, offset, len, write, fn, arg),
		   st = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR));
	return st;
}

/* The data pointer is checked and nothing moves (nvmf_controller_send_nothing, receive_nothing). */
static void seg_skip(void *arg, uint8_t *guest, size_t len)
{
	(void)arg;
	(void)guest;
	(void)len;
}

struct copy_in {
	uint8_t *dst;
};

static void seg_copy_in(void *arg, uint8_t *guest, size_t len)
{
	struct copy_in *ci = arg;
	memcpy(ci->dst, guest, len);
	ci->dst += len;
}

static void seg_copy_to_storage(void *arg, uint8_t *guest, size_t len)
{
	struct copy_in *ci = arg;
	nvmf_copy_to_storage(ci->dst, guest, len); /* the fence comes after the last segment */
	ci->dst += len;
}

/* buf NULL: nothing moves (see nvmf_controller_receive_nothing). */
static int ctrl_receive_data(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len, unsigned flags,
			     nvmf_data_done_cb cb, void *arg)
{
	struct vu_capsule *c = (struct vu_capsule *)nc;
	struct vu_ctrl *vc = ((struct vu_qpair *)nc->qp)->vc;
	if (c->internal) {
		if (buf)
			memcpy(buf, (const uint8_t *)c->idata + offset, len);
	} else {
		if (!vc)
			return -ENOTCONN;
		struct vu_cqpair *q = cqp(nc->qp);
		if (buf && (flags & NVMF_RECEIVE_TO_STORAGE) && q->fetching && q->ncopies < VU_FETCH_BUDGET &&
		    !(nc->sqe.flags & NVME_CMD_PSDT_SGL)) {
			/* PRPs only: their failures are Data Transfer Error whenever they are found. */
			q->copies[q->ncopies++] = (struct vu_copy){
				.c = c, .offset = offset, .src = {.iov_len = len}, .dst = buf, .cb = cb, .cb_arg = arg};
			return 0;
		}
		struct copy_in ci = {.dst = buf};
		vu_seg_fn seg = seg_copy_in;
		if (!buf)
			seg = seg_skip;
		else if (flags & NVMF_RECEIVE_TO_STORAGE)
			seg = seg_copy_to_storage;
		uint16_t st = walk_guarded(&vc->dma, &nc->sqe, offset, len, false, seg, &ci);
		if (seg == seg_copy_to_storage)
			nvmf_copy_to_storage_done();
		if (st)
			return NVME_STATUS_GET_SC(st) == NVME_SC_DATA_SGL_LENGTH_INVALID ? -EFAULT : -EIO;
	}
	cb(arg, nc, 0);
	return 0;
}

static int ctrl_receive_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, nvmf_data_done_cb cb,
				void *arg)
{
	return ctrl_receive_data(nc, offset, NULL, len, 0, cb, arg);
}

struct copy_out {
	const struct iovec *iov;
	size_t off; /* within iov[0] */
};

static void seg_copy_out(void *arg, uint8_t *guest, size_t len)
{
	struct copy_out *co = arg;
	while (len) {
		size_t n = co->iov->iov_len - co->off;
		if (n > len)
			n = len;
		memcpy(guest, (const uint8_t *)co->iov->iov_base + co->off, n);
		guest += n;
		len -= n;
		co->off += n;
		if (co->off == co->iov->iov_len) {
			co->iov++;
			co->off = 0;
		}
	}
}

/* Copy iov into the guest buffers the command names; iov NULL: only check them. */
static int send_walk(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt, size_t len,
		     nvmf_data_done_cb cb, void *arg)
{
	struct vu_capsule *c = (struct vu_capsule *)nc;
	struct vu_cqpair *q = cqp(nc->qp);
	struct vu_ctrl *vc = q->v.vc;
	if (!vc || c->internal)
		return -ENOTCONN;
	int skip = 0;
	while (iov && skip < iovcnt && iov[skip].iov_len == 0)
		skip++;
	if (q->fetching && iov && cb && skip < iovcnt && iov[skip].iov_len == len && q->ncopies < VU_FETCH_BUDGET) {
		/* One source (a RAM namespace's memory): copied at the end of the pass. */
		struct vu_copy *j = &q->copies[q->ncopies++];
		*j = (struct vu_copy){.c = c, .offset = offset, .src = iov[skip]};
		c->copy = q->ncopies;
		for (size_t l = 0; l < VU_PREFETCH_LINES * 64 && l < len; l += 64)
			__builtin_prefetch((const uint8_t *)iov[skip].iov_base + l, 0, 3);
	} else {
		struct copy_out co = {.iov = iov ? iov + skip : NULL};
		uint16_t st = walk_guarded(&vc->dma, &nc->sqe, offset, len, true, iov ? seg_copy_out : seg_skip, &co);
		if (st)
			return -EIO;
	}
	if (cb) {
		c->sent_cb = cb;
		c->sent_arg = arg;
		c->sent_next = NULL;
		if (q->sent_tail)
			q->sent_tail->sent_next = c;
		else
			q->sent_head = c;
		q->sent_tail = c;
	}
	return 0;
}

/*
 * The copies held by the pass that ends, in order; one fence for the writes'
 * stores; then the reads' answers (an error if the copy failed) and the
 * writes' callbacks.  A callback may close the queue, which ends the rest.
 */
static void flush_copies(struct vu_cqpair *q)
{
	struct vu_ctrl *vc = q->v.vc;
	if (!vc) {
		q->ncopies = 0;
		return;
	}
	bool wrote = false;
	for (unsigned i = 0; i < q->ncopies; i++) {
		struct vu_copy *j = &q->copies[i];
		uint16_t st;
		if (j->cb) {
			struct copy_in ci = {.dst = j->dst};
			st = walk_guarded(&vc->dma, &j->c->nc.sqe, j->offset, j->src.iov_len, false, seg_copy_to_storage, &ci);
			wrote = true;
		} else {
			struct copy_out co = {.iov = &j->src};
			st = walk_guarded(&vc->dma, &j->c->nc.sqe, j->offset, j->src.iov_len, true, seg_copy_out, &co);
		}
		if (st)
			j->c->copy_failed = true;
	}
	if (wrote)
		nvmf_copy_to_storage_done();
	for (unsigned i = 0; i < q->ncopies; i++) {
		struct vu_copy *j = &q->copies[i];
		struct vu_capsule *c = j->c;
		bool failed = c->copy_failed;
		c->copy = 0;
		if (j->cb) {
			nvmf_data_done_cb cb = j->cb;
			j->cb = NULL; /* run once, even if it closes the queue */
			c->copy_failed = false; /* the callback carries it */
			cb(j->cb_arg, &c->nc, failed ? -EIO : 0);
			continue;
		}
		if (!j->answered)
			continue;
		struct nvme_completion r = j->cqe;
		if (failed)
			r.status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR);
		struct vu_sq *sq = &vc->sq[q->v.qid];
		if (sq->live && sq->vqp == &q->v) {
			r.sqhd = sq->head;
			vu_post_cqe(vc, sq->cqid, &r);
		}
	}
	q->ncopies = 0;
}

static int ctrl_send_data(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt, bool last,
			  nvmf_data_done_cb cb, void *arg)
{
	(void)last;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return send_walk(nc, offset, iov, iovcnt, len, cb, arg);
}

static int ctrl_send_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, bool last, nvmf_data_done_cb cb,
			     void *arg)
{
	(void)last;
	return send_walk(nc, offset, NULL, 0, len, cb, arg);
}

static int ctrl_send_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe)
{
	struct vu_capsule *c = (struct vu_capsule *)nc;
	struct vu_cqpair *q = cqp(nc->qp);
	struct vu_ctrl *vc = q->v.vc;
	if (c->internal) {
		if (c->idone)
			c->idone(c->iarg, cqe);
		return 0;
	}
	if (q->v.inflight)
		q->v.inflight--;
	if (!vc)
		return -ENOTCONN;
	if (c->copy) {
		/* Its data is not in guest memory yet: the answer follows the copy. */
		struct vu_copy *j = &q->copies[c->copy - 1];
		j->answered = true;
		j->cqe = *cqe;
		return 0;
	}
	struct vu_sq *sq = &vc->sq[q->v.qid];
	if (!sq->live || sq->vqp != &q->v)
		return 0; /* the queue went meanwhile */
	struct nvme_completion r = *cqe;
	r.sqhd = sq->head;
	if (c->copy_failed)
		r.status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR);
	vu_post_cqe(vc, sq->cqid, &r);
	return 0;
}

/* ---- The ops table: controller or host side by the association ---- */

static struct nvmf_qpair *vu_qpair_alloc(struct nvmf_association *na, const struct nvmf_qpair_params *p)
{
	(void)na;
	/* Queue pairs come from vu_qpair_create / vu_host_qpair_create, never from a bare socket. */
	close(p->fd);
	errno = EOPNOTSUPP;
	return NULL;
}

static void vu_close(struct nvmf_qpair *qp)
{
	if (qp->na->controller)
		ctrl_qpair_close(qp);
	else
		vu_host_qpair_close(qp);
}

static void vu_destroy(struct nvmf_qpair *qp)
{
	if (!qp->na->controller) {
		vu_host_qpair_destroy(qp);
	} else {
		struct vu_cqpair *q = cqp(qp);
		while (q->free_caps) {
			struct vu_capsule *c = q->free_caps;
			q->free_caps = c->sent_next;
			free(c);
		}
	}
	free(qp);
}

static int vu_process(struct nvmf_qpair *qp)
{
	return qp->na->controller ? ctrl_process(qp) : vu_host_process(qp);
}

static int vu_flush(struct nvmf_qpair *qp)
{
	(void)qp;
	return 0;
}

static bool vu_want_write(const struct nvmf_qpair *qp)
{
	(void)qp;
	return false;
}

static unsigned vu_outstanding(const struct nvmf_qpair *qp)
{
	return qp->na->controller ? 0 : vu_host_outstanding(qp);
}

static struct nvmf_capsule *vu_capsule_alloc(struct nvmf_qpair *qp)
{
	return qp->na->controller ? ctrl_capsule_alloc(qp) : vu_host_capsule_alloc(qp);
}

/* Trapped doorbells: shadow doorbells save the guest a message per doorbell while I/O flows. */
static void ctrl_identify_ctrl(const struct nvmf_qpair *qp, struct nvme_id_ctrl *id)
{
	const struct vu_ctrl *vc = ((const struct vu_qpair *)qp)->vc;
	if (vc && vc->trapped)
		id->oacs |= NVME_CTRL_OACS_DBBUF;
}

const struct nvmf_transport_ops nvmf_vfio_user_ops = {
	.trtype = NVMF_TRTYPE_VFIO_USER,
	.name = "vfio-user",
	.copies_at_once = true,
	.qpair_alloc = vu_qpair_alloc,
	.qpair_close = vu_close,
	.qpair_destroy = vu_destroy,
	.process = vu_process,
	.flush = vu_flush,
	.want_write = vu_want_write,
	.outstanding = vu_outstanding,
	.capsule_alloc = vu_capsule_alloc,
	.capsule_free = vu_capsule_free,
	.capsule_transmit = vu_host_capsule_transmit,
	.validate_command = ctrl_validate_command,
	.data_len = ctrl_data_len,
	.incapsule_data = ctrl_incapsule_data,
	.receive_data = ctrl_receive_data,
	.send_data = ctrl_send_data,
	.send_response = ctrl_send_response,
	.send_nothing = ctrl_send_nothing,
	.receive_nothing = ctrl_receive_nothing,
	.identify_ctrl = ctrl_identify_ctrl,
};
