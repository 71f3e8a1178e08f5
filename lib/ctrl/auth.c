/*
 * In-band authentication on the controller side: the AUTHREQ bits of a
 * Connect response, the Authentication Send / Receive commands that carry
 * the transaction (lib/auth does the protocol), and the gate that answers
 * every other command with Authentication Required until the queue has
 * passed.  The keys themselves are host_keys.c's.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <nvmf/auth_spec.h>
#include <openssl/crypto.h>

#include "auth/dhchap.h"
#include "auth/tls_psk.h"
#include "ctrl_internal.h"
#include "util/clock.h"
#include "util/ratelimit.h"

/* A transaction the host leaves unfinished this long ends the queue (unauthenticated ones). */
#define AUTH_DEADLINE_MS 10000
/* Largest message accepted or offered: a Reply with two SHA-512 values and an ffdhe8192 value fits. */
#define AUTH_MAX_MSG 8192
/* Failures logged per second at most: a hostile host must not flood the log. */
#define AUTH_LOG_PER_SEC 10

/* ---- Queues ---- */

uint32_t nvmf_auth_on_connect(struct nvmf_conn *conn, struct nvmf_subsystem *ss, const char *hostnqn)
{
	if (ss->discovery || !nvmf_subsystem_host_has_dhchap(ss, hostnqn))
		return 0;
	conn->auth_required = true;
	conn->auth_since_ms = nvmf_clock_ms();
	return NVMF_CONNECT_AUTHREQ_ATR;
}

bool nvmf_auth_blocks(const struct nvmf_conn *conn)
{
	return conn->auth_required && !(conn->auth && nvmf_dhchap_ctrl_authenticated(conn->auth));
}

void nvmf_auth_conn_free(struct nvmf_conn *conn)
{
	nvmf_dhchap_ctrl_free(conn->auth);
	conn->auth = NULL;
}

/* Once per failed transaction: who, where and why (never a secret). */
static void log_failure(struct nvmf_conn *conn, const char *who_failed, const char *why)
{
	static struct nvmf_ratelimit auth_log;
	if (!nvmf_ratelimit_allow(&auth_log, AUTH_LOG_PER_SEC))
		return;
	struct nvmf_controller *ctrl = conn->ctrl;
	fprintf(stderr, "nvmf: authentication failed: host '%s', subsystem '%s', controller %u, queue %u: %s %s\n",
		ctrl->hostnqn, ctrl->ss->nqn, ctrl->cntlid, conn->qid, who_failed, why);
}

void nvmf_auth_timer(struct nvmf_conn *conn, uint64_t now_ms)
{
	if (!nvmf_auth_blocks(conn) || now_ms <= conn->auth_since_ms || now_ms - conn->auth_since_ms <= AUTH_DEADLINE_MS)
		return;
	log_failure(conn, "host", "did not complete authentication in time");
	conn->auth_since_ms = now_ms; /* log once */
	conn->failed = true; /* the queue closes on its thread's next pass (conn.c) */
}

static bool auth_fields_valid(struct nvmf_request *req, uint32_t len)
{
	const struct nvmf_auth_command *ac = (const void *)&req->cmd;
	return ac->secp == NVMF_AUTH_SECP_DHCHAP && ac->spsp0 == NVMF_AUTH_SPSP && ac->spsp1 == NVMF_AUTH_SPSP &&
	       len != 0 && len <= AUTH_MAX_MSG && nvmf_capsule_data_len(req->nc) == len;
}

static struct nvmf_dhchap_ctrl *transaction(struct nvmf_conn *conn)
{
	if (!conn->auth)
		conn->auth = nvmf_dhchap_ctrl_new(conn->ctrl->hostnqn, conn->ctrl->ss->nqn);
	return conn->auth;
}

static void note_event(struct nvmf_conn *conn, enum nvmf_dhchap_event ev, const char *who_failed)
{
	if (ev == NVMF_DHCHAP_FAILED)
		log_failure(conn, who_failed, nvmf_dhchap_ctrl_failure(conn->auth));
}

static void auth_send_data(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;
	struct nvmf_dhchap_ctrl *t = transaction(conn);
	if (!t) {
		nvmf_request_complete(req, NVMF_ST_INTERNAL, 0);
		return;
	}
	struct nvmf_dhchap_keys keys;
	bool have = nvmf_subsystem_host_dhchap_keys(conn->ctrl->ss, conn->ctrl->hostnqn, &keys);
	enum nvmf_dhchap_event ev = nvmf_dhchap_ctrl_send(t, have ? &keys : NULL, req->buf, req->len);
	OPENSSL_cleanse(&keys, sizeof(keys));
	/* A Failure2 from the host: it refused us (or gave up). */
	note_event(conn, ev, "host sent AUTH_Failure2:");
	if (nvmf_dhchap_ctrl_in_progress(t))
		conn->auth_since_ms = nvmf_clock_ms();
	nvmf_request_complete(req, 0, 0);
}

enum nvmf_exec nvmf_auth_send(struct nvmf_request *req)
{
	const struct nvmf_auth_command *ac = (const void *)&req->cmd;
	if (!auth_fields_valid(req, ac->length))
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	nvmf_request_receive_data(req, ac->length, auth_send_data);
	return NVMF_EXEC_ASYNC;
}

static void auth_receive_buf(struct nvmf_request *req)
{
	const struct nvmf_auth_command *ac = (const void *)&req->cmd;
	struct nvmf_conn *conn = req->conn;
	struct nvmf_dhchap_ctrl *t = transaction(conn);
	if (!t) {
		nvmf_request_complete(req, NVMF_ST_INTERNAL, 0);
		return;
	}
	if (!nvmf_request_alloc_buf(req, ac->length, auth_receive_buf))
		return;
	enum nvmf_dhchap_event ev;
	size_t n = nvmf_dhchap_ctrl_receive(t, req->buf, ac->length, &ev);
	if (n == 0) {
		nvmf_request_complete(req, NVMF_ST_INVALID_FIELD, 0);
		return;
	}
	note_event(conn, ev, "controller sent AUTH_Failure1:");
	/* The whole allocation length goes back, zero filled past the message. */
	nvmf_request_send_data(req, req->buf, ac->length);
}

enum nvmf_exec nvmf_auth_receive(struct nvmf_request *req)
{
	const struct nvmf_auth_command *ac = (const void *)&req->cmd;
	if (!auth_fields_valid(req, ac->length))
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	auth_receive_buf(req);
	return NVMF_EXEC_ASYNC;
}
