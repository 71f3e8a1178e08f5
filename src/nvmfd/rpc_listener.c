/* nvmf_* methods for listeners: added and removed per subsystem (SPDK), off and on line (nvmfd's own). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acceptor.h"
#include "rpc_nvmf.h"

/* Run-time listeners get port IDs from here up (flags use 1.., nvmetcli files their own). */
#define RPC_FIRST_PORTID 0x4000

/* ---- Listeners ---- */

static uint16_t free_portid(struct rpc_ctx *ctx)
{
	struct rpc_port_list *ports = calloc(1, sizeof(*ports));
	if (ports)
		nvmf_tgt_for_each_port(ctx->tgt, rpc_collect_port, ports);
	for (;;) {
		uint16_t id = ctx->next_portid++;
		if (ctx->next_portid < RPC_FIRST_PORTID)
			ctx->next_portid = RPC_FIRST_PORTID;
		if (!ports || !rpc_port_address(ports, id)) {
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
		{"secure_channel", RPC_BOOL, 0, 0, NULL}, /* true: TLS 1.3 required */
		{"ana_state", RPC_STRING, 0, 0, NULL},
		{"sock_impl", RPC_STRING, RPC_DEFAULT_ONLY, 0, "posix"},
		{"numa_id", RPC_INT, RPC_IGNORED, 0, NULL},
		/* nvmfd's own: a VFIOUSER listener's doorbells, "mapped" or "trapped" (default: the transport's). */
		{"vfio_user_doorbells", RPC_STRING, 0, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	if (!rpc_find_subsystem(ctx, nqn, err))
		return NULL;
	struct nvmf_port_addr pa;
	if (!rpc_decode_address(v[1], &pa, err))
		return NULL;
	if (v[3] && json_object_get_boolean(v[3]))
		pa.tls = NVMF_PORT_TLS_REQUIRED;
	const char *doorbells = v[7] ? rpc_str(v[7], "") : NULL;
	if (doorbells && (pa.trtype != NVMF_TRTYPE_VFIO_USER || doorbells_parse(doorbells) < 0))
		return rpc_invalid(err, "%s", "vfio_user_doorbells: mapped or trapped, on a VFIOUSER listener");
	bool trapped = doorbells ? doorbells_parse(doorbells) == 1 : acceptor_vfio_user_doorbells(ctx->acc);
	int ana = v[4] ? nvmf_ana_state_parse(rpc_str(v[4], "")) : 0;
	if (ana < 0)
		return rpc_invalid(err, "%s", "ana_state: optimized, non_optimized, inaccessible or change");
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) == 0) {
		if (doorbells && acceptor_listener_doorbells(ctx->acc, portid) != trapped)
			return rpc_invalid(err, "%s", "vfio_user_doorbells: the listener exists with the other mode");
		if (ana)
			nvmf_tgt_set_ana_state(ctx->tgt, portid, (uint8_t)ana);
		if (nvmf_tgt_port_exports(ctx->tgt, portid, nqn))
			return rpc_invalid(err, "%s already listens there", nqn);
		if (nvmf_tgt_port_link(ctx->tgt, portid, nqn) < 0)
			return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
		return json_object_new_boolean(1);
	}
	portid = free_portid(ctx);
	char why[512];
	if ((pa.trtype == NVMF_TRTYPE_VFIO_USER ? acceptor_listen_vfio_user(ctx->acc, &pa, portid, trapped, why, sizeof(why))
						: acceptor_listen(ctx->acc, &pa, portid, why, sizeof(why))) < 0)
		return rpc_invalid(err, "%s", why);
	if (nvmf_tgt_add_port(ctx->tgt, portid, &pa, false) < 0 ||
	    (!rpc_is_discovery(nqn) && nvmf_tgt_port_link(ctx->tgt, portid, nqn) < 0)) {
		acceptor_unlisten(ctx->acc, portid);
		nvmf_tgt_remove_port(ctx->tgt, portid);
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
	}
	if (ana)
		nvmf_tgt_set_ana_state(ctx->tgt, portid, (uint8_t)ana);
	if (pa.trtype == NVMF_TRTYPE_VFIO_USER)
		printf("nvmfd: listening on vfio-user %s for %s (%s doorbells)\n", pa.traddr, nqn,
		       doorbells_name(trapped));
	else
		printf("nvmfd: listening on tcp %s:%s for %s\n", pa.traddr, pa.trsvcid, nqn);
	return json_object_new_boolean(1);
}

/* Close a port nothing is exported through any more. */
static void drop_port(struct rpc_ctx *ctx, uint16_t portid)
{
	unsigned idx;
	if (rpc_port_offline(ctx, portid, &idx))
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, nqn, err);
	if (!ss)
		return NULL;
	struct nvmf_port_addr pa;
	if (!rpc_decode_address(v[1], &pa, err))
		return NULL;
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) < 0 || !nvmf_tgt_port_exports(ctx->tgt, portid, nqn))
		return rpc_invalid(err, "%s has no such listener", nqn);
	if (rpc_is_discovery(nqn)) {
		/* Discovery goes with the last subsystem a port exports, not before. */
		struct nvmf_subsystem *s = nvmf_tgt_next_subsystem(ctx->tgt, NULL);
		for (; s && !nvmf_tgt_port_exports(ctx->tgt, portid, nvmf_subsystem_nqn(s)); s = nvmf_tgt_next_subsystem(ctx->tgt, s))
			;
		if (s)
			return rpc_invalid(err, "the port still exports %s", nvmf_subsystem_nqn(s));
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
	if (!rpc_find_subsystem(ctx, rpc_str(v[0], ""), err))
		return NULL;
	json_object *addrs = rpc_listen_addresses(ctx, rpc_str(v[0], ""));
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(addrs); i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "address", json_object_get(json_object_array_get_idx(addrs, i)));
		struct nvmf_port_addr pa;
		uint16_t portid = 0;
		struct rpc_error ignored;
		if (rpc_decode_address(json_object_array_get_idx(addrs, i), &pa, &ignored))
			nvmf_tgt_find_port(ctx->tgt, &pa, &portid);
		json_object *st = json_object_new_object();
		json_object_object_add(st, "ana_group", json_object_new_int(NVMF_ANA_GROUP));
		json_object_object_add(st, "ana_state",
				       json_object_new_string(nvmf_ana_state_name(nvmf_tgt_get_ana_state(ctx->tgt, portid))));
		json_object *states = json_object_new_array();
		json_object_array_add(states, st);
		json_object_object_add(l, "ana_states", states);
		json_object_array_add(list, l);
	}
	json_object_put(addrs);
	return list;
}

/* SPDK's: this gateway's ANA state for the group, reported through one listener. */
static json_object *rpc_nvmf_subsystem_listener_set_ana_state(struct rpc_ctx *ctx, json_object *params,
							     struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"listen_address", RPC_OBJECT, RPC_REQUIRED, 0, NULL},
		{"ana_state", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"anagrpid", RPC_INT, 0, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	const char *nqn = rpc_str(v[0], "");
	if (!rpc_find_subsystem(ctx, nqn, err))
		return NULL;
	struct nvmf_port_addr pa;
	if (!rpc_decode_address(v[1], &pa, err))
		return NULL;
	int ana = nvmf_ana_state_parse(rpc_str(v[2], ""));
	if (ana < 0)
		return rpc_invalid(err, "%s", "ana_state: optimized, non_optimized, inaccessible or change");
	if (v[3] && json_object_get_int64(v[3]) != NVMF_ANA_GROUP)
		return rpc_invalid(err, "%s", "anagrpid: every namespace is in ANA group 1");
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) < 0 || !nvmf_tgt_port_exports(ctx->tgt, portid, nqn))
		return rpc_invalid(err, "%s has no such listener", nqn);
	/* The state is the port's: every subsystem it exports reports it. */
	if (nvmf_tgt_set_ana_state(ctx->tgt, portid, (uint8_t)ana) < 0)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", NULL);
	printf("nvmfd: ANA state %s on %s:%s\n", nvmf_ana_state_name((uint8_t)ana), pa.traddr, pa.trsvcid);
	return json_object_new_boolean(1);
}

/* nvmfd's own: a listener off line (socket closed, its associations ended) and back. */
static json_object *listener_state(struct rpc_ctx *ctx, json_object *params, bool online, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {{"listen_address", RPC_OBJECT, RPC_REQUIRED, 0, NULL}};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	struct nvmf_port_addr pa;
	if (!rpc_decode_address(v[0], &pa, err))
		return NULL;
	uint16_t portid;
	if (nvmf_tgt_find_port(ctx->tgt, &pa, &portid) < 0)
		return rpc_invalid(err, "no listener on %s", pa.traddr);
	unsigned idx;
	bool off = rpc_port_offline(ctx, portid, &idx);
	if (off == !online)
		return rpc_invalid(err, "the listener is already %s", online ? "on line" : "off line");
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

const struct rpc_method rpc_listener_methods[] = {
	{"nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener},
	{"nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener},
	{"nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners},
	{"nvmf_subsystem_listener_set_ana_state", rpc_nvmf_subsystem_listener_set_ana_state},
	{"nvmf_listener_set_offline", rpc_nvmf_listener_set_offline},
	{"nvmf_listener_set_online", rpc_nvmf_listener_set_online},
	{NULL, NULL},
};
