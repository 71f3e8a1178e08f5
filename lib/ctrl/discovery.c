/*
 * The discovery log page: for each port, the current discovery subsystem
 * (subtype 3) and every subsystem reachable there that the host may use.
 */
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

static void fill_entry(struct nvmf_discovery_log_entry *e, const struct nvmf_port *port, const char *nqn,
		       uint8_t subtype, uint32_t asqsz)
{
	memset(e, 0, sizeof(*e));
	e->trtype = (uint8_t)port->addr.trtype;
	e->adrfam = (uint8_t)port->addr.adrfam;
	e->subtype = subtype;
	e->treq = (port->addr.tls == NVMF_PORT_TLS_REQUIRED ? NVMF_TREQ_SECURE_CHANNEL_REQUIRED
							      : NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED) |
		  NVMF_TREQ_DISABLE_SQ_FC;
	e->portid = port->portid;
	e->cntlid = NVMF_CNTLID_DYNAMIC;
	e->asqsz = (uint16_t)asqsz;
	if (subtype == NVMF_SUBTYPE_DISCOVERY_CURRENT)
		e->eflags = NVMF_EFLAGS_EPCSD;
	/* Fixed-width fields, zero padded (the entry was cleared above). */
	memcpy(e->trsvcid, port->addr.trsvcid, strnlen(port->addr.trsvcid, sizeof(e->trsvcid)));
	memcpy(e->traddr, port->addr.traddr, strnlen(port->addr.traddr, sizeof(e->traddr)));
	memcpy(e->subnqn, nqn, strnlen(nqn, sizeof(e->subnqn) - 1));
	e->tsas[0] = port->addr.tls != NVMF_PORT_TLS_NONE ? NVMF_TCP_SECTYPE_TLS13 : NVMF_TCP_SECTYPE_NONE;
}

static bool port_has(const struct nvmf_port *port, const char *nqn)
{
	if (port->all_subsystems)
		return true;
	for (unsigned i = 0; i < port->nsubnqns; i++) {
		if (strcmp(port->subnqns[i], nqn) == 0)
			return true;
	}
	return false;
}

void *nvmf_discovery_log_build(struct nvmf_tgt *tgt, const char *hostnqn, size_t *len)
{
	pthread_mutex_lock(&tgt->lock);
	/* Read the counter under the lock that guards what it counts. */
	uint64_t genctr = atomic_load(&tgt->genctr);
	size_t max = 0;
	for (unsigned p = 0; p < tgt->nports; p++) {
		max++;
		for (struct nvmf_subsystem *s = tgt->subsystems; s; s = s->next)
			max++;
	}
	struct nvmf_discovery_log_header *h = calloc(1, sizeof(*h) + max * sizeof(struct nvmf_discovery_log_entry));
	if (!h) {
		pthread_mutex_unlock(&tgt->lock);
		return NULL;
	}
	struct nvmf_discovery_log_entry *entries = (void *)(h + 1);
	uint32_t asqsz = atomic_load(&tgt->queue_entries);
	size_t n = 0;
	for (unsigned p = 0; p < tgt->nports; p++) {
		const struct nvmf_port *port = &tgt->ports[p];
		/* vfio-user ports are PCIe devices, not Fabrics addresses. */
		if (port->offline || port->addr.trtype == NVMF_TRTYPE_VFIO_USER)
			continue;
		fill_entry(&entries[n++], port, NVME_DISCOVERY_NQN, NVMF_SUBTYPE_DISCOVERY_CURRENT, asqsz);
		for (struct nvmf_subsystem *s = tgt->subsystems; s; s = s->next) {
			if (port_has(port, s->nqn) && nvmf_subsystem_host_allowed(s, hostnqn))
				fill_entry(&entries[n++], port, s->nqn, NVMF_SUBTYPE_NVME, asqsz);
		}
	}
	pthread_mutex_unlock(&tgt->lock);
	h->genctr = genctr;
	h->numrec = n;
	h->recfmt = 0;
	*len = sizeof(*h) + n * sizeof(struct nvmf_discovery_log_entry);
	return h;
}
