/* TLS 1.3 PSK contexts for both ends (see tls.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "tls.h"

#define CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"

/* Per SSL: the identity used and why a handshake failed. */
struct tls_info {
	char identity[NVMF_TLS_IDENTITY_MAX];
	char failure[160];
	/* Host side: what to offer. */
	uint8_t psk[NVMF_TLS_PSK_MAX];
	size_t psk_len;
	uint8_t cipher;
};

struct nvmf_tls_server {
	SSL_CTX *ctx;
	nvmf_tls_lookup_fn lookup;
	void *arg;
};

static int info_index = -1;
static int server_index = -1;

static void free_info(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct tls_info));
		free(ptr);
	}
}

static void init_indexes(void)
{
	info_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_info);
	server_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static bool indexes(void)
{
	static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
	return CRYPTO_THREAD_run_once(&once, init_indexes) && info_index >= 0 && server_index >= 0;
}

static struct tls_info *info_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, info_index);
}

static SSL_CTX *new_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, CIPHERSUITES)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Kernel TLS where the kernel has it (OpenSSL falls back to itself otherwise). */
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read what the socket has in one go, not a record header and then its body: lib/tcp
	 * reads until TLS wants the socket again, so nothing whole is left waiting inside. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
	return ctx;
}

/* A resumable TLS 1.3 session carrying psk for the suite of cipher (1 or 2). */
static SSL_SESSION *psk_session(SSL *ssl, const uint8_t *psk, size_t len, uint8_t cipher)
{
	static const unsigned char aes128[] = {0x13, 0x01}, aes256[] = {0x13, 0x02};
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, cipher == 2 ? aes256 : aes128);
	SSL_SESSION *s = SSL_SESSION_new();
	if (!c || !s || !SSL_SESSION_set1_master_key(s, psk, len) || !SSL_SESSION_set_cipher(s, c) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* ---- Controller ---- */

/* The retained PSK of the host's key as the identity implies: a version 1 identity carries a digest
 * of it, which tells the derivation the host used (nvme-cli's first); version 0: nvme-cli's. */
static bool retained_for(const struct nvmf_tls_configured_psk *k, const struct nvmf_tls_identity_parts *parts,
			 const char *identity, uint8_t *retained, enum nvmf_tls_kdf *kdf)
{
	static const enum nvmf_tls_kdf order[] = {NVMF_TLS_KDF_NVME_CLI, NVMF_TLS_KDF_TP8011};
	char expect[NVMF_TLS_IDENTITY_MAX];
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (nvmf_tls_retained_psk(k, parts->hostnqn, order[i], retained))
			return false;
		*kdf = order[i];
		if (parts->version == 0)
			return true;
		if (nvmf_tls_identity(1, parts->cipher, retained, k->len, parts->hostnqn, parts->subnqn, expect,
				      sizeof(expect)) > 0 &&
		    strcmp(expect, identity) == 0)
			return true;
	}
	return false;
}

static int find_session(SSL *ssl, const unsigned char *identity, size_t len, SSL_SESSION **sess)
{
	struct tls_info *ti = info_of(ssl);
	struct nvmf_tls_server *srv = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), server_index);
	*sess = NULL;
	if (!ti || !srv)
		return 0;
	if (len == 0 || len >= sizeof(ti->identity) || memchr(identity, '\0', len)) {
		snprintf(ti->failure, sizeof(ti->failure), "malformed TLS PSK identity");
		return 0;
	}
	memcpy(ti->identity, identity, len);
	ti->identity[len] = '\0';
	struct nvmf_tls_identity_parts parts;
	struct nvmf_tls_configured_psk k;
	uint8_t retained[NVMF_TLS_PSK_MAX], psk[NVMF_TLS_PSK_MAX];
	enum nvmf_tls_kdf kdf = NVMF_TLS_KDF_NVME_CLI;
	int rc = 0;
	if (!nvmf_tls_identity_parse(ti->identity, &parts)) {
		snprintf(ti->failure, sizeof(ti->failure), "not an NVMe TLS PSK identity");
	} else if (srv->lookup(srv->arg, parts.hostnqn, parts.subnqn, &k) < 0) {
		snprintf(ti->failure, sizeof(ti->failure), "unknown TLS PSK identity (no key for this host and subsystem)");
	} else if (nvmf_tls_psk_cipher(&k) != parts.cipher) {
		snprintf(ti->failure, sizeof(ti->failure), "TLS PSK identity names another hash than the host's key");
	} else if (!retained_for(&k, &parts, ti->identity, retained, &kdf)) {
		/* The digest proves the host holds the same retained PSK. */
		snprintf(ti->failure, sizeof(ti->failure), "TLS PSK identity digest does not match the host's key");
	} else if (nvmf_tls_derive_psk(ti->identity, retained, k.len, kdf, psk) == 0) {
		*sess = psk_session(ssl, psk, k.len, parts.cipher);
		rc = *sess != NULL;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	OPENSSL_cleanse(retained, sizeof(retained));
	OPENSSL_cleanse(psk, sizeof(psk));
	return rc;
}

struct nvmf_tls_server *nvmf_tls_server_new(nvmf_tls_lookup_fn lookup, void *arg)
{
	if (!indexes())
		return NULL;
	struct nvmf_tls_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ctx = new_ctx(true);
	if (!s->ctx) {
		free(s);
		return NULL;
	}
	s->lookup = lookup;
	s->arg = arg;
	SSL_CTX_set_ex_data(s->ctx, server_index, s);
	SSL_CTX_set_psk_find_session_callback(s->ctx, find_session);
	return s;
}

void nvmf_tls_server_free(struct nvmf_tls_server *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->ctx);
	free(s);
}

static SSL *ssl_with_info(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	struct tls_info *ti = calloc(1, sizeof(*ti));
	if (!ssl || !ti || !SSL_set_ex_data(ssl, info_index, ti)) {
		free(ti);
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

SSL *nvmf_tls_server_ssl(struct nvmf_tls_server *s)
{
	return ssl_with_info(s->ctx);
}

/* ---- Host ---- */

static int use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen, SSL_SESSION **sess)
{
	struct tls_info *ti = info_of(ssl);
	*sess = NULL;
	if (!ti)
		return 0;
	SSL_SESSION *s = psk_session(ssl, ti->psk, ti->psk_len, ti->cipher);
	if (!s)
		return 0;
	/* After a HelloRetryRequest OpenSSL asks again with the suite's digest: offer only a matching PSK. */
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);
		return 1;
	}
	*id = (const unsigned char *)ti->identity;
	*idlen = strlen(ti->identity);
	*sess = s;
	return 1;
}

SSL *nvmf_tls_client_ssl(const struct nvmf_tls_configured_psk *k, const char *hostnqn, const char *subnqn,
			 int identity_version, enum nvmf_tls_kdf kdf)
{
	if (!indexes())
		return NULL;
	SSL_CTX *ctx = new_ctx(false);
	if (!ctx)
		return NULL;
	SSL_CTX_set_psk_use_session_callback(ctx, use_session);
	SSL *ssl = ssl_with_info(ctx);
	SSL_CTX_free(ctx); /* the SSL keeps its reference */
	if (!ssl)
		return NULL;
	struct tls_info *ti = info_of(ssl);
	uint8_t retained[NVMF_TLS_PSK_MAX];
	ti->cipher = nvmf_tls_psk_cipher(k);
	ti->psk_len = k->len;
	bool ok = nvmf_tls_retained_psk(k, hostnqn, kdf, retained) == 0 &&
		  nvmf_tls_identity(identity_version, ti->cipher, retained, k->len, hostnqn, subnqn, ti->identity,
				    sizeof(ti->identity)) > 0 &&
		  nvmf_tls_derive_psk(ti->identity, retained, k->len, kdf, ti->psk) == 0;
	OPENSSL_cleanse(retained, sizeof(retained));
	/* Offer only the suite of the key's hash. */
	if (!ok || !SSL_set_ciphersuites(ssl, ti->cipher == 2 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256")) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

const char *nvmf_tls_identity_of(SSL *ssl)
{
	struct tls_info *ti = info_of(ssl);
	return ti && ti->identity[0] ? ti->identity : NULL;
}

const char *nvmf_tls_failure_of(SSL *ssl)
{
	struct tls_info *ti = info_of(ssl);
	return ti && ti->failure[0] ? ti->failure : NULL;
}
