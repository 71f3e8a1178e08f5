/*
 * The NVMe half of a vfio-user device: BAR0 registers, the admin queue
 * brought up from AQA/ASQ/ACQ, and the queue management commands a PCIe
 * controller has.  The controller itself lives on the core: its admin
 * queue is connected when the device appears, register reads and writes
 * become Property Get/Set on it, and each I/O queue the guest creates
 * becomes that controller's queue Connect.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvmf/nvme_admin_spec.h>

#include "vu_dev.h"
#include "vu_guard.h"

#define SPECIFIC(sc) NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, (sc))
#define GENERIC(sc) NVME_STATUS(NVME_SCT_GENERIC, (sc))

static struct nvmf_vu_dev *dev_of(struct vu_ctrl *vc)
{
	return vc->owner;
}

/* ---- Queue pairs on the core ---- */

struct make_arg {
	struct nvmf_vu_dev *dev;
	uint16_t qid;
};

static struct nvmf_qpair *make_qpair(void *arg, struct nvmf_association *na, const struct nvmf_qpair_params *params)
{
	struct make_arg *m = arg;
	return vu_qpair_create(na, &m->dev->vc, m->qid, params);
}

static struct vu_conn *add_conn(struct nvmf_vu_dev *dev, uint16_t qid)
{
	struct vu_conn *vcn = calloc(1, sizeof(*vcn));
	if (!vcn)
		return NULL;
	struct make_arg m = {.dev = dev, .qid = qid};
	vcn->conn = nvmf_conn_create_with(dev->tgt, dev->portid, &dev->qenv, make_qpair, &m);
	if (!vcn->conn) {
		free(vcn);
		return NULL;
	}
	vcn->qid = qid;
	vcn->next = dev->conns;
	dev->conns = vcn;
	return vcn;
}

static struct vu_qpair *conn_vqp(struct vu_conn *vcn)
{
	struct nvmf_qpair *qp = nvmf_conn_qpair(vcn->conn);
	return qp ? (struct vu_qpair *)qp : NULL;
}

struct sync_cqe {
	bool done;
	struct nvme_completion cqe;
};

static void sync_done(void *arg, const struct nvme_completion *cqe)
{
	struct sync_cqe *s = arg;
	s->cqe = *cqe;
	s->done = true;
}

/* Property Get/Set on the admin queue (answered before this returns: the core does them at once). */
static int property(struct nvmf_vu_dev *dev, bool set, uint32_t offset, bool eight, uint64_t value, uint64_t *out)
{
	if (!dev->admin || dev->admin->closed || !nvmf_conn_qpair(dev->admin->conn))
		return -ENOTCONN;
	struct nvme_command sqe = {0};
	if (set) {
		struct nvmf_property_set_command *ps = (void *)&sqe;
		ps->opc = NVME_OPC_FABRICS;
		ps->fctype = NVMF_FCTYPE_PROPERTY_SET;
		ps->attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4;
		ps->offset = offset;
		ps->value = value;
	} else {
		struct nvmf_property_get_command *pg = (void *)&sqe;
		pg->opc = NVME_OPC_FABRICS;
		pg->fctype = NVMF_FCTYPE_PROPERTY_GET;
		pg->attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4;
		pg->offset = offset;
	}
	struct sync_cqe s = {0};
	int rc = vu_qpair_submit_internal(nvmf_conn_qpair(dev->admin->conn), &sqe, NULL, 0, sync_done, &s);
	if (rc < 0)
		return rc;
	if (!s.done)
		return -EIO;
	if (s.cqe.status & 0xfffe)
		return -EINVAL;
	if (out)
		*out = (uint64_t)s.cqe.cdw1 << 32 | s.cqe.cdw0;
	return 0;
}

struct connect_ctx {
	struct nvmf_vu_dev *dev;
	struct vu_conn *vcn;
	struct nvmf_connect_data data;
};

static void io_connect_done(void *arg, const struct nvme_completion *cqe)
{
	struct connect_ctx *cx = arg;
	struct vu_conn *vcn = cx->vcn;
	struct nvmf_vu_dev *dev = cx->dev;
	free(cx);
	if (!vcn->create_pending)
		return;
	vcn->create_pending = false;
	struct vu_ctrl *vc = &dev->vc;
	struct vu_sq *sq = &vc->sq[vcn->qid];
	if ((cqe->status & 0xfffe) == 0) {
		vu_complete(vc, 0, vcn->cmd_cid, 0, 0);
		return;
	}
	/* The core refused the queue (above the number granted): the SQ never existed. */
	if (sq->live) {
		vc->cq[sq->cqid].sqs--;
		memset(sq, 0, sizeof(*sq));
	}
	vu_complete(vc, 0, vcn->cmd_cid, SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER) | NVME_STATUS_DNR, 0);
	nvmf_conn_close(vcn->conn);
}

static void admin_connect_done(void *arg, const struct nvme_completion *cqe)
{
	struct connect_ctx *cx = arg;
	struct nvmf_vu_dev *dev = cx->dev;
	free(cx);
	if ((cqe->status & 0xfffe) == 0)
		dev->cntlid = (uint16_t)cqe->cdw0;
	else
		fprintf(stderr, "nvmf: vfio-user: the controller core refused the device's Connect (status 0x%x)\n",
			cqe->status);
}

/* Send the queue's Connect (with the device's host identity). */
static int connect_queue(struct nvmf_vu_dev *dev, struct vu_conn *vcn, uint16_t qsize, vu_internal_done done)
{
	struct connect_ctx *cx = calloc(1, sizeof(*cx));
	if (!cx)
		return -ENOMEM;
	cx->dev = dev;
	cx->vcn = vcn;
	memcpy(cx->data.hostid, dev->hostid, 16);
	cx->data.cntlid = vcn->qid ? dev->cntlid : NVMF_CNTLID_DYNAMIC;
	snprintf(cx->data.subnqn, sizeof(cx->data.subnqn), "%s", dev->subnqn);
	snprintf(cx->data.hostnqn, sizeof(cx->data.hostnqn), "%s", dev->hostnqn);
	struct nvmf_connect_command cc = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_CONNECT};
	cc.qid = vcn->qid;
	cc.sqsize = (uint16_t)(qsize - 1);
	int rc = vu_qpair_submit_internal(nvmf_conn_qpair(vcn->conn), (struct nvme_command *)&cc, &cx->data,
					  sizeof(cx->data), done, cx);
	if (rc < 0)
		free(cx);
	return rc;
}

/* The subsystem this device serves: the first the port exports. */
static bool pick_subsystem(struct nvmf_vu_dev *dev)
{
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(dev->tgt, NULL); ss;
	     ss = nvmf_tgt_next_subsystem(dev->tgt, ss)) {
		const char *nqn = nvmf_subsystem_nqn(ss);
		if (nvmf_tgt_port_exports(dev->tgt, dev->portid, nqn)) {
			snprintf(dev->subnqn, sizeof(dev->subnqn), "%s", nqn);
			return true;
		}
	}
	return false;
}

static int connect_admin(struct nvmf_vu_dev *dev)
{
	struct vu_conn *vcn = add_conn(dev, 0);
	if (!vcn)
		return -errno;
	dev->admin = vcn;
	int rc = connect_queue(dev, vcn, VU_MAX_QSIZE, admin_connect_done);
	if (rc < 0 || !dev->cntlid)
		return rc < 0 ? rc : -EACCES;
	return 0;
}

int vu_nvme_start(struct nvmf_vu_dev *dev)
{
	if (!pick_subsystem(dev)) {
		fprintf(stderr, "nvmf: vfio-user: no subsystem on port %u\n", dev->portid);
		return -ENOENT;
	}
	char uuid[37];
	const uint8_t *u = dev->hostid;
	snprintf(uuid, sizeof(uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	snprintf(dev->hostnqn, sizeof(dev->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:%s", uuid);
	int rc = connect_admin(dev);
	if (rc < 0)
		return rc;
	/* CAP and VS never change: read once. */
	uint64_t v = 0;
	if (property(dev, false, NVME_REG_CAP, true, 0, &dev->cap) < 0 || property(dev, false, NVME_REG_VS, false, 0, &v) < 0)
		return -EIO;
	dev->vs = (uint32_t)v;
	return 0;
}

/* ---- Registers ---- */

static uint32_t csts(struct nvmf_vu_dev *dev)
{
	uint64_t v = 0;
	if (property(dev, false, NVME_REG_CSTS, false, 0, &v) < 0)
		v = 0;
	return (uint32_t)v | (dev->vc.fatal ? NVME_CSTS_CFS : 0);
}

static uint32_t reg32(struct nvmf_vu_dev *dev, uint32_t off)
{
	switch (off) {
	case NVME_REG_CAP:
		return (uint32_t)dev->cap;
	case NVME_REG_CAP + 4:
		return (uint32_t)(dev->cap >> 32);
	case NVME_REG_VS:
		return dev->vs;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:
		return dev->intms;
	case NVME_REG_CC:
		return dev->cc;
	case NVME_REG_CSTS:
		return csts(dev);
	case NVME_REG_AQA:
		return dev->aqa;
	case NVME_REG_ASQ:
		return (uint32_t)dev->asq;
	case NVME_REG_ASQ + 4:
		return (uint32_t)(dev->asq >> 32);
	case NVME_REG_ACQ:
		return (uint32_t)dev->acq;
	case NVME_REG_ACQ + 4:
		return (uint32_t)(dev->acq >> 32);
	default:
		return 0;
	}
}

void vu_nvme_reg_read(struct nvmf_vu_dev *dev, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *out = buf;
	for (uint32_t i = 0; i < len;) {
		uint32_t a = (off + i) & ~3u, skip = (off + i) - a;
		uint32_t v = reg32(dev, a);
		uint32_t n = 4 - skip < len - i ? 4 - skip : len - i;
		memcpy(out + i, (uint8_t *)&v + skip, n);
		i += n;
	}
}

static void close_io_conns(struct nvmf_vu_dev *dev)
{
	for (struct vu_conn *c = dev->conns; c; c = c->next) {
		if (c->qid && !c->closed) {
			c->create_pending = c->delete_pending = false;
			nvmf_conn_close(c->conn);
		}
	}
}

void vu_nvme_reset(struct nvmf_vu_dev *dev)
{
	struct vu_ctrl *vc = &dev->vc;
	close_io_conns(dev);
	vu_reset_queues(vc);
	dev->shadow_logged = false;
	/* Held AERs die with the reset; their answers find no queue and are dropped. */
	if (dev->admin && !dev->admin->closed)
		nvmf_conn_abort_events(dev->admin->conn);
	vc->fatal = false;
	if (dev->cc & NVME_CC_EN)
		property(dev, true, NVME_REG_CC, false, 0, NULL);
	dev->cc = 0;
	if (!dev->admin || dev->admin->closed) {
		/* The core ended the controller (a disconnect by RPC): a reset makes a new one. */
		dev->admin = NULL;
		dev->cntlid = 0;
		if (connect_admin(dev) < 0)
			vc->fatal = true;
	}
}

/* CC.EN 0 -> 1: the admin queue from AQA, ASQ and ACQ. */
static bool enable(struct nvmf_vu_dev *dev)
{
	struct vu_ctrl *vc = &dev->vc;
	uint16_t sqs = (uint16_t)((dev->aqa & 0xfff) + 1), cqs = (uint16_t)(((dev->aqa >> 16) & 0xfff) + 1);
	if (sqs < 2 || cqs < 2 || sqs > VU_MAX_QSIZE || cqs > VU_MAX_QSIZE || (dev->asq | dev->acq) & (VU_PAGE - 1))
		return false;
	struct vu_qpair *vqp = dev->admin ? conn_vqp(dev->admin) : NULL;
	if (!vqp)
		return false;
	vc->cq[0] = (struct vu_cq){.live = true, .size = cqs, .phase = true, .ien = true, .iv = 0, .iova = dev->acq, .sqs = 1};
	vc->sq[0] = (struct vu_sq){.live = true, .size = sqs, .cqid = 0, .iova = dev->asq, .vqp = vqp};
	vc->doorbells[0] = 0;
	vc->doorbells[1] = 0;
	/* Rings outside guest memory: the controller cannot work (CSTS.CFS). */
	return vu_remap_queues(vc);
}

static void write_cc(struct nvmf_vu_dev *dev, uint32_t v)
{
	struct vu_ctrl *vc = &dev->vc;
	uint32_t old = dev->cc;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		if (vc->fatal || !enable(dev) || property(dev, true, NVME_REG_CC, false, v, NULL) < 0) {
			vu_reset_queues(vc);
			vc->fatal = true;
			dev->cc = v;
			return;
		}
		dev->cc = v;
		return;
	}
	if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		vu_nvme_reset(dev);
		dev->cc = v & ~NVME_CC_SHN_MASK;
		return;
	}
	if (!(v & NVME_CC_EN) && vc->fatal) {
		vu_nvme_reset(dev); /* clears CSTS.CFS */
		dev->cc = v;
		return;
	}
	/* Shutdown notification and the other fields while enabled. */
	if (property(dev, true, NVME_REG_CC, false, v, NULL) == 0)
		dev->cc = v;
}

static void write32(struct nvmf_vu_dev *dev, uint32_t off, uint32_t v)
{
	/* Queue registers are read-only while enabled; CAP, VS, CSTS always are. */
	bool en = dev->cc & NVME_CC_EN;
	switch (off) {
	case NVME_REG_INTMS:
		dev->intms |= v;
		break;
	case NVME_REG_INTMC:
		dev->intms &= ~v;
		break;
	case NVME_REG_CC:
		write_cc(dev, v);
		break;
	case NVME_REG_AQA:
		if (!en)
			dev->aqa = v & 0x0fff0fff;
		break;
	case NVME_REG_ASQ:
		if (!en)
			dev->asq = (dev->asq & ~0xffffffffull) | (v & ~0xfffu);
		break;
	case NVME_REG_ASQ + 4:
		if (!en)
			dev->asq = (dev->asq & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case NVME_REG_ACQ:
		if (!en)
			dev->acq = (dev->acq & ~0xffffffffull) | (v & ~0xfffu);
		break;
	case NVME_REG_ACQ + 4:
		if (!en)
			dev->acq = (dev->acq & 0xffffffffull) | (uint64_t)v << 32;
		break;
	default:
		break; /* read-only or reserved: the write has no effect */
	}
}

void vu_nvme_reg_write(struct nvmf_vu_dev *dev, uint32_t off, const void *buf, uint32_t len)
{
	const uint8_t *in = buf;
	/* Registers are written as aligned dwords or qwords; other shapes merge into the dword. */
	for (uint32_t i = 0; i < len;) {
		uint32_t a = (off + i) & ~3u, skip = (off + i) - a;
		uint32_t n = 4 - skip < len - i ? 4 - skip : len - i;
		uint32_t v = reg32(dev, a);
		if (a == NVME_REG_CSTS || a == NVME_REG_INTMC)
			v = 0;
		memcpy((uint8_t *)&v + skip, in + i, n);
		write32(dev, a, v);
		i += n;
	}
}

void vu_nvme_dma_changed(struct nvmf_vu_dev *dev)
{
	if (!vu_remap_queues(&dev->vc))
		dev->vc.fatal = true;
}

/* ---- Queue management commands (PCIe only: the core never sees them) ---- */

static uint16_t create_cq(struct nvmf_vu_dev *dev, const struct nvme_command *c)
{
	struct vu_ctrl *vc = &dev->vc;
	uint16_t qid = (uint16_t)c->cdw10, qsize = (uint16_t)((c->cdw10 >> 16) + 1);
	uint16_t iv = (uint16_t)(c->cdw11 >> 16);
	bool ien = c->cdw11 & 2, pc = c->cdw11 & 1;
	if (qid == 0 || qid > VU_MAX_QID || vc->cq[qid].live)
		return SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER);
	if (qsize < 2 || qsize > VU_MAX_QSIZE)
		return SPECIFIC(NVME_SC_INVALID_QUEUE_SIZE);
	if (ien && iv >= VU_NR_VECTORS)
		return SPECIFIC(NVME_SC_INVALID_INTERRUPT_VECTOR);
	if (!pc) /* CAP.CQR: queues are physically contiguous */
		return GENERIC(NVME_SC_INVALID_FIELD);
	if (c->dptr.prp.prp1 & (VU_PAGE - 1))
		return GENERIC(NVME_SC_INVALID_PRP_OFFSET);
	struct nvme_completion *ring = vu_dma_ptr(&vc->dma, c->dptr.prp.prp1, (uint64_t)qsize * 16, true);
	if (!ring)
		return GENERIC(NVME_SC_DATA_TRANSFER_ERROR);
	memset(&vc->cq[qid], 0, sizeof(vc->cq[qid]));
	vc->cq[qid] = (struct vu_cq){.live = true, .size = qsize, .iv = iv, .ien = ien, .phase = true,
				     .iova = c->dptr.prp.prp1, .ring = ring};
	vu_zero_doorbell(vc, 2u * qid + 1);
	return 0;
}

static uint16_t delete_cq(struct nvmf_vu_dev *dev, const struct nvme_command *c)
{
	struct vu_ctrl *vc = &dev->vc;
	uint16_t qid = (uint16_t)c->cdw10;
	if (qid == 0 || qid > VU_MAX_QID || !vc->cq[qid].live)
		return SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER);
	if (vc->cq[qid].sqs)
		return SPECIFIC(NVME_SC_INVALID_QUEUE_DELETION);
	memset(&vc->cq[qid], 0, sizeof(vc->cq[qid]));
	/* The last head written is no write to a missing queue's doorbell. */
	vc->doorbells[2 * qid + 1] = 0;
	return 0;
}

/* Create I/O SQ: checked here, then the queue's Connect on the core answers it. */
static bool create_sq(struct nvmf_vu_dev *dev, const struct nvme_command *c, uint16_t *st)
{
	struct vu_ctrl *vc = &dev->vc;
	uint16_t qid = (uint16_t)c->cdw10, qsize = (uint16_t)((c->cdw10 >> 16) + 1);
	uint16_t cqid = (uint16_t)(c->cdw11 >> 16);
	bool pc = c->cdw11 & 1;
	*st = 0;
	if (qid == 0 || qid > VU_MAX_QID || vc->sq[qid].live)
		*st = SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER);
	else if (qsize < 2 || qsize > VU_MAX_QSIZE)
		*st = SPECIFIC(NVME_SC_INVALID_QUEUE_SIZE);
	else if (cqid == 0 || cqid > VU_MAX_QID || !vc->cq[cqid].live)
		*st = SPECIFIC(NVME_SC_COMPLETION_QUEUE_INVALID);
	else if (!pc)
		*st = GENERIC(NVME_SC_INVALID_FIELD);
	else if (c->dptr.prp.prp1 & (VU_PAGE - 1))
		*st = GENERIC(NVME_SC_INVALID_PRP_OFFSET);
	if (*st)
		return false;
	struct nvme_command *ring = vu_dma_ptr(&vc->dma, c->dptr.prp.prp1, (uint64_t)qsize * 64, false);
	if (!ring) {
		*st = GENERIC(NVME_SC_DATA_TRANSFER_ERROR);
		return false;
	}
	struct vu_conn *vcn = add_conn(dev, qid);
	if (!vcn) {
		*st = GENERIC(NVME_SC_INTERNAL_DEVICE_ERROR);
		return false;
	}
	vc->sq[qid] = (struct vu_sq){.live = true, .size = qsize, .cqid = cqid, .iova = c->dptr.prp.prp1,
				     .ring = ring, .vqp = conn_vqp(vcn)};
	vc->cq[cqid].sqs++;
	vu_zero_doorbell(vc, 2u * qid);
	vcn->create_pending = true;
	vcn->cmd_cid = c->cid;
	if (connect_queue(dev, vcn, qsize, io_connect_done) < 0) {
		vcn->create_pending = false;
		vc->cq[cqid].sqs--;
		memset(&vc->sq[qid], 0, sizeof(vc->sq[qid]));
		nvmf_conn_close(vcn->conn);
		*st = GENERIC(NVME_SC_INTERNAL_DEVICE_ERROR);
		return false;
	}
	return true;
}

/* Delete I/O SQ: answered once the queue has closed on the core. */
static bool delete_sq(struct nvmf_vu_dev *dev, const struct nvme_command *c, uint16_t *st)
{
	struct vu_ctrl *vc = &dev->vc;
	uint16_t qid = (uint16_t)c->cdw10;
	*st = 0;
	if (qid == 0 || qid > VU_MAX_QID || !vc->sq[qid].live || vc->sq[qid].deleting) {
		*st = SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER);
		return false;
	}
	for (struct vu_conn *vcn = dev->conns; vcn; vcn = vcn->next) {
		if (vcn->qid == qid && !vcn->closed && conn_vqp(vcn) == vc->sq[qid].vqp) {
			vc->sq[qid].deleting = true;
			vcn->delete_pending = true;
			vcn->cmd_cid = c->cid;
			nvmf_conn_close(vcn->conn);
			return true;
		}
	}
	/* No queue pair behind it any more: forget it now. */
	vc->cq[vc->sq[qid].cqid].sqs--;
	memset(&vc->sq[qid], 0, sizeof(vc->sq[qid]));
	vc->doorbells[2 * qid] = 0;
	return false;
}

/*
 * Doorbell Buffer Config (trapped doorbells only: the command is offered
 * then).  PRP1: the shadow doorbells, PRP2: the EventIdx entries, a page
 * each.  The guest's I/O queues then ring the shadow buffer and write BAR0
 * only when EventIdx asks (when an idle device wants waking).
 */
static uint16_t doorbell_buffer_config(struct nvmf_vu_dev *dev, const struct nvme_command *c)
{
	struct vu_ctrl *vc = &dev->vc;
	uint64_t dbs = c->dptr.prp.prp1, eis = c->dptr.prp.prp2;
	if ((c->flags & NVME_CMD_PSDT_MASK) || ((dbs | eis) & (VU_PAGE - 1)) || dbs == eis)
		return GENERIC(NVME_SC_INVALID_FIELD);
	volatile uint32_t *shadow = vu_dma_ptr(&vc->dma, dbs, VU_PAGE, true);
	volatile uint32_t *eventidx = vu_dma_ptr(&vc->dma, eis, VU_PAGE, true);
	if (!shadow || !eventidx)
		return GENERIC(NVME_SC_INVALID_FIELD);
	bool fault = false;
	VU_GUARDED(
		&vc->dma,
		{
			for (unsigned q = 1; q <= VU_MAX_QID; q++) {
				/* Queues made before: their doorbells so far, then the shadow takes over. */
				shadow[2 * q] = vc->sq[q].live ? vc->doorbells[2 * q] : 0;
				shadow[2 * q + 1] = vc->cq[q].live ? vc->doorbells[2 * q + 1] : 0;
				/* Busy until the device idles: a BAR0 write only when a queue wraps past it. */
				eventidx[2 * q] = eventidx[2 * q + 1] = UINT32_MAX;
			}
		},
		fault = true);
	if (fault)
		return GENERIC(NVME_SC_DATA_TRANSFER_ERROR);
	atomic_thread_fence(memory_order_seq_cst);
	vc->shadow = shadow;
	vc->eventidx = eventidx;
	vc->shadow_iova = dbs;
	vc->eventidx_iova = eis;
	/* Once per enable: a guest repeating the command cannot flood the log. */
	if (!dev->shadow_logged)
		fprintf(stderr, "nvmf: vfio-user: controller %u: shadow doorbells at guest address 0x%llx\n", dev->cntlid,
			(unsigned long long)dbs);
	dev->shadow_logged = true;
	return 0;
}

/* ---- Interrupt features (PCIe only: Fabrics reserves them) ---- */

/*
 * Get or Set Features for Interrupt Coalescing (08h) and Interrupt Vector
 * Configuration (09h): true with *st and *dw0 set, false for any other
 * feature (the core answers those).  Neither is saveable.
 */
static bool interrupt_feature(struct vu_ctrl *vc, const struct nvme_command *c, uint16_t *st, uint32_t *dw0)
{
	uint8_t fid = NVME_FEAT_FID(c->cdw10);
	if (fid != NVME_FEAT_IRQ_COALESCE && fid != NVME_FEAT_IRQ_CONFIG)
		return false;
	*st = 0;
	*dw0 = 0;
	uint16_t iv = (uint16_t)c->cdw11;
	if (fid == NVME_FEAT_IRQ_CONFIG && iv >= VU_NR_VECTORS) {
		*st = GENERIC(NVME_SC_INVALID_FIELD);
		return true;
	}
	if (c->opc == NVME_OPC_SET_FEATURES) {
		if (NVME_FEAT_SV(c->cdw10))
			*st = SPECIFIC(NVME_SC_FEATURE_NOT_SAVEABLE);
		else if (fid == NVME_FEAT_IRQ_COALESCE)
			vc->coalesce_thr = (uint8_t)c->cdw11, vc->coalesce_time = (uint8_t)(c->cdw11 >> 8);
		else
			vc->vec[iv].cd = c->cdw11 >> 16 & 1;
		return true;
	}
	switch (NVME_FEAT_SEL(c->cdw10)) {
	case 0: /* current */
		*dw0 = fid == NVME_FEAT_IRQ_COALESCE ? (uint32_t)vc->coalesce_time << 8 | vc->coalesce_thr
						     : (uint32_t)vc->vec[iv].cd << 16 | iv;
		break;
	case 1: /* default */
	case 2: /* saved: none, so the default */
		*dw0 = fid == NVME_FEAT_IRQ_COALESCE ? 0 : iv;
		break;
	case 3: /* capabilities: changeable, not saveable, not namespace specific */
		*dw0 = 0x4;
		break;
	default:
		*st = GENERIC(NVME_SC_INVALID_FIELD);
	}
	return true;
}

static bool admin_command(struct vu_ctrl *vc, const struct nvme_command *c)
{
	struct nvmf_vu_dev *dev = dev_of(vc);
	uint16_t st;
	uint32_t dw0 = 0;
	switch (c->opc) {
	case NVME_OPC_CREATE_IO_CQ:
		st = create_cq(dev, c);
		break;
	case NVME_OPC_DELETE_IO_CQ:
		st = delete_cq(dev, c);
		break;
	case NVME_OPC_CREATE_IO_SQ:
		if (create_sq(dev, c, &st))
			return true;
		break;
	case NVME_OPC_DELETE_IO_SQ:
		if (delete_sq(dev, c, &st))
			return true;
		break;
	case NVME_OPC_DOORBELL_BUFFER_CONFIG:
		if (!vc->trapped)
			return false; /* not offered: the core answers Invalid Opcode */
		st = doorbell_buffer_config(dev, c);
		break;
	case NVME_OPC_FABRICS:
		/* Fabrics commands do not exist on PCIe. */
		st = GENERIC(NVME_SC_INVALID_OPCODE);
		break;
	case NVME_OPC_SET_FEATURES:
	case NVME_OPC_GET_FEATURES:
		if (!interrupt_feature(vc, c, &st, &dw0))
			return false;
		break;
	default:
		return false;
	}
	vu_complete(vc, 0, c->cid, st ? st | NVME_STATUS_DNR : 0, dw0);
	return true;
}

/* An invalid doorbell write: the Error asynchronous event NVMe names for it. */
static void doorbell_error(struct vu_ctrl *vc, uint8_t info)
{
	struct nvmf_vu_dev *dev = dev_of(vc);
	if (dev->admin && !dev->admin->closed)
		nvmf_conn_report_error_event(dev->admin->conn, info);
}

/* Doorbells of queues that do not exist: reported once, then cleared (they do nothing). */
static void scan_stray_doorbells(struct nvmf_vu_dev *dev)
{
	struct vu_ctrl *vc = &dev->vc;
	for (unsigned i = 0; i < 2 * (VU_MAX_QID + 1) + 64; i++) {
		unsigned q = i / 2;
		bool sq = !(i & 1);
		if (q <= VU_MAX_QID && (sq ? vc->sq[q].live : vc->cq[q].live))
			continue;
		if (__atomic_load_n(&vc->doorbells[i], __ATOMIC_RELAXED)) {
			__atomic_store_n(&vc->doorbells[i], 0, __ATOMIC_RELAXED);
			if (dev->cc & NVME_CC_EN)
				doorbell_error(vc, 0x00);
		}
	}
}

const struct vu_ctrl_hooks vu_nvme_hooks = {
	.admin_command = admin_command,
	.doorbell_error = doorbell_error,
};

/* ---- Polling and ending ---- */

int vu_nvme_poll(struct nvmf_vu_dev *dev)
{
	int work = 0;
	if ((++dev->polls & 1023) == 0)
		scan_stray_doorbells(dev);
	for (struct vu_conn **p = &dev->conns; *p;) {
		struct vu_conn *c = *p;
		if (c->closed) {
			*p = c->next;
			nvmf_conn_put(c->conn);
			if (dev->admin == c)
				dev->admin = NULL;
			free(c);
			continue;
		}
		work += nvmf_conn_process(c->conn);
		p = &c->next;
	}
	return work;
}

void vu_nvme_conn_closed(struct nvmf_vu_dev *dev, struct nvmf_conn *conn)
{
	struct vu_ctrl *vc = &dev->vc;
	for (struct vu_conn *c = dev->conns; c; c = c->next) {
		if (c->conn != conn || c->closed)
			continue;
		c->closed = true;
		struct vu_qpair *vqp = conn_vqp(c);
		if (c->qid && vc->sq[c->qid].live && vc->sq[c->qid].vqp == vqp) {
			struct vu_cq *cq = &vc->cq[vc->sq[c->qid].cqid];
			cq->sqs--;
			/* Its unanswered commands will not post here. */
			cq->inflight = vqp && cq->inflight > vqp->inflight ? cq->inflight - vqp->inflight : 0;
			memset(&vc->sq[c->qid], 0, sizeof(vc->sq[c->qid]));
			vc->doorbells[2 * c->qid] = 0;
		}
		if (c->delete_pending && !dev->ending) {
			c->delete_pending = false;
			vu_complete(vc, 0, c->cmd_cid, 0, 0);
		}
		if (c->create_pending && !dev->ending) {
			c->create_pending = false;
			vu_complete(vc, 0, c->cmd_cid, SPECIFIC(NVME_SC_INVALID_QUEUE_IDENTIFIER) | NVME_STATUS_DNR, 0);
		}
		if (c == dev->admin && !dev->ending) {
			/* The core ended the controller: the guest sees a fatal status until it resets. */
			vc->fatal = true;
		}
		return;
	}
}

void vu_nvme_close_all(struct nvmf_vu_dev *dev)
{
	for (struct vu_conn *c = dev->conns; c; c = c->next)
		if (!c->closed)
			nvmf_conn_close(c->conn);
}

unsigned vu_nvme_inflight(const struct nvmf_vu_dev *dev)
{
	unsigned n = 0;
	for (const struct vu_conn *c = dev->conns; c; c = c->next) {
		struct nvmf_qpair *qp = c->closed ? NULL : nvmf_conn_qpair(c->conn);
		if (!qp)
			continue;
		/* Held commands (Asynchronous Event Requests, which a guest always keeps outstanding)
		 * wait for an event, not for the device: they must not keep it polling. */
		unsigned held = nvmf_controller_held_commands(qp);
		unsigned inflight = ((struct vu_qpair *)qp)->inflight;
		n += inflight > held ? inflight - held : 0;
	}
	return n;
}
