/*
 * The controller's side of a DH-HMAC-CHAP transaction:
 *   Negotiate -> (Receive) Challenge -> Reply -> (Receive) Success1 [-> Success2]
 * Any error turns the next Authentication Receive into AUTH_Failure1 with
 * its reason code explanation, and the transaction ends.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dhchap.h"

enum step {
	EXPECT_NEGOTIATE,
	SEND_CHALLENGE,
	EXPECT_REPLY,
	SEND_SUCCESS1,
	EXPECT_SUCCESS2,
	SEND_FAILURE1,
};

struct nvmf_dhchap_ctrl {
	char hostnqn[NVME_NQN_FIELD];
	char subnqn[NVME_NQN_FIELD];
	struct nvmf_dhchap_keys keys;
	enum step step;
	bool authenticated;
	bool bidirectional;
	uint16_t t_id;
	uint8_t hash_id, dhgid, hl;
	uint32_t s1, s2;
	uint8_t c1[NVMF_AUTH_MAX_DIGEST], c2[NVMF_AUTH_MAX_DIGEST];
	struct nvmf_dhchap_dh *dh;
	uint8_t sesskey[NVMF_AUTH_MAX_DH_VALUE];
	size_t sesskey_len;
	uint8_t fail_exp;
};

/* S1: one counter for the process, starting at a random value, never 0. */
static uint32_t next_seqnum(void)
{
	static atomic_uint counter;
	unsigned v = atomic_load(&counter);
	if (v == 0) {
		unsigned r = 0;
		nvmf_dhchap_random(&r, sizeof(r));
		atomic_compare_exchange_strong(&counter, &v, r | 1);
	}
	unsigned s;
	do
		s = atomic_fetch_add(&counter, 1) + 1;
	while (s == 0);
	return s;
}

struct nvmf_dhchap_ctrl *nvmf_dhchap_ctrl_new(const char *hostnqn, const char *subnqn)
{
	struct nvmf_dhchap_ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->hostnqn, sizeof(c->hostnqn), "%s", hostnqn);
	snprintf(c->subnqn, sizeof(c->subnqn), "%s", subnqn);
	return c;
}

/* Forget the transaction's secrets. */
static void end_transaction(struct nvmf_dhchap_ctrl *c)
{
	nvmf_dhchap_dh_free(c->dh);
	c->dh = NULL;
	OPENSSL_cleanse(c->sesskey, sizeof(c->sesskey));
	OPENSSL_cleanse(&c->keys, sizeof(c->keys));
	c->sesskey_len = 0;
}

void nvmf_dhchap_ctrl_free(struct nvmf_dhchap_ctrl *c)
{
	if (!c)
		return;
	end_transaction(c);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static enum nvmf_dhchap_event fail(struct nvmf_dhchap_ctrl *c, uint8_t exp)
{
	c->step = SEND_FAILURE1;
	c->fail_exp = exp;
	c->authenticated = false;
	end_transaction(c);
	return NVMF_DHCHAP_PENDING;
}

static uint8_t negotiate(struct nvmf_dhchap_ctrl *c, const struct nvmf_dhchap_keys *keys, const void *msg,
			 size_t len)
{
	const struct nvmf_auth_negotiate *n = msg;
	if (len < sizeof(*n) + sizeof(n->descr[0]) || n->napd == 0 || len < sizeof(*n) + n->napd * sizeof(n->descr[0]))
		return NVMF_AUTH_FAIL_INCORRECT_PAYLOAD;
	if (n->sc_c != NVMF_AUTH_SC_NONE)
		return NVMF_AUTH_FAIL_CONCAT_MISMATCH;
	if (!keys || keys->host.len == 0)
		return NVMF_AUTH_FAIL_FAILED;
	const struct nvmf_auth_dhchap_descriptor *d = NULL;
	for (unsigned i = 0; i < n->napd; i++)
		if (n->descr[i].authid == NVMF_AUTH_PROTOCOL_DHCHAP)
			d = &n->descr[i];
	if (!d)
		return NVMF_AUTH_FAIL_PROTOCOL_UNUSABLE;
	if (d->halen > NVMF_AUTH_MAX_HASH_IDS || d->dhlen > NVMF_AUTH_MAX_DH_IDS)
		return NVMF_AUTH_FAIL_INCORRECT_PAYLOAD;
	uint8_t hashes[3], groups[6];
	unsigned nh, ng;
	nvmf_dhchap_keys_lists(keys, hashes, &nh, groups, &ng);
	/* Ours first: the subsystem's preference decides among what the host offers. */
	int hash = -1, group = -1;
	for (unsigned i = 0; i < nh && hash < 0; i++)
		if (memchr(d->idlist, hashes[i], d->halen))
			hash = hashes[i];
	if (hash < 0)
		return NVMF_AUTH_FAIL_HASH_UNUSABLE;
	for (unsigned i = 0; i < ng && group < 0; i++)
		if (memchr(d->idlist + 30, groups[i], d->dhlen))
			group = groups[i];
	if (group < 0)
		return NVMF_AUTH_FAIL_DHGROUP_UNUSABLE;
	c->keys = *keys;
	c->hash_id = (uint8_t)hash;
	c->hl = (uint8_t)nvmf_dhchap_hash_len(c->hash_id);
	c->dhgid = (uint8_t)group;
	return 0;
}

/* Check the host's response; note whether it wants the controller's. */
static uint8_t reply(struct nvmf_dhchap_ctrl *c, const void *msg, size_t len)
{
	const struct nvmf_auth_reply *r = msg;
	if (len < sizeof(*r))
		return NVMF_AUTH_FAIL_INCORRECT_PAYLOAD;
	int dhsize = nvmf_dhchap_dhgroup_size(c->dhgid);
	if (r->hl != c->hl || r->dhvlen != dhsize || len < sizeof(*r) + 2u * r->hl + r->dhvlen)
		return NVMF_AUTH_FAIL_INCORRECT_PAYLOAD;
	const uint8_t *chal = c->c1;
	uint8_t aug[NVMF_AUTH_MAX_DIGEST];
	if (c->dh) {
		int n = nvmf_dhchap_dh_shared(c->dh, r->data + 2 * r->hl, r->dhvlen, c->sesskey, sizeof(c->sesskey));
		if (n < 0)
			return NVMF_AUTH_FAIL_INCORRECT_PAYLOAD;
		c->sesskey_len = (size_t)n;
		if (nvmf_dhchap_augment(c->hash_id, c->sesskey, c->sesskey_len, c->c1, aug))
			return NVMF_AUTH_FAIL_FAILED;
		chal = aug;
	}
	uint8_t key[NVMF_AUTH_MAX_DIGEST], expect[NVMF_AUTH_MAX_DIGEST];
	int klen = nvmf_dhchap_secret_transform(&c->keys.host, c->hostnqn, key);
	bool ok = klen > 0 &&
		  nvmf_dhchap_response(true, c->hash_id, key, (size_t)klen, chal, c->s1, c->t_id, NVMF_AUTH_SC_NONE,
				       c->hostnqn, c->subnqn, expect) == 0 &&
		  nvmf_dhchap_equal(expect, r->data, c->hl);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(aug, sizeof(aug));
	if (!ok)
		return NVMF_AUTH_FAIL_FAILED;
	c->bidirectional = r->cvalid && r->seqnum != 0;
	if (c->bidirectional) {
		/* A host asking for the controller's proof: we need a secret to give it,
		 * and its challenge must not be ours sent back. */
		memcpy(c->c2, r->data + r->hl, c->hl);
		if (c->keys.ctrl.len == 0 || nvmf_dhchap_equal(c->c2, c->c1, c->hl))
			return NVMF_AUTH_FAIL_FAILED;
		c->s2 = r->seqnum;
	}
	return 0;
}

enum nvmf_dhchap_event nvmf_dhchap_ctrl_send(struct nvmf_dhchap_ctrl *c, const struct nvmf_dhchap_keys *keys,
					     const void *msg, size_t len)
{
	const struct nvmf_auth_failure_msg *h = msg; /* the common first 6 bytes */
	if (len < 6)
		return fail(c, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	if (h->auth_type == NVMF_AUTH_COMMON_MESSAGES && h->auth_id == NVMF_AUTH_MSG_NEGOTIATE) {
		/* A new transaction, also on an authenticated queue (re-authentication). */
		end_transaction(c);
		c->t_id = h->t_id;
		c->bidirectional = false;
		uint8_t st = negotiate(c, keys, msg, len);
		if (st)
			return fail(c, st);
		c->step = SEND_CHALLENGE;
		return NVMF_DHCHAP_PENDING;
	}
	if (h->auth_type == NVMF_AUTH_COMMON_MESSAGES && h->auth_id == NVMF_AUTH_MSG_FAILURE2) {
		c->fail_exp = len >= sizeof(struct nvmf_auth_failure_msg) ? h->rescode_exp : NVMF_AUTH_FAIL_FAILED;
		c->step = EXPECT_NEGOTIATE;
		c->authenticated = false;
		end_transaction(c);
		return NVMF_DHCHAP_FAILED;
	}
	enum step want = h->auth_id == NVMF_AUTH_MSG_REPLY ? EXPECT_REPLY : EXPECT_SUCCESS2;
	if (h->auth_type != NVMF_AUTH_DHCHAP_MESSAGES ||
	    (h->auth_id != NVMF_AUTH_MSG_REPLY && h->auth_id != NVMF_AUTH_MSG_SUCCESS2) || c->step != want) {
		if (c->step == EXPECT_NEGOTIATE)
			c->t_id = h->t_id;
		return fail(c, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	}
	if (h->t_id != c->t_id)
		return fail(c, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	if (want == EXPECT_SUCCESS2) {
		if (len < sizeof(struct nvmf_auth_success2))
			return fail(c, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		c->step = EXPECT_NEGOTIATE;
		c->authenticated = true;
		end_transaction(c);
		return NVMF_DHCHAP_SUCCEEDED;
	}
	uint8_t st = reply(c, msg, len);
	if (st)
		return fail(c, st);
	c->step = SEND_SUCCESS1;
	return NVMF_DHCHAP_PENDING;
}

static size_t challenge(struct nvmf_dhchap_ctrl *c, uint8_t *buf, size_t al)
{
	int dhsize = nvmf_dhchap_dhgroup_size(c->dhgid);
	size_t need = sizeof(struct nvmf_auth_challenge) + c->hl + (size_t)dhsize;
	if (al < need)
		return 0;
	struct nvmf_auth_challenge *m = (void *)buf;
	if (nvmf_dhchap_random(c->c1, c->hl))
		goto failed;
	if (dhsize > 0) {
		c->dh = nvmf_dhchap_dh_new(c->dhgid);
		if (!c->dh || nvmf_dhchap_dh_public(c->dh, m->data + c->hl, (size_t)dhsize) != dhsize)
			goto failed;
	}
	c->s1 = next_seqnum();
	m->auth_type = NVMF_AUTH_DHCHAP_MESSAGES;
	m->auth_id = NVMF_AUTH_MSG_CHALLENGE;
	m->t_id = c->t_id;
	m->hl = c->hl;
	m->hashid = c->hash_id;
	m->dhgid = c->dhgid;
	m->dhvlen = (uint16_t)dhsize;
	m->seqnum = c->s1;
	memcpy(m->data, c->c1, c->hl);
	c->step = EXPECT_REPLY;
	return need;
failed:
	fail(c, NVMF_AUTH_FAIL_FAILED);
	return (size_t)-1;
}

static size_t success1(struct nvmf_dhchap_ctrl *c, uint8_t *buf, size_t al)
{
	size_t need = sizeof(struct nvmf_auth_success1) + (c->bidirectional ? c->hl : 0);
	if (al < need)
		return 0;
	struct nvmf_auth_success1 *m = (void *)buf;
	m->auth_type = NVMF_AUTH_DHCHAP_MESSAGES;
	m->auth_id = NVMF_AUTH_MSG_SUCCESS1;
	m->t_id = c->t_id;
	m->hl = c->hl;
	if (c->bidirectional) {
		uint8_t key[NVMF_AUTH_MAX_DIGEST], aug[NVMF_AUTH_MAX_DIGEST];
		const uint8_t *chal = c->c2;
		int klen = nvmf_dhchap_secret_transform(&c->keys.ctrl, c->subnqn, key);
		bool ok = klen > 0;
		if (ok && c->dh) {
			ok = nvmf_dhchap_augment(c->hash_id, c->sesskey, c->sesskey_len, c->c2, aug) == 0;
			chal = aug;
		}
		ok = ok && nvmf_dhchap_response(false, c->hash_id, key, (size_t)klen, chal, c->s2, c->t_id,
						NVMF_AUTH_SC_NONE, c->hostnqn, c->subnqn, m->rval) == 0;
		OPENSSL_cleanse(key, sizeof(key));
		OPENSSL_cleanse(aug, sizeof(aug));
		if (!ok) {
			memset(buf, 0, need);
			fail(c, NVMF_AUTH_FAIL_FAILED);
			return (size_t)-1;
		}
		m->rvalid = 1;
		c->step = EXPECT_SUCCESS2;
	} else {
		c->step = EXPECT_NEGOTIATE;
		c->authenticated = true;
		end_transaction(c);
	}
	return need;
}

size_t nvmf_dhchap_ctrl_receive(struct nvmf_dhchap_ctrl *c, void *buf, size_t al, enum nvmf_dhchap_event *ev)
{
	memset(buf, 0, al);
	*ev = NVMF_DHCHAP_PENDING;
	size_t n = (size_t)-1;
	if (c->step == SEND_CHALLENGE)
		n = challenge(c, buf, al);
	else if (c->step == SEND_SUCCESS1) {
		n = success1(c, buf, al);
		/* Done only when no Success2 is due; a re-authenticating queue is
		 * still authenticated from before, so that flag cannot tell. */
		if (n && n != (size_t)-1 && c->step == EXPECT_NEGOTIATE)
			*ev = NVMF_DHCHAP_SUCCEEDED;
	} else if (c->step != SEND_FAILURE1) {
		/* Nothing to say at this point of the transaction. */
		fail(c, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	}
	if (n != (size_t)-1)
		return n;
	/* AUTH_Failure1 */
	struct nvmf_auth_failure_msg *m = buf;
	if (al < sizeof(*m))
		return 0;
	memset(buf, 0, al);
	m->auth_type = NVMF_AUTH_COMMON_MESSAGES;
	m->auth_id = NVMF_AUTH_MSG_FAILURE1;
	m->t_id = c->t_id;
	m->rescode = NVMF_AUTH_RC_FAILED;
	m->rescode_exp = c->fail_exp;
	c->step = EXPECT_NEGOTIATE;
	*ev = NVMF_DHCHAP_FAILED;
	return sizeof(*m);
}

bool nvmf_dhchap_ctrl_authenticated(const struct nvmf_dhchap_ctrl *c)
{
	return c->authenticated;
}

bool nvmf_dhchap_ctrl_in_progress(const struct nvmf_dhchap_ctrl *c)
{
	return c->step != EXPECT_NEGOTIATE;
}

const char *nvmf_dhchap_ctrl_failure(const struct nvmf_dhchap_ctrl *c)
{
	return nvmf_dhchap_failure_name(c->fail_exp);
}

void nvmf_dhchap_ctrl_params(const struct nvmf_dhchap_ctrl *c, uint8_t *hash_id, uint8_t *dhgid)
{
	*hash_id = c->hash_id;
	*dhgid = c->dhgid;
}
