/*
 * A connection: one queue pair and its preallocated requests.  Receives
 * command capsules, routes them (Connect, Fabrics, admin, I/O), moves data
 * and sends responses.  Runs on the thread that owns the queue pair.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl_internal.h"

/* Requests available before Connect tells the queue size. */
#define NVMF_CONN_INITIAL_REQS 4

static void conn_finish_close(struct nvmf_conn *conn);

static int conn_add_requests(struct nvmf_conn *conn, unsigned n)
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

/* One request per entry, plus the AERs an admin queue holds. */
int nvmf_conn_size_queue(struct nvmf_conn *conn, unsigned qsize)
{
	unsigned want = qsize + 1 + (conn->admin ? NVMF_CTRL_AERL + 1 : 0);
	if (want <= conn->nreqs)
		return 0;
	return conn_add_requests(conn, want - conn->nreqs);
}

static void error_cb(void *arg, struct nvmf_qpair *qp, int error)
{
	struct nvmf_conn *conn = arg;
	(void)qp;
	(void)error;
	/* Close from nvmf_conn_process, never from inside the transport. */
	conn->failed = true;
}

static void request_release(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;
	if (req->nc)
		nvmf_capsule_free(req->nc);
	req->nc = NULL;
	req->next = conn->free_reqs;
	conn->free_reqs = req;
	conn->busy--;
}

static bool conn_can_send(const struct nvmf_conn *conn)
{
	return conn->qp && !conn->failed && !conn->closed;
}

void nvmf_request_complete(struct nvmf_request *req, uint16_t status, uint32_t cdw0)
{
	struct nvmf_conn *conn = req->conn;
	if (req->range_held) {
		nvmf_ns_range_release(req->ns, &req->range);
		req->range_held = false;
	}
	if (req->ns) {
		nvmf_ns_put(req->ns);
		req->ns = NULL;
	}
	/* A fused pair fails together: answer the partner still waiting. */
	struct nvmf_request *partner = req->fused_second;
	req->fused_second = NULL;
	if (partner) {
		partner->fused_second = NULL;
		nvmf_request_complete(partner, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED), 0);
	}
	if (status != NVME_SC_SUCCESS && conn->ctrl)
		atomic_fetch_add(&conn->ctrl->error_count, 1);
	if (!req->response_sent && conn_can_send(conn)) {
		req->cqe.cdw0 = cdw0;
		req->cqe.status = status;
		nvmf_controller_send_response(req->nc, &req->cqe);
	}
	req->response_sent = true;
	/* Read data still queued in the transport: release once it has gone. */
	if (!req->data_pending)
		request_release(req);
}

int nvmf_request_buf(struct nvmf_request *req, size_t len)
{
	if (len > req->buf_cap) {
		void *b = realloc(req->buf, len);
		if (!b)
			return -ENOMEM;
		req->buf = b;
		req->buf_cap = len;
	}
	req->len = len;
	req->iov.iov_base = req->buf;
	req->iov.iov_len = len;
	return 0;
}

int nvmf_request_buf2(struct nvmf_request *req, size_t len)
{
	if (len > req->buf2_cap) {
		void *b = realloc(req->buf2, len);
		if (!b)
			return -ENOMEM;
		req->buf2 = b;
		req->buf2_cap = len;
	}
	return 0;
}

static void data_sent(void *arg, struct nvmf_capsule *nc, int error)
{
	struct nvmf_request *req = arg;
	(void)nc;
	(void)error;
	req->data_pending = false;
	if (req->response_sent)
		request_release(req);
}

void nvmf_request_send_buf(struct nvmf_request *req, size_t len)
{
	nvmf_request_send(req, req->buf, len);
}

void nvmf_request_send(struct nvmf_request *req, const void *data, size_t len)
{
	if (!conn_can_send(req->conn)) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION), 0);
		return;
	}
	req->data_pending = true;
	int rc = nvmf_controller_send_data(req->nc, 0, data, len, true, data_sent, req);
	if (rc < 0) {
		req->data_pending = false;
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR), 0);
		return;
	}
	if (rc == NVMF_SUCCESS_SENT)
		req->response_sent = true;
	nvmf_request_complete(req, NVME_SC_SUCCESS, req->cqe.cdw0);
}

static void data_received(void *arg, struct nvmf_capsule *nc, int error)
{
	struct nvmf_request *req = arg;
	(void)nc;
	if (error == -EBADMSG) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR), 0);
		return;
	}
	if (error) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR), 0);
		return;
	}
	nvmf_request_step next = req->deferred_step;
	req->deferred_step = NULL;
	next(req);
}

void nvmf_request_receive_buf(struct nvmf_request *req, size_t len, nvmf_request_step next)
{
	if (nvmf_request_buf(req, len) < 0) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return;
	}
	if (len == 0) {
		next(req);
		return;
	}
	/* The step to run is parked in deferred_step while the transfer runs. */
	req->deferred_step = next;
	int rc = nvmf_controller_receive_data(req->nc, 0, req->buf, len, data_received, req);
	if (rc < 0) {
		req->deferred_step = NULL;
		uint8_t sc = rc == -EFAULT ? NVME_SC_DATA_SGL_LENGTH_INVALID : NVME_SC_DATA_TRANSFER_ERROR;
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, sc), 0);
	}
}

void nvmf_request_defer(struct nvmf_request *req, nvmf_request_step step)
{
	struct nvmf_conn *conn = req->conn;
	req->deferred_step = step;
	req->next = NULL;
	if (conn->deferred_tail)
		conn->deferred_tail->next = req;
	else
		conn->deferred = req;
	conn->deferred_tail = req;
}

void nvmf_conn_track_bdev(struct nvmf_conn *conn, bool start)
{
	if (start) {
		conn->in_bdev++;
		return;
	}
	conn->in_bdev--;
	if (conn->closing && !conn->closed && conn->in_bdev == 0)
		conn_finish_close(conn);
}

static void handle_fabrics(struct nvmf_request *req)
{
	const struct nvmf_fabrics_command *fc = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;
	uint16_t seq = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR);

	switch (fc->fctype) {
	case NVMF_FCTYPE_CONNECT:
		if (conn->connected)
			nvmf_request_complete(req, seq, 0);
		else
			nvmf_ctrl_connect(req);
		return;
	case NVMF_FCTYPE_PROPERTY_GET:
	case NVMF_FCTYPE_PROPERTY_SET:
		if (!conn->connected) {
			nvmf_request_complete(req, seq, 0);
		} else if (!conn->admin) {
			nvmf_request_complete(req, NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_INVALID_QUEUE_TYPE), 0);
		} else if (fc->fctype == NVMF_FCTYPE_PROPERTY_GET) {
			nvmf_ctrl_property_get(req);
		} else {
			nvmf_ctrl_property_set(req);
		}
		return;
	case NVMF_FCTYPE_DISCONNECT:
		if (!conn->connected || conn->admin) {
			nvmf_request_complete(req, seq, 0);
			return;
		}
		nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
		/* The response leaves on the next flush; then the queue goes. */
		nvmf_qpair_flush(conn->qp);
		conn->failed = true;
		return;
	default:
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0);
		return;
	}
}

static void handle_io(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;
	uint8_t fuse = req->cmd.flags & NVME_CMD_FUSE_MASK;
	struct nvmf_request *first = conn->fused_first;

	if (first && fuse == NVME_CMD_FUSE_SECOND) {
		conn->fused_first = NULL;
		nvmf_io_execute_fused(first, req);
		return;
	}
	if (first) {
		/* The first half's partner never came. */
		conn->fused_first = NULL;
		nvmf_request_complete(first, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_MISSING_FUSED), 0);
	}
	if (fuse == NVME_CMD_FUSE_FIRST) {
		conn->fused_first = req;
		return;
	}
	if (fuse == NVME_CMD_FUSE_SECOND) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_MISSING_FUSED), 0);
		return;
	}
	nvmf_io_execute(req);
}

static void dispatch(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;

	if (req->cmd.opc == NVME_OPC_FABRICS) {
		conn->seen = true;
		handle_fabrics(req);
		return;
	}
	if (!conn->connected || !conn->ctrl) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR), 0);
		return;
	}
	conn->seen = true;
	uint16_t st = nvmf_capsule_validate_command(req->nc);
	if (st) {
		nvmf_request_complete(req, st | NVME_STATUS_DNR, 0);
		return;
	}
	if (!nvmf_ctrl_ready(conn->ctrl)) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR), 0);
		return;
	}
	if (conn->admin)
		nvmf_admin_execute(req);
	else
		handle_io(req);
}

static void receive_cb(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct nvmf_conn *conn = arg;
	(void)qp;
	if (conn->closing) {
		nvmf_capsule_free(nc);
		return;
	}
	struct nvmf_request *req = conn->free_reqs;
	if (!req && conn_add_requests(conn, 1) == 0)
		req = conn->free_reqs; /* the host overran its queue; stay alive */
	if (!req) {
		nvmf_controller_send_status(nc, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		nvmf_capsule_free(nc);
		return;
	}
	conn->free_reqs = req->next;
	conn->busy++;
	req->next = NULL;
	req->nc = nc;
	req->cmd = *nvmf_capsule_sqe(nc);
	memset(&req->cqe, 0, sizeof(req->cqe));
	req->len = 0;
	req->ns = NULL;
	req->range_held = false;
	req->in_bdev = false;
	req->data_pending = false;
	req->response_sent = false;
	req->fused_second = NULL;
	req->deferred_step = NULL;
	dispatch(req);
}

struct nvmf_conn *nvmf_conn_create(struct nvmf_tgt *tgt, int fd, uint16_t portid, const struct nvmf_conn_env *env)
{
	struct nvmf_conn *conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		return NULL;
	}
	atomic_init(&conn->refs, 1);
	conn->tgt = tgt;
	conn->env = *env;
	conn->portid = portid;
	conn->created_ms = nvmf_now_ms();
	if (conn_add_requests(conn, NVMF_CONN_INITIAL_REQS) < 0) {
		close(fd);
		nvmf_conn_put(conn);
		errno = ENOMEM;
		return NULL;
	}
	struct nvmf_qpair_params qp = {
		.admin = false, /* learned from Connect */
		.fd = fd,
		.receive_cb = receive_cb,
		.error_cb = error_cb,
		.cb_arg = conn,
		.limits = env->limits,
	};
	/* Ports are never removed while connections are accepted on them. */
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_association *na = nvmf_tgt_port_association(tgt, portid);
	pthread_mutex_unlock(&tgt->lock);
	if (!na) {
		close(fd);
		nvmf_conn_put(conn);
		errno = ENOENT;
		return NULL;
	}
	conn->qp = nvmf_qpair_create(na, &qp); /* takes its own reference */
	if (!conn->qp) {
		int e = errno;
		nvmf_conn_put(conn);
		errno = e;
		return NULL;
	}
	return conn;
}

int nvmf_conn_fd(const struct nvmf_conn *conn)
{
	return conn->qp ? nvmf_qpair_fd(conn->qp) : -1;
}

bool nvmf_conn_want_write(const struct nvmf_conn *conn)
{
	return conn->qp && nvmf_qpair_want_write(conn->qp);
}

bool nvmf_conn_want_read(const struct nvmf_conn *conn)
{
	return conn->qp && nvmf_qpair_want_read(conn->qp);
}

bool nvmf_conn_has_deferred(const struct nvmf_conn *conn)
{
	return conn->deferred != NULL;
}

int nvmf_conn_process(struct nvmf_conn *conn)
{
	if (conn->closing)
		return 0;
	int work = nvmf_qpair_process(conn->qp);
	if (work < 0) {
		conn->failed = true;
		work = 1;
	}
	/* One sign of life per batch of commands, not one per command. */
	if (conn->seen) {
		conn->seen = false;
		if (conn->ctrl)
			nvmf_ctrl_touch(conn->ctrl);
	}
	/* Retry what waited for an LBA range. */
	struct nvmf_request *list = conn->deferred;
	conn->deferred = conn->deferred_tail = NULL;
	while (list && !conn->closing) {
		struct nvmf_request *req = list;
		list = req->next;
		req->next = NULL;
		nvmf_request_step step = req->deferred_step;
		req->deferred_step = NULL;
		step(req);
		work++;
	}
	/* The connection began closing meanwhile: what is left is aborted. */
	while (list) {
		struct nvmf_request *req = list;
		list = req->next;
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION), 0);
	}
	if (conn->failed && !conn->closing)
		nvmf_conn_close(conn);
	else if (!conn->closing && nvmf_qpair_want_write(conn->qp))
		nvmf_qpair_flush(conn->qp);
	return work;
}

void nvmf_conn_timer(struct nvmf_conn *conn, uint64_t now_ms)
{
	if (conn->closing)
		return;
	if (!conn->connected) {
		/* now_ms may predate created_ms: compare without wrapping. */
		if (now_ms > conn->created_ms && now_ms - conn->created_ms > NVMF_CONNECT_DEADLINE_MS)
			nvmf_conn_close(conn);
		return;
	}
	if (conn->admin && conn->ctrl)
		nvmf_ctrl_keepalive_check(conn->ctrl, now_ms);
}

static void abort_parked(struct nvmf_conn *conn)
{
	uint16_t aborted = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION);
	if (conn->fused_first) {
		struct nvmf_request *f = conn->fused_first;
		conn->fused_first = NULL;
		nvmf_request_complete(f, aborted, 0);
	}
	for (unsigned i = 0; i < conn->naers; i++)
		nvmf_request_complete(conn->aers[i], aborted, 0);
	conn->naers = 0;
	struct nvmf_request *list = conn->deferred;
	conn->deferred = conn->deferred_tail = NULL;
	while (list) {
		struct nvmf_request *req = list;
		list = req->next;
		nvmf_request_complete(req, aborted, 0);
	}
}

void nvmf_conn_close(struct nvmf_conn *conn)
{
	if (conn->closing)
		return;
	conn->closing = true;
	/* Nothing more goes out: answers to parked commands would race the close. */
	conn->failed = true;
	abort_parked(conn);
	if (conn->in_bdev == 0)
		conn_finish_close(conn);
}

static void conn_finish_close(struct nvmf_conn *conn)
{
	nvmf_conn_get(conn);
	struct nvmf_controller *ctrl = conn->ctrl;
	conn->ctrl = NULL;
	if (ctrl) {
		nvmf_ctrl_queue_closed(ctrl, conn);
		nvmf_ctrl_put(ctrl);
	}
	if (conn->env.on_close)
		conn->env.on_close(conn->env.thread, conn);
	struct nvmf_qpair *qp = conn->qp;
	/* Pending transfer callbacks run inside and release their requests. */
	nvmf_qpair_free(qp);
	conn->qp = NULL;
	conn->closed = true;
	nvmf_conn_put(conn);
}

void nvmf_conn_get(struct nvmf_conn *conn)
{
	atomic_fetch_add(&conn->refs, 1);
}

void nvmf_conn_put(struct nvmf_conn *conn)
{
	if (atomic_fetch_sub(&conn->refs, 1) != 1)
		return;
	struct nvmf_request *r = conn->free_reqs;
	while (r) {
		struct nvmf_request *next = r->next;
		free(r->buf);
		free(r->buf2);
		free(r);
		r = next;
	}
	if (conn->qp)
		nvmf_qpair_free(conn->qp);
	free(conn);
}
