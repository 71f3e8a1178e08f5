/* The target: the registry of subsystems and ports, and the discovery generation counter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"
#include "util/clock.h"

uint64_t nvmf_now_ms(void)
{
	return nvmf_clock_ms();
}

struct nvmf_tgt *nvmf_tgt_create(void)
{
	struct nvmf_tgt *tgt = calloc(1, sizeof(*tgt));
	if (!tgt)
		return NULL;
	pthread_mutex_init(&tgt->lock, NULL);
	atomic_init(&tgt->genctr, 1);
	tgt->default_ana_state = NVME_ANA_OPTIMIZED;
	atomic_init(&tgt->ana_chgcnt, 1);
	tgt->bufs = nvmf_buf_pool_create(NVMF_DEFAULT_BUFFER_BUDGET);
	atomic_init(&tgt->queue_buffer_cap, NVMF_DEFAULT_BUFFER_BUDGET / 4);
	atomic_init(&tgt->queue_entries, NVMF_MAX_QUEUE_ENTRIES);
	atomic_init(&tgt->io_queues, NVMF_MAX_IO_QUEUES);
	atomic_init(&tgt->associations, NVMF_DEFAULT_ASSOCIATIONS);
	tgt->discovery = tgt->bufs ? nvmf_subsystem_create_discovery(tgt) : NULL;
	if (!tgt->discovery) {
		nvmf_buf_pool_destroy(tgt->bufs);
		free(tgt);
		return NULL;
	}
	tgt->assoc_params = (struct nvmf_association_params){
		.sq_flow_control = false, /* hosts may disable it */
		.header_digests = true,
		.data_digests = true,
		.pda = 0,
		.maxh2cdata = 128 * 1024,
		.ioccsz = NVMF_CTRL_IOCCSZ_BYTES,
	};
	return tgt;
}

void nvmf_tgt_destroy(struct nvmf_tgt *tgt)
{
	if (!tgt)
		return;
	while (tgt->subsystems) {
		struct nvmf_subsystem *s = tgt->subsystems;
		tgt->subsystems = s->next;
		nvmf_subsystem_destroy(s);
	}
	while (tgt->retired) {
		struct nvmf_subsystem *s = tgt->retired;
		tgt->retired = s->retired_next;
		nvmf_subsystem_destroy(s);
	}
	nvmf_subsystem_destroy(tgt->discovery);
	for (unsigned i = 0; i < tgt->nports; i++) {
		for (unsigned j = 0; j < tgt->ports[i].nsubnqns; j++)
			free(tgt->ports[i].subnqns[j]);
		free(tgt->ports[i].subnqns);
		nvmf_association_free(tgt->ports[i].na);
	}
	free(tgt->ports);
	nvmf_tls_tgt_free(tgt);
	nvmf_buf_pool_destroy(tgt->bufs);
	for (unsigned i = 0; i < tgt->nretired_assocs; i++)
		nvmf_association_free(tgt->retired_assocs[i]);
	free(tgt->retired_assocs);
	pthread_mutex_destroy(&tgt->lock);
	free(tgt);
}

static struct nvmf_port *find_port(struct nvmf_tgt *tgt, uint16_t portid)
{
	for (unsigned i = 0; i < tgt->nports; i++) {
		if (tgt->ports[i].portid == portid)
			return &tgt->ports[i];
	}
	return NULL;
}

int nvmf_tgt_add_port(struct nvmf_tgt *tgt, uint16_t portid, const struct nvmf_port_addr *addr,
		      bool all_subsystems)
{
	pthread_mutex_lock(&tgt->lock);
	if (find_port(tgt, portid)) {
		pthread_mutex_unlock(&tgt->lock);
		return -EEXIST;
	}
	struct nvmf_association *na = nvmf_association_create(addr->trtype, true, &tgt->assoc_params);
	if (!na) {
		pthread_mutex_unlock(&tgt->lock);
		return -errno;
	}
	struct nvmf_port *ports = realloc(tgt->ports, (tgt->nports + 1) * sizeof(*ports));
	if (!ports) {
		pthread_mutex_unlock(&tgt->lock);
		nvmf_association_free(na);
		return -ENOMEM;
	}
	tgt->ports = ports;
	struct nvmf_port *p = &ports[tgt->nports++];
	memset(p, 0, sizeof(*p));
	p->portid = portid;
	p->addr = *addr;
	p->na = na;
	p->all_subsystems = all_subsystems;
	p->ana_state = tgt->default_ana_state;
	pthread_mutex_unlock(&tgt->lock);
	nvmf_tgt_changed(tgt);
	return 0;
}

struct nvmf_association *nvmf_tgt_port_association(struct nvmf_tgt *tgt, uint16_t portid)
{
	struct nvmf_port *p = find_port(tgt, portid);
	return p ? p->na : NULL;
}

int nvmf_tgt_set_port_trsvcid(struct nvmf_tgt *tgt, uint16_t portid, const char *trsvcid)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = find_port(tgt, portid);
	if (p) {
		strncpy(p->addr.trsvcid, trsvcid, sizeof(p->addr.trsvcid) - 1);
		p->addr.trsvcid[sizeof(p->addr.trsvcid) - 1] = '\0';
	}
	pthread_mutex_unlock(&tgt->lock);
	if (!p)
		return -ENOENT;
	nvmf_tgt_changed(tgt);
	return 0;
}

int nvmf_tgt_port_link(struct nvmf_tgt *tgt, uint16_t portid, const char *subnqn)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = find_port(tgt, portid);
	if (!p) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	char **n = realloc(p->subnqns, (p->nsubnqns + 1) * sizeof(*n));
	char *copy = strdup(subnqn);
	if (!n || !copy) {
		if (n)
			p->subnqns = n;
		free(copy);
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	p->subnqns = n;
	p->subnqns[p->nsubnqns++] = copy;
	pthread_mutex_unlock(&tgt->lock);
	nvmf_tgt_changed(tgt);
	return 0;
}

bool nvmf_tgt_port_allows(struct nvmf_tgt *tgt, uint16_t portid, const char *nqn)
{
	if (strcmp(nqn, NVME_DISCOVERY_NQN) == 0)
		return true;
	bool ok = false;
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = find_port(tgt, portid);
	/* A connection from no registered port (tests, embedding) sees everything. */
	if (!p || p->all_subsystems)
		ok = true;
	for (unsigned i = 0; p && !ok && i < p->nsubnqns; i++)
		ok = strcmp(p->subnqns[i], nqn) == 0;
	pthread_mutex_unlock(&tgt->lock);
	return ok;
}

void nvmf_tgt_set_buffer_budget(struct nvmf_tgt *tgt, size_t bytes)
{
	if (bytes < NVMF_MIN_BUFFER_BUDGET)
		bytes = NVMF_MIN_BUFFER_BUDGET;
	nvmf_buf_pool_set_budget(tgt->bufs, bytes);
	atomic_store(&tgt->queue_buffer_cap, bytes / 4);
}

int nvmf_tgt_validate_limits(const struct nvmf_tgt_limits *l)
{
	if (l->queue_entries < 2 || l->queue_entries > NVMF_MAX_QUEUE_ENTRIES || l->io_queues < 1 ||
	    l->io_queues > NVMF_MAX_IO_QUEUES || l->associations < 1)
		return -EINVAL;
	return 0;
}

int nvmf_tgt_set_limits(struct nvmf_tgt *tgt, const struct nvmf_tgt_limits *l)
{
	if (nvmf_tgt_validate_limits(l) < 0)
		return -EINVAL;
	atomic_store(&tgt->queue_entries, l->queue_entries);
	atomic_store(&tgt->io_queues, l->io_queues);
	atomic_store(&tgt->associations, l->associations);
	return 0;
}

void nvmf_tgt_get_limits(struct nvmf_tgt *tgt, struct nvmf_tgt_limits *l)
{
	l->queue_entries = atomic_load(&tgt->queue_entries);
	l->io_queues = atomic_load(&tgt->io_queues);
	l->associations = atomic_load(&tgt->associations);
}

size_t nvmf_tgt_buffer_bytes(struct nvmf_tgt *tgt)
{
	return nvmf_buf_pool_held(tgt->bufs);
}

uint64_t nvmf_tgt_genctr(struct nvmf_tgt *tgt)
{
	return atomic_load(&tgt->genctr);
}
