/*
 * tcp_ctrl_rx: a host's byte stream into a controller-side NVMe/TCP queue
 * pair, in chunks split where the input says, nvmf_qpair_process() after
 * each.  Commands are answered the way a controller would: data pulled
 * (in-capsule, or R2T/H2CData in one or two transfers) or pushed (C2HData),
 * then a status; a few are held and answered late or never.
 *
 * Input: byte 0 chooses the association (bit 0 header digests accepted,
 * bit 1 data digests, bit 2 hosts may disable SQ flow control, bits 3-4
 * CPDA, bit 5 MAXH2CDATA 4 KiB instead of 128 KiB, bit 6 no in-capsule data
 * on I/O queues, bit 7 data in one transfer, never two); the rest is what the host sends, starting with its ICReq.
 * Invariants: error_cb at most once and only on a failed queue pair; every
 * data callback runs exactly once; nothing leaks (ASan).
 */
#include <endian.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "fuzz.h"

#define MAX_HELD 8
#define SINK_SIZE (512 * 1024)

struct ctl {
	struct nvmf_qpair *qp;
	bool one_xfer;
	unsigned commands;
	int peer;
	int errors;
	int xfers_pending; /* data callbacks not yet run */
	struct nvmf_capsule *held[MAX_HELD];
	int nheld;
};

/* A command's data moving in one or two transfers.  refs: the transfers not
 * yet called back, plus one held by the code starting them (a callback may
 * run before the call returns).  The capsule is freed with the last. */
struct xfer {
	struct ctl *c;
	int refs;
	int error;
	bool pull;
	bool answered; /* push: the response is queued (or SUCCESS went with the data) */
};

static uint8_t sink[SINK_SIZE];

static void answer(struct nvmf_capsule *nc, uint16_t status)
{
	if (!nvmf_qpair_failed(nvmf_capsule_qpair(nc)))
		(void)nvmf_controller_send_status(nc, status, 0);
}

static void xfer_put(struct xfer *x, struct nvmf_capsule *nc)
{
	if (--x->refs)
		return;
	if (x->pull)
		answer(nc, x->error ? 0x0004 : 0); /* Data Transfer Error */
	else if (!x->answered)
		answer(nc, 0x0004);
	nvmf_capsule_free(nc);
	free(x);
}

static void xfer_done(void *arg, struct nvmf_capsule *nc, int error)
{
	struct xfer *x = arg;
	x->c->xfers_pending--;
	if (error)
		x->error = error;
	xfer_put(x, nc);
}

static int start_xfer(struct xfer *x, struct nvmf_capsule *nc, size_t off, size_t n, bool last)
{
	x->refs++;
	x->c->xfers_pending++;
	int rc = x->pull ? nvmf_controller_receive_data(nc, (uint32_t)off, sink + off, n, xfer_done, x)
			 : nvmf_controller_send_data(nc, (uint32_t)off, sink + off, n, last, xfer_done, x);
	if (rc < 0) { /* its callback will not run */
		x->refs--;
		x->c->xfers_pending--;
		x->error = rc;
	}
	return rc;
}

/* Large transfers in two calls, as a controller fetching or sending in stages would. */
static void move_data(struct ctl *c, struct nvmf_capsule *nc, size_t len, bool pull)
{
	struct xfer *x = calloc(1, sizeof(*x));
	FUZZ_CHECK(x);
	x->c = c;
	x->refs = 1;
	x->pull = pull;
	size_t first = len > 8192 && !c->one_xfer ? len / 2 : len;
	int rc = start_xfer(x, nc, 0, first, first == len);
	if (rc >= 0 && first < len)
		rc = start_xfer(x, nc, first, len - first, true);
	if (!pull && rc >= 0) {
		x->answered = true;
		if (rc != NVMF_SUCCESS_SENT)
			answer(nc, 0);
	}
	xfer_put(x, nc);
}

static void on_command(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct ctl *c = arg;
	const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
	FUZZ_CHECK(nvmf_capsule_qpair(nc) == qp);
	c->commands++;

	uint16_t st = nvmf_capsule_validate_command(nc);
	if (st) {
		answer(nc, st | 0x4000);
		nvmf_capsule_free(nc);
		return;
	}
	size_t len = nvmf_capsule_data_len(nc), icd_len = 0;
	const uint8_t *icd = nvmf_capsule_incapsule_data(nc, &icd_len);
	if (icd) {
		FUZZ_CHECK(icd_len <= len || len == 0);
		uint8_t sum = 0; /* touch every byte: ASan checks the bounds */
		for (size_t i = 0; i < icd_len; i++)
			sum ^= icd[i];
		(void)sum;
	}
	if (len > SINK_SIZE) {
		answer(nc, 0x0002); /* Invalid Field */
		nvmf_capsule_free(nc);
		return;
	}
	/* NVMe opcodes: bit 0 host-to-controller data, bit 1 controller-to-host. */
	if (len && (sqe->opc & 3)) {
		move_data(c, nc, len, sqe->opc & 1);
		return;
	}
	if (sqe->opc == 0x0c && c->nheld < MAX_HELD) { /* an AER: answered at the end, or never */
		c->held[c->nheld++] = nc;
		return;
	}
	answer(nc, (uint16_t)(le32toh(sqe->cdw10) & 1 ? 0x0002 : 0));
	nvmf_capsule_free(nc);
}

static void on_error(void *arg, struct nvmf_qpair *qp, int error)
{
	struct ctl *c = arg;
	(void)qp;
	FUZZ_CHECK(error < 0);
	c->errors++;
}

static void pump(void *arg)
{
	struct ctl *c = arg;
	(void)nvmf_qpair_process(c->qp);
	fuzz_drain(c->peer);
}

int fuzz_one(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	const uint8_t cfg = data[0];
	struct nvmf_association_params ap = {
		.header_digests = cfg & 1,
		.data_digests = (cfg >> 1) & 1,
		.sq_flow_control = !((cfg >> 2) & 1),
		.pda = (cfg >> 3) & 3,
		.maxh2cdata = (cfg >> 5) & 1 ? 4096 : 128 * 1024,
		.ioccsz = (cfg >> 6) & 1 ? 0 : 8192,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &ap);
	FUZZ_CHECK(na);
	int fds[2];
	FUZZ_CHECK(fuzz_socketpair(fds) == 0);
	struct ctl c = {.peer = fds[1], .one_xfer = cfg >> 7};
	struct nvmf_qpair_params qp = {.fd = fds[0], .receive_cb = on_command, .error_cb = on_error, .cb_arg = &c};
	c.qp = nvmf_qpair_create(na, &qp);
	FUZZ_CHECK(c.qp);
	nvmf_association_free(na);

	struct fuzz_splitter sp;
	fuzz_split_init(&sp, data, len);
	const uint8_t *p = data + 1;
	size_t left = len - 1;
	while (left && !nvmf_qpair_failed(c.qp)) {
		size_t n = fuzz_split_next(&sp, left);
		if (!fuzz_write_all(c.peer, p, n, pump, &c))
			break;
		p += n;
		left -= n;
		/* Until the queue pair has read all it was given (it reads a bounded amount per call). */
		for (int i = 0; i < 8; i++) {
			pump(&c);
			if (fuzz_pending(fds[0]) == 0 || nvmf_qpair_failed(c.qp))
				break;
		}
	}
	/* Late answers for the held commands, then whatever follows them. */
	for (int i = 0; i < c.nheld; i++) {
		answer(c.held[i], i % 2 ? 0x0002 : 0);
		nvmf_capsule_free(c.held[i]);
	}
	c.nheld = 0;
	for (int i = 0; i < 4; i++)
		pump(&c);
	if (fuzz_verbose())
		fprintf(stderr, "tcp_ctrl_rx: %u commands, %zu bytes unsent, %s\n", c.commands, left,
			nvmf_qpair_failed(c.qp) ? nvmf_qpair_error(c.qp) : "alive");
	FUZZ_CHECK(c.errors <= 1);
	FUZZ_CHECK(c.errors == 0 || nvmf_qpair_failed(c.qp));
	nvmf_qpair_free(c.qp); /* pending data callbacks run now, with an error */
	FUZZ_CHECK(c.xfers_pending == 0);
	close(c.peer);
	return 0;
}
