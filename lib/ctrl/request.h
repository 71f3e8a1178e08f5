/*
 * A request: one command on its way through the controller core.
 *
 * conn.c takes a request for each command capsule and routes it to a
 * handler; the handler either finishes at once (NVMF_EXEC_COMPLETE, the
 * status in req->cqe) or hands the request to the services below
 * (NVMF_EXEC_ASYNC), which move it through the states and answer it.  Only
 * these services send responses, move data and submit to the backend, so
 * the accounting (backend requests in flight, buffers, LBA ranges, the
 * namespace reference) lives in one place: request.c.
 *
 * Every service runs on the queue's thread.  A step that ends by handing
 * the request on (complete, send, receive, submit, defer) must not touch it
 * afterwards: with RAM backends the next step may already have run.
 */
#ifndef NVMF_CTRL_REQUEST_H
#define NVMF_CTRL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <nvmf/nvme_spec.h>

#include "bdev/bdev.h"
#include "io_tally.h"

struct nvmf_conn;
struct nvmf_namespace;
struct nvmf_capsule;

enum nvmf_request_state {
	/* On its queue's free list. */
	NVMF_REQ_FREE = 0,
	/* Taken for a command just received; with its handler. */
	NVMF_REQ_EXECUTING,
	/* Waiting for a data buffer from the process-wide budget (deferred list). */
	NVMF_REQ_NEED_BUFFER,
	/* Host-to-controller data being fetched (in-capsule copy or R2T). */
	NVMF_REQ_TRANSFER_IN,
	/* Waiting for an LBA range another command holds (deferred list). */
	NVMF_REQ_WAIT_RANGE,
	/* Submitted to the namespace backend; its callback resumes it. */
	NVMF_REQ_BACKEND,
	/* Held without a deadline by the controller: an AER, a fused first half. */
	NVMF_REQ_HELD,
	/* Controller-to-host data being handed to the transport (its callback may run at once). */
	NVMF_REQ_SENDING,
	/* Answered; controller-to-host data still queued in the transport. */
	NVMF_REQ_TRANSFER_OUT,
};

/* What a handler returns. */
enum nvmf_exec {
	NVMF_EXEC_COMPLETE, /* answer now with req->cqe (status, DW0, DW1) */
	NVMF_EXEC_ASYNC,    /* the request went on; a service will answer it */
};

struct nvmf_request;
typedef void (*nvmf_request_step)(struct nvmf_request *req);
/* A backend step finished: rc is 0 or a negative errno. */
typedef void (*nvmf_request_bdev_done)(struct nvmf_request *req, int rc);

struct nvmf_request {
	enum nvmf_request_state state;
	struct nvmf_conn *conn;
	struct nvmf_capsule *nc;
	struct nvme_command cmd;
	struct nvme_completion cqe;
	/* Data buffer from the pool (NULL until needed), its capacity, and the transfer length. */
	void *buf;
	size_t buf_cap;
	size_t len;
	/* Second buffer: Compare's copy of the media. */
	void *buf2;
	size_t buf2_cap;
	struct iovec iov;
	/* Held until release: the namespace and, while range_held, an LBA range of it. */
	struct nvmf_namespace *ns;
	struct nvmf_range range;
	bool range_held;
	/* Fused Compare and Write: the partner (see io_cmds.c). */
	struct nvmf_request *fused_partner;
	/* Run when a deferred request is resumed. */
	nvmf_request_step resume;
	/* Run once the command's data has been received. */
	nvmf_request_step then;
	nvmf_request_bdev_done bdev_done;
	uint64_t arrived_ns; /* for the latency statistics (0: not an I/O command) */
	struct nvmf_request *next;
};

/* ---- Status helpers: set the answer and return NVMF_EXEC_COMPLETE ---- */

static inline enum nvmf_exec nvmf_req_status(struct nvmf_request *req, uint16_t status)
{
	req->cqe.status = status;
	return NVMF_EXEC_COMPLETE;
}

static inline enum nvmf_exec nvmf_req_success(struct nvmf_request *req, uint32_t cdw0)
{
	req->cqe.cdw0 = cdw0;
	return NVMF_EXEC_COMPLETE;
}

/* ---- Services ---- */

/* Take a free request of conn for capsule nc (NULL when the queue has none). */
struct nvmf_request *nvmf_request_take(struct nvmf_conn *conn, struct nvmf_capsule *nc);
/* Requests for qsize entries (plus held AERs on an admin queue): 0 or -ENOMEM. */
int nvmf_request_reserve(struct nvmf_conn *conn, unsigned count);
/* Free conn's idle requests (the connection is going away). */
void nvmf_request_free_all(struct nvmf_conn *conn);

/* Answer with status and DW0, release what the request holds, give it back. */
void nvmf_request_complete(struct nvmf_request *req, uint16_t status, uint32_t cdw0);
/* Answer with req->cqe as a handler left it. */
void nvmf_request_finish(struct nvmf_request *req);

/*
 * Get req->buf of len bytes.  Returns true with the buffer; or false when
 * the budget is spent: the request waits and step runs again later (or it
 * was answered with an error).  The caller then stops.
 */
bool nvmf_request_alloc_buf(struct nvmf_request *req, size_t len, nvmf_request_step step);
/* Same for req->buf2. */
bool nvmf_request_alloc_buf2(struct nvmf_request *req, size_t len, nvmf_request_step step);

/*
 * Send len bytes of data to the host, then the response with req->cqe; data stays untouched until release.
 * data NULL: the data has no defined value (a null namespace's; len at most NVMF_CTRL_MAX_XFER): nothing
 * moves where the transport allows (nvmf_controller_send_nothing), zeros go out otherwise.
 */
void nvmf_request_send_data(struct nvmf_request *req, const void *data, size_t len);
/* Fetch the command's len bytes of data into a new req->buf, then run next (or answer with an error). */
void nvmf_request_receive_data(struct nvmf_request *req, size_t len, nvmf_request_step next);
/*
 * Same, for data a backend takes as req->iov (a write's): in-capsule data (NVMe/TCP) is used where it
 * lies, with no buffer and no copy; other data is received into a new req->buf as above.
 */
void nvmf_request_receive_iov(struct nvmf_request *req, size_t len, nvmf_request_step next);
/*
 * Same, straight into dst, the namespace's own memory (len bytes, valid until next runs), for a
 * transport that copies at once (nvmf_controller_copies_at_once): see nvmf_controller_receive_to_storage.
 */
void nvmf_request_receive_into_storage(struct nvmf_request *req, void *dst, size_t len, nvmf_request_step next);
/*
 * Same, for data that is dropped (a null namespace's writes): nothing moves where the data has come in
 * the capsule or the transport allows (nvmf_controller_receive_nothing; req->buf stays NULL), else it is
 * received into req->buf as above.
 */
void nvmf_request_discard_data(struct nvmf_request *req, size_t len, nvmf_request_step next);
/* Run step again on a later pass of the queue (state says why it waits). */
void nvmf_request_defer(struct nvmf_request *req, enum nvmf_request_state why, nvmf_request_step step);
/* Park the request (AER, fused first half): someone answers it later. */
void nvmf_request_hold(struct nvmf_request *req);

/*
 * Submit to the backend: submit(req, cb, arg) starts the bdev call; done
 * runs when it finishes (not when the queue is closing: the request is then
 * answered Aborted - SQ Deletion).  A failed submission answers with
 * Internal Error.
 */
typedef int (*nvmf_request_submit_fn)(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg);
void nvmf_request_submit(struct nvmf_request *req, nvmf_request_submit_fn submit, nvmf_request_bdev_done done);

/* Hold [slba, slba + nlb) of req->ns; false when it conflicts (defer and retry). */
bool nvmf_request_lock_range(struct nvmf_request *req, uint64_t slba, uint64_t nlb, bool exclusive);

#endif
