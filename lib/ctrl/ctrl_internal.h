/* Structures shared by the files of the controller core. */
#ifndef NVMF_CTRL_INTERNAL_H
#define NVMF_CTRL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <nvmf/nvme_admin_spec.h>
#include <nvmf/transport.h>

#include "bdev/bdev.h"
#include "buf_pool.h"
#include "io_tally.h"
#include "status.h"
#include "target.h"
#include "util/latency.h"

/* Capabilities every controller advertises. */
#define NVMF_CTRL_MDTS 5 /* 2^5 * 4 KiB = 128 KiB per command */
#define NVMF_CTRL_MAX_XFER (4096u << NVMF_CTRL_MDTS)
#define NVMF_CTRL_MAX_IO_QUEUES NVMF_MAX_IO_QUEUES /* the most a target may grant */
#define NVMF_CTRL_AERL 3 /* 0's based: 4 outstanding AERs */
#define NVMF_CTRL_KAS 1 /* keep alive granularity: 100 ms */
#define NVMF_CTRL_ANATT 10 /* seconds a host waits in the ANA change state */
#define NVMF_CTRL_MNAN 1024 /* namespaces the ANA log has room for at least */
#define NVMF_CTRL_IOCCSZ_BYTES 8192 /* in-capsule data accepted on I/O queues */
#define NVMF_MAX_CNTLID 0xffef
#define NVMF_CONNECT_DEADLINE_MS 10000 /* a socket that sends no Connect by then is closed */

/* ---- Namespaces ---- */

struct nvmf_range {
	uint64_t start, end; /* blocks [start, end) */
	bool exclusive;
	struct nvmf_range *next;
};

/* I/O completed on a namespace, for its statistics. */
struct nvmf_ns_stats {
	atomic_uint_fast64_t read_cmds, write_cmds, bytes_read, bytes_written;
	struct nvmf_latency latency; /* of every I/O command, from its arrival to its answer */
};

struct nvmf_namespace {
	atomic_int refs;
	struct nvmf_ns_stats stats;
	uint32_t nsid;
	struct nvmf_bdev *bdev;
	uint32_t block_size;
	uint8_t lbads;
	uint64_t nblocks;
	uint8_t nguid[16];
	uint8_t uuid[16];
	uint8_t eui64[8];
	/* The subsystem it is attached to (NULL before and after), for size changes reported by the backend. */
	_Atomic(struct nvmf_subsystem *) owner;
	/* The owner's: the namespace calls it when its capacity changed (never up into subsystem.c). */
	void (*on_resized)(struct nvmf_subsystem *owner, uint32_t nsid);
	/* LBA ranges held by writers; Compare and Write holds its range exclusively. */
	pthread_mutex_t range_lock;
	struct nvmf_range *ranges;
};

struct nvmf_namespace *nvmf_ns_create(const char *subnqn, uint32_t nsid, const char *spec,
				      const struct nvmf_ns_opts *opts, char *err, size_t errlen);
/* Same on an open bdev; takes over the caller's reference to it (closed on failure). */
struct nvmf_namespace *nvmf_ns_create_on_bdev(const char *subnqn, uint32_t nsid, struct nvmf_bdev *bdev,
					      const struct nvmf_ns_opts *opts, char *err, size_t errlen);
/* Count a completed read or write of bytes on ns. */
static inline void nvmf_ns_count_io(struct nvmf_namespace *ns, bool write, uint64_t bytes)
{
	atomic_fetch_add_explicit(write ? &ns->stats.write_cmds : &ns->stats.read_cmds, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(write ? &ns->stats.bytes_written : &ns->stats.bytes_read, bytes, memory_order_relaxed);
}
void nvmf_ns_get(struct nvmf_namespace *ns);
void nvmf_ns_put(struct nvmf_namespace *ns);
/* Try to hold [slba, slba + nlb); false when it conflicts (retry later). */
bool nvmf_ns_range_acquire(struct nvmf_namespace *ns, struct nvmf_range *r, uint64_t slba, uint64_t nlb,
			   bool exclusive);
void nvmf_ns_range_release(struct nvmf_namespace *ns, struct nvmf_range *r);
/* A stable 16-byte identity from some strings (SHA-256 truncated). */
void nvmf_derive_id(uint8_t out[16], const char *a, const char *b, const char *c);

/* ---- Target, ports ---- */

struct nvmf_port {
	uint16_t portid;
	struct nvmf_port_addr addr;
	struct nvmf_association *na; /* shared by every queue pair accepted here */
	bool all_subsystems;
	bool offline; /* its socket is closed for now: not in the discovery log */
	uint8_t ana_state; /* enum nvme_ana_state this gateway reports through this port */
	char **subnqns;
	unsigned nsubnqns;
};

/* The association of a port's queue pairs; call with tgt->lock held. */
struct nvmf_association *nvmf_tgt_port_association(struct nvmf_tgt *tgt, uint16_t portid);

struct nvmf_subsystem;

struct nvmf_tgt {
	pthread_mutex_t lock; /* subsystems and ports */
	struct nvmf_subsystem *subsystems; /* list */
	struct nvmf_subsystem *discovery;
	struct nvmf_port *ports;
	unsigned nports;
	atomic_uint_fast64_t genctr;
	/* ANA: the state of ports added later, and the change count of the ANA log. */
	uint8_t default_ana_state;
	atomic_uint_fast64_t ana_chgcnt;
	/* Deleted subsystems: controllers may still point at them until the target goes. */
	struct nvmf_subsystem *retired;
	struct nvmf_association **retired_assocs; /* of removed ports */
	unsigned nretired_assocs;
	/* Each connection makes its own association from these: the transport's
	 * association reference count is not thread-safe, and connections live on many threads. */
	struct nvmf_association_params assoc_params;
	/* See struct nvmf_tgt_limits; read by every reactor. */
	atomic_uint queue_entries, io_queues, associations;
	/* Data buffers of every request, under one process-wide budget; a queue may hold this much of it. */
	struct nvmf_buf_pool *bufs;
	atomic_size_t queue_buffer_cap;
	/* TLS handshakes of every port that has TLS (tls.c); made on first use, under lock. */
	struct nvmf_tls_server *tls;
};

/* events.c: the discovery log changed (bump genctr, tell discovery controllers). */
void nvmf_tgt_changed(struct nvmf_tgt *tgt);
/* The port's subsystem list allows nqn (locks tgt). */
bool nvmf_tgt_port_allows(struct nvmf_tgt *tgt, uint16_t portid, const char *nqn);

/* ---- Subsystems ---- */

struct nvmf_controller;

struct nvmf_subsystem {
	struct nvmf_tgt *tgt;
	struct nvmf_subsystem *next;
	char nqn[NVME_NQN_FIELD];
	char serial[21];
	char model[41];
	bool discovery;
	/* Everything below is under lock. */
	pthread_mutex_t lock;
	bool allow_any_host;
	char **hosts;
	unsigned nhosts;
	struct nvmf_namespace **ns; /* indexed by nsid - 1 */
	uint32_t ns_slots;
	struct nvmf_controller **ctrls; /* indexed by cntlid */
	unsigned nctrls;
	uint16_t next_cntlid;
	/* Limits set at creation (target_mgmt.c); 0: none. */
	uint32_t max_namespaces;
	uint16_t min_cntlid, max_cntlid;
	struct nvmf_host_keys *host_keys; /* DH-HMAC-CHAP and TLS keys per host (auth.c) */
	struct nvmf_subsystem *retired_next; /* deleted, freed with the target */
};

struct nvmf_subsystem *nvmf_subsystem_create_discovery(struct nvmf_tgt *tgt);
void nvmf_subsystem_destroy(struct nvmf_subsystem *ss);
bool nvmf_subsystem_host_allowed(struct nvmf_subsystem *ss, const char *hostnqn);
/* A reference to namespace nsid, or NULL when it is not active. */
struct nvmf_namespace *nvmf_subsystem_get_ns(struct nvmf_subsystem *ss, uint32_t nsid);
/* Active NSIDs above after, ascending, at most max; returns how many. */
unsigned nvmf_subsystem_active_nsids(struct nvmf_subsystem *ss, uint32_t after, uint32_t *out, unsigned max);
uint32_t nvmf_subsystem_max_nsid(struct nvmf_subsystem *ss);
/* The nsid for a new namespace (0: the lowest free): free and within max_namespaces.  The nsid, or 0
 * with a message in err. */
uint32_t nvmf_subsystem_pick_nsid(struct nvmf_subsystem *ss, uint32_t nsid, char *err, size_t errlen);
/* Put ns (its reference) at its nsid and tell the controllers.  Returns the nsid, or 0 with a
 * message in err (nsid in use, memory short; ns is put). */
uint32_t nvmf_subsystem_attach_ns(struct nvmf_subsystem *ss, struct nvmf_namespace *ns, char *err, size_t errlen);
/* Namespace nsid changed size: a Namespace Attribute Changed event to every controller (any thread). */
void nvmf_subsystem_ns_resized(struct nvmf_subsystem *ss, uint32_t nsid);
/* Allocate a controller ID for ctrl (0 when none is free). */
uint16_t nvmf_subsystem_add_ctrl(struct nvmf_subsystem *ss, struct nvmf_controller *ctrl);
void nvmf_subsystem_remove_ctrl(struct nvmf_subsystem *ss, struct nvmf_controller *ctrl);
/* A reference to the controller cntlid, or NULL. */
struct nvmf_controller *nvmf_subsystem_get_ctrl(struct nvmf_subsystem *ss, uint16_t cntlid);

/* ---- Connections ---- */

struct nvmf_conn;
struct nvmf_request;

/*
 * What the layers below conn.c may ask of a queue without calling up into
 * it: the dispatcher registers these when it creates the connection.
 */
struct nvmf_queue_ops {
	/* Close the queue on its own thread; callable from any thread. */
	void (*post_close)(struct nvmf_conn *conn);
	/* The queue is closing and its last backend request has finished. */
	void (*drained)(struct nvmf_conn *conn);
};

struct nvmf_conn {
	atomic_int refs;
	const struct nvmf_queue_ops *ops;
	struct nvmf_tgt *tgt;
	struct nvmf_qpair *qp;
	struct nvmf_conn_env env;
	uint16_t portid;
	char peer[64]; /* "ADDR:PORT" of the host, for messages (read at creation: later the socket may be gone) */
	uint64_t created_ms;
	bool connected;
	bool admin;
	uint16_t qid;
	uint16_t qsize;
	struct nvmf_controller *ctrl;
	bool closing;
	bool closed;
	bool failed;
	/* A command came in this nvmf_conn_process: the controller is touched once, at its end. */
	bool seen;
	struct nvmf_request *free_reqs;
	unsigned nreqs;
	unsigned busy;	  /* requests taken */
	unsigned in_bdev; /* requests waiting on the backend */
	size_t buf_bytes; /* data buffers its requests hold */
	/* Requests waiting to be resumed on the next pass (buffers, LBA ranges). */
	struct nvmf_request *deferred;
	struct nvmf_request *deferred_tail;
	/* Fused first half waiting for its second command. */
	struct nvmf_request *fused_first;
	/* In-band authentication (auth.c): required since Connect, and the transaction. */
	bool auth_required;
	uint64_t auth_since_ms;
	struct nvmf_dhchap_ctrl *auth;
	/* Latencies of its answered I/O commands, folded once per pass. */
	struct nvmf_io_tally tally;
};

/* ---- Controllers ---- */

struct nvmf_smart_counters {
	atomic_uint_fast64_t blocks512_read; /* 512-byte units */
	atomic_uint_fast64_t blocks512_written;
	atomic_uint_fast64_t read_cmds;
	atomic_uint_fast64_t write_cmds;
};

struct nvmf_controller {
	atomic_int refs;
	uint16_t cntlid;
	struct nvmf_subsystem *ss;
	struct nvmf_tgt *tgt;
	bool discovery;
	char hostnqn[NVME_NQN_FIELD];
	uint8_t hostid[16];
	uint64_t created_ms;

	pthread_mutex_t lock; /* queues, registers, events */
	atomic_bool dead; /* read without the lock by I/O queues */
	struct nvmf_conn *admin;
	struct nvmf_conn_env admin_env; /* to reach the admin queue's thread */
	struct nvmf_conn *io[NVMF_CTRL_MAX_IO_QUEUES + 1];
	uint32_t cc;
	atomic_uint csts;
	uint32_t kato_ms;
	atomic_uint_fast64_t last_seen_ms;
	uint32_t num_io_queues; /* granted by Set Features */
	uint32_t aec;
	atomic_bool vwc_enabled; /* set on the admin queue, read by I/O queues on other reactors */
	uint32_t changed_ns[NVME_CHANGED_NS_MAX];
	unsigned nchanged;
	bool changed_overflow;
	uint32_t pending_events; /* AER DW0 bits waiting for an AER: see controller.c */
	bool ns_event_masked; /* until the changed namespace log is read */
	bool disc_event_masked; /* until the discovery log is read */
	uint8_t error_event_info; /* of the pending transport error event */
	bool ana_event_masked; /* until the ANA log is read */
	uint16_t portid; /* where the admin queue connected: its ANA state is this controller's */
	atomic_uchar ana_state; /* read by I/O queues on other reactors */
	struct nvmf_smart_counters smart;
	atomic_uint_fast64_t error_count;
	struct nvmf_latency io_latency; /* of the I/O commands of all its queues */
	/* Held AERs (admin queue thread only). */
	struct nvmf_request *aers[NVMF_CTRL_AERL + 1];
	unsigned naers;
};

static inline void nvmf_ctrl_get(struct nvmf_controller *ctrl)
{
	atomic_fetch_add(&ctrl->refs, 1);
}

static inline void nvmf_ctrl_put(struct nvmf_controller *ctrl)
{
	if (atomic_fetch_sub(&ctrl->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&ctrl->lock);
	free(ctrl);
}

/* controller.c: lifecycle and registers. */

/* A new controller for the admin queue conn (the Connect's host identity); NULL when none can be made. */
struct nvmf_controller *nvmf_ctrl_create(struct nvmf_conn *conn, struct nvmf_subsystem *ss, const char *hostnqn,
					 const uint8_t hostid[16], uint32_t kato_ms);
/*
 * Join I/O queue conn (qid) to ctrl, checked and done under one lock so a
 * reset cannot slip between them.  0, or the Connect status to answer with.
 */
uint16_t nvmf_ctrl_add_io_queue(struct nvmf_controller *ctrl, struct nvmf_conn *conn, uint16_t qid);
/* The controller accepts commands (CC.EN = 1 and CSTS.RDY = 1). */
bool nvmf_ctrl_ready(struct nvmf_controller *ctrl);
uint32_t nvmf_ctrl_get_cc(struct nvmf_controller *ctrl);
/* Write CC: enable, reset (I/O queues closed) and shutdown.  False when the value is invalid. */
bool nvmf_ctrl_set_cc(struct nvmf_controller *ctrl, uint32_t cc);
/* A queue of ctrl closed (on the queue's thread). */
void nvmf_ctrl_queue_closed(struct nvmf_controller *ctrl, struct nvmf_conn *conn);
/* Tear the association down: close every queue, free the controller ID. */
void nvmf_ctrl_destroy(struct nvmf_controller *ctrl, const char *why);

/* keepalive.c: the host showed life; the timer check (admin queue thread). */
void nvmf_ctrl_touch(struct nvmf_controller *ctrl);
void nvmf_ctrl_keepalive_check(struct nvmf_controller *ctrl, uint64_t now_ms);

/* events.c: asynchronous events and the AERs held for them. */
void nvmf_ctrl_ns_changed(struct nvmf_controller *ctrl, uint32_t nsid);
/* The ANA state of the controller's port changed (any thread). */
void nvmf_ctrl_ana_changed(struct nvmf_controller *ctrl, uint8_t state);
/* ana.c: the ANA log page for ctrl (RGO: groups without their NSID lists); malloc'd, its size in *len. */
void *nvmf_ana_log_build(struct nvmf_controller *ctrl, bool groups_only, size_t *len);
void nvmf_ctrl_discovery_changed(struct nvmf_controller *ctrl);
/* Hold an AER (admin queue thread).  False when AERL are already held. */
bool nvmf_ctrl_hold_aer(struct nvmf_controller *ctrl, struct nvmf_request *req);
/* Complete held AERs with pending events (admin queue thread). */
void nvmf_ctrl_deliver_events(struct nvmf_controller *ctrl);
/* Answer every held AER with Aborted - SQ Deletion (admin queue closing). */
void nvmf_ctrl_abort_aers(struct nvmf_controller *ctrl);

/* auth.c: DH-HMAC-CHAP on a queue. */

/* The Connect of conn for hostnqn succeeds: the AUTHREQ bits for its response (0: no authentication). */
uint32_t nvmf_auth_on_connect(struct nvmf_conn *conn, struct nvmf_subsystem *ss, const char *hostnqn);
/* Commands other than Connect, Authentication Send/Receive get Authentication Required. */
bool nvmf_auth_blocks(const struct nvmf_conn *conn);
/* Close a queue whose host leaves authentication unfinished. */
void nvmf_auth_timer(struct nvmf_conn *conn, uint64_t now_ms);
void nvmf_auth_conn_free(struct nvmf_conn *conn);
enum nvmf_exec nvmf_auth_send(struct nvmf_request *req);
enum nvmf_exec nvmf_auth_receive(struct nvmf_request *req);
/* The host's configured TLS PSK; false when it has none. */
struct nvmf_tls_configured_psk;
bool nvmf_subsystem_host_tls_psk(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_tls_configured_psk *out);

/* tls.c: TLS on a port's connections. */

/* The SSL object for a new connection on a port with TLS (NULL when the port has none, or on failure:
 * *failed tells).  Call with tgt->lock held. */
void *nvmf_tls_conn_ssl(struct nvmf_tgt *tgt, const struct nvmf_port *port, bool *failed);
/* A Connect on a TLS queue must name the NQNs of its PSK identity: 0, or the refusal (IPO in *ipo). */
uint16_t nvmf_tls_check_connect(struct nvmf_conn *conn, const char *hostnqn, const char *subnqn, uint32_t *ipo,
				const char **why);
/* The queue pair failed before Connect: say why when it was TLS (once, rate limited). */
void nvmf_tls_log_failure(struct nvmf_conn *conn);
void nvmf_tls_tgt_free(struct nvmf_tgt *tgt);

/* Forget one host's keys / every host's (ss->lock held). */
void nvmf_subsystem_drop_host_dhchap(struct nvmf_subsystem *ss, const char *hostnqn);
void nvmf_subsystem_drop_all_dhchap(struct nvmf_subsystem *ss);
struct nvmf_dhchap_keys;
/* host_keys.c: a copy of the host's DH-HMAC-CHAP keys as configured now; false when it has none. */
bool nvmf_subsystem_host_dhchap_keys(struct nvmf_subsystem *ss, const char *hostnqn, struct nvmf_dhchap_keys *out);

/* ---- Command handlers (dispatched by conn.c) ---- */

#include "request.h"

enum nvmf_exec nvmf_fabrics_execute(struct nvmf_request *req);
enum nvmf_exec nvmf_admin_execute(struct nvmf_request *req);
enum nvmf_exec nvmf_io_execute(struct nvmf_request *req);
/* Fused Compare then Write: both halves collected. */
void nvmf_io_execute_fused(struct nvmf_request *first, struct nvmf_request *second);
/* The discovery log page, built fresh for the host (malloc'd, *len bytes). */
void *nvmf_discovery_log_build(struct nvmf_tgt *tgt, const char *hostnqn, size_t *len);

#endif
