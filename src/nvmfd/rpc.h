/*
 * nvmfd's JSON-RPC 2.0 management interface, framed and named as SPDK's
 * target does it so that SPDK's scripts/rpc.py drives nvmfd unmodified.
 *
 *   rpc_server.c     the Unix socket, framing, request checks, dispatch
 *   rpc_params.c     parameter decoding against a table per method
 *   rpc_framework.c  rpc_get_methods, spdk_get_version, framework_*, config replay
 *   rpc_nvmf.c       nvmf_* for the transport, subsystems, namespaces, hosts
 *   rpc_listener.c   nvmf_* for listeners
 *   rpc_ctrl.c       nvmf_* for controllers, queue pairs, statistics
 *   rpc_nvmf_util.c  what those share (rpc_nvmf.h)
 *   rpc_bdev.c       bdev_* (the named backends namespaces are made from)
 *
 * Every method runs on the server's one thread, so methods never race each other.
 */
#ifndef NVMFD_RPC_H
#define NVMFD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "bdev_registry.h"

/* JSON-RPC 2.0 error codes, as SPDK uses them. */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

#define RPC_DEFAULT_SOCKET "/var/tmp/nvmfd.sock"
#define RPC_MAX_REQUEST (1024 * 1024)

struct nvmf_tgt;
struct acceptor;

/* What the methods act on. */
struct rpc_ctx {
	struct nvmf_tgt *tgt;
	struct acceptor *acc;
	struct bdev_registry *bdevs;
	bool transport_created; /* nvmf_create_transport ran */
	bool vfio_user_transport_created; /* ... with trtype VFIOUSER */
	uint16_t next_portid;	/* for listeners added at run time */
	/* Ports taken off line by nvmf_listener_set_offline. */
	uint16_t offline[64];
	unsigned noffline;
};

struct rpc_error {
	int code;
	char message[256]; /* SPDK's message for the case */
	char data[512];	   /* what exactly was wrong ("" when nothing to add) */
};

/* Sets err and returns NULL, for a handler's one-line failure exits. */
json_object *rpc_fail(struct rpc_error *err, int code, const char *message, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A method: returns its result (a new reference), or NULL with err set. */
typedef json_object *(*rpc_handler)(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err);

struct rpc_method {
	const char *name;
	rpc_handler fn;
};

extern const struct rpc_method rpc_framework_methods[];
extern const struct rpc_method rpc_nvmf_methods[];
extern const struct rpc_method rpc_listener_methods[];
extern const struct rpc_method rpc_ctrl_methods[];
extern const struct rpc_method rpc_bdev_methods[];

/* Look a method up in every table; NULL when unknown. */
const struct rpc_method *rpc_find_method(const char *name);
/* Call every method name: cb(arg, name). */
void rpc_for_each_method(void (*cb)(void *arg, const char *name), void *arg);
/* Run method with params (NULL: none) as a request would: result or NULL with err. */
json_object *rpc_invoke(struct rpc_ctx *ctx, const char *method, json_object *params, struct rpc_error *err);

/* ---- Parameters (rpc_params.c) ---- */

enum rpc_ptype { RPC_STRING, RPC_INT, RPC_BOOL, RPC_OBJECT, RPC_ARRAY };

enum rpc_pflags {
	RPC_REQUIRED = 1,
	/* Means nothing to nvmfd: accepted only while it carries SPDK's default (false, 0, def). */
	RPC_DEFAULT_ONLY = 2,
	/* A tuning knob of SPDK's with no effect on what hosts see: any value of the right type. */
	RPC_IGNORED = 4,
	/* A string that may come as a number (a port: `nvmf rpc` sends 4420 as a number). */
	RPC_NUMBER_OK = 8,
};

struct rpc_param {
	const char *name;
	enum rpc_ptype type;
	unsigned flags;
	int64_t def; /* RPC_DEFAULT_ONLY integers */
	const char *def_str; /* RPC_DEFAULT_ONLY strings (NULL: any string refused) */
};

/*
 * Check obj (an object, or NULL for none) against n parameter specs: every
 * key known, of its type, required ones present, default-only ones at their
 * default.  out[i] receives the value of spec[i] or NULL.  0, or -1 with
 * err set (-32602 "Invalid parameters", the culprit named in data).
 */
int rpc_decode(json_object *obj, const struct rpc_param *spec, unsigned n, json_object **out, struct rpc_error *err);
/* Accessors for decoded values (dflt when absent). */
const char *rpc_str(json_object *v, const char *dflt);
int64_t rpc_int(json_object *v, int64_t dflt);
bool rpc_bool(json_object *v, bool dflt);
/* Identifiers as SPDK prints them: UUIDs in lower case with dashes, NGUID/EUI-64 as upper-case hex. */
void rpc_format_uuid(const uint8_t id[16], char out[37]);
void rpc_format_hex(const uint8_t *bytes, size_t n, char *out);
bool rpc_parse_uuid(const char *s, uint8_t out[16]);
/* n bytes of hex digits, dashes ignored. */
bool rpc_parse_hex(const char *s, uint8_t *out, size_t n);

/* ---- Server (rpc_server.c) ---- */

struct rpc_server;

/* Listen on path (mode 0600) and serve on a thread of its own.  A stale
 * socket file is replaced; a live one is an error.  NULL with err. */
struct rpc_server *rpc_server_start(const char *path, struct rpc_ctx *ctx, char *err, size_t errlen);
void rpc_server_stop(struct rpc_server *s);

/* ---- Configuration (rpc_framework.c) ---- */

/* Whether root is SPDK's configuration layout ({"subsystems":[{"subsystem":..,"config":[..]}]}). */
bool rpc_config_is_spdk(json_object *root);
/* Replay a save_config file's calls.  0, or -1 with a message in err. */
int rpc_config_load(struct rpc_ctx *ctx, json_object *root, char *err, size_t errlen);
/* Give the namespaces made from flags or an nvmetcli file bdev names, so
 * that listings and save_config show them. */
void rpc_adopt_namespaces(struct rpc_ctx *ctx);

#endif
