/*
 * The host library over vfio-user: the controller is a PCIe function, so
 * registers are read and written in BAR0, the admin queue comes from
 * AQA/ASQ/ACQ and I/O queues from Create I/O CQ/SQ, as a PCIe driver does;
 * shadow doorbells where the controller offers them (it traps BAR0's).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nvmf/nvme_admin_spec.h>

#include "host_internal.h"
#include "vfio_user/vu_host.h"

/* Shared memory for every queue's rings and bounce buffers. */
static size_t memory_needed(const struct nvmf_host_ctrl *c)
{
	size_t per_cmd = VU_HOST_MAX_XFER + 4096;
	size_t cmds = c->opts.admin_qsize + (size_t)c->nr_ioq * c->opts.io_qsize;
	size_t rings = (size_t)(c->nr_ioq + 1) * (64 + 16) * 4096;
	return cmds * per_cmd + rings + (1u << 20) + c->opts.io_buffer_bytes;
}

void *host_vu_io_buffer(struct nvmf_host_ctrl *c, size_t len)
{
	uint64_t iova;
	return c->vu && len ? vu_client_alloc(c->vu, len, &iova) : NULL;
}

int host_vu_open(struct nvmf_host_ctrl *c)
{
	char err[256];
	/* PCIe has no keep alive to speak of: the link is the process. */
	c->opts.kato_ms = 0;
	c->opts.ctrl_loss_tmo_s = 0;
	int rc = vu_client_open(c->addr.traddr, memory_needed(c), &c->vu, err, sizeof(err));
	if (rc < 0) {
		host_set_error(c, "%s", err);
		return rc;
	}
	if (vu_client_class(c->vu) != 0x010802) {
		host_set_error(c, "vfio-user device %s is not an NVMe controller (class %06x)", c->addr.traddr,
			       vu_client_class(c->vu));
		return -ENODEV;
	}
	return 0;
}

void host_vu_close(struct nvmf_host_ctrl *c)
{
	vu_client_close(c->vu);
	c->vu = NULL;
}

int host_vu_reg(struct nvmf_host_ctrl *c, bool set, uint32_t offset, bool eight, uint64_t *value)
{
	if (!c->vu)
		return -ENOTCONN;
	int rc = set ? vu_client_reg_write(c->vu, offset, eight ? 8 : 4, *value)
		     : vu_client_reg_read(c->vu, offset, eight ? 8 : 4, value);
	if (rc < 0)
		host_set_error(c, "BAR0 register 0x%x %s failed: %s", offset, set ? "write" : "read", strerror(-rc));
	return rc;
}

static int create_io_queue(struct nvmf_host_ctrl *c, struct nvmf_host_qpair *hq, int vector)
{
	uint64_t sq_iova, cq_iova;
	vu_host_qpair_rings(hq->qp, &sq_iova, &cq_iova);
	uint32_t size_qid = (uint32_t)(hq->qsize - 1) << 16 | hq->qid;
	struct nvme_command cq = {.opc = NVME_OPC_CREATE_IO_CQ, .cdw10 = size_qid};
	cq.cdw11 = (vector >= 0 ? (uint32_t)vector << 16 | 2u : 0) | 1u;
	cq.dptr.prp.prp1 = cq_iova;
	char what[64];
	snprintf(what, sizeof(what), "Create I/O CQ %u", hq->qid);
	int rc = host_admin(c, what, &cq, NULL, 0, false, NULL);
	if (rc)
		return rc;
	struct nvme_command sq = {.opc = NVME_OPC_CREATE_IO_SQ, .cdw10 = size_qid};
	sq.cdw11 = (uint32_t)hq->qid << 16 | 1u;
	sq.dptr.prp.prp1 = sq_iova;
	snprintf(what, sizeof(what), "Create I/O SQ %u", hq->qid);
	return host_admin(c, what, &sq, NULL, 0, false, NULL);
}

int host_vu_shadow_doorbells(struct nvmf_host_ctrl *c)
{
	if (!(c->id.oacs & NVME_CTRL_OACS_DBBUF))
		return 0;
	uint64_t shadow, eventidx;
	if (vu_client_shadow_buffers(c->vu, &shadow, &eventidx) < 0) {
		host_set_error(c, "no shared memory left for shadow doorbells");
		return -ENOMEM;
	}
	struct nvme_command cmd = {.opc = NVME_OPC_DOORBELL_BUFFER_CONFIG};
	cmd.dptr.prp.prp1 = shadow;
	cmd.dptr.prp.prp2 = eventidx;
	int rc = host_admin(c, "Doorbell Buffer Config", &cmd, NULL, 0, false, NULL);
	if (rc == 0)
		vu_client_use_shadow(c->vu, true);
	return rc;
}

int host_vu_connect_queue(struct nvmf_host_ctrl *c, struct nvmf_host_qpair *hq)
{
	/* The admin queue takes MSI-X vector 0; I/O queue n vector n unless polled. */
	int vector = hq->qid == 0 ? 0 : c->opts.polled_io_queues ? -1 : hq->qid;
	struct nvmf_qpair_params p = {.admin = hq->qid == 0, .qid = hq->qid, .qsize = hq->qsize, .fd = -1};
	struct nvmf_qpair *qp = vu_host_qpair_create(c->na, c->vu, hq->qid, hq->qsize, vector, &p);
	if (!qp) {
		host_set_error(c, "vfio-user queue %u: %s", hq->qid, strerror(errno));
		return -errno;
	}
	hq_attach(hq, qp);
	int rc;
	if (hq->qid == 0) {
		/* A new controller (first connect or reset) has no shadow doorbells until told again. */
		vu_client_use_shadow(c->vu, false);
		uint64_t sq_iova, cq_iova;
		vu_host_qpair_rings(qp, &sq_iova, &cq_iova);
		uint64_t aqa = (uint64_t)(hq->qsize - 1) << 16 | (uint64_t)(hq->qsize - 1);
		rc = host_vu_reg(c, true, NVME_REG_AQA, false, &aqa);
		if (rc == 0)
			rc = host_vu_reg(c, true, NVME_REG_ASQ, true, &sq_iova);
		if (rc == 0)
			rc = host_vu_reg(c, true, NVME_REG_ACQ, true, &cq_iova);
	} else {
		rc = create_io_queue(c, hq, vector);
	}
	if (rc)
		hq_detach(hq);
	return rc;
}
