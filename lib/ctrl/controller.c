/*
 * Controllers (dynamic model): one per association, made by the admin
 * queue's Connect; I/O queues join it by controller ID.  The controller
 * configuration register (enable, reset, shutdown) and teardown across
 * threads.  Queues are closed through their nvmf_queue_ops, never by
 * calling up into conn.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"
#include "util/clock.h"

struct nvmf_controller *nvmf_ctrl_create(struct nvmf_conn *conn, struct nvmf_subsystem *ss, const char *hostnqn,
					 const uint8_t hostid[16], uint32_t kato_ms)
{
	struct nvmf_controller *ctrl = calloc(1, sizeof(*ctrl));
	if (!ctrl)
		return NULL;
	atomic_init(&ctrl->refs, 2); /* the association's and the admin queue's */
	pthread_mutex_init(&ctrl->lock, NULL);
	ctrl->ss = ss;
	ctrl->tgt = conn->tgt;
	ctrl->discovery = ss->discovery;
	snprintf(ctrl->hostnqn, sizeof(ctrl->hostnqn), "%s", hostnqn);
	memcpy(ctrl->hostid, hostid, 16);
	ctrl->created_ms = nvmf_clock_ms();
	ctrl->kato_ms = kato_ms;
	atomic_init(&ctrl->last_seen_ms, ctrl->created_ms);
	atomic_init(&ctrl->csts, 0);
	ctrl->num_io_queues = ctrl->discovery ? 0 : atomic_load(&ctrl->tgt->io_queues);
	ctrl->vwc_enabled = true;
	ctrl->admin = conn;
	ctrl->admin_env = conn->env;
	ctrl->portid = conn->portid;
	atomic_init(&ctrl->ana_state, nvmf_tgt_get_ana_state(conn->tgt, conn->portid));
	ctrl->cntlid = nvmf_subsystem_add_ctrl(ss, ctrl);
	if (!ctrl->cntlid) {
		pthread_mutex_destroy(&ctrl->lock);
		free(ctrl);
		return NULL;
	}
	return ctrl;
}

bool nvmf_ctrl_ready(struct nvmf_controller *ctrl)
{
	return (atomic_load(&ctrl->csts) & NVME_CSTS_RDY) && !ctrl->dead;
}

uint16_t nvmf_ctrl_add_io_queue(struct nvmf_controller *ctrl, struct nvmf_conn *conn, uint16_t qid)
{
	uint16_t st = 0;
	pthread_mutex_lock(&ctrl->lock);
	/* Readiness is read under the lock a reset takes, so a queue cannot join a controller being reset. */
	if (ctrl->dead || !(atomic_load(&ctrl->csts) & NVME_CSTS_RDY))
		st = NVMF_ST_SEQUENCE_ERROR;
	else if (qid == 0 || qid > ctrl->num_io_queues || qid > NVMF_CTRL_MAX_IO_QUEUES || ctrl->io[qid])
		st = NVMF_ST_INVALID_FIELD;
	else
		ctrl->io[qid] = conn;
	pthread_mutex_unlock(&ctrl->lock);
	return st;
}

uint32_t nvmf_ctrl_get_cc(struct nvmf_controller *ctrl)
{
	pthread_mutex_lock(&ctrl->lock);
	uint32_t cc = ctrl->cc;
	pthread_mutex_unlock(&ctrl->lock);
	return cc;
}

static void close_io_queues_locked(struct nvmf_controller *ctrl)
{
	for (unsigned q = 1; q <= NVMF_CTRL_MAX_IO_QUEUES; q++) {
		struct nvmf_conn *conn = ctrl->io[q];
		if (conn) {
			/* Forgotten now: a new Connect for this queue ID is a new queue. */
			ctrl->io[q] = NULL;
			conn->ops->post_close(conn);
		}
	}
}

static bool cc_valid(uint32_t cc)
{
	uint32_t css = (cc >> NVME_CC_CSS_SHIFT) & 0x7;
	uint32_t mps = (cc >> NVME_CC_MPS_SHIFT) & 0xf;
	uint32_t ams = (cc >> NVME_CC_AMS_SHIFT) & 0x7;
	uint32_t iosqes = (cc >> NVME_CC_IOSQES_SHIFT) & 0xf;
	uint32_t iocqes = (cc >> NVME_CC_IOCQES_SHIFT) & 0xf;
	/* Fabrics hosts may leave the queue entry sizes 0 (they are fixed). */
	return css == 0 && mps == 0 && ams == 0 && (iosqes == 0 || iosqes == 6) && (iocqes == 0 || iocqes == 4);
}

bool nvmf_ctrl_set_cc(struct nvmf_controller *ctrl, uint32_t v)
{
	pthread_mutex_lock(&ctrl->lock);
	uint32_t old = ctrl->cc;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN) && !cc_valid(v)) {
		pthread_mutex_unlock(&ctrl->lock);
		return false;
	}
	ctrl->cc = v;
	uint32_t csts = atomic_load(&ctrl->csts);
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN))
		csts |= NVME_CSTS_RDY;
	if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		/* Controller reset: I/O queues go, registers return to their defaults. */
		close_io_queues_locked(ctrl);
		csts = 0;
		ctrl->cc = 0;
		ctrl->num_io_queues = ctrl->discovery ? 0 : atomic_load(&ctrl->tgt->io_queues);
	}
	if (v & NVME_CC_SHN_MASK) {
		/* Nothing volatile to write back beyond what Flush does: done at once. */
		csts = (csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_COMPLETE;
	} else {
		csts &= ~NVME_CSTS_SHST_MASK;
	}
	atomic_store(&ctrl->csts, csts);
	pthread_mutex_unlock(&ctrl->lock);
	return true;
}

void nvmf_ctrl_queue_closed(struct nvmf_controller *ctrl, struct nvmf_conn *conn)
{
	bool was_admin = false;
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->admin == conn) {
		ctrl->admin = NULL;
		was_admin = true;
	} else if (conn->qid <= NVMF_CTRL_MAX_IO_QUEUES && ctrl->io[conn->qid] == conn) {
		ctrl->io[conn->qid] = NULL;
	}
	pthread_mutex_unlock(&ctrl->lock);
	if (was_admin)
		nvmf_ctrl_destroy(ctrl, "admin queue closed");
}

void nvmf_ctrl_destroy(struct nvmf_controller *ctrl, const char *why)
{
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->dead) {
		pthread_mutex_unlock(&ctrl->lock);
		return;
	}
	ctrl->dead = true;
	close_io_queues_locked(ctrl);
	if (ctrl->admin)
		ctrl->admin->ops->post_close(ctrl->admin);
	pthread_mutex_unlock(&ctrl->lock);
	if (why && !ctrl->discovery)
		fprintf(stderr, "nvmf: controller %u of %s for %s: %s\n", ctrl->cntlid, ctrl->ss->nqn, ctrl->hostnqn,
			why);
	/* The ID may serve a new association from now on. */
	nvmf_subsystem_remove_ctrl(ctrl->ss, ctrl);
	nvmf_ctrl_put(ctrl);
}
