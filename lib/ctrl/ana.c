/*
 * Asymmetric Namespace Access: one ANA group (NVMF_ANA_GROUP) holds every
 * namespace, with the same ID on every gateway exporting them, as Linux
 * nvmet and ceph-nvmeof do; each port of this gateway reports its own state
 * for it, and a controller takes the state of the port its admin queue
 * connected to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctrl_internal.h"

int nvmf_ana_state_parse(const char *name)
{
	static const struct {
		const char *name;
		uint8_t state;
	} names[] = {
		{"optimized", NVME_ANA_OPTIMIZED},	   {"non_optimized", NVME_ANA_NONOPTIMIZED},
		{"non-optimized", NVME_ANA_NONOPTIMIZED}, {"inaccessible", NVME_ANA_INACCESSIBLE},
		{"change", NVME_ANA_CHANGE},
	};
	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].state;
	return -1;
}

const char *nvmf_ana_state_name(uint8_t state)
{
	switch (state) {
	case NVME_ANA_OPTIMIZED:
		return "optimized";
	case NVME_ANA_NONOPTIMIZED:
		return "non_optimized";
	case NVME_ANA_INACCESSIBLE:
		return "inaccessible";
	case NVME_ANA_PERSISTENT_LOSS:
		return "persistent_loss";
	case NVME_ANA_CHANGE:
		return "change";
	default:
		return "unknown";
	}
}

static bool valid_state(uint8_t s)
{
	return s == NVME_ANA_OPTIMIZED || s == NVME_ANA_NONOPTIMIZED || s == NVME_ANA_INACCESSIBLE ||
	       s == NVME_ANA_CHANGE;
}

uint8_t nvmf_tgt_get_ana_state(struct nvmf_tgt *tgt, uint16_t portid)
{
	pthread_mutex_lock(&tgt->lock);
	uint8_t s = tgt->default_ana_state;
	for (unsigned i = 0; i < tgt->nports; i++)
		if (tgt->ports[i].portid == portid)
			s = tgt->ports[i].ana_state;
	pthread_mutex_unlock(&tgt->lock);
	return s;
}

/* Tell the controllers of ss on portid (every port when 0) their new state. */
static void notify_subsystem(struct nvmf_subsystem *ss, uint16_t portid, uint8_t state)
{
	pthread_mutex_lock(&ss->lock);
	for (unsigned id = 1; id <= NVMF_MAX_CNTLID; id++) {
		struct nvmf_controller *c = ss->ctrls[id];
		if (c && (portid == 0 || c->portid == portid))
			nvmf_ctrl_ana_changed(c, state);
	}
	pthread_mutex_unlock(&ss->lock);
}

int nvmf_tgt_set_ana_state(struct nvmf_tgt *tgt, uint16_t portid, uint8_t state)
{
	if (!valid_state(state))
		return -EINVAL;
	pthread_mutex_lock(&tgt->lock);
	bool found = portid == 0;
	if (portid == 0)
		tgt->default_ana_state = state;
	for (unsigned i = 0; i < tgt->nports; i++)
		if (portid == 0 || tgt->ports[i].portid == portid) {
			tgt->ports[i].ana_state = state;
			found = true;
		}
	pthread_mutex_unlock(&tgt->lock);
	if (!found)
		return -ENOENT;
	atomic_fetch_add(&tgt->ana_chgcnt, 1);
	/* Subsystems stay allocated until the target goes (deleted ones too): walk the list link by link. */
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_subsystem *ss = tgt->subsystems;
	pthread_mutex_unlock(&tgt->lock);
	while (ss) {
		notify_subsystem(ss, portid, state);
		pthread_mutex_lock(&tgt->lock);
		ss = ss->next;
		pthread_mutex_unlock(&tgt->lock);
	}
	return 0;
}

void *nvmf_ana_log_build(struct nvmf_controller *ctrl, bool groups_only, size_t *len)
{
	uint32_t max = nvmf_subsystem_max_nsid(ctrl->ss);
	uint32_t *nsids = max ? calloc(max, sizeof(*nsids)) : NULL;
	unsigned n = nsids ? nvmf_subsystem_active_nsids(ctrl->ss, 0, nsids, max) : 0;
	if (groups_only)
		n = 0;
	size_t size = sizeof(struct nvme_ana_log_header) + sizeof(struct nvme_ana_group_desc) + n * sizeof(uint32_t);
	uint8_t *log = calloc(1, size);
	if (!log) {
		free(nsids);
		return NULL;
	}
	uint64_t chgcnt = atomic_load(&ctrl->tgt->ana_chgcnt);
	struct nvme_ana_log_header h = {.chgcnt = chgcnt, .ngrps = 1};
	struct nvme_ana_group_desc d = {
		.grpid = NVMF_ANA_GROUP,
		.nnsids = n,
		.chgcnt = chgcnt,
		.state = atomic_load(&ctrl->ana_state),
	};
	memcpy(log, &h, sizeof(h));
	memcpy(log + sizeof(h), &d, sizeof(d));
	if (n)
		memcpy(log + sizeof(h) + sizeof(d), nsids, n * sizeof(uint32_t));
	free(nsids);
	*len = size;
	return log;
}
