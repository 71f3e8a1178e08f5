/*
 * The transport layer: associations, queue pairs and capsules.
 *
 * Shaped after FreeBSD's libnvmf and nvmf_transport: an association holds
 * the parameters shared by its queue pairs; a queue pair moves capsules
 * (a command or a response, with an optional data buffer) over one
 * connection; each transport implements an ops table registered by
 * transport type.  Nothing here knows about controllers or namespaces.
 *
 * The core is non-blocking and event driven.  A queue pair belongs to one
 * thread at a time.  Its owner polls nvmf_qpair_fd() and calls
 * nvmf_qpair_process(), which reads what the connection has, handles every
 * complete PDU (running the callbacks below from inside the call) and
 * writes what is queued.  Transmit calls only queue: output leaves on the
 * next nvmf_qpair_process() or nvmf_qpair_flush(), so a batch of commands
 * or responses goes out in as few system calls as possible.
 *
 * Poll level-triggered: one call reads a bounded amount of input (the
 * read budget, see struct nvmf_qpair_limits) so that a busy connection
 * cannot starve the others on its thread.  A queue pair whose peer leaves
 * its output unread stops taking input once the output waiting reaches its
 * transmit backlog limit: nvmf_qpair_want_read() turns false, and the owner
 * polls for POLLOUT only until a later process()/flush() has written enough.
 *
 * Every callback registered for a capsule or a data transfer runs exactly
 * once: on success, or with an error when the queue pair fails or is freed.
 *
 * In the blocking layer a timeout_ms <= 0 waits without limit.
 *
 * A blocking convenience layer (nvmf_connect, nvmf_accept, ...) sits on
 * top for simple tools and tests.
 */
#ifndef NVMF_TRANSPORT_H
#define NVMF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <nvmf/fabrics_spec.h>
#include <nvmf/nvme_spec.h>

struct nvmf_association;
struct nvmf_qpair;
struct nvmf_capsule;

/* In-capsule data accepted on an admin queue (NVMe/TCP: 8 KiB, as Linux uses). */
#define NVMF_ADMIN_INCAPSULE_DATA 8192

struct nvmf_association_params {
	/* Host: keep SQ flow control (false sets CATTR "disable SQ flow
	 * control" in Connect).  Controller: false lets hosts disable it. */
	bool sq_flow_control;
	/* Host: request digests.  Controller: accept digests a host requests. */
	bool header_digests;
	bool data_digests;
	/* Host: HPDA.  Controller: CPDA.  Alignment is (pda + 1) * 4 bytes. */
	uint8_t pda;
	/* Host: MAXR2T offered (0's based: 0 means one R2T per command). */
	uint32_t maxr2t;
	/* Controller: MAXH2CDATA advertised (>= 4096, a multiple of 4). */
	uint32_t maxh2cdata;
	/* Controller: in-capsule data bytes accepted on I/O queues.
	 * Host: the controller's limit (IOCCSZ * 16 - 64 from Identify),
	 * 0 until known; writes up to this size go in-capsule. */
	uint32_t ioccsz;
};

/* Create an association for a transport; NULL with errno on failure. */
struct nvmf_association *nvmf_association_create(enum nvmf_trtype trtype, bool controller,
						 const struct nvmf_association_params *params);
/* Host: set the in-capsule data limit learned from Identify Controller. */
void nvmf_association_set_ioccsz(struct nvmf_association *na, uint32_t bytes);
/* Drop the caller's reference; queue pairs hold their own. */
void nvmf_association_free(struct nvmf_association *na);
const struct nvmf_association_params *nvmf_association_params(const struct nvmf_association *na);
bool nvmf_association_is_controller(const struct nvmf_association *na);

/*
 * Controller: a command capsule arrived.  The receiver owns nc and frees it
 * with nvmf_capsule_free() once it has answered (or abandoned) it.  The
 * transport itself answers a command sent before Connect (Command Sequence
 * Error) and in-capsule data with a bad digest (Transient Transport Error).
 * Host: never called (responses go to the command's done callback).
 */
typedef void (*nvmf_receive_cb)(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc);
/* The queue pair failed (peer closed, termination request, bad PDU). Called once. */
typedef void (*nvmf_error_cb)(void *arg, struct nvmf_qpair *qp, int error);

/*
 * Resource limits of one queue pair (0 in a field: the transport's default).
 * read_budget: bytes one nvmf_qpair_process() call reads at most (NVMe/TCP
 * default 1 MiB).  max_pdus: protocol data units (commands, data transfers)
 * one call handles at most (default no limit).  tx_backlog: once the output
 * waiting for the peer (PDU bytes plus the transport's bookkeeping per PDU)
 * reaches this, the queue pair reads and handles no more input until it
 * falls below again (default no limit).  Input read but not handled because
 * of max_pdus or a full backlog waits in the queue pair; want_write() stays
 * true meanwhile, so that the owner calls process() again when the socket
 * is writable (at once, unless output is stuck).
 */
struct nvmf_qpair_limits {
	size_t read_budget;
	unsigned max_pdus;
	size_t tx_backlog;
};

struct nvmf_qpair_params {
	bool admin;
	/* Host only: queue ID and number of entries (SQSIZE + 1). */
	uint16_t qid;
	uint16_t qsize;
	/* A connected stream socket; the queue pair owns it from now on. */
	int fd;
	/* NULL receive_cb: command capsules are queued for
	 * nvmf_controller_receive_capsule() (the blocking layer). */
	nvmf_receive_cb receive_cb;
	nvmf_error_cb error_cb;
	void *cb_arg;
	struct nvmf_qpair_limits limits;
	/* TLS 1.3 under the queue pair: an OpenSSL SSL object (lib/auth/tls.h makes
	 * them) that the queue pair owns from now on, as the fd; NULL: plain TCP.
	 * Controller, tls_optional: a peer that opens with a plain ICReq instead of
	 * a ClientHello goes on without TLS. */
	void *tls;
	bool tls_optional;
};

/*
 * Create a queue pair on a connected socket.  Never blocks: a host queues
 * its ICReq; a controller waits for one.  The transport handshake finishes
 * inside nvmf_qpair_process(); nvmf_qpair_ready() tells when.
 * NULL with errno on failure (the fd is closed).
 */
struct nvmf_qpair *nvmf_qpair_create(struct nvmf_association *na, const struct nvmf_qpair_params *params);
/* Close the connection; pending callbacks run with ECONNABORTED. */
void nvmf_qpair_free(struct nvmf_qpair *qp);
/* Replace the callbacks (for handing a queue pair to another owner). */
void nvmf_qpair_set_callbacks(struct nvmf_qpair *qp, nvmf_receive_cb receive_cb, nvmf_error_cb error_cb,
			      void *cb_arg);

int nvmf_qpair_fd(const struct nvmf_qpair *qp);
/*
 * Read (up to the read budget, while the transmit backlog is below its
 * limit; a full backlog is written first) and handle what arrived (up to
 * max_pdus), then flush.  Never blocks.
 * Returns the number of PDUs handled (>= 0) while the queue pair is alive,
 * or a negative errno once it has failed (error_cb has run).
 * After a fatal protocol error the pending callbacks run at once, but the
 * termination request may have to wait for the peer to read: the queue pair
 * keeps flushing it from process()/flush() (want_write stays true) and
 * reports the failure once it is out, or after about a second without
 * progress.  Poll it with a timeout so that second can pass.
 */
int nvmf_qpair_process(struct nvmf_qpair *qp);
/* Write queued output.  0 when all is out, -EAGAIN when some remains, other negative errno on failure. */
int nvmf_qpair_flush(struct nvmf_qpair *qp);
/* Output is waiting for the socket to drain, or input held back by the
 * limits waits to be handled: poll for POLLOUT too. */
bool nvmf_qpair_want_write(const struct nvmf_qpair *qp);
/*
 * Input is taken: poll for POLLIN.  False while the transmit backlog is at
 * its limit (want_write is then true: poll for POLLOUT alone, and call
 * process() when it comes; process() writes first, then reads again if the
 * backlog has fallen below the limit).  Also false once the queue pair failed.
 */
bool nvmf_qpair_want_read(const struct nvmf_qpair *qp);
/* Change the limits (0 fields: the transport's defaults); takes effect on the next call. */
void nvmf_qpair_set_limits(struct nvmf_qpair *qp, const struct nvmf_qpair_limits *limits);
/* The transport handshake (NVMe/TCP ICReq/ICResp) has completed. */
bool nvmf_qpair_ready(const struct nvmf_qpair *qp);
bool nvmf_qpair_failed(const struct nvmf_qpair *qp);
/* Why the queue pair failed, for messages; "" while it has not. */
const char *nvmf_qpair_error(const struct nvmf_qpair *qp);
/* The queue pair's TLS session (an OpenSSL SSL *), or NULL on plain TCP. */
void *nvmf_qpair_tls(const struct nvmf_qpair *qp);

bool nvmf_qpair_is_admin(const struct nvmf_qpair *qp);
uint16_t nvmf_qpair_qid(const struct nvmf_qpair *qp);
/* Queue entries (SQSIZE + 1): set by the host at creation, learned from Connect by a controller. */
uint16_t nvmf_qpair_qsize(const struct nvmf_qpair *qp);
/* SQ flow control in force (the Connect command did not disable it). */
bool nvmf_qpair_sq_flow_control(const struct nvmf_qpair *qp);
/* Negotiated transport options (after the handshake). */
bool nvmf_qpair_header_digests(const struct nvmf_qpair *qp);
bool nvmf_qpair_data_digests(const struct nvmf_qpair *qp);
/* Commands the host has sent whose responses have not arrived (host). */
unsigned nvmf_qpair_outstanding(const struct nvmf_qpair *qp);

/* ---- Capsules ---- */

/*
 * Host: a command completed.  cqe is the controller's response (or a
 * success synthesized from a C2HData SUCCESS flag: CID, SQID, and SQHD as
 * the host knows it; DW0, DW1 and status zero) and error is 0; or cqe
 * is NULL and error is a negative errno when the queue pair failed.
 * The caller may free nc from inside the callback.
 */
typedef void (*nvmf_command_done_cb)(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe,
				     int error);

/* Host: allocate a command capsule holding a copy of sqe.  NULL with errno. */
struct nvmf_capsule *nvmf_capsule_alloc_command(struct nvmf_qpair *qp, const struct nvme_command *sqe);
/*
 * Host: attach the command's data.  send: host-to-controller (a write).
 * The buffer stays the caller's and must stay valid until the done callback.
 * A write whose capsule is freed before that may still have data queued from
 * the buffer: keep it until nvmf_qpair_want_write() is false or the queue
 * pair is freed.  (Its CID stays busy until that data and the response are in.)
 */
int nvmf_capsule_append_data(struct nvmf_capsule *nc, void *buf, size_t len, bool send);
void nvmf_capsule_set_done(struct nvmf_capsule *nc, nvmf_command_done_cb cb, void *arg);
/*
 * Host: queue the command.  The transport assigns the CID, sets PSDT to
 * SGL and fills the SGL descriptor (in-capsule when the data fits the
 * controller's limit, else a transport SGL).  -EBUSY when the queue is
 * full (all CIDs in use, or with SQ flow control the SQ full by the
 * controller's SQHD and the commands completed by C2HData SUCCESS);
 * -EAGAIN before the transport handshake has completed.
 */
int nvmf_capsule_transmit(struct nvmf_capsule *nc);
/* Host: bytes of data moved so far (reports partial transfers on failure). */
size_t nvmf_capsule_data_transferred(const struct nvmf_capsule *nc);

void nvmf_capsule_free(struct nvmf_capsule *nc);
struct nvmf_qpair *nvmf_capsule_qpair(const struct nvmf_capsule *nc);
/* The submission queue entry (a received command, or the host's own). */
const struct nvme_command *nvmf_capsule_sqe(const struct nvmf_capsule *nc);

/* ---- Controller-side data transfer ---- */

/*
 * Controller: check a received command's SGL against the transport.
 * Returns 0, or the NVMe status (NVME_STATUS(sct, sc)) to answer with:
 * SGL descriptor type invalid, data SGL length invalid, SGL offset invalid.
 */
uint16_t nvmf_capsule_validate_command(const struct nvmf_capsule *nc);
/* Controller: data length the command's SGL describes (0 for none). */
size_t nvmf_capsule_data_len(const struct nvmf_capsule *nc);
/* Controller: the in-capsule data, or NULL when the data is not in the capsule. */
const void *nvmf_capsule_incapsule_data(const struct nvmf_capsule *nc, size_t *len);

/* Data transfer done: error is 0, or a negative errno (-EBADMSG: data digest mismatch; -ECONNABORTED). */
typedef void (*nvmf_data_done_cb)(void *arg, struct nvmf_capsule *nc, int error);

/*
 * Controller: fetch len bytes of the command's data at offset into buf.
 * In-capsule data is copied and cb runs before this returns; otherwise the
 * transport asks the host for it (R2T) and the data lands in buf directly.
 * May be called repeatedly at increasing offsets.  Returns 0 or a negative errno
 * (then cb does not run): -EFAULT when offset + len exceeds the command's data;
 * -EINVAL (NVMe/TCP) when offset falls before the end of an earlier call.
 */
int nvmf_controller_receive_data(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				 nvmf_data_done_cb cb, void *arg);
/*
 * Same, where buf is a namespace's storage itself (a write landing in
 * place), which nothing reads again soon: a transport that copies
 * (vfio-user) stores past the cache (nvmf_copy_to_storage), and the data
 * is visible to every thread when cb runs.  Returns as above.
 */
int nvmf_controller_receive_to_storage(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				       nvmf_data_done_cb cb, void *arg);

/* nvmf_controller_send_data() sent SUCCESS: send no response capsule. */
#define NVMF_SUCCESS_SENT 1

/*
 * Controller: send len bytes at offset of the command's data to the host
 * (NVMe/TCP C2HData, split as needed).  last: this ends the transfer.
 * Data goes in order: offset is where the previous call ended (NVMe/TCP
 * hosts take no gaps or overlap; -EINVAL otherwise).
 * buf must stay valid until cb runs (cb may be NULL if the buffer outlives the qpair).
 * Returns 0 (send the response next), NVMF_SUCCESS_SENT (the last PDU
 * carried SUCCESS because the host disabled SQ flow control: no response),
 * or a negative errno.
 */
int nvmf_controller_send_data(struct nvmf_capsule *nc, uint32_t offset, const void *buf, size_t len, bool last,
			      nvmf_data_done_cb cb, void *arg);
/* Same, from an I/O vector (the data of one transfer in several buffers). */
int nvmf_controller_send_datav(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt,
			       bool last, nvmf_data_done_cb cb, void *arg);

/*
 * Controller: the transport moves a command's data by copying it from or to
 * host memory it has mapped (vfio-user), so receive and send complete before
 * they return and only a bad data pointer fails them: a write's data may be
 * received straight into its final place.  False for NVMe/TCP, where data
 * arrives later and may fail its digest.
 */
bool nvmf_controller_copies_at_once(const struct nvmf_capsule *nc);

struct nvme_id_ctrl;
/* Controller: add the fields the transport of nc's queue pair owns to Identify Controller data
 * (vfio-user with trapped doorbells offers Doorbell Buffer Config in OACS).  Nothing for others. */
void nvmf_controller_identify_ctrl(const struct nvmf_capsule *nc, struct nvme_id_ctrl *id);

/*
 * Controller: data of no defined value (a null namespace's), moved not at
 * all where the host owns the buffers (vfio-user): the transport checks the
 * command's data pointer for len bytes at offset and leaves the host's
 * memory as it was.  send_nothing returns as nvmf_controller_send_data();
 * receive_nothing as nvmf_controller_receive_data(), and the data it skips is
 * gone.  Both return -EOPNOTSUPP where bytes must cross anyway (NVMe/TCP: a
 * stream); then send zeros, or receive into a buffer, instead.
 */
int nvmf_controller_send_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, bool last,
				 nvmf_data_done_cb cb, void *arg);
int nvmf_controller_receive_nothing(struct nvmf_capsule *nc, uint32_t offset, size_t len, nvmf_data_done_cb cb,
				    void *arg);

/*
 * Controller: command nc may stay unanswered without limit (an Asynchronous
 * Event Request).  A host that reuses its CID (SPDK's host does so after
 * giving up on its AERs at shutdown) has abandoned it: the new command is
 * accepted rather than answered Command ID Conflict, and nc's own response,
 * when it comes, is dropped.  At most NVMF_HELD_COMMANDS per queue pair;
 * returns 0 or -ENOSPC.
 */
#define NVMF_HELD_COMMANDS 8
int nvmf_controller_hold_command(struct nvmf_capsule *nc);
/* Controller: commands held on qp now (they wait for an event, not for the transport). */
unsigned nvmf_controller_held_commands(const struct nvmf_qpair *qp);

/*
 * Controller: queue the response to command nc.  The transport fills CID,
 * SQID and SQHD; status and DW0/DW1 come from cqe.  nc may be freed right after.
 */
int nvmf_controller_send_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe);
/* Convenience: a response with this status (NVME_STATUS(sct, sc) | DNR bits) and DW0. */
int nvmf_controller_send_status(struct nvmf_capsule *nc, uint16_t status, uint32_t cdw0);

/* ---- Blocking convenience layer ---- */

struct nvmf_connect_params {
	uint16_t qid;
	uint16_t qsize; /* entries: SQSIZE + 1 */
	uint8_t hostid[16];
	uint16_t cntlid; /* NVMF_CNTLID_DYNAMIC for the admin queue */
	const char *subnqn;
	const char *hostnqn;
	uint32_t kato_ms; /* admin queue only */
	int timeout_ms;
	void *tls; /* as nvmf_qpair_params.tls: TLS under the queue pair, owned from now on */
};

/*
 * Host: on a connected socket, finish the transport handshake and the
 * Fabrics Connect.  On success *qpp is a ready queue pair and *cntlid the
 * controller ID.  Returns 0; a negative errno on transport failure; or a
 * positive NVMe status (NVME_STATUS form, with DNR) when the controller
 * rejected the Connect, with *cqe holding its response when cqe is not NULL.
 */
int nvmf_connect(struct nvmf_association *na, int fd, const struct nvmf_connect_params *cp,
		 struct nvmf_qpair **qpp, uint16_t *cntlid, struct nvme_completion *cqe);

/*
 * Host: send a command and wait for its response.  data/len/send as for
 * nvmf_capsule_append_data (data NULL for none).  Returns 0 with *cqe
 * filled, or a negative errno (-ETIMEDOUT).
 */
int nvmf_host_execute(struct nvmf_qpair *qp, const struct nvme_command *sqe, void *data, size_t len, bool send,
		      struct nvme_completion *cqe, int timeout_ms);

/*
 * Controller: on an accepted socket, finish the transport handshake and
 * receive the Connect command without answering it.  On success *qpp is the
 * queue pair and *connect the Connect capsule (its 1024 bytes of data are
 * in-capsule).  The caller answers with nvmf_controller_send_response().
 */
int nvmf_accept(struct nvmf_association *na, int fd, int timeout_ms, struct nvmf_qpair **qpp,
		struct nvmf_capsule **connect);

/* Controller, blocking layer: wait for the next command capsule. 0, or negative errno. */
int nvmf_controller_receive_capsule(struct nvmf_qpair *qp, struct nvmf_capsule **ncp, int timeout_ms);
/* Blocking data transfers: wait until done; 0 or negative errno. */
int nvmf_controller_receive_data_sync(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				      int timeout_ms);
/* Returns 0, NVMF_SUCCESS_SENT or a negative errno. */
int nvmf_controller_send_data_sync(struct nvmf_capsule *nc, uint32_t offset, const void *buf, size_t len,
				   bool last, int timeout_ms);

#endif
