/* DH-HMAC-CHAP cryptography over OpenSSL 3 (see dhchap_crypto.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <isa-l/crc.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "dhchap_crypto.h"

static const struct {
	const char *digest;
	const char *hmac;
	size_t len;
} hashes[] = {
	[NVMF_AUTH_HASH_SHA256] = {"sha256", "hmac(sha256)", 32},
	[NVMF_AUTH_HASH_SHA384] = {"sha384", "hmac(sha384)", 48},
	[NVMF_AUTH_HASH_SHA512] = {"sha512", "hmac(sha512)", 64},
};

static const struct {
	const char *name;
	int size;
} groups[] = {
	[NVMF_AUTH_DHGROUP_NULL] = {"null", 0},	   [NVMF_AUTH_DHGROUP_2048] = {"ffdhe2048", 256},
	[NVMF_AUTH_DHGROUP_3072] = {"ffdhe3072", 384}, [NVMF_AUTH_DHGROUP_4096] = {"ffdhe4096", 512},
	[NVMF_AUTH_DHGROUP_6144] = {"ffdhe6144", 768}, [NVMF_AUTH_DHGROUP_8192] = {"ffdhe8192", 1024},
};

size_t nvmf_dhchap_hash_len(uint8_t id)
{
	return id >= 1 && id <= 3 ? hashes[id].len : 0;
}

const char *nvmf_dhchap_hash_digest(uint8_t id)
{
	return id >= 1 && id <= 3 ? hashes[id].digest : NULL;
}

const char *nvmf_dhchap_hash_name(uint8_t id)
{
	return id >= 1 && id <= 3 ? hashes[id].hmac : NULL;
}

uint8_t nvmf_dhchap_hash_parse(const char *name)
{
	for (uint8_t i = 1; i <= 3; i++)
		if (!strcasecmp(name, hashes[i].digest) || !strcasecmp(name, hashes[i].hmac) ||
		    (name[0] == '0' + i && name[1] == '\0'))
			return i;
	return 0;
}

const char *nvmf_dhchap_dhgroup_name(uint8_t id)
{
	return id <= 5 ? groups[id].name : NULL;
}

int nvmf_dhchap_dhgroup_parse(const char *name)
{
	for (int i = 0; i <= 5; i++)
		if (!strcasecmp(name, groups[i].name))
			return i;
	return -1;
}

int nvmf_dhchap_dhgroup_size(uint8_t id)
{
	return id <= 5 ? groups[id].size : -1;
}

/* ---- Secrets ---- */

int nvmf_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap)
{
	unsigned char again[132];
	if (len == 0 || len % 4 || len >= sizeof(again) || len / 4 * 3 > cap)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	/* EVP_DecodeBlock counts the bytes '=' padding stands for, skips blanks and takes '=' anywhere:
	 * only text that encodes back the same is canonical. */
	for (size_t i = len; n > 0 && i > len - 2 && text[i - 1] == '='; i--)
		n--;
	if (n <= 0 || EVP_EncodeBlock(again, out, n) != (int)len || memcmp(again, text, len) != 0) {
		OPENSSL_cleanse(out, len / 4 * 3);
		return -1;
	}
	return n;
}

#define SECRET_PREFIX "DHHC-1:"

int nvmf_dhchap_secret_parse(const char *text, struct nvmf_dhchap_secret *out)
{
	memset(out, 0, sizeof(*out));
	size_t plen = strlen(SECRET_PREFIX);
	if (strncmp(text, SECRET_PREFIX, plen) != 0)
		return -EINVAL;
	const char *p = text + plen;
	if (p[0] != '0' || p[1] < '0' || p[1] > '3' || p[2] != ':')
		return -EINVAL;
	uint8_t hash_id = (uint8_t)(p[1] - '0');
	p += 3;
	const char *end = strchr(p, ':');
	size_t b64len = end ? (size_t)(end - p) : strlen(p);
	if ((end && end[1] != '\0') || b64len % 4 != 0 || b64len == 0 || b64len > 96)
		return -EINVAL;
	uint8_t raw[96];
	int n = nvmf_base64_decode(p, b64len, raw, sizeof(raw));
	if (n < 0)
		return -EINVAL;
	int rc = 0;
	size_t keylen = (size_t)n - 4;
	if (n != 36 && n != 52 && n != 68) {
		rc = -EINVAL;
	} else {
		uint32_t crc = crc32_gzip_refl(0, raw, keylen);
		uint32_t stored = (uint32_t)raw[keylen] | (uint32_t)raw[keylen + 1] << 8 |
				  (uint32_t)raw[keylen + 2] << 16 | (uint32_t)raw[keylen + 3] << 24;
		if (crc != stored) {
			rc = -EBADMSG;
		} else {
			memcpy(out->key, raw, keylen);
			out->len = keylen;
			out->hash_id = hash_id;
		}
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int nvmf_dhchap_secret_format(const struct nvmf_dhchap_secret *s, char *out, size_t outlen)
{
	uint8_t raw[68];
	unsigned char b64[100];
	if (s->len != 32 && s->len != 48 && s->len != 64)
		return -EINVAL;
	memcpy(raw, s->key, s->len);
	uint32_t crc = crc32_gzip_refl(0, raw, s->len);
	for (int i = 0; i < 4; i++)
		raw[s->len + (size_t)i] = (uint8_t)(crc >> (8 * i));
	int n = EVP_EncodeBlock(b64, raw, (int)s->len + 4);
	int w = snprintf(out, outlen, SECRET_PREFIX "%02u:%s:", s->hash_id, (const char *)b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return n < 0 || w < 0 || (size_t)w >= outlen ? -ENOSPC : w;
}

int nvmf_dhchap_secret_transform(const struct nvmf_dhchap_secret *s, const char *nqn, uint8_t *out)
{
	if (s->hash_id == 0) {
		memcpy(out, s->key, s->len);
		return (int)s->len;
	}
	const struct nvmf_dhchap_piece pieces[] = {{nqn, strlen(nqn)}, {"NVMe-over-Fabrics", 17}};
	if (nvmf_dhchap_hmac(s->hash_id, s->key, s->len, pieces, 2, out))
		return -1;
	return (int)nvmf_dhchap_hash_len(s->hash_id);
}

void nvmf_dhchap_secret_wipe(struct nvmf_dhchap_secret *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* ---- Computations ---- */

int nvmf_dhchap_hmac(uint8_t hash_id, const uint8_t *key, size_t keylen, const struct nvmf_dhchap_piece *pieces,
		     unsigned n, uint8_t *out)
{
	const char *digest = nvmf_dhchap_hash_digest(hash_id);
	if (!digest)
		return -1;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
			       OSSL_PARAM_construct_end()};
	int rc = -1;
	size_t outl = 0;
	if (ctx && EVP_MAC_init(ctx, key, keylen, params)) {
		rc = 0;
		for (unsigned i = 0; i < n && rc == 0; i++)
			if (pieces[i].len && !EVP_MAC_update(ctx, pieces[i].p, pieces[i].len))
				rc = -1;
		if (rc == 0 && (!EVP_MAC_final(ctx, out, &outl, NVMF_AUTH_MAX_DIGEST) ||
				outl != nvmf_dhchap_hash_len(hash_id)))
			rc = -1;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int nvmf_dhchap_augment(uint8_t hash_id, const uint8_t *sesskey, size_t sesskey_len, const uint8_t *chal,
			uint8_t *out)
{
	uint8_t hashed[EVP_MAX_MD_SIZE];
	unsigned hlen = 0;
	size_t len = nvmf_dhchap_hash_len(hash_id);
	int rc = -1;
	EVP_MD *md = EVP_MD_fetch(NULL, nvmf_dhchap_hash_digest(hash_id) ? nvmf_dhchap_hash_digest(hash_id) : "",
				  NULL);
	if (md && EVP_Digest(sesskey, sesskey_len, hashed, &hlen, md, NULL) && hlen == len) {
		const struct nvmf_dhchap_piece piece = {chal, len};
		rc = nvmf_dhchap_hmac(hash_id, hashed, len, &piece, 1, out);
	}
	EVP_MD_free(md);
	OPENSSL_cleanse(hashed, sizeof(hashed));
	return rc;
}

int nvmf_dhchap_response(bool host, uint8_t hash_id, const uint8_t *key, size_t keylen, const uint8_t *chal,
			 uint32_t seqnum, uint16_t t_id, uint8_t sc, const char *hostnqn, const char *subnqn,
			 uint8_t *out)
{
	uint8_t seq[4] = {(uint8_t)seqnum, (uint8_t)(seqnum >> 8), (uint8_t)(seqnum >> 16), (uint8_t)(seqnum >> 24)};
	uint8_t tid[2] = {(uint8_t)t_id, (uint8_t)(t_id >> 8)};
	static const uint8_t zero = 0;
	const char *first = host ? hostnqn : subnqn, *second = host ? subnqn : hostnqn;
	const struct nvmf_dhchap_piece pieces[] = {
		{chal, nvmf_dhchap_hash_len(hash_id)},
		{seq, 4},
		{tid, 2},
		{&sc, 1},
		{host ? "HostHost" : "Controller", host ? 8 : 10},
		{first, strlen(first)},
		{&zero, 1},
		{second, strlen(second)},
	};
	return nvmf_dhchap_hmac(hash_id, key, keylen, pieces, 8, out);
}

bool nvmf_dhchap_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int nvmf_dhchap_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* ---- Diffie-Hellman ---- */

struct nvmf_dhchap_dh {
	EVP_PKEY *key;
	uint8_t dhgid;
	size_t size;
};

struct nvmf_dhchap_dh *nvmf_dhchap_dh_new(uint8_t dhgid)
{
	if (dhgid == NVMF_AUTH_DHGROUP_NULL || dhgid > 5)
		return NULL;
	struct nvmf_dhchap_dh *dh = calloc(1, sizeof(*dh));
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)groups[dhgid].name, 0),
		OSSL_PARAM_construct_end()};
	if (!dh || !ctx || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, params) ||
	    EVP_PKEY_generate(ctx, &dh->key) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		free(dh);
		return NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	dh->dhgid = dhgid;
	dh->size = (size_t)groups[dhgid].size;
	return dh;
}

void nvmf_dhchap_dh_free(struct nvmf_dhchap_dh *dh)
{
	if (!dh)
		return;
	EVP_PKEY_free(dh->key);
	free(dh);
}

int nvmf_dhchap_dh_public(const struct nvmf_dhchap_dh *dh, uint8_t *out, size_t outlen)
{
	BIGNUM *pub = NULL;
	if (outlen < dh->size || !EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, &pub))
		return -1;
	int rc = BN_bn2binpad(pub, out, (int)dh->size);
	BN_free(pub);
	return rc == (int)dh->size ? rc : -1;
}

int nvmf_dhchap_dh_shared(const struct nvmf_dhchap_dh *dh, const uint8_t *peer, size_t peerlen, uint8_t *out,
			  size_t outlen)
{
	if (peerlen != dh->size || outlen < dh->size)
		return -1;
	int rc = -1;
	BIGNUM *pub = BN_bin2bn(peer, (int)peerlen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY *peerkey = NULL;
	EVP_PKEY_CTX *fctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	EVP_PKEY_CTX *dctx = NULL;
	if (!pub || !bld || !fctx ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, groups[dh->dhgid].name, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    EVP_PKEY_fromdata_init(fctx) <= 0 || EVP_PKEY_fromdata(fctx, &peerkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	size_t len = outlen;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL);
	/* derive_set_peer checks the peer's value lies in [2, p - 2] of the same group. */
	if (dctx && EVP_PKEY_derive_init(dctx) > 0 && EVP_PKEY_CTX_set_dh_pad(dctx, 1) > 0 &&
	    EVP_PKEY_derive_set_peer(dctx, peerkey) > 0 && EVP_PKEY_derive(dctx, out, &len) > 0 && len == dh->size)
		rc = (int)len;
out:
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peerkey);
	EVP_PKEY_CTX_free(fctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(pub);
	return rc;
}
