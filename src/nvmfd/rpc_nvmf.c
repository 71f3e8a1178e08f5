/*
 * nvmf_* methods: the transport, subsystems, listeners, namespaces, hosts,
 * controllers and queue pairs, with SPDK's names, parameters, result shapes
 * and errors; plus nvmfd's own (terminate associations, listeners off and
 * on line, I/O statistics).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acceptor.h"
#include "ctrl/target.h"
#include "rpc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define DECODE(params, spec, v, err) (rpc_decode(params, spec, COUNT(spec), v, err) == 0)
/* Run-time listeners get port IDs from here up (flags use 1.., nvmetcli files their own). */
#define RPC_FIRST_PORTID 0x4000

static json_object *invalid(struct rpc_error *err, const char *fmt, const char *what)
{
	return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", fmt, what);
}

static struct nvmf_subsystem *find_subsystem(struct rpc_ctx *ctx, const char *nqn, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = nvmf_tgt_find_subsystem(ctx->tgt, nqn);
	if (!ss) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Subsystem with NQN '%.250s' not found", nqn);
		rpc_fail(err, RPC_INVALID_PARAMS, msg, NULL);
	}
	return ss;
}

static bool is_discovery(const char *nqn)
{
	return strcmp(nqn, NVME_DISCOVERY_NQN) == 0;
}

/* ---- Addresses ---- */

static void add_address(json_object *o, const struct nvmf_port_addr *a)
{
	json_object_object_add(o, "trtype", json_object_new_string("TCP"));
	json_object_object_add(o, "adrfam", json_object_new_string(a->adrfam == NVMF_ADRFAM_IPV6 ? "IPv6" : "IPv4"));
	json_object_object_add(o, "traddr", json_object_new_string(a->traddr));
	json_object_object_add(o, "trsvcid", json_object_new_string(a->trsvcid));
}

static json_object *address_object(const struct nvmf_port_addr *a)
{
	json_object *o = json_object_new_object();
	add_address(o, a);
	return o;
}

/* SPDK's listen_address object; false with err set. */
static bool decode_address(json_object *jaddr, struct nvmf_port_addr *pa, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"trtype", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"adrfam", RPC_STRING, 0, 0, NULL},
		{"traddr", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"trsvcid", RPC_STRING, RPC_NUMBER_OK, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(jaddr, spec, v, err))
		return false;
	memset(pa, 0, sizeof(*pa));
	pa->trtype = NVMF_TRTYPE_TCP;
	if (strcasecmp(rpc_str(v[0], ""), "tcp") != 0) {
		invalid(err, "trtype '%s': nvmfd speaks TCP only", rpc_str(v[0], ""));
		return false;
	}
	const char *traddr = rpc_str(v[2], "");
	unsigned char buf[16];
	bool v4 = inet_pton(AF_INET, traddr, buf) == 1, v6 = inet_pton(AF_INET6, traddr, buf) == 1;
	const char *adrfam = rpc_str(v[1], v6 ? "ipv6" : "ipv4");
	if (strcasecmp(adrfam, "ipv4") != 0 && strcasecmp(adrfam, "ipv6") != 0) {
		invalid(err, "adrfam '%s': want IPv4 or IPv6", adrfam);
		return false;
	}
	pa->adrfam = strcasecmp(adrfam, "ipv6") == 0 ? NVMF_ADRFAM_IPV6 : NVMF_ADRFAM_IPV4;
	if (!(pa->adrfam == NVMF_ADRFAM_IPV6 ? v6 : v4)) {
		invalid(err, "traddr '%s' is not a numeric address of that family", traddr);
		return false;
	}
	const char *svc = rpc_str(v[3], "");
	char *end;
	long port = strtol(svc, &end, 10);
	if (!*svc || *end || port < 1 || port > 65535) {
		invalid(err, "trsvcid '%s': want a TCP port 1..65535", svc);
		return false;
	}
	snprintf(pa->traddr, sizeof(pa->traddr), "%s", traddr);
	snprintf(pa->trsvcid, sizeof(pa->trsvcid), "%ld", port);
	return true;
}

static bool port_offline(struct rpc_ctx *ctx, uint16_t portid, unsigned *idx)
{
	for (unsigned i = 0; i < ctx->noffline; i++) {
		if (ctx->offline[i] == portid) {
			if (idx)
				*idx = i;
			return true;
		}
	}
	return false;
}

/* Ports, collected (nvmf_tgt_for_each_port calls back without locks). */
struct port_list {
	unsigned n;
	uint16_t ids[256];
	struct nvmf_port_addr addrs[256];
};

static void collect_port(void *arg, uint16_t portid, const struct nvmf_port_addr *addr)
{
	struct port_list *l = arg;
	if (l->n < COUNT(l->ids)) {
		l->ids[l->n] = portid;
		l->addrs[l->n++] = *addr;
	}
}

static const struct nvmf_port_addr *port_address(const struct port_list *l, uint16_t portid)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (l->ids[i] == portid)
			return &l->addrs[i];
	}
	return NULL;
}

/* ---- Transport ---- */

static json_object *transport_object(void)
{
	struct nvmf_ctrl_limits l;
	nvmf_ctrl_get_limits(&l);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "trtype", json_object_new_string("TCP"));
	json_object_object_add(o, "max_queue_depth", json_object_new_int64(l.max_queue_depth));
	json_object_object_add(o, "max_io_qpairs_per_ctrlr", json_object_new_int64(l.max_io_queues));
	json_object_object_add(o, "in_capsule_data_size", json_object_new_int64(l.in_capsule_data_size));
	json_object_object_add(o, "max_io_size", json_object_new_int64(l.max_io_size));
	json_object_object_add(o, "max_aq_depth", json_object_new_int64(l.max_queue_depth));
	json_object_object_add(o, "dif_insert_or_strip", json_object_new_boolean(0));
	json_object_object_add(o, "zcopy", json_object_new_boolean(0));
	json_object_object_add(o, "c2h_success", json_object_new_boolean(1));
	json_object_object_add(o, "sock_priority", json_object_new_int(0));
	return o;
}

static json_object *rpc_nvmf_create_transport(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"trtype", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"max_queue_depth", RPC_INT, 0, 0, NULL},
		{"max_io_qpairs_per_ctrlr", RPC_INT, 0, 0, NULL},
		{"in_capsule_data_size", RPC_INT, 0, 0, NULL},
		{"max_io_size", RPC_INT, 0, 0, NULL},
		{"max_aq_depth", RPC_INT, 0, 0, NULL},
		{"c2h_success", RPC_BOOL, 0, 0, NULL},
		{"masked_oncs", RPC_ARRAY, 0, 0, NULL},
		{"masked_fuses", RPC_ARRAY, 0, 0, NULL},
		{"kas", RPC_INT, 0, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"zcopy", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_insert_or_strip", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"sock_priority", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"disable_command_passthru", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		/* SPDK's buffer pools, RDMA and vfio-user knobs: nothing a TCP host sees. */
		{"io_unit_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"num_shared_buffers", RPC_INT, RPC_IGNORED, 0, NULL},
		{"buf_cache_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"iobuf_small_cache_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"iobuf_large_cache_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"num_cqe", RPC_INT, RPC_IGNORED, 0, NULL},
		{"max_srq_depth", RPC_INT, RPC_IGNORED, 0, NULL},
		{"no_srq", RPC_BOOL, RPC_IGNORED, 0, NULL},
		{"acceptor_backlog", RPC_INT, RPC_IGNORED, 0, NULL},
		{"abort_timeout_sec", RPC_INT, RPC_IGNORED, 0, NULL},
		{"no_wr_batching", RPC_BOOL, RPC_IGNORED, 0, NULL},
		{"control_msg_num", RPC_INT, RPC_IGNORED, 0, NULL},
		{"disable_mappable_bar0", RPC_BOOL, RPC_IGNORED, 0, NULL},
		{"disable_adaptive_irq", RPC_BOOL, RPC_IGNORED, 0, NULL},
		{"disable_shadow_doorbells", RPC_BOOL, RPC_IGNORED, 0, NULL},
		{"acceptor_poll_rate", RPC_INT, RPC_IGNORED, 0, NULL},
		{"ack_timeout", RPC_INT, RPC_IGNORED, 0, NULL},
		{"data_wr_pool_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"min_kato", RPC_INT, RPC_IGNORED, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *trtype = rpc_str(v[0], "");
	if (strcasecmp(trtype, "tcp") != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Transport type '%.250s' create failed", trtype);
		return rpc_fail(err, RPC_INTERNAL_ERROR, msg, "nvmfd speaks TCP only");
	}
	/* Sizes the controller core has fixed: only its own values can be honoured. */
	struct nvmf_ctrl_limits l;
	nvmf_ctrl_get_limits(&l);
	const int64_t fixed[] = {0, l.max_queue_depth, l.max_io_queues, l.in_capsule_data_size, l.max_io_size,
				 l.max_queue_depth};
	for (unsigned i = 1; i < COUNT(fixed); i++) {
		if (v[i] && rpc_int(v[i], 0) != fixed[i])
			return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
					"'%s' = %lld is not supported by nvmfd (it uses %lld)", spec[i].name,
					(long long)rpc_int(v[i], 0), (long long)fixed[i]);
	}
	if (!rpc_bool(v[6], true))
		return invalid(err, "'%s' = false is not supported by nvmfd (reads end with C2HData SUCCESS when the host allows it)",
			       "c2h_success");
	for (unsigned i = 7; i <= 8; i++) {
		if (v[i] && json_object_array_length(v[i]) != 0)
			return invalid(err, "'%s': nvmfd cannot mask commands", spec[i].name);
	}
	if (v[9] && rpc_int(v[9], 0) != l.kas)
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
				"'kas' = %lld is not supported by nvmfd (it uses %u)", (long long)rpc_int(v[9], 0), l.kas);
	if (ctx->transport_created)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Transport type 'TCP' already exists", NULL);
	ctx->transport_created = true;
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_get_transports(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	(void)ctx;
	static const struct rpc_param spec[] = {
		{"trtype", RPC_STRING, 0, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	if (v[0] && strcasecmp(rpc_str(v[0], ""), "tcp") != 0)
		return rpc_fail(err, -19, "No such device", "no transport '%s'", rpc_str(v[0], ""));
	/* nvmfd always speaks TCP; listing it before nvmf_create_transport keeps listeners explicable. */
	json_object *list = json_object_new_array();
	json_object_array_add(list, transport_object());
	return list;
}

/* ---- Subsystems ---- */

static bool printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

static json_object *rpc_nvmf_create_subsystem(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"serial_number", RPC_STRING, 0, 0, NULL},
		{"model_number", RPC_STRING, 0, 0, NULL},
		{"allow_any_host", RPC_BOOL, 0, 0, NULL},
		{"max_namespaces", RPC_INT, 0, 0, NULL},
		{"min_cntlid", RPC_INT, 0, 0, NULL},
		{"max_cntlid", RPC_INT, 0, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"ana_reporting", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"passthrough", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"enable_nssr", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"dmrsl", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"wzsl", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"admin_label", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	if (v[1] && !printable(rpc_str(v[1], ""), 20))
		return invalid(err, "serial_number '%s': 1 to 20 printable ASCII characters", rpc_str(v[1], ""));
	if (v[2] && !printable(rpc_str(v[2], ""), 40))
		return invalid(err, "model_number '%s': 1 to 40 printable ASCII characters", rpc_str(v[2], ""));
	int64_t maxns = rpc_int(v[4], 0), lo = rpc_int(v[5], 1), hi = rpc_int(v[6], 0xffef);
	if (maxns < 0 || maxns >= 0xffffffffLL)
		return invalid(err, "max_namespaces %s is out of range", json_object_get_string(v[4]));
	if (lo < 1 || hi > 0xffef || lo > hi) {
		char msg[64];
		snprintf(msg, sizeof(msg), "Invalid cntlid range [%lld-%lld]", (long long)lo, (long long)hi);
		return rpc_fail(err, RPC_INVALID_PARAMS, msg, NULL);
	}
	char why[512];
	struct nvmf_subsystem *ss = nvmf_subsystem_create(ctx->tgt, nqn, why, sizeof(why));
	if (!ss) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Unable to create subsystem %.250s", nqn);
		return rpc_fail(err, RPC_INTERNAL_ERROR, msg, "%s", why);
	}
	if (v[1])
		nvmf_subsystem_set_serial(ss, rpc_str(v[1], ""));
	if (v[2])
		nvmf_subsystem_set_model(ss, rpc_str(v[2], ""));
	nvmf_subsystem_set_limits(ss, (uint32_t)maxns, (uint16_t)lo, (uint16_t)hi);
	nvmf_subsystem_set_allow_any_host(ss, rpc_bool(v[3], false));
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_delete_subsystem(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	if (is_discovery(nqn) || nvmf_tgt_delete_subsystem(ctx->tgt, nqn) < 0)
		return invalid(err, "no subsystem '%s' to delete", nqn);
	return json_object_new_boolean(1);
}

static void add_host_cb(void *arg, const char *hostnqn)
{
	json_object *h = json_object_new_object();
	json_object_object_add(h, "nqn", json_object_new_string(hostnqn));
	json_object_array_add(arg, h);
}

struct ns_dump {
	struct rpc_ctx *ctx;
	json_object *list;
};

static const char *bdev_name_of(struct rpc_ctx *ctx, const struct nvmf_bdev *bdev)
{
	struct bdev_entry *e = bdev_registry_find_bdev(ctx->bdevs, bdev);
	return e ? e->name : "";
}

static void add_ns_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_dump *d = arg;
	json_object *o = json_object_new_object();
	char hex[40], uuid[37];
	json_object_object_add(o, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(o, "bdev_name", json_object_new_string(bdev_name_of(d->ctx, ns->bdev)));
	json_object_object_add(o, "name", json_object_new_string(bdev_name_of(d->ctx, ns->bdev)));
	rpc_format_hex(ns->nguid, 16, hex);
	json_object_object_add(o, "nguid", json_object_new_string(hex));
	rpc_format_hex(ns->eui64, 8, hex);
	json_object_object_add(o, "eui64", json_object_new_string(hex));
	rpc_format_uuid(ns->uuid, uuid);
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_array_add(d->list, o);
}

static json_object *listen_addresses(struct rpc_ctx *ctx, const char *nqn)
{
	struct port_list *ports = calloc(1, sizeof(*ports));
	json_object *list = json_object_new_array();
	if (!ports)
		return list;
	nvmf_tgt_for_each_port(ctx->tgt, collect_port, ports);
	for (unsigned i = 0; i < ports->n; i++) {
		if (!port_offline(ctx, ports->ids[i], NULL) && nvmf_tgt_port_exports(ctx->tgt, ports->ids[i], nqn))
			json_object_array_add(list, address_object(&ports->addrs[i]));
	}
	free(ports);
	return list;
}

static json_object *subsystem_object(struct rpc_ctx *ctx, struct nvmf_subsystem *ss, bool discovery)
{
	json_object *o = json_object_new_object();
	struct nvmf_subsystem_info info;
	nvmf_subsystem_get_info(ss, &info);
	json_object_object_add(o, "nqn", json_object_new_string(info.nqn));
	json_object_object_add(o, "subtype", json_object_new_string(discovery ? "Discovery" : "NVMe"));
	json_object_object_add(o, "listen_addresses", listen_addresses(ctx, info.nqn));
	json_object_object_add(o, "allow_any_host", json_object_new_boolean(info.allow_any_host));
	json_object *hosts = json_object_new_array();
	nvmf_subsystem_for_each_host(ss, add_host_cb, hosts);
	json_object_object_add(o, "hosts", hosts);
	if (discovery)
		return o;
	json_object_object_add(o, "serial_number", json_object_new_string(info.serial));
	json_object_object_add(o, "model_number", json_object_new_string(info.model));
	if (info.max_namespaces)
		json_object_object_add(o, "max_namespaces", json_object_new_int64(info.max_namespaces));
	json_object_object_add(o, "passthrough", json_object_new_boolean(0));
	json_object_object_add(o, "min_cntlid", json_object_new_int(info.min_cntlid));
	json_object_object_add(o, "max_cntlid", json_object_new_int(info.max_cntlid));
	struct ns_dump d = {ctx, json_object_new_array()};
	nvmf_subsystem_for_each_ns(ss, add_ns_cb, &d);
	json_object_object_add(o, "namespaces", d.list);
	return o;
}

static json_object *rpc_nvmf_get_subsystems(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, 0, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *want = rpc_str(v[0], NULL);
	json_object *list = json_object_new_array();
	if (!want || is_discovery(want))
		json_object_array_add(list, subsystem_object(ctx, nvmf_tgt_find_subsystem(ctx->tgt, NVME_DISCOVERY_NQN), true));
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(ctx->tgt, NULL); ss;
	     ss = nvmf_tgt_next_subsystem(ctx->tgt, ss)) {
		if (!want || strcmp(want, nvmf_subsystem_nqn(ss)) == 0)
			json_object_array_add(list, subsystem_object(ctx, ss, false));
	}
	if (want && json_object_array_length(list) == 0) {
		json_object_put(list);
		return invalid(err, "no subsystem '%s'", want);
	}
	return list;
}

/* ---- Listeners ---- */

static uint16_t free_portid(struct rpc_ctx *ctx)
{
	struct port_list *ports = calloc(1, sizeof(*ports));
	if (ports)
		nvmf_tgt_for_each_port(ctx->tgt, collect_port, ports);
	for (;;) {
		uint16_t id = ctx->next_portid++;
		if (ctx->next_portid < RPC_FIRST_PORTID)
			ctx->next_portid = RPC_FIRST_PORTID;
		if (!ports || !port_address(ports, id)) {
			free(ports);
			return id;
		}
	}
}

static json_object *rpc_nvmf_subsystem_add_listener(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"listen_address", RPC_OBJECT, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"secure_channel", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"ana_state", RPC_STRING, RPC_DEFAULT_ONLY, 0, "optimized"},
		{"sock_impl", RPC_STRING, RPC_DEFAULT_ONLY, 0, "posix"},
		{"numa_id", RPC_INT, RPC_IGNORED, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	if (!find_subsystem(ctx, nqn, err))
		return NULL;
	struct nvmf_port_addr pa;
	if (!decode_address(v[1], &pa, err))
		return NULL;
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) == 0) {
		if (nvmf_tgt_port_exports(ctx->tgt, portid, nqn))
			return invalid(err, "%s already listens there", nqn);
		if (nvmf_tgt_port_link(ctx->tgt, portid, nqn) < 0)
			return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
		return json_object_new_boolean(1);
	}
	portid = free_portid(ctx);
	char why[512];
	if (acceptor_listen(ctx->acc, &pa, portid, why, sizeof(why)) < 0)
		return invalid(err, "%s", why);
	if (nvmf_tgt_add_port(ctx->tgt, portid, &pa, false) < 0 ||
	    (!is_discovery(nqn) && nvmf_tgt_port_link(ctx->tgt, portid, nqn) < 0)) {
		acceptor_unlisten(ctx->acc, portid);
		nvmf_tgt_remove_port(ctx->tgt, portid);
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
	}
	printf("nvmfd: listening on tcp %s:%s for %s\n", pa.traddr, pa.trsvcid, nqn);
	return json_object_new_boolean(1);
}

/* Close a port nothing is exported through any more. */
static void drop_port(struct rpc_ctx *ctx, uint16_t portid)
{
	unsigned idx;
	if (port_offline(ctx, portid, &idx))
		ctx->offline[idx] = ctx->offline[--ctx->noffline];
	else
		acceptor_unlisten(ctx->acc, portid);
	nvmf_tgt_disconnect_port(ctx->tgt, portid, "listener removed");
	nvmf_tgt_remove_port(ctx->tgt, portid);
}

static json_object *rpc_nvmf_subsystem_remove_listener(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"listen_address", RPC_OBJECT, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	struct nvmf_subsystem *ss = find_subsystem(ctx, nqn, err);
	if (!ss)
		return NULL;
	struct nvmf_port_addr pa;
	if (!decode_address(v[1], &pa, err))
		return NULL;
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) < 0 || !nvmf_tgt_port_exports(ctx->tgt, portid, nqn))
		return invalid(err, "%s has no such listener", nqn);
	if (is_discovery(nqn)) {
		/* Discovery goes with the last subsystem a port exports, not before. */
		struct nvmf_subsystem *s = nvmf_tgt_next_subsystem(ctx->tgt, NULL);
		for (; s && !nvmf_tgt_port_exports(ctx->tgt, portid, nvmf_subsystem_nqn(s)); s = nvmf_tgt_next_subsystem(ctx->tgt, s))
			;
		if (s)
			return invalid(err, "the port still exports %s", nvmf_subsystem_nqn(s));
		drop_port(ctx, portid);
		return json_object_new_boolean(1);
	}
	int left = nvmf_tgt_port_unlink(ctx->tgt, portid, nqn);
	nvmf_subsystem_disconnect(ss, 0, NULL, portid, "listener removed");
	if (left == 0)
		drop_port(ctx, portid);
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_subsystem_get_listeners(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	if (!find_subsystem(ctx, rpc_str(v[0], ""), err))
		return NULL;
	json_object *addrs = listen_addresses(ctx, rpc_str(v[0], ""));
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(addrs); i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "address", json_object_get(json_object_array_get_idx(addrs, i)));
		json_object *st = json_object_new_object();
		json_object_object_add(st, "ana_group", json_object_new_int(1));
		json_object_object_add(st, "ana_state", json_object_new_string("optimized"));
		json_object *states = json_object_new_array();
		json_object_array_add(states, st);
		json_object_object_add(l, "ana_states", states);
		json_object_array_add(list, l);
	}
	json_object_put(addrs);
	return list;
}

/* nvmfd's own: a listener off line (socket closed, its associations ended) and back. */
static json_object *listener_state(struct rpc_ctx *ctx, json_object *params, bool online, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {{"listen_address", RPC_OBJECT, RPC_REQUIRED, 0, NULL}};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_port_addr pa;
	if (!decode_address(v[0], &pa, err))
		return NULL;
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) < 0)
		return invalid(err, "no listener on %s", pa.traddr);
	unsigned idx;
	bool off = port_offline(ctx, portid, &idx);
	if (off == !online)
		return invalid(err, "the listener is already %s", online ? "on line" : "off line");
	if (online) {
		char why[512];
		if (acceptor_listen(ctx->acc, &pa, portid, why, sizeof(why)) < 0)
			return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", "%s", why);
		ctx->offline[idx] = ctx->offline[--ctx->noffline];
		nvmf_tgt_set_port_offline(ctx->tgt, portid, false);
	} else {
		if (ctx->noffline == COUNT(ctx->offline))
			return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", "too many listeners off line");
		acceptor_unlisten(ctx->acc, portid);
		ctx->offline[ctx->noffline++] = portid;
		nvmf_tgt_set_port_offline(ctx->tgt, portid, true);
		nvmf_tgt_disconnect_port(ctx->tgt, portid, "listener taken off line");
	}
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_listener_set_offline(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return listener_state(ctx, params, false, err);
}

static json_object *rpc_nvmf_listener_set_online(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return listener_state(ctx, params, true, err);
}

/* ---- Namespaces ---- */

static json_object *rpc_nvmf_subsystem_add_ns(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"namespace", RPC_OBJECT, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	static const struct rpc_param ns_spec[] = {
		{"bdev_name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"nsid", RPC_INT, 0, 0, NULL},
		{"nguid", RPC_STRING, 0, 0, NULL},
		{"eui64", RPC_STRING, 0, 0, NULL},
		{"uuid", RPC_STRING, 0, 0, NULL},
		{"anagrpid", RPC_INT, RPC_IGNORED, 0, NULL}, /* nvmfd reports no ANA */
		{"ptpl_file", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"no_auto_visible", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"hide_metadata", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)], *n[COUNT(ns_spec)];
	if (!DECODE(params, spec, v, err) || !DECODE(v[1], ns_spec, n, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	struct nvmf_ns_opts opts = {0};
	if (n[2] && !(opts.has_nguid = rpc_parse_hex(rpc_str(n[2], ""), opts.nguid, 16)))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid nguid", "'%s'", rpc_str(n[2], ""));
	if (n[3] && !(opts.has_eui64 = rpc_parse_hex(rpc_str(n[3], ""), opts.eui64, 8)))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid eui64", "'%s'", rpc_str(n[3], ""));
	if (n[4] && !(opts.has_uuid = rpc_parse_uuid(rpc_str(n[4], ""), opts.uuid)))
		return invalid(err, "invalid uuid '%s'", rpc_str(n[4], ""));
	int64_t nsid = rpc_int(n[1], 0);
	if (nsid < 0 || nsid >= 0xffffffffLL)
		return invalid(err, "nsid %s is out of range", json_object_get_string(n[1]));
	struct bdev_entry *e = bdev_registry_find(ctx->bdevs, rpc_str(n[0], ""));
	if (!e)
		return invalid(err, "no bdev '%s'", rpc_str(n[0], ""));
	if (!opts.has_uuid) {
		/* As SPDK: the namespace carries its bdev's UUID. */
		memcpy(opts.uuid, e->uuid, 16);
		opts.has_uuid = true;
	}
	char why[512];
	uint32_t got = nvmf_subsystem_add_namespace_bdev(ss, (uint32_t)nsid, e->bdev, &opts, why, sizeof(why));
	if (!got)
		return invalid(err, "%s", why);
	return json_object_new_int64(got);
}

static json_object *rpc_nvmf_subsystem_remove_ns(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"nsid", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	int64_t nsid = rpc_int(v[1], 0);
	if (nsid < 1 || nsid > 0xfffffffeLL || nvmf_subsystem_remove_namespace(ss, (uint32_t)nsid) < 0)
		return invalid(err, "no namespace %s", json_object_get_string(v[1]));
	return json_object_new_boolean(1);
}

/* ---- Hosts ---- */

static json_object *rpc_nvmf_subsystem_add_host(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"host", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"psk", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"dhchap_key", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"dhchap_ctrlr_key", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	const char *host = rpc_str(v[1], "");
	if (!nvmf_nqn_valid(host) || is_discovery(host))
		return invalid(err, "invalid host NQN '%s'", host);
	if (nvmf_subsystem_add_host(ss, host) < 0)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_subsystem_remove_host(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"host", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	const char *host = rpc_str(v[1], "");
	if (nvmf_subsystem_remove_host(ss, host) < 0)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", "host '%s' is not on the list", host);
	/* As SPDK: the host's associations end with its permission. */
	struct nvmf_subsystem_info info;
	nvmf_subsystem_get_info(ss, &info);
	if (!info.allow_any_host)
		nvmf_subsystem_disconnect(ss, 0, host, -1, "host removed");
	return json_object_new_boolean(1);
}

static json_object *rpc_nvmf_subsystem_allow_any_host(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"allow_any_host", RPC_BOOL, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	if (is_discovery(rpc_str(v[0], "")))
		return invalid(err, "%s", "the discovery subsystem always allows any host");
	nvmf_subsystem_set_allow_any_host(ss, rpc_bool(v[1], false));
	return json_object_new_boolean(1);
}

/* ---- Controllers, queue pairs, statistics ---- */

static struct nvmf_subsystem *decode_nqn_only(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	return find_subsystem(ctx, rpc_str(v[0], ""), err);
}

static void ctrl_cb(void *arg, const struct nvmf_ctrl_info *c)
{
	json_object *o = json_object_new_object();
	char uuid[37];
	rpc_format_uuid(c->hostid, uuid);
	json_object_object_add(o, "cntlid", json_object_new_int(c->cntlid));
	json_object_object_add(o, "cntrltype", json_object_new_string("io_controller"));
	json_object_object_add(o, "hostnqn", json_object_new_string(c->hostnqn));
	json_object_object_add(o, "hostid", json_object_new_string(uuid));
	json_object_object_add(o, "num_io_qpairs", json_object_new_int64(c->num_io_qpairs));
	json_object_array_add(arg, o);
}

static json_object *rpc_nvmf_subsystem_get_controllers(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = decode_nqn_only(ctx, params, err);
	if (!ss)
		return NULL;
	json_object *list = json_object_new_array();
	nvmf_subsystem_for_each_ctrl(ss, ctrl_cb, list);
	if (is_discovery(nvmf_subsystem_nqn(ss))) {
		for (size_t i = 0; i < json_object_array_length(list); i++)
			json_object_object_add(json_object_array_get_idx(list, i), "cntrltype",
					       json_object_new_string("discovery"));
	}
	return list;
}

struct qpair_dump {
	json_object *list;
	struct port_list *ports;
};

static void qpair_cb(void *arg, const struct nvmf_qpair_info *q)
{
	struct qpair_dump *d = arg;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cntlid", json_object_new_int(q->cntlid));
	json_object_object_add(o, "qid", json_object_new_int(q->qid));
	json_object_object_add(o, "state", json_object_new_string("active"));
	json_object_object_add(o, "thread", json_object_new_string("nvmfd"));
	const struct nvmf_port_addr *a = port_address(d->ports, q->portid);
	if (a)
		json_object_object_add(o, "listen_address", address_object(a));
	json_object_array_add(d->list, o);
}

static json_object *rpc_nvmf_subsystem_get_qpairs(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = decode_nqn_only(ctx, params, err);
	if (!ss)
		return NULL;
	struct qpair_dump d = {NULL, calloc(1, sizeof(struct port_list))};
	if (!d.ports)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Out of memory", NULL);
	d.list = json_object_new_array();
	nvmf_tgt_for_each_port(ctx->tgt, collect_port, d.ports);
	nvmf_subsystem_for_each_qpair(ss, qpair_cb, &d);
	free(d.ports);
	return d.list;
}

struct stats {
	uint64_t admin, io, ios;
};

static void stats_cb(void *arg, const struct nvmf_ctrl_info *c)
{
	struct stats *s = arg;
	s->admin++;
	s->io += c->num_io_qpairs;
	s->ios += c->read_cmds + c->write_cmds;
}

static json_object *rpc_nvmf_get_stats(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL}};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct stats s = {0};
	nvmf_subsystem_for_each_ctrl(nvmf_tgt_find_subsystem(ctx->tgt, NVME_DISCOVERY_NQN), stats_cb, &s);
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(ctx->tgt, NULL); ss;
	     ss = nvmf_tgt_next_subsystem(ctx->tgt, ss))
		nvmf_subsystem_for_each_ctrl(ss, stats_cb, &s);
	/* One group for the whole target: reactors keep no counters of their own. */
	json_object *g = json_object_new_object();
	json_object_object_add(g, "name", json_object_new_string("nvmf_tgt_poll_group_000"));
	json_object_object_add(g, "current_admin_qpairs", json_object_new_uint64(s.admin));
	json_object_object_add(g, "current_io_qpairs", json_object_new_uint64(s.io));
	json_object_object_add(g, "completed_nvme_io", json_object_new_uint64(s.ios));
	json_object_object_add(g, "pending_bdev_io", json_object_new_int(0));
	json_object *t = json_object_new_object();
	json_object_object_add(t, "trtype", json_object_new_string("TCP"));
	json_object *ts = json_object_new_array();
	json_object_array_add(ts, t);
	json_object_object_add(g, "transports", ts);
	json_object *groups = json_object_new_array();
	json_object_array_add(groups, g);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "tick_rate", json_object_new_int64(1000));
	json_object_object_add(o, "poll_groups", groups);
	return o;
}

/* nvmfd's own: end associations by controller ID, by host NQN, or all. */
static json_object *rpc_nvmf_subsystem_terminate_associations(struct rpc_ctx *ctx, json_object *params,
							  struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"cntlid", RPC_INT, 0, 0, NULL},
		{"hostnqn", RPC_STRING, 0, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	int64_t cntlid = rpc_int(v[1], 0);
	if (v[1] && (cntlid < 1 || cntlid > 0xffef))
		return invalid(err, "cntlid %s is out of range", json_object_get_string(v[1]));
	unsigned n = nvmf_subsystem_disconnect(ss, (uint16_t)cntlid, rpc_str(v[2], NULL), -1, "terminated by RPC");
	if (v[1] && n == 0)
		return invalid(err, "no controller %s", json_object_get_string(v[1]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "terminated", json_object_new_int64(n));
	return o;
}

static void io_stats_cb(void *arg, const struct nvmf_ctrl_info *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cntlid", json_object_new_int(c->cntlid));
	json_object_object_add(o, "hostnqn", json_object_new_string(c->hostnqn));
	json_object_object_add(o, "read_ops", json_object_new_uint64(c->read_cmds));
	json_object_object_add(o, "write_ops", json_object_new_uint64(c->write_cmds));
	json_object_object_add(o, "bytes_read", json_object_new_uint64(c->bytes_read));
	json_object_object_add(o, "bytes_written", json_object_new_uint64(c->bytes_written));
	json_object_object_add(o, "errors", json_object_new_uint64(c->errors));
	json_object_array_add(arg, o);
}

static void ns_stats_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_dump *d = arg;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(o, "bdev_name", json_object_new_string(bdev_name_of(d->ctx, ns->bdev)));
	json_object_object_add(o, "read_ops", json_object_new_uint64(ns->read_cmds));
	json_object_object_add(o, "write_ops", json_object_new_uint64(ns->write_cmds));
	json_object_object_add(o, "bytes_read", json_object_new_uint64(ns->bytes_read));
	json_object_object_add(o, "bytes_written", json_object_new_uint64(ns->bytes_written));
	json_object_array_add(d->list, o);
}

/* nvmfd's own: I/O counters per controller (while connected) and per namespace (since added). */
static json_object *rpc_nvmf_subsystem_get_io_stats(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = decode_nqn_only(ctx, params, err);
	if (!ss)
		return NULL;
	json_object *list = json_object_new_array();
	nvmf_subsystem_for_each_ctrl(ss, io_stats_cb, list);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "controllers", list);
	struct ns_dump d = {ctx, json_object_new_array()};
	nvmf_subsystem_for_each_ns(ss, ns_stats_cb, &d);
	json_object_object_add(o, "namespaces", d.list);
	return o;
}

const struct rpc_method rpc_nvmf_methods[] = {
	{"nvmf_create_transport", rpc_nvmf_create_transport},
	{"nvmf_get_transports", rpc_nvmf_get_transports},
	{"nvmf_create_subsystem", rpc_nvmf_create_subsystem},
	{"nvmf_delete_subsystem", rpc_nvmf_delete_subsystem},
	{"nvmf_get_subsystems", rpc_nvmf_get_subsystems},
	{"nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener},
	{"nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener},
	{"nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners},
	{"nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns},
	{"nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns},
	{"nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host},
	{"nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host},
	{"nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host},
	{"nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers},
	{"nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs},
	{"nvmf_get_stats", rpc_nvmf_get_stats},
	{"nvmf_subsystem_terminate_associations", rpc_nvmf_subsystem_terminate_associations},
	{"nvmf_listener_set_offline", rpc_nvmf_listener_set_offline},
	{"nvmf_listener_set_online", rpc_nvmf_listener_set_online},
	{"nvmf_subsystem_get_io_stats", rpc_nvmf_subsystem_get_io_stats},
	{NULL, NULL},
};
