/*
 * Loopback I/O: a host queue pair and a RAM-backed controller of this library on
 * 127.0.0.1, the controller in its own thread.  Admin and I/O Connect, commands
 * without data, reads (C2HData, with SUCCESS when SQ flow control is off), writes
 * in-capsule and through R2T, at queue depth 1..N; data checked byte for byte.
 * Usage: test_lb_io HDGST DDGST SQFC MAXR2T MAXH2CDATA IOCCSZ QD PDA
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"

#define RAM_SIZE (32u << 20)
#define BLK 512u
#define MAX_CONNS 8

static const char *SUBNQN = "nqn.2026-01.test:lb";
static const char *HOSTNQN = "nqn.2026-01.test:host";

struct cfg {
	bool hdgst, ddgst, sqfc;
	uint32_t maxr2t, maxh2cdata, ioccsz;
	unsigned qd;
	uint8_t pda;
};
static struct cfg cfg;

/* ---- Controller ---- */

static uint8_t *ram;
static atomic_bool stop;
static atomic_uint success_sent, responses_sent, r2t_writes, icd_writes;
static int lfd;

struct req {
	struct nvmf_capsule *nc;
	unsigned parts;
	int error;
};

static void respond(struct nvmf_capsule *nc, uint16_t status, uint32_t cdw0)
{
	CHECK(nvmf_controller_send_status(nc, status, cdw0) == 0);
	responses_sent++;
	nvmf_capsule_free(nc);
}

static void write_part_done(void *arg, struct nvmf_capsule *nc, int error)
{
	struct req *r = arg;

	(void)nc;
	if (error)
		r->error = error;
	if (--r->parts)
		return;
	respond(r->nc, r->error ? NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR) : 0, 0);
	free(r);
}

static void ctrl_receive(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
	(void)arg;

	uint16_t st = nvmf_capsule_validate_command(nc);
	if (st) {
		respond(nc, st, 0);
		return;
	}
	if (sqe->opc == NVME_OPC_FABRICS) {
		const struct nvmf_connect_command *cc = (const void *)sqe;
		size_t len;
		const struct nvmf_connect_data *cd = nvmf_capsule_incapsule_data(nc, &len);
		CHECK(cc->fctype == NVMF_FCTYPE_CONNECT);
		CHECK(cd && len == sizeof(*cd));
		CHECK(strcmp(cd->subnqn, SUBNQN) == 0 && strcmp(cd->hostnqn, HOSTNQN) == 0);
		CHECK(nvmf_qpair_qid(qp) == le16toh(cc->qid));
		CHECK(nvmf_qpair_qsize(qp) == le16toh(cc->sqsize) + 1);
		CHECK(nvmf_qpair_sq_flow_control(qp) == cfg.sqfc);
		CHECK(nvmf_qpair_header_digests(qp) == cfg.hdgst);
		CHECK(nvmf_qpair_data_digests(qp) == cfg.ddgst);
		respond(nc, 0, 1);
		return;
	}
	size_t dlen = nvmf_capsule_data_len(nc);
	uint64_t off = ((uint64_t)le32toh(sqe->cdw11) << 32 | le32toh(sqe->cdw10)) * BLK;
	if (nvmf_qpair_qid(qp) == 0) {
		if (sqe->opc == NVME_OPC_IDENTIFY) {
			CHECK(dlen == 4096);
			int rc = nvmf_controller_send_data(nc, 0, ram, 4096, true, NULL, NULL);
			CHECK(rc == 0 || rc == NVMF_SUCCESS_SENT);
			if (rc == NVMF_SUCCESS_SENT) {
				success_sent++;
				nvmf_capsule_free(nc);
			} else
				respond(nc, 0, 0);
			return;
		}
		respond(nc, 0, 0);
		return;
	}
	switch (sqe->opc) {
	case NVME_OPC_WRITE: {
		size_t len = ((le32toh(sqe->cdw12) & 0xffff) + 1) * BLK;
		CHECK(dlen == len && off + len <= RAM_SIZE);
		if (nvmf_capsule_incapsule_data(nc, NULL))
			icd_writes++;
		else
			r2t_writes++;
		struct req *r = calloc(1, sizeof(*r));
		r->nc = nc;
		/* Two calls at increasing offsets when big enough, to exercise partial fetches. */
		size_t half = len >= 8192 ? len / 2 : len;
		r->parts = half < len ? 2 : 1;
		CHECK(nvmf_controller_receive_data(nc, 0, ram + off, half, write_part_done, r) == 0);
		if (half < len)
			CHECK(nvmf_controller_receive_data(nc, (uint32_t)half, ram + off + half, len - half,
							   write_part_done, r) == 0);
		return;
	}
	case NVME_OPC_READ: {
		size_t len = ((le32toh(sqe->cdw12) & 0xffff) + 1) * BLK;
		CHECK(dlen == len && off + len <= RAM_SIZE);
		size_t half = len >= 8192 ? len / 2 : 0;
		if (half)
			CHECK(nvmf_controller_send_data(nc, 0, ram + off, half, false, NULL, NULL) == 0);
		struct iovec iov[2] = {{ram + off + half, (len - half) / 2}, {ram + off + half + (len - half) / 2,
									 len - half - (len - half) / 2}};
		int rc = nvmf_controller_send_datav(nc, (uint32_t)half, iov, 2, true, NULL, NULL);
		CHECK(rc == 0 || rc == NVMF_SUCCESS_SENT);
		CHECK((rc == NVMF_SUCCESS_SENT) == !cfg.sqfc);
		if (rc == NVMF_SUCCESS_SENT) {
			success_sent++;
			nvmf_capsule_free(nc);
		} else
			respond(nc, 0, 0);
		return;
	}
	case NVME_OPC_FLUSH:
		respond(nc, 0, 0);
		return;
	default:
		respond(nc, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0);
	}
}

static void ctrl_error(void *arg, struct nvmf_qpair *qp, int error)
{
	(void)arg, (void)qp;
	if (!stop)
		fprintf(stderr, "controller qpair error %d: %s\n", error, nvmf_qpair_error(qp));
}

static void *ctrl_thread(void *arg)
{
	struct nvmf_association_params p = {
		.sq_flow_control = false, /* let hosts disable it */
		.header_digests = true,
		.data_digests = true,
		.pda = cfg.pda,
		.maxh2cdata = cfg.maxh2cdata,
		.ioccsz = cfg.ioccsz,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &p);
	struct nvmf_qpair *qps[MAX_CONNS];
	int n = 0;
	(void)arg;

	CHECK(na);
	while (!stop) {
		struct pollfd pfd[MAX_CONNS + 1];
		pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){.fd = nvmf_qpair_fd(qps[i]),
						     .events = POLLIN | (nvmf_qpair_want_write(qps[i]) ? POLLOUT : 0)};
		poll(pfd, (nfds_t)n + 1, 10);
		if (pfd[0].revents & POLLIN) {
			CHECK(n < MAX_CONNS);
			struct nvmf_capsule *connect;
			CHECK(nvmf_accept(na, lb_accept(lfd), 5000, &qps[n], &connect) == 0);
			nvmf_qpair_set_callbacks(qps[n], ctrl_receive, ctrl_error, NULL);
			ctrl_receive(NULL, qps[n], connect);
			n++;
		}
		for (int i = 0; i < n; i++)
			if (!nvmf_qpair_failed(qps[i]))
				nvmf_qpair_process(qps[i]);
	}
	for (int i = 0; i < n; i++)
		nvmf_qpair_free(qps[i]);
	nvmf_association_free(na);
	return NULL;
}

/* ---- Host ---- */

struct hcmd {
	struct nvmf_capsule *nc;
	bool done;
	uint16_t status;
	int error;
};

static void host_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct hcmd *c = arg;

	(void)nc;
	c->done = true;
	c->error = error;
	c->status = cqe ? le16toh(cqe->status) & 0xfffe : 0xffff;
}

static void pump(struct nvmf_qpair *qp)
{
	struct pollfd pfd = {.fd = nvmf_qpair_fd(qp), .events = POLLIN | (nvmf_qpair_want_write(qp) ? POLLOUT : 0)};

	poll(&pfd, 1, 100);
	CHECK(nvmf_qpair_process(qp) >= 0);
}

/* Run n commands of alternating sizes at queue depth qd; write (from src) or read (into dst). */
static void run_io(struct nvmf_qpair *qp, unsigned n, bool write, uint8_t *host_buf, const unsigned *nblocks,
		   const uint64_t *lba)
{
	struct hcmd *cmds = calloc(n, sizeof(*cmds));
	unsigned issued = 0, completed = 0, inflight = 0, max_inflight = 0;

	while (completed < n) {
		while (issued < n && inflight < cfg.qd) {
			struct nvme_command sqe = {.opc = write ? NVME_OPC_WRITE : NVME_OPC_READ, .nsid = htole32(1)};
			sqe.cdw10 = htole32((uint32_t)lba[issued]);
			sqe.cdw11 = htole32((uint32_t)(lba[issued] >> 32));
			sqe.cdw12 = htole32(nblocks[issued] - 1);
			struct hcmd *c = &cmds[issued];
			c->nc = nvmf_capsule_alloc_command(qp, &sqe);
			CHECK(c->nc);
			CHECK(nvmf_capsule_append_data(c->nc, host_buf + lba[issued] * BLK, nblocks[issued] * BLK, write) == 0);
			nvmf_capsule_set_done(c->nc, host_done, c);
			int rc = nvmf_capsule_transmit(c->nc);
			if (rc == -EBUSY) {
				nvmf_capsule_free(c->nc);
				break;
			}
			CHECK(rc == 0);
			issued++;
			inflight++;
		}
		if (inflight > max_inflight)
			max_inflight = inflight;
		CHECK(nvmf_qpair_outstanding(qp) == inflight);
		pump(qp);
		unsigned now_done = 0;
		for (unsigned i = 0; i < issued; i++)
			if (cmds[i].done && cmds[i].nc) {
				CHECK(cmds[i].error == 0);
				CHECK(cmds[i].status == 0);
				CHECK(nvmf_capsule_data_transferred(cmds[i].nc) == nblocks[i] * BLK);
				nvmf_capsule_free(cmds[i].nc);
				cmds[i].nc = NULL;
				now_done++;
			}
		completed += now_done;
		inflight -= now_done;
	}
	CHECK(max_inflight == (cfg.qd < n ? cfg.qd : n));
	free(cmds);
}

int main(int argc, char **argv)
{
	CHECK(argc == 9);
	cfg.hdgst = atoi(argv[1]);
	cfg.ddgst = atoi(argv[2]);
	cfg.sqfc = atoi(argv[3]);
	cfg.maxr2t = (uint32_t)atoi(argv[4]);
	cfg.maxh2cdata = (uint32_t)atoi(argv[5]);
	cfg.ioccsz = (uint32_t)atoi(argv[6]);
	cfg.qd = (unsigned)atoi(argv[7]);
	cfg.pda = (uint8_t)atoi(argv[8]);

	ram = calloc(1, RAM_SIZE);
	unsigned short port;
	lfd = lb_listen(&port);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, ctrl_thread, NULL) == 0);

	struct nvmf_association_params hp = {
		.sq_flow_control = cfg.sqfc,
		.header_digests = cfg.hdgst,
		.data_digests = cfg.ddgst,
		.pda = cfg.pda,
		.maxr2t = cfg.maxr2t,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	CHECK(na);
	struct nvmf_connect_params cp = {.qid = 0, .qsize = 32, .cntlid = NVMF_CNTLID_DYNAMIC, .subnqn = SUBNQN,
					 .hostnqn = HOSTNQN, .timeout_ms = 5000};
	struct nvmf_qpair *admin, *io;
	uint16_t cntlid = 0;
	struct nvme_completion cqe;
	CHECK(nvmf_connect(na, lb_connect(port), &cp, &admin, &cntlid, &cqe) == 0);
	CHECK(cntlid == 1);
	CHECK(nvmf_qpair_ready(admin) && nvmf_qpair_is_admin(admin));
	CHECK(nvmf_qpair_header_digests(admin) == cfg.hdgst && nvmf_qpair_data_digests(admin) == cfg.ddgst);

	/* Admin: no-data command and a 4 KiB read (Identify). */
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	CHECK(nvmf_host_execute(admin, &ka, NULL, 0, false, &cqe, 5000) == 0);
	CHECK((le16toh(cqe.status) & 0xfffe) == 0);
	lb_fill_pattern(ram, 4096, 7);
	uint8_t id[4096];
	struct nvme_command idc = {.opc = NVME_OPC_IDENTIFY, .cdw10 = htole32(1)};
	CHECK(nvmf_host_execute(admin, &idc, id, sizeof(id), false, &cqe, 5000) == 0);
	CHECK(memcmp(id, ram, 4096) == 0);

	nvmf_association_set_ioccsz(na, cfg.ioccsz);
	cp.qid = 1;
	cp.qsize = (uint16_t)(cfg.qd + 1);
	cp.cntlid = cntlid;
	CHECK(nvmf_connect(na, lb_connect(port), &cp, &io, &cntlid, &cqe) == 0);
	CHECK(!nvmf_qpair_is_admin(io) && nvmf_qpair_qid(io) == 1);
	struct nvme_command fl = {.opc = NVME_OPC_FLUSH, .nsid = htole32(1)};
	CHECK(nvmf_host_execute(io, &fl, NULL, 0, false, &cqe, 5000) == 0);

	/* Sizes from one block to 256 KiB, placed back to back. */
	static const unsigned sizes[] = {1, 8, 16, 32, 128, 3, 64, 512, 9, 256};
	const unsigned n = 256;
	unsigned *nblocks = calloc(n, sizeof(*nblocks));
	uint64_t *lba = calloc(n, sizeof(*lba));
	uint64_t next = 0;
	for (unsigned i = 0; i < n; i++) {
		nblocks[i] = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		lba[i] = next;
		next += nblocks[i];
	}
	CHECK(next * BLK <= RAM_SIZE);
	uint8_t *wbuf = malloc(next * BLK), *rbuf = calloc(1, next * BLK);
	lb_fill_pattern(wbuf, next * BLK, 42);
	run_io(io, n, true, wbuf, nblocks, lba);
	CHECK(memcmp(ram, wbuf, next * BLK) == 0);
	run_io(io, n, false, rbuf, nblocks, lba);
	CHECK(memcmp(rbuf, wbuf, next * BLK) == 0);

	/* The queue takes QSIZE-1 commands with SQ flow control, QSIZE without; then -EBUSY. */
	{
		const unsigned cap = cfg.sqfc ? cfg.qd : cfg.qd + 1;
		struct hcmd *c = calloc(cap + 1, sizeof(*c));
		for (unsigned i = 0; i <= cap; i++) {
			c[i].nc = nvmf_capsule_alloc_command(io, &fl);
			nvmf_capsule_set_done(c[i].nc, host_done, &c[i]);
			int rc = nvmf_capsule_transmit(c[i].nc);
			CHECK(rc == (i < cap ? 0 : -EBUSY));
		}
		for (unsigned i = 0; i < cap; i++)
			while (!c[i].done)
				pump(io);
		CHECK(nvmf_capsule_transmit(c[cap].nc) == 0);
		while (!c[cap].done)
			pump(io);
		for (unsigned i = 0; i <= cap; i++) {
			CHECK(c[i].error == 0 && c[i].status == 0);
			nvmf_capsule_free(c[i].nc);
		}
		free(c);
	}

	CHECK(r2t_writes > 0);
	CHECK((icd_writes > 0) == (cfg.ioccsz > 0));
	CHECK((success_sent > 0) == !cfg.sqfc);
	printf("ok: %u responses, %u SUCCESS, %u in-capsule writes, %u R2T writes\n", (unsigned)responses_sent,
	       (unsigned)success_sent, (unsigned)icd_writes, (unsigned)r2t_writes);

	stop = true;
	nvmf_qpair_free(io);
	nvmf_qpair_free(admin);
	nvmf_association_free(na);
	pthread_join(th, NULL);
	close(lfd);
	free(ram);
	free(wbuf);
	free(rbuf);
	free(nblocks);
	free(lba);
	return 0;
}
