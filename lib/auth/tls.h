/*
 * TLS 1.3 with a pre-shared key for NVMe/TCP (TP 8011), from OpenSSL:
 * TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384 only, no certificates,
 * no session tickets; kernel TLS offload where the kernel has it.  These
 * make the SSL objects; lib/tcp moves NVMe/TCP PDUs through them.
 */
#ifndef NVMF_AUTH_TLS_H
#define NVMF_AUTH_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "tls_psk.h"

/* Controller: the configured PSK of hostnqn for subnqn; 0, or -1 when there is none. */
typedef int (*nvmf_tls_lookup_fn)(void *arg, const char *hostnqn, const char *subnqn,
				  struct nvmf_tls_configured_psk *out);

struct nvmf_tls_server;
/* A server context whose handshakes find PSKs through lookup (on the handshaking thread). */
struct nvmf_tls_server *nvmf_tls_server_new(nvmf_tls_lookup_fn lookup, void *arg);
void nvmf_tls_server_free(struct nvmf_tls_server *s);
/* An SSL object for one accepted connection (the transport sets its fd); NULL on failure. */
SSL *nvmf_tls_server_ssl(struct nvmf_tls_server *s);

/* Host: an SSL object that offers the identity of the given version (0: NVMe0R0H, 1: NVMe1R0H with the
 * PSK digest) for hostnqn/subnqn, with the TLS PSK derived from the configured key by kdf.  NULL on failure. */
SSL *nvmf_tls_client_ssl(const struct nvmf_tls_configured_psk *k, const char *hostnqn, const char *subnqn,
			 int identity_version, enum nvmf_tls_kdf kdf);

/* After the handshake: the PSK identity the peer used (controller) or we sent (host); NULL if none. */
const char *nvmf_tls_identity_of(SSL *ssl);
/* Why the last handshake on ssl failed, in words (no key material). */
const char *nvmf_tls_failure_of(SSL *ssl);

#endif
