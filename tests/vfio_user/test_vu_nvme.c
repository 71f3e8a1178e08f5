/*
 * The emulated NVMe PCIe controller driven register by register, as a
 * PCIe driver would (a small one, here): enable from AQA/ASQ/ACQ, queue
 * creation and deletion and their checks, PRP and SGL data pointers,
 * controller resets with data kept, function level reset, and NVMe bad
 * input: pointers outside guest memory, bad doorbells, read-only
 * registers, memory unmapped under a queue, a client gone mid-command.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvmf/host.h>
#include <nvmf/nvme_admin_spec.h>
#include <nvmf/vfio_user_spec.h>

#include "vfio_user/vu_host.h"
#include "vu_test.h"

#define QS 16
#define NQ 4
#define WAIT_MS 10000

static struct vu_target tgt;

struct ring {
	struct nvme_command *sq;
	struct nvme_completion *cq;
	uint64_t sq_iova, cq_iova;
	uint16_t tail, head;
	uint16_t size; /* entries of both queues (QS, or less) */
	bool phase;
};

struct drv {
	struct vu_target *tgt; /* the nvmfd it talks to: a wait ends when that process has */
	struct vu_client *c;
	volatile uint32_t *db; /* NULL: trapped, rung by message */
	volatile uint32_t *shadow, *eventidx; /* after Doorbell Buffer Config */
	uint64_t shadow_iova, eventidx_iova;
	unsigned bar0_rings; /* doorbell writes that went to BAR0 (I/O queues) */
	bool hold_cq_head;   /* reap without writing the CQ head doorbell */
	struct ring q[NQ + 1];
	uint8_t *buf; /* 1 MiB of data space */
	uint64_t buf_iova;
	uint64_t *list; /* a page for PRP lists and SGL segments */
	uint64_t list_iova;
	uint16_t cid;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int drv_open(struct drv *d, struct vu_target *t)
{
	memset(d, 0, sizeof(*d));
	d->tgt = t;
	char err[256];
	if (vu_client_open(t->sock, 8u << 20, &d->c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	d->db = vu_client_doorbells(d->c);
	for (int i = 0; i <= NQ; i++) {
		d->q[i].sq = vu_client_alloc(d->c, QS * 64, &d->q[i].sq_iova);
		d->q[i].cq = vu_client_alloc(d->c, QS * 16, &d->q[i].cq_iova);
	}
	d->buf = vu_client_alloc(d->c, 1u << 20, &d->buf_iova);
	d->list = vu_client_alloc(d->c, 4096, &d->list_iova);
	return 0;
}

static uint32_t reg(struct drv *d, uint32_t off)
{
	uint64_t v = 0;
	vu_client_reg_read(d->c, off, 4, &v);
	return (uint32_t)v;
}

static void reset_ring(struct ring *r)
{
	memset(r->cq, 0, QS * 16);
	r->tail = r->head = 0;
	r->size = QS;
	r->phase = true;
}

/* CC.EN = 1 after AQA/ASQ/ACQ; waits for CSTS.RDY (or CFS).  Returns CSTS. */
static uint32_t drv_enable(struct drv *d)
{
	reset_ring(&d->q[0]);
	vu_client_reg_write(d->c, NVME_REG_AQA, 4, (QS - 1) << 16 | (QS - 1));
	vu_client_reg_write(d->c, NVME_REG_ASQ, 8, d->q[0].sq_iova);
	vu_client_reg_write(d->c, NVME_REG_ACQ, 8, d->q[0].cq_iova);
	vu_client_reg_write(d->c, NVME_REG_CC, 4, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	uint64_t end = now_ms() + WAIT_MS;
	uint32_t csts;
	while (!((csts = reg(d, NVME_REG_CSTS)) & (NVME_CSTS_RDY | NVME_CSTS_CFS)) && now_ms() < end)
		sched_yield();
	return csts;
}

static uint32_t drv_disable(struct drv *d)
{
	vu_client_reg_write(d->c, NVME_REG_CC, 4, 0);
	uint64_t end = now_ms() + WAIT_MS;
	uint32_t csts;
	while (((csts = reg(d, NVME_REG_CSTS)) & NVME_CSTS_RDY) && now_ms() < end)
		sched_yield();
	return csts;
}

/* Doorbell i moves from old to value: the shadow for I/O queues once configured, BAR0 when
 * EventIdx asks (as a driver must), and always without shadow doorbells. */
static void drv_ring(struct drv *d, unsigned i, uint16_t old, uint16_t value)
{
	if (d->shadow && i >= 2) {
		__atomic_store_n(&d->shadow[i], value, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t event = (uint16_t)__atomic_load_n(&d->eventidx[i], __ATOMIC_RELAXED);
		if ((uint16_t)(value - event - 1) >= (uint16_t)(value - old))
			return;
	}
	if (i >= 2)
		d->bar0_rings++;
	if (d->db)
		__atomic_store_n(&d->db[i], value, __ATOMIC_RELEASE);
	else
		vu_client_ring(d->c, i, value);
}

/* Put sqe on queue qid and ring its doorbell. */
static uint16_t drv_submit(struct drv *d, uint16_t qid, struct nvme_command *sqe)
{
	struct ring *r = &d->q[qid];
	sqe->cid = ++d->cid;
	r->sq[r->tail] = *sqe;
	uint16_t old = r->tail;
	r->tail = (uint16_t)((r->tail + 1) % r->size);
	drv_ring(d, 2u * qid, old, r->tail);
	return sqe->cid;
}

/* Wait for the next completion of queue qid: its status (without phase), or -1 on timeout. */
static int drv_reap(struct drv *d, uint16_t qid, int ms, struct nvme_completion *out)
{
	struct ring *r = &d->q[qid];
	uint64_t start = now_ms(), end = start + (uint64_t)ms, look = start + 50;
	for (;;) {
		struct nvme_completion *e = &r->cq[r->head];
		if ((bool)(__atomic_load_n(&e->status, __ATOMIC_ACQUIRE) & 1) == r->phase) {
			if (out)
				*out = *e;
			int st = e->status & 0xfffe;
			uint16_t old = r->head;
			if (++r->head == r->size) {
				r->head = 0;
				r->phase = !r->phase;
			}
			if (!d->hold_cq_head)
				drv_ring(d, 2u * qid + 1, old, r->head);
			return st;
		}
		uint64_t now = now_ms();
		if (now > end)
			return -1;
		if (now > look) {
			/* A dead nvmfd answers nothing: fail now, not after every command's timeout. */
			if (!vu_target_alive(d->tgt)) {
				fprintf(stderr, "# nvmfd is gone\n");
				return -1;
			}
			look = now + 50;
		}
		sched_yield();
	}
}

#define ST(sct, sc) ((uint16_t)((sct) << 9 | (sc) << 1))
#define NODNR(st) ((st) & 0x7ffe)

/* Put n commands on queue qid with one doorbell write (the device fetches them in one pass) and
 * reap their completions: status[i] is command i's status without DNR, or -1 if none came. */
static void drv_batch(struct drv *d, uint16_t qid, struct nvme_command *cmds, int n, int *status)
{
	struct ring *r = &d->q[qid];
	uint16_t old = r->tail;
	for (int i = 0; i < n; i++) {
		cmds[i].cid = ++d->cid;
		r->sq[r->tail] = cmds[i];
		r->tail = (uint16_t)((r->tail + 1) % r->size);
		status[i] = -1;
	}
	drv_ring(d, 2u * qid, old, r->tail);
	for (int i = 0; i < n; i++) {
		struct nvme_completion e;
		int s = drv_reap(d, qid, WAIT_MS, &e);
		for (int k = 0; k < n && s >= 0; k++)
			if (e.cid == cmds[k].cid)
				status[k] = NODNR(s);
	}
}

static int drv_cmd(struct drv *d, uint16_t qid, struct nvme_command sqe)
{
	uint16_t cid = drv_submit(d, qid, &sqe);
	struct nvme_completion c;
	int st = drv_reap(d, qid, WAIT_MS, &c);
	if (st >= 0 && c.cid != cid)
		return -2;
	return st;
}

static int create_cq(struct drv *d, uint16_t qid, uint16_t size, uint16_t iv, bool ien, uint64_t iova)
{
	struct nvme_command c = {.opc = NVME_OPC_CREATE_IO_CQ, .cdw10 = (uint32_t)(size - 1) << 16 | qid};
	c.cdw11 = (uint32_t)iv << 16 | (ien ? 2u : 0) | 1u;
	c.dptr.prp.prp1 = iova;
	return drv_cmd(d, 0, c);
}

static int create_sq(struct drv *d, uint16_t qid, uint16_t size, uint16_t cqid, uint64_t iova)
{
	struct nvme_command c = {.opc = NVME_OPC_CREATE_IO_SQ, .cdw10 = (uint32_t)(size - 1) << 16 | qid};
	c.cdw11 = (uint32_t)cqid << 16 | 1u;
	c.dptr.prp.prp1 = iova;
	return drv_cmd(d, 0, c);
}

static int delete_q(struct drv *d, uint8_t opc, uint16_t qid)
{
	struct nvme_command c = {.opc = opc, .cdw10 = qid};
	return drv_cmd(d, 0, c);
}

/* Create I/O queue pair qid (CQ qid, vector qid, no interrupt needed: polled here). */
static int create_ioq(struct drv *d, uint16_t qid)
{
	reset_ring(&d->q[qid]);
	int st = create_cq(d, qid, QS, qid, false, d->q[qid].cq_iova);
	return st ? st : create_sq(d, qid, QS, qid, d->q[qid].sq_iova);
}

static struct nvme_command rw(uint8_t opc, uint64_t slba, uint32_t nlb)
{
	struct nvme_command c = {.opc = opc, .nsid = 1};
	c.cdw10 = (uint32_t)slba;
	c.cdw11 = (uint32_t)(slba >> 32);
	c.cdw12 = nlb - 1;
	return c;
}

/* Read or write nlb blocks of namespace nsid at slba from/to buf offset 0 with PRPs (a list when needed). */
static int io_prp_ns(struct drv *d, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct nvme_command c = rw(opc, slba, nlb);
	c.nsid = nsid;
	size_t len = (size_t)nlb * 512, pages = (len + 4095) / 4096;
	c.dptr.prp.prp1 = d->buf_iova;
	if (pages == 2)
		c.dptr.prp.prp2 = d->buf_iova + 4096;
	else if (pages > 2) {
		for (size_t i = 1; i < pages; i++)
			d->list[i - 1] = d->buf_iova + i * 4096;
		c.dptr.prp.prp2 = d->list_iova;
	}
	return drv_cmd(d, qid, c);
}

static int io_prp(struct drv *d, uint16_t qid, uint8_t opc, uint64_t slba, uint32_t nlb)
{
	return io_prp_ns(d, qid, opc, 1, slba, nlb);
}


static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static bool filled(const uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 7 + seed))
			return false;
	return true;
}

static void test_enable_and_registers(struct drv *d)
{
	uint64_t cap = 0;
	vu_client_reg_read(d->c, NVME_REG_CAP, 8, &cap);
	CHECK((cap & 0xffff) == 1023 && (cap & NVME_CAP_CQR) && (cap & NVME_CAP_CSS_NVM) && ((cap >> 32) & 0xf) == 0,
	      "CAP: MQES 1023, CQR, NVM command set, DSTRD 0");
	CHECK(reg(d, NVME_REG_VS) == NVME_VS(1, 3, 0), "VS 1.3");
	vu_client_reg_write(d->c, NVME_REG_CAP, 4, 0);
	vu_client_reg_write(d->c, NVME_REG_VS, 4, 0x12345678);
	vu_client_reg_write(d->c, NVME_REG_CSTS, 4, 0xffffffff);
	uint64_t cap2 = 0;
	vu_client_reg_read(d->c, NVME_REG_CAP, 8, &cap2);
	CHECK(cap2 == cap && reg(d, NVME_REG_VS) == NVME_VS(1, 3, 0) && reg(d, NVME_REG_CSTS) == 0,
	      "writes to read-only registers (CAP, VS, CSTS) have no effect");
	/* Admin queue outside guest memory: the controller cannot come up. */
	vu_client_reg_write(d->c, NVME_REG_AQA, 4, (QS - 1) << 16 | (QS - 1));
	vu_client_reg_write(d->c, NVME_REG_ASQ, 8, 0x7000000000ull);
	vu_client_reg_write(d->c, NVME_REG_ACQ, 8, d->q[0].cq_iova);
	vu_client_reg_write(d->c, NVME_REG_CC, 4, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	CHECK(reg(d, NVME_REG_CSTS) & NVME_CSTS_CFS, "an admin SQ outside guest memory: CSTS.CFS");
	CHECK(!(drv_disable(d) & NVME_CSTS_CFS), "CC.EN 0 clears CSTS.CFS");
	uint32_t csts = drv_enable(d);
	CHECK((csts & NVME_CSTS_RDY) && !(csts & NVME_CSTS_CFS), "CC.EN 1 with AQA/ASQ/ACQ: CSTS.RDY");
	vu_client_reg_write(d->c, NVME_REG_ASQ, 8, 0x5000);
	uint64_t asq = 0;
	vu_client_reg_read(d->c, NVME_REG_ASQ, 8, &asq);
	CHECK(asq == d->q[0].sq_iova, "ASQ is read-only while enabled");
	struct nvme_command id = {.opc = NVME_OPC_IDENTIFY, .cdw10 = NVME_CNS_CONTROLLER};
	id.dptr.prp.prp1 = d->buf_iova;
	memset(d->buf, 0, 4096);
	int st = drv_cmd(d, 0, id);
	const struct nvme_id_ctrl *ic = (const void *)d->buf;
	CHECK(st == 0 && !strncmp(ic->subnqn, VU_TEST_NQN, strlen(VU_TEST_NQN)), "Identify Controller on the admin queue");
	struct nvme_command fab = {.opc = NVME_OPC_FABRICS};
	CHECK(NODNR(drv_cmd(d, 0, fab)) == ST(0, NVME_SC_INVALID_OPCODE), "a Fabrics command on PCIe: Invalid Opcode");
	struct nvme_command nq = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = (NQ - 1) << 16 | (NQ - 1)};
	CHECK(drv_cmd(d, 0, nq) == 0, "Set Features Number of Queues");
}

static void test_queue_checks(struct drv *d)
{
	CHECK(NODNR(create_cq(d, 0, QS, 0, true, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "Create I/O CQ 0: Invalid Queue Identifier");
	CHECK(NODNR(create_cq(d, 200, QS, 0, true, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "Create I/O CQ 200: Invalid Queue Identifier");
	CHECK(NODNR(create_cq(d, 1, 1, 0, true, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_SIZE),
	      "a CQ of one entry: Invalid Queue Size");
	CHECK(NODNR(create_cq(d, 1, 2048, 0, true, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_SIZE),
	      "a CQ above MQES: Invalid Queue Size");
	CHECK(NODNR(create_cq(d, 1, QS, 65, true, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_INTERRUPT_VECTOR),
	      "interrupt vector 65: Invalid Interrupt Vector");
	CHECK(NODNR(create_cq(d, 1, QS, 1, true, 0x7000000000ull)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR),
	      "a CQ outside guest memory: Data Transfer Error");
	uint64_t iova, len;
	vu_client_memory(d->c, &iova, &len);
	CHECK(NODNR(create_cq(d, 1, 1024, 1, true, iova + len - 4096)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR),
	      "a CQ across the region's end: Data Transfer Error");
	CHECK(NODNR(create_sq(d, 1, QS, 3, d->q[1].sq_iova)) == ST(1, NVME_SC_COMPLETION_QUEUE_INVALID),
	      "an SQ on a CQ that does not exist: Completion Queue Invalid");
	CHECK(create_cq(d, 1, QS, 1, false, d->q[1].cq_iova) == 0, "Create I/O CQ 1");
	CHECK(NODNR(create_cq(d, 1, QS, 1, false, d->q[1].cq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "CQ 1 again: Invalid Queue Identifier");
	CHECK(create_sq(d, 1, QS, 1, d->q[1].sq_iova) == 0, "Create I/O SQ 1 (the queue's Connect on the core)");
	CHECK(NODNR(create_sq(d, 1, QS, 1, d->q[1].sq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "SQ 1 again: Invalid Queue Identifier");
	CHECK(NODNR(create_sq(d, 9, QS, 1, d->q[1].sq_iova)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "an SQ above the number of queues granted: Invalid Queue Identifier");
	CHECK(NODNR(delete_q(d, NVME_OPC_DELETE_IO_CQ, 1)) == ST(1, NVME_SC_INVALID_QUEUE_DELETION),
	      "delete a CQ an SQ still uses: Invalid Queue Deletion");
	CHECK(NODNR(delete_q(d, NVME_OPC_DELETE_IO_SQ, 5)) == ST(1, NVME_SC_INVALID_QUEUE_IDENTIFIER),
	      "delete an SQ that does not exist: Invalid Queue Identifier");
	CHECK(delete_q(d, NVME_OPC_DELETE_IO_SQ, 1) == 0 && delete_q(d, NVME_OPC_DELETE_IO_CQ, 1) == 0,
	      "delete SQ 1 then CQ 1");
}

/* OACS from Identify Controller (0xffff when it fails). */
static uint16_t identify_oacs(struct drv *d)
{
	struct nvme_command c = {.opc = NVME_OPC_IDENTIFY, .cdw10 = NVME_CNS_CONTROLLER};
	c.dptr.prp.prp1 = d->buf_iova;
	memset(d->buf, 0xff, 4096);
	if (drv_cmd(d, 0, c) != 0)
		return 0xffff;
	uint16_t oacs;
	memcpy(&oacs, d->buf + 256, sizeof(oacs));
	return oacs;
}

static int dbbuf_config(struct drv *d, uint64_t shadow, uint64_t eventidx, uint8_t flags)
{
	struct nvme_command c = {.opc = NVME_OPC_DOORBELL_BUFFER_CONFIG, .flags = flags};
	c.dptr.prp.prp1 = shadow;
	c.dptr.prp.prp2 = eventidx;
	return drv_cmd(d, 0, c);
}

/* Mapped doorbells (the default): no shadow doorbells offered. */
static void test_no_shadow_doorbells(struct drv *d)
{
	CHECK(!(identify_oacs(d) & NVME_CTRL_OACS_DBBUF), "mapped doorbells: OACS offers no Doorbell Buffer Config");
	CHECK(NODNR(dbbuf_config(d, d->list_iova, d->buf_iova, 0)) == ST(0, NVME_SC_INVALID_OPCODE),
	      "mapped doorbells: Doorbell Buffer Config is Invalid Command Opcode");
}

static void test_io(struct drv *d)
{
	CHECK(create_ioq(d, 1) == 0 && create_ioq(d, 2) == 0, "two I/O queue pairs");
	bool ok = true;
	for (uint32_t nlb = 1; nlb <= 256 && ok; nlb *= 2) {
		fill(d->buf, nlb * 512, nlb);
		ok = io_prp(d, 1, NVME_OPC_WRITE, 1000, nlb) == 0;
		memset(d->buf, 0, nlb * 512);
		ok = ok && io_prp(d, 2, NVME_OPC_READ, 1000, nlb) == 0 && filled(d->buf, nlb * 512, nlb);
	}
	CHECK(ok, "writes on queue 1 read back on queue 2, 512 B to 128 KiB (PRP1, PRP2, PRP lists)");
	/* A PRP1 with an offset into its page. */
	struct nvme_command c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = d->buf_iova + 4096 + 512;
	c.dptr.prp.prp2 = d->buf_iova + 4096 * 3;
	memset(d->buf, 0, 5 * 4096);
	/* LBA 1000 holds the last pattern written above (256 blocks, seed 256). */
	CHECK(drv_cmd(d, 1, c) == 0 && filled(d->buf + 4096 + 512, 3584, 256) &&
		      d->buf[4096 * 3] == (uint8_t)(3584 * 7 + 256),
	      "a PRP1 with an offset, the rest in PRP2");
	/* SGL: a segment of two data blocks. */
	struct nvme_sgl_desc *seg = (void *)d->list;
	seg[0] = (struct nvme_sgl_desc){.address = d->buf_iova + 8192, .length = 1024, .type = 0};
	seg[1] = (struct nvme_sgl_desc){.address = d->buf_iova + 65536, .length = 3072, .type = 0};
	c = rw(NVME_OPC_READ, 1000, 8);
	c.flags = NVME_CMD_PSDT_SGL;
	c.dptr.sgl = (struct nvme_sgl_desc){.address = d->list_iova, .length = 32, .type = NVME_SGL_TYPE(3, 0)};
	memset(d->buf, 0, 128 * 1024);
	CHECK(drv_cmd(d, 1, c) == 0 && filled(d->buf + 8192, 1024, 256) && d->buf[65536] == (uint8_t)(1024 * 7 + 256),
	      "an SGL last segment of two data blocks");
	/* A PRP list out of order, with runs of adjacent pages between the jumps (the
	 * controller merges adjacent pages into one copy): each page lands where its
	 * entry says, both ways. */
	static const unsigned perm[8] = {0, 2, 3, 1, 6, 7, 4, 5};
	for (unsigned i = 0; i < 8; i++)
		memset(d->buf + i * 4096, 0x40 + i, 4096);
	c = rw(NVME_OPC_WRITE, 2000, 64);
	c.dptr.prp.prp1 = d->buf_iova + perm[0] * 4096;
	for (unsigned i = 1; i < 8; i++)
		d->list[i - 1] = d->buf_iova + perm[i] * 4096;
	c.dptr.prp.prp2 = d->list_iova;
	ok = drv_cmd(d, 1, c) == 0;
	memset(d->buf, 0, 8 * 4096);
	ok = ok && io_prp(d, 2, NVME_OPC_READ, 2000, 64) == 0;
	for (unsigned i = 0; i < 8 && ok; i++)
		for (unsigned j = 0; j < 4096 && ok; j++)
			ok = d->buf[i * 4096 + j] == 0x40 + perm[i];
	c = rw(NVME_OPC_READ, 2000, 64); /* the same list, reading */
	c.dptr.prp.prp1 = d->buf_iova + perm[0] * 4096;
	for (unsigned i = 1; i < 8; i++)
		d->list[i - 1] = d->buf_iova + perm[i] * 4096;
	c.dptr.prp.prp2 = d->list_iova;
	memset(d->buf, 0, 8 * 4096);
	ok = ok && drv_cmd(d, 1, c) == 0;
	for (unsigned i = 0; i < 8 && ok; i++)
		for (unsigned j = 0; j < 4096 && ok; j++)
			ok = d->buf[perm[i] * 4096 + j] == 0x40 + perm[i];
	CHECK(ok, "a PRP list out of order: every page written from and read into the page its entry names");
	/* Bad pointers: each gets the NVMe status, the controller carries on. */
	c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = 0x7000000000ull;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a PRP outside guest memory: Data Transfer Error");
	uint64_t iova, len;
	vu_client_memory(d->c, &iova, &len);
	c = rw(NVME_OPC_WRITE, 1000, 16);
	c.dptr.prp.prp1 = iova + len - 4096;
	c.dptr.prp.prp2 = iova + len;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a PRP across the region's end: Data Transfer Error");
	c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = d->buf_iova + 2;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_INVALID_PRP_OFFSET), "a PRP1 not dword aligned: Invalid PRP Offset");
	c = rw(NVME_OPC_READ, 1000, 64);
	c.dptr.prp.prp1 = d->buf_iova;
	c.dptr.prp.prp2 = 0x7000000000ull;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a PRP list outside guest memory: Data Transfer Error");
	d->list[0] = d->buf_iova + 100;
	c.dptr.prp.prp2 = d->list_iova;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR) ||
		      NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_INVALID_PRP_OFFSET),
	      "a PRP list entry with an offset: refused");
	c = rw(NVME_OPC_READ, 1000, 8);
	c.flags = NVME_CMD_PSDT_SGL;
	c.dptr.sgl = (struct nvme_sgl_desc){.address = 0x7000000000ull, .length = 4096, .type = 0};
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "an SGL data block outside guest memory: Data Transfer Error");
	c.dptr.sgl = (struct nvme_sgl_desc){.address = d->buf_iova, .length = 4096, .type = NVME_SGL_TYPE(4, 0)};
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID), "a keyed SGL on PCIe: SGL Descriptor Type Invalid");
	seg[0] = (struct nvme_sgl_desc){.address = d->list_iova, .length = 16, .type = NVME_SGL_TYPE(2, 0)};
	c.dptr.sgl = (struct nvme_sgl_desc){.address = d->list_iova, .length = 16, .type = NVME_SGL_TYPE(2, 0)};
	int st = NODNR(drv_cmd(d, 1, c));
	CHECK(st == ST(0, NVME_SC_INVALID_NUMBER_OF_SGL_DESCRIPTORS) || st == ST(0, NVME_SC_INVALID_SGL_SEGMENT_DESCRIPTOR),
	      "an SGL segment pointing at itself: refused (0x%x)", st);
	c = rw(NVME_OPC_READ, 1000, 8);
	c.flags = NVME_CMD_PSDT_SGL;
	c.dptr.sgl = (struct nvme_sgl_desc){.address = d->buf_iova, .length = 1024, .type = 0};
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_SGL_LENGTH_INVALID), "an SGL shorter than the data: Data SGL Length Invalid");
	fill(d->buf, 4096, 3);
	CHECK(io_prp(d, 1, NVME_OPC_WRITE, 1000, 8) == 0, "the queue still works after the bad pointers");
	/* Reads rung with one doorbell write are fetched in one pass, which holds their copies
	 * (and answers) to its end: a bad pointer among them fails alone, and each good read
	 * carries its own data. */
	fill(d->buf, 4096, 4);
	CHECK(io_prp(d, 1, NVME_OPC_WRITE, 2000, 8) == 0, "a second pattern written");
	memset(d->buf, 0, 6 * 4096);
	struct nvme_command batch[3] = {rw(NVME_OPC_READ, 1000, 8), rw(NVME_OPC_READ, 1000, 8), rw(NVME_OPC_READ, 2000, 8)};
	batch[0].dptr.prp.prp1 = d->buf_iova + 2 * 4096;
	batch[1].dptr.prp.prp1 = 0x7000000000ull;
	batch[2].dptr.prp.prp1 = d->buf_iova + 4 * 4096;
	int status[3];
	drv_batch(d, 1, batch, 3, status);
	CHECK(status[0] == 0 && status[1] == ST(0, NVME_SC_DATA_TRANSFER_ERROR) && status[2] == 0,
	      "three reads in one pass: ok, Data Transfer Error, ok (0x%x 0x%x 0x%x)", status[0], status[1], status[2]);
	CHECK(filled(d->buf + 2 * 4096, 4096, 3) && filled(d->buf + 4 * 4096, 4096, 4),
	      "the two good reads of the pass carry their own data");
	/* Writes into a RAM namespace are held to the pass's end too: in one pass, a write, a
	 * write with a bad pointer, a write, then a read of the first write's blocks. */
	fill(d->buf, 4096, 11);
	fill(d->buf + 4096, 4096, 12);
	memset(d->buf + 2 * 4096, 0, 4096);
	struct nvme_command wb[4] = {rw(NVME_OPC_WRITE, 3000, 8), rw(NVME_OPC_WRITE, 3100, 8), rw(NVME_OPC_WRITE, 3008, 8),
				     rw(NVME_OPC_READ, 3000, 8)};
	wb[0].dptr.prp.prp1 = d->buf_iova;
	wb[1].dptr.prp.prp1 = 0x7000000000ull;
	wb[2].dptr.prp.prp1 = d->buf_iova + 4096;
	wb[3].dptr.prp.prp1 = d->buf_iova + 2 * 4096;
	int wst[4];
	drv_batch(d, 1, wb, 4, wst);
	CHECK(wst[0] == 0 && wst[1] == ST(0, NVME_SC_DATA_TRANSFER_ERROR) && wst[2] == 0 && wst[3] == 0,
	      "write, bad write, write, read in one pass: ok, Data Transfer Error, ok, ok (0x%x 0x%x 0x%x 0x%x)", wst[0],
	      wst[1], wst[2], wst[3]);
	CHECK(filled(d->buf + 2 * 4096, 4096, 11), "the read after the write in the same pass reads what it wrote");
	memset(d->buf, 0, 2 * 4096);
	CHECK(io_prp(d, 1, NVME_OPC_READ, 3000, 16) == 0 && filled(d->buf, 4096, 11) && filled(d->buf + 4096, 4096, 12),
	      "both good writes of the pass are in the namespace");
}

/*
 * A null namespace holds no data: over vfio-user nothing moves, as with SPDK's
 * null bdev (a read leaves the guest's buffer as it was), but the data pointer
 * is still checked.  Namespace 2 stays for check_tcp.
 */
static void test_null_namespace(struct drv *d)
{
	CHECK(vu_target_rpc(&tgt, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"bdev_null_create\",\"params\":"
				  "{\"name\":\"null0\",\"num_blocks\":131072,\"block_size\":512}}") &&
		      vu_target_rpc(&tgt, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nvmf_subsystem_add_ns\",\"params\":"
					  "{\"nqn\":\"" VU_TEST_NQN "\",\"namespace\":{\"bdev_name\":\"null0\",\"nsid\":2}}}"),
	      "a null namespace added as NSID 2");
	fill(d->buf, 128 * 1024, 5);
	CHECK(io_prp_ns(d, 1, NVME_OPC_WRITE, 2, 0, 256) == 0 && filled(d->buf, 128 * 1024, 5),
	      "a 128 KiB write to it succeeds and leaves the buffer alone");
	fill(d->buf, 128 * 1024, 9);
	bool ok = true;
	for (uint32_t nlb = 1; nlb <= 256 && ok; nlb *= 4)
		ok = io_prp_ns(d, 2, NVME_OPC_READ, 2, 64, nlb) == 0 && filled(d->buf, 128 * 1024, 9);
	CHECK(ok, "reads of 512 B to 128 KiB succeed and leave the guest's buffer as it was");
	struct nvme_command c = rw(NVME_OPC_READ, 0, 8);
	c.nsid = 2;
	c.dptr.prp.prp1 = 0x7000000000ull;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a read to a PRP outside guest memory: Data Transfer Error");
	c.opc = NVME_OPC_WRITE;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a write from it: Data Transfer Error");
	c = rw(NVME_OPC_READ, 0, 64);
	c.nsid = 2;
	c.dptr.prp.prp1 = d->buf_iova;
	c.dptr.prp.prp2 = 0x7000000000ull;
	CHECK(NODNR(drv_cmd(d, 1, c)) == ST(0, NVME_SC_DATA_TRANSFER_ERROR), "a PRP list outside guest memory: Data Transfer Error");
}

/*
 * In a fetch pass the device writes completion entries a cache line (four) at
 * a time, and at the pass's end.  Queues of 7 entries (lines end at slots 3
 * and 6, the ring's end) and batches of 5 that mix RAM reads (answered after
 * the pass's copies) and null ones (answered at once) wrap the ring 28 times.
 */
static void test_completion_lines(struct drv *d)
{
	struct ring *r = &d->q[4];
	reset_ring(r);
	r->size = 7;
	CHECK(create_cq(d, 4, 7, 4, false, r->cq_iova) == 0 && create_sq(d, 4, 7, 4, r->sq_iova) == 0,
	      "queue pair 4 of 7 entries");
	fill(d->buf, 4096, 21);
	CHECK(io_prp(d, 1, NVME_OPC_WRITE, 4000, 8) == 0, "a pattern written to the RAM namespace");
	bool ok = true;
	int rounds = 0;
	for (; rounds < 40 && ok; rounds++) {
		struct nvme_command b[5];
		memset(d->buf + 4096, 0, 5 * 4096);
		for (int i = 0; i < 5; i++) {
			b[i] = rw(NVME_OPC_READ, 4000, 8);
			b[i].nsid = (rounds + i) % 2 ? 2 : 1;
			b[i].dptr.prp.prp1 = d->buf_iova + 4096 * (uint64_t)(i + 1);
		}
		int st[5];
		drv_batch(d, 4, b, 5, st);
		for (int i = 0; i < 5; i++)
			ok = ok && st[i] == 0 && (b[i].nsid == 2 || filled(d->buf + 4096 * (i + 1), 4096, 21));
		if (!ok)
			fprintf(stderr, "# round %d: statuses %d %d %d %d %d\n", rounds, st[0], st[1], st[2], st[3], st[4]);
	}
	CHECK(ok, "200 reads in batches of 5 through a 7-entry queue: each completed once, with its data");
	d->hold_cq_head = true;
	CHECK(drv_reap(d, 4, 100, NULL) == -1, "no entry beyond them");
	d->hold_cq_head = false;
	CHECK(delete_q(d, NVME_OPC_DELETE_IO_SQ, 4) == 0 && delete_q(d, NVME_OPC_DELETE_IO_CQ, 4) == 0,
	      "queue pair 4 deleted");
}

/* An idle device still looks at its doorbells (every 1 ms, then every 5 ms once idle for a second). */
static void test_idle_wake(struct drv *d)
{
	usleep(1200 * 1000);
	fill(d->buf, 4096, 77);
	CHECK(io_prp(d, 1, NVME_OPC_WRITE, 3000, 8) == 0, "a write after 1.2 s of idle completes");
	usleep(100 * 1000);
	memset(d->buf, 0, 4096);
	CHECK(io_prp(d, 2, NVME_OPC_READ, 3000, 8) == 0 && filled(d->buf, 4096, 77), "a read after 0.1 s of idle reads it back");
}

/* Completions raise the queue's MSI-X vector; without one, INTx. */
static void test_interrupts(struct drv *d)
{
	reset_ring(&d->q[3]);
	int st = create_cq(d, 3, QS, 3, true, d->q[3].cq_iova);
	CHECK(st == 0 && create_sq(d, 3, QS, 3, d->q[3].sq_iova) == 0, "queue pair 3 with interrupts on vector 3");
	int msix = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(vu_client_set_msix(d->c, 3, msix) == 0, "an eventfd for MSI-X vector 3");
	struct nvme_command c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = d->buf_iova;
	struct pollfd pfd = {.fd = msix, .events = POLLIN};
	uint64_t v = 0;
	CHECK(drv_cmd(d, 3, c) == 0 && poll(&pfd, 1, WAIT_MS) == 1 && read(msix, &v, 8) == 8 && v >= 1,
	      "a completion signals the MSI-X eventfd");
	CHECK(vu_client_set_msix(d->c, 3, -1) == 0, "vector 3 de-assigned");
	struct vfio_user_irq_set is = {.argsz = sizeof(is), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				       .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1};
	uint32_t e = 0;
	CHECK(vu_client_call(d->c, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), &intx, 1, NULL, NULL, &e) == 0,
	      "an eventfd for INTx");
	pfd.fd = intx;
	CHECK(drv_cmd(d, 3, c) == 0 && poll(&pfd, 1, WAIT_MS) == 1 && read(intx, &v, 8) == 8 && v >= 1,
	      "without an MSI-X vector, a completion signals INTx");
	/* MSI (one message) takes over from INTx for every queue without an MSI-X vector. */
	int msi = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	is.index = VFIO_PCI_MSI_IRQ_INDEX;
	CHECK(vu_client_call(d->c, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), &msi, 1, NULL, NULL, &e) == 0,
	      "an eventfd for MSI");
	pfd.fd = msi;
	struct pollfd ipfd = {.fd = intx, .events = POLLIN};
	CHECK(drv_cmd(d, 3, c) == 0 && poll(&pfd, 1, WAIT_MS) == 1 && read(msi, &v, 8) == 8 && v >= 1 &&
		      poll(&ipfd, 1, 0) == 0,
	      "with MSI set up, a completion signals MSI and not INTx");
	struct vfio_user_irq_set off = {.argsz = sizeof(off), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					.index = VFIO_PCI_MSI_IRQ_INDEX};
	CHECK(vu_client_call(d->c, VFIO_USER_DEVICE_SET_IRQS, &off, sizeof(off), NULL, 0, NULL, NULL, &e) == 0,
	      "MSI turned off");
	close(msi);
	close(msix);
	close(intx);
}

/* Get or Set Features on the admin queue: the status, and dw0 of the answer. */
static int feature(struct drv *d, uint8_t opc, uint32_t cdw10, uint32_t cdw11, uint32_t *dw0)
{
	struct nvme_command c = {.opc = opc, .cdw10 = cdw10, .cdw11 = cdw11};
	uint16_t cid = drv_submit(d, 0, &c);
	struct nvme_completion e;
	int st = drv_reap(d, 0, WAIT_MS, &e);
	if (st >= 0 && e.cid != cid)
		return -2;
	if (dw0)
		*dw0 = e.cdw0;
	return st;
}

/*
 * Four batches of two reads on queue 3 (vector 3), each batch reaped by
 * polling before the next; then the interrupts the vector got, counted
 * until 200 ms pass with none more.
 */
static uint64_t interrupts_for_batches(struct drv *d, int efd)
{
	uint64_t v, total = 0;
	while (read(efd, &v, 8) == 8)
		;
	for (int b = 0; b < 4; b++) {
		for (int i = 0; i < 2; i++) {
			struct nvme_command c = rw(NVME_OPC_READ, 1000, 8);
			c.dptr.prp.prp1 = d->buf_iova;
			drv_submit(d, 3, &c);
		}
		for (int i = 0; i < 2; i++)
			CHECK(drv_reap(d, 3, WAIT_MS, NULL) == 0, "batch %d read %d completes", b, i);
	}
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	while (poll(&pfd, 1, 200) == 1 && read(efd, &v, 8) == 8)
		total += v;
	return total;
}

/* Interrupt Coalescing (Feature 08h) and Interrupt Vector Configuration (09h): kept, reported, applied. */
static void test_interrupt_coalescing(struct drv *d)
{
	const uint8_t SET = NVME_OPC_SET_FEATURES, GET = NVME_OPC_GET_FEATURES;
	uint32_t dw0 = 1;
	CHECK(feature(d, GET, NVME_FEAT_IRQ_COALESCE, 0, &dw0) == 0 && dw0 == 0, "coalescing is off at first");
	CHECK(feature(d, SET, NVME_FEAT_IRQ_COALESCE, 0xff03, NULL) == 0, "Set Features 08h: THR 3 (4 entries), TIME 25.5 ms");
	CHECK(feature(d, GET, NVME_FEAT_IRQ_COALESCE, 0, &dw0) == 0 && dw0 == 0xff03, "Get Features 08h returns it (0x%x)", dw0);
	CHECK(feature(d, GET, NVME_FEAT_IRQ_COALESCE | 1u << 8, 0, &dw0) == 0 && dw0 == 0, "its default is 0");
	CHECK(feature(d, GET, NVME_FEAT_IRQ_COALESCE | 3u << 8, 0, &dw0) == 0 && dw0 == 0x4,
	      "its capabilities: changeable, not saveable");
	CHECK(NODNR(feature(d, SET, NVME_FEAT_IRQ_COALESCE | 1u << 31, 0x0101, NULL)) ==
		      ST(1, NVME_SC_FEATURE_NOT_SAVEABLE),
	      "Save: Feature Identifier Not Saveable");
	CHECK(NODNR(feature(d, GET, NVME_FEAT_IRQ_CONFIG, 65, NULL)) == ST(0, NVME_SC_INVALID_FIELD),
	      "Feature 09h for a vector past the 65: Invalid Field");
	CHECK(feature(d, GET, NVME_FEAT_IRQ_CONFIG, 3, &dw0) == 0 && dw0 == 3, "vector 3 coalesces (CD 0)");

	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(vu_client_set_msix(d->c, 3, efd) == 0, "an eventfd for MSI-X vector 3");
	/* 8 entries at one interrupt per 4: 2 (a stall past 25.5 ms between batches adds one: tried again). */
	uint64_t n = 0;
	for (int attempt = 0; attempt < 3 && n != 2; attempt++)
		n = interrupts_for_batches(d, efd);
	CHECK(n == 2, "THR 3: 8 completions raise 2 interrupts (%llu)", (unsigned long long)n);

	CHECK(feature(d, SET, NVME_FEAT_IRQ_CONFIG, 1u << 16 | 3, NULL) == 0, "Coalescing Disable on vector 3");
	CHECK(feature(d, GET, NVME_FEAT_IRQ_CONFIG, 3, &dw0) == 0 && dw0 == (1u << 16 | 3), "Get Features 09h returns it");
	n = interrupts_for_batches(d, efd);
	CHECK(n >= 4, "with CD, every batch raises its interrupt (%llu)", (unsigned long long)n);
	CHECK(feature(d, SET, NVME_FEAT_IRQ_CONFIG, 3, NULL) == 0, "CD cleared again");

	/* Fewer entries than the threshold: the aggregation time lets the interrupt go. */
	CHECK(feature(d, SET, NVME_FEAT_IRQ_COALESCE, 0x14ff, NULL) == 0, "THR 255, TIME 2 ms");
	uint64_t v;
	while (read(efd, &v, 8) == 8)
		;
	struct nvme_command c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = d->buf_iova;
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	CHECK(drv_cmd(d, 3, c) == 0 && poll(&pfd, 1, WAIT_MS) == 1 && read(efd, &v, 8) == 8 && v == 1,
	      "one completion under the threshold is signalled once the time is up");

	CHECK(feature(d, SET, NVME_FEAT_IRQ_COALESCE, 0, NULL) == 0, "coalescing off");
	n = interrupts_for_batches(d, efd);
	CHECK(n >= 4, "without coalescing, every batch raises its interrupt (%llu)", (unsigned long long)n);
	CHECK(vu_client_set_msix(d->c, 3, -1) == 0, "vector 3 de-assigned");
	close(efd);
}

static void test_doorbells(struct drv *d)
{
	/* Past the queue size: ignored, and an Error event (Invalid Doorbell Write Value). */
	struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
	uint16_t cid = drv_submit(d, 0, &aer);
	__atomic_store_n(&d->db[2 * 1], QS + 3, __ATOMIC_RELEASE);
	struct nvme_completion e = {0};
	int st = drv_reap(d, 0, WAIT_MS, &e);
	CHECK(st == 0 && e.cid == cid && (e.cdw0 & 7) == 0 && ((e.cdw0 >> 8) & 0xff) == 1 && ((e.cdw0 >> 16) & 0xff) == 1,
	      "an SQ doorbell past the queue size: an Error event, Invalid Doorbell Write Value (dw0 0x%x)", e.cdw0);
	cid = drv_submit(d, 0, &aer);
	__atomic_store_n(&d->db[2 * 8], 5, __ATOMIC_RELEASE); /* a queue that does not exist */
	st = drv_reap(d, 0, WAIT_MS, &e);
	CHECK(st == 0 && e.cid == cid && (e.cdw0 & 7) == 0 && ((e.cdw0 >> 8) & 0xff) == 0,
	      "a doorbell of a queue that does not exist: an Error event, Invalid Doorbell Register (dw0 0x%x)", e.cdw0);
	struct nvme_command c = rw(NVME_OPC_READ, 1000, 8);
	c.dptr.prp.prp1 = d->buf_iova;
	/* Queue 2 carries on meanwhile. */
	CHECK(drv_cmd(d, 2, c) == 0, "other queues work after doorbell writes past the size and for no queue");
	__atomic_store_n(&d->db[2 * 1], d->q[1].tail, __ATOMIC_RELEASE);
	__atomic_store_n(&d->db[2 * 8], 0, __ATOMIC_RELEASE);
	CHECK(drv_cmd(d, 1, c) == 0, "the queue works again once its doorbell is valid");
	CHECK(vu_target_alive(&tgt), "nvmfd runs");
}

static void test_resets(struct drv *d)
{
	fill(d->buf, 8192, 42);
	CHECK(io_prp(d, 1, NVME_OPC_WRITE, 2000, 16) == 0, "data written before the reset");
	bool ok = true;
	for (int i = 0; i < 5 && ok; i++) {
		/* An AER held across each reset: the reset must end it. */
		struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
		drv_submit(d, 0, &aer);
		ok = !(drv_disable(d) & NVME_CSTS_RDY);
		ok = ok && (drv_enable(d) & NVME_CSTS_RDY);
		struct nvme_command nq = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = (NQ - 1) << 16 | (NQ - 1)};
		ok = ok && drv_cmd(d, 0, nq) == 0 && create_ioq(d, 1) == 0;
		memset(d->buf, 0, 8192);
		ok = ok && io_prp(d, 1, NVME_OPC_READ, 2000, 16) == 0 && filled(d->buf, 8192, 42);
		fill(d->buf, 8192, 42);
		ok = ok && io_prp(d, 1, NVME_OPC_WRITE, 2000, 16) == 0;
	}
	CHECK(ok, "controller resets (CC.EN 1 -> 0 -> 1) five times, I/O before and after, data kept");
	/* Four AERs are held (AERL 3); a fifth is over the limit: none from before the resets linger. */
	uint16_t last = 0;
	for (int i = 0; i < 5; i++) {
		struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
		last = drv_submit(d, 0, &aer);
	}
	struct nvme_completion ev = {0};
	int st = drv_reap(d, 0, WAIT_MS, &ev);
	CHECK(ev.cid == last && NODNR(st) == ST(1, NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED),
	      "resets end held AERs: four new ones are held, the fifth exceeds the limit");
	ok = true;
	for (int i = 0; i < 30 && ok; i++) {
		ok = delete_q(d, NVME_OPC_DELETE_IO_SQ, 1) == 0 && delete_q(d, NVME_OPC_DELETE_IO_CQ, 1) == 0;
		ok = ok && create_ioq(d, 1) == 0;
		ok = ok && io_prp(d, 1, NVME_OPC_READ, 2000, 16) == 0 && filled(d->buf, 8192, 42);
	}
	CHECK(ok, "an I/O queue deleted and created 30 times, with I/O each time");
	/* Shutdown notification. */
	vu_client_reg_write(d->c, NVME_REG_CC, 4, NVME_CC_EN | 6u << 16 | 4u << 20 | 1u << NVME_CC_SHN_SHIFT);
	CHECK((reg(d, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_COMPLETE, "CC.SHN: CSTS.SHST complete");
	drv_disable(d);
	/* Function level reset through config space, then DEVICE_RESET: disabled, data kept. */
	CHECK(drv_enable(d) & NVME_CSTS_RDY, "enabled again");
	uint8_t w[sizeof(struct vfio_user_region_access) + 2];
	struct vfio_user_region_access a = {.offset = 0x68 + 1, .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 1};
	memcpy(w, &a, sizeof(a));
	w[sizeof(a)] = 0x80;
	uint32_t e = 0;
	int rc = vu_client_call(d->c, VFIO_USER_REGION_WRITE, w, sizeof(a) + 1, NULL, 0, NULL, NULL, &e);
	CHECK(rc == 0 && !(reg(d, NVME_REG_CSTS) & NVME_CSTS_RDY) && reg(d, NVME_REG_CC) == 0,
	      "a function level reset disables the controller");
	CHECK(drv_enable(d) & NVME_CSTS_RDY, "enabled after the FLR");
	struct nvme_command nq = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = (NQ - 1) << 16 | (NQ - 1)};
	memset(d->buf, 0, 8192);
	CHECK(drv_cmd(d, 0, nq) == 0 && create_ioq(d, 1) == 0 && io_prp(d, 1, NVME_OPC_READ, 2000, 16) == 0 &&
		      filled(d->buf, 8192, 42),
	      "data written before the FLR reads back after it");
	rc = vu_client_call(d->c, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, NULL, NULL, &e);
	CHECK(rc == 0 && !(reg(d, NVME_REG_CSTS) & NVME_CSTS_RDY), "DEVICE_RESET disables the controller");
}

static void test_unmap_in_use(struct drv *d)
{
	CHECK(drv_enable(d) & NVME_CSTS_RDY, "enabled");
	uint64_t iova, len;
	vu_client_memory(d->c, &iova, &len);
	struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .addr = iova, .size = len};
	uint32_t e = 0;
	int rc = vu_client_call(d->c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0, NULL, NULL, &e);
	CHECK(rc == 0 && (reg(d, NVME_REG_CSTS) & NVME_CSTS_CFS),
	      "unmapping the memory the admin queue lives in: the reply, then CSTS.CFS");
	struct nvme_command id = {.opc = NVME_OPC_IDENTIFY, .cdw10 = NVME_CNS_CONTROLLER};
	id.dptr.prp.prp1 = d->buf_iova;
	drv_submit(d, 0, &id);
	CHECK(vu_target_alive(&tgt), "a doorbell rung on unmapped queues: nvmfd runs");
}

/* A client that goes away with commands in flight. */
static void test_gone_mid_command(void)
{
	struct drv d;
	bool up = drv_open(&d, &tgt) == 0;
	CHECK(up && (drv_enable(&d) & NVME_CSTS_RDY), "a new client");
	if (!up)
		return; /* nothing to talk to */
	struct nvme_command nq = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = (NQ - 1) << 16 | (NQ - 1)};
	CHECK(drv_cmd(&d, 0, nq) == 0 && create_ioq(&d, 1) == 0, "with an I/O queue");
	for (int i = 0; i < QS - 1; i++) {
		struct nvme_command c = rw(NVME_OPC_WRITE, 40000 + (uint64_t)i * 256, 256);
		c.dptr.prp.prp1 = d.buf_iova;
		c.dptr.prp.prp2 = d.list_iova;
		for (int k = 1; k < 32; k++)
			d.list[k - 1] = d.buf_iova + (uint64_t)k * 4096;
		drv_submit(&d, 1, &c);
	}
	vu_client_close(d.c);
	CHECK(true, "gone with 15 writes of 128 KiB in flight");
}

/* A client that shrinks the file it shared: the device's next access faults (SIGBUS). */
static void test_memory_shrunk(void)
{
	struct drv d;
	bool up = drv_open(&d, &tgt) == 0;
	CHECK(up && (drv_enable(&d) & NVME_CSTS_RDY), "a client with its admin queue up");
	if (!up)
		return; /* nothing to talk to */
	/* From here the test must not touch its own shared memory either. */
	CHECK(ftruncate(vu_client_memfd(d.c), 0) == 0, "it truncates its memory file to nothing");
	__atomic_store_n(&d.db[0], 1, __ATOMIC_RELEASE);
	uint64_t end = now_ms() + WAIT_MS;
	while (!(reg(&d, NVME_REG_CSTS) & NVME_CSTS_CFS) && now_ms() < end)
		sched_yield();
	CHECK(reg(&d, NVME_REG_CSTS) & NVME_CSTS_CFS, "the admin SQ fetch faults: CSTS.CFS, and nvmfd runs");
	CHECK(vu_target_alive(&tgt), "nvmfd survives the vanished memory");
	vu_client_close(d.c);
}

/*
 * A client that shrinks the file of a data region only: the command whose data lies there gets
 * Data Transfer Error, and so does every later one there (the region is lost: a write does not
 * take the zeros of the page that stood in for the vanished one); its queues and its other
 * memory go on working.
 */
static void test_data_memory_shrunk(void)
{
	const uint64_t DTE = ST(0, NVME_SC_DATA_TRANSFER_ERROR), region = 64u << 10;
	struct drv d;
	bool up = drv_open(&d, &tgt) == 0;
	CHECK(up && (drv_enable(&d) & NVME_CSTS_RDY), "a client with its admin queue up");
	if (!up)
		return; /* nothing to talk to */
	CHECK(create_ioq(&d, 1) == 0, "I/O queue 1");
	uint64_t iova, len;
	vu_client_memory(d.c, &iova, &len);
	const uint64_t data_iova = (iova + len + (1u << 30)) & ~((1ull << 30) - 1);
	int mfd = memfd_create("nvmf-test-data", MFD_CLOEXEC);
	CHECK(mfd >= 0 && ftruncate(mfd, (off_t)region) == 0, "a second memory file");
	struct vfio_user_dma_map m = {.argsz = sizeof(m), .flags = 3, .addr = data_iova, .size = region};
	CHECK(vu_client_call(d.c, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1, NULL, NULL, NULL) == 0,
	      "the file mapped as a second region");
	fill(d.buf, 4096, 9);
	fill(d.buf + 4096, 4096, 10); /* unlike blocks 64-71, which the stand-in page may hold */
	CHECK(io_prp(&d, 1, NVME_OPC_WRITE, 64, 16) == 0, "blocks 64-79 written from the client's own memory");
	struct nvme_command rd = rw(NVME_OPC_READ, 64, 8), wr = rw(NVME_OPC_WRITE, 72, 8);
	rd.dptr.prp.prp1 = wr.dptr.prp.prp1 = data_iova;
	CHECK(drv_cmd(&d, 1, rd) == 0, "a read into the second region");
	CHECK(ftruncate(mfd, 0) == 0, "the client truncates the second region's file");
	CHECK(NODNR(drv_cmd(&d, 1, rd)) == DTE, "a read into it now: Data Transfer Error");
	CHECK(NODNR(drv_cmd(&d, 1, wr)) == DTE, "a write from it: Data Transfer Error");
	CHECK(NODNR(drv_cmd(&d, 1, rd)) == DTE, "a read into it again: Data Transfer Error");
	memset(d.buf, 0, 8192);
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 64, 16) == 0 && filled(d.buf, 4096, 9) && filled(d.buf + 4096, 4096, 10),
	      "blocks 64-79 read back whole into the client's own memory: the failed write wrote nothing");
	CHECK(!(reg(&d, NVME_REG_CSTS) & NVME_CSTS_CFS), "the controller has not failed");
	CHECK(vu_target_alive(&tgt), "nvmfd runs");
	close(mfd);
	vu_client_close(d.c);
}

static void check_tcp(void)
{
	struct nvmf_host_addr addr;
	char err[512], uri[300];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/%s", tgt.tcp_port, VU_TEST_NQN);
	nvmf_host_parse_address(uri, &addr, err, sizeof(err));
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	struct nvmf_host_ctrl *c = NULL;
	static uint8_t buf[8192];
	int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
	if (rc == 0)
		rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 2000, 16, buf, sizeof(buf), NULL);
	CHECK(rc == 0 && filled(buf, sizeof(buf), 42), "a TCP host reads what the PCIe driver wrote (%s)", rc ? err : "");
	memset(buf, 0xa5, sizeof(buf));
	if (rc == 0)
		rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 0), 2, 64, 16, buf, sizeof(buf), NULL);
	bool zeros = true;
	for (size_t i = 0; i < sizeof(buf); i++)
		zeros = zeros && buf[i] == 0;
	CHECK(rc == 0 && zeros, "over TCP, a read of the null namespace carries zeros (the stream must carry bytes)");
	if (c)
		nvmf_host_disconnect(c);
}

/*
 * nvmfd --vfio-user-doorbells trapped: BAR0's doorbells by message, shadow
 * doorbells with EventIdx (bad buffers refused), no BAR0 write needed while
 * the device polls, one to wake it from idle, and none of it left after a
 * controller reset.  The host library's driver over it, with verified data.
 */
static void test_trapped(const char *nvmfd)
{
	struct vu_target t2;
	if (vu_target_start(nvmfd, &t2, "--vfio-user-doorbells", "trapped") < 0) {
		CHECK(false, "nvmfd --vfio-user-doorbells trapped starts");
		return;
	}
	struct drv d;
	if (drv_open(&d, &t2) < 0) {
		CHECK(false, "a client opens the trapped device");
		vu_target_stop(&t2);
		return;
	}
	CHECK(d.db == NULL, "trapped: BAR0 offers no mmappable doorbell page");
	CHECK(drv_enable(&d) & NVME_CSTS_RDY, "trapped: enabled; admin doorbells go by message");
	CHECK(identify_oacs(&d) & NVME_CTRL_OACS_DBBUF, "trapped: OACS offers Doorbell Buffer Config");
	uint64_t sh_iova, ei_iova, iova, len;
	volatile uint32_t *sh = vu_client_alloc(d.c, 4096, &sh_iova), *ei = vu_client_alloc(d.c, 4096, &ei_iova);
	vu_client_memory(d.c, &iova, &len);
	CHECK(NODNR(dbbuf_config(&d, sh_iova + 8, ei_iova, 0)) == ST(0, NVME_SC_INVALID_FIELD),
	      "a shadow buffer not page aligned: Invalid Field");
	CHECK(NODNR(dbbuf_config(&d, sh_iova, sh_iova, 0)) == ST(0, NVME_SC_INVALID_FIELD),
	      "shadow and EventIdx on one page: Invalid Field");
	CHECK(NODNR(dbbuf_config(&d, sh_iova, iova + len, 0)) == ST(0, NVME_SC_INVALID_FIELD),
	      "an EventIdx page outside guest memory: Invalid Field");
	CHECK(NODNR(dbbuf_config(&d, sh_iova, ei_iova, NVME_CMD_PSDT_SGL)) == ST(0, NVME_SC_INVALID_FIELD),
	      "Doorbell Buffer Config with an SGL: Invalid Field");
	CHECK(create_ioq(&d, 1) == 0, "I/O queue pair 1 before the shadow buffer");
	fill(d.buf, 4096, 9);
	CHECK(io_prp(&d, 1, NVME_OPC_WRITE, 100, 8) == 0, "a write rung by BAR0 message completes");
	sh[2] = sh[3] = 0x5555;
	CHECK(dbbuf_config(&d, sh_iova, ei_iova, 0) == 0, "Doorbell Buffer Config");
	/* EventIdx: the no-write value, or (this thread held up for 2 ms) SQ 1's tail, set as the device slept. */
	CHECK(sh[2] == d.q[1].tail && sh[3] == d.q[1].head && (ei[2] == UINT32_MAX || ei[2] == d.q[1].tail) &&
		      ei[3] == UINT32_MAX,
	      "queue 1's doorbells carried into the shadow buffer (%u %u), EventIdx at its no-write value (%u %u)", sh[2],
	      sh[3], ei[2], ei[3]);
	d.shadow = sh;
	d.eventidx = ei;
	d.bar0_rings = 0;
	bool ok = true;
	for (int i = 0; i < 3 * QS && ok; i++) {
		memset(d.buf, 0, 4096);
		ok = io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0 && filled(d.buf, 4096, 9);
	}
	CHECK(ok, "%d reads through shadow doorbells, three times round the queue, read the data back", 3 * QS);
	/* One behind while the device polls; the tail itself if this thread was held up for 2 ms and it slept.
	 * The device updates EventIdx when it next looks: the last CQ head write may still be unseen. */
	uint32_t ei_sq = 0, ei_cq = 0;
	bool trails = false;
	for (uint64_t end = now_ms() + WAIT_MS; !trails && now_ms() < end;) {
		ei_sq = ei[2];
		ei_cq = ei[3];
		trails = (ei_sq == (d.q[1].tail + QS - 1u) % QS && ei_cq == (d.q[1].head + QS - 1u) % QS) ||
			 ei_sq == d.q[1].tail;
	}
	CHECK(trails, "EventIdx trails the guest's writes by one (%u %u, tail %u)", ei_sq, ei_cq, d.q[1].tail);
	CHECK(d.bar0_rings < 3 * QS * 2, "fewer BAR0 writes than doorbells (%u of %d)", d.bar0_rings, 3 * QS * 2);
	usleep(200 * 1000);
	CHECK(ei[2] == d.q[1].tail, "idle: EventIdx of SQ 1 is its tail, so the next submission writes BAR0 (%u)", ei[2]);
	unsigned before = d.bar0_rings;
	memset(d.buf, 0, 4096);
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0 && filled(d.buf, 4096, 9),
	      "a read after 0.2 s of idle wakes the device and reads the data");
	CHECK(d.bar0_rings == before + 1, "it took one BAR0 write (%u)", d.bar0_rings - before);
	/* A CQ head doorbell (a guest may write BAR0 at any time) polls the sleeping device, which
	 * moves EventIdx: it must arm SQ 1's again, or the next submission writes no BAR0. */
	d.hold_cq_head = true;
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0, "a read whose CQ head the driver keeps back");
	d.hold_cq_head = false;
	usleep(200 * 1000);
	sh[3] = d.q[1].head;
	vu_client_ring(d.c, 3, d.q[1].head);
	usleep(100 * 1000);
	CHECK(ei[2] == d.q[1].tail, "a CQ head doorbell to the sleeping device leaves SQ 1's EventIdx at its tail (%u, tail %u)",
	      ei[2], d.q[1].tail);
	before = d.bar0_rings;
	memset(d.buf, 0, 4096);
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0 && filled(d.buf, 4096, 9),
	      "the next read wakes the device with one BAR0 write (%u)", d.bar0_rings - before);
	/* An event while the device sleeps: its completion and interrupt come at once, no doorbell needed. */
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(vu_client_set_msix(d.c, 0, efd) == 0, "an eventfd for MSI-X vector 0 (admin)");
	struct nvme_command aec = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_ASYNC_EVENT, .cdw11 = NVME_AEC_NS_ATTR};
	CHECK(drv_cmd(&d, 0, aec) == 0, "Namespace Attribute Notices enabled");
	struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
	drv_submit(&d, 0, &aer);
	/* The read leaves EventIdx one behind the tail; only the device going to sleep sets it to the tail. */
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0, "a read after the event request");
	usleep(200 * 1000);
	CHECK(ei[2] == d.q[1].tail, "an outstanding Asynchronous Event Request does not keep the device polling");
	uint64_t v;
	while (read(efd, &v, 8) == 8)
		;
	CHECK(vu_target_rpc(&t2, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"bdev_null_create\",\"params\":"
				 "{\"name\":\"null9\",\"num_blocks\":4096,\"block_size\":512}}") &&
		      vu_target_rpc(&t2, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nvmf_subsystem_add_ns\",\"params\":"
					 "{\"nqn\":\"" VU_TEST_NQN "\",\"namespace\":{\"bdev_name\":\"null9\",\"nsid\":9}}}"),
	      "a namespace added while the device sleeps");
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	bool irq = poll(&pfd, 1, WAIT_MS) == 1;
	struct nvme_completion e = {0};
	int st = drv_reap(&d, 0, WAIT_MS, &e);
	CHECK(irq && st == 0 && (e.cdw0 & 7) == 2 && ((e.cdw0 >> 8) & 0xff) == 0,
	      "the sleeping device raises the Namespace Attribute Changed event and its interrupt (dw0 0x%x)", e.cdw0);
	vu_client_set_msix(d.c, 0, -1);
	close(efd);
	/* A reset forgets the shadow buffer: stale values there must not count. */
	CHECK(!(drv_disable(&d) & NVME_CSTS_RDY) && (drv_enable(&d) & NVME_CSTS_RDY), "controller reset");
	d.shadow = d.eventidx = NULL;
	sh[2] = 7;
	CHECK(create_ioq(&d, 1) == 0, "queue pair 1 again after the reset");
	memset(d.buf, 0, 4096);
	CHECK(io_prp(&d, 1, NVME_OPC_READ, 100, 8) == 0 && filled(d.buf, 4096, 9) && sh[2] == 7,
	      "after the reset the device follows BAR0, not the old shadow buffer");
	vu_client_close(d.c);

	/* The host library's driver takes the shadow doorbells on its own. */
	struct nvmf_host_addr addr;
	char err[512], uri[320];
	snprintf(uri, sizeof(uri), "vfio-user:%s", t2.sock2);
	nvmf_host_parse_address(uri, &addr, err, sizeof(err));
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.nr_io_queues = 2;
	struct nvmf_host_ctrl *c = NULL;
	int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
	CHECK(rc == 0 && (nvmf_host_ctrl_identify_data(c)->oacs & NVME_CTRL_OACS_DBBUF), "the host library connects (%s)",
	      rc ? err : "");
	static uint8_t wbuf[65536], rbuf[65536];
	fill(wbuf, sizeof(wbuf), 33);
	for (unsigned q = 0; rc == 0 && q < 2; q++) {
		for (int i = 0; rc == 0 && i < 40; i++)
			rc = nvmf_host_write_sync(nvmf_host_ctrl_io_qpair(c, q), 1, 4096 + 128u * (unsigned)i, 128, wbuf,
						  sizeof(wbuf), NULL);
		for (int i = 0; rc == 0 && i < 40; i++) {
			memset(rbuf, 0, sizeof(rbuf));
			rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 1 - q), 1, 4096 + 128u * (unsigned)i, 128,
						 rbuf, sizeof(rbuf), NULL);
			if (rc == 0 && memcmp(rbuf, wbuf, sizeof(rbuf)))
				rc = -EIO;
		}
	}
	CHECK(rc == 0, "the host library: 64 KiB writes on one queue read back on the other, 80 each way (%d)", rc);
	if (c)
		nvmf_host_disconnect(c);
	CHECK(vu_target_alive(&t2), "nvmfd with trapped doorbells runs");
	CHECK(vu_target_stop(&t2) == 0, "nvmfd with trapped doorbells stops cleanly");
}

int main(int argc, char **argv)
{
	if (argc < 2 || access(argv[1], X_OK) != 0) {
		printf("nvmfd not built: skip\n");
		return 77;
	}
	if (vu_target_start(argv[1], &tgt, NULL, NULL) < 0)
		return 1;
	struct drv d;
	if (drv_open(&d, &tgt) < 0) {
		vu_target_stop(&tgt);
		return 1;
	}
	test_enable_and_registers(&d);
	test_no_shadow_doorbells(&d);
	test_queue_checks(&d);
	test_io(&d);
	test_null_namespace(&d);
	test_completion_lines(&d);
	test_idle_wake(&d);
	test_interrupts(&d);
	test_interrupt_coalescing(&d);
	test_doorbells(&d);
	test_resets(&d);
	test_unmap_in_use(&d);
	vu_client_close(d.c);
	test_gone_mid_command();
	test_memory_shrunk();
	test_data_memory_shrunk();
	check_tcp();
	CHECK(vu_target_alive(&tgt), "nvmfd runs at the end");
	CHECK(vu_target_stop(&tgt) == 0, "nvmfd stops cleanly");
	test_trapped(argv[1]);
	printf("%s: %d failure(s)\n", argv[0], failures);
	return failures ? 1 : 0;
}
