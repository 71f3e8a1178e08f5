/* Admin commands: Identify, Get Log Page, features, passthrough, discovery log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

static const char *cns_name(uint8_t cns)
{
	switch (cns) {
	case NVME_CNS_NAMESPACE:
		return "Identify Namespace";
	case NVME_CNS_CONTROLLER:
		return "Identify Controller";
	case NVME_CNS_ACTIVE_NS_LIST:
		return "Identify Active Namespace List";
	case NVME_CNS_NS_ID_DESCRIPTORS:
		return "Identify Namespace Identification Descriptors";
	default:
		return "Identify";
	}
}

int nvmf_host_identify(struct nvmf_host_ctrl *c, uint8_t cns, uint32_t nsid, uint16_t cntid, void *buf)
{
	struct nvme_command sqe = {.opc = NVME_OPC_IDENTIFY, .nsid = nsid};
	sqe.cdw10 = cns | (uint32_t)cntid << 16;
	char what[96];
	if (nsid)
		snprintf(what, sizeof(what), "%s (nsid %u)", cns_name(cns), nsid);
	else
		snprintf(what, sizeof(what), "%s", cns_name(cns));
	return host_admin(c, what, &sqe, buf, NVME_IDENTIFY_DATA_SIZE, false, NULL);
}

int nvmf_host_active_namespaces(struct nvmf_host_ctrl *c, uint32_t **list, size_t *count)
{
	uint32_t page[1024];
	uint32_t *out = NULL;
	size_t n = 0;
	uint32_t start = 0;
	*list = NULL;
	*count = 0;
	for (;;) {
		int rc = nvmf_host_identify(c, NVME_CNS_ACTIVE_NS_LIST, start, 0, page);
		if (rc) {
			free(out);
			return rc;
		}
		size_t k = 0;
		while (k < 1024 && page[k])
			k++;
		if (k) {
			uint32_t *grown = realloc(out, (n + k) * sizeof(*out));
			if (!grown) {
				free(out);
				return -ENOMEM;
			}
			out = grown;
			memcpy(out + n, page, k * sizeof(*out));
			n += k;
		}
		/* A full page may be followed by more; stop at the last possible ID. */
		if (k < 1024 || page[1023] >= 0xfffffffeu)
			break;
		start = page[1023];
	}
	*list = out;
	*count = n;
	return 0;
}

static const char *log_name(uint8_t lid)
{
	switch (lid) {
	case NVME_LOG_ERROR:
		return "Error Information";
	case NVME_LOG_SMART:
		return "SMART / Health Information";
	case NVME_LOG_FW_SLOT:
		return "Firmware Slot Information";
	case NVME_LOG_CHANGED_NS:
		return "Changed Namespace List";
	case NVME_LOG_CMD_EFFECTS:
		return "Commands Supported and Effects";
	case NVME_LOG_ANA:
		return "Asymmetric Namespace Access";
	case NVME_LOG_DISCOVERY:
		return "Discovery";
	default:
		return NULL;
	}
}

int nvmf_host_get_log_page(struct nvmf_host_ctrl *c, uint8_t lid, uint32_t nsid, uint8_t lsp, uint64_t offset,
			   void *buf, size_t len, size_t *got)
{
	/* Chunks within the transfer limit, dword multiples (NUMD counts dwords). */
	size_t chunk = c->max_xfer ? c->max_xfer : 1u << 20;
	size_t done = 0;
	int rc = 0;
	char what[96];
	const char *name = log_name(lid);
	if (name)
		snprintf(what, sizeof(what), "Get Log Page %s (0x%02x)", name, lid);
	else
		snprintf(what, sizeof(what), "Get Log Page 0x%02x", lid);
	if (len % 4) {
		host_set_error(c, "%s: length %zu is not a multiple of 4", what, len);
		return -EINVAL;
	}
	while (done < len) {
		size_t n = len - done < chunk ? len - done : chunk;
		uint32_t numd = (uint32_t)(n / 4) - 1;
		uint64_t off = offset + done;
		struct nvme_command sqe = {.opc = NVME_OPC_GET_LOG_PAGE, .nsid = nsid};
		sqe.cdw10 = lid | (uint32_t)(lsp & 0x7f) << 8 | (numd & 0xffff) << 16;
		sqe.cdw11 = numd >> 16;
		sqe.cdw12 = (uint32_t)off;
		sqe.cdw13 = (uint32_t)(off >> 32);
		struct nvmf_host_completion cpl;
		rc = host_admin(c, what, &sqe, (uint8_t *)buf + done, n, false, &cpl);
		done += rc == 0 ? n : cpl.transferred;
		if (rc)
			break;
	}
	if (got)
		*got = done;
	return rc;
}

int nvmf_host_get_features(struct nvmf_host_ctrl *c, uint8_t fid, uint8_t sel, uint32_t nsid, uint32_t cdw11,
			   void *buf, size_t len, uint32_t *result)
{
	struct nvme_command sqe = {.opc = NVME_OPC_GET_FEATURES, .nsid = nsid};
	sqe.cdw10 = fid | (uint32_t)(sel & 7) << 8;
	sqe.cdw11 = cdw11;
	struct nvmf_host_completion cpl;
	char what[64];
	snprintf(what, sizeof(what), "Get Features 0x%02x", fid);
	int rc = host_admin(c, what, &sqe, buf, buf ? len : 0, false, &cpl);
	if (rc == 0 && result)
		*result = cpl.cdw0;
	return rc;
}

int nvmf_host_set_features(struct nvmf_host_ctrl *c, uint8_t fid, uint32_t nsid, uint32_t cdw11, bool save,
			   void *buf, size_t len, uint32_t *result)
{
	struct nvme_command sqe = {.opc = NVME_OPC_SET_FEATURES, .nsid = nsid};
	sqe.cdw10 = fid | (save ? 1u << 31 : 0);
	sqe.cdw11 = cdw11;
	struct nvmf_host_completion cpl;
	char what[64];
	snprintf(what, sizeof(what), fid == NVME_FEAT_NUM_QUEUES ? "Set Features Number of Queues (0x%02x)"
								  : "Set Features 0x%02x",
		 fid);
	int rc = host_admin(c, what, &sqe, buf, buf ? len : 0, true, &cpl);
	if (rc == 0 && result)
		*result = cpl.cdw0;
	return rc;
}

int nvmf_host_admin_passthru(struct nvmf_host_ctrl *c, const struct nvme_command *sqe, void *buf, size_t len,
			     bool send, struct nvme_completion *cqe, size_t *got)
{
	struct nvmf_host_completion cpl;
	char what[64];
	snprintf(what, sizeof(what), "admin command 0x%02x", sqe->opc);
	int rc = host_admin(c, what, sqe, buf, buf ? len : 0, send, &cpl);
	if (cqe) {
		memset(cqe, 0, sizeof(*cqe));
		cqe->cdw0 = cpl.cdw0;
		cqe->cdw1 = cpl.cdw1;
		cqe->status = cpl.status;
	}
	if (got)
		*got = cpl.transferred;
	return rc;
}

int nvmf_host_discover(struct nvmf_host_ctrl *c, struct nvmf_discovery_log_header **logp, size_t *count)
{
	struct nvmf_discovery_log_header hdr;
	*logp = NULL;
	*count = 0;
	/* Header, then everything; retry while the generation counter moves. */
	for (int attempt = 0; attempt < 10; attempt++) {
		int rc = nvmf_host_get_log_page(c, NVME_LOG_DISCOVERY, 0, 0, 0, &hdr, sizeof(hdr), NULL);
		if (rc)
			return rc;
		if (hdr.numrec > 4096) {
			host_set_error(c, "discovery log claims %llu records", (unsigned long long)hdr.numrec);
			return -EPROTO;
		}
		size_t n = (size_t)hdr.numrec;
		size_t len = sizeof(hdr) + n * sizeof(struct nvmf_discovery_log_entry);
		struct nvmf_discovery_log_header *log = malloc(len);
		if (!log)
			return -ENOMEM;
		memcpy(log, &hdr, sizeof(hdr));
		if (n) {
			rc = nvmf_host_get_log_page(c, NVME_LOG_DISCOVERY, 0, 0, sizeof(hdr), log + 1,
						    n * sizeof(struct nvmf_discovery_log_entry), NULL);
			if (rc) {
				free(log);
				return rc;
			}
		}
		struct nvmf_discovery_log_header again;
		rc = nvmf_host_get_log_page(c, NVME_LOG_DISCOVERY, 0, 0, 0, &again, sizeof(again), NULL);
		if (rc) {
			free(log);
			return rc;
		}
		if (again.genctr == hdr.genctr && again.numrec == hdr.numrec) {
			*logp = log;
			*count = n;
			return 0;
		}
		free(log);
	}
	host_set_error(c, "discovery log kept changing (generation counter) over 10 reads");
	return -EAGAIN;
}

int nvmf_host_ns_info(struct nvmf_host_ctrl *c, uint32_t nsid, struct nvmf_host_ns_info *info)
{
	struct nvme_id_ns *id = malloc(sizeof(*id));
	if (!id)
		return -ENOMEM;
	int rc = nvmf_host_identify(c, NVME_CNS_NAMESPACE, nsid, 0, id);
	if (rc == 0) {
		memset(info, 0, sizeof(*info));
		info->nsid = nsid;
		info->nsze = id->nsze;
		info->ncap = id->ncap;
		info->nuse = id->nuse;
		const struct nvme_lbaf *f = &id->lbaf[NVME_NS_FLBAS_INDEX(id->flbas)];
		info->block_size = f->lbads >= 9 && f->lbads < 32 ? 1u << f->lbads : 0;
		info->ms = f->ms;
		if (id->nsze == 0 || info->block_size == 0) {
			host_set_error(c, "namespace %u is not active", nsid);
			rc = -ENOENT;
		}
	}
	free(id);
	return rc;
}
