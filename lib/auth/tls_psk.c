/* NVMe/TCP TLS PSK derivations over OpenSSL's HKDF and HMAC (see tls_psk.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "dhchap_crypto.h"
#include "tls_psk.h"

#define PREFIX "NVMeTLSkey-1:"

int nvmf_tls_psk_parse(const char *text, struct nvmf_tls_configured_psk *out)
{
	memset(out, 0, sizeof(*out));
	size_t plen = strlen(PREFIX);
	if (strncmp(text, PREFIX, plen) != 0)
		return -EINVAL;
	const char *p = text + plen;
	if (p[0] != '0' || p[1] < '0' || p[1] > '2' || p[2] != ':')
		return -EINVAL;
	uint8_t hash = (uint8_t)(p[1] - '0');
	p += 3;
	const char *end = strchr(p, ':');
	if (!end || end[1] != '\0')
		return -EINVAL;
	size_t b64len = (size_t)(end - p);
	if (b64len % 4 || b64len == 0 || b64len > 72)
		return -EINVAL;
	uint8_t raw[72];
	int n = nvmf_base64_decode(p, b64len, raw, sizeof(raw));
	int rc = 0;
	if (n != 36 && n != 52) {
		rc = -EINVAL;
	} else {
		size_t len = (size_t)n - 4;
		uint32_t crc = crc32_gzip_refl(0, raw, len);
		uint32_t stored = (uint32_t)raw[len] | (uint32_t)raw[len + 1] << 8 | (uint32_t)raw[len + 2] << 16 |
				  (uint32_t)raw[len + 3] << 24;
		/* Hash 1 goes with 32-byte keys and 2 with 48. */
		if (crc != stored)
			rc = -EBADMSG;
		else if ((hash == 1 && len != 32) || (hash == 2 && len != 48))
			rc = -EINVAL;
		else {
			memcpy(out->key, raw, len);
			out->len = len;
			out->hash = hash;
		}
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int nvmf_tls_psk_format(const struct nvmf_tls_configured_psk *k, char *out, size_t outlen)
{
	uint8_t raw[52];
	unsigned char b64[80];
	if (k->len != 32 && k->len != 48)
		return -EINVAL;
	memcpy(raw, k->key, k->len);
	uint32_t crc = crc32_gzip_refl(0, raw, k->len);
	for (int i = 0; i < 4; i++)
		raw[k->len + (size_t)i] = (uint8_t)(crc >> (8 * i));
	EVP_EncodeBlock(b64, raw, (int)k->len + 4);
	int w = snprintf(out, outlen, PREFIX "%02u:%s:", k->hash, (const char *)b64);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return w < 0 || (size_t)w >= outlen ? -ENOSPC : w;
}

uint8_t nvmf_tls_psk_cipher(const struct nvmf_tls_configured_psk *k)
{
	if (k->hash)
		return k->hash;
	return k->len == 48 ? 2 : 1;
}

/* HKDF-Extract(0, key) then HKDF-Expand-Label(label, context, len).  TP 8011: the info is
 * struct HkdfLabel { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>; };
 * nvme-cli: length little endian, "tls13 " + label + context, no length bytes. */
static int hkdf_expand_label(uint8_t cipher, enum nvmf_tls_kdf kdf, const uint8_t *key, size_t keylen,
			     const char *label, const void *context, size_t ctxlen, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t llen = 6 + strlen(label), infolen;
	if (llen > 255 || ctxlen > 255)
		return -1;
	if (kdf == NVMF_TLS_KDF_TP8011) {
		uint16_t be = htons((uint16_t)len);
		memcpy(info, &be, 2);
		info[2] = (uint8_t)llen;
		memcpy(info + 3, "tls13 ", 6);
		memcpy(info + 9, label, llen - 6);
		info[3 + llen] = (uint8_t)ctxlen;
		memcpy(info + 4 + llen, context, ctxlen);
		infolen = 4 + llen + ctxlen;
	} else {
		info[0] = (uint8_t)len;
		info[1] = (uint8_t)(len >> 8);
		memcpy(info + 2, "tls13 ", 6);
		memcpy(info + 8, label, llen - 6);
		memcpy(info + 2 + llen, context, ctxlen);
		infolen = 2 + llen + ctxlen;
	}
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	const EVP_MD *md = cipher == 2 ? EVP_sha384() : EVP_sha256();
	int rc = -1;
	size_t outlen = len;
	if (ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, md) > 0 &&
	    EVP_PKEY_CTX_set1_hkdf_key(ctx, key, (int)keylen) > 0 &&
	    EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)infolen) > 0 && EVP_PKEY_derive(ctx, out, &outlen) > 0 &&
	    outlen == len)
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int nvmf_tls_retained_psk(const struct nvmf_tls_configured_psk *k, const char *hostnqn, enum nvmf_tls_kdf kdf,
			  uint8_t *out)
{
	if (k->hash == 0) {
		memcpy(out, k->key, k->len);
		return 0;
	}
	return hkdf_expand_label(k->hash, kdf, k->key, k->len, "HostNQN", hostnqn, strlen(hostnqn), out, k->len);
}

int nvmf_tls_psk_digest(uint8_t cipher, const uint8_t *retained, size_t len, const char *hostnqn,
			const char *subnqn, char *out, size_t outlen)
{
	uint8_t mac[NVMF_AUTH_MAX_DIGEST];
	const struct nvmf_dhchap_piece pieces[] = {
		{hostnqn, strlen(hostnqn)}, {" ", 1}, {subnqn, strlen(subnqn)}, {" ", 1}, {"NVMe-over-Fabrics", 17}};
	/* The DH-HMAC-CHAP hash IDs 1 and 2 are SHA-256 and SHA-384 too. */
	if ((cipher != 1 && cipher != 2) || nvmf_dhchap_hmac(cipher, retained, len, pieces, 5, mac))
		return -1;
	size_t mlen = nvmf_dhchap_hash_len(cipher);
	if (outlen < 4 * ((mlen + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mlen);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int nvmf_tls_identity(int version, uint8_t cipher, const uint8_t *retained, size_t len, const char *hostnqn,
		      const char *subnqn, char *out, size_t outlen)
{
	int w;
	if (version == 0) {
		w = snprintf(out, outlen, "NVMe0R%02u %s %s", cipher, hostnqn, subnqn);
	} else {
		char digest[80];
		if (nvmf_tls_psk_digest(cipher, retained, len, hostnqn, subnqn, digest, sizeof(digest)))
			return -1;
		w = snprintf(out, outlen, "NVMe1R%02u %s %s %s", cipher, hostnqn, subnqn, digest);
	}
	return w < 0 || (size_t)w >= outlen ? -1 : w;
}

int nvmf_tls_identity_parse(const char *identity, struct nvmf_tls_identity_parts *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(identity, "NVMe", 4) != 0 || (identity[4] != '0' && identity[4] != '1') || identity[5] != 'R' ||
	    identity[6] != '0' || (identity[7] != '1' && identity[7] != '2') || identity[8] != ' ')
		return 0;
	out->version = identity[4] - '0';
	out->cipher = (uint8_t)(identity[7] - '0');
	const char *h = identity + 9, *sp1 = strchr(h, ' ');
	if (!sp1 || sp1 == h || (size_t)(sp1 - h) >= sizeof(out->hostnqn))
		return 0;
	memcpy(out->hostnqn, h, (size_t)(sp1 - h));
	const char *s = sp1 + 1, *sp2 = strchr(s, ' ');
	size_t slen = sp2 ? (size_t)(sp2 - s) : strlen(s);
	if (slen == 0 || slen >= sizeof(out->subnqn) || (out->version == 0) != (sp2 == NULL))
		return 0;
	memcpy(out->subnqn, s, slen);
	if (out->version == 1) {
		const char *d = sp2 + 1;
		size_t dlen = strlen(d);
		if (dlen != (out->cipher == 1 ? 44u : 64u) || strchr(d, ' '))
			return 0;
		memcpy(out->digest, d, dlen);
	}
	return 1;
}

int nvmf_tls_derive_psk(const char *identity, const uint8_t *retained, size_t len, enum nvmf_tls_kdf kdf,
			uint8_t *out)
{
	struct nvmf_tls_identity_parts parts;
	if (!nvmf_tls_identity_parse(identity, &parts))
		return -1;
	char ctx[96];
	const char *context = identity;
	if (parts.version == 1) {
		snprintf(ctx, sizeof(ctx), "%02u %s", parts.cipher, parts.digest);
		context = ctx;
	}
	return hkdf_expand_label(parts.cipher, kdf, retained, len, "nvme-tls-psk", context, strlen(context), out, len);
}
