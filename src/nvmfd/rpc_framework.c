/*
 * Framework methods (what rpc.py asks before anything else, and what its
 * save_config builds its file from) and the replay of such a file at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "bdev/bdev.h"
#include "ctrl/target.h"
#include "rpc.h"
#include "rpc_nvmf.h"

#ifndef NVMFD_VERSION
#define NVMFD_VERSION "0.0.0"
#endif

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void add_name(void *arg, const char *name)
{
	json_object_array_add(arg, json_object_new_string(name));
}

static json_object *rpc_get_methods(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	(void)ctx;
	static const struct rpc_param spec[] = {
		{"current", RPC_BOOL, 0, 0, NULL},
		{"include_aliases", RPC_BOOL, 0, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (rpc_decode(params, spec, COUNT(spec), v, err) < 0)
		return NULL;
	json_object *list = json_object_new_array();
	rpc_for_each_method(add_name, list);
	return list;
}

static json_object *spdk_get_version(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	(void)ctx;
	if (rpc_decode(params, NULL, 0, NULL, err) < 0)
		return NULL;
	unsigned major = 0, minor = 0, patch = 0;
	sscanf(NVMFD_VERSION, "%u.%u.%u", &major, &minor, &patch);
	json_object *fields = json_object_new_object();
	json_object_object_add(fields, "major", json_object_new_int((int)major));
	json_object_object_add(fields, "minor", json_object_new_int((int)minor));
	json_object_object_add(fields, "patch", json_object_new_int((int)patch));
	json_object_object_add(fields, "suffix", json_object_new_string(""));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string("nvmfd " NVMFD_VERSION));
	json_object_object_add(o, "fields", fields);
	return o;
}

static json_object *framework_wait_init(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	(void)ctx;
	/* The server starts once the target is up: there is nothing to wait for. */
	if (rpc_decode(params, NULL, 0, NULL, err) < 0)
		return NULL;
	return json_object_new_boolean(1);
}

static json_object *framework_get_subsystems(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	(void)ctx;
	if (rpc_decode(params, NULL, 0, NULL, err) < 0)
		return NULL;
	json_object *list = json_object_new_array();
	json_object *bdev = json_object_new_object();
	json_object_object_add(bdev, "subsystem", json_object_new_string("bdev"));
	json_object_object_add(bdev, "depends_on", json_object_new_array());
	json_object_array_add(list, bdev);
	json_object *nvmf = json_object_new_object();
	json_object *deps = json_object_new_array();
	json_object_array_add(deps, json_object_new_string("bdev"));
	json_object_object_add(nvmf, "subsystem", json_object_new_string("nvmf"));
	json_object_object_add(nvmf, "depends_on", deps);
	json_object_array_add(list, nvmf);
	return list;
}

/* ---- framework_get_config: the calls that rebuild the present state ---- */

static void add_call(json_object *list, const char *method, json_object *params)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "method", json_object_new_string(method));
	json_object_object_add(c, "params", params);
	json_object_array_add(list, c);
}

/* bdev_rbd_create's parameters back from an "rbd:POOL/IMAGE[@CONF][:id=USER]" spec; 0 or -1. */
static int rbd_params(json_object *p, const char *spec)
{
	if (!spec || strncmp(spec, "rbd:", 4) != 0)
		return -1;
	char *s = strdup(spec + 4);
	if (!s)
		return -1;
	char *id = strstr(s, ":id="), *at, *slash;
	if (id) {
		*id = '\0';
		json_object_object_add(p, "user_id", json_object_new_string(id + 4));
	}
	if ((at = strchr(s, '@'))) {
		*at = '\0';
		json_object_object_add(p, "config_file", json_object_new_string(at + 1));
	}
	if (!(slash = strchr(s, '/'))) {
		free(s);
		return -1;
	}
	*slash = '\0';
	json_object_object_add(p, "pool_name", json_object_new_string(s));
	json_object_object_add(p, "rbd_name", json_object_new_string(slash + 1));
	free(s);
	return 0;
}

static void bdev_config(struct rpc_ctx *ctx, json_object *list)
{
	static const char *methods[] = {"bdev_malloc_create", "bdev_null_create", "bdev_aio_create", "bdev_rbd_create"};
	for (struct bdev_entry *e = bdev_registry_next(ctx->bdevs, NULL); e; e = bdev_registry_next(ctx->bdevs, e)) {
		json_object *p = json_object_new_object();
		char uuid[37];
		rpc_format_uuid(e->uuid, uuid);
		json_object_object_add(p, "name", json_object_new_string(e->name));
		if (e->kind == BDEV_RBD) {
			if (rbd_params(p, e->filename) < 0) {
				json_object_put(p);
				continue;
			}
			json_object_object_add(p, "block_size", json_object_new_int64(nvmf_bdev_block_size(e->bdev)));
		} else if (e->kind == BDEV_AIO) {
			json_object_object_add(p, "filename", json_object_new_string(e->filename));
			if (e->block_size)
				json_object_object_add(p, "block_size", json_object_new_int64(e->block_size));
		} else {
			json_object_object_add(p, "num_blocks", json_object_new_uint64(e->num_blocks));
			json_object_object_add(p, "block_size", json_object_new_int64(e->block_size));
		}
		json_object_object_add(p, "uuid", json_object_new_string(uuid));
		add_call(list, methods[e->kind], p);
	}
}

/* Each subsystem's calls, rebuilt from nvmf_get_subsystems' own view. */
static void subsystem_config(json_object *list, json_object *s)
{
	json_object *v;
	const char *nqn = json_object_get_string(json_object_object_get(s, "nqn"));
	bool discovery = strcmp(json_object_get_string(json_object_object_get(s, "subtype")), "Discovery") == 0;
	if (!discovery) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(nqn));
		static const char *keys[] = {"serial_number", "model_number", "allow_any_host", "max_namespaces",
					     "min_cntlid", "max_cntlid"};
		for (size_t i = 0; i < COUNT(keys); i++) {
			if (json_object_object_get_ex(s, keys[i], &v))
				json_object_object_add(p, keys[i], json_object_get(v));
		}
		add_call(list, "nvmf_create_subsystem", p);
	}
	json_object *hosts = json_object_object_get(s, "hosts");
	for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(nqn));
		json_object_object_add(p, "host", json_object_get(json_object_object_get(json_object_array_get_idx(hosts, i), "nqn")));
		add_call(list, "nvmf_subsystem_add_host", p);
	}
	json_object *nss = json_object_object_get(s, "namespaces");
	for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
		json_object *ns = json_object_array_get_idx(nss, i), *n = json_object_new_object();
		static const char *keys[] = {"nsid", "bdev_name", "nguid", "eui64", "uuid"};
		for (size_t k = 0; k < COUNT(keys); k++) {
			if (json_object_object_get_ex(ns, keys[k], &v))
				json_object_object_add(n, keys[k], json_object_get(v));
		}
		json_object *p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(nqn));
		json_object_object_add(p, "namespace", n);
		add_call(list, "nvmf_subsystem_add_ns", p);
	}
}

static void listener_config(struct rpc_ctx *ctx, json_object *list, json_object *s, json_object *claimed)
{
	const char *nqn = json_object_get_string(json_object_object_get(s, "nqn"));
	bool discovery = strcmp(json_object_get_string(json_object_object_get(s, "subtype")), "Discovery") == 0;
	json_object *addrs = json_object_object_get(s, "listen_addresses");
	for (size_t i = 0; addrs && i < json_object_array_length(addrs); i++) {
		json_object *a = json_object_array_get_idx(addrs, i);
		const char *key = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN);
		/* Discovery answers on every port: only ports that export nothing else need it said. */
		if (discovery && json_object_object_get_ex(claimed, key, NULL))
			continue;
		if (!discovery)
			json_object_object_add(claimed, key, NULL);
		json_object *p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(nqn));
		json_object_object_add(p, "listen_address", json_object_get(a));
		/* A vfio-user listener's doorbell mode, so that the file starts the same. */
		struct nvmf_port_addr pa;
		struct rpc_error ignored;
		uint16_t portid;
		if (rpc_decode_address(a, &pa, &ignored) && pa.trtype == NVMF_TRTYPE_VFIO_USER &&
		    nvmf_tgt_find_port(ctx->tgt, &pa, &portid) == 0) {
			int trapped = acceptor_listener_doorbells(ctx->acc, portid);
			if (trapped >= 0)
				json_object_object_add(p, "vfio_user_doorbells",
						       json_object_new_string(doorbells_name(trapped)));
		}
		add_call(list, "nvmf_subsystem_add_listener", p);
	}
}

static json_object *nvmf_config(struct rpc_ctx *ctx, struct rpc_error *err)
{
	json_object *list = json_object_new_array();
	json_object *t = json_object_new_object();
	json_object_object_add(t, "trtype", json_object_new_string("TCP"));
	add_call(list, "nvmf_create_transport", t);
	if (ctx->vfio_user_transport_created) {
		t = json_object_new_object();
		json_object_object_add(t, "trtype", json_object_new_string("VFIOUSER"));
		json_object_object_add(t, "disable_mappable_bar0",
				       json_object_new_boolean(acceptor_vfio_user_doorbells(ctx->acc)));
		add_call(list, "nvmf_create_transport", t);
	}
	json_object *subs = rpc_invoke(ctx, "nvmf_get_subsystems", NULL, err);
	if (!subs) {
		json_object_put(list);
		return NULL;
	}
	json_object *claimed = json_object_new_object();
	size_t n = json_object_array_length(subs);
	for (size_t i = 0; i < n; i++)
		subsystem_config(list, json_object_array_get_idx(subs, i));
	/* Listeners last, as SPDK saves them: hosts find a subsystem complete. */
	for (size_t i = n; i-- > 0;)
		listener_config(ctx, list, json_object_array_get_idx(subs, i), claimed);
	json_object_put(claimed);
	json_object_put(subs);
	return list;
}

static json_object *framework_get_config(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"with_batches", RPC_BOOL, RPC_IGNORED, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (rpc_decode(params, spec, COUNT(spec), v, err) < 0)
		return NULL;
	const char *name = rpc_str(v[0], "");
	if (strcmp(name, "bdev") == 0) {
		json_object *list = json_object_new_array();
		bdev_config(ctx, list);
		return list;
	}
	if (strcmp(name, "nvmf") == 0)
		return nvmf_config(ctx, err);
	char msg[300];
	snprintf(msg, sizeof(msg), "Subsystem '%.250s' not found", name);
	return rpc_fail(err, RPC_INVALID_PARAMS, msg, NULL);
}

const struct rpc_method rpc_framework_methods[] = {
	{"rpc_get_methods", rpc_get_methods},
	{"spdk_get_version", spdk_get_version},
	{"framework_wait_init", framework_wait_init},
	{"framework_get_subsystems", framework_get_subsystems},
	{"framework_get_config", framework_get_config},
	{NULL, NULL},
};

/* ---- Replaying a saved configuration ---- */

bool rpc_config_is_spdk(json_object *root)
{
	json_object *subs;
	if (!json_object_object_get_ex(root, "subsystems", &subs) || !json_object_is_type(subs, json_type_array))
		return false;
	json_object *first = json_object_array_get_idx(subs, 0);
	/* nvmetcli's subsystems carry "nqn"; SPDK's carry "subsystem" and "config". */
	return !first || json_object_object_get_ex(first, "subsystem", NULL);
}

static int replay_call(struct rpc_ctx *ctx, json_object *call, char *err, size_t errlen)
{
	if (json_object_is_type(call, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(call); i++) {
			if (replay_call(ctx, json_object_array_get_idx(call, i), err, errlen) < 0)
				return -1;
		}
		return 0;
	}
	json_object *m, *params = NULL;
	if (!json_object_object_get_ex(call, "method", &m) || !json_object_is_type(m, json_type_string)) {
		snprintf(err, errlen, "a config entry without a method");
		return -1;
	}
	json_object_object_get_ex(call, "params", &params);
	struct rpc_error e = {0};
	json_object *res = rpc_invoke(ctx, json_object_get_string(m), params, &e);
	if (!res) {
		snprintf(err, errlen, "%s: %s%s%s", json_object_get_string(m), e.message, e.data[0] ? ": " : "", e.data);
		return -1;
	}
	json_object_put(res);
	return 0;
}

int rpc_config_load(struct rpc_ctx *ctx, json_object *root, char *err, size_t errlen)
{
	json_object *subs = json_object_object_get(root, "subsystems");
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		json_object *s = json_object_array_get_idx(subs, i), *config;
		if (!json_object_object_get_ex(s, "config", &config) || json_object_is_type(config, json_type_null))
			continue;
		if (!json_object_is_type(config, json_type_array)) {
			snprintf(err, errlen, "subsystem %d: config is not an array", (int)i);
			return -1;
		}
		for (size_t k = 0; k < json_object_array_length(config); k++) {
			if (replay_call(ctx, json_object_array_get_idx(config, k), err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- Names for namespaces made before the server ---- */

struct adopt {
	struct rpc_ctx *ctx;
};

static void adopt_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct adopt *a = arg;
	struct bdev_registry *r = a->ctx->bdevs;
	if (bdev_registry_find_bdev(r, ns->bdev))
		return;
	struct nvmf_bdev *b = (struct nvmf_bdev *)ns->bdev;
	const char *kind = nvmf_bdev_kind(b);
	enum bdev_kind k = strcmp(kind, "ram") == 0	? BDEV_MALLOC
			   : strcmp(kind, "null") == 0	? BDEV_NULL
			   : strcmp(kind, "rbd") == 0	? BDEV_RBD
							: BDEV_AIO;
	static const char *prefixes[] = {"Malloc", "Null", "AIO", "Ceph"};
	char name[128];
	bdev_registry_free_name(r, prefixes[k], name, sizeof(name));
	nvmf_bdev_get(b);
	struct bdev_entry *e = bdev_registry_add(r, name, k, b);
	if (!e) {
		nvmf_bdev_close(b);
		return;
	}
	memcpy(e->uuid, ns->uuid, 16);
	if (k == BDEV_AIO || k == BDEV_RBD) {
		e->filename = strdup(nvmf_bdev_spec(b));
		e->block_size = 0;
	}
}

void rpc_adopt_namespaces(struct rpc_ctx *ctx)
{
	struct adopt a = {ctx};
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(ctx->tgt, NULL); ss;
	     ss = nvmf_tgt_next_subsystem(ctx->tgt, ss))
		nvmf_subsystem_for_each_ns(ss, adopt_cb, &a);
}
