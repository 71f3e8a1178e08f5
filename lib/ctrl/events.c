/*
 * Asynchronous events: what changed is recorded under the controller's
 * lock from any thread, and answered on the admin queue's thread by
 * completing a held Asynchronous Event Request.  An event type stays
 * masked after it fires until the host reads its log page.
 */
#include "ctrl_internal.h"

/* Pending event bits (one AER each). */
#define EVENT_NS_CHANGED 0x1u
#define EVENT_DISCOVERY_CHANGED 0x2u
#define EVENT_TRANSPORT_ERROR 0x4u
#define EVENT_ANA_CHANGED 0x8u

static void deliver_msg(void *arg)
{
	struct nvmf_controller *ctrl = arg;
	nvmf_ctrl_deliver_events(ctrl);
	nvmf_ctrl_put(ctrl);
}

/* Post delivery to the admin queue's thread (ctrl->lock held). */
static void post_deliver_locked(struct nvmf_controller *ctrl)
{
	if (!ctrl->admin || ctrl->dead || !ctrl->admin_env.post)
		return;
	nvmf_ctrl_get(ctrl);
	ctrl->admin_env.post(ctrl->admin_env.thread, deliver_msg, ctrl);
}

/* The discovery log changed: a new generation, and a notice to every discovery controller. */
void nvmf_tgt_changed(struct nvmf_tgt *tgt)
{
	atomic_fetch_add(&tgt->genctr, 1);
	struct nvmf_subsystem *d = tgt->discovery;
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	for (unsigned id = 1; id <= NVMF_MAX_CNTLID; id++) {
		if (d->ctrls[id])
			nvmf_ctrl_discovery_changed(d->ctrls[id]);
	}
	pthread_mutex_unlock(&d->lock);
}

void nvmf_ctrl_ns_changed(struct nvmf_controller *ctrl, uint32_t nsid)
{
	pthread_mutex_lock(&ctrl->lock);
	bool seen = false;
	for (unsigned i = 0; i < ctrl->nchanged; i++)
		seen |= ctrl->changed_ns[i] == nsid;
	if (!seen) {
		if (ctrl->nchanged < NVME_CHANGED_NS_MAX)
			ctrl->changed_ns[ctrl->nchanged++] = nsid;
		else
			ctrl->changed_overflow = true;
	}
	if ((ctrl->aec & NVME_AEC_NS_ATTR) && !ctrl->ns_event_masked) {
		ctrl->pending_events |= EVENT_NS_CHANGED;
		post_deliver_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

void nvmf_ctrl_ana_changed(struct nvmf_controller *ctrl, uint8_t state)
{
	pthread_mutex_lock(&ctrl->lock);
	atomic_store(&ctrl->ana_state, state);
	if ((ctrl->aec & NVME_AEC_ANA_CHANGE) && !ctrl->ana_event_masked) {
		ctrl->pending_events |= EVENT_ANA_CHANGED;
		post_deliver_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

void nvmf_ctrl_discovery_changed(struct nvmf_controller *ctrl)
{
	pthread_mutex_lock(&ctrl->lock);
	if ((ctrl->aec & NVME_AEC_DISCOVERY_LOG_CHANGE) && !ctrl->disc_event_masked) {
		ctrl->pending_events |= EVENT_DISCOVERY_CHANGED;
		post_deliver_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

void nvmf_conn_report_error_event(struct nvmf_conn *conn, uint8_t info)
{
	struct nvmf_controller *ctrl = conn->ctrl;
	if (!ctrl)
		return;
	/* Error events are not masked by Set Features (AEC): one waits at a time. */
	pthread_mutex_lock(&ctrl->lock);
	ctrl->error_event_info = info;
	ctrl->pending_events |= EVENT_TRANSPORT_ERROR;
	post_deliver_locked(ctrl);
	pthread_mutex_unlock(&ctrl->lock);
}

bool nvmf_ctrl_hold_aer(struct nvmf_controller *ctrl, struct nvmf_request *req)
{
	pthread_mutex_lock(&ctrl->lock);
	bool ok = ctrl->naers <= NVMF_CTRL_AERL;
	if (ok) {
		nvmf_request_hold(req);
		/* A host may give up on its AERs and reuse their CIDs (SPDK does at shutdown). */
		(void)nvmf_controller_hold_command(req->nc);
		ctrl->aers[ctrl->naers++] = req;
	}
	pthread_mutex_unlock(&ctrl->lock);
	return ok;
}

void nvmf_ctrl_deliver_events(struct nvmf_controller *ctrl)
{
	for (;;) {
		pthread_mutex_lock(&ctrl->lock);
		struct nvmf_conn *conn = ctrl->admin;
		if (!conn || ctrl->dead || conn->closing || ctrl->naers == 0 || !ctrl->pending_events) {
			pthread_mutex_unlock(&ctrl->lock);
			return;
		}
		uint32_t dw0;
		if (ctrl->pending_events & EVENT_TRANSPORT_ERROR) {
			ctrl->pending_events &= ~EVENT_TRANSPORT_ERROR;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_ERROR, ctrl->error_event_info, NVME_LOG_ERROR);
		} else if (ctrl->pending_events & EVENT_NS_CHANGED) {
			ctrl->pending_events &= ~EVENT_NS_CHANGED;
			ctrl->ns_event_masked = true;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED, NVME_LOG_CHANGED_NS);
		} else if (ctrl->pending_events & EVENT_ANA_CHANGED) {
			ctrl->pending_events &= ~EVENT_ANA_CHANGED;
			ctrl->ana_event_masked = true;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_ANA_CHANGE, NVME_LOG_ANA);
		} else {
			ctrl->pending_events &= ~EVENT_DISCOVERY_CHANGED;
			ctrl->disc_event_masked = true;
			dw0 = NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_DISCOVERY_LOG_CHANGE, NVME_LOG_DISCOVERY);
		}
		struct nvmf_request *aer = ctrl->aers[--ctrl->naers];
		pthread_mutex_unlock(&ctrl->lock);
		nvmf_request_complete(aer, NVMF_ST_SUCCESS, dw0);
	}
}

void nvmf_conn_abort_events(struct nvmf_conn *conn)
{
	if (conn->admin && conn->ctrl)
		nvmf_ctrl_abort_aers(conn->ctrl);
}

void nvmf_ctrl_abort_aers(struct nvmf_controller *ctrl)
{
	for (;;) {
		pthread_mutex_lock(&ctrl->lock);
		struct nvmf_request *aer = ctrl->naers ? ctrl->aers[--ctrl->naers] : NULL;
		pthread_mutex_unlock(&ctrl->lock);
		if (!aer)
			return;
		nvmf_request_complete(aer, NVMF_ST_ABORTED_SQ_DELETION, 0);
	}
}
