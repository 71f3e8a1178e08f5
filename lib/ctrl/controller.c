/*
 * Controllers (dynamic model): Connect creates one per association on its
 * admin queue; I/O queues join it by controller ID.  Properties (CAP, VS,
 * CC, CSTS), reset and shutdown, teardown across threads, async events.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

#define NVMF_CTRL_VS NVME_VS(1, 3, 0)
#define NVMF_CTRL_TO 20 /* CAP.TO: 10 s in 500 ms units */

/* Pending event bits (one AER each). */
#define EVENT_NS_CHANGED 0x1u
#define EVENT_DISCOVERY_CHANGED 0x2u

static uint32_t ipo_data(size_t offset)
{
	return (uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | (uint32_t)offset;
}

static uint32_t ipo_sqe(size_t offset)
{
	return (uint32_t)offset;
}

static void reject(struct nvmf_request *req, uint8_t sc, uint32_t ipo)
{
	nvmf_request_complete(req, NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, sc) | NVME_STATUS_DNR, ipo);
}

void nvmf_ctrl_get(struct nvmf_controller *ctrl)
{
	atomic_fetch_add(&ctrl->refs, 1);
}

void nvmf_ctrl_put(struct nvmf_controller *ctrl)
{
	if (atomic_fetch_sub(&ctrl->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&ctrl->lock);
	free(ctrl);
}

bool nvmf_ctrl_ready(struct nvmf_controller *ctrl)
{
	return (atomic_load(&ctrl->csts) & NVME_CSTS_RDY) && !ctrl->dead;
}

static void copy_nqn(char *dst, const char *src)
{
	memcpy(dst, src, NVME_NQN_FIELD);
	dst[NVME_NQN_FIELD - 1] = '\0';
}

static void connect_admin(struct nvmf_request *req, struct nvmf_subsystem *ss, const struct nvmf_connect_data *d,
			  const char *hostnqn)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;

	if (d->cntlid != NVMF_CNTLID_DYNAMIC) {
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_data(offsetof(struct nvmf_connect_data, cntlid)));
		return;
	}
	struct nvmf_controller *ctrl = calloc(1, sizeof(*ctrl));
	if (!ctrl) {
		reject(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0);
		return;
	}
	atomic_init(&ctrl->refs, 1); /* the association's */
	pthread_mutex_init(&ctrl->lock, NULL);
	ctrl->ss = ss;
	ctrl->tgt = conn->tgt;
	ctrl->discovery = ss->discovery;
	strcpy(ctrl->hostnqn, hostnqn);
	memcpy(ctrl->hostid, d->hostid, 16);
	ctrl->created_ms = nvmf_now_ms();
	ctrl->kato_ms = cc->kato;
	atomic_init(&ctrl->last_seen_ms, ctrl->created_ms);
	atomic_init(&ctrl->csts, 0);
	ctrl->num_io_queues = ctrl->discovery ? 0 : NVMF_CTRL_MAX_IO_QUEUES;
	ctrl->vwc_enabled = true;
	ctrl->admin = conn;
	ctrl->admin_env = conn->env;

	conn->admin = true;
	conn->qid = 0;
	conn->qsize = (uint16_t)(cc->sqsize + 1);
	if (nvmf_conn_size_queue(conn, conn->qsize) < 0) {
		nvmf_ctrl_put(ctrl);
		reject(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0);
		return;
	}
	ctrl->cntlid = nvmf_subsystem_add_ctrl(ss, ctrl);
	if (!ctrl->cntlid) {
		nvmf_ctrl_put(ctrl);
		reject(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0);
		return;
	}
	nvmf_ctrl_get(ctrl); /* the admin queue's */
	conn->ctrl = ctrl;
	conn->connected = true;
	nvmf_request_complete(req, NVME_SC_SUCCESS, ctrl->cntlid);
}

static void connect_io(struct nvmf_request *req, struct nvmf_subsystem *ss, const struct nvmf_connect_data *d,
		       const char *hostnqn)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;

	struct nvmf_controller *ctrl = nvmf_subsystem_get_ctrl(ss, d->cntlid);
	if (!ctrl || ctrl->dead || strcmp(ctrl->hostnqn, hostnqn) != 0 || memcmp(ctrl->hostid, d->hostid, 16) != 0) {
		if (ctrl)
			nvmf_ctrl_put(ctrl);
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_data(offsetof(struct nvmf_connect_data, cntlid)));
		return;
	}
	if (!nvmf_ctrl_ready(ctrl)) {
		nvmf_ctrl_put(ctrl);
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR), 0);
		return;
	}
	conn->admin = false;
	conn->qid = cc->qid;
	conn->qsize = (uint16_t)(cc->sqsize + 1);
	pthread_mutex_lock(&ctrl->lock);
	bool ok = !ctrl->dead && cc->qid <= ctrl->num_io_queues && cc->qid <= NVMF_CTRL_MAX_IO_QUEUES &&
		  !ctrl->io[cc->qid];
	if (ok)
		ctrl->io[cc->qid] = conn;
	pthread_mutex_unlock(&ctrl->lock);
	if (!ok) {
		nvmf_ctrl_put(ctrl);
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_sqe(offsetof(struct nvmf_connect_command, qid)));
		return;
	}
	if (nvmf_conn_size_queue(conn, conn->qsize) < 0) {
		pthread_mutex_lock(&ctrl->lock);
		ctrl->io[cc->qid] = NULL;
		pthread_mutex_unlock(&ctrl->lock);
		nvmf_ctrl_put(ctrl);
		reject(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0);
		return;
	}
	conn->ctrl = ctrl; /* keeps the reference */
	conn->connected = true;
	nvmf_request_complete(req, NVME_SC_SUCCESS, ctrl->cntlid);
}

static void connect_with_data(struct nvmf_request *req)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	const struct nvmf_connect_data *d = req->buf;
	struct nvmf_conn *conn = req->conn;
	char subnqn[NVME_NQN_FIELD], hostnqn[NVME_NQN_FIELD];

	copy_nqn(subnqn, d->subnqn);
	copy_nqn(hostnqn, d->hostnqn);

	struct nvmf_subsystem *ss = nvmf_tgt_find_subsystem(conn->tgt, subnqn);
	if (!ss || !nvmf_tgt_port_allows(conn->tgt, conn->portid, subnqn)) {
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_data(offsetof(struct nvmf_connect_data, subnqn)));
		return;
	}
	size_t hlen = strlen(hostnqn);
	if (hlen == 0 || hlen > NVME_NQN_MAX) {
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_data(offsetof(struct nvmf_connect_data, hostnqn)));
		return;
	}
	if (!nvmf_subsystem_host_allowed(ss, hostnqn)) {
		reject(req, NVMF_SC_CONNECT_INVALID_HOST, ipo_data(offsetof(struct nvmf_connect_data, hostnqn)));
		return;
	}
	if (cc->sqsize == 0 || cc->sqsize > NVMF_CTRL_MQES) {
		reject(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_sqe(offsetof(struct nvmf_connect_command, sqsize)));
		return;
	}
	if (cc->qid == 0)
		connect_admin(req, ss, d, hostnqn);
	else
		connect_io(req, ss, d, hostnqn);
}

void nvmf_ctrl_connect(struct nvmf_request *req)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	if (cc->recfmt != 0) {
		reject(req, NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT, ipo_sqe(offsetof(struct nvmf_connect_command, recfmt)));
		return;
	}
	if (nvmf_capsule_data_len(req->nc) < sizeof(struct nvmf_connect_data)) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID) | NVME_STATUS_DNR,
				      0);
		return;
	}
	nvmf_request_receive_buf(req, sizeof(struct nvmf_connect_data), connect_with_data);
}

/* ---- Properties ---- */

static uint64_t reg_cap(void)
{
	return NVMF_CTRL_MQES | NVME_CAP_CQR | ((uint64_t)NVMF_CTRL_TO << NVME_CAP_TO_SHIFT) | NVME_CAP_CSS_NVM;
}

void nvmf_ctrl_property_get(struct nvmf_request *req)
{
	const struct nvmf_property_get_command *pg = (const void *)&req->cmd;
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint64_t v;
	bool eight = (pg->attrib & 0x7) == NVMF_PROP_SIZE_8;

	switch (pg->offset) {
	case NVME_REG_CAP:
		v = reg_cap();
		break;
	case NVME_REG_VS:
		v = NVMF_CTRL_VS;
		break;
	case NVME_REG_CC:
		pthread_mutex_lock(&ctrl->lock);
		v = ctrl->cc;
		pthread_mutex_unlock(&ctrl->lock);
		break;
	case NVME_REG_CSTS:
		v = atomic_load(&ctrl->csts);
		break;
	default:
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR, 0);
		return;
	}
	/* Only CAP is 8 bytes wide; the others read as 4 either way. */
	if (eight && pg->offset != NVME_REG_CAP) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR, 0);
		return;
	}
	req->cqe.cdw1 = eight ? (uint32_t)(v >> 32) : 0;
	nvmf_request_complete(req, NVME_SC_SUCCESS, (uint32_t)v);
}

static void close_msg(void *arg)
{
	struct nvmf_conn *conn = arg;
	nvmf_conn_close(conn);
	nvmf_conn_put(conn);
}

/* Close conn on its own thread (ctrl->lock held). */
static void post_close(struct nvmf_conn *conn)
{
	nvmf_conn_get(conn);
	conn->env.post(conn->env.thread, close_msg, conn);
}

static void close_io_queues_locked(struct nvmf_controller *ctrl)
{
	for (unsigned q = 1; q <= NVMF_CTRL_MAX_IO_QUEUES; q++) {
		if (ctrl->io[q])
			post_close(ctrl->io[q]);
	}
}

static bool cc_valid(uint32_t cc)
{
	uint32_t css = (cc >> NVME_CC_CSS_SHIFT) & 0x7;
	uint32_t mps = (cc >> NVME_CC_MPS_SHIFT) & 0xf;
	uint32_t ams = (cc >> NVME_CC_AMS_SHIFT) & 0x7;
	uint32_t iosqes = (cc >> NVME_CC_IOSQES_SHIFT) & 0xf;
	uint32_t iocqes = (cc >> NVME_CC_IOCQES_SHIFT) & 0xf;
	/* Fabrics hosts may leave the queue entry sizes 0 (they are fixed). */
	return css == 0 && mps == 0 && ams == 0 && (iosqes == 0 || iosqes == 6) && (iocqes == 0 || iocqes == 4);
}

void nvmf_ctrl_property_set(struct nvmf_request *req)
{
	const struct nvmf_property_set_command *ps = (const void *)&req->cmd;
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint16_t invalid = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;

	if (ps->offset != NVME_REG_CC || (ps->attrib & 0x7) != NVMF_PROP_SIZE_4) {
		/* CAP, VS and CSTS are read-only; nothing else is implemented. */
		nvmf_request_complete(req, invalid, 0);
		return;
	}
	uint32_t v = (uint32_t)ps->value;
	pthread_mutex_lock(&ctrl->lock);
	uint32_t old = ctrl->cc;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN) && !cc_valid(v)) {
		pthread_mutex_unlock(&ctrl->lock);
		nvmf_request_complete(req, invalid, 0);
		return;
	}
	ctrl->cc = v;
	uint32_t csts = atomic_load(&ctrl->csts);
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN))
		csts |= NVME_CSTS_RDY;
	if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		/* Controller reset: I/O queues go, registers return to their defaults. */
		close_io_queues_locked(ctrl);
		csts = 0;
		ctrl->cc = 0;
		ctrl->num_io_queues = ctrl->discovery ? 0 : NVMF_CTRL_MAX_IO_QUEUES;
	}
	if (v & NVME_CC_SHN_MASK) {
		/* Nothing volatile to write back beyond what Flush does: done at once. */
		csts = (csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_COMPLETE;
	} else {
		csts &= ~NVME_CSTS_SHST_MASK;
	}
	atomic_store(&ctrl->csts, csts);
	pthread_mutex_unlock(&ctrl->lock);
	nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
}

/* ---- Lifecycle ---- */

void nvmf_ctrl_queue_closed(struct nvmf_controller *ctrl, struct nvmf_conn *conn)
{
	bool was_admin = false;
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->admin == conn) {
		ctrl->admin = NULL;
		was_admin = true;
	} else if (conn->qid <= NVMF_CTRL_MAX_IO_QUEUES && ctrl->io[conn->qid] == conn) {
		ctrl->io[conn->qid] = NULL;
	}
	pthread_mutex_unlock(&ctrl->lock);
	if (was_admin)
		nvmf_ctrl_destroy(ctrl, "admin queue closed");
}

void nvmf_ctrl_destroy(struct nvmf_controller *ctrl, const char *why)
{
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->dead) {
		pthread_mutex_unlock(&ctrl->lock);
		return;
	}
	ctrl->dead = true;
	close_io_queues_locked(ctrl);
	if (ctrl->admin)
		post_close(ctrl->admin);
	pthread_mutex_unlock(&ctrl->lock);
	if (why && !ctrl->discovery)
		fprintf(stderr, "nvmf: controller %u of %s for %s: %s\n", ctrl->cntlid, ctrl->ss->nqn, ctrl->hostnqn,
			why);
	/* The ID may serve a new association from now on. */
	nvmf_subsystem_remove_ctrl(ctrl->ss, ctrl);
	nvmf_ctrl_put(ctrl);
}

/* ---- Asynchronous events ---- */

static void deliver_msg(void *arg)
{
	struct nvmf_controller *ctrl = arg;
	nvmf_ctrl_deliver_events(ctrl);
	nvmf_ctrl_put(ctrl);
}

/* Post delivery to the admin queue's thread (ctrl->lock held). */
static void post_deliver_locked(struct nvmf_controller *ctrl)
{
	if (!ctrl->admin || ctrl->dead || !ctrl->admin_env.post)
		return;
	nvmf_ctrl_get(ctrl);
	ctrl->admin_env.post(ctrl->admin_env.thread, deliver_msg, ctrl);
}

void nvmf_ctrl_ns_changed(struct nvmf_controller *ctrl, uint32_t nsid)
{
	pthread_mutex_lock(&ctrl->lock);
	bool seen = false;
	for (unsigned i = 0; i < ctrl->nchanged; i++)
		seen |= ctrl->changed_ns[i] == nsid;
	if (!seen) {
		if (ctrl->nchanged < NVME_CHANGED_NS_MAX)
			ctrl->changed_ns[ctrl->nchanged++] = nsid;
		else
			ctrl->changed_overflow = true;
	}
	if ((ctrl->aec & NVME_AEC_NS_ATTR) && !ctrl->ns_event_masked) {
		ctrl->pending_events |= EVENT_NS_CHANGED;
		post_deliver_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

void nvmf_ctrl_discovery_changed(struct nvmf_controller *ctrl)
{
	pthread_mutex_lock(&ctrl->lock);
	if ((ctrl->aec & NVME_AEC_DISCOVERY_LOG_CHANGE) && !ctrl->disc_event_masked) {
		ctrl->pending_events |= EVENT_DISCOVERY_CHANGED;
		post_deliver_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

void nvmf_ctrl_deliver_events(struct nvmf_controller *ctrl)
{
	for (;;) {
		pthread_mutex_lock(&ctrl->lock);
		struct nvmf_conn *conn = ctrl->admin;
		if (!conn || ctrl->dead || conn->closing || conn->naers == 0 || !ctrl->pending_events) {
			pthread_mutex_unlock(&ctrl->lock);
			return;
		}
		uint32_t dw0;
		if (ctrl->pending_events & EVENT_NS_CHANGED) {
			ctrl->pending_events &= ~EVENT_NS_CHANGED;
			ctrl->ns_event_masked = true;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED, NVME_LOG_CHANGED_NS);
		} else {
			ctrl->pending_events &= ~EVENT_DISCOVERY_CHANGED;
			ctrl->disc_event_masked = true;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_DISCOVERY_LOG_CHANGE, NVME_LOG_DISCOVERY);
		}
		struct nvmf_request *aer = conn->aers[--conn->naers];
		pthread_mutex_unlock(&ctrl->lock);
		nvmf_request_complete(aer, NVME_SC_SUCCESS, dw0);
	}
}
