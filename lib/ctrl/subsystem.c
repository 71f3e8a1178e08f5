/* Subsystems: NQN, identity strings, allowed hosts, namespaces, controller IDs. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

bool nvmf_nqn_valid(const char *nqn)
{
	size_t len = strnlen(nqn, NVME_NQN_FIELD);
	if (len == 0 || len > NVME_NQN_MAX)
		return false;
	if (strcmp(nqn, NVME_DISCOVERY_NQN) == 0)
		return true;
	/* nqn.yyyy-mm.<reverse domain>:<anything> */
	if (strncmp(nqn, "nqn.", 4) != 0)
		return false;
	const char *p = nqn + 4;
	for (int i = 0; i < 7; i++) {
		if (i == 4 ? p[i] != '-' : !isdigit((unsigned char)p[i]))
			return false;
	}
	int month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12 || p[7] != '.')
		return false;
	const char *domain = p + 8;
	const char *colon = strchr(domain, ':');
	if (!colon || colon == domain || colon[1] == '\0')
		return false;
	for (const char *d = domain; d < colon; d++) {
		if (!isalnum((unsigned char)*d) && *d != '.' && *d != '-')
			return false;
	}
	return true;
}

static void copy_padded(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static struct nvmf_subsystem *subsystem_alloc(struct nvmf_tgt *tgt, const char *nqn)
{
	struct nvmf_subsystem *ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	ss->tgt = tgt;
	copy_padded(ss->nqn, NVME_NQN_MAX, nqn);
	pthread_mutex_init(&ss->lock, NULL);
	ss->ctrls = calloc((size_t)NVMF_MAX_CNTLID + 1, sizeof(*ss->ctrls));
	if (!ss->ctrls) {
		free(ss);
		return NULL;
	}
	ss->next_cntlid = 1;
	/* A default serial that stays the same across restarts. */
	uint8_t h[16];
	nvmf_derive_id(h, "serial", nqn, NULL);
	for (int i = 0; i < 10; i++)
		snprintf(ss->serial + 2 * i, 3, "%02x", h[i]);
	copy_padded(ss->model, 40, NVMF_DEFAULT_MODEL);
	return ss;
}

struct nvmf_subsystem *nvmf_subsystem_create_discovery(struct nvmf_tgt *tgt)
{
	struct nvmf_subsystem *ss = subsystem_alloc(tgt, NVME_DISCOVERY_NQN);
	if (ss) {
		ss->discovery = true;
		ss->allow_any_host = true;
	}
	return ss;
}

struct nvmf_subsystem *nvmf_subsystem_create(struct nvmf_tgt *tgt, const char *nqn, char *err, size_t errlen)
{
	if (!nvmf_nqn_valid(nqn) || strcmp(nqn, NVME_DISCOVERY_NQN) == 0) {
		snprintf(err, errlen, "invalid subsystem NQN '%s' (want nqn.yyyy-mm.reverse.domain:name, at most %d bytes)",
			 nqn, NVME_NQN_MAX);
		return NULL;
	}
	pthread_mutex_lock(&tgt->lock);
	for (struct nvmf_subsystem *s = tgt->subsystems; s; s = s->next) {
		if (strcmp(s->nqn, nqn) == 0) {
			pthread_mutex_unlock(&tgt->lock);
			snprintf(err, errlen, "subsystem %s already exists", nqn);
			return NULL;
		}
	}
	struct nvmf_subsystem *ss = subsystem_alloc(tgt, nqn);
	if (!ss) {
		pthread_mutex_unlock(&tgt->lock);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Append, so the discovery log lists subsystems in creation order. */
	struct nvmf_subsystem **tail = &tgt->subsystems;
	while (*tail)
		tail = &(*tail)->next;
	*tail = ss;
	pthread_mutex_unlock(&tgt->lock);
	nvmf_tgt_changed(tgt);
	return ss;
}

void nvmf_subsystem_destroy(struct nvmf_subsystem *ss)
{
	for (uint32_t i = 0; i < ss->ns_slots; i++) {
		if (ss->ns[i])
			atomic_store(&ss->ns[i]->owner, NULL);
		nvmf_ns_put(ss->ns[i]);
	}
	free(ss->ns);
	for (unsigned i = 0; i < ss->nhosts; i++)
		free(ss->hosts[i]);
	free(ss->hosts);
	nvmf_subsystem_drop_all_dhchap(ss);
	free(ss->ctrls);
	pthread_mutex_destroy(&ss->lock);
	free(ss);
}

struct nvmf_subsystem *nvmf_tgt_find_subsystem(struct nvmf_tgt *tgt, const char *nqn)
{
	if (strcmp(nqn, NVME_DISCOVERY_NQN) == 0)
		return tgt->discovery;
	pthread_mutex_lock(&tgt->lock);
	struct nvmf_subsystem *s = tgt->subsystems;
	while (s && strcmp(s->nqn, nqn) != 0)
		s = s->next;
	pthread_mutex_unlock(&tgt->lock);
	return s;
}

const char *nvmf_subsystem_nqn(const struct nvmf_subsystem *ss)
{
	return ss->nqn;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

int nvmf_subsystem_set_serial(struct nvmf_subsystem *ss, const char *serial)
{
	if (strlen(serial) == 0 || strlen(serial) > 20 || !printable_ascii(serial))
		return -EINVAL;
	pthread_mutex_lock(&ss->lock);
	copy_padded(ss->serial, 20, serial);
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

int nvmf_subsystem_set_model(struct nvmf_subsystem *ss, const char *model)
{
	if (strlen(model) == 0 || strlen(model) > 40 || !printable_ascii(model))
		return -EINVAL;
	pthread_mutex_lock(&ss->lock);
	copy_padded(ss->model, 40, model);
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

void nvmf_subsystem_set_allow_any_host(struct nvmf_subsystem *ss, bool allow)
{
	pthread_mutex_lock(&ss->lock);
	ss->allow_any_host = allow;
	pthread_mutex_unlock(&ss->lock);
	nvmf_tgt_changed(ss->tgt);
}

int nvmf_subsystem_add_host(struct nvmf_subsystem *ss, const char *hostnqn)
{
	size_t len = strnlen(hostnqn, NVME_NQN_FIELD);
	if (len == 0 || len > NVME_NQN_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ss->lock);
	for (unsigned i = 0; i < ss->nhosts; i++) {
		if (strcmp(ss->hosts[i], hostnqn) == 0) {
			pthread_mutex_unlock(&ss->lock);
			return 0;
		}
	}
	char **hosts = realloc(ss->hosts, (ss->nhosts + 1) * sizeof(*hosts));
	char *copy = strdup(hostnqn);
	if (!hosts || !copy) {
		if (hosts)
			ss->hosts = hosts;
		free(copy);
		pthread_mutex_unlock(&ss->lock);
		return -ENOMEM;
	}
	ss->hosts = hosts;
	ss->hosts[ss->nhosts++] = copy;
	pthread_mutex_unlock(&ss->lock);
	nvmf_tgt_changed(ss->tgt);
	return 0;
}

int nvmf_subsystem_remove_host(struct nvmf_subsystem *ss, const char *hostnqn)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&ss->lock);
	for (unsigned i = 0; i < ss->nhosts; i++) {
		if (strcmp(ss->hosts[i], hostnqn) == 0) {
			free(ss->hosts[i]);
			ss->hosts[i] = ss->hosts[--ss->nhosts];
			nvmf_subsystem_drop_host_dhchap(ss, hostnqn);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ss->lock);
	if (rc == 0)
		nvmf_tgt_changed(ss->tgt);
	return rc;
}

bool nvmf_subsystem_host_allowed(struct nvmf_subsystem *ss, const char *hostnqn)
{
	bool ok;
	pthread_mutex_lock(&ss->lock);
	ok = ss->allow_any_host;
	for (unsigned i = 0; !ok && i < ss->nhosts; i++)
		ok = strcmp(ss->hosts[i], hostnqn) == 0;
	pthread_mutex_unlock(&ss->lock);
	return ok;
}

/* Tell every controller of ss that nsid changed (ss->lock held). */
static void notify_ns_changed(struct nvmf_subsystem *ss, uint32_t nsid)
{
	for (unsigned id = 1; id <= NVMF_MAX_CNTLID; id++) {
		if (ss->ctrls[id])
			nvmf_ctrl_ns_changed(ss->ctrls[id], nsid);
	}
}

void nvmf_subsystem_ns_resized(struct nvmf_subsystem *ss, uint32_t nsid)
{
	pthread_mutex_lock(&ss->lock);
	notify_ns_changed(ss, nsid);
	pthread_mutex_unlock(&ss->lock);
}

uint32_t nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
				      const struct nvmf_ns_opts *opts, char *err, size_t errlen)
{
	nsid = nvmf_subsystem_pick_nsid(ss, nsid, err, errlen);
	if (!nsid)
		return 0;
	/* Open the backend without the lock: it may touch a disk. */
	struct nvmf_namespace *ns = nvmf_ns_create(ss->nqn, nsid, spec, opts, err, errlen);
	if (!ns)
		return 0;

	return nvmf_subsystem_attach_ns(ss, ns, err, errlen);
}

uint32_t nvmf_subsystem_pick_nsid(struct nvmf_subsystem *ss, uint32_t nsid, char *err, size_t errlen)
{
	if (ss->discovery || nsid == NVME_NSID_ALL) {
		snprintf(err, errlen, ss->discovery ? "the discovery subsystem has no namespaces" : "invalid nsid %u", nsid);
		return 0;
	}
	pthread_mutex_lock(&ss->lock);
	uint32_t limit = ss->max_namespaces;
	if (nsid == 0) {
		nsid = 1;
		while (nsid <= ss->ns_slots && ss->ns[nsid - 1])
			nsid++;
	}
	unsigned active = 0;
	for (uint32_t i = 0; i < ss->ns_slots; i++)
		active += ss->ns[i] != NULL;
	const char *why = NULL;
	if (nsid <= ss->ns_slots && ss->ns[nsid - 1])
		why = "is in use";
	else if (limit && nsid > limit)
		why = "is above max_namespaces";
	else if (limit && active >= limit)
		why = "would exceed max_namespaces";
	pthread_mutex_unlock(&ss->lock);
	if (why) {
		snprintf(err, errlen, "nsid %u %s in %s", nsid, why, ss->nqn);
		return 0;
	}
	return nsid;
}

/* Make room for nsid in the table (ss->lock held); false when memory is short. */
static bool grow_slots_locked(struct nvmf_subsystem *ss, uint32_t nsid)
{
	if (nsid <= ss->ns_slots)
		return true;
	uint32_t slots = nsid < 16 ? 16 : nsid * 2;
	if (slots > 1024 && nsid <= 1024)
		slots = 1024;
	if (slots < nsid)
		slots = nsid;
	struct nvmf_namespace **n = realloc(ss->ns, slots * sizeof(*n));
	if (!n)
		return false;
	memset(n + ss->ns_slots, 0, (slots - ss->ns_slots) * sizeof(*n));
	ss->ns = n;
	ss->ns_slots = slots;
	return true;
}

uint32_t nvmf_subsystem_attach_ns(struct nvmf_subsystem *ss, struct nvmf_namespace *ns, char *err, size_t errlen)
{
	uint32_t nsid = ns->nsid;
	pthread_mutex_lock(&ss->lock);
	if (!grow_slots_locked(ss, nsid) || ss->ns[nsid - 1]) {
		snprintf(err, errlen, ss->ns_slots >= nsid ? "nsid %u is in use in %s" : "out of memory (nsid %u, %s)",
			 nsid, ss->nqn);
		pthread_mutex_unlock(&ss->lock);
		nvmf_ns_put(ns);
		return 0;
	}
	ss->ns[nsid - 1] = ns;
	ns->on_resized = nvmf_subsystem_ns_resized;
	atomic_store(&ns->owner, ss);
	notify_ns_changed(ss, nsid);
	pthread_mutex_unlock(&ss->lock);
	return nsid;
}

int nvmf_subsystem_remove_namespace(struct nvmf_subsystem *ss, uint32_t nsid)
{
	struct nvmf_namespace *ns = NULL;
	pthread_mutex_lock(&ss->lock);
	if (nsid >= 1 && nsid <= ss->ns_slots) {
		ns = ss->ns[nsid - 1];
		ss->ns[nsid - 1] = NULL;
	}
	if (ns) {
		atomic_store(&ns->owner, NULL);
		notify_ns_changed(ss, nsid);
	}
	pthread_mutex_unlock(&ss->lock);
	if (!ns)
		return -ENOENT;
	/* Commands in flight hold their own references. */
	nvmf_ns_put(ns);
	return 0;
}

struct nvmf_namespace *nvmf_subsystem_get_ns(struct nvmf_subsystem *ss, uint32_t nsid)
{
	struct nvmf_namespace *ns = NULL;
	pthread_mutex_lock(&ss->lock);
	if (nsid >= 1 && nsid <= ss->ns_slots) {
		ns = ss->ns[nsid - 1];
		if (ns)
			nvmf_ns_get(ns);
	}
	pthread_mutex_unlock(&ss->lock);
	return ns;
}

unsigned nvmf_subsystem_active_nsids(struct nvmf_subsystem *ss, uint32_t after, uint32_t *out, unsigned max)
{
	unsigned n = 0;
	pthread_mutex_lock(&ss->lock);
	for (uint32_t i = after; i < ss->ns_slots && n < max; i++) {
		if (ss->ns[i])
			out[n++] = i + 1;
	}
	pthread_mutex_unlock(&ss->lock);
	return n;
}

uint32_t nvmf_subsystem_max_nsid(struct nvmf_subsystem *ss)
{
	uint32_t max;
	pthread_mutex_lock(&ss->lock);
	/* NN: the namespaces this subsystem could hold, at least 1024. */
	max = ss->max_namespaces ? ss->max_namespaces : ss->ns_slots > 1024 ? ss->ns_slots : 1024;
	pthread_mutex_unlock(&ss->lock);
	return max;
}

uint16_t nvmf_subsystem_add_ctrl(struct nvmf_subsystem *ss, struct nvmf_controller *ctrl)
{
	uint16_t id = 0;
	pthread_mutex_lock(&ss->lock);
	uint16_t lo = ss->min_cntlid ? ss->min_cntlid : 1, hi = ss->max_cntlid ? ss->max_cntlid : NVMF_MAX_CNTLID;
	/* The discovery subsystem is bounded by the connection limits alone. */
	if (!ss->discovery && ss->nctrls >= atomic_load(&ss->tgt->associations)) {
		pthread_mutex_unlock(&ss->lock);
		return 0;
	}
	if (ss->next_cntlid < lo || ss->next_cntlid > hi)
		ss->next_cntlid = lo;
	/* Rotate so a freed ID is not reused at once (a stale host might name it). */
	for (unsigned tries = 0; tries <= (unsigned)(hi - lo); tries++) {
		uint16_t c = ss->next_cntlid;
		ss->next_cntlid = c >= hi ? lo : (uint16_t)(c + 1);
		if (!ss->ctrls[c]) {
			ss->ctrls[c] = ctrl;
			ss->nctrls++;
			id = c;
			break;
		}
	}
	pthread_mutex_unlock(&ss->lock);
	return id;
}

void nvmf_subsystem_remove_ctrl(struct nvmf_subsystem *ss, struct nvmf_controller *ctrl)
{
	pthread_mutex_lock(&ss->lock);
	if (ctrl->cntlid && ss->ctrls[ctrl->cntlid] == ctrl) {
		ss->ctrls[ctrl->cntlid] = NULL;
		ss->nctrls--;
	}
	pthread_mutex_unlock(&ss->lock);
}

struct nvmf_controller *nvmf_subsystem_get_ctrl(struct nvmf_subsystem *ss, uint16_t cntlid)
{
	struct nvmf_controller *c = NULL;
	if (cntlid == 0 || cntlid > NVMF_MAX_CNTLID)
		return NULL;
	pthread_mutex_lock(&ss->lock);
	c = ss->ctrls[cntlid];
	if (c)
		nvmf_ctrl_get(c);
	pthread_mutex_unlock(&ss->lock);
	return c;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool nvmf_parse_hex_id(const char *s, uint8_t out[16])
{
	int n = 0;
	for (; *s; s++) {
		if (*s == '-')
			continue;
		int v = hexval(*s);
		if (v < 0 || n >= 32)
			return false;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32;
}
