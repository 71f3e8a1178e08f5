/* nvmf_* methods for controllers and queue pairs: listings, statistics, terminating associations. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acceptor.h"
#include "rpc_nvmf.h"

/* ---- Controllers, queue pairs, statistics ---- */

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
	struct nvmf_subsystem *ss = rpc_decode_nqn(ctx, params, err);
	if (!ss)
		return NULL;
	json_object *list = json_object_new_array();
	nvmf_subsystem_for_each_ctrl(ss, ctrl_cb, list);
	if (rpc_is_discovery(nvmf_subsystem_nqn(ss))) {
		for (size_t i = 0; i < json_object_array_length(list); i++)
			json_object_object_add(json_object_array_get_idx(list, i), "cntrltype",
					       json_object_new_string("discovery"));
	}
	return list;
}

struct qpair_dump {
	json_object *list;
	struct rpc_port_list *ports;
};

static void qpair_cb(void *arg, const struct nvmf_qpair_info *q)
{
	struct qpair_dump *d = arg;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cntlid", json_object_new_int(q->cntlid));
	json_object_object_add(o, "qid", json_object_new_int(q->qid));
	json_object_object_add(o, "state", json_object_new_string("active"));
	json_object_object_add(o, "thread", json_object_new_string("nvmfd"));
	const struct nvmf_port_addr *a = rpc_port_address(d->ports, q->portid);
	if (a)
		json_object_object_add(o, "listen_address", rpc_address_object(a));
	json_object_array_add(d->list, o);
}

static json_object *rpc_nvmf_subsystem_get_qpairs(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = rpc_decode_nqn(ctx, params, err);
	if (!ss)
		return NULL;
	struct qpair_dump d = {NULL, calloc(1, sizeof(struct rpc_port_list))};
	if (!d.ports)
		return rpc_fail(err, RPC_INTERNAL_ERROR, "Out of memory", NULL);
	d.list = json_object_new_array();
	nvmf_tgt_for_each_port(ctx->tgt, rpc_collect_port, d.ports);
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
	struct nvmf_subsystem *ss = rpc_find_subsystem(ctx, rpc_str(v[0], ""), err);
	if (!ss)
		return NULL;
	int64_t cntlid = rpc_int(v[1], 0);
	if (v[1] && (cntlid < 1 || cntlid > 0xffef))
		return rpc_invalid(err, "cntlid %s is out of range", json_object_get_string(v[1]));
	unsigned n = nvmf_subsystem_disconnect(ss, (uint16_t)cntlid, rpc_str(v[2], NULL), -1, "terminated by RPC");
	if (v[1] && n == 0)
		return rpc_invalid(err, "no controller %s", json_object_get_string(v[1]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "terminated", json_object_new_int64(n));
	return o;
}

/* Commands, mean and percentiles in microseconds (bucket upper bounds: about 12 % coarse). */
static json_object *latency_object(const struct nvmf_latency_snapshot *s)
{
	static const struct {
		const char *name;
		double p;
	} pct[] = {{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99_9", 0.999}};
	json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_uint64(s->count));
	json_object_object_add(o, "mean", json_object_new_double(s->count ? (double)s->sum_ns / (double)s->count / 1000 : 0));
	for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
		json_object_object_add(o, pct[i].name,
				       json_object_new_double((double)nvmf_latency_percentile(s, pct[i].p) / 1000));
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
	json_object_object_add(o, "latency_us", latency_object(&c->latency));
	json_object_array_add(arg, o);
}

static void ns_stats_cb(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_dump *d = arg;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(o, "bdev_name", json_object_new_string(rpc_bdev_name(d->ctx, ns->bdev)));
	json_object_object_add(o, "read_ops", json_object_new_uint64(ns->read_cmds));
	json_object_object_add(o, "write_ops", json_object_new_uint64(ns->write_cmds));
	json_object_object_add(o, "bytes_read", json_object_new_uint64(ns->bytes_read));
	json_object_object_add(o, "bytes_written", json_object_new_uint64(ns->bytes_written));
	json_object_object_add(o, "latency_us", latency_object(&ns->latency));
	json_object_array_add(d->list, o);
}

/* nvmfd's own: I/O counters per controller (while connected) and per namespace (since added). */
static json_object *rpc_nvmf_subsystem_get_io_stats(struct rpc_ctx *ctx, json_object *params, struct rpc_error *err)
{
	struct nvmf_subsystem *ss = rpc_decode_nqn(ctx, params, err);
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

const struct rpc_method rpc_ctrl_methods[] = {
	{"nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers},
	{"nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs},
	{"nvmf_get_stats", rpc_nvmf_get_stats},
	{"nvmf_subsystem_terminate_associations", rpc_nvmf_subsystem_terminate_associations},
	{"nvmf_subsystem_get_io_stats", rpc_nvmf_subsystem_get_io_stats},
	{NULL, NULL},
};
