/* Admin commands: Identify, Get Log Page, Get/Set Features, Keep Alive, AER, Abort. */
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

#define FIRMWARE_REVISION "0.1.0"

/* A handler waited for a buffer: run it again from the start (nothing has changed yet). */
static void admin_resume(struct nvmf_request *req)
{
	if (nvmf_admin_execute(req) == NVMF_EXEC_COMPLETE)
		nvmf_request_finish(req);
}

static void pad_ascii(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);
	memset(dst, ' ', n);
	memcpy(dst, src, len);
}

/* A zeroed 4096-byte identify buffer, or NULL when the request went to wait for one. */
static void *identify_buf(struct nvmf_request *req)
{
	if (!nvmf_request_alloc_buf(req, NVME_IDENTIFY_DATA_SIZE, admin_resume))
		return NULL;
	memset(req->buf, 0, NVME_IDENTIFY_DATA_SIZE);
	return req->buf;
}

/* Send what the host asked for of the identify data. */
static enum nvmf_exec send_identify(struct nvmf_request *req)
{
	size_t len = nvmf_capsule_data_len(req->nc);
	if (len > NVME_IDENTIFY_DATA_SIZE)
		len = NVME_IDENTIFY_DATA_SIZE;
	nvmf_request_send_data(req, req->buf, len);
	return NVMF_EXEC_ASYNC;
}

static enum nvmf_exec identify_ctrl(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	struct nvmf_subsystem *ss = ctrl->ss;
	struct nvme_id_ctrl *id = identify_buf(req);
	if (!id)
		return NVMF_EXEC_ASYNC;
	pthread_mutex_lock(&ss->lock);
	pad_ascii(id->sn, sizeof(id->sn), ss->serial);
	pad_ascii(id->mn, sizeof(id->mn), ss->model);
	pthread_mutex_unlock(&ss->lock);
	pad_ascii(id->fr, sizeof(id->fr), FIRMWARE_REVISION);
	id->rab = 6;
	/* Several controllers, ports and gateways reach the same namespaces; ANA says which paths to prefer. */
	id->cmic = NVME_CTRL_CMIC_MULTI_CTRL | (ctrl->discovery ? 0 : NVME_CTRL_CMIC_MULTI_PORT | NVME_CTRL_CMIC_ANA);
	id->mdts = NVMF_CTRL_MDTS;
	id->cntlid = ctrl->cntlid;
	id->ver = NVME_VS(1, 3, 0);
	id->ctratt = NVME_CTRL_CTRATT_HOSTID_128;
	id->acl = 3;
	id->aerl = NVMF_CTRL_AERL;
	id->frmw = NVME_CTRL_FRMW_SLOT1_RO | NVME_CTRL_FRMW_SLOTS(1);
	id->lpa = NVME_CTRL_LPA_CMD_EFFECTS | NVME_CTRL_LPA_EXTENDED_DATA;
	id->kas = NVMF_CTRL_KAS;
	id->sqes = NVME_CTRL_QES(6, 6);
	id->cqes = NVME_CTRL_QES(4, 4);
	id->maxcmd = (uint16_t)atomic_load(&ctrl->tgt->queue_entries);
	id->sgls = NVME_CTRL_SGLS_SUPPORTED | NVME_CTRL_SGLS_OFFSET;
	memcpy(id->subnqn, ss->nqn, strnlen(ss->nqn, sizeof(id->subnqn)));
	id->iorcsz = 1;
	id->msdbd = 1;
	if (ctrl->discovery) {
		id->cntrltype = NVME_CTRL_TYPE_DISCOVERY;
		id->oaes = NVME_CTRL_OAES_DISCOVERY_LOG_CHANGE;
		id->ioccsz = 4; /* the SQE only */
	} else {
		id->cntrltype = NVME_CTRL_TYPE_IO;
		id->oaes = NVME_CTRL_OAES_NS_ATTR | NVME_CTRL_OAES_ANA_CHANGE;
		id->nn = nvmf_subsystem_max_nsid(ss);
		/* ANA: optimized, non-optimized, inaccessible, persistent loss and change reportable;
		 * one group whose ID never changes (bit 6). */
		id->anatt = NVMF_CTRL_ANATT;
		id->anacap = 0x1f | (1u << 6);
		id->anagrpmax = NVMF_ANA_GROUP;
		id->nanagrpid = NVMF_ANA_GROUP;
		/* Linux sizes its ANA log buffer with MNAN: every NSID must fit. */
		id->mnan = id->nn > NVMF_CTRL_MNAN ? id->nn : NVMF_CTRL_MNAN;
		id->oncs = NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES |
			   NVME_CTRL_ONCS_VERIFY;
		id->fuses = NVME_CTRL_FUSES_COMPARE_AND_WRITE;
		/* A write cache is present; Flush with NSID FFFFFFFFh is not supported (10b). */
		id->vwc = NVME_CTRL_VWC_PRESENT | (0x2 << 1);
		id->ioccsz = (64 + NVMF_CTRL_IOCCSZ_BYTES) / 16;
		id->ofcs = 0x1; /* Disconnect of I/O queues */
	}
	nvmf_controller_identify_ctrl(req->nc, id);
	return send_identify(req);
}

static enum nvmf_exec identify_ns(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t nsid = req->cmd.nsid;
	if (nsid == 0 || nsid == NVME_NSID_ALL || nsid > nvmf_subsystem_max_nsid(ctrl->ss))
		return nvmf_req_status(req, NVMF_ST_INVALID_NS);
	struct nvme_id_ns *id = identify_buf(req);
	if (!id)
		return NVMF_EXEC_ASYNC;
	struct nvmf_namespace *ns = nvmf_subsystem_get_ns(ctrl->ss, nsid);
	if (ns) {
		/* An inactive NSID reads as zeros. */
		id->nsze = id->ncap = id->nuse = ns->nblocks;
		id->nlbaf = 0;
		id->flbas = 0;
		id->nmic = NVME_NS_NMIC_SHARED;
		id->anagrpid = NVMF_ANA_GROUP;
		if (nvmf_bdev_supports_deallocate(ns->bdev))
			id->dlfeat = NVME_NS_DLFEAT_READ_ZEROES | NVME_NS_DLFEAT_WZ_DEALLOCATE;
		id->lbaf[0].lbads = ns->lbads;
		memcpy(id->nguid, ns->nguid, 16);
		memcpy(id->eui64, ns->eui64, 8);
		nvmf_ns_put(ns);
	}
	return send_identify(req);
}

static enum nvmf_exec identify_active_ns_list(struct nvmf_request *req)
{
	if (req->cmd.nsid >= 0xfffffffeu)
		return nvmf_req_status(req, NVMF_ST_INVALID_NS);
	uint32_t *list = identify_buf(req);
	if (!list)
		return NVMF_EXEC_ASYNC;
	nvmf_subsystem_active_nsids(req->conn->ctrl->ss, req->cmd.nsid, list, NVME_IDENTIFY_DATA_SIZE / 4);
	return send_identify(req);
}

static uint8_t *put_desc(uint8_t *p, uint8_t type, const void *id, uint8_t len)
{
	struct nvme_ns_id_desc d = {.nidt = type, .nidl = len};
	memcpy(p, &d, sizeof(d));
	memcpy(p + sizeof(d), id, len);
	return p + sizeof(d) + len;
}

static enum nvmf_exec identify_ns_descs(struct nvmf_request *req)
{
	uint8_t *p = identify_buf(req);
	if (!p)
		return NVMF_EXEC_ASYNC;
	struct nvmf_namespace *ns = nvmf_subsystem_get_ns(req->conn->ctrl->ss, req->cmd.nsid);
	if (!ns)
		return nvmf_req_status(req, NVMF_ST_INVALID_NS);
	uint8_t csi = NVME_CSI_NVM;
	p = put_desc(p, NVME_NIDT_EUI64, ns->eui64, NVME_NIDT_EUI64_LEN);
	p = put_desc(p, NVME_NIDT_NGUID, ns->nguid, NVME_NIDT_NGUID_LEN);
	p = put_desc(p, NVME_NIDT_UUID, ns->uuid, NVME_NIDT_UUID_LEN);
	put_desc(p, NVME_NIDT_CSI, &csi, NVME_NIDT_CSI_LEN);
	nvmf_ns_put(ns);
	return send_identify(req);
}

static enum nvmf_exec identify(struct nvmf_request *req)
{
	uint8_t cns = NVME_IDENTIFY_CNS(req->cmd.cdw10);

	if (cns == NVME_CNS_CONTROLLER)
		return identify_ctrl(req);
	if (req->conn->ctrl->discovery)
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	switch (cns) {
	case NVME_CNS_NAMESPACE:
		return identify_ns(req);
	case NVME_CNS_ACTIVE_NS_LIST:
		return identify_active_ns_list(req);
	case NVME_CNS_NS_ID_DESCRIPTORS:
		return identify_ns_descs(req);
	default:
		/* CNS 5/6/7 (command set specific) and the rest are not supported. */
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	}
}

/* ---- Log pages ---- */

/*
 * Get Log Page: the window [offset, offset + len) of a log of size bytes.
 * The buffer is taken before any log is built, so that a handler that had
 * to wait for it runs again without having changed anything (reading the
 * changed namespace list clears it).
 */
static enum nvmf_exec send_log(struct nvmf_request *req, const void *log, size_t size)
{
	uint64_t offset = NVME_LOG_OFFSET(req->cmd.cdw12, req->cmd.cdw13);
	if ((offset & 3) || offset > size)
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	/* Bytes past the end of the log read as zeros. */
	size_t avail = size - offset;
	size_t n = req->len < avail ? req->len : avail;
	memcpy(req->buf, (const uint8_t *)log + offset, n);
	memset((uint8_t *)req->buf + n, 0, req->len - n);
	nvmf_request_send_data(req, req->buf, req->len);
	return NVMF_EXEC_ASYNC;
}

static void put_u128(uint8_t out[16], uint64_t v)
{
	memset(out, 0, 16);
	memcpy(out, &v, sizeof(v)); /* little endian */
}

static enum nvmf_exec log_smart(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	struct nvme_smart_log log;
	memset(&log, 0, sizeof(log));
	log.temperature[0] = 0x25; /* 293 K: 20 C */
	log.temperature[1] = 0x01;
	log.avail_spare = 100;
	log.spare_thresh = 10;
	/* Data units are thousands of 512-byte units, rounded up. */
	uint64_t rd = atomic_load(&ctrl->smart.blocks512_read);
	uint64_t wr = atomic_load(&ctrl->smart.blocks512_written);
	put_u128(log.data_units_read, (rd + 999) / 1000);
	put_u128(log.data_units_written, (wr + 999) / 1000);
	put_u128(log.host_reads, atomic_load(&ctrl->smart.read_cmds));
	put_u128(log.host_writes, atomic_load(&ctrl->smart.write_cmds));
	put_u128(log.power_cycles, 1);
	put_u128(log.power_on_hours, (nvmf_now_ms() - ctrl->created_ms) / 3600000);
	put_u128(log.num_err_log_entries, atomic_load(&ctrl->error_count));
	return send_log(req, &log, sizeof(log));
}

static enum nvmf_exec log_fw_slot(struct nvmf_request *req)
{
	struct nvme_fw_slot_log log;
	memset(&log, 0, sizeof(log));
	log.afi = 1;
	pad_ascii(log.frs[0], sizeof(log.frs[0]), FIRMWARE_REVISION);
	return send_log(req, &log, sizeof(log));
}

static enum nvmf_exec log_changed_ns(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	struct nvme_changed_ns_log log;
	memset(&log, 0, sizeof(log));
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->changed_overflow)
		log.nsid[0] = NVME_NSID_ALL;
	else
		memcpy(log.nsid, ctrl->changed_ns, ctrl->nchanged * sizeof(uint32_t));
	if (!NVME_LOG_RAE(req->cmd.cdw10)) {
		/* Read: clear the list and let the next change raise an event. */
		ctrl->nchanged = 0;
		ctrl->changed_overflow = false;
		ctrl->ns_event_masked = false;
	}
	pthread_mutex_unlock(&ctrl->lock);
	return send_log(req, &log, sizeof(log));
}

static enum nvmf_exec log_cmd_effects(struct nvmf_request *req)
{
	static const uint8_t admin_ops[] = {NVME_OPC_GET_LOG_PAGE, NVME_OPC_IDENTIFY, NVME_OPC_ABORT,
					    NVME_OPC_SET_FEATURES, NVME_OPC_GET_FEATURES, NVME_OPC_ASYNC_EVENT_REQUEST,
					    NVME_OPC_KEEP_ALIVE};
	struct nvme_cmd_effects_log log;
	memset(&log, 0, sizeof(log));
	for (size_t i = 0; i < sizeof(admin_ops); i++)
		log.acs[admin_ops[i]] = NVME_CMD_EFFECTS_CSUPP;
	log.iocs[NVME_OPC_FLUSH] = NVME_CMD_EFFECTS_CSUPP;
	log.iocs[NVME_OPC_READ] = NVME_CMD_EFFECTS_CSUPP;
	log.iocs[NVME_OPC_COMPARE] = NVME_CMD_EFFECTS_CSUPP;
	log.iocs[NVME_OPC_VERIFY] = NVME_CMD_EFFECTS_CSUPP;
	log.iocs[NVME_OPC_WRITE] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	log.iocs[NVME_OPC_WRITE_ZEROES] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	log.iocs[NVME_OPC_DATASET_MANAGEMENT] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	return send_log(req, &log, sizeof(log));
}

static enum nvmf_exec log_ana(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	size_t len = 0;
	/* LSP bit 0: Return Groups Only. */
	void *log = nvmf_ana_log_build(ctrl, NVME_LOG_LSP(req->cmd.cdw10) & 1, &len);
	if (!log)
		return nvmf_req_status(req, NVMF_ST_INTERNAL);
	if (!NVME_LOG_RAE(req->cmd.cdw10)) {
		pthread_mutex_lock(&ctrl->lock);
		ctrl->ana_event_masked = false;
		pthread_mutex_unlock(&ctrl->lock);
	}
	enum nvmf_exec r = send_log(req, log, len);
	free(log);
	return r;
}

static enum nvmf_exec log_discovery(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	size_t len = 0;
	void *log = nvmf_discovery_log_build(ctrl->tgt, ctrl->hostnqn, &len);
	if (!log)
		return nvmf_req_status(req, NVMF_ST_INTERNAL);
	if (!NVME_LOG_RAE(req->cmd.cdw10)) {
		pthread_mutex_lock(&ctrl->lock);
		ctrl->disc_event_masked = false;
		pthread_mutex_unlock(&ctrl->lock);
	}
	enum nvmf_exec r = send_log(req, log, len);
	free(log);
	return r;
}

static enum nvmf_exec get_log_page(struct nvmf_request *req)
{
	static const struct nvme_error_log_entry no_errors[1];
	uint8_t lid = NVME_LOG_LID(req->cmd.cdw10);
	uint64_t want = NVME_LOG_LEN(req->cmd.cdw10, req->cmd.cdw11);

	/* Admin transfers obey MDTS too (Linux splits larger log reads). */
	if (want > NVMF_CTRL_MAX_XFER)
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	if (want > nvmf_capsule_data_len(req->nc))
		return nvmf_req_status(req, NVMF_ST_SGL_LENGTH_INVALID);
	if (!nvmf_request_alloc_buf(req, want, admin_resume))
		return NVMF_EXEC_ASYNC;
	if (req->conn->ctrl->discovery)
		return lid == NVME_LOG_DISCOVERY ? log_discovery(req) : nvmf_req_status(req, NVMF_ST_INVALID_LOG_PAGE);
	switch (lid) {
	case NVME_LOG_ERROR:
		return send_log(req, no_errors, sizeof(no_errors));
	case NVME_LOG_SMART:
		return log_smart(req);
	case NVME_LOG_FW_SLOT:
		return log_fw_slot(req);
	case NVME_LOG_CHANGED_NS:
		return log_changed_ns(req);
	case NVME_LOG_CMD_EFFECTS:
		return log_cmd_effects(req);
	case NVME_LOG_ANA:
		return log_ana(req);
	default:
		return nvmf_req_status(req, NVMF_ST_INVALID_LOG_PAGE);
	}
}

/* ---- Features ---- */

/* Set Features with ctrl->lock held. */
static enum nvmf_exec set_feature_locked(struct nvmf_request *req, struct nvmf_controller *ctrl)
{
	uint32_t cdw11 = req->cmd.cdw11;

	switch (NVME_FEAT_FID(req->cmd.cdw10)) {
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t nsqr = cdw11 & 0xffff, ncqr = cdw11 >> 16;
		if (ctrl->discovery || nsqr == 0xffff || ncqr == 0xffff)
			return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
		/* Both 0's based; grant the smaller of the two, up to our limit. */
		uint32_t want = (nsqr < ncqr ? nsqr : ncqr) + 1;
		uint32_t most = atomic_load(&ctrl->tgt->io_queues);
		ctrl->num_io_queues = want < most ? want : most;
		return nvmf_req_success(req,
					NVME_FEAT_NUM_QUEUES_VALUE(ctrl->num_io_queues - 1, ctrl->num_io_queues - 1));
	}
	case NVME_FEAT_ASYNC_EVENT:
		ctrl->aec = cdw11;
		return NVMF_EXEC_COMPLETE;
	case NVME_FEAT_KATO:
		ctrl->kato_ms = cdw11;
		return NVMF_EXEC_COMPLETE;
	case NVME_FEAT_VOLATILE_WC:
		if (ctrl->discovery)
			return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
		ctrl->vwc_enabled = cdw11 & 1;
		return NVMF_EXEC_COMPLETE;
	default:
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	}
}

static enum nvmf_exec set_features(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	if (NVME_FEAT_SV(req->cmd.cdw10))
		return nvmf_req_status(req, NVMF_SPECIFIC(NVME_SC_FEATURE_NOT_SAVEABLE));
	pthread_mutex_lock(&ctrl->lock);
	enum nvmf_exec r = set_feature_locked(req, ctrl);
	pthread_mutex_unlock(&ctrl->lock);
	return r;
}

static enum nvmf_exec get_features(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint8_t fid = NVME_FEAT_FID(req->cmd.cdw10);
	uint8_t sel = NVME_FEAT_SEL(req->cmd.cdw10);
	uint32_t dw0;

	if (sel == 3) {
		/* Capabilities: changeable, not saveable, not namespace specific. */
		bool known = fid == NVME_FEAT_NUM_QUEUES || fid == NVME_FEAT_ASYNC_EVENT || fid == NVME_FEAT_KATO ||
			     fid == NVME_FEAT_VOLATILE_WC;
		return known ? nvmf_req_success(req, 0x4) : nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	}
	pthread_mutex_lock(&ctrl->lock);
	switch (fid) {
	case NVME_FEAT_NUM_QUEUES:
		dw0 = ctrl->discovery ? 0 : NVME_FEAT_NUM_QUEUES_VALUE(ctrl->num_io_queues - 1, ctrl->num_io_queues - 1);
		break;
	case NVME_FEAT_ASYNC_EVENT:
		dw0 = sel == 0 ? ctrl->aec : 0;
		break;
	case NVME_FEAT_KATO:
		dw0 = ctrl->kato_ms;
		break;
	case NVME_FEAT_VOLATILE_WC:
		dw0 = sel == 0 ? ctrl->vwc_enabled : 1;
		break;
	default:
		pthread_mutex_unlock(&ctrl->lock);
		return nvmf_req_status(req, NVMF_ST_INVALID_FIELD);
	}
	pthread_mutex_unlock(&ctrl->lock);
	return nvmf_req_success(req, dw0);
}

static enum nvmf_exec async_event_request(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	if (!nvmf_ctrl_hold_aer(ctrl, req))
		return nvmf_req_status(req, NVMF_SPECIFIC(NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED));
	/* Held, unanswered, until an event comes. */
	nvmf_ctrl_deliver_events(ctrl);
	return NVMF_EXEC_ASYNC;
}

enum nvmf_exec nvmf_admin_execute(struct nvmf_request *req)
{
	switch (req->cmd.opc) {
	case NVME_OPC_IDENTIFY:
		return identify(req);
	case NVME_OPC_GET_LOG_PAGE:
		return get_log_page(req);
	case NVME_OPC_SET_FEATURES:
		return set_features(req);
	case NVME_OPC_GET_FEATURES:
		return get_features(req);
	case NVME_OPC_KEEP_ALIVE:
		return NVMF_EXEC_COMPLETE;
	case NVME_OPC_ASYNC_EVENT_REQUEST:
		return async_event_request(req);
	case NVME_OPC_ABORT:
		/* Commands finish fast here; none is ever aborted. */
		if (!req->conn->ctrl->discovery)
			return nvmf_req_success(req, NVME_ABORT_NOT_ABORTED);
		break;
	default:
		break;
	}
	return nvmf_req_status(req, NVMF_ST_INVALID_OPCODE);
}
