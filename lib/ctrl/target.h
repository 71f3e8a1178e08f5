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

#include "util/latency.h"

struct nvmf_tgt;
struct nvmf_subsystem;
struct nvmf_conn;
struct nvmf_bdev_io_ctx;

#define NVMF_DEFAULT_MODEL "nvmf userspace target"

/* ---- Target ---- */

struct nvmf_tgt *nvmf_tgt_create(void);
/* Every connection must be closed first. */
void nvmf_tgt_destroy(struct nvmf_tgt *tgt);

/* TLS on a port (NVMe/TCP 1.1): none, allowed next to plain TCP, or required. */
enum nvmf_port_tls {
	NVMF_PORT_TLS_NONE = 0,
	NVMF_PORT_TLS_ALLOWED,
	NVMF_PORT_TLS_REQUIRED,
};

/* A listener as the discovery log shows it. */
struct nvmf_port_addr {
	enum nvmf_trtype trtype;
	enum nvmf_adrfam adrfam;
	char traddr[256];
	char trsvcid[32];
	enum nvmf_port_tls tls; /* TREQ and TSAS in the discovery log */
};

/* Register a port.  all_subsystems: every subsystem is reachable through it
 * (command line); otherwise only those linked with nvmf_tgt_port_link. */
int nvmf_tgt_add_port(struct nvmf_tgt *tgt, uint16_t portid, const struct nvmf_port_addr *addr,
		      bool all_subsystems);
/* Update a port's service id once the listener knows its real port (port 0 listeners). */
int nvmf_tgt_set_port_trsvcid(struct nvmf_tgt *tgt, uint16_t portid, const char *trsvcid);
int nvmf_tgt_port_link(struct nvmf_tgt *tgt, uint16_t portid, const char *subnqn);
/*
 * Bytes of request data buffers the process may hold at once (default
 * NVMF_DEFAULT_BUFFER_BUDGET, at least NVMF_MIN_BUFFER_BUDGET).  One queue
 * may hold a quarter of it.  When they are spent, commands wait for
 * buffers to be returned instead of the process growing.
 */
#define NVMF_DEFAULT_BUFFER_BUDGET (256u * 1024 * 1024)
#define NVMF_MIN_BUFFER_BUDGET (4u * 1024 * 1024)
void nvmf_tgt_set_buffer_budget(struct nvmf_tgt *tgt, size_t bytes);
/*
 * What the target grants each host, all bounded for untrusted hosts: the
 * entries of a queue (CAP.MQES + 1), the I/O queues of a controller, the
 * controllers (associations) of a subsystem at once.  Set before hosts connect.
 */
struct nvmf_tgt_limits {
	uint32_t queue_entries; /* 2..NVMF_MAX_QUEUE_ENTRIES */
	uint32_t io_queues;	/* 1..NVMF_MAX_IO_QUEUES */
	uint32_t associations;	/* per subsystem, >= 1 */
};
#define NVMF_MAX_QUEUE_ENTRIES 1024
#define NVMF_MAX_IO_QUEUES 64
#define NVMF_DEFAULT_ASSOCIATIONS 256
/* 0, or -EINVAL when a value is out of range (nothing changed). */
int nvmf_tgt_validate_limits(const struct nvmf_tgt_limits *l);
int nvmf_tgt_set_limits(struct nvmf_tgt *tgt, const struct nvmf_tgt_limits *l);
void nvmf_tgt_get_limits(struct nvmf_tgt *tgt, struct nvmf_tgt_limits *l);
/* Bytes of data buffers held now (in use or cached for reuse). */
size_t nvmf_tgt_buffer_bytes(struct nvmf_tgt *tgt);
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
/*
 * DH-HMAC-CHAP for hostnqn (lib/ctrl/auth.c): key "DHHC-1:0N:...:" (NULL or
 * "" removes the host's keys), ctrl_key for bidirectional authentication
 * (optional), hashes "hmac(sha256),..." and dhgroups "ffdhe2048,null,..."
 * in order of preference (NULL: all).  A host with a key must authenticate
 * every queue; it applies from its next transaction.  0, or -EINVAL with
 * a message (never the secret) in err.
 */
int nvmf_subsystem_set_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn, const char *key,
				   const char *ctrl_key, const char *hashes, const char *dhgroups, char *err,
				   size_t errlen);
bool nvmf_subsystem_host_has_dhchap(struct nvmf_subsystem *ss, const char *hostnqn);
/*
 * The TLS PSK of hostnqn in the interchange format "NVMeTLSkey-1:0N:<base64>:"
 * (the configured PSK; the retained PSK and the TLS PSK are derived from it
 * for each handshake); NULL or "" removes it.  0, or -EINVAL with a message.
 */
int nvmf_subsystem_set_host_tls_key(struct nvmf_subsystem *ss, const char *hostnqn, const char *key, char *err,
				    size_t errlen);

struct nvmf_ns_opts {
	uint32_t block_size; /* 0: the backend's natural size */
	bool has_nguid, has_uuid, has_eui64;
	uint8_t nguid[16];
	uint8_t uuid[16];
	uint8_t eui64[8];
};

/* Attach a namespace on backend spec ("ram:1G", "null:1G", a path).  nsid 0:
 * the lowest free.  Returns the nsid, or 0 with a message in err. */
uint32_t nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
				      const struct nvmf_ns_opts *opts, char *err, size_t errlen);
int nvmf_subsystem_remove_namespace(struct nvmf_subsystem *ss, uint32_t nsid);

/* Parse "xxxxxxxx-xxxx-..." (UUID) or 32 hex digits with optional dashes (NGUID). */
bool nvmf_parse_hex_id(const char *s, uint8_t out[16]);

/* ---- Run-time management (target_mgmt.c) ----
 * Called by one management thread at a time (nvmfd's RPC server); safe
 * against the reactors.  Subsystem pointers stay valid until
 * nvmf_tgt_destroy, also after nvmf_tgt_delete_subsystem. */

struct nvmf_bdev;

/* What every controller offers hosts (for listings of the transport). */
struct nvmf_ctrl_limits {
	uint32_t max_queue_depth; /* entries */
	uint32_t max_io_queues;
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t kas; /* keep alive granularity, 100 ms units */
};
void nvmf_ctrl_get_limits(struct nvmf_tgt *tgt, struct nvmf_ctrl_limits *l);

/*
 * Asymmetric Namespace Access.  Every namespace is in ANA group 1, the same
 * ID on every gateway; each port reports its own state for it (enum
 * nvme_ana_state: optimized, non-optimized, inaccessible, change).
 * portid 0 sets every port and the state of ports added later.
 * Controllers on the port get an ANA Change event.  0, -EINVAL or -ENOENT.
 */
#define NVMF_ANA_GROUP 1u
int nvmf_tgt_set_ana_state(struct nvmf_tgt *tgt, uint16_t portid, uint8_t state);
/* The port's state (the default for an unknown port). */
uint8_t nvmf_tgt_get_ana_state(struct nvmf_tgt *tgt, uint16_t portid);
/* "optimized", "non_optimized"/"non-optimized", "inaccessible", "change" into the state; -1 if unknown. */
int nvmf_ana_state_parse(const char *name);
/* SPDK's names: "optimized", "non_optimized", "inaccessible", "persistent_loss", "change". */
const char *nvmf_ana_state_name(uint8_t state);

/* Limits of a new subsystem (before hosts connect): max_namespaces 0 is
 * unlimited; cntlid range within 1..0xffef.  0, or -EINVAL. */
int nvmf_subsystem_set_limits(struct nvmf_subsystem *ss, uint32_t max_namespaces, uint16_t min_cntlid,
			      uint16_t max_cntlid);
/* Disconnect its controllers, unlink it from every port, forget it.  0 or -ENOENT. */
int nvmf_tgt_delete_subsystem(struct nvmf_tgt *tgt, const char *nqn);
/* Iterate subsystems in creation order (prev NULL: the first); discovery excluded. */
struct nvmf_subsystem *nvmf_tgt_next_subsystem(struct nvmf_tgt *tgt, struct nvmf_subsystem *prev);

struct nvmf_subsystem_info {
	char nqn[NVME_NQN_FIELD];
	char serial[21];
	char model[41];
	bool allow_any_host;
	uint32_t max_namespaces;
	uint16_t min_cntlid, max_cntlid;
};
void nvmf_subsystem_get_info(struct nvmf_subsystem *ss, struct nvmf_subsystem_info *info);
/* cb runs under the subsystem's lock: it must not call back into ss. */
void nvmf_subsystem_for_each_host(struct nvmf_subsystem *ss, void (*cb)(void *arg, const char *hostnqn), void *arg);

/* Attach a namespace on an open bdev (a reference is taken).  Returns the
 * nsid, or 0 with a message in err; every controller hears of it. */
uint32_t nvmf_subsystem_add_namespace_bdev(struct nvmf_subsystem *ss, uint32_t nsid, struct nvmf_bdev *bdev,
					   const struct nvmf_ns_opts *opts, char *err, size_t errlen);
struct nvmf_ns_info {
	uint32_t nsid;
	const struct nvmf_bdev *bdev;
	uint8_t nguid[16], uuid[16], eui64[8];
	uint32_t block_size;
	uint64_t nblocks;
	uint64_t read_cmds, write_cmds, bytes_read, bytes_written; /* completed, since it was added */
	struct nvmf_latency_snapshot latency; /* I/O commands, arrival to answer */
};
void nvmf_subsystem_for_each_ns(struct nvmf_subsystem *ss, void (*cb)(void *arg, const struct nvmf_ns_info *ns),
				void *arg);
/* Remove every namespace of every subsystem that sits on bdev; returns how many. */
unsigned nvmf_tgt_remove_bdev_namespaces(struct nvmf_tgt *tgt, const struct nvmf_bdev *bdev);

struct nvmf_ctrl_info {
	uint16_t cntlid;
	char hostnqn[NVME_NQN_FIELD];
	uint8_t hostid[16];
	uint16_t portid;	/* where its admin queue arrived */
	unsigned num_io_qpairs;
	uint32_t kato_ms;
	uint64_t read_cmds, write_cmds, bytes_read, bytes_written, errors;
	struct nvmf_latency_snapshot latency; /* I/O commands, arrival to answer */
};
struct nvmf_qpair_info {
	uint16_t cntlid, qid, qsize, portid;
};
void nvmf_subsystem_for_each_ctrl(struct nvmf_subsystem *ss, void (*cb)(void *arg, const struct nvmf_ctrl_info *c),
				  void *arg);
void nvmf_subsystem_for_each_qpair(struct nvmf_subsystem *ss,
				   void (*cb)(void *arg, const struct nvmf_qpair_info *q), void *arg);

/* Terminate associations that match: cntlid 0 = any, hostnqn NULL = any,
 * portid < 0 = any port.  Returns how many were terminated. */
unsigned nvmf_subsystem_disconnect(struct nvmf_subsystem *ss, uint16_t cntlid, const char *hostnqn, int portid,
				   const char *why);

/* Ports.  The port with this address (trtype, traddr, trsvcid); -ENOENT. */
int nvmf_tgt_find_port(struct nvmf_tgt *tgt, const struct nvmf_port_addr *addr, uint16_t *portid);
/* Whether the port exports nqn (every subsystem, or nqn linked). */
bool nvmf_tgt_port_exports(struct nvmf_tgt *tgt, uint16_t portid, const char *nqn);
/* Stop exporting nqn on the port (a port exporting every subsystem then lists
 * the others by name).  Returns how many subsystems it still exports. */
int nvmf_tgt_port_unlink(struct nvmf_tgt *tgt, uint16_t portid, const char *subnqn);
/* Leave a port out of the discovery log while its socket is closed (or back in).  0 or -ENOENT. */
int nvmf_tgt_set_port_offline(struct nvmf_tgt *tgt, uint16_t portid, bool offline);
/* Forget a port (its listening socket must be closed). 0 or -ENOENT. */
int nvmf_tgt_remove_port(struct nvmf_tgt *tgt, uint16_t portid);
/* Every port, in creation order; cb runs without locks held. */
void nvmf_tgt_for_each_port(struct nvmf_tgt *tgt,
			    void (*cb)(void *arg, uint16_t portid, const struct nvmf_port_addr *addr), void *arg);
/* Terminate every association whose admin queue came through portid (discovery too). */
unsigned nvmf_tgt_disconnect_port(struct nvmf_tgt *tgt, uint16_t portid, const char *why);

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
/*
 * For transports without a socket per queue pair (vfio-user): make(make_arg,
 * na, params) creates the queue pair on the port's association with the
 * connection's callbacks in params.  NULL with errno.
 */
struct nvmf_association;
struct nvmf_qpair;
struct nvmf_qpair_params;
typedef struct nvmf_qpair *(*nvmf_conn_qpair_maker)(void *make_arg, struct nvmf_association *na,
						     const struct nvmf_qpair_params *params);
struct nvmf_conn *nvmf_conn_create_with(struct nvmf_tgt *tgt, uint16_t portid, const struct nvmf_conn_env *env,
					nvmf_conn_qpair_maker make, void *make_arg);
/*
 * The transport saw the host misbehave in a way the NVMe specification
 * reports as an Error asynchronous event (PCIe: an invalid doorbell write;
 * info 0 write to an invalid doorbell register, 1 invalid doorbell write
 * value).  Any thread; answered on conn's controller's admin queue.
 */
void nvmf_conn_report_error_event(struct nvmf_conn *conn, uint8_t info);
/* A PCIe controller reset ends the Asynchronous Event Requests conn (an admin
 * queue) holds: they are answered Aborted - SQ Deletion (call on conn's thread). */
void nvmf_conn_abort_events(struct nvmf_conn *conn);
/* The connection's queue pair (NULL once it has closed). */
struct nvmf_qpair *nvmf_conn_qpair(const struct nvmf_conn *conn);
int nvmf_conn_fd(const struct nvmf_conn *conn);
bool nvmf_conn_want_write(const struct nvmf_conn *conn);
/* Input is taken (false while the peer leaves too much output unread): watch for it. */
bool nvmf_conn_want_read(const struct nvmf_conn *conn);
/* Handle what arrived and retry deferred work.  Returns work done (>= 0). */
int nvmf_conn_process(struct nvmf_conn *conn);
/*
 * Send what completions queued, without reading: for a connection whose
 * input this pass has read already or whose fd did not poll readable.  Falls
 * back to nvmf_conn_process() for work a send cannot do (deferred commands,
 * input held back, a failed write).  Returns work done (>= 0).
 */
int nvmf_conn_send(struct nvmf_conn *conn);
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
