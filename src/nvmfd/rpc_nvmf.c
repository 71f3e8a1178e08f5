/*
 * nvmf_* methods for the transport, subsystems, namespaces and hosts, with
 * SPDK's names, parameters, result shapes and errors.  Listeners are in
 * rpc_listener.c, controllers and statistics in rpc_ctrl.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acceptor.h"
#include "rpc_nvmf.h"
#include "vfio_user/vfio_user.h"

/* ---- Transport ---- */

static json_object *transport_object(struct nvmf_tgt *tgt)
{
	struct nvmf_ctrl_limits l;
	nvmf_ctrl_get_limits(tgt, &l);
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

/* SPDK's VFIOUSER transport object: what nvmfd's PCIe controller has (CAP.MQES + 1 entries, 64 I/O queues). */
static json_object *vfio_user_transport_object(struct rpc_ctx *ctx)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "trtype", json_object_new_string("VFIOUSER"));
	json_object_object_add(o, "max_queue_depth", json_object_new_int64(NVMF_VU_MAX_QUEUE_ENTRIES));
	json_object_object_add(o, "max_io_qpairs_per_ctrlr", json_object_new_int64(NVMF_VU_MAX_IO_QUEUES));
	json_object_object_add(o, "disable_mappable_bar0",
			       json_object_new_boolean(acceptor_vfio_user_doorbells(ctx->acc)));
	return o;
}

/*
 * VFIOUSER: disable_mappable_bar0 sets the doorbell mode of the vfio-user
 * listeners added after it (trapped when true); the queue limits are the
 * PCIe controller's own and cannot be changed.  v: the decoded parameters,
 * bar0: the index of disable_mappable_bar0 among them.
 */
static json_object *create_vfio_user_transport(struct rpc_ctx *ctx, json_object **v, unsigned bar0,
					       struct rpc_error *err)
{
	if ((v[1] && rpc_int(v[1], 0) != NVMF_VU_MAX_QUEUE_ENTRIES) ||
	    (v[2] && rpc_int(v[2], 0) != NVMF_VU_MAX_IO_QUEUES))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
				"nvmfd's vfio-user controller has queues of %u entries and %u I/O queues",
				NVMF_VU_MAX_QUEUE_ENTRIES, NVMF_VU_MAX_IO_QUEUES);
	if (ctx->vfio_user_transport_created)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Transport type 'VFIOUSER' already exists", NULL);
	bool trapped = rpc_bool(v[bar0], false);
	acceptor_set_vfio_user_doorbells(ctx->acc, trapped);
	ctx->vfio_user_transport_created = true;
	printf("nvmfd: vfio-user transport: %s doorbells for listeners added from now on\n",
	       doorbells_name(trapped));
	return json_object_new_boolean(1);
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
		{"disable_mappable_bar0", RPC_BOOL, 0, 0, NULL},
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
	if (strcasecmp(trtype, "vfiouser") == 0 || strcasecmp(trtype, "vfio-user") == 0) {
		unsigned bar0 = 0;
		while (strcmp(spec[bar0].name, "disable_mappable_bar0") != 0)
			bar0++;
		return create_vfio_user_transport(ctx, v, bar0, err);
	}
	if (strcasecmp(trtype, "tcp") != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Transport type '%.250s' create failed", trtype);
		return rpc_fail(err, RPC_INTERNAL_ERROR, msg, "nvmfd speaks TCP and VFIOUSER");
	}
	/* Queue depth and I/O queues are the target's limits; in-capsule data and I/O size are fixed. */
	struct nvmf_tgt_limits tl;
	nvmf_tgt_get_limits(ctx->tgt, &tl);
	if (v[1])
		tl.queue_entries = (uint32_t)rpc_int(v[1], 0);
	if (v[2])
		tl.io_queues = (uint32_t)rpc_int(v[2], 0);
	if ((v[1] && rpc_int(v[1], 0) != tl.queue_entries) || (v[2] && rpc_int(v[2], 0) != tl.io_queues) ||
	    nvmf_tgt_validate_limits(&tl) < 0)
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
				"'max_queue_depth' wants 2..%u and 'max_io_qpairs_per_ctrlr' 1..%u", NVMF_MAX_QUEUE_ENTRIES,
				NVMF_MAX_IO_QUEUES);
	/* Admin queues are bounded by the same depth. */
	if (v[5] && (rpc_int(v[5], 0) < 2 || rpc_int(v[5], 0) > tl.queue_entries))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "'max_aq_depth' wants 2..%u (max_queue_depth)",
				tl.queue_entries);
	struct nvmf_ctrl_limits l;
	nvmf_ctrl_get_limits(ctx->tgt, &l);
	const int64_t fixed[] = {[3] = l.in_capsule_data_size, [4] = l.max_io_size};
	for (unsigned i = 3; i <= 4; i++) {
		if (v[i] && rpc_int(v[i], 0) != fixed[i])
			return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
					"'%s' = %lld is not supported by nvmfd (it uses %lld)", spec[i].name,
					(long long)rpc_int(v[i], 0), (long long)fixed[i]);
	}
	if (!rpc_bool(v[6], true))
		return rpc_invalid(err, "'%s' = false is not supported by nvmfd (reads end with C2HData SUCCESS when the host allows it)",
			       "c2h_success");
	for (unsigned i = 7; i <= 8; i++) {
		if (v[i] && json_object_array_length(v[i]) != 0)
			return rpc_invalid(err, "'%s': nvmfd cannot mask commands", spec[i].name);
	}
	if (v[9] && rpc_int(v[9], 0) != l.kas)
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
				"'kas' = %lld is not supported by nvmfd (it uses %u)", (long long)rpc_int(v[9], 0), l.kas);
	if (ctx->transport_created)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Transport type 'TCP' already exists", NULL);
	nvmf_tgt_set_limits(ctx->tgt, &tl);
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
	const char *want = v[0] ? rpc_str(v[0], "") : NULL;
	bool vfio_user = want && (strcasecmp(want, "vfiouser") == 0 || strcasecmp(want, "vfio-user") == 0);
	if (want && strcasecmp(want, "tcp") != 0 && !(vfio_user && ctx->vfio_user_transport_created))
		return rpc_fail(err, -19, "No such device", "no transport '%s'", want);
	/* nvmfd always speaks TCP; listing it before nvmf_create_transport keeps listeners explicable.
	 * VFIOUSER is listed once created, as SPDK does. */
	json_object *list = json_object_new_array();
	if (!vfio_user)
		json_object_array_add(list, transport_object(ctx->tgt));
	if ((!want || vfio_user) && ctx->vfio_user_transport_created)
		json_object_array_add(list, vfio_user_transport_object(ctx));
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
		{"ana_reporting", RPC_BOOL, RPC_IGNORED, 0, NULL}, /* every subsystem reports ANA */
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
		return rpc_invalid(err, "serial_number '%s': 1 to 20 printable ASCII characters", rpc_str(v[1], ""));
	if (v[2] && !printable(rpc_str(v[2], ""), 40))
		return rpc_invalid(err, "model_number '%s': 1 to 40 printable ASCII characters", rpc_str(v[2], ""));
	int64_t maxns = rpc_int(v[4], 0), lo = rpc_int(v[5], 1), hi = rpc_int(v[6], 0xffef);
	if (maxns < 0 || maxns >= 0xffffffffLL)
		return rpc_invalid(err, "max_namespaces %s is out of range", json_object_get_string(v[4]));
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
	if (rpc_is_discovery(nqn) || nvmf_tgt_delete_subsystem(ctx->tgt, nqn) < 0)
		return rpc_invalid(err, "no subsystem '%s' to delete", nqn);
	return json_object_new_boolean(1);
}

static void add_host_cb(void *arg, const char *hostnqn)
{
	json_object *h = json_object_new_object();
	json_object_object_add(h, "nqn", json_object_new_string(hostnqn));
	json_object_array_add(arg, h);
}

static void add_ns_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_dump *d = arg;
	json_object *o = json_object_new_object();
	char hex[40], uuid[37];
	json_object_object_add(o, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(o, "bdev_name", json_object_new_string(rpc_bdev_name(d->ctx, ns->bdev)));
	json_object_object_add(o, "name", json_object_new_string(rpc_bdev_name(d->ctx, ns->bdev)));
	rpc_format_hex(ns->nguid, 16, hex);
	json_object_object_add(o, "nguid", json_object_new_string(hex));
	rpc_format_hex(ns->eui64, 8, hex);
	json_object_object_add(o, "eui64", json_object_new_string(hex));
	rpc_format_uuid(ns->uuid, uuid);
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_array_add(d->list, o);
}

static json_object *subsystem_object(struct rpc_ctx *ctx, struct nvmf_subsystem *ss, bool discovery)
{
	json_object *o = json_object_new_object();
	struct nvmf_subsystem_info info;
	nvmf_subsystem_get_info(ss, &info);
	json_object_object_add(o, "nqn", json_object_new_string(info.nqn));
	json_object_object_add(o, "subtype", json_object_new_string(discovery ? "Discovery" : "NVMe"));
	json_object_object_add(o, "listen_addresses", rpc_listen_addresses(ctx, info.nqn));
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
	if (!want || rpc_is_discovery(want))
		json_object_array_add(list, subsystem_object(ctx, nvmf_tgt_find_subsystem(ctx->tgt, NVME_DISCOVERY_NQN), true));
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(ctx->tgt, NULL); ss;
	     ss = nvmf_tgt_next_subsystem(ctx->tgt, ss)) {
		if (!want || strcmp(want, nvmf_subsystem_nqn(ss)) == 0)
			json_object_array_add(list, subsystem_object(ctx, ss, false));
	}
	if (want && json_object_array_length(list) == 0) {
		json_object_put(list);
		return rpc_invalid(err, "no subsystem '%s'", want);
	}
	return list;
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	struct nvmf_ns_opts opts = {0};
	if (n[2] && !(opts.has_nguid = rpc_parse_hex(rpc_str(n[2], ""), opts.nguid, 16)))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid nguid", "'%s'", rpc_str(n[2], ""));
	if (n[3] && !(opts.has_eui64 = rpc_parse_hex(rpc_str(n[3], ""), opts.eui64, 8)))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid eui64", "'%s'", rpc_str(n[3], ""));
	if (n[4] && !(opts.has_uuid = rpc_parse_uuid(rpc_str(n[4], ""), opts.uuid)))
		return rpc_invalid(err, "invalid uuid '%s'", rpc_str(n[4], ""));
	int64_t nsid = rpc_int(n[1], 0);
	if (nsid < 0 || nsid >= 0xffffffffLL)
		return rpc_invalid(err, "nsid %s is out of range", json_object_get_string(n[1]));
	struct bdev_entry *e = bdev_registry_find(ctx->bdevs, rpc_str(n[0], ""));
	if (!e)
		return rpc_invalid(err, "no bdev '%s'", rpc_str(n[0], ""));
	if (!opts.has_uuid) {
		/* As SPDK: the namespace carries its bdev's UUID. */
		memcpy(opts.uuid, e->uuid, 16);
		opts.has_uuid = true;
	}
	char why[512];
	uint32_t got = nvmf_subsystem_add_namespace_bdev(ss, (uint32_t)nsid, e->bdev, &opts, why, sizeof(why));
	if (!got)
		return rpc_invalid(err, "%s", why);
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	int64_t nsid = rpc_int(v[1], 0);
	if (nsid < 1 || nsid > 0xfffffffeLL || nvmf_subsystem_remove_namespace(ss, (uint32_t)nsid) < 0)
		return rpc_invalid(err, "no namespace %s", json_object_get_string(v[1]));
	return json_object_new_boolean(1);
}

/* ---- Hosts ---- */

static json_object *rpc_nvmf_subsystem_add_host(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"host", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		/* The PSK itself ("NVMeTLSkey-1:0N:...:"), where SPDK takes a keyring name. */
		{"psk", RPC_STRING, 0, 0, NULL},
		/* The secrets themselves ("DHHC-1:0N:...:"), where SPDK takes keyring names. */
		{"dhchap_key", RPC_STRING, 0, 0, NULL},
		{"dhchap_ctrlr_key", RPC_STRING, 0, 0, NULL},
		{"dhchap_digests", RPC_STRING, 0, 0, NULL},
		{"dhchap_dhgroups", RPC_STRING, 0, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	const char *host = rpc_str(v[1], "");
	if (!nvmf_nqn_valid(host) || rpc_is_discovery(host))
		return rpc_invalid(err, "invalid host NQN '%s'", host);
	const char *key = rpc_str(v[4], NULL), *ctrl_key = rpc_str(v[5], NULL);
	char why[256];
	/* Keys first: a host must never be allowed in without the keys asked for. */
	if ((key || ctrl_key) && nvmf_subsystem_set_host_dhchap(ss, host, key, ctrl_key, rpc_str(v[6], NULL),
								 rpc_str(v[7], NULL), why, sizeof(why)) < 0)
		return rpc_invalid(err, "'dhchap_key': %s", why);
	const char *psk = rpc_str(v[3], NULL);
	if (psk && nvmf_subsystem_set_host_tls_key(ss, host, psk, why, sizeof(why)) < 0)
		return rpc_invalid(err, "'psk': %s", why);
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	if (rpc_is_discovery(rpc_str(v[0], "")))
		return rpc_invalid(err, "%s", "the discovery subsystem always allows any host");
	nvmf_subsystem_set_allow_any_host(ss, rpc_bool(v[1], false));
	return json_object_new_boolean(1);
}

const struct rpc_method rpc_nvmf_methods[] = {
	{"nvmf_create_transport", rpc_nvmf_create_transport},
	{"nvmf_get_transports", rpc_nvmf_get_transports},
	{"nvmf_create_subsystem", rpc_nvmf_create_subsystem},
	{"nvmf_delete_subsystem", rpc_nvmf_delete_subsystem},
	{"nvmf_get_subsystems", rpc_nvmf_get_subsystems},
	{"nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns},
	{"nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns},
	{"nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host},
	{"nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host},
	{"nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host},
	{NULL, NULL},
};
