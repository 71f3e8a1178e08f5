/*
 * TLS 1.3 on a port's connections: one OpenSSL server context for the
 * target, whose handshakes find each host's PSK by the identity it sends
 * (either form: NVMe0R0H or NVMe1R0H with the PSK digest); the Connect on
 * a TLS queue must then name the NQNs of that identity.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "auth/tls.h"
#include "ctrl_internal.h"
#include "util/clock.h"

#define TLS_LOG_PER_SEC 10

/* The PSK lookup of a handshake: the subsystem must exist and allow the host. */
static int lookup(void *arg, const char *hostnqn, const char *subnqn, struct nvmf_tls_configured_psk *out)
{
	struct nvmf_tgt *tgt = arg;
	struct nvmf_subsystem *ss = nvmf_tgt_find_subsystem(tgt, subnqn);
	if (!ss || ss->discovery || !nvmf_subsystem_host_allowed(ss, hostnqn))
		return -1;
	return nvmf_subsystem_host_tls_psk(ss, hostnqn, out) ? 0 : -1;
}

void *nvmf_tls_conn_ssl(struct nvmf_tgt *tgt, const struct nvmf_port *port, bool *failed)
{
	*failed = false;
	if (port->addr.tls == NVMF_PORT_TLS_NONE)
		return NULL;
	if (!tgt->tls)
		tgt->tls = nvmf_tls_server_new(lookup, tgt);
	SSL *ssl = tgt->tls ? nvmf_tls_server_ssl(tgt->tls) : NULL;
	*failed = ssl == NULL;
	return ssl;
}

void nvmf_tls_tgt_free(struct nvmf_tgt *tgt)
{
	nvmf_tls_server_free(tgt->tls);
	tgt->tls = NULL;
}

uint16_t nvmf_tls_check_connect(struct nvmf_conn *conn, const char *hostnqn, const char *subnqn, uint32_t *ipo,
				const char **why)
{
	SSL *ssl = nvmf_qpair_tls(conn->qp);
	if (!ssl)
		return 0;
	struct nvmf_tls_identity_parts parts;
	const char *id = nvmf_tls_identity_of(ssl);
	if (!id || !nvmf_tls_identity_parse(id, &parts)) {
		*why = "TLS queue without a PSK identity";
		*ipo = (uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | (uint32_t)offsetof(struct nvmf_connect_data, hostnqn);
		return NVMF_SC_CONNECT_INVALID_HOST;
	}
	if (strcmp(parts.hostnqn, hostnqn) != 0) {
		*why = "host NQN differs from the TLS PSK identity's";
		*ipo = (uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | (uint32_t)offsetof(struct nvmf_connect_data, hostnqn);
		return NVMF_SC_CONNECT_INVALID_HOST;
	}
	if (strcmp(parts.subnqn, subnqn) != 0) {
		*why = "subsystem NQN differs from the TLS PSK identity's";
		*ipo = (uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | (uint32_t)offsetof(struct nvmf_connect_data, subnqn);
		return NVMF_SC_CONNECT_INVALID_PARAMETERS;
	}
	return 0;
}

static bool log_allowed(void)
{
	static atomic_uint_fast64_t window_s;
	static atomic_uint count;
	uint64_t now = nvmf_clock_ms() / 1000;
	if (atomic_exchange(&window_s, now) != now)
		atomic_store(&count, 0);
	return atomic_fetch_add(&count, 1) < TLS_LOG_PER_SEC;
}

void nvmf_tls_log_failure(struct nvmf_conn *conn)
{
	if (conn->connected || !conn->qp)
		return;
	const char *why = nvmf_qpair_error(conn->qp);
	if (!strstr(why, "TLS"))
		return;
	if (!log_allowed())
		return;
	/* The address without the port, as the log has always shown it. */
	char host[sizeof(conn->peer)];
	snprintf(host, sizeof(host), "%s", conn->peer);
	char *colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	SSL *ssl = nvmf_qpair_tls(conn->qp);
	const char *id = ssl ? nvmf_tls_identity_of(ssl) : NULL;
	fprintf(stderr, "nvmf: refused connection from %s on port %u%s%s%s: %s\n", host, conn->portid,
		id ? " (TLS PSK identity '" : "", id ? id : "", id ? "')" : "", why);
}
