/*
 * The host's side of a DH-HMAC-CHAP transaction: offer hashes and groups,
 * answer the challenge, and (bidirectional) check the controller's answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dhchap.h"

enum host_step { WANT_CHALLENGE, WANT_SUCCESS1, DONE };

struct nvmf_dhchap_host {
	char hostnqn[NVME_NQN_FIELD];
	char subnqn[NVME_NQN_FIELD];
	struct nvmf_dhchap_keys keys;
	enum host_step step;
	uint16_t t_id;
	uint8_t hash_id, dhgid, hl;
	uint32_t s2;
	uint8_t c2[NVMF_AUTH_MAX_DIGEST];
	uint8_t sesskey[NVMF_AUTH_MAX_DH_VALUE];
	size_t sesskey_len;
	bool dh_used;
	char why[160];
};

struct nvmf_dhchap_host *nvmf_dhchap_host_new(const char *hostnqn, const char *subnqn,
					      const struct nvmf_dhchap_keys *keys)
{
	struct nvmf_dhchap_host *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->hostnqn, sizeof(h->hostnqn), "%s", hostnqn);
	snprintf(h->subnqn, sizeof(h->subnqn), "%s", subnqn);
	h->keys = *keys;
	return h;
}

void nvmf_dhchap_host_free(struct nvmf_dhchap_host *h)
{
	if (!h)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

const char *nvmf_dhchap_host_failure(const struct nvmf_dhchap_host *h)
{
	return h->why;
}

size_t nvmf_dhchap_host_negotiate(struct nvmf_dhchap_host *h, uint16_t t_id, void *buf, size_t cap)
{
	size_t len = sizeof(struct nvmf_auth_negotiate) + sizeof(struct nvmf_auth_dhchap_descriptor);
	if (cap < len)
		return 0;
	memset(buf, 0, len);
	struct nvmf_auth_negotiate *n = buf;
	n->auth_type = NVMF_AUTH_COMMON_MESSAGES;
	n->auth_id = NVMF_AUTH_MSG_NEGOTIATE;
	n->t_id = t_id;
	n->sc_c = NVMF_AUTH_SC_NONE;
	n->napd = 1;
	uint8_t hashes[3], groups[6];
	unsigned nh, ng;
	nvmf_dhchap_keys_lists(&h->keys, hashes, &nh, groups, &ng);
	n->descr[0].authid = NVMF_AUTH_PROTOCOL_DHCHAP;
	n->descr[0].halen = (uint8_t)nh;
	n->descr[0].dhlen = (uint8_t)ng;
	memcpy(n->descr[0].idlist, hashes, nh);
	memcpy(n->descr[0].idlist + 30, groups, ng);
	h->t_id = t_id;
	h->step = WANT_CHALLENGE;
	h->why[0] = '\0';
	return len;
}

static enum nvmf_dhchap_event failure2(struct nvmf_dhchap_host *h, uint8_t exp, void *out, size_t cap,
				       size_t *outlen, const char *why)
{
	snprintf(h->why, sizeof(h->why), "%s (%s)", why, nvmf_dhchap_failure_name(exp));
	h->step = DONE;
	*outlen = 0;
	if (cap < sizeof(struct nvmf_auth_failure_msg))
		return NVMF_DHCHAP_FAILED;
	struct nvmf_auth_failure_msg *m = out;
	memset(m, 0, sizeof(*m));
	m->auth_type = NVMF_AUTH_COMMON_MESSAGES;
	m->auth_id = NVMF_AUTH_MSG_FAILURE2;
	m->t_id = h->t_id;
	m->rescode = NVMF_AUTH_RC_FAILED;
	m->rescode_exp = exp;
	*outlen = sizeof(*m);
	return NVMF_DHCHAP_FAILED;
}

static bool offered(const uint8_t *ids, unsigned n, uint8_t id)
{
	return memchr(ids, id, n) != NULL;
}

static enum nvmf_dhchap_event on_challenge(struct nvmf_dhchap_host *h, const struct nvmf_auth_challenge *m,
					   size_t len, void *out, size_t cap, size_t *outlen)
{
	uint8_t hashes[3], groups[6];
	unsigned nh, ng;
	nvmf_dhchap_keys_lists(&h->keys, hashes, &nh, groups, &ng);
	if (!offered(hashes, nh, m->hashid) || m->hl != nvmf_dhchap_hash_len(m->hashid))
		return failure2(h, NVMF_AUTH_FAIL_HASH_UNUSABLE, out, cap, outlen, "controller chose a hash not offered");
	if (m->dhgid > 5 || !offered(groups, ng, m->dhgid))
		return failure2(h, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE, out, cap, outlen,
				"controller chose a DH group not offered");
	int dhsize = nvmf_dhchap_dhgroup_size(m->dhgid);
	if (m->dhvlen != dhsize || len < sizeof(*m) + m->hl + m->dhvlen || m->seqnum == 0)
		return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, out, cap, outlen, "malformed challenge");
	h->hash_id = m->hashid;
	h->hl = m->hl;
	h->dhgid = m->dhgid;
	bool bidir = h->keys.ctrl.len > 0;
	size_t need = sizeof(struct nvmf_auth_reply) + 2u * h->hl + (size_t)dhsize;
	if (cap < need)
		return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "reply buffer too small");
	memset(out, 0, need);
	struct nvmf_auth_reply *r = out;
	const uint8_t *chal = m->data;
	uint8_t aug[NVMF_AUTH_MAX_DIGEST], key[NVMF_AUTH_MAX_DIGEST];
	h->dh_used = dhsize > 0;
	if (h->dh_used) {
		struct nvmf_dhchap_dh *dh = nvmf_dhchap_dh_new(h->dhgid);
		int n = -1;
		if (dh && nvmf_dhchap_dh_public(dh, r->data + 2 * h->hl, (size_t)dhsize) == dhsize)
			n = nvmf_dhchap_dh_shared(dh, m->data + m->hl, (size_t)dhsize, h->sesskey, sizeof(h->sesskey));
		nvmf_dhchap_dh_free(dh);
		if (n < 0)
			return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, out, cap, outlen,
					"controller's DH value not usable");
		h->sesskey_len = (size_t)n;
		if (nvmf_dhchap_augment(h->hash_id, h->sesskey, h->sesskey_len, m->data, aug))
			return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "augmented challenge");
		chal = aug;
	}
	int klen = nvmf_dhchap_secret_transform(&h->keys.host, h->hostnqn, key);
	int rc = klen > 0 ? nvmf_dhchap_response(true, h->hash_id, key, (size_t)klen, chal, m->seqnum, h->t_id,
						  NVMF_AUTH_SC_NONE, h->hostnqn, h->subnqn, r->data)
			  : -1;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(aug, sizeof(aug));
	if (rc)
		return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "response");
	r->auth_type = NVMF_AUTH_DHCHAP_MESSAGES;
	r->auth_id = NVMF_AUTH_MSG_REPLY;
	r->t_id = h->t_id;
	r->hl = h->hl;
	r->dhvlen = (uint16_t)dhsize;
	h->s2 = 0;
	if (bidir) {
		/* Our challenge to the controller, with a sequence number of our own (never 0). */
		if (nvmf_dhchap_random(h->c2, h->hl) || nvmf_dhchap_random(&h->s2, sizeof(h->s2)))
			return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "random");
		h->s2 |= 1;
		r->cvalid = 1;
		memcpy(r->data + h->hl, h->c2, h->hl);
	}
	r->seqnum = h->s2;
	h->step = WANT_SUCCESS1;
	*outlen = need;
	return NVMF_DHCHAP_PENDING;
}

static enum nvmf_dhchap_event on_success1(struct nvmf_dhchap_host *h, const struct nvmf_auth_success1 *m,
					  size_t len, void *out, size_t cap, size_t *outlen)
{
	h->step = DONE;
	*outlen = 0;
	if (h->keys.ctrl.len == 0)
		return NVMF_DHCHAP_SUCCEEDED;
	if (!m->rvalid || m->hl != h->hl || len < sizeof(*m) + h->hl)
		return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, out, cap, outlen,
				"controller sent no response to our challenge");
	uint8_t key[NVMF_AUTH_MAX_DIGEST], aug[NVMF_AUTH_MAX_DIGEST], expect[NVMF_AUTH_MAX_DIGEST];
	const uint8_t *chal = h->c2;
	int klen = nvmf_dhchap_secret_transform(&h->keys.ctrl, h->subnqn, key);
	bool ok = klen > 0;
	if (ok && h->dh_used) {
		ok = nvmf_dhchap_augment(h->hash_id, h->sesskey, h->sesskey_len, h->c2, aug) == 0;
		chal = aug;
	}
	ok = ok &&
	     nvmf_dhchap_response(false, h->hash_id, key, (size_t)klen, chal, h->s2, h->t_id, NVMF_AUTH_SC_NONE,
				  h->hostnqn, h->subnqn, expect) == 0 &&
	     nvmf_dhchap_equal(expect, m->rval, h->hl);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(aug, sizeof(aug));
	OPENSSL_cleanse(h->sesskey, sizeof(h->sesskey));
	if (!ok)
		return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "controller failed to authenticate");
	if (cap < sizeof(struct nvmf_auth_success2))
		return failure2(h, NVMF_AUTH_FAIL_FAILED, out, cap, outlen, "buffer too small");
	struct nvmf_auth_success2 *s = out;
	memset(s, 0, sizeof(*s));
	s->auth_type = NVMF_AUTH_DHCHAP_MESSAGES;
	s->auth_id = NVMF_AUTH_MSG_SUCCESS2;
	s->t_id = h->t_id;
	*outlen = sizeof(*s);
	return NVMF_DHCHAP_SUCCEEDED;
}

enum nvmf_dhchap_event nvmf_dhchap_host_step(struct nvmf_dhchap_host *h, const void *msg, size_t len, void *out,
					     size_t cap, size_t *outlen)
{
	const struct nvmf_auth_failure_msg *f = msg;
	*outlen = 0;
	if (len >= sizeof(*f) && f->auth_type == NVMF_AUTH_COMMON_MESSAGES && f->auth_id == NVMF_AUTH_MSG_FAILURE1) {
		snprintf(h->why, sizeof(h->why), "controller refused: AUTH_Failure1, %s",
			 nvmf_dhchap_failure_name(f->rescode_exp));
		h->step = DONE;
		return NVMF_DHCHAP_FAILED;
	}
	if (len < 16 || f->auth_type != NVMF_AUTH_DHCHAP_MESSAGES)
		return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE, out, cap, outlen, "unexpected message");
	if (f->t_id != h->t_id)
		return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, out, cap, outlen, "wrong transaction ID");
	if (h->step == WANT_CHALLENGE && f->auth_id == NVMF_AUTH_MSG_CHALLENGE)
		return on_challenge(h, msg, len, out, cap, outlen);
	if (h->step == WANT_SUCCESS1 && f->auth_id == NVMF_AUTH_MSG_SUCCESS1)
		return on_success1(h, msg, len, out, cap, outlen);
	return failure2(h, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE, out, cap, outlen, "message out of sequence");
}
