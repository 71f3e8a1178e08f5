/* Queue pairs: command slots, submission, completion, polling; the I/O commands. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "util/clock.h"

int hq_init(struct nvmf_host_qpair *hq, struct nvmf_host_ctrl *c, uint16_t qid, uint16_t qsize)
{
	memset(hq, 0, sizeof(*hq));
	hq->ctrl = c;
	hq->qid = qid;
	hq->qsize = qsize;
	/* One entry stays empty so the SQ never looks full to the controller. */
	hq->nreqs = qsize > 1 ? qsize - 1u : 1u;
	hq->reqs = calloc(hq->nreqs, sizeof(*hq->reqs));
	if (!hq->reqs)
		return -ENOMEM;
	for (unsigned i = 0; i < hq->nreqs; i++) {
		hq->reqs[i].hq = hq;
		hq->reqs[i].next = i + 1 < hq->nreqs ? &hq->reqs[i + 1] : NULL;
	}
	hq->free = hq->reqs;
	hq->retry_tail = &hq->retry_head;
	return 0;
}

static void hq_error_cb(void *arg, struct nvmf_qpair *qp, int error)
{
	struct nvmf_host_qpair *hq = arg;
	if (error >= 0)
		error = -EIO;
	hq->error = error;
	const char *why = nvmf_qpair_error(qp);
	snprintf(hq->errmsg, sizeof(hq->errmsg), "%s queue %u: connection failed: %s", hq->qid ? "I/O" : "admin",
		 hq->qid, why && *why ? why : strerror(-error));
}

void hq_attach(struct nvmf_host_qpair *hq, struct nvmf_qpair *qp)
{
	hq->qp = qp;
	hq->error = 0;
	hq->errmsg[0] = '\0';
	nvmf_qpair_set_callbacks(qp, NULL, hq_error_cb, hq);
}

static void req_put(struct nvmf_host_qpair *hq, struct host_req *r)
{
	r->next = hq->free;
	hq->free = r;
}

static void done_cb(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct host_req *r = arg;
	struct nvmf_host_qpair *hq = r->hq;
	struct nvmf_host_ctrl *c = hq->ctrl;
	struct nvmf_host_completion cpl = {.error = error};

	cpl.transferred = nvmf_capsule_data_transferred(nc);
	if (cqe) {
		cpl.status = cqe->status & 0xfffe;
		cpl.cdw0 = cqe->cdw0;
		cpl.cdw1 = cqe->cdw1;
	} else if (error == 0) {
		cpl.error = -EIO;
	}
	nvmf_capsule_free(nc);
	hq->outstanding--;

	/* A lost connection with reconnecting enabled: hold I/O for resubmission. */
	if (cpl.error < 0 && hq->qid != 0 && c && c->opts.ctrl_loss_tmo_s > 0 && !c->dead) {
		r->next = NULL;
		*hq->retry_tail = r;
		hq->retry_tail = &r->next;
		return;
	}
	nvmf_host_io_cb cb = r->cb;
	void *cb_arg = r->arg;
	req_put(hq, r); /* before the callback, which may submit again */
	hq->completed++;
	if (cb)
		cb(cb_arg, &cpl);
}

static int req_transmit(struct nvmf_host_qpair *hq, struct host_req *r)
{
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(hq->qp, &r->sqe);
	if (!nc)
		return errno ? -errno : -ENOMEM;
	int rc = 0;
	if (r->buf && r->len)
		rc = nvmf_capsule_append_data(nc, r->buf, r->len, r->send);
	if (rc == 0) {
		nvmf_capsule_set_done(nc, done_cb, r);
		rc = nvmf_capsule_transmit(nc);
	}
	if (rc) {
		nvmf_capsule_free(nc);
		return rc < 0 ? rc : -EIO;
	}
	hq->outstanding++;
	return 0;
}

int hq_submit(struct nvmf_host_qpair *hq, const struct nvme_command *sqe, void *buf, size_t len, bool send,
	      nvmf_host_io_cb cb, void *arg)
{
	if (!hq->qp || hq->error)
		return hq->error ? hq->error : -ENOTCONN;
	struct host_req *r = hq->free;
	if (!r)
		return -EBUSY;
	r->sqe = *sqe;
	r->buf = buf;
	r->len = buf ? len : 0;
	r->send = send;
	r->cb = cb;
	r->arg = arg;
	hq->free = r->next;
	int rc = req_transmit(hq, r);
	if (rc)
		req_put(hq, r);
	return rc;
}

void hq_detach(struct nvmf_host_qpair *hq)
{
	if (hq->qp) {
		struct nvmf_qpair *qp = hq->qp;
		hq->qp = NULL;
		nvmf_qpair_free(qp); /* runs done_cb for what is pending */
	}
}

void hq_fail_held(struct nvmf_host_qpair *hq, int error)
{
	struct host_req *r = hq->retry_head;
	hq->retry_head = NULL;
	hq->retry_tail = &hq->retry_head;
	while (r) {
		struct host_req *next = r->next;
		struct nvmf_host_completion cpl = {.error = error};
		nvmf_host_io_cb cb = r->cb;
		void *arg = r->arg;
		req_put(hq, r);
		hq->completed++;
		if (cb)
			cb(arg, &cpl);
		r = next;
	}
}

int hq_resubmit_held(struct nvmf_host_qpair *hq)
{
	struct host_req *r = hq->retry_head;
	hq->retry_head = NULL;
	hq->retry_tail = &hq->retry_head;
	while (r) {
		struct host_req *next = r->next;
		int rc = req_transmit(hq, r);
		if (rc) {
			/* Put it and the rest back; the caller fails them. */
			r->next = next;
			hq->retry_head = r;
			while (r->next)
				r = r->next;
			hq->retry_tail = &r->next;
			return rc;
		}
		r = next;
	}
	int frc = nvmf_qpair_flush(hq->qp);
	return frc == -EAGAIN ? 0 : frc;
}

void hq_destroy(struct nvmf_host_qpair *hq)
{
	hq_detach(hq);
	hq_fail_held(hq, -ECONNABORTED);
	free(hq->reqs);
	hq->reqs = NULL;
}

int hq_process(struct nvmf_host_qpair *hq)
{
	hq->completed = 0;
	if (!hq->qp)
		return hq->error ? hq->error : -ENOTCONN;
	int rc = nvmf_qpair_process(hq->qp);
	if (rc < 0) {
		if (!hq->error) {
			hq->error = rc;
			snprintf(hq->errmsg, sizeof(hq->errmsg), "%s queue %u: connection failed: %s",
				 hq->qid ? "I/O" : "admin", hq->qid, nvmf_qpair_error(hq->qp));
		}
		return rc;
	}
	return (int)hq->completed;
}

struct sync_wait {
	bool done;
	struct nvmf_host_completion cpl;
};

static void sync_cb(void *arg, const struct nvmf_host_completion *cpl)
{
	struct sync_wait *w = arg;
	w->cpl = *cpl;
	w->done = true;
}

/* Wait for fd activity up to ms; keep the admin queue's Keep Alive going meanwhile. */
static void hq_poll_once(struct nvmf_host_qpair *hq, int ms)
{
	struct pollfd pfd = {.fd = nvmf_qpair_fd(hq->qp), .events = POLLIN};
	if (nvmf_qpair_want_write(hq->qp))
		pfd.events |= POLLOUT;
	poll(&pfd, 1, ms);
}

int hq_exec(struct nvmf_host_qpair *hq, const struct nvme_command *sqe, void *buf, size_t len, bool send,
	    struct nvmf_host_completion *cpl, int timeout_ms)
{
	struct sync_wait w = {0};
	int rc = hq_submit(hq, sqe, buf, len, send, sync_cb, &w);
	if (rc)
		return rc;
	uint64_t deadline = nvmf_clock_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 10000) * 1000000ull;
	bool held = false;
	/* Blocking I/O on the admin queue's thread keeps the association alive too. */
	struct nvmf_host_ctrl *c = hq->ctrl;
	bool admin_owner = hq->qid == 0 || pthread_equal(pthread_self(), c->owner);
	while (!w.done) {
		if (admin_owner) {
			host_keep_alive(c);
			if (hq->qid != 0 && c->admin.qp)
				hq_process(&c->admin);
		}
		rc = hq_process(hq);
		if (w.done)
			break;
		if (rc < 0 || !hq->qp) {
			/* Failed: callbacks ran, unless the command is held for a reconnect. */
			held = true;
			break;
		}
		uint64_t now = nvmf_clock_ns();
		if (now >= deadline) {
			snprintf(hq->errmsg, sizeof(hq->errmsg), "%s queue %u: command timed out after %d ms",
				 hq->qid ? "I/O" : "admin", hq->qid, timeout_ms);
			hq->error = -ETIMEDOUT;
			/* The slot cannot be reused while the command is in flight: drop the connection. */
			hq_detach(hq);
			if (!w.done)
				held = true;
			break;
		}
		int ms = (int)((deadline - now) / 1000000ull) + 1;
		if (admin_owner && c->live) {
			int ka = nvmf_host_ctrl_next_timeout_ms(hq->ctrl);
			if (ka >= 0 && ka < ms)
				ms = ka;
		}
		hq_poll_once(hq, ms);
	}
	if (held && !w.done) {
		/* Held for a reconnect (I/O queue): the caller's reconnect resubmits it; run it now. */
		if (hq->qid != 0 && c->opts.ctrl_loss_tmo_s > 0 && !c->in_reconnect) {
			nvmf_host_ctrl_reconnect(c);
			while (!w.done && hq->qp && !hq->error) {
				if (hq_process(hq) < 0)
					break;
				if (!w.done)
					hq_poll_once(hq, 100);
			}
		}
		if (!w.done) {
			/* Still held: it will complete later through sync_cb on a stale stack frame; fail it now. */
			hq_fail_held(hq, hq->error ? hq->error : -ENOTCONN);
		}
		if (!w.done)
			return hq->error ? hq->error : -EIO;
	}
	if (cpl)
		*cpl = w.cpl;
	if (w.cpl.error)
		return w.cpl.error;
	return w.cpl.status;
}

/* ---- Public I/O API ---- */

static int try_reconnect(struct nvmf_host_qpair *hq)
{
	struct nvmf_host_ctrl *c = hq->ctrl;
	if (hq->qid == 0 || c->opts.ctrl_loss_tmo_s <= 0 || c->dead || c->in_reconnect)
		return hq->error ? hq->error : -ENOTCONN;
	return nvmf_host_ctrl_reconnect(c);
}

int nvmf_host_qpair_process(struct nvmf_host_qpair *hq)
{
	int rc = hq_process(hq);
	if (rc >= 0)
		return rc;
	unsigned done = hq->completed;
	if (try_reconnect(hq) == 0)
		return (int)(done + hq->completed);
	return rc;
}

int nvmf_host_qpair_flush(struct nvmf_host_qpair *hq)
{
	if (!hq->qp)
		return hq->error ? hq->error : -ENOTCONN;
	return nvmf_qpair_flush(hq->qp);
}

int nvmf_host_qpair_fd(const struct nvmf_host_qpair *hq)
{
	return hq->qp ? nvmf_qpair_fd(hq->qp) : -1;
}

bool nvmf_host_qpair_want_write(const struct nvmf_host_qpair *hq)
{
	return hq->qp && nvmf_qpair_want_write(hq->qp);
}

int nvmf_host_qpair_wait(struct nvmf_host_qpair *hq, int timeout_ms)
{
	if (hq->qp && !hq->error)
		hq_poll_once(hq, timeout_ms);
	return nvmf_host_qpair_process(hq);
}

unsigned nvmf_host_qpair_outstanding(const struct nvmf_host_qpair *hq)
{
	return hq->outstanding;
}

uint16_t nvmf_host_qpair_qid(const struct nvmf_host_qpair *hq)
{
	return hq->qid;
}

unsigned nvmf_host_qpair_depth(const struct nvmf_host_qpair *hq)
{
	return hq->nreqs;
}

const char *nvmf_host_qpair_error(const struct nvmf_host_qpair *hq)
{
	return hq->errmsg;
}

static void rw_sqe(struct nvme_command *sqe, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = opc;
	sqe->nsid = nsid;
	sqe->cdw10 = (uint32_t)slba;
	sqe->cdw11 = (uint32_t)(slba >> 32);
	sqe->cdw12 = (nlb - 1) & 0xffff;
}

int nvmf_host_read(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, size_t len,
		   nvmf_host_io_cb cb, void *arg)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_READ, nsid, slba, nlb);
	return hq_submit(qp, &sqe, buf, len, false, cb, arg);
}

int nvmf_host_write(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
		    size_t len, nvmf_host_io_cb cb, void *arg)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_WRITE, nsid, slba, nlb);
	return hq_submit(qp, &sqe, (void *)buf, len, true, cb, arg);
}

int nvmf_host_compare(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
		      size_t len, nvmf_host_io_cb cb, void *arg)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_COMPARE, nsid, slba, nlb);
	return hq_submit(qp, &sqe, (void *)buf, len, true, cb, arg);
}

int nvmf_host_flush(struct nvmf_host_qpair *qp, uint32_t nsid, nvmf_host_io_cb cb, void *arg)
{
	struct nvme_command sqe = {.opc = NVME_OPC_FLUSH, .nsid = nsid};
	return hq_submit(qp, &sqe, NULL, 0, false, cb, arg);
}

int nvmf_host_write_zeroes(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, uint32_t flags,
			   nvmf_host_io_cb cb, void *arg)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_WRITE_ZEROES, nsid, slba, nlb);
	sqe.cdw12 |= flags & ~0xffffu;
	return hq_submit(qp, &sqe, NULL, 0, false, cb, arg);
}

int nvmf_host_dsm(struct nvmf_host_qpair *qp, uint32_t nsid, const struct nvme_dsm_range *ranges, unsigned nr,
		  uint32_t attributes, nvmf_host_io_cb cb, void *arg)
{
	if (nr == 0 || nr > 256)
		return -EINVAL;
	struct nvme_command sqe = {.opc = NVME_OPC_DATASET_MANAGEMENT, .nsid = nsid};
	sqe.cdw10 = nr - 1;
	sqe.cdw11 = attributes;
	return hq_submit(qp, &sqe, (void *)ranges, nr * sizeof(*ranges), true, cb, arg);
}

int nvmf_host_io_submit(struct nvmf_host_qpair *qp, const struct nvme_command *sqe, void *buf, size_t len, bool send,
			nvmf_host_io_cb cb, void *arg)
{
	return hq_submit(qp, sqe, buf, len, send, cb, arg);
}

int nvmf_host_io_sync(struct nvmf_host_qpair *qp, const struct nvme_command *sqe, void *buf, size_t len, bool send,
		      struct nvmf_host_completion *cpl)
{
	int rc = hq_exec(qp, sqe, buf, len, send, cpl, qp->ctrl->opts.timeout_ms);
	return rc;
}

int nvmf_host_read_sync(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf,
			size_t len, struct nvmf_host_completion *cpl)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_READ, nsid, slba, nlb);
	return nvmf_host_io_sync(qp, &sqe, buf, len, false, cpl);
}

int nvmf_host_write_sync(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
			 size_t len, struct nvmf_host_completion *cpl)
{
	struct nvme_command sqe;
	if (nlb == 0 || nlb > 65536)
		return -EINVAL;
	rw_sqe(&sqe, NVME_OPC_WRITE, nsid, slba, nlb);
	return nvmf_host_io_sync(qp, &sqe, (void *)buf, len, true, cpl);
}
