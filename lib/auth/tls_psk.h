/*
 * NVMe/TCP TLS pre-shared keys (NVMe/TCP 1.1, TP 8011; as nvme-cli's
 * gen-tls-key and the Linux keyring do it), from OpenSSL's HKDF and HMAC:
 *   the PSK interchange format "NVMeTLSkey-1:0N:<base64 of key || CRC-32>:",
 *   the retained PSK   = HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", NQNh, L),
 *   the PSK digest     = base64(HMAC(retained, NQNh || " " || NQNc || " " || "NVMe-over-Fabrics")),
 *   the PSK identities "NVMe0R0H NQNh NQNc" and "NVMe1R0H NQNh NQNc <digest>",
 *   the TLS PSK        = HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", context, L)
 *                        (context: the identity for version 0, "0H <digest>" for version 1).
 * H is the hash of the cipher suite: 1 SHA-256 (TLS_AES_128_GCM_SHA256), 2 SHA-384 (TLS_AES_256_GCM_SHA384).
 *
 * Two encodings of the HKDF info exist in the field.  TP 8011 (RFC 8446's
 * HkdfLabel: a big-endian length, then label and context each behind a
 * length byte), and the one nvme-cli/libnvme use when they put keys in the
 * Linux keyring (`gen-tls-key --insert`, `check-tls-key --insert`; libnvme's
 * "compat" derivation: a little-endian length, then "tls13 " label context
 * with no length bytes).  Linux hosts and targets hold nvme-cli's keys, so
 * that is the default; a version 1 identity's digest tells which one a host used.
 */
#ifndef NVMF_AUTH_TLS_PSK_H
#define NVMF_AUTH_TLS_PSK_H

#include <stddef.h>
#include <stdint.h>

#define NVMF_TLS_PSK_MAX 48
#define NVMF_TLS_IDENTITY_MAX 600

/* A configured PSK: 32 or 48 bytes; hash 0 (use as the retained PSK), 1 or 2 (derive it). */
struct nvmf_tls_configured_psk {
	uint8_t key[NVMF_TLS_PSK_MAX];
	size_t len;
	uint8_t hash;
};

/* Parse the interchange format: 0, or -EINVAL / -EBADMSG (CRC). */
int nvmf_tls_psk_parse(const char *text, struct nvmf_tls_configured_psk *out);
/* Write it; returns the length or -ENOSPC. */
int nvmf_tls_psk_format(const struct nvmf_tls_configured_psk *k, char *out, size_t outlen);
/* The cipher suite hash of a key: its hash, or by length for hash 0 (32: 1, 48: 2). */
uint8_t nvmf_tls_psk_cipher(const struct nvmf_tls_configured_psk *k);

enum nvmf_tls_kdf {
	NVMF_TLS_KDF_NVME_CLI = 0, /* as nvme-cli puts keys in the keyring */
	NVMF_TLS_KDF_TP8011,	   /* HkdfLabel exactly as RFC 8446 */
};

/* The retained PSK of k for hostnqn into out (k->len bytes).  0 or -1. */
int nvmf_tls_retained_psk(const struct nvmf_tls_configured_psk *k, const char *hostnqn, enum nvmf_tls_kdf kdf,
			  uint8_t *out);
/* The base64 PSK digest (44 or 64 characters).  0 or -1. */
int nvmf_tls_psk_digest(uint8_t cipher, const uint8_t *retained, size_t len, const char *hostnqn,
			const char *subnqn, char *out, size_t outlen);
/* The identity of version 0 or 1 for hostnqn/subnqn.  Returns its length or -1. */
int nvmf_tls_identity(int version, uint8_t cipher, const uint8_t *retained, size_t len, const char *hostnqn,
		      const char *subnqn, char *out, size_t outlen);
/* The TLS PSK for identity (either version) from the retained PSK.  0 or -1. */
int nvmf_tls_derive_psk(const char *identity, const uint8_t *retained, size_t len, enum nvmf_tls_kdf kdf,
			uint8_t *out);

/* A received identity taken apart; false when it is neither form. */
struct nvmf_tls_identity_parts {
	int version;
	uint8_t cipher;
	char hostnqn[256];
	char subnqn[256];
	char digest[80]; /* version 1 */
};
int nvmf_tls_identity_parse(const char *identity, struct nvmf_tls_identity_parts *out);

#endif
