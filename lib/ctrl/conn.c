/*
 * A connection: one queue pair and its requests.  The top of the
 * controller core: it takes each command capsule, routes it to the Fabrics,
 * admin or I/O handlers, resumes deferred requests and closes the queue.
 * Runs on the thread that owns the queue pair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl_internal.h"
#include "util/ratelimit.h"

/* Requests available before Connect tells the queue size. */
#define NVMF_CONN_INITIAL_REQS 4

static void conn_finish_close(struct nvmf_conn *conn);

/* "ADDR:PORT" of a TCP peer, "local" for other sockets (vfio-user), "?" when unknown. */
static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(out, len, "?");
		return;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	} else {
		snprintf(out, len, "local");
		return;
	}
	snprintf(out, len, "%s:%d", host, port);
}

static void close_msg(void *arg)
{
	struct nvmf_conn *conn = arg;
	nvmf_conn_close(conn);
	nvmf_conn_put(conn);
}

static void post_close(struct nvmf_conn *conn)
{
	nvmf_conn_get(conn);
	conn->env.post(conn->env.thread, close_msg, conn);
}

static void drained(struct nvmf_conn *conn)
{
	if (conn->closing && !conn->closed)
		conn_finish_close(conn);
}

static const struct nvmf_queue_ops queue_ops = {
	.post_close = post_close,
	.drained = drained,
};

static void error_cb(void *arg, struct nvmf_qpair *qp, int error)
{
	struct nvmf_conn *conn = arg;
	static struct nvmf_ratelimit protocol_log;
	/* A host that broke the protocol is named once; hosts that just leave are not. */
	if (error == -EPROTO && nvmf_ratelimit_allow(&protocol_log, 10)) {
		fprintf(stderr, "nvmf: queue %u of controller %u (host '%s'): %s\n", conn->qid,
			conn->ctrl ? conn->ctrl->cntlid : 0, conn->ctrl ? conn->ctrl->hostnqn : "", nvmf_qpair_error(qp));
	}
	nvmf_tls_log_failure(conn);
	/* Close from nvmf_conn_process, never from inside the transport. */
	conn->failed = true;
}

static void run(struct nvmf_request *req, enum nvmf_exec (*handler)(struct nvmf_request *))
{
	if (handler(req) == NVMF_EXEC_COMPLETE)
		nvmf_request_finish(req);
}

static void dispatch_io(struct nvmf_request *req)
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
		nvmf_request_complete(first, NVMF_ST_ABORTED_MISSING_FUSED, 0);
	}
	if (fuse == NVME_CMD_FUSE_FIRST) {
		conn->fused_first = req;
		nvmf_request_hold(req);
		return;
	}
	if (fuse == NVME_CMD_FUSE_SECOND) {
		nvmf_request_complete(req, NVMF_ST_ABORTED_MISSING_FUSED, 0);
		return;
	}
	run(req, nvmf_io_execute);
}

static void dispatch(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;

	if (req->cmd.opc == NVME_OPC_FABRICS) {
		conn->seen = true;
		run(req, nvmf_fabrics_execute);
		return;
	}
	if (!conn->connected || !conn->ctrl) {
		nvmf_request_complete(req, NVMF_ST_SEQUENCE_ERROR, 0);
		return;
	}
	conn->seen = true;
	if (nvmf_auth_blocks(conn)) {
		nvmf_request_complete(req, NVMF_ST_AUTH_REQUIRED, 0);
		return;
	}
	uint16_t st = nvmf_capsule_validate_command(req->nc);
	if (st) {
		nvmf_request_complete(req, st | NVME_STATUS_DNR, 0);
		return;
	}
	if (!nvmf_ctrl_ready(conn->ctrl)) {
		nvmf_request_complete(req, NVMF_ST_SEQUENCE_ERROR, 0);
		return;
	}
	if (conn->admin)
		run(req, nvmf_admin_execute);
	else
		dispatch_io(req);
}

static void receive_cb(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct nvmf_conn *conn = arg;
	(void)qp;
	if (conn->closing) {
		nvmf_capsule_free(nc);
		return;
	}
	struct nvmf_request *req = nvmf_request_take(conn, nc);
	if (!req) {
		/* More commands than the queue has entries: the transport bounds them, so this is memory. */
		nvmf_controller_send_status(nc, NVMF_ST_INTERNAL, 0);
		nvmf_capsule_free(nc);
		return;
	}
	dispatch(req);
}

/* A connection whose queue pair make() creates on the port's association (fd: the socket, or -1). */
static struct nvmf_conn *conn_create(struct nvmf_tgt *tgt, int fd, uint16_t portid, const struct nvmf_conn_env *env,
				     nvmf_conn_qpair_maker make, void *make_arg)
{
	struct nvmf_conn *conn = calloc(1, sizeof(*conn));
	if (!conn) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	atomic_init(&conn->refs, 1);
	conn->ops = &queue_ops;
	conn->tgt = tgt;
	conn->env = *env;
	conn->portid = portid;
	conn->created_ms = nvmf_clock_ms();
	peer_name(fd, conn->peer, sizeof(conn->peer));
	if (nvmf_request_reserve(conn, NVMF_CONN_INITIAL_REQS) < 0) {
		if (fd >= 0)
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
	struct nvmf_port *port = NULL;
	for (unsigned i = 0; i < tgt->nports && na; i++)
		if (tgt->ports[i].portid == portid)
			port = &tgt->ports[i];
	bool tls_failed = false;
	if (port) {
		qp.tls = nvmf_tls_conn_ssl(tgt, port, &tls_failed);
		qp.tls_optional = port->addr.tls == NVMF_PORT_TLS_ALLOWED;
	}
	pthread_mutex_unlock(&tgt->lock);
	if (!na || tls_failed) {
		if (fd >= 0)
			close(fd);
		nvmf_conn_put(conn);
		errno = na ? ENOMEM : ENOENT;
		return NULL;
	}
	conn->qp = make ? make(make_arg, na, &qp) : nvmf_qpair_create(na, &qp); /* takes its own reference */
	if (!conn->qp) {
		int e = errno;
		nvmf_conn_put(conn);
		errno = e;
		return NULL;
	}
	return conn;
}

struct nvmf_conn *nvmf_conn_create(struct nvmf_tgt *tgt, int fd, uint16_t portid, const struct nvmf_conn_env *env)
{
	return conn_create(tgt, fd, portid, env, NULL, NULL);
}

struct nvmf_conn *nvmf_conn_create_with(struct nvmf_tgt *tgt, uint16_t portid, const struct nvmf_conn_env *env,
					nvmf_conn_qpair_maker make, void *make_arg)
{
	return conn_create(tgt, -1, portid, env, make, make_arg);
}

struct nvmf_qpair *nvmf_conn_qpair(const struct nvmf_conn *conn)
{
	return conn->qp;
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

/* Resume what waited for a buffer or an LBA range; what is still blocked defers itself again. */
static int resume_deferred(struct nvmf_conn *conn)
{
	struct nvmf_request *list = conn->deferred;
	int n = 0;
	conn->deferred = conn->deferred_tail = NULL;
	while (list && !conn->closing) {
		struct nvmf_request *req = list;
		list = req->next;
		req->next = NULL;
		req->state = NVMF_REQ_EXECUTING;
		req->resume(req);
		n++;
	}
	/* The connection began closing meanwhile: what is left is aborted. */
	while (list) {
		struct nvmf_request *req = list;
		list = req->next;
		nvmf_request_complete(req, NVMF_ST_ABORTED_SQ_DELETION, 0);
	}
	return n;
}

int nvmf_conn_process(struct nvmf_conn *conn)
{
	if (conn->closing)
		return 0;
	nvmf_tally_pass_begin(conn);
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
	work += resume_deferred(conn);
	if (conn->failed && !conn->closing)
		nvmf_conn_close(conn);
	else if (!conn->closing && nvmf_qpair_want_write(conn->qp))
		nvmf_qpair_flush(conn->qp);
	nvmf_tally_pass_end(conn);
	return work;
}

int nvmf_conn_send(struct nvmf_conn *conn)
{
	if (conn->closing || !conn->qp)
		return 0;
	if (!conn->deferred) {
		int rc = nvmf_qpair_flush(conn->qp);
		/*
		 * Done, unless the flush left what only the full pass (which reads
		 * the socket) does: a failure, input held back or kept decrypted
		 * (output still wanted with the queue drained), or commands that
		 * the flush's callbacks deferred.
		 */
		if (!conn->deferred && (rc == -EAGAIN || (rc == 0 && !nvmf_qpair_want_write(conn->qp))))
			return 1;
	}
	return nvmf_conn_process(conn);
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
	nvmf_auth_timer(conn, now_ms);
	if (conn->failed) {
		nvmf_conn_close(conn);
		return;
	}
	if (conn->admin && conn->ctrl && !conn->closing)
		nvmf_ctrl_keepalive_check(conn->ctrl, now_ms);
}

/* Answer what the queue holds without a backend call in flight. */
static void abort_parked(struct nvmf_conn *conn)
{
	if (conn->fused_first) {
		struct nvmf_request *f = conn->fused_first;
		conn->fused_first = NULL;
		nvmf_request_complete(f, NVMF_ST_ABORTED_SQ_DELETION, 0);
	}
	if (conn->admin && conn->ctrl)
		nvmf_ctrl_abort_aers(conn->ctrl);
	struct nvmf_request *list = conn->deferred;
	conn->deferred = conn->deferred_tail = NULL;
	while (list) {
		struct nvmf_request *req = list;
		list = req->next;
		nvmf_request_complete(req, NVMF_ST_ABORTED_SQ_DELETION, 0);
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
	nvmf_tally_fold(conn); /* while the queue still has its controller */
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
	nvmf_tally_fold(conn);
	nvmf_request_free_all(conn);
	nvmf_auth_conn_free(conn);
	if (conn->qp)
		nvmf_qpair_free(conn->qp);
	free(conn);
}
