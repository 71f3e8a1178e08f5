/* Shared by the nvmf_* method files: lookups, addresses, ports. */
#ifndef NVMFD_RPC_NVMF_H
#define NVMFD_RPC_NVMF_H

#include "ctrl/target.h"
#include "rpc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define DECODE(params, spec, v, err) (rpc_decode(params, spec, COUNT(spec), v, err) == 0)

/* -32602 "Invalid parameters", data fmt with what; returns NULL. */
json_object *rpc_invalid(struct rpc_error *err, const char *fmt, const char *what);
/* The subsystem, or NULL with SPDK's "Subsystem with NQN '...' not found". */
struct nvmf_subsystem *rpc_find_subsystem(struct rpc_ctx *ctx, const char *nqn, struct rpc_error *err);
/* Params {nqn, tgt_name}: the subsystem, or NULL with err. */
struct nvmf_subsystem *rpc_decode_nqn(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err);
bool rpc_is_discovery(const char *nqn);
/* The registry name of a namespace's bdev ("" when it has none). */
const char *rpc_bdev_name(struct rpc_ctx *ctx, const struct nvmf_bdev *bdev);

/* {"trtype":"TCP","adrfam":..,"traddr":..,"trsvcid":..} */
json_object *rpc_address_object(const struct nvmf_port_addr *a);
/* SPDK's listen_address object into pa; false with err set. */
bool rpc_decode_address(json_object *jaddr, struct nvmf_port_addr *pa, struct rpc_error *err);
/* The listen addresses exporting nqn (ports off line left out). */
json_object *rpc_listen_addresses(struct rpc_ctx *ctx, const char *nqn);
/* portid was taken off line (nvmf_listener_set_offline); *idx its place in ctx->offline. */
bool rpc_port_offline(struct rpc_ctx *ctx, uint16_t portid, unsigned *idx);

/* Ports, collected (nvmf_tgt_for_each_port calls back without locks). */
struct rpc_port_list {
	unsigned n;
	uint16_t ids[256];
	struct nvmf_port_addr addrs[256];
};

void rpc_collect_port(void *arg, uint16_t portid, const struct nvmf_port_addr *addr);
const struct nvmf_port_addr *rpc_port_address(const struct rpc_port_list *l, uint16_t portid);

/* For listings of namespaces. */
struct ns_dump {
	struct rpc_ctx *ctx;
	json_object *list;
};

#endif
