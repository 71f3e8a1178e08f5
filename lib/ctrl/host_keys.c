/*
 * The secrets of each host of a subsystem: DH-HMAC-CHAP keys and a TLS PSK,
 * set by flags, the config file or the management API, read at Connect and
 * during authentication.  Under ss->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/dhchap.h"
#include "auth/tls_psk.h"
#include "ctrl_internal.h"

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

/* Store dh or tls (the one not NULL) as hostnqn's; an entry left with no key goes.
 * Returns 0, or -ENOMEM with err set. */
static int store_keys(struct nvmf_subsystem *ss, const char *hostnqn, const struct nvmf_dhchap_keys *dh,
		      const struct nvmf_tls_configured_psk *tls, char *err, size_t errlen)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = entry_for(ss, hostnqn);
	if (h && dh)
		h->keys = *dh;
	if (h && tls)
		h->tls = *tls;
	prune(ss, hostnqn);
	pthread_mutex_unlock(&ss->lock);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
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
	int rc = store_keys(ss, hostnqn, &k, NULL, err, errlen);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int nvmf_subsystem_set_host_tls_key(struct nvmf_subsystem *ss, const char *hostnqn, const char *key, char *err,
				    size_t errlen)
{
	struct nvmf_tls_configured_psk k = {0};
	if (key && *key && nvmf_tls_psk_parse(key, &k)) {
		snprintf(err, errlen, "TLS key is not a valid NVMeTLSkey-1 PSK");
		return -EINVAL;
	}
	int rc = store_keys(ss, hostnqn, NULL, &k, err, errlen);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
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
bool nvmf_subsystem_host_dhchap_keys(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_dhchap_keys *out)
{
	pthread_mutex_lock(&ss->lock);
	struct nvmf_host_keys *h = *find_keys(ss, hostnqn);
	bool has = h && h->keys.host.len > 0;
	if (has)
		*out = h->keys;
	pthread_mutex_unlock(&ss->lock);
	return has;
}

