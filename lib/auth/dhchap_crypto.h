/*
 * DH-HMAC-CHAP cryptography (NVMe Base 2.0, 8.13.5), all of it from
 * OpenSSL 3: the digests and HMAC, the transformed secret, the augmented
 * challenge, the two responses, and finite field Diffie-Hellman over the
 * RFC 7919 named groups.
 */
#ifndef NVMF_AUTH_DHCHAP_CRYPTO_H
#define NVMF_AUTH_DHCHAP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/auth_spec.h>

/* ---- Identifiers and names ---- */

/* Digest length of hash ID 1..3 (32, 48, 64); 0 for any other ID. */
size_t nvmf_dhchap_hash_len(uint8_t hash_id);
/* "sha256"...; NULL for an unknown ID. */
const char *nvmf_dhchap_hash_digest(uint8_t hash_id);
/* "hmac(sha256)"... as nvmetcli writes them; NULL for an unknown ID. */
const char *nvmf_dhchap_hash_name(uint8_t hash_id);
/* The ID of "hmac(sha256)", "sha256" or "1"...; 0 when unknown. */
uint8_t nvmf_dhchap_hash_parse(const char *name);
/* "null", "ffdhe2048"...; NULL for an unknown ID. */
const char *nvmf_dhchap_dhgroup_name(uint8_t dhgid);
/* The ID of "null" or "ffdhe2048"...; -1 when unknown. */
int nvmf_dhchap_dhgroup_parse(const char *name);
/* Bytes of a public value in group dhgid (0 for the null group, -1 for unknown). */
int nvmf_dhchap_dhgroup_size(uint8_t dhgid);

/* ---- Secrets: "DHHC-1:0N:<base64 of key || CRC-32 LE>:" ---- */

struct nvmf_dhchap_secret {
	uint8_t key[64];
	size_t len;	 /* 32, 48 or 64 */
	uint8_t hash_id; /* transformation hash: 0 none, 1..3 */
};

/* Canonical base64 (RFC 4648, '=' padding only at the end, unused bits zero) of len characters, as
 * nvme-cli writes keys: the decoded bytes into out (cap bytes, at least len / 4 * 3).  Returns their
 * count, or -1 for any other text. */
int nvmf_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap);
/* Parse a secret as nvme-cli's gen-dhchap-key writes it: 0, or -EINVAL (bad form) / -EBADMSG (CRC). */
int nvmf_dhchap_secret_parse(const char *text, struct nvmf_dhchap_secret *out);
/* Write the textual form; returns its length, or -ENOSPC. */
int nvmf_dhchap_secret_format(const struct nvmf_dhchap_secret *s, char *out, size_t outlen);
/* The secret as used: transformed with nqn when hash_id is set (HMAC(key, nqn || "NVMe-over-Fabrics")).
 * out holds 64 bytes; returns its length, or -1. */
int nvmf_dhchap_secret_transform(const struct nvmf_dhchap_secret *s, const char *nqn, uint8_t *out);
/* Zero a secret (memory that held a key). */
void nvmf_dhchap_secret_wipe(struct nvmf_dhchap_secret *s);

/* ---- Computations ---- */

/* HMAC with hash_id over the concatenation of n pieces; out gets nvmf_dhchap_hash_len bytes.  0 or -1. */
struct nvmf_dhchap_piece {
	const void *p;
	size_t len;
};
int nvmf_dhchap_hmac(uint8_t hash_id, const uint8_t *key, size_t keylen, const struct nvmf_dhchap_piece *pieces,
		     unsigned n, uint8_t *out);

/* Ca = HMAC(H(session key), C): the challenge as it enters a response when DH is used.  0 or -1. */
int nvmf_dhchap_augment(uint8_t hash_id, const uint8_t *sesskey, size_t sesskey_len, const uint8_t *chal,
			uint8_t *out);

/*
 * The host's response R1 = HMAC(Kh, C1 || S1 || T || SC || "HostHost" || NQNh || 00h || NQNc),
 * or (host false) the controller's R2 = HMAC(Kc, C2 || S2 || T || SC || "Controller" || NQNc || 00h || NQNh).
 * key: the transformed secret; chal: the (augmented) challenge of hl bytes.  0 or -1.
 */
int nvmf_dhchap_response(bool host, uint8_t hash_id, const uint8_t *key, size_t keylen, const uint8_t *chal,
			 uint32_t seqnum, uint16_t t_id, uint8_t sc, const char *hostnqn, const char *subnqn,
			 uint8_t *out);

/* Constant-time compare of n bytes. */
bool nvmf_dhchap_equal(const void *a, const void *b, size_t n);
/* n random bytes (OpenSSL's generator).  0 or -1. */
int nvmf_dhchap_random(void *buf, size_t n);

/* ---- Diffie-Hellman ---- */

struct nvmf_dhchap_dh;
/* A fresh key pair in group dhgid (not the null group); NULL on failure. */
struct nvmf_dhchap_dh *nvmf_dhchap_dh_new(uint8_t dhgid);
void nvmf_dhchap_dh_free(struct nvmf_dhchap_dh *dh);
/* Our public value, big endian, padded to the group size; returns its length or -1. */
int nvmf_dhchap_dh_public(const struct nvmf_dhchap_dh *dh, uint8_t *out, size_t outlen);
/* The shared value g^xy mod p (padded) from the peer's public value; returns its length, or -1
 * when the peer's value is not a valid public key of the group. */
int nvmf_dhchap_dh_shared(const struct nvmf_dhchap_dh *dh, const uint8_t *peer, size_t peerlen, uint8_t *out,
			  size_t outlen);

#endif
