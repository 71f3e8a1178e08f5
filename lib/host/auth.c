/*
 * DH-HMAC-CHAP from the host: one transaction over Authentication Send /
 * Receive on a queue, right after its Connect (or again, when the host
 * asks to re-authenticate).  lib/auth has the protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nvmf/auth_spec.h>
#include <openssl/crypto.h>

#include "auth/dhchap.h"
#include "host_internal.h"

/* Authentication Receive's allocation length: the largest Challenge (SHA-512, ffdhe8192) fits. */
#define AUTH_RECV_LEN 4096

/* Run one command of the transaction: 0 with its status in *status, or a negative errno. */
typedef int (*auth_exec_fn)(void *arg, const struct nvme_command *sqe, void *buf, size_t len, bool send,
			    uint16_t *status);

static void auth_command(struct nvme_command *sqe, bool send, uint32_t len)
{
	struct nvmf_auth_command *ac = (void *)sqe;
	memset(sqe, 0, sizeof(*sqe));
	ac->opc = NVME_OPC_FABRICS;
	ac->fctype = send ? NVMF_FCTYPE_AUTH_SEND : NVMF_FCTYPE_AUTH_RECEIVE;
	ac->secp = NVMF_AUTH_SECP_DHCHAP;
	ac->spsp0 = NVMF_AUTH_SPSP;
	ac->spsp1 = NVMF_AUTH_SPSP;
	ac->length = len;
}

bool host_auth_configured(const struct nvmf_host_ctrl *c)
{
	return c->opts.dhchap_secret[0] != '\0';
}

/* The keys from the options; false with a message when they do not parse. */
static bool host_keys(struct nvmf_host_ctrl *c, struct nvmf_dhchap_keys *k)
{
	memset(k, 0, sizeof(*k));
	const char *bad = NULL;
	if (nvmf_dhchap_secret_parse(c->opts.dhchap_secret, &k->host))
		bad = "the DH-HMAC-CHAP secret is not a valid DHHC-1 secret";
	else if (c->opts.dhchap_ctrl_secret[0] && nvmf_dhchap_secret_parse(c->opts.dhchap_ctrl_secret, &k->ctrl))
		bad = "the DH-HMAC-CHAP controller secret is not a valid DHHC-1 secret";
	else if (c->opts.dhchap_hashes[0] && !nvmf_dhchap_keys_set_hashes(k, c->opts.dhchap_hashes))
		bad = "unknown DH-HMAC-CHAP hash";
	else if (c->opts.dhchap_dhgroups[0] && !nvmf_dhchap_keys_set_dhgroups(k, c->opts.dhchap_dhgroups))
		bad = "unknown DH-HMAC-CHAP DH group";
	if (bad)
		host_set_error(c, "%s", bad);
	return bad == NULL;
}

static int run_transaction(struct nvmf_host_ctrl *c, uint16_t qid, auth_exec_fn exec, void *arg)
{
	static uint16_t next_tid;
	struct nvmf_dhchap_keys keys;
	if (!host_keys(c, &keys))
		return -EINVAL;
	struct nvmf_dhchap_host *h = nvmf_dhchap_host_new(c->opts.hostnqn, c->addr.subnqn, &keys);
	OPENSSL_cleanse(&keys, sizeof(keys));
	if (!h) {
		host_set_error(c, "out of memory");
		return -ENOMEM;
	}
	uint8_t out[AUTH_RECV_LEN], in[AUTH_RECV_LEN];
	struct nvme_command sqe;
	uint16_t status = 0;
	const char *step = "AUTH_Negotiate";
	size_t outlen = nvmf_dhchap_host_negotiate(h, next_tid++, out, sizeof(out));
	enum nvmf_dhchap_event ev = NVMF_DHCHAP_PENDING;
	int rc = 0;
	for (;;) {
		auth_command(&sqe, true, (uint32_t)outlen);
		rc = exec(arg, &sqe, out, outlen, true, &status);
		if (rc || status || ev != NVMF_DHCHAP_PENDING)
			break;
		auth_command(&sqe, false, sizeof(in));
		memset(in, 0, sizeof(in));
		step = "Authentication Receive";
		rc = exec(arg, &sqe, in, sizeof(in), false, &status);
		if (rc || status)
			break;
		ev = nvmf_dhchap_host_step(h, in, sizeof(in), out, sizeof(out), &outlen);
		step = ev == NVMF_DHCHAP_FAILED ? "AUTH_Failure2" : "DH-HMAC-CHAP_Reply";
		if (outlen == 0)
			break;
	}
	if (ev == NVMF_DHCHAP_FAILED) {
		/* Whatever became of our AUTH_Failure2 (a controller may drop the queue at once), this is why. */
		host_set_error(c, "authentication (queue %u) with %s failed: %s", qid, c->addr.subnqn,
			       nvmf_dhchap_host_failure(h));
		rc = -EACCES;
	} else if (rc == 0 && status) {
		char st[256];
		nvmf_host_status_format(status, true, st, sizeof(st));
		host_set_error(c, "authentication (queue %u) with %s: %s rejected: %s", qid, c->addr.subnqn, step, st);
		rc = -EACCES;
	} else if (rc) {
		host_set_error(c, "authentication (queue %u) with %s: %s failed: %s", qid, c->addr.subnqn, step,
			       strerror(-rc));
	}
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(in, sizeof(in));
	nvmf_dhchap_host_free(h);
	return rc;
}

struct fresh_qp {
	struct nvmf_qpair *qp;
	int timeout_ms;
};

static int exec_fresh(void *arg, const struct nvme_command *sqe, void *buf, size_t len, bool send, uint16_t *status)
{
	struct fresh_qp *f = arg;
	struct nvme_completion cqe;
	int rc = nvmf_host_execute(f->qp, sqe, buf, len, send, &cqe, f->timeout_ms);
	*status = cqe.status & 0xfffe;
	return rc < 0 ? rc : 0;
}

int host_authenticate_new_queue(struct nvmf_host_ctrl *c, uint16_t qid, struct nvmf_qpair *qp)
{
	struct fresh_qp f = {qp, c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 10000};
	return run_transaction(c, qid, exec_fresh, &f);
}

static int exec_attached(void *arg, const struct nvme_command *sqe, void *buf, size_t len, bool send,
			 uint16_t *status)
{
	struct nvmf_host_qpair *hq = arg;
	struct nvmf_host_completion cpl;
	int rc = hq_exec(hq, sqe, buf, len, send, &cpl, hq->ctrl->opts.timeout_ms);
	*status = cpl.status;
	return rc < 0 ? rc : cpl.error;
}

int nvmf_host_reauthenticate(struct nvmf_host_ctrl *c, struct nvmf_host_qpair *qp)
{
	struct nvmf_host_qpair *hq = qp ? qp : &c->admin;
	if (!host_auth_configured(c)) {
		host_set_error(c, "re-authentication asked without a DH-HMAC-CHAP secret");
		return -EINVAL;
	}
	if (!hq->qp) {
		host_set_error(c, "queue %u is not connected", hq->qid);
		return -ENOTCONN;
	}
	return run_transaction(c, hq->qid, exec_attached, hq);
}
