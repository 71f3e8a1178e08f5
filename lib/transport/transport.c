/* Transport-independent layer: associations, queue pairs and capsules dispatched to a transport's ops. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport/transport_internal.h"

/* ---- Registry ---- */

static const struct nvmf_transport_ops *const transports[] = {
	&nvmf_tcp_ops,
	&nvmf_vfio_user_ops,
};

const struct nvmf_transport_ops *nvmf_transport_lookup(enum nvmf_trtype trtype)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (transports[i]->trtype == trtype)
			return transports[i];
	return NULL;
}

/* ---- Associations ---- */

struct nvmf_association *nvmf_association_create(enum nvmf_trtype trtype, bool controller,
						 const struct nvmf_association_params *params)
{
	const struct nvmf_transport_ops *ops = nvmf_transport_lookup(trtype);
	struct nvmf_association *na;

	if (ops == NULL || params == NULL) {
		errno = ops == NULL ? EPROTONOSUPPORT : EINVAL;
		return NULL;
	}
	if (ops->association_alloc)
		na = ops->association_alloc(controller, params);
	else
		na = calloc(1, sizeof(*na));
	if (na == NULL)
		return NULL;
	na->ops = ops;
	na->controller = controller;
	na->params = *params;
	atomic_init(&na->refs, 1);
	return na;
}

static void association_put(struct nvmf_association *na)
{
	if (atomic_fetch_sub_explicit(&na->refs, 1, memory_order_acq_rel) > 1)
		return;
	if (na->ops->association_free)
		na->ops->association_free(na);
	else
		free(na);
}

void nvmf_association_set_ioccsz(struct nvmf_association *na, uint32_t bytes)
{
	na->params.ioccsz = bytes;
}

void nvmf_association_free(struct nvmf_association *na)
{
	if (na)
		association_put(na);
}

const struct nvmf_association_params *nvmf_association_params(const struct nvmf_association *na)
{
	return &na->params;
}

bool nvmf_association_is_controller(const struct nvmf_association *na)
{
	return na->controller;
}

/* ---- Queue pairs ---- */

struct nvmf_qpair *nvmf_qpair_create(struct nvmf_association *na, const struct nvmf_qpair_params *params)
{
	if (na == NULL || params == NULL || params->fd < 0) {
		if (params && params->fd >= 0)
			close(params->fd);
		errno = EINVAL;
		return NULL;
	}
	if (!na->controller && params->qsize < 2) {
		close(params->fd);
		errno = EINVAL;
		return NULL;
	}
	struct nvmf_qpair *qp = na->ops->qpair_alloc(na, params);
	if (qp == NULL)
		return NULL; /* the transport closed the fd */
	return nvmf_qpair_setup(qp, na, params) < 0 ? NULL : qp;
}

int nvmf_qpair_setup(struct nvmf_qpair *qp, struct nvmf_association *na, const struct nvmf_qpair_params *params)
{
	qp->ops = na->ops;
	qp->na = na;
	atomic_fetch_add_explicit(&na->refs, 1, memory_order_relaxed);
	qp->admin = params->admin;
	qp->receive_cb = params->receive_cb;
	qp->error_cb = params->error_cb;
	qp->cb_arg = params->cb_arg;
	qp->refs = 1;
	if (na->controller) {
		qp->sq_flow_control = true;
		qp->cid_busy = calloc(65536 / 64, sizeof(uint64_t));
		if (qp->cid_busy == NULL) {
			qp->user_freed = true;
			qp->ops->qpair_close(qp);
			nvmf_qpair_put(qp);
			errno = ENOMEM;
			return -ENOMEM;
		}
	}
	return 0;
}

void nvmf_qpair_put(struct nvmf_qpair *qp)
{
	if (--qp->refs > 0)
		return;
	struct nvmf_association *na = qp->na;
	free(qp->cid_busy);
	qp->ops->qpair_destroy(qp);
	association_put(na);
}

void nvmf_qpair_leave(struct nvmf_qpair *qp)
{
	if (--qp->busy == 0 && qp->free_deferred) {
		qp->free_deferred = false;
		nvmf_qpair_put(qp);
	}
}

void nvmf_qpair_free(struct nvmf_qpair *qp)
{
	if (qp == NULL || qp->user_freed)
		return;
	qp->user_freed = true;
	nvmf_qpair_enter(qp);
	qp->ops->qpair_close(qp);
	/* Queued commands nobody will receive now. */
	while (qp->rxq_head) {
		struct nvmf_capsule *nc = qp->rxq_head;
		qp->rxq_head = nc->rxq_next;
		nvmf_capsule_free(nc);
	}
	qp->rxq_tail = NULL;
	qp->free_deferred = true;
	nvmf_qpair_leave(qp);
}

void nvmf_qpair_set_callbacks(struct nvmf_qpair *qp, nvmf_receive_cb receive_cb, nvmf_error_cb error_cb,
			      void *cb_arg)
{
	qp->receive_cb = receive_cb;
	qp->error_cb = error_cb;
	qp->cb_arg = cb_arg;
	/* Commands queued for the blocking layer go to the new owner. */
	while (receive_cb && qp->rxq_head) {
		struct nvmf_capsule *nc = qp->rxq_head;
		qp->rxq_head = nc->rxq_next;
		if (qp->rxq_head == NULL)
			qp->rxq_tail = NULL;
		nc->rxq_next = NULL;
		receive_cb(cb_arg, qp, nc);
	}
}

static void deliver(struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	if (qp->receive_cb) {
		qp->receive_cb(qp->cb_arg, qp, nc);
		return;
	}
	nc->rxq_next = NULL;
	if (qp->rxq_tail)
		qp->rxq_tail->rxq_next = nc;
	else
		qp->rxq_head = nc;
	qp->rxq_tail = nc;
}

static int transmit_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe);

static bool cid_test_and_set(struct nvmf_qpair *qp, uint16_t cid)
{
	uint64_t bit = 1ull << (cid & 63);
	bool busy = qp->cid_busy[cid >> 6] & bit;
	qp->cid_busy[cid >> 6] |= bit;
	return busy;
}

static void unhold(struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	for (unsigned i = 0; i < NVMF_HELD_COMMANDS; i++) {
		if (qp->held[i] == nc) {
			qp->held[i] = NULL;
			qp->nheld--;
		}
	}
}

/* A command leaves the queue: its response went out or it was dropped. */
static void command_retired(struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	if (!nc->pending)
		return;
	nc->pending = false;
	unhold(qp, nc);
	uint16_t cid = le16toh(nc->sqe.cid);
	qp->cid_busy[cid >> 6] &= ~(1ull << (cid & 63));
	qp->commands--;
	if (qp->connect_nc == nc)
		qp->connect_nc = NULL;
}

/* The host reused the CID of a held command: it gave that one up (its answer will be dropped). */
static void abandon_held(struct nvmf_qpair *qp, uint16_t cid)
{
	for (unsigned i = 0; i < NVMF_HELD_COMMANDS; i++)
		if (qp->held[i] && qp->held[i]->sqe.cid == cid)
			command_retired(qp, qp->held[i]);
}

unsigned nvmf_controller_held_commands(const struct nvmf_qpair *qp)
{
	return qp->nheld;
}

int nvmf_controller_hold_command(struct nvmf_capsule *nc)
{
	struct nvmf_qpair *qp = nc->qp;
	for (unsigned i = 0; i < NVMF_HELD_COMMANDS; i++) {
		if (!qp->held[i]) {
			qp->held[i] = nc;
			qp->nheld++;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Answer a command the transport-independent layer rejects, and drop it. */
static void reject_command(struct nvmf_capsule *nc, uint16_t status)
{
	(void)nvmf_controller_send_status(nc, status, 0);
	nvmf_capsule_free(nc);
}

/* Take the queue's identity from a Connect (answered later by the owner). */
static void connect_received(struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	const struct nvmf_connect_command *cc = (const void *)&nc->sqe;
	qp->connect_state = NVMF_QP_CONNECTING;
	qp->connect_nc = nc;
	qp->qid = le16toh(cc->qid);
	qp->admin = qp->qid == 0;
	qp->qsize = (uint16_t)(le16toh(cc->sqsize) + 1); /* 0 for SQSIZE 0xffff: the core rejects it */
	/* A controller whose params keep flow control ignores a request to disable it. */
	qp->sq_flow_control = !(cc->cattr & NVMF_CONNECT_ATTR_DISABLE_SQ_FC) || qp->na->params.sq_flow_control;
	/* The Connect itself took the first SQ entry. */
	qp->sqhd = qp->qsize ? 1 % qp->qsize : 0;
}

/* The Connect was answered: the queue is connected, or back to its first state. */
static void connect_answered(struct nvmf_qpair *qp, uint16_t status)
{
	if ((status & 0xfffe) == 0) {
		qp->connect_state = NVMF_QP_CONNECTED;
		return;
	}
	qp->connect_state = NVMF_QP_UNCONNECTED;
	qp->qid = 0;
	qp->admin = false;
	qp->qsize = 0;
	qp->sqhd = 0;
	qp->sq_flow_control = true;
}

void nvmf_qpair_command_received(struct nvmf_qpair *qp, struct nvmf_capsule *nc, bool digest_ok)
{
	const struct nvmf_fabrics_command *fc = (const void *)&nc->sqe;

	if (qp->qsize)
		qp->sqhd = (uint16_t)((qp->sqhd + 1) % qp->qsize);
	abandon_held(qp, nc->sqe.cid);
	if (cid_test_and_set(qp, le16toh(nc->sqe.cid))) {
		/* The CID's bit stays with the command that holds it. */
		struct nvme_completion cqe = {
			.status = htole16(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_ID_CONFLICT) | NVME_STATUS_DNR)};
		(void)transmit_response(nc, &cqe);
		nvmf_capsule_free(nc);
		return;
	}
	nc->pending = true;
	qp->commands++;
	if (!digest_ok) {
		reject_command(nc, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR));
		return;
	}
	if (qp->connect_state != NVMF_QP_CONNECTED) {
		bool is_connect = fc->opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_CONNECT;
		if (qp->connect_state == NVMF_QP_CONNECTING || !is_connect) {
			reject_command(nc, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR) | NVME_STATUS_DNR);
			return;
		}
		connect_received(qp, nc);
	}
	deliver(qp, nc);
}

bool nvmf_qpair_sq_full(const struct nvmf_qpair *qp)
{
	/* Before Connect a host has nothing to send but the Connect: a small allowance is plenty. */
	unsigned entries = qp->connect_state == NVMF_QP_CONNECTED ? qp->qsize : 4;
	return qp->commands >= entries;
}

uint32_t nvmf_qpair_incapsule_limit(const struct nvmf_qpair *qp)
{
	uint32_t io = qp->na->params.ioccsz;
	if (qp->connect_state == NVMF_QP_UNCONNECTED)
		return NVMF_ADMIN_INCAPSULE_DATA > io ? NVMF_ADMIN_INCAPSULE_DATA : io;
	return qp->admin ? NVMF_ADMIN_INCAPSULE_DATA : io;
}

void nvmf_qpair_report_error(struct nvmf_qpair *qp, int error, const char *why)
{
	if (qp->failed)
		return;
	qp->failed = true;
	snprintf(qp->error, sizeof(qp->error), "%s", why && *why ? why : strerror(-error));
	if (qp->error_cb && !qp->user_freed)
		qp->error_cb(qp->cb_arg, qp, error);
}

void *nvmf_qpair_tls(const struct nvmf_qpair *qp)
{
	return qp->tls;
}

int nvmf_qpair_fd(const struct nvmf_qpair *qp)
{
	return qp->fd;
}

int nvmf_qpair_process(struct nvmf_qpair *qp)
{
	if (qp->user_freed)
		return -ECONNABORTED;
	nvmf_qpair_enter(qp);
	int rc = qp->ops->process(qp);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_qpair_flush(struct nvmf_qpair *qp)
{
	if (qp->user_freed)
		return -ECONNABORTED;
	nvmf_qpair_enter(qp);
	int rc = qp->ops->flush(qp);
	nvmf_qpair_leave(qp);
	return rc;
}

bool nvmf_qpair_want_write(const struct nvmf_qpair *qp)
{
	return !qp->failed && qp->ops->want_write(qp);
}

bool nvmf_qpair_want_read(const struct nvmf_qpair *qp)
{
	return !qp->failed && qp->ops->want_read(qp);
}

void nvmf_qpair_set_limits(struct nvmf_qpair *qp, const struct nvmf_qpair_limits *limits)
{
	qp->ops->set_limits(qp, limits);
}

bool nvmf_qpair_ready(const struct nvmf_qpair *qp) { return qp->ready && !qp->failed; }
bool nvmf_qpair_failed(const struct nvmf_qpair *qp) { return qp->failed; }
const char *nvmf_qpair_error(const struct nvmf_qpair *qp) { return qp->failed ? qp->error : ""; }
bool nvmf_qpair_is_admin(const struct nvmf_qpair *qp) { return qp->admin; }
uint16_t nvmf_qpair_qid(const struct nvmf_qpair *qp) { return qp->qid; }
uint16_t nvmf_qpair_qsize(const struct nvmf_qpair *qp) { return qp->qsize; }
bool nvmf_qpair_sq_flow_control(const struct nvmf_qpair *qp) { return qp->sq_flow_control; }
bool nvmf_qpair_header_digests(const struct nvmf_qpair *qp) { return qp->hdgst; }
bool nvmf_qpair_data_digests(const struct nvmf_qpair *qp) { return qp->ddgst; }
unsigned nvmf_qpair_outstanding(const struct nvmf_qpair *qp)
{
	return qp->na->controller ? qp->commands : qp->ops->outstanding(qp);
}

/* ---- Capsules ---- */

/* A capsule the transport gave, set for sqe field by field: a memset would be a rep stos,
 * slow to start on AMD's cores, and this runs for every command. */
static struct nvmf_capsule *capsule_init(struct nvmf_qpair *qp, struct nvmf_capsule *nc, const struct nvme_command *sqe)
{
	if (nc == NULL)
		return NULL;
	nc->qp = qp;
	nc->sqe = *sqe;
	nc->data = NULL;
	nc->data_len = 0;
	nc->send = false;
	nc->transferred = 0;
	nc->done = NULL;
	nc->done_arg = NULL;
	nc->pending = false;
	nc->rxq_next = NULL;
	qp->refs++;
	return nc;
}

struct nvmf_capsule *nvmf_capsule_alloc_command(struct nvmf_qpair *qp, const struct nvme_command *sqe)
{
	if (qp->na->controller) {
		errno = EINVAL;
		return NULL;
	}
	return capsule_init(qp, qp->ops->capsule_alloc(qp), sqe);
}

struct nvmf_capsule *nvmf_capsule_alloc_received(struct nvmf_qpair *qp, const struct nvme_command *sqe)
{
	return capsule_init(qp, qp->ops->capsule_alloc(qp), sqe);
}

int nvmf_capsule_append_data(struct nvmf_capsule *nc, void *buf, size_t len, bool send)
{
	if (nc->data_len || len > UINT32_MAX || (len && buf == NULL))
		return -EINVAL;
	nc->data = buf;
	nc->data_len = len;
	nc->send = send;
	return 0;
}

void nvmf_capsule_set_done(struct nvmf_capsule *nc, nvmf_command_done_cb cb, void *arg)
{
	nc->done = cb;
	nc->done_arg = arg;
}

int nvmf_capsule_transmit(struct nvmf_capsule *nc)
{
	struct nvmf_qpair *qp = nc->qp;

	if (qp->failed || qp->user_freed)
		return -ENOTCONN;
	nvmf_qpair_enter(qp);
	int rc = qp->ops->capsule_transmit(nc);
	nvmf_qpair_leave(qp);
	return rc;
}

size_t nvmf_capsule_data_transferred(const struct nvmf_capsule *nc)
{
	return nc->transferred;
}

void nvmf_capsule_free(struct nvmf_capsule *nc)
{
	if (nc == NULL)
		return;
	struct nvmf_qpair *qp = nc->qp;
	command_retired(qp, nc);
	qp->ops->capsule_free(nc);
	nvmf_qpair_put(qp);
}

struct nvmf_qpair *nvmf_capsule_qpair(const struct nvmf_capsule *nc)
{
	return nc->qp;
}

const struct nvme_command *nvmf_capsule_sqe(const struct nvmf_capsule *nc)
{
	return &nc->sqe;
}

/* ---- Controller-side data transfer ---- */

uint16_t nvmf_capsule_validate_command(const struct nvmf_capsule *nc)
{
	return nc->qp->ops->validate_command(nc);
}

size_t nvmf_capsule_data_len(const struct nvmf_capsule *nc)
{
	return nc->qp->ops->data_len(nc);
}

const void *nvmf_capsule_incapsule_data(const struct nvmf_capsule *nc, size_t *len)
{
	return nc->qp->ops->incapsule_data(nc, len);
}

/* What moving len bytes at offset of nc's data needs: 0 or a negative errno. */
static int check_transfer(struct nvmf_capsule *nc, uint32_t offset, size_t len)
{
	struct nvmf_qpair *qp = nc->qp;

	if (!qp->na->controller)
		return -EINVAL;
	if (qp->failed || qp->user_freed)
		return -ENOTCONN;
	if ((uint64_t)offset + len > nvmf_capsule_data_len(nc))
		return -EFAULT;
	return 0;
}

static int receive(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len, unsigned flags,
		   nvmf_data_done_cb cb, void *arg)
{
	struct nvmf_qpair *qp = nc->qp;
	int rc = check_transfer(nc, offset, len);

	if (rc < 0)
		return rc;
	nvmf_qpair_enter(qp);
	rc = qp->ops->receive_data(nc, offset, buf, len, flags, cb, arg);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_controller_receive_data(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				 nvmf_data_done_cb cb, void *arg)
{
	return receive(nc, offset, buf, len, 0, cb, arg);
}

int nvmf_controller_receive_to_storage(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				       nvmf_data_done_cb cb, void *arg)
{
	return receive(nc, offset, buf, len, NVMF_RECEIVE_TO_STORAGE, cb, arg);
}

bool nvmf_controller_copies_at_once(const struct nvmf_capsule *nc)
{
	return nc->qp->ops->copies_at_once;
}

void nvmf_controller_identify_ctrl(const struct nvmf_capsule *nc, struct nvme_id_ctrl *id)
{
	if (nc->qp->ops->identify_ctrl)
		nc->qp->ops->identify_ctrl(nc->qp, id);
}

/* What sending len bytes at offset of nc's data needs: 0 or a negative errno. */
static int check_send(struct nvmf_capsule *nc, uint32_t offset, size_t len)
{
	int rc = check_transfer(nc, offset, len);

	if (rc < 0)
		return rc;
	return nc->pending ? 0 : -EALREADY;
}

int nvmf_controller_send_datav(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt,
			       bool last, nvmf_data_done_cb cb, void *arg)
{
	struct nvmf_qpair *qp = nc->qp;
	size_t len = 0;

	if (iovcnt < 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	int rc = check_send(nc, offset, len);
	if (rc < 0)
		return rc;
	nvmf_qpair_enter(qp);
	rc = qp->ops->send_data(nc, offset, iov, iovcnt, last, cb, arg);
	if (rc == NVMF_SUCCESS_SENT)
		command_retired(qp, nc);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_controller_send_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, bool last,
				 nvmf_data_done_cb cb, void *arg)
{
	struct nvmf_qpair *qp = nc->qp;

	if (!qp->ops->send_nothing)
		return -EOPNOTSUPP;
	int rc = check_send(nc, offset, len);
	if (rc < 0)
		return rc;
	nvmf_qpair_enter(qp);
	rc = qp->ops->send_nothing(nc, offset, len, last, cb, arg);
	if (rc == NVMF_SUCCESS_SENT)
		command_retired(qp, nc);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_controller_receive_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, nvmf_data_done_cb cb,
				    void *arg)
{
	struct nvmf_qpair *qp = nc->qp;

	if (!qp->ops->receive_nothing)
		return -EOPNOTSUPP;
	int rc = check_transfer(nc, offset, len);
	if (rc < 0)
		return rc;
	nvmf_qpair_enter(qp);
	rc = qp->ops->receive_nothing(nc, offset, len, cb, arg);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_controller_send_data(struct nvmf_capsule *nc, uint32_t offset, const void *buf, size_t len, bool last,
			      nvmf_data_done_cb cb, void *arg)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return nvmf_controller_send_datav(nc, offset, &iov, 1, last, cb, arg);
}

/* Fill what the transport-independent layer owns in a response and queue it. */
static int transmit_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe)
{
	struct nvmf_qpair *qp = nc->qp;
	struct nvme_completion c = *cqe;

	c.cid = nc->sqe.cid;
	c.sqid = htole16(qp->qid);
	/* Without SQ flow control SQHD is reserved: cleared, as FreeBSD does. */
	c.sqhd = htole16(qp->sq_flow_control ? qp->sqhd : 0);
	c.status &= htole16(0xfffe); /* the phase bit means nothing on fabrics */
	if (qp->connect_nc == nc)
		connect_answered(qp, le16toh(c.status));
	command_retired(qp, nc);
	nvmf_qpair_enter(qp);
	int rc = qp->ops->send_response(nc, &c);
	nvmf_qpair_leave(qp);
	return rc;
}

int nvmf_controller_send_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe)
{
	struct nvmf_qpair *qp = nc->qp;

	if (!qp->na->controller || !nc->pending)
		return -EINVAL;
	if (qp->failed || qp->user_freed) {
		command_retired(qp, nc);
		return -ENOTCONN;
	}
	return transmit_response(nc, cqe);
}

int nvmf_controller_send_status(struct nvmf_capsule *nc, uint16_t status, uint32_t cdw0)
{
	struct nvme_completion cqe = {.cdw0 = cdw0, .status = status};

	return nvmf_controller_send_response(nc, &cqe);
}
