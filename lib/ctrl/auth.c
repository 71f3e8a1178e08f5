/*
 * In-band authentication on the controller side: the DH-HMAC-CHAP (and TLS)
 * keys of each host of a subsystem, the AUTHREQ bits of a Connect response, the
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
#include "auth/tls_psk.h"
#include "ctrl_internal.h"
#include "util/clock.h"

/* A transaction the host leaves unfinished this long ends the queue (unauthenticated ones). */
#define AUTH_DEADLINE_MS 10000
/* Largest message accepted or offered: a Reply with two SHA-512 values and an ffdhe8192 value fits. */
#define AUTH_MAX_MSG 8192
/* Failures logged per second at most: a hostile host must not flood the log. */
#define AUTH_LOG_PER_SEC 10

struct nvmf_host_keys {
	char hostnqn[NVME_NQN_FIELD];
	struct nvmf_dhchap_keys keys; /* keys.host.len 0: no DH-HMAC-CHAP */
	struct nvmf_tls_configured_psk tls; /* len 0: no TLS key */
	struct nvmf_host_keys *next;
};

/* ---- Keys per host (under ss->lock) ---- */

static struct nvmf_host_keys **find_keys(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_keys **p = &ss->host_keys;
	while (*p && strcmp((*p)->hostnqn, hostnqn) != 0)
		p = &(*p)->next;
	return p;
}

static void free_keys(struct nvmf_host_keys *h)
{
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

/* The entry of hostnqn, made when missing (NULL: out of memory). */
static struct nvmf_host_keys *entry_for(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_keys **p = find_keys(ss, hostnqn);
	if (*p)
		return *p;
	struct nvmf_host_keys *h = calloc(1, sizeof(*h));
	if (h) {
		snprintf(h->hostnqn, sizeof(h->hostnqn), "%s", hostnqn);
		*p = h;
	}
	return h;
}

/* Drop an entry that holds no key any more. */
static void prune(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_keys **p = find_keys(ss, hostnqn);
	if (*p && (*p)->keys.host.len == 0 && (*p)->tls.len == 0) {
		struct nvmf_host_keys *old = *p;
		*p = old->next;
		free_keys(old);
	}
}

int nvmf_subsystem_set_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn, const char *key,
				   const char *ctrl_key, const char *hashes, const char *dhgroups, char *err,
				   size_t errlen)
{
	if (ss->discovery) {
		snprintf(err, errlen, "no authentication on the discovery subsystem");
		return -EINVAL;
	}
	struct nvmf_dhchap_keys k = {0};
	const char *bad = NULL;
	if (key && *key) {
		if (nvmf_dhchap_secret_parse(key, &k.host))
			bad = "host key is not a valid DHHC-1 secret";
		else if (ctrl_key && *ctrl_key && nvmf_dhchap_secret_parse(ctrl_key, &k.ctrl))
			bad = "controller key is not a valid DHHC-1 secret";
		else if (hashes && *hashes && !nvmf_dhchap_keys_set_hashes(&k, hashes))
			bad = "unknown hash (hmac(sha256), hmac(sha384), hmac(sha512))";
		else if (dhgroups && *dhgroups && !nvmf_dhchap_keys_set_dhgroups(&k, dhgroups))
			bad = "unknown DH group (null, ffdhe2048 ... ffdhe8192)";
	} else if (ctrl_key && *ctrl_key) {
		bad = "a controller key needs a host key";
	}
	if (bad) {
		OPENSSL_cleanse(&k, sizeof(k));
		snprintf(err, errlen, "%s", bad);
		return -EINVAL;
	}
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = entry_for(ss, hostnqn);
	if (h)
		h->keys = k;
	prune(ss, hostnqn);
	pthread_mutex_unlock(&ss->lock);
	OPENSSL_cleanse(&k, sizeof(k));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int nvmf_subsystem_set_host_tls_key(struct nvmf_subsystem *ss, const char *hostnqn, const char *key, char *err,
				    size_t errlen)
{
	struct nvmf_tls_configured_psk k = {0};
	if (key && *key && nvmf_tls_psk_parse(key, &k)) {
		snprintf(err, errlen, "TLS key is not a valid NVMeTLSkey-1 PSK");
		return -EINVAL;
	}
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = entry_for(ss, hostnqn);
	if (h)
		h->tls = k;
	prune(ss, hostnqn);
	pthread_mutex_unlock(&ss->lock);
	OPENSSL_cleanse(&k, sizeof(k));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

bool nvmf_subsystem_host_has_dhchap(struct nvmf_subsystem *ss, const char *hostnqn)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = *find_keys(ss, hostnqn);
	bool has = h && h->keys.host.len > 0;
	pthread_mutex_unlock(&ss->lock);
	return has;
}

bool nvmf_subsystem_host_tls_psk(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_tls_configured_psk *out)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = *find_keys(ss, hostnqn);
	bool has = h && h->tls.len > 0;
	if (has)
		*out = h->tls;
	pthread_mutex_unlock(&ss->lock);
	return has;
}

void nvmf_subsystem_drop_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn)
{
	struct nvmf_host_keys **p = find_keys(ss, hostnqn);
	if (*p) {
		struct nvmf_host_keys *old = *p;
		*p = old->next;
		free_keys(old);
	}
}

void nvmf_subsystem_drop_all_dhchap(struct nvmf_subsystem *ss)
{
	while (ss->host_keys) {
		struct nvmf_host_keys *h = ss->host_keys;
		ss->host_keys = h->next;
		free_keys(h);
	}
}

/* A copy of the host's DH-HMAC-CHAP keys as configured now; false when it has none. */
static bool current_keys(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_dhchap_keys *out)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = *find_keys(ss, hostnqn);
	bool has = h && h->keys.host.len > 0;
	if (has)
		*out = h->keys;
	pthread_mutex_unlock(&ss->lock);
	return has;
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
