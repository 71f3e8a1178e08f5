/* Admin commands: Identify, Get Log Page, Get/Set Features, Keep Alive, AER, Abort. */
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

#define FIRMWARE_REVISION "0.1.0"

static const uint16_t st_invalid_field = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
static const uint16_t st_invalid_ns =
	NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NAMESPACE_OR_FORMAT) | NVME_STATUS_DNR;

static void pad_ascii(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);
	memset(dst, ' ', n);
	memcpy(dst, src, len);
}

/* Fill a zeroed 4096-byte identify buffer and send what the host asked for. */
static void *identify_buf(struct nvmf_request *req)
{
	if (nvmf_request_buf(req, NVME_IDENTIFY_DATA_SIZE) < 0) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return NULL;
	}
	memset(req->buf, 0, NVME_IDENTIFY_DATA_SIZE);
	return req->buf;
}

static void send_identify(struct nvmf_request *req)
{
	size_t len = nvmf_capsule_data_len(req->nc);
	if (len > NVME_IDENTIFY_DATA_SIZE)
		len = NVME_IDENTIFY_DATA_SIZE;
	nvmf_request_send_buf(req, len);
}

static void identify_ctrl(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	struct nvmf_subsystem *ss = ctrl->ss;
	struct nvme_id_ctrl *id = identify_buf(req);
	if (!id)
		return;
	pthread_mutex_lock(&ss->lock);
	pad_ascii(id->sn, sizeof(id->sn), ss->serial);
	pad_ascii(id->mn, sizeof(id->mn), ss->model);
	pthread_mutex_unlock(&ss->lock);
	pad_ascii(id->fr, sizeof(id->fr), FIRMWARE_REVISION);
	id->rab = 6;
	id->cmic = NVME_CTRL_CMIC_MULTI_CTRL;
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
	id->maxcmd = NVMF_CTRL_MQES + 1;
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
		id->oaes = NVME_CTRL_OAES_NS_ATTR;
		id->nn = nvmf_subsystem_max_nsid(ss);
		id->oncs = NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES |
			   NVME_CTRL_ONCS_VERIFY;
		id->fuses = NVME_CTRL_FUSES_COMPARE_AND_WRITE;
		/* A write cache is present; Flush with NSID FFFFFFFFh is not supported (10b). */
		id->vwc = NVME_CTRL_VWC_PRESENT | (0x2 << 1);
		id->ioccsz = (64 + NVMF_CTRL_IOCCSZ_BYTES) / 16;
		id->ofcs = 0x1; /* Disconnect of I/O queues */
	}
	send_identify(req);
}

static void identify_ns(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t nsid = req->cmd.nsid;
	if (nsid == 0 || nsid == NVME_NSID_ALL || nsid > nvmf_subsystem_max_nsid(ctrl->ss)) {
		nvmf_request_complete(req, st_invalid_ns, 0);
		return;
	}
	struct nvme_id_ns *id = identify_buf(req);
	if (!id)
		return;
	struct nvmf_namespace *ns = nvmf_subsystem_get_ns(ctrl->ss, nsid);
	if (ns) {
		/* An inactive NSID reads as zeros. */
		id->nsze = id->ncap = id->nuse = ns->nblocks;
		id->nlbaf = 0;
		id->flbas = 0;
		id->nmic = NVME_NS_NMIC_SHARED;
		if (nvmf_bdev_supports_deallocate(ns->bdev))
			id->dlfeat = NVME_NS_DLFEAT_READ_ZEROES | NVME_NS_DLFEAT_WZ_DEALLOCATE;
		id->lbaf[0].lbads = ns->lbads;
		memcpy(id->nguid, ns->nguid, 16);
		memcpy(id->eui64, ns->eui64, 8);
		nvmf_ns_put(ns);
	}
	send_identify(req);
}

static void identify_active_ns_list(struct nvmf_request *req)
{
	uint32_t *list = identify_buf(req);
	if (!list)
		return;
	if (req->cmd.nsid >= 0xfffffffeu) {
		nvmf_request_complete(req, st_invalid_ns, 0);
		return;
	}
	nvmf_subsystem_active_nsids(req->conn->ctrl->ss, req->cmd.nsid, list, NVME_IDENTIFY_DATA_SIZE / 4);
	send_identify(req);
}

static uint8_t *put_desc(uint8_t *p, uint8_t type, const void *id, uint8_t len)
{
	struct nvme_ns_id_desc d = {.nidt = type, .nidl = len};
	memcpy(p, &d, sizeof(d));
	memcpy(p + sizeof(d), id, len);
	return p + sizeof(d) + len;
}

static void identify_ns_descs(struct nvmf_request *req)
{
	struct nvmf_namespace *ns = nvmf_subsystem_get_ns(req->conn->ctrl->ss, req->cmd.nsid);
	if (!ns) {
		nvmf_request_complete(req, st_invalid_ns, 0);
		return;
	}
	uint8_t *p = identify_buf(req);
	if (p) {
		uint8_t csi = NVME_CSI_NVM;
		p = put_desc(p, NVME_NIDT_EUI64, ns->eui64, NVME_NIDT_EUI64_LEN);
		p = put_desc(p, NVME_NIDT_NGUID, ns->nguid, NVME_NIDT_NGUID_LEN);
		p = put_desc(p, NVME_NIDT_UUID, ns->uuid, NVME_NIDT_UUID_LEN);
		put_desc(p, NVME_NIDT_CSI, &csi, NVME_NIDT_CSI_LEN);
		send_identify(req);
	}
	nvmf_ns_put(ns);
}

static void identify(struct nvmf_request *req)
{
	uint8_t cns = NVME_IDENTIFY_CNS(req->cmd.cdw10);
	bool discovery = req->conn->ctrl->discovery;

	if (cns == NVME_CNS_CONTROLLER) {
		identify_ctrl(req);
		return;
	}
	if (discovery) {
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
	switch (cns) {
	case NVME_CNS_NAMESPACE:
		identify_ns(req);
		return;
	case NVME_CNS_ACTIVE_NS_LIST:
		identify_active_ns_list(req);
		return;
	case NVME_CNS_NS_ID_DESCRIPTORS:
		identify_ns_descs(req);
		return;
	default:
		/* CNS 5/6/7 (command set specific) and the rest are not supported. */
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
}

/* ---- Log pages ---- */

void nvmf_admin_send_log(struct nvmf_request *req, const void *log, size_t size)
{
	uint64_t offset = NVME_LOG_OFFSET(req->cmd.cdw12, req->cmd.cdw13);
	uint64_t want = NVME_LOG_LEN(req->cmd.cdw10, req->cmd.cdw11);
	size_t sgl = nvmf_capsule_data_len(req->nc);

	if ((offset & 3) || offset > size) {
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
	/* Admin transfers obey MDTS too (Linux splits larger log reads). */
	if (want > NVMF_CTRL_MAX_XFER) {
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
	if (want > sgl) {
		nvmf_request_complete(req,
				      NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID) | NVME_STATUS_DNR, 0);
		return;
	}
	if (nvmf_request_buf(req, want) < 0) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return;
	}
	/* Bytes past the end of the log read as zeros. */
	size_t avail = size - offset;
	size_t n = want < avail ? want : avail;
	memcpy(req->buf, (const uint8_t *)log + offset, n);
	memset((uint8_t *)req->buf + n, 0, want - n);
	nvmf_request_send_buf(req, want);
}

static void put_u128(uint8_t out[16], uint64_t v)
{
	memset(out, 0, 16);
	memcpy(out, &v, sizeof(v)); /* little endian */
}

static void log_smart(struct nvmf_request *req)
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
	nvmf_admin_send_log(req, &log, sizeof(log));
}

static void log_fw_slot(struct nvmf_request *req)
{
	struct nvme_fw_slot_log log;
	memset(&log, 0, sizeof(log));
	log.afi = 1;
	pad_ascii(log.frs[0], sizeof(log.frs[0]), FIRMWARE_REVISION);
	nvmf_admin_send_log(req, &log, sizeof(log));
}

static void log_changed_ns(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	struct nvme_changed_ns_log *log = calloc(1, sizeof(*log));
	if (!log) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return;
	}
	pthread_mutex_lock(&ctrl->lock);
	if (ctrl->changed_overflow)
		log->nsid[0] = NVME_NSID_ALL;
	else
		memcpy(log->nsid, ctrl->changed_ns, ctrl->nchanged * sizeof(uint32_t));
	if (!NVME_LOG_RAE(req->cmd.cdw10)) {
		/* Read: clear the list and let the next change raise an event. */
		ctrl->nchanged = 0;
		ctrl->changed_overflow = false;
		ctrl->ns_event_masked = false;
	}
	pthread_mutex_unlock(&ctrl->lock);
	nvmf_admin_send_log(req, log, sizeof(*log));
	free(log);
}

static void log_cmd_effects(struct nvmf_request *req)
{
	struct nvme_cmd_effects_log *log = calloc(1, sizeof(*log));
	if (!log) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return;
	}
	static const uint8_t admin_ops[] = {NVME_OPC_GET_LOG_PAGE, NVME_OPC_IDENTIFY, NVME_OPC_ABORT,
					    NVME_OPC_SET_FEATURES, NVME_OPC_GET_FEATURES, NVME_OPC_ASYNC_EVENT_REQUEST,
					    NVME_OPC_KEEP_ALIVE};
	for (size_t i = 0; i < sizeof(admin_ops); i++)
		log->acs[admin_ops[i]] = NVME_CMD_EFFECTS_CSUPP;
	log->iocs[NVME_OPC_FLUSH] = NVME_CMD_EFFECTS_CSUPP;
	log->iocs[NVME_OPC_READ] = NVME_CMD_EFFECTS_CSUPP;
	log->iocs[NVME_OPC_COMPARE] = NVME_CMD_EFFECTS_CSUPP;
	log->iocs[NVME_OPC_VERIFY] = NVME_CMD_EFFECTS_CSUPP;
	log->iocs[NVME_OPC_WRITE] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	log->iocs[NVME_OPC_WRITE_ZEROES] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	log->iocs[NVME_OPC_DATASET_MANAGEMENT] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	nvmf_admin_send_log(req, log, sizeof(*log));
	free(log);
}

static void log_discovery(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	size_t len = 0;
	void *log = nvmf_discovery_log_build(ctrl->tgt, ctrl->hostnqn, &len);
	if (!log) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR), 0);
		return;
	}
	if (!NVME_LOG_RAE(req->cmd.cdw10)) {
		pthread_mutex_lock(&ctrl->lock);
		ctrl->disc_event_masked = false;
		pthread_mutex_unlock(&ctrl->lock);
	}
	nvmf_admin_send_log(req, log, len);
	free(log);
}

static void get_log_page(struct nvmf_request *req)
{
	uint8_t lid = NVME_LOG_LID(req->cmd.cdw10);
	bool discovery = req->conn->ctrl->discovery;
	static const struct nvme_error_log_entry no_errors[1];

	if (discovery) {
		if (lid == NVME_LOG_DISCOVERY)
			log_discovery(req);
		else
			nvmf_request_complete(req, NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVME_SC_INVALID_LOG_PAGE) |
							   NVME_STATUS_DNR,
					      0);
		return;
	}
	switch (lid) {
	case NVME_LOG_ERROR:
		nvmf_admin_send_log(req, no_errors, sizeof(no_errors));
		return;
	case NVME_LOG_SMART:
		log_smart(req);
		return;
	case NVME_LOG_FW_SLOT:
		log_fw_slot(req);
		return;
	case NVME_LOG_CHANGED_NS:
		log_changed_ns(req);
		return;
	case NVME_LOG_CMD_EFFECTS:
		log_cmd_effects(req);
		return;
	default:
		nvmf_request_complete(req,
				      NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVME_SC_INVALID_LOG_PAGE) | NVME_STATUS_DNR, 0);
		return;
	}
}

/* ---- Features ---- */

static void set_features(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t cdw11 = req->cmd.cdw11;
	uint8_t fid = NVME_FEAT_FID(req->cmd.cdw10);
	uint32_t dw0 = 0;

	if (NVME_FEAT_SV(req->cmd.cdw10)) {
		nvmf_request_complete(req,
				      NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE) | NVME_STATUS_DNR,
				      0);
		return;
	}
	pthread_mutex_lock(&ctrl->lock);
	switch (fid) {
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t nsqr = cdw11 & 0xffff, ncqr = cdw11 >> 16;
		if (ctrl->discovery || nsqr == 0xffff || ncqr == 0xffff) {
			pthread_mutex_unlock(&ctrl->lock);
			nvmf_request_complete(req, st_invalid_field, 0);
			return;
		}
		/* Both 0's based; grant the smaller of the two, up to our limit. */
		uint32_t want = (nsqr < ncqr ? nsqr : ncqr) + 1;
		ctrl->num_io_queues = want < NVMF_CTRL_MAX_IO_QUEUES ? want : NVMF_CTRL_MAX_IO_QUEUES;
		dw0 = NVME_FEAT_NUM_QUEUES_VALUE(ctrl->num_io_queues - 1, ctrl->num_io_queues - 1);
		break;
	}
	case NVME_FEAT_ASYNC_EVENT:
		ctrl->aec = cdw11;
		break;
	case NVME_FEAT_KATO:
		ctrl->kato_ms = cdw11;
		break;
	case NVME_FEAT_VOLATILE_WC:
		if (ctrl->discovery) {
			pthread_mutex_unlock(&ctrl->lock);
			nvmf_request_complete(req, st_invalid_field, 0);
			return;
		}
		ctrl->vwc_enabled = cdw11 & 1;
		break;
	default:
		pthread_mutex_unlock(&ctrl->lock);
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
	pthread_mutex_unlock(&ctrl->lock);
	nvmf_request_complete(req, NVME_SC_SUCCESS, dw0);
}

static void get_features(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint8_t fid = NVME_FEAT_FID(req->cmd.cdw10);
	uint8_t sel = NVME_FEAT_SEL(req->cmd.cdw10);
	uint32_t dw0;

	if (sel == 3) {
		/* Capabilities: changeable, not saveable, not namespace specific. */
		bool known = fid == NVME_FEAT_NUM_QUEUES || fid == NVME_FEAT_ASYNC_EVENT || fid == NVME_FEAT_KATO ||
			     fid == NVME_FEAT_VOLATILE_WC;
		nvmf_request_complete(req, known ? NVME_SC_SUCCESS : st_invalid_field, known ? 0x4 : 0);
		return;
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
		nvmf_request_complete(req, st_invalid_field, 0);
		return;
	}
	pthread_mutex_unlock(&ctrl->lock);
	nvmf_request_complete(req, NVME_SC_SUCCESS, dw0);
}

static void async_event_request(struct nvmf_request *req)
{
	struct nvmf_conn *conn = req->conn;
	if (conn->naers > NVMF_CTRL_AERL) {
		nvmf_request_complete(req, NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED) |
						   NVME_STATUS_DNR,
				      0);
		return;
	}
	/* Held, unanswered, until an event comes (see nvmf_ctrl_deliver_events). */
	conn->aers[conn->naers++] = req;
	nvmf_ctrl_deliver_events(conn->ctrl);
}

void nvmf_admin_execute(struct nvmf_request *req)
{
	bool discovery = req->conn->ctrl->discovery;
	switch (req->cmd.opc) {
	case NVME_OPC_IDENTIFY:
		identify(req);
		return;
	case NVME_OPC_GET_LOG_PAGE:
		get_log_page(req);
		return;
	case NVME_OPC_SET_FEATURES:
		set_features(req);
		return;
	case NVME_OPC_GET_FEATURES:
		get_features(req);
		return;
	case NVME_OPC_KEEP_ALIVE:
		nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
		return;
	case NVME_OPC_ASYNC_EVENT_REQUEST:
		async_event_request(req);
		return;
	case NVME_OPC_ABORT:
		if (!discovery) {
			/* Commands finish fast here; none is ever aborted. */
			nvmf_request_complete(req, NVME_SC_SUCCESS, NVME_ABORT_NOT_ABORTED);
			return;
		}
		break;
	default:
		break;
	}
	nvmf_request_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0);
}
