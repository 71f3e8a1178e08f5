/*
 * The controller core: subsystems, namespaces, ports, controllers and the
 * per-queue-pair request path.  Knows nothing of TCP: it drives queue
 * pairs only through include/nvmf/transport.h and namespaces through bdev.h.
 *
 * Threads: configuration calls are thread-safe.  A connection (one queue
 * pair) belongs to the thread that created it; every nvmf_conn_* call
 * except nvmf_conn_get/put is made on that thread.  The core reaches other
 * threads only through the post hook of their nvmf_conn_env.
 */
#ifndef NVMF_CTRL_TARGET_H
#define NVMF_CTRL_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/fabrics_spec.h>
#include <nvmf/transport.h>

struct nvmf_tgt;
struct nvmf_subsystem;
struct nvmf_conn;
struct nvmf_bdev_io_ctx;

#define NVMF_DEFAULT_MODEL "nvmf userspace target"

/* ---- Target ---- */

struct nvmf_tgt *nvmf_tgt_create(void);
/* Every connection must be closed first. */
void nvmf_tgt_destroy(struct nvmf_tgt *tgt);

/* A listener as the discovery log shows it. */
struct nvmf_port_addr {
	enum nvmf_trtype trtype;
	enum nvmf_adrfam adrfam;
	char traddr[256];
	char trsvcid[32];
};

/* Register a port.  all_subsystems: every subsystem is reachable through it
 * (command line); otherwise only those linked with nvmf_tgt_port_link. */
int nvmf_tgt_add_port(struct nvmf_tgt *tgt, uint16_t portid, const struct nvmf_port_addr *addr,
		      bool all_subsystems);
/* Update a port's service id once the listener knows its real port (port 0 listeners). */
int nvmf_tgt_set_port_trsvcid(struct nvmf_tgt *tgt, uint16_t portid, const char *trsvcid);
int nvmf_tgt_port_link(struct nvmf_tgt *tgt, uint16_t portid, const char *subnqn);
/* Discovery log generation counter (bumped on every change). */
uint64_t nvmf_tgt_genctr(struct nvmf_tgt *tgt);

/* ---- Subsystems ---- */

/* 'nqn.yyyy-mm.reverse.domain:anything' or 'nqn.2014-08.org.nvmexpress:uuid:<uuid>', at most 223 bytes. */
bool nvmf_nqn_valid(const char *nqn);

struct nvmf_subsystem *nvmf_subsystem_create(struct nvmf_tgt *tgt, const char *nqn, char *err, size_t errlen);
struct nvmf_subsystem *nvmf_tgt_find_subsystem(struct nvmf_tgt *tgt, const char *nqn);
const char *nvmf_subsystem_nqn(const struct nvmf_subsystem *ss);
/* At most 20 ASCII characters; by default derived from the NQN. */
int nvmf_subsystem_set_serial(struct nvmf_subsystem *ss, const char *serial);
int nvmf_subsystem_set_model(struct nvmf_subsystem *ss, const char *model);
void nvmf_subsystem_set_allow_any_host(struct nvmf_subsystem *ss, bool allow);
int nvmf_subsystem_add_host(struct nvmf_subsystem *ss, const char *hostnqn);
int nvmf_subsystem_remove_host(struct nvmf_subsystem *ss, const char *hostnqn);

struct nvmf_ns_opts {
	uint32_t block_size; /* 0: the backend's natural size */
	bool has_nguid, has_uuid;
	uint8_t nguid[16];
	uint8_t uuid[16];
};

/* Attach a namespace on backend spec ("ram:1G", "null:1G", a path).  nsid 0:
 * the lowest free.  Returns the nsid, or 0 with a message in err. */
uint32_t nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
				      const struct nvmf_ns_opts *opts, char *err, size_t errlen);
int nvmf_subsystem_remove_namespace(struct nvmf_subsystem *ss, uint32_t nsid);

/* Parse "xxxxxxxx-xxxx-..." (UUID) or 32 hex digits with optional dashes (NGUID). */
bool nvmf_parse_hex_id(const char *s, uint8_t out[16]);

/* ---- Connections (one per queue pair) ---- */

struct nvmf_conn_env {
	void *thread;
	/* Run fn(arg) on thread (any caller, any thread). */
	void (*post)(void *thread, void (*fn)(void *arg), void *arg);
	/* Called on the owning thread just before the queue pair (and its fd)
	 * is freed: stop watching the fd and drop the owner's reference. */
	void (*on_close)(void *thread, struct nvmf_conn *conn);
	struct nvmf_bdev_io_ctx *io;
	/* Read budget, PDUs per call and transmit backlog limit of the queue pair (zeros: the transport's defaults). */
	struct nvmf_qpair_limits limits;
};

/* Take over an accepted socket that arrived on portid.  NULL with errno. */
struct nvmf_conn *nvmf_conn_create(struct nvmf_tgt *tgt, int fd, uint16_t portid, const struct nvmf_conn_env *env);
int nvmf_conn_fd(const struct nvmf_conn *conn);
bool nvmf_conn_want_write(const struct nvmf_conn *conn);
/* Input is taken (false while the peer leaves too much output unread): watch for it. */
bool nvmf_conn_want_read(const struct nvmf_conn *conn);
/* Handle what arrived and retry deferred work.  Returns work done (>= 0). */
int nvmf_conn_process(struct nvmf_conn *conn);
/* Work is waiting that no fd event will announce (deferred commands). */
bool nvmf_conn_has_deferred(const struct nvmf_conn *conn);
/* Timers: keep alive, Connect deadline.  Call every ~100 ms. */
void nvmf_conn_timer(struct nvmf_conn *conn, uint64_t now_ms);
/* Start closing (on the owning thread); on_close runs once it is done. */
void nvmf_conn_close(struct nvmf_conn *conn);
void nvmf_conn_get(struct nvmf_conn *conn);
void nvmf_conn_put(struct nvmf_conn *conn);

/* Monotonic milliseconds. */
uint64_t nvmf_now_ms(void);

#endif
