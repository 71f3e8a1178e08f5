/*
 * Fabrics commands: Connect (a new controller on an admin queue, or an I/O
 * queue joining one), Property Get/Set over a table of registers, and
 * Disconnect.  The transport-independent layer has already taken the
 * queue's ID, size and SQ flow control from the Connect (nvmf_qpair_*).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrl_internal.h"
#include "util/ratelimit.h"

#define NVMF_CTRL_VS NVME_VS(1, 3, 0)
#define NVMF_CTRL_TO 20 /* CAP.TO: 10 s in 500 ms units */
/* Refused Connects logged per second at most: a hostile host must not flood the log. */
#define CONNECT_LOG_PER_SEC 10

/* ---- Connect ---- */

static uint32_t ipo_data(size_t offset)
{
	return (uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | (uint32_t)offset;
}

static uint32_t ipo_sqe(size_t offset)
{
	return (uint32_t)offset;
}

/* Refuse the Connect with a command specific status, and say why in the log. */
static enum nvmf_exec refuse(struct nvmf_request *req, uint8_t sc, uint32_t ipo, const char *hostnqn,
			     const char *subnqn, const char *why)
{
	static struct nvmf_ratelimit connect_log;
	if (nvmf_ratelimit_allow(&connect_log, CONNECT_LOG_PER_SEC)) {
		fprintf(stderr, "nvmf: refused Connect from %s (host '%s', subsystem '%s', queue %u): %s\n", req->conn->peer,
			hostnqn ? hostnqn : "", subnqn ? subnqn : "", nvmf_qpair_qid(req->conn->qp), why);
	}
	req->cqe.cdw0 = ipo;
	return nvmf_req_status(req, NVMF_SPECIFIC(sc));
}

static void copy_nqn(char *dst, const char *src)
{
	memcpy(dst, src, NVME_NQN_FIELD);
	dst[NVME_NQN_FIELD - 1] = '\0';
}

static enum nvmf_exec connect_admin(struct nvmf_request *req, struct nvmf_subsystem *ss,
				    const struct nvmf_connect_data *d, const char *hostnqn)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;

	if (d->cntlid != NVMF_CNTLID_DYNAMIC)
		return refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS,
			      ipo_data(offsetof(struct nvmf_connect_data, cntlid)), hostnqn, ss->nqn,
			      "static controller ID asked for");
	if (nvmf_request_reserve(conn, conn->qsize + NVMF_CTRL_AERL + 1) < 0)
		return refuse(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0, hostnqn, ss->nqn, "out of memory");
	struct nvmf_controller *ctrl = nvmf_ctrl_create(conn, ss, hostnqn, d->hostid, cc->kato);
	if (!ctrl)
		return refuse(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0, hostnqn, ss->nqn,
			      "the subsystem has all the associations it may have");
	conn->ctrl = ctrl; /* the admin queue's reference */
	conn->connected = true;
	return nvmf_req_success(req, ctrl->cntlid | nvmf_auth_on_connect(conn, ss, hostnqn));
}

static enum nvmf_exec connect_io(struct nvmf_request *req, struct nvmf_subsystem *ss,
				 const struct nvmf_connect_data *d, const char *hostnqn)
{
	struct nvmf_conn *conn = req->conn;
	struct nvmf_controller *ctrl = nvmf_subsystem_get_ctrl(ss, d->cntlid);
	if (!ctrl || strcmp(ctrl->hostnqn, hostnqn) != 0 || memcmp(ctrl->hostid, d->hostid, 16) != 0) {
		if (ctrl)
			nvmf_ctrl_put(ctrl);
		return refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS,
			      ipo_data(offsetof(struct nvmf_connect_data, cntlid)), hostnqn, ss->nqn,
			      "no such controller for this host");
	}
	if (nvmf_request_reserve(conn, conn->qsize) < 0) {
		nvmf_ctrl_put(ctrl);
		return refuse(req, NVMF_SC_CONNECT_CONTROLLER_BUSY, 0, hostnqn, ss->nqn, "out of memory");
	}
	uint16_t st = nvmf_ctrl_add_io_queue(ctrl, conn, conn->qid);
	if (st == NVMF_ST_SEQUENCE_ERROR) {
		nvmf_ctrl_put(ctrl);
		return nvmf_req_status(req, st);
	}
	if (st) {
		nvmf_ctrl_put(ctrl);
		return refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_sqe(offsetof(struct nvmf_connect_command, qid)),
			      hostnqn, ss->nqn, "queue ID in use or above the number granted");
	}
	conn->ctrl = ctrl; /* keeps the reference */
	conn->connected = true;
	return nvmf_req_success(req, ctrl->cntlid | nvmf_auth_on_connect(conn, ss, hostnqn));
}

/* The host NQN may be empty (SPDK's perf sends none): fine only where any host may connect. */
static bool empty_hostnqn_allowed(struct nvmf_subsystem *ss)
{
	static atomic_bool warned;
	pthread_mutex_lock(&ss->lock);
	bool any = ss->allow_any_host;
	pthread_mutex_unlock(&ss->lock);
	if (any && !atomic_exchange(&warned, true))
		fprintf(stderr, "nvmf: accepting Connects with an empty host NQN where any host is allowed\n");
	return any;
}

static void connect_with_data(struct nvmf_request *req)
{
	const struct nvmf_connect_data *d = req->buf;
	struct nvmf_conn *conn = req->conn;
	char subnqn[NVME_NQN_FIELD], hostnqn[NVME_NQN_FIELD];
	enum nvmf_exec r;

	copy_nqn(subnqn, d->subnqn);
	copy_nqn(hostnqn, d->hostnqn);
	conn->qid = nvmf_qpair_qid(conn->qp);
	conn->qsize = nvmf_qpair_qsize(conn->qp);
	conn->admin = conn->qid == 0;

	struct nvmf_subsystem *ss = nvmf_tgt_find_subsystem(conn->tgt, subnqn);
	size_t hlen = strlen(hostnqn);
	uint32_t tls_ipo = 0;
	const char *tls_why = NULL;
	uint16_t tls_sc = nvmf_tls_check_connect(conn, hostnqn, subnqn, &tls_ipo, &tls_why);
	if (tls_sc)
		r = refuse(req, (uint8_t)tls_sc, tls_ipo, hostnqn, subnqn, tls_why);
	else if (!ss || !nvmf_tgt_port_allows(conn->tgt, conn->portid, subnqn))
		r = refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS, ipo_data(offsetof(struct nvmf_connect_data, subnqn)),
			   hostnqn, subnqn, "no such subsystem on this port");
	else if (hlen > NVME_NQN_MAX)
		r = refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS,
			   ipo_data(offsetof(struct nvmf_connect_data, hostnqn)), hostnqn, subnqn, "host NQN too long");
	else if (hlen == 0 ? !empty_hostnqn_allowed(ss) : !nvmf_subsystem_host_allowed(ss, hostnqn))
		r = refuse(req, NVMF_SC_CONNECT_INVALID_HOST, ipo_data(offsetof(struct nvmf_connect_data, hostnqn)),
			   hostnqn, subnqn, "host not allowed");
	else if (conn->qsize < 2 || conn->qsize > atomic_load(&conn->tgt->queue_entries))
		r = refuse(req, NVMF_SC_CONNECT_INVALID_PARAMETERS,
			   ipo_sqe(offsetof(struct nvmf_connect_command, sqsize)), hostnqn, subnqn,
			   "queue size out of range");
	else if (conn->admin)
		r = connect_admin(req, ss, d, hostnqn);
	else
		r = connect_io(req, ss, d, hostnqn);
	if (r == NVMF_EXEC_COMPLETE)
		nvmf_request_finish(req);
}

static enum nvmf_exec fabrics_connect(struct nvmf_request *req)
{
	const struct nvmf_connect_command *cc = (const void *)&req->cmd;
	if (req->conn->connected)
		return nvmf_req_status(req, NVMF_ST_SEQUENCE_ERROR);
	if (cc->recfmt != 0)
		return refuse(req, NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT, ipo_sqe(offsetof(struct nvmf_connect_command, recfmt)),
			      NULL, NULL, "unknown record format");
	if (nvmf_capsule_data_len(req->nc) < sizeof(struct nvmf_connect_data))
		return nvmf_req_status(req, NVMF_ST_SGL_LENGTH_INVALID);
	nvmf_request_receive_data(req, sizeof(struct nvmf_connect_data), connect_with_data);
	return NVMF_EXEC_ASYNC;
}

/* ---- Properties ---- */

static uint64_t get_cap(struct nvmf_controller *ctrl)
{
	uint64_t mqes = atomic_load(&ctrl->tgt->queue_entries) - 1;
	return mqes | NVME_CAP_CQR | ((uint64_t)NVMF_CTRL_TO << NVME_CAP_TO_SHIFT) | NVME_CAP_CSS_NVM;
}

static uint64_t get_vs(struct nvmf_controller *ctrl)
{
	(void)ctrl;
	return NVMF_CTRL_VS;
}

static uint64_t get_cc(struct nvmf_controller *ctrl)
{
	return nvmf_ctrl_get_cc(ctrl);
}

static uint64_t get_csts(struct nvmf_controller *ctrl)
{
	return atomic_load(&ctrl->csts);
}

static bool set_cc(struct nvmf_controller *ctrl, uint64_t v)
{
	return nvmf_ctrl_set_cc(ctrl, (uint32_t)v);
}

/* The registers a fabrics controller has (NVMe over Fabrics, Properties). */
static const struct property {
	uint32_t offset;
	uint8_t size; /* bytes */
	uint64_t (*get)(struct nvmf_controller *ctrl);
	bool (*set)(struct nvmf_controller *ctrl, uint64_t value); /* NULL: read-only */
} properties[] = {
	{NVME_REG_CAP, 8, get_cap, NULL},
	{NVME_REG_VS, 4, get_vs, NULL},
	{NVME_REG_CC, 4, get_cc, set_cc},
	{NVME_REG_CSTS, 4, get_csts, NULL},
};

static const struct property *find_property(uint32_t offset, uint8_t attrib)
{
	uint8_t size = (attrib & 0x7) == NVMF_PROP_SIZE_8 ? 8 : 4;
	for (size_t i = 0; i < sizeof(properties) / sizeof(properties[0]); i++) {
		/* An 8-byte register may be read as 4 (its low half); never the other way. */
		if (properties[i].offset == offset && size <= properties[i].size)
			return &properties[i];
	}
	return NULL;
}

static enum nvmf_exec property_get(struct nvmf_request *req)
{
	const struct nvmf_property_get_command *pg = (const void *)&req->cmd;
	const struct property *p = find_property(pg->offset, pg->attrib);
	if (!p)
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	uint64_t v = p->get(req->conn->ctrl);
	req->cqe.cdw1 = (pg->attrib & 0x7) == NVMF_PROP_SIZE_8 ? (uint32_t)(v >> 32) : 0;
	return nvmf_req_success(req, (uint32_t)v);
}

static enum nvmf_exec property_set(struct nvmf_request *req)
{
	const struct nvmf_property_set_command *ps = (const void *)&req->cmd;
	const struct property *p = find_property(ps->offset, ps->attrib);
	if (!p || !p->set || (ps->attrib & 0x7) != NVMF_PROP_SIZE_4 || !p->set(req->conn->ctrl, ps->value))
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	return NVMF_EXEC_COMPLETE;
}

/* ---- Dispatch ---- */

enum nvmf_exec nvmf_fabrics_execute(struct nvmf_request *req)
{
	const struct nvmf_fabrics_command *fc = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;

	if (fc->fctype == NVMF_FCTYPE_CONNECT)
		return fabrics_connect(req);
	if (!conn->connected)
		return nvmf_req_status(req, NVMF_ST_SEQUENCE_ERROR);
	switch (fc->fctype) {
	case NVMF_FCTYPE_AUTH_SEND:
		return nvmf_auth_send(req);
	case NVMF_FCTYPE_AUTH_RECEIVE:
		return nvmf_auth_receive(req);
	case NVMF_FCTYPE_DISCONNECT:
		break;
	default:
		if (nvmf_auth_blocks(conn))
			return nvmf_req_status(req, NVMF_ST_AUTH_REQUIRED);
	}
	switch (fc->fctype) {
	case NVMF_FCTYPE_PROPERTY_GET:
		return conn->admin ? property_get(req) : nvmf_req_status(req, NVMF_ST_INVALID_QUEUE_TYPE);
	case NVMF_FCTYPE_PROPERTY_SET:
		return conn->admin ? property_set(req) : nvmf_req_status(req, NVMF_ST_INVALID_QUEUE_TYPE);
	case NVMF_FCTYPE_DISCONNECT:
		if (conn->admin)
			return nvmf_req_status(req, NVMF_ST_SEQUENCE_ERROR);
		nvmf_request_finish(req);
		/* The response leaves on the next flush; then the queue goes. */
		nvmf_qpair_flush(conn->qp);
		conn->failed = true;
		return NVMF_EXEC_ASYNC;
	default:
		return nvmf_req_status(req, NVMF_ST_INVALID_OPCODE);
	}
}
