/*
 * Request services: taking and releasing requests, buffers, data transfer,
 * backend submission and the response.  The bottom of the controller core:
 * it calls the transport, the backends and the buffer pool, never up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"
#include "util/clock.h"

/* ---- The queue's requests ---- */

static int add_requests(struct nvmf_conn *conn, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct nvmf_request *r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->conn = conn;
		r->next = conn->free_reqs;
		conn->free_reqs = r;
		conn->nreqs++;
	}
	return 0;
}

int nvmf_request_reserve(struct nvmf_conn *conn, unsigned count)
{
	return count <= conn->nreqs ? 0 : add_requests(conn, count - conn->nreqs);
}

void nvmf_request_free_all(struct nvmf_conn *conn)
{
	while (conn->free_reqs) {
		struct nvmf_request *r = conn->free_reqs;
		conn->free_reqs = r->next;
		free(r);
	}
}

struct nvmf_request *nvmf_request_take(struct nvmf_conn *conn, struct nvmf_capsule *nc)
{
	struct nvmf_request *req = conn->free_reqs;
	if (!req)
		return NULL;
	conn->free_reqs = req->next;
	conn->busy++;
	req->state = NVMF_REQ_EXECUTING;
	req->next = NULL;
	req->nc = nc;
	req->cmd = *nvmf_capsule_sqe(nc);
	/* I/O commands only: Fabrics commands (an I/O queue's Connect) are not I/O. */
	req->arrived_ns = conn->admin || req->cmd.opc == NVME_OPC_FABRICS ? 0 : nvmf_tally_arrival(conn);
	memset(&req->cqe, 0, sizeof(req->cqe));
	req->len = 0;
	req->ns = NULL;
	req->range_held = false;
	req->fused_partner = NULL;
	req->resume = NULL;
	req->then = NULL;
	req->bdev_done = NULL;
	return req;
}

static struct nvmf_buf_pool *pool_of(const struct nvmf_request *req)
{
	return req->conn->tgt->bufs;
}

static void put_buf(struct nvmf_request *req, void **buf, size_t *cap)
{
	if (!*buf)
		return;
	nvmf_buf_put(pool_of(req), *buf, *cap);
	req->conn->buf_bytes -= *cap;
	*buf = NULL;
	*cap = 0;
}

/* Give back everything but the capsule's data in flight; the request returns to the free list. */
static void request_release(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;
	put_buf(req, &req->buf, &req->buf_cap);
	put_buf(req, &req->buf2, &req->buf2_cap);
	/* Held until now: read data may have been sent from the namespace's memory. */
	if (req->ns) {
		nvmf_ns_put(req->ns);
		req->ns = NULL;
	}
	if (req->nc)
		nvmf_capsule_free(req->nc);
	req->nc = NULL;
	req->state = NVMF_REQ_FREE;
	req->next = conn->free_reqs;
	conn->free_reqs = req;
	conn->busy--;
}

static bool can_send(const struct nvmf_conn *conn)
{
	return conn->qp && !conn->failed && !conn->closed;
}

/* ---- Completion ---- */

static void release_range(struct nvmf_request *req)
{
	if (req->range_held) {
		nvmf_ns_range_release(req->ns, &req->range);
		req->range_held = false;
	}
}

/* Answer the command (unless the queue can no longer send or SUCCESS already did). */
static void answer(struct nvmf_request *req, bool response_sent)
{
	struct nvmf_conn *conn = req->conn;
	uint16_t status = req->cqe.status;
	release_range(req);
	/* A fused pair fails together: answer the partner still waiting. */
	struct nvmf_request *partner = req->fused_partner;
	req->fused_partner = NULL;
	if (partner) {
		partner->fused_partner = NULL;
		nvmf_request_complete(partner, NVMF_ST_ABORTED_FAILED_FUSED, 0);
	}
	if (status != NVMF_ST_SUCCESS && conn->ctrl)
		atomic_fetch_add(&conn->ctrl->error_count, 1);
	if (req->arrived_ns && conn->ctrl)
		nvmf_tally_answer(conn, req->ns, req->arrived_ns);
	if (!response_sent && can_send(conn))
		nvmf_controller_send_response(req->nc, &req->cqe);
	/* Read data still queued in the transport: release once it has gone. */
	if (req->state == NVMF_REQ_SENDING)
		req->state = NVMF_REQ_TRANSFER_OUT;
	else
		request_release(req);
}

void nvmf_request_finish(struct nvmf_request *req)
{
	answer(req, false);
}

void nvmf_request_complete(struct nvmf_request *req, uint16_t status, uint32_t cdw0)
{
	req->cqe.status = status;
	req->cqe.cdw0 = cdw0;
	answer(req, false);
}

/* ---- Buffers ---- */

static bool alloc_into(struct nvmf_request *req, void **buf, size_t *cap, size_t len, nvmf_request_step step)
{
	if (*buf && *cap >= len)
		return true;
	if (len > NVMF_BUF_MAX) {
		nvmf_request_complete(req, NVMF_ST_INVALID_FIELD, 0);
		return false;
	}
	put_buf(req, buf, cap);
	struct nvmf_conn *conn = req->conn;
	/* A queue's share, or the process's budget, is spent: wait for buffers to come back. */
	void *b = conn->buf_bytes + len > atomic_load(&conn->tgt->queue_buffer_cap) ? NULL
										     : nvmf_buf_get(pool_of(req), len, cap);
	if (!b) {
		nvmf_request_defer(req, NVMF_REQ_NEED_BUFFER, step);
		return false;
	}
	conn->buf_bytes += *cap;
	*buf = b;
	return true;
}

bool nvmf_request_alloc_buf(struct nvmf_request *req, size_t len, nvmf_request_step step)
{
	if (!alloc_into(req, &req->buf, &req->buf_cap, len, step))
		return false;
	req->len = len;
	req->iov.iov_base = req->buf;
	req->iov.iov_len = len;
	return true;
}

bool nvmf_request_alloc_buf2(struct nvmf_request *req, size_t len, nvmf_request_step step)
{
	return alloc_into(req, &req->buf2, &req->buf2_cap, len, step);
}

/* ---- Data transfer ---- */

static void data_sent(void *arg, struct nvmf_capsule *nc, int error)
{
	struct nvmf_request *req = arg;
	(void)nc;
	(void)error;
	/* Out before the answer (no data to send, or the queue pair failed): the answer releases. */
	if (req->state == NVMF_REQ_SENDING) {
		req->state = NVMF_REQ_EXECUTING;
		return;
	}
	request_release(req);
}

/*
 * What a transport that must carry bytes sends for data of no defined value:
 * never written, so its pages all map the kernel's one zero page, which stays
 * in cache however many reads are in flight.
 */
static uint8_t zero_data[NVMF_CTRL_MAX_XFER];

void nvmf_request_send_data(struct nvmf_request *req, const void *data, size_t len)
{
	if (!can_send(req->conn)) {
		nvmf_request_complete(req, NVMF_ST_ABORTED_SQ_DELETION, 0);
		return;
	}
	/* SUCCESS in the last C2H PDU may stand in for a response with nothing in it. */
	bool plain = req->cqe.cdw0 == 0 && req->cqe.cdw1 == 0 && req->cqe.status == 0;
	req->state = NVMF_REQ_SENDING;
	int rc = -EOPNOTSUPP;
	if (!data)
		rc = nvmf_controller_send_nothing(req->nc, 0, len, plain, data_sent, req);
	if (rc == -EOPNOTSUPP)
		rc = nvmf_controller_send_data(req->nc, 0, data ? data : zero_data, len, plain, data_sent, req);
	if (rc < 0) {
		req->state = NVMF_REQ_EXECUTING;
		nvmf_request_complete(req, NVMF_ST_DATA_TRANSFER, 0);
		return;
	}
	answer(req, rc == NVMF_SUCCESS_SENT);
}

static void data_received(void *arg, struct nvmf_capsule *nc, int error)
{
	struct nvmf_request *req = arg;
	(void)nc;
	req->state = NVMF_REQ_EXECUTING;
	if (error) {
		nvmf_request_complete(req, error == -EBADMSG ? NVMF_ST_TRANSIENT_TRANSPORT : NVMF_ST_DATA_TRANSFER, 0);
		return;
	}
	req->then(req);
}

static void receive_start(struct nvmf_request *req)
{
	/* The buffer had to wait; req->len and req->then were set by the first try. */
	nvmf_request_receive_data(req, req->len, req->then);
}

/* A transfer in that could not start: answer with its status. */
static void receive_failed(struct nvmf_request *req, int rc)
{
	req->state = NVMF_REQ_EXECUTING;
	nvmf_request_complete(req, rc == -EFAULT ? NVMF_ST_SGL_LENGTH_INVALID : NVMF_ST_DATA_TRANSFER, 0);
}

void nvmf_request_receive_data(struct nvmf_request *req, size_t len, nvmf_request_step next)
{
	req->len = len;
	req->then = next;
	if (len == 0) {
		next(req);
		return;
	}
	if (nvmf_request_alloc_buf(req, len, receive_start)) {
		req->state = NVMF_REQ_TRANSFER_IN;
		int rc = nvmf_controller_receive_data(req->nc, 0, req->buf, len, data_received, req);
		if (rc < 0)
			receive_failed(req, rc);
	}
}

/* In-capsule data covering len bytes (NVMe/TCP), or NULL: it is already here, in the capsule. */
static const void *incapsule(struct nvmf_request *req, size_t len)
{
	size_t have;
	const void *icd = nvmf_capsule_incapsule_data(req->nc, &have);
	return icd && have >= len ? icd : NULL;
}

void nvmf_request_receive_iov(struct nvmf_request *req, size_t len, nvmf_request_step next)
{
	const void *icd = len ? incapsule(req, len) : NULL;
	if (!icd) {
		nvmf_request_receive_data(req, len, next);
		return;
	}
	/* Used where it lies: the capsule, and so its data, lives until the request is released. */
	req->len = len;
	req->iov.iov_base = (void *)icd;
	req->iov.iov_len = len;
	next(req);
}

void nvmf_request_receive_into_storage(struct nvmf_request *req, void *dst, size_t len, nvmf_request_step next)
{
	req->len = len;
	req->then = next;
	req->state = NVMF_REQ_TRANSFER_IN;
	int rc = nvmf_controller_receive_to_storage(req->nc, 0, dst, len, data_received, req);
	if (rc < 0)
		receive_failed(req, rc);
}

void nvmf_request_discard_data(struct nvmf_request *req, size_t len, nvmf_request_step next)
{
	req->len = len;
	req->then = next;
	if (len == 0 || incapsule(req, len)) { /* in-capsule data has already come: nothing to move */
		next(req);
		return;
	}
	req->state = NVMF_REQ_TRANSFER_IN;
	int rc = nvmf_controller_receive_nothing(req->nc, 0, len, data_received, req);
	if (rc == -EOPNOTSUPP) {
		req->state = NVMF_REQ_EXECUTING;
		nvmf_request_receive_data(req, len, next);
	} else if (rc < 0) {
		receive_failed(req, rc);
	}
}

/* ---- Waiting ---- */

void nvmf_request_defer(struct nvmf_request *req, enum nvmf_request_state why, nvmf_request_step step)
{
	struct nvmf_conn *conn = req->conn;
	req->state = why;
	req->resume = step;
	req->next = NULL;
	if (conn->deferred_tail)
		conn->deferred_tail->next = req;
	else
		conn->deferred = req;
	conn->deferred_tail = req;
}

void nvmf_request_hold(struct nvmf_request *req)
{
	req->state = NVMF_REQ_HELD;
}

bool nvmf_request_lock_range(struct nvmf_request *req, uint64_t slba, uint64_t nlb, bool exclusive)
{
	if (!nvmf_ns_range_acquire(req->ns, &req->range, slba, nlb, exclusive))
		return false;
	req->range_held = true;
	return true;
}

/* ---- Backend ---- */

static void bdev_cb(void *arg, int rc)
{
	struct nvmf_request *req = arg;
	struct nvmf_conn *conn = req->conn;
	conn->in_bdev--;
	req->state = NVMF_REQ_EXECUTING;
	if (conn->closing) {
		nvmf_request_complete(req, NVMF_ST_ABORTED_SQ_DELETION, 0);
		if (conn->in_bdev == 0)
			conn->ops->drained(conn);
		return;
	}
	req->bdev_done(req, rc);
}

void nvmf_request_submit(struct nvmf_request *req, nvmf_request_submit_fn submit, nvmf_request_bdev_done done)
{
	struct nvmf_conn *conn = req->conn;
	req->bdev_done = done;
	req->state = NVMF_REQ_BACKEND;
	conn->in_bdev++;
	if (submit(req, bdev_cb, req) < 0) {
		conn->in_bdev--;
		req->state = NVMF_REQ_EXECUTING;
		nvmf_request_complete(req, NVMF_ST_INTERNAL, 0);
	}
}
