/*
 * Internals shared by the generic transport layer and each transport:
 * the ops table a transport registers for its trtype, and the generic
 * association, queue pair and capsule that a transport's own structures
 * embed as their first member.
 */
#ifndef NVMF_TRANSPORT_INTERNAL_H
#define NVMF_TRANSPORT_INTERNAL_H

#include <stdatomic.h>

#include <nvmf/transport.h>

/* receive_data's flags: buf is a namespace's storage (nvmf_controller_receive_to_storage). */
#define NVMF_RECEIVE_TO_STORAGE 1u

struct nvmf_transport_ops {
	enum nvmf_trtype trtype;
	const char *name;
	/* Data transfers are copies to and from mapped host memory, done before the call returns. */
	bool copies_at_once;

	struct nvmf_association *(*association_alloc)(bool controller, const struct nvmf_association_params *p);
	void (*association_free)(struct nvmf_association *na);

	/* Returns a queue pair with the generic part zeroed except what the transport sets. */
	struct nvmf_qpair *(*qpair_alloc)(struct nvmf_association *na, const struct nvmf_qpair_params *p);
	/* Stop all I/O, run pending callbacks with ECONNABORTED, close the connection. */
	void (*qpair_close)(struct nvmf_qpair *qp);
	/* Release the memory (no capsule refers to it any more). */
	void (*qpair_destroy)(struct nvmf_qpair *qp);
	int (*process)(struct nvmf_qpair *qp);
	int (*flush)(struct nvmf_qpair *qp);
	bool (*want_write)(const struct nvmf_qpair *qp);
	bool (*want_read)(const struct nvmf_qpair *qp);
	void (*set_limits)(struct nvmf_qpair *qp, const struct nvmf_qpair_limits *limits);
	unsigned (*outstanding)(const struct nvmf_qpair *qp);

	struct nvmf_capsule *(*capsule_alloc)(struct nvmf_qpair *qp);
	void (*capsule_free)(struct nvmf_capsule *nc);
	int (*capsule_transmit)(struct nvmf_capsule *nc);

	uint16_t (*validate_command)(const struct nvmf_capsule *nc);
	size_t (*data_len)(const struct nvmf_capsule *nc);
	const void *(*incapsule_data)(const struct nvmf_capsule *nc, size_t *len);
	/* flags: NVMF_RECEIVE_TO_STORAGE or 0. */
	int (*receive_data)(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len, unsigned flags,
			    nvmf_data_done_cb cb, void *arg);
	int (*send_data)(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt, bool last,
			 nvmf_data_done_cb cb, void *arg);
	int (*send_response)(struct nvmf_capsule *nc, const struct nvme_completion *cqe);
	/* Optional (NULL: -EOPNOTSUPP): nvmf_controller_send_nothing / receive_nothing. */
	int (*send_nothing)(struct nvmf_capsule *nc, uint32_t offset, size_t len, bool last, nvmf_data_done_cb cb,
			    void *arg);
	int (*receive_nothing)(struct nvmf_capsule *nc, uint32_t offset, size_t len, nvmf_data_done_cb cb, void *arg);
	/* Optional: nvmf_controller_identify_ctrl. */
	void (*identify_ctrl)(const struct nvmf_qpair *qp, struct nvme_id_ctrl *id);
};

struct nvmf_association {
	const struct nvmf_transport_ops *ops;
	bool controller;
	struct nvmf_association_params params;
	/* The creator's plus one per queue pair; atomic since the queue pairs
	 * of one association are owned by different threads. */
	atomic_uint refs;
};

enum nvmf_qpair_connect_state {
	NVMF_QP_UNCONNECTED, /* only a Connect is accepted */
	NVMF_QP_CONNECTING,  /* a Connect is with the controller core, unanswered */
	NVMF_QP_CONNECTED,   /* the Connect succeeded: qid, qsize, SQ flow control fixed */
};

struct nvmf_qpair {
	const struct nvmf_transport_ops *ops;
	struct nvmf_association *na;
	int fd; /* set by the transport; closed when the queue pair is destroyed */
	bool admin;
	uint16_t qid;
	uint16_t qsize;
	bool sq_flow_control;
	bool hdgst;
	bool ddgst;
	bool ready;
	bool failed;
	char error[192];
	void *tls; /* the transport's TLS session (an OpenSSL SSL *) while in use */

	/* Controller: Connect, queue size and SQ head, kept here once for every
	 * transport (see nvmf_qpair_command_received). */
	enum nvmf_qpair_connect_state connect_state;
	struct nvmf_capsule *connect_nc; /* the Connect whose response is pending */
	uint16_t sqhd;
	unsigned commands; /* received and not yet answered */
	uint64_t *cid_busy; /* bitmap of CIDs in use: a reuse is a Command ID Conflict */
	struct nvmf_capsule *held[NVMF_HELD_COMMANDS]; /* see nvmf_controller_hold_command */
	unsigned nheld; /* non-NULL entries of held */

	nvmf_receive_cb receive_cb;
	nvmf_error_cb error_cb;
	void *cb_arg;

	/* Commands waiting for nvmf_controller_receive_capsule() when receive_cb is NULL. */
	struct nvmf_capsule *rxq_head, *rxq_tail;

	unsigned refs;	  /* the owner's plus one per allocated capsule */
	unsigned busy;	  /* nesting depth of calls that may run callbacks */
	bool user_freed;  /* nvmf_qpair_free() has been called */
	bool free_deferred; /* ... from inside a callback: drop the reference on leaving */
};

/* capsule_init() in transport.c sets each field by name: a new field needs its line there. */
struct nvmf_capsule {
	struct nvmf_qpair *qp;
	struct nvme_command sqe;
	/* Host: the command's data buffer. */
	void *data;
	size_t data_len;
	bool send;
	size_t transferred;
	nvmf_command_done_cb done;
	void *done_arg;
	/* Controller: holds a CID and a place in the queue until answered. */
	bool pending;
	/* Blocking-layer receive queue link. */
	struct nvmf_capsule *rxq_next;
};

/* Look up a registered transport; NULL when none serves this trtype. */
const struct nvmf_transport_ops *nvmf_transport_lookup(enum nvmf_trtype trtype);

/*
 * Called by a transport that allocates its queue pairs itself (vfio-user):
 * set up the generic part of qp as nvmf_qpair_create() does.  0, or -ENOMEM
 * (qp has then been closed and released).
 */
int nvmf_qpair_setup(struct nvmf_qpair *qp, struct nvmf_association *na, const struct nvmf_qpair_params *params);

/* Called by a transport: a capsule for the command sqe just received (holds a queue pair
 * reference), or NULL when the transport has none to give. */
struct nvmf_capsule *nvmf_capsule_alloc_received(struct nvmf_qpair *qp, const struct nvme_command *sqe);
/*
 * Called by a controller-side transport for each command capsule received
 * whole (digest_ok false: its data digest failed).  Advances the SQ head,
 * answers what the transport-independent rules reject (a data digest error,
 * a CID still in use, a command before Connect) and takes the queue's ID,
 * size and SQ flow control from a Connect; hands the rest to the owner.
 */
void nvmf_qpair_command_received(struct nvmf_qpair *qp, struct nvmf_capsule *nc, bool digest_ok);
/* Controller: the host has as many commands outstanding as the queue has entries (one more is an error). */
bool nvmf_qpair_sq_full(const struct nvmf_qpair *qp);
/* In-capsule data the queue accepts now (before Connect: enough for either queue type). */
uint32_t nvmf_qpair_incapsule_limit(const struct nvmf_qpair *qp);
/* Called by a transport when the queue pair fails: records why and calls error_cb once. */
void nvmf_qpair_report_error(struct nvmf_qpair *qp, int error, const char *why);

/* Bracket code that may run user callbacks, so nvmf_qpair_free() from inside one is deferred. */
static inline void nvmf_qpair_enter(struct nvmf_qpair *qp) { qp->busy++; }
void nvmf_qpair_leave(struct nvmf_qpair *qp);
/* Reference counting of queue pairs by capsules. */
void nvmf_qpair_put(struct nvmf_qpair *qp);

/* Transports. */
extern const struct nvmf_transport_ops nvmf_tcp_ops;
extern const struct nvmf_transport_ops nvmf_vfio_user_ops;

#endif
