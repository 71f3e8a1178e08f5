/* Helpers of the nvmf_* methods: subsystem lookup, listen addresses, ports. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acceptor.h"
#include "rpc_nvmf.h"

json_object *rpc_invalid(struct rpc_error *err, const char *fmt, const char *what)
{
	return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", fmt, what);
}

struct nvmf_subsystem *rpc_find_subsystem(struct rpc_ctx *ctx, const char *nqn, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = nvmf_tgt_find_subsystem(ctx->tgt, nqn);
	if (!ss) {
		char msg[300];
		snprintf(msg, sizeof(msg), "Subsystem with NQN '%.250s' not found", nqn);
		rpc_fail(err, RPC_INVALID_PARAMS, msg, NULL);
	}
	return ss;
}

bool rpc_is_discovery(const char *nqn)
{
	return strcmp(nqn, NVME_DISCOVERY_NQN) == 0;
}

/* ---- Addresses ---- */

static void add_address(json_object *o, const struct nvmf_port_addr *a)
{
	if (a->trtype == NVMF_TRTYPE_VFIO_USER) {
		json_object_object_add(o, "trtype", json_object_new_string("VFIOUSER"));
		json_object_object_add(o, "traddr", json_object_new_string(a->traddr));
		return;
	}
	json_object_object_add(o, "trtype", json_object_new_string("TCP"));
	json_object_object_add(o, "adrfam", json_object_new_string(a->adrfam == NVMF_ADRFAM_IPV6 ? "IPv6" : "IPv4"));
	json_object_object_add(o, "traddr", json_object_new_string(a->traddr));
	json_object_object_add(o, "trsvcid", json_object_new_string(a->trsvcid));
}

json_object *rpc_address_object(const struct nvmf_port_addr *a)
{
	json_object *o = json_object_new_object();
	add_address(o, a);
	return o;
}

/* SPDK's listen_address object; false with err set. */
bool rpc_decode_address(json_object *jaddr, struct nvmf_port_addr *pa, struct rpc_error *err)
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
	const char *traddr = rpc_str(v[2], "");
	if (!strcasecmp(rpc_str(v[0], ""), "vfiouser") || !strcasecmp(rpc_str(v[0], ""), "vfio-user")) {
		/* traddr: the Unix socket QEMU's vfio-user-pci connects to. */
		pa->trtype = NVMF_TRTYPE_VFIO_USER;
		if (!*traddr || strlen(traddr) >= 108) {
			rpc_invalid(err, "traddr '%s': want a socket path of 1..107 bytes", traddr);
			return false;
		}
		snprintf(pa->traddr, sizeof(pa->traddr), "%s", traddr);
		return true;
	}
	if (strcasecmp(rpc_str(v[0], ""), "tcp") != 0) {
		rpc_invalid(err, "trtype '%s': nvmfd speaks TCP and VFIOUSER", rpc_str(v[0], ""));
		return false;
	}
	unsigned char buf[16];
	bool v4 = inet_pton(AF_INET, traddr, buf) == 1, v6 = inet_pton(AF_INET6, traddr, buf) == 1;
	const char *adrfam = rpc_str(v[1], v6 ? "ipv6" : "ipv4");
	if (strcasecmp(adrfam, "ipv4") != 0 && strcasecmp(adrfam, "ipv6") != 0) {
		rpc_invalid(err, "adrfam '%s': want IPv4 or IPv6", adrfam);
		return false;
	}
	pa->adrfam = strcasecmp(adrfam, "ipv6") == 0 ? NVMF_ADRFAM_IPV6 : NVMF_ADRFAM_IPV4;
	if (!(pa->adrfam == NVMF_ADRFAM_IPV6 ? v6 : v4)) {
		rpc_invalid(err, "traddr '%s' is not a numeric address of that family", traddr);
		return false;
	}
	const char *svc = rpc_str(v[3], "");
	char *end;
	long port = strtol(svc, &end, 10);
	if (!*svc || *end || port < 1 || port > 65535) {
		rpc_invalid(err, "trsvcid '%s': want a TCP port 1..65535", svc);
		return false;
	}
	snprintf(pa->traddr, sizeof(pa->traddr), "%s", traddr);
	snprintf(pa->trsvcid, sizeof(pa->trsvcid), "%ld", port);
	return true;
}

bool rpc_port_offline(struct rpc_ctx *ctx, uint16_t portid, unsigned *idx)
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
void rpc_collect_port(void *arg, uint16_t portid, const struct nvmf_port_addr *addr)
{
	struct rpc_port_list *l = arg;
	if (l->n < COUNT(l->ids)) {
		l->ids[l->n] = portid;
		l->addrs[l->n++] = *addr;
	}
}

const struct nvmf_port_addr *rpc_port_address(const struct rpc_port_list *l, uint16_t portid)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (l->ids[i] == portid)
			return &l->addrs[i];
	}
	return NULL;
}

const char *rpc_bdev_name(struct rpc_ctx *ctx, const struct nvmf_bdev *bdev)
{
	struct bdev_entry *e = bdev_registry_find_bdev(ctx->bdevs, bdev);
	return e ? e->name : "";
}

json_object *rpc_listen_addresses(struct rpc_ctx *ctx, const char *nqn)
{
	struct rpc_port_list *ports = calloc(1, sizeof(*ports));
	json_object *list = json_object_new_array();
	if (!ports)
		return list;
	nvmf_tgt_for_each_port(ctx->tgt, rpc_collect_port, ports);
	for (unsigned i = 0; i < ports->n; i++) {
		if (!rpc_port_offline(ctx, ports->ids[i], NULL) && nvmf_tgt_port_exports(ctx->tgt, ports->ids[i], nqn))
			json_object_array_add(list, rpc_address_object(&ports->addrs[i]));
	}
	free(ports);
	return list;
}

struct nvmf_subsystem *rpc_decode_nqn(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	static const struct rpc_param spec[] = {
		{"nqn", RPC_STRING, RPC_REQUIRED, 0, NULL},
		{"tgt_name", RPC_STRING, RPC_DEFAULT_ONLY, 0, NULL},
	};
	json_object *v[COUNT(spec)];
	if (!DECODE(params, spec, v, err))
		return NULL;
	return rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
}
