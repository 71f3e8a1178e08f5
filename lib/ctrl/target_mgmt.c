/* Run-time management of the target: listings, deletions, port changes, terminating associations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

void nvmf_ctrl_get_limits(struct nvmf_tgt *tgt, struct nvmf_ctrl_limits *l)
{
	l->max_queue_depth = atomic_load(&tgt->queue_entries);
	l->max_io_queues = atomic_load(&tgt->io_queues);
	l->in_capsule_data_size = NVMF_CTRL_IOCCSZ_BYTES;
	l->max_io_size = NVMF_CTRL_MAX_XFER;
	l->kas = NVMF_CTRL_KAS;
}

/* ---- Subsystems ---- */

int nvmf_subsystem_set_limits(struct nvmf_subsystem *ss, uint32_t max_namespaces, uint16_t min_cntlid,
			      uint16_t max_cntlid)
{
	if (min_cntlid < 1 || max_cntlid > NVMF_MAX_CNTLID || min_cntlid > max_cntlid)
		return -EINVAL;
	pthread_mutex_lock(&ss->lock);
	ss->max_namespaces = max_namespaces;
	ss->min_cntlid = min_cntlid;
	ss->max_cntlid = max_cntlid;
	ss->next_cntlid = min_cntlid;
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

struct nvmf_subsystem *nvmf_tgt_next_subsystem(struct nvmf_tgt *tgt, struct nvmf_subsystem *prev)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_subsystem *s = prev ? prev->next : tgt->subsystems;
	pthread_mutex_unlock(&tgt->lock);
	return s;
}

void nvmf_subsystem_get_info(struct nvmf_subsystem *ss, struct nvmf_subsystem_info *info)
{
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&ss->lock);
	snprintf(info->nqn, sizeof(info->nqn), "%s", ss->nqn);
	snprintf(info->serial, sizeof(info->serial), "%s", ss->serial);
	snprintf(info->model, sizeof(info->model), "%s", ss->model);
	info->allow_any_host = ss->allow_any_host;
	info->max_namespaces = ss->max_namespaces;
	info->min_cntlid = ss->min_cntlid ? ss->min_cntlid : 1;
	info->max_cntlid = ss->max_cntlid ? ss->max_cntlid : NVMF_MAX_CNTLID;
	pthread_mutex_unlock(&ss->lock);
}

void nvmf_subsystem_for_each_host(struct nvmf_subsystem *ss, void (*cb)(void *arg, const char *hostnqn), void *arg)
{
	pthread_mutex_lock(&ss->lock);
	for (unsigned i = 0; i < ss->nhosts; i++)
		cb(arg, ss->hosts[i]);
	pthread_mutex_unlock(&ss->lock);
}

int nvmf_tgt_delete_subsystem(struct nvmf_tgt *tgt, const char *nqn)
{
	struct nvmf_subsystem *ss = NULL;
	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsystem **p = &tgt->subsystems; *p; p = &(*p)->next) {
		if (strcmp((*p)->nqn, nqn) == 0) {
			ss = *p;
			*p = ss->next;
			break;
		}
	}
	if (!ss) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	/* Connect finds it no more; drop it from the ports' lists. */
	for (unsigned i = 0; i < tgt->nports; i++) {
		struct nvmf_port *port = &tgt->ports[i];
		for (unsigned j = 0; j < port->nsubnqns; j++) {
			if (strcmp(port->subnqns[j], nqn) == 0) {
				free(port->subnqns[j]);
				port->subnqns[j] = port->subnqns[--port->nsubnqns];
				break;
			}
		}
	}
	ss->retired_next = tgt->retired;
	tgt->retired = ss;
	pthread_mutex_unlock(&tgt->lock);

	nvmf_subsystem_disconnect(ss, 0, NULL, -1, "subsystem deleted");
	pthread_mutex_lock(&ss->lock);
	ss->allow_any_host = false;
	for (unsigned i = 0; i < ss->nhosts; i++)
		free(ss->hosts[i]);
	ss->nhosts = 0;
	nvmf_subsystem_drop_all_dhchap(ss);
	pthread_mutex_unlock(&ss->lock);
	for (uint32_t nsid = 1; nsid <= ss->ns_slots; nsid++)
		nvmf_subsystem_remove_namespace(ss, nsid);
	nvmf_tgt_changed(tgt);
	return 0;
}

/* ---- Namespaces ---- */

uint32_t nvmf_subsystem_add_namespace_bdev(struct nvmf_subsystem *ss, uint32_t nsid, struct nvmf_bdev *bdev,
					   const struct nvmf_ns_opts *opts, char *err, size_t errlen)
{
	nsid = nvmf_subsystem_pick_nsid(ss, nsid, err, errlen);
	if (!nsid)
		return 0;
	nvmf_bdev_get(bdev);
	struct nvmf_namespace *ns = nvmf_ns_create_on_bdev(ss->nqn, nsid, bdev, opts, err, errlen);
	if (!ns)
		return 0;
	return nvmf_subsystem_attach_ns(ss, ns, err, errlen);
}

void nvmf_subsystem_for_each_ns(struct nvmf_subsystem *ss, void (*cb)(void *arg, const struct nvmf_ns_info *ns),
				void *arg)
{
	pthread_mutex_lock(&ss->lock);
	for (uint32_t i = 0; i < ss->ns_slots; i++) {
		struct nvmf_namespace *ns = ss->ns[i];
		if (!ns)
			continue;
		struct nvmf_ns_info info = {
			.nsid = ns->nsid,
			.bdev = ns->bdev,
			.block_size = ns->block_size,
			.nblocks = ns->nblocks,
			.read_cmds = atomic_load(&ns->stats.read_cmds),
			.write_cmds = atomic_load(&ns->stats.write_cmds),
			.bytes_read = atomic_load(&ns->stats.bytes_read),
			.bytes_written = atomic_load(&ns->stats.bytes_written),
		};
		nvmf_latency_snapshot(&ns->stats.latency, &info.latency);
		memcpy(info.nguid, ns->nguid, 16);
		memcpy(info.uuid, ns->uuid, 16);
		memcpy(info.eui64, ns->eui64, 8);
		cb(arg, &info);
	}
	pthread_mutex_unlock(&ss->lock);
}

static unsigned remove_bdev_from(struct nvmf_subsystem *ss, const struct nvmf_bdev *bdev)
{
	unsigned n = 0;
	for (uint32_t nsid = 1;; nsid++) {
		pthread_mutex_lock(&ss->lock);
		bool end = nsid > ss->ns_slots;
		bool match = !end && ss->ns[nsid - 1] && ss->ns[nsid - 1]->bdev == bdev;
		pthread_mutex_unlock(&ss->lock);
		if (end)
			return n;
		if (match && nvmf_subsystem_remove_namespace(ss, nsid) == 0)
			n++;
	}
}

unsigned nvmf_tgt_remove_bdev_namespaces(struct nvmf_tgt *tgt, const struct nvmf_bdev *bdev)
{
	unsigned n = 0;
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss))
		n += remove_bdev_from(ss, bdev);
	return n;
}

/* ---- Controllers and queue pairs ---- */

static int conn_portid(const struct nvmf_conn *conn)
{
	return conn ? conn->portid : -1;
}

void nvmf_subsystem_for_each_ctrl(struct nvmf_subsystem *ss, void (*cb)(void *arg, const struct nvmf_ctrl_info *c),
				  void *arg)
{
	pthread_mutex_lock(&ss->lock);
	for (unsigned id = 1; id <= NVMF_MAX_CNTLID; id++) {
		struct nvmf_controller *ctrl = ss->ctrls[id];
		if (!ctrl || atomic_load(&ctrl->dead))
			continue;
		struct nvmf_ctrl_info c = {.cntlid = ctrl->cntlid};
		snprintf(c.hostnqn, sizeof(c.hostnqn), "%s", ctrl->hostnqn);
		memcpy(c.hostid, ctrl->hostid, 16);
		pthread_mutex_lock(&ctrl->lock);
		int portid = conn_portid(ctrl->admin);
		c.portid = portid < 0 ? 0 : (uint16_t)portid;
		for (unsigned q = 1; q <= NVMF_CTRL_MAX_IO_QUEUES; q++)
			c.num_io_qpairs += ctrl->io[q] != NULL;
		c.kato_ms = ctrl->kato_ms;
		pthread_mutex_unlock(&ctrl->lock);
		c.read_cmds = atomic_load(&ctrl->smart.read_cmds);
		c.write_cmds = atomic_load(&ctrl->smart.write_cmds);
		c.bytes_read = atomic_load(&ctrl->smart.blocks512_read) * 512;
		c.bytes_written = atomic_load(&ctrl->smart.blocks512_written) * 512;
		c.errors = atomic_load(&ctrl->error_count);
		nvmf_latency_snapshot(&ctrl->io_latency, &c.latency);
		cb(arg, &c);
	}
	pthread_mutex_unlock(&ss->lock);
}

void nvmf_subsystem_for_each_qpair(struct nvmf_subsystem *ss,
				   void (*cb)(void *arg, const struct nvmf_qpair_info *q), void *arg)
{
	pthread_mutex_lock(&ss->lock);
	for (unsigned id = 1; id <= NVMF_MAX_CNTLID; id++) {
		struct nvmf_controller *ctrl = ss->ctrls[id];
		if (!ctrl || atomic_load(&ctrl->dead))
			continue;
		pthread_mutex_lock(&ctrl->lock);
		for (unsigned q = 0; q <= NVMF_CTRL_MAX_IO_QUEUES; q++) {
			struct nvmf_conn *conn = q == 0 ? ctrl->admin : ctrl->io[q];
			if (!conn)
				continue;
			struct nvmf_qpair_info qi = {
				.cntlid = ctrl->cntlid,
				.qid = (uint16_t)q,
				.qsize = conn->qsize,
				.portid = conn->portid,
			};
			cb(arg, &qi);
		}
		pthread_mutex_unlock(&ctrl->lock);
	}
	pthread_mutex_unlock(&ss->lock);
}

unsigned nvmf_subsystem_disconnect(struct nvmf_subsystem *ss, uint16_t cntlid, const char *hostnqn, int portid,
				   const char *why)
{
	unsigned n = 0;
	for (unsigned id = cntlid ? cntlid : 1; id <= (cntlid ? cntlid : NVMF_MAX_CNTLID); id++) {
		pthread_mutex_lock(&ss->lock);
		struct nvmf_controller *ctrl = ss->ctrls[id];
		bool match = ctrl && !atomic_load(&ctrl->dead) && (!hostnqn || strcmp(ctrl->hostnqn, hostnqn) == 0);
		if (match && portid >= 0) {
			pthread_mutex_lock(&ctrl->lock);
			match = conn_portid(ctrl->admin) == portid;
			pthread_mutex_unlock(&ctrl->lock);
		}
		if (match)
			nvmf_ctrl_get(ctrl);
		pthread_mutex_unlock(&ss->lock);
		if (match) {
			/* Its queues close on their own threads; commands in flight finish first. */
			nvmf_ctrl_destroy(ctrl, why);
			nvmf_ctrl_put(ctrl);
			n++;
		}
	}
	return n;
}

/* ---- Ports ---- */

static struct nvmf_port *port_by_id(struct nvmf_tgt *tgt, uint16_t portid)
{
	for (unsigned i = 0; i < tgt->nports; i++) {
		if (tgt->ports[i].portid == portid)
			return &tgt->ports[i];
	}
	return NULL;
}

int nvmf_tgt_find_port(struct nvmf_tgt *tgt, const struct nvmf_port_addr *addr, uint16_t *portid)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&tgt->lock);
	for (unsigned i = 0; i < tgt->nports; i++) {
		const struct nvmf_port_addr *a = &tgt->ports[i].addr;
		if (a->trtype == addr->trtype && strcmp(a->traddr, addr->traddr) == 0 &&
		    strcmp(a->trsvcid, addr->trsvcid) == 0) {
			*portid = tgt->ports[i].portid;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&tgt->lock);
	return rc;
}

bool nvmf_tgt_port_exports(struct nvmf_tgt *tgt, uint16_t portid, const char *nqn)
{
	bool ok = false;
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = port_by_id(tgt, portid);
	if (p) {
		ok = p->all_subsystems || strcmp(nqn, NVME_DISCOVERY_NQN) == 0;
		for (unsigned i = 0; !ok && i < p->nsubnqns; i++)
			ok = strcmp(p->subnqns[i], nqn) == 0;
	}
	pthread_mutex_unlock(&tgt->lock);
	return ok;
}

int nvmf_tgt_port_unlink(struct nvmf_tgt *tgt, uint16_t portid, const char *subnqn)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = port_by_id(tgt, portid);
	if (!p) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	if (p->all_subsystems) {
		/* Name every other subsystem instead. */
		unsigned n = 0;
		for (struct nvmf_subsystem *s = tgt->subsystems; s; s = s->next)
			n++;
		char **list = calloc(n ? n : 1, sizeof(*list));
		if (!list) {
			pthread_mutex_unlock(&tgt->lock);
			return -ENOMEM;
		}
		unsigned k = 0;
		for (struct nvmf_subsystem *s = tgt->subsystems; s; s = s->next) {
			if (strcmp(s->nqn, subnqn) != 0 && (list[k] = strdup(s->nqn)))
				k++;
		}
		for (unsigned j = 0; j < p->nsubnqns; j++)
			free(p->subnqns[j]);
		free(p->subnqns);
		p->subnqns = list;
		p->nsubnqns = k;
		p->all_subsystems = false;
	} else {
		for (unsigned j = 0; j < p->nsubnqns; j++) {
			if (strcmp(p->subnqns[j], subnqn) == 0) {
				free(p->subnqns[j]);
				p->subnqns[j] = p->subnqns[--p->nsubnqns];
				break;
			}
		}
	}
	int left = (int)p->nsubnqns;
	pthread_mutex_unlock(&tgt->lock);
	nvmf_tgt_changed(tgt);
	return left;
}

int nvmf_tgt_set_port_offline(struct nvmf_tgt *tgt, uint16_t portid, bool offline)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = port_by_id(tgt, portid);
	if (p)
		p->offline = offline;
	pthread_mutex_unlock(&tgt->lock);
	if (!p)
		return -ENOENT;
	nvmf_tgt_changed(tgt);
	return 0;
}

int nvmf_tgt_remove_port(struct nvmf_tgt *tgt, uint16_t portid)
{
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_port *p = port_by_id(tgt, portid);
	if (!p) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOENT;
	}
	/* A connection being created may still hold the association: keep it until the target goes. */
	struct nvmf_association **r = realloc(tgt->retired_assocs, (tgt->nretired_assocs + 1) * sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&tgt->lock);
		return -ENOMEM;
	}
	tgt->retired_assocs = r;
	r[tgt->nretired_assocs++] = p->na;
	for (unsigned j = 0; j < p->nsubnqns; j++)
		free(p->subnqns[j]);
	free(p->subnqns);
	unsigned idx = (unsigned)(p - tgt->ports);
	memmove(p, p + 1, (tgt->nports - idx - 1) * sizeof(*p));
	tgt->nports--;
	pthread_mutex_unlock(&tgt->lock);
	nvmf_tgt_changed(tgt);
	return 0;
}

void nvmf_tgt_for_each_port(struct nvmf_tgt *tgt,
			    void (*cb)(void *arg, uint16_t portid, const struct nvmf_port_addr *addr), void *arg)
{
	pthread_mutex_lock(&tgt->lock);
	unsigned n = tgt->nports;
	struct nvmf_port *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy && n)
		memcpy(copy, tgt->ports, n * sizeof(*copy));
	pthread_mutex_unlock(&tgt->lock);
	for (unsigned i = 0; copy && i < n; i++)
		cb(arg, copy[i].portid, &copy[i].addr);
	free(copy);
}

unsigned nvmf_tgt_disconnect_port(struct nvmf_tgt *tgt, uint16_t portid, const char *why)
{
	unsigned n = nvmf_subsystem_disconnect(tgt->discovery, 0, NULL, portid, why);
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss))
		n += nvmf_subsystem_disconnect(ss, 0, NULL, portid, why);
	return n;
}
