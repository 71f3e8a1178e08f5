/* Blocking convenience layer: poll() + nvmf_qpair_process() loops with a deadline. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/transport_internal.h"
#include "util/clock.h"

/* timeout_ms <= 0 waits forever. */
static int64_t deadline_of(int timeout_ms)
{
	if (timeout_ms <= 0)
		return -1;
	return (int64_t)nvmf_clock_ms() + timeout_ms;
}

static int remaining_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - (int64_t)nvmf_clock_ms();
	return left > 0 ? (int)left : 0;
}

/* A deadline converted back into a timeout argument (at least 1 ms when finite). */
static int rest_ms(int64_t deadline)
{
	int ms = remaining_ms(deadline);

	return ms < 0 ? 0 : ms == 0 ? 1 : ms;
}

/* Wait until the socket has something for us (or can take our output). */
static int wait_io(struct nvmf_qpair *qp, int64_t deadline)
{
	const bool out = nvmf_qpair_want_write(qp);
	/* Input held back behind a full transmit backlog waits for POLLOUT alone. */
	struct pollfd pfd = {.fd = qp->fd, .events = out ? POLLOUT : 0};

	if (!out || nvmf_qpair_want_read(qp))
		pfd.events |= POLLIN;
	for (;;) {
		int ms = remaining_ms(deadline);
		int rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* One step of a wait loop: process, then wait for I/O if the condition does not hold yet. */
#define WAIT_UNTIL(qp, cond, deadline)                                \
	do {                                                          \
		for (;;) {                                            \
			int rc_ = nvmf_qpair_process(qp);             \
			if (cond)                                     \
				break;                                \
			if (rc_ < 0)                                  \
				return rc_;                           \
			rc_ = wait_io(qp, deadline);                  \
			if (rc_ < 0)                                  \
				return rc_;                           \
		}                                                     \
	} while (0)

struct exec_ctx {
	bool done;
	int error;
	struct nvme_completion cqe;
};

static void exec_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct exec_ctx *x = arg;

	(void)nc;
	x->done = true;
	x->error = error;
	if (cqe)
		x->cqe = *cqe;
}

/* A command abandoned on timeout frees itself when it finally completes. */
static void orphan_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	(void)arg, (void)cqe, (void)error;
	nvmf_capsule_free(nc);
}

static int execute(struct nvmf_qpair *qp, struct nvmf_capsule *nc, struct exec_ctx *x, int64_t deadline)
{
	int rc;

	for (;;) {
		rc = nvmf_capsule_transmit(nc);
		if (rc == 0)
			break;
		if (rc != -EBUSY && rc != -EAGAIN)
			return rc;
		rc = nvmf_qpair_process(qp);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue; /* something came in (ICResp, responses): try again before sleeping */
		rc = wait_io(qp, deadline);
		if (rc < 0)
			return rc;
	}
	WAIT_UNTIL(qp, x->done, deadline);
	return x->error;
}

int nvmf_host_execute(struct nvmf_qpair *qp, const struct nvme_command *sqe, void *data, size_t len, bool send,
		      struct nvme_completion *cqe, int timeout_ms)
{
	struct exec_ctx x = {0};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(qp, sqe);

	if (nc == NULL)
		return -errno;
	if (data && len && nvmf_capsule_append_data(nc, data, len, send) < 0) {
		nvmf_capsule_free(nc);
		return -EINVAL;
	}
	nvmf_capsule_set_done(nc, exec_done, &x);
	int rc = execute(qp, nc, &x, deadline_of(timeout_ms));
	if (!x.done && nvmf_qpair_outstanding(qp) && rc == -ETIMEDOUT) {
		/* Still in flight: it cleans up after itself. */
		nvmf_capsule_set_done(nc, orphan_done, NULL);
		return rc;
	}
	if (!x.done && rc != 0) {
		/* Never transmitted, or the queue pair failed (callbacks have run). */
		nvmf_capsule_free(nc);
		return rc;
	}
	nvmf_capsule_free(nc);
	if (rc == 0 && cqe)
		*cqe = x.cqe;
	return rc;
}

int nvmf_connect(struct nvmf_association *na, int fd, const struct nvmf_connect_params *cp,
		 struct nvmf_qpair **qpp, uint16_t *cntlid, struct nvme_completion *cqe)
{
	if (cp == NULL || cp->qsize < 2 || cp->subnqn == NULL || cp->hostnqn == NULL)
		return -EINVAL;
	const int64_t deadline = deadline_of(cp->timeout_ms);
	struct nvmf_qpair_params qpp_params = {
		.admin = cp->qid == 0,
		.qid = cp->qid,
		.qsize = cp->qsize,
		.fd = fd,
		.tls = cp->tls,
	};
	struct nvmf_qpair *qp = nvmf_qpair_create(na, &qpp_params);
	if (qp == NULL)
		return -errno;

	int rc = 0;
	for (;;) {
		rc = nvmf_qpair_process(qp);
		if (nvmf_qpair_ready(qp) || rc < 0)
			break;
		rc = wait_io(qp, deadline);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		nvmf_qpair_free(qp);
		return rc;
	}

	struct nvmf_connect_command cc = {
		.opc = NVME_OPC_FABRICS,
		.fctype = NVMF_FCTYPE_CONNECT,
		.recfmt = 0,
		.qid = htole16(cp->qid),
		.sqsize = htole16((uint16_t)(cp->qsize - 1)),
		.cattr = na->params.sq_flow_control ? 0 : NVMF_CONNECT_ATTR_DISABLE_SQ_FC,
		.kato = htole32(cp->kato_ms),
	};
	struct nvmf_connect_data data;
	memset(&data, 0, sizeof(data));
	memcpy(data.hostid, cp->hostid, sizeof(data.hostid));
	data.cntlid = htole16(cp->cntlid);
	strncpy(data.subnqn, cp->subnqn, sizeof(data.subnqn) - 1);
	strncpy(data.hostnqn, cp->hostnqn, sizeof(data.hostnqn) - 1);

	struct nvme_completion c;
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	rc = nvmf_host_execute(qp, &sqe, &data, sizeof(data), true, &c, rest_ms(deadline));
	if (rc < 0) {
		nvmf_qpair_free(qp);
		return rc;
	}
	const uint16_t status = le16toh(c.status) & 0xfffe;
	if (cqe)
		*cqe = c;
	if (status) {
		nvmf_qpair_free(qp);
		return status;
	}
	if (cntlid)
		*cntlid = (uint16_t)(le32toh(c.cdw0) & 0xffff);
	*qpp = qp;
	return 0;
}

int nvmf_controller_receive_capsule(struct nvmf_qpair *qp, struct nvmf_capsule **ncp, int timeout_ms)
{
	const int64_t deadline = deadline_of(timeout_ms);

	WAIT_UNTIL(qp, qp->rxq_head != NULL, deadline);
	struct nvmf_capsule *nc = qp->rxq_head;
	qp->rxq_head = nc->rxq_next;
	if (qp->rxq_head == NULL)
		qp->rxq_tail = NULL;
	nc->rxq_next = NULL;
	*ncp = nc;
	return 0;
}

int nvmf_accept(struct nvmf_association *na, int fd, int timeout_ms, struct nvmf_qpair **qpp,
		struct nvmf_capsule **connect)
{
	struct nvmf_qpair_params p = {.fd = fd};
	struct nvmf_qpair *qp = nvmf_qpair_create(na, &p);

	if (qp == NULL)
		return -errno;
	/* The transport answers anything but a Connect itself, so the first capsule is the Connect. */
	int rc = nvmf_controller_receive_capsule(qp, connect, timeout_ms);
	if (rc < 0) {
		nvmf_qpair_free(qp);
		return rc;
	}
	*qpp = qp;
	return 0;
}

/* On the heap: after a timeout the callback may still run later, and frees it then. */
struct data_ctx {
	bool done;
	bool abandoned;
	int error;
};

static void data_done(void *arg, struct nvmf_capsule *nc, int error)
{
	struct data_ctx *d = arg;

	(void)nc;
	if (d->abandoned) {
		free(d);
		return;
	}
	d->done = true;
	d->error = error;
}

static int data_wait(struct nvmf_qpair *qp, struct data_ctx *d, int64_t deadline)
{
	WAIT_UNTIL(qp, d->done, deadline);
	return 0;
}

/* Wait for the callback; returns its error, or the wait's error (then d is left to the callback). */
static int data_finish(struct nvmf_qpair *qp, struct data_ctx *d, int64_t deadline, int ok)
{
	int rc = data_wait(qp, d, deadline);

	if (!d->done) {
		d->abandoned = true;
		return rc;
	}
	rc = d->error ? d->error : ok;
	free(d);
	return rc;
}

int nvmf_controller_receive_data_sync(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len,
				      int timeout_ms)
{
	const int64_t deadline = deadline_of(timeout_ms);
	struct data_ctx *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	int rc = nvmf_controller_receive_data(nc, offset, buf, len, data_done, d);
	if (rc < 0) {
		free(d);
		return rc;
	}
	return data_finish(nc->qp, d, deadline, 0);
}

int nvmf_controller_send_data_sync(struct nvmf_capsule *nc, uint32_t offset, const void *buf, size_t len,
				   bool last, int timeout_ms)
{
	const int64_t deadline = deadline_of(timeout_ms);
	struct data_ctx *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	int rc = nvmf_controller_send_data(nc, offset, buf, len, last, data_done, d);
	if (rc < 0) {
		free(d);
		return rc;
	}
	return data_finish(nc->qp, d, deadline, rc);
}
