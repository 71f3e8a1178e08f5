/* bdev_* methods: named RAM (malloc), null and file/block-device (aio) backends. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "bdev/bdev.h"
#include "ctrl/target.h"
#include "rpc.h"

/* SPDK answers bdev failures with a negative errno and its text. */
static json_object *fail_errno(struct rpc_error *err, int e, const char *fmt, const char *what)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "%s", strerror(e));
	rpc_fail(err, -e, msg, fmt, what);
	return NULL;
}

static void random_uuid(uint8_t id[16])
{
	if (getrandom(id, 16, 0) != 16)
		memset(id, 0x5a, 16);
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* Open spec and register it as name; the result is the name, as SPDK answers. */
static json_object *create(struct rpc_ctx *ctx, const char *name, enum bdev_kind kind, const char *spec,
			   uint32_t block_size, json_object *juuid, struct rpc_error *err)
{
	uint8_t uuid[16];
	if (juuid && !rpc_parse_uuid(rpc_str(juuid, ""), uuid))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "invalid uuid '%s'", rpc_str(juuid, ""));
	if (!juuid)
		random_uuid(uuid);
	if (bdev_registry_find(ctx->bdevs, name))
		return fail_errno(err, EEXIST, "bdev '%s' already exists", name);
	if (!*name || strlen(name) >= sizeof(((struct bdev_entry *)0)->name))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "invalid bdev name '%s'", name);
	char why[256];
	struct nvmf_bdev *b = nvmf_bdev_open(spec, block_size, why, sizeof(why));
	if (!b)
		return fail_errno(err, EINVAL, "%s", why);
	struct bdev_entry *e = bdev_registry_add(ctx->bdevs, name, kind, b);
	if (!e) {
		nvmf_bdev_close(b);
		return fail_errno(err, ENOMEM, "%s", name);
	}
	memcpy(e->uuid, uuid, 16);
	return json_object_new_string(e->name);
}

/* num_blocks * block_size as a "ram:"/"null:" spec; false when it is not a size. */
static bool size_spec(char *out, size_t outlen, const char *prefix, int64_t num_blocks, int64_t block_size)
{
	if (num_blocks <= 0 || block_size <= 0 || (uint64_t)num_blocks > UINT64_MAX / (uint64_t)block_size)
		return false;
	snprintf(out, outlen, "%s%" PRIu64, prefix, (uint64_t)num_blocks * (uint64_t)block_size);
	return true;
}

static json_object *bdev_malloc_create(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"num_blocks", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"block_size", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"name", RPC_STRING, 0, 0, NULL},
		{"uuid", RPC_STRING, 0, 0, NULL},
		{"physical_block_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"optimal_io_boundary", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"md_size", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"md_interleave", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_type", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_is_head_of_md", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_pi_format", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"numa_id", RPC_INT, RPC_IGNORED, 0, NULL},
	};
	json_object *v[sizeof(spec) / sizeof(spec[0])];
	if (rpc_decode(params, spec, sizeof(spec) / sizeof(spec[0]), v, err) < 0)
		return NULL;
	char name[128], s[64];
	if (v[2])
		snprintf(name, sizeof(name), "%s", rpc_str(v[2], ""));
	else
		bdev_registry_free_name(ctx->bdevs, "Malloc", name, sizeof(name));
	if (!size_spec(s, sizeof(s), "ram:", rpc_int(v[0], 0), rpc_int(v[1], 0)) || rpc_int(v[1], 0) > UINT32_MAX)
		return fail_errno(err, EINVAL, "num_blocks and block_size must be positive (%s)", name);
	return create(ctx, name, BDEV_MALLOC, s, (uint32_t)rpc_int(v[1], 0), v[3], err);
}

static json_object *bdev_null_create(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"num_blocks", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"block_size", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"uuid", RPC_STRING, 0, 0, NULL},
		{"physical_block_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"md_size", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_type", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_is_head_of_md", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"dif_pi_format", RPC_INT, RPC_DEFAULT_ONLY, 0, NULL},
		{"preferred_write_alignment", RPC_INT, RPC_IGNORED, 0, NULL},
		{"preferred_write_granularity", RPC_INT, RPC_IGNORED, 0, NULL},
		{"optimal_write_size", RPC_INT, RPC_IGNORED, 0, NULL},
		{"preferred_unmap_alignment", RPC_INT, RPC_IGNORED, 0, NULL},
		{"preferred_unmap_granularity", RPC_INT, RPC_IGNORED, 0, NULL},
	};
	json_object *v[sizeof(spec) / sizeof(spec[0])];
	if (rpc_decode(params, spec, sizeof(spec) / sizeof(spec[0]), v, err) < 0)
		return NULL;
	char s[64];
	const char *name = rpc_str(v[0], "");
	if (!size_spec(s, sizeof(s), "null:", rpc_int(v[1], 0), rpc_int(v[2], 0)) || rpc_int(v[2], 0) > UINT32_MAX)
		return fail_errno(err, EINVAL, "num_blocks and block_size must be positive (%s)", name);
	return create(ctx, name, BDEV_NULL, s, (uint32_t)rpc_int(v[2], 0), v[3], err);
}

static json_object *bdev_aio_create(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"filename", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"block_size", RPC_INT, 0, 0, NULL},
		{"uuid", RPC_STRING, 0, 0, NULL},
		{"readonly", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"fallocate", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
		{"nowait", RPC_BOOL, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[sizeof(spec) / sizeof(spec[0])];
	if (rpc_decode(params, spec, sizeof(spec) / sizeof(spec[0]), v, err) < 0)
		return NULL;
	const char *file = rpc_str(v[0], "");
	int64_t bs = rpc_int(v[2], 0);
	/* A path that looks like one of our own specs would open the wrong thing. */
	if (!*file || strncmp(file, "ram:", 4) == 0 || strncmp(file, "null:", 5) == 0 || strncmp(file, "rbd:", 4) == 0 || bs < 0 || bs > UINT32_MAX)
		return fail_errno(err, EINVAL, "invalid filename or block_size for '%s'", rpc_str(v[1], ""));
	json_object *res = create(ctx, rpc_str(v[1], ""), BDEV_AIO, file, (uint32_t)bs, v[3], err);
	if (res) {
		struct bdev_entry *e = bdev_registry_find(ctx->bdevs, rpc_str(v[1], ""));
		e->filename = strdup(file);
		e->block_size = bs ? (uint32_t)bs : 0; /* 0: the file's own, as saved */
	}
	return res;
}

/* The namespaces on it go first (SPDK hot-removes them); then the registry lets go. */
static json_object *delete_kind(struct rpc_ctx *ctx, json_object *params, enum bdev_kind kind,
				struct rpc_error *err);

/* "rbd:POOL/IMAGE[@CONF][:id=USER]" from SPDK's parameters (nvmfd's config_file names the conf). */
static bool rbd_spec(char *out, size_t outlen, const char *pool, const char *image, const char *user, const char *conf)
{
	if (!*pool || !*image || strpbrk(pool, "/@:") || strpbrk(image, "/@:") || (user && strpbrk(user, ":@/")) ||
	    (conf && strstr(conf, ":id=")))
		return false;
	int n = snprintf(out, outlen, "rbd:%s/%s%s%s%s%s", pool, image, conf ? "@" : "", conf ? conf : "",
			 user ? ":id=" : "", user ? user : "");
	return n > 0 && (size_t)n < outlen;
}

static json_object *bdev_rbd_create(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"pool_name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"rbd_name", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"block_size", RPC_INT, RPC_REQUIRED, 0, NULL},
		{"name", RPC_STRING, 0, 0, NULL},
		{"user_id", RPC_STRING, 0, 0, NULL},
		{"config_file", RPC_STRING, 0, 0, NULL}, /* nvmfd's own: SPDK passes "config" key/values */
		{"uuid", RPC_STRING, 0, 0, NULL},
		{"cluster_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
		{"config", RPC_OBJECT, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[sizeof(spec) / sizeof(spec[0])];
	if (rpc_decode(params, spec, sizeof(spec) / sizeof(spec[0]), v, err) < 0)
		return NULL;
	char name[128], s[1024];
	if (v[3])
		snprintf(name, sizeof(name), "%s", rpc_str(v[3], ""));
	else
		bdev_registry_free_name(ctx->bdevs, "Ceph", name, sizeof(name));
	int64_t bs = rpc_int(v[2], 0);
	if (bs <= 0 || bs > UINT32_MAX ||
	    !rbd_spec(s, sizeof(s), rpc_str(v[0], ""), rpc_str(v[1], ""), v[4] ? rpc_str(v[4], "") : NULL,
		      v[5] ? rpc_str(v[5], "") : NULL))
		return fail_errno(err, EINVAL, "invalid pool_name, rbd_name, user_id or block_size (%s)", name);
	json_object *res = create(ctx, name, BDEV_RBD, s, (uint32_t)bs, v[6], err);
	if (res) {
		struct bdev_entry *e = bdev_registry_find(ctx->bdevs, name);
		e->filename = strdup(s);
		e->block_size = (uint32_t)bs;
	}
	return res;
}

static json_object *bdev_rbd_delete(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return delete_kind(ctx, params, BDEV_RBD, err);
}

static json_object *delete_kind(struct rpc_ctx *ctx, json_object *params, enum bdev_kind kind,
				struct rpc_error *err)
{
	static const struct rpc_param spec[] = {{"name", RPC_STRING, RPC_REQUIRED, 0, NULL}};
	json_object *v[1];
	if (rpc_decode(params, spec, 1, v, err) < 0)
		return NULL;
	struct bdev_entry *e = bdev_registry_find(ctx->bdevs, rpc_str(v[0], ""));
	if (!e || e->kind != kind)
		return fail_errno(err, ENODEV, "no such bdev '%s'", rpc_str(v[0], ""));
	nvmf_tgt_remove_bdev_namespaces(ctx->tgt, e->bdev);
	bdev_registry_remove(ctx->bdevs, e);
	return json_object_new_boolean(1);
}

static json_object *bdev_malloc_delete(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return delete_kind(ctx, params, BDEV_MALLOC, err);
}

static json_object *bdev_null_delete(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return delete_kind(ctx, params, BDEV_NULL, err);
}

static json_object *bdev_aio_delete(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	return delete_kind(ctx, params, BDEV_AIO, err);
}

struct claim_search {
	const struct nvmf_bdev *bdev;
	bool found;
};

static void claim_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct claim_search *c = arg;
	c->found |= ns->bdev == c->bdev;
}

static bool claimed(struct rpc_ctx *ctx, const struct nvmf_bdev *bdev)
{
	struct claim_search c = {.bdev = bdev};
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(ctx->tgt, NULL); ss && !c.found;
	     ss = nvmf_tgt_next_subsystem(ctx->tgt, ss))
		nvmf_subsystem_for_each_ns(ss, claim_cb, &c);
	return c.found;
}

static json_object *describe(struct rpc_ctx *ctx, const struct bdev_entry *e)
{
	static const char *products[] = {"Malloc disk", "Null disk", "AIO disk", "Ceph Rbd Disk"};
	json_object *o = json_object_new_object();
	char uuid[37];
	rpc_format_uuid(e->uuid, uuid);
	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "aliases", json_object_new_array());
	json_object_object_add(o, "product_name", json_object_new_string(products[e->kind]));
	uint32_t bs = nvmf_bdev_block_size(e->bdev);
	json_object_object_add(o, "block_size", json_object_new_int64(bs));
	json_object_object_add(o, "num_blocks", json_object_new_uint64(nvmf_bdev_size(e->bdev) / bs));
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "claimed", json_object_new_boolean(claimed(ctx, e->bdev)));
	json_object_object_add(o, "zoned", json_object_new_boolean(0));
	json_object *ds = json_object_new_object();
	if (e->kind == BDEV_RBD) {
		json_object *rbd = json_object_new_object();
		json_object_object_add(rbd, "spec", json_object_new_string(e->filename ? e->filename : ""));
		json_object_object_add(ds, "rbd", rbd);
	}
	if (e->kind == BDEV_AIO) {
		json_object *aio = json_object_new_object();
		json_object_object_add(aio, "filename", json_object_new_string(e->filename));
		json_object_object_add(aio, "block_size_override", json_object_new_boolean(e->block_size != 0));
		json_object_object_add(aio, "readonly", json_object_new_boolean(0));
		json_object_object_add(aio, "fallocate", json_object_new_boolean(0));
		json_object_object_add(ds, "aio", aio);
	}
	json_object_object_add(o, "driver_specific", ds);
	return o;
}

static json_object *bdev_get_bdevs(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {{"name", RPC_STRING, 0, 0, NULL}, {"timeout", RPC_INT, RPC_IGNORED, 0, NULL}};
	json_object *v[2];
	if (rpc_decode(params, spec, 2, v, err) < 0)
		return NULL;
	json_object *list = json_object_new_array();
	for (struct bdev_entry *e = bdev_registry_next(ctx->bdevs, NULL); e; e = bdev_registry_next(ctx->bdevs, e)) {
		if (!v[0] || strcmp(e->name, rpc_str(v[0], "")) == 0)
			json_object_array_add(list, describe(ctx, e));
	}
	if (v[0] && json_object_array_length(list) == 0) {
		json_object_put(list);
		return fail_errno(err, ENODEV, "no such bdev '%s'", rpc_str(v[0], ""));
	}
	return list;
}

const struct rpc_method rpc_bdev_methods[] = {
	{"bdev_malloc_create", bdev_malloc_create},
	{"bdev_malloc_delete", bdev_malloc_delete},
	{"bdev_null_create", bdev_null_create},
	{"bdev_null_delete", bdev_null_delete},
	{"bdev_aio_create", bdev_aio_create},
	{"bdev_aio_delete", bdev_aio_delete},
	{"bdev_rbd_create", bdev_rbd_create},
	{"bdev_rbd_delete", bdev_rbd_delete},
	{"bdev_get_bdevs", bdev_get_bdevs},
	{NULL, NULL},
};
