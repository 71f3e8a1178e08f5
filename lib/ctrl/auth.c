/*
 * In-band authentication on the controller side: the DH-HMAC-CHAP keys of
 * each host of a subsystem, the AUTHREQ bits of a Connect response, the
 * Authentication Send / Receive commands that carry the transaction
 * (lib/auth does the protocol), and the gate that answers every other
 * command with Authentication Required until the queue has passed.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <nvmf/auth_spec.h>
#include <openssl/crypto.h>

#include "auth/dhchap.h"
#include "ctrl_internal.h"
#include "util/clock.h"

/* A transaction the host leaves unfinished this long ends the queue (unauthenticated ones). */
#define AUTH_DEADLINE_MS 10000
/* Largest message accepted or offered: a Reply with two SHA-512 values and an ffdhe8192 value fits. */
#define AUTH_MAX_MSG 8192
/* Failures logged per second at most: a hostile host must not flood the log. */
#define AUTH_LOG_PER_SEC 10

struct nvmf_host_dhchap {
	char hostnqn[NVME_NQN_FIELD];
	struct nvmf_dhchap_keys keys;
	struct nvmf_host_dhchap *next;
};

/* ---- Keys per host (under ss->lock) ---- */

static struct nvmf_host_dhchap **find_keys(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_dhchap **p = &ss->dhchap_hosts;
	while (*p && strcmp((*p)->hostnqn, hostnqn) != 0)
		p = &(*p)->next;
	return p;
}

static void free_keys(struct nvmf_host_dhchap *h)
{
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int nvmf_subsystem_set_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn, const char *key,
				   const char *ctrl_key, const char *hashes, const char *dhgroups, char *err,
				   size_t errlen)
{
	if (ss->discovery) {
		snprintf(err, errlen, "no authentication on the discovery subsystem");
		return -EINVAL;
	}
	struct nvmf_host_dhchap *h = NULL;
	if (key && *key) {
		h = calloc(1, sizeof(*h));
		if (!h) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		snprintf(h->hostnqn, sizeof(h->hostnqn), "%s", hostnqn);
		const char *bad = NULL;
		if (nvmf_dhchap_secret_parse(key, &h->keys.host))
			bad = "host key is not a valid DHHC-1 secret";
		else if (ctrl_key && *ctrl_key && nvmf_dhchap_secret_parse(ctrl_key, &h->keys.ctrl))
			bad = "controller key is not a valid DHHC-1 secret";
		else if (hashes && *hashes && !nvmf_dhchap_keys_set_hashes(&h->keys, hashes))
			bad = "unknown hash (hmac(sha256), hmac(sha384), hmac(sha512))";
		else if (dhgroups && *dhgroups && !nvmf_dhchap_keys_set_dhgroups(&h->keys, dhgroups))
			bad = "unknown DH group (null, ffdhe2048 ... ffdhe8192)";
		if (bad) {
			snprintf(err, errlen, "%s", bad);
			free_keys(h);
			return -EINVAL;
		}
	} else if (ctrl_key && *ctrl_key) {
		snprintf(err, errlen, "a controller key needs a host key");
		return -EINVAL;
	}
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_dhchap **p = find_keys(ss, hostnqn);
	if (*p) {
		struct nvmf_host_dhchap *old = *p;
		*p = old->next;
		free_keys(old);
	}
	if (h) {
		h->next = ss->dhchap_hosts;
		ss->dhchap_hosts = h;
	}
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

bool nvmf_subsystem_host_has_dhchap(struct nvmf_subsystem *ss, const char *hostnqn)
{
	pthread_mutex_lock(&ss->lock);
	bool has = *find_keys(ss, hostnqn) != NULL;
	pthread_mutex_unlock(&ss->lock);
	return has;
}

void nvmf_subsystem_drop_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_dhchap **p = find_keys(ss, hostnqn);
	if (*p) {
		struct nvmf_host_dhchap *old = *p;
		*p = old->next;
		free_keys(old);
	}
}

void nvmf_subsystem_drop_all_dhchap(struct nvmf_subsystem *ss)
{
	while (ss->dhchap_hosts) {
		struct nvmf_host_dhchap *h = ss->dhchap_hosts;
		ss->dhchap_hosts = h->next;
		free_keys(h);
	}
}

/* A copy of the host's keys as configured now; false when it has none. */
static bool current_keys(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_dhchap_keys *out)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_dhchap *h = *find_keys(ss, hostnqn);
	if (h)
		*out = h->keys;
	pthread_mutex_unlock(&ss->lock);
	return h != NULL;
}

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

static bool log_allowed(void)
{
	static atomic_uint_fast64_t window_s;
	static atomic_uint count;
	uint64_t now = nvmf_clock_ms() / 1000;
	if (atomic_exchange(&window_s, now) != now)
		atomic_store(&count, 0);
	return atomic_fetch_add(&count, 1) < AUTH_LOG_PER_SEC;
}

/* Once per failed transaction: who, where and why (never a secret). */
static void log_failure(struct nvmf_conn *conn, const char *who_failed, const char *why)
{
	if (!log_allowed())
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
	nvmf_conn_close(conn);
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
	bool have = current_keys(conn->ctrl->ss, conn->ctrl->hostnqn, &keys);
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
