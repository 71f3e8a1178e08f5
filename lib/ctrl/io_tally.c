/* A queue's I/O latencies, folded into the shared histograms once per pass (see io_tally.h). */
#include "ctrl_internal.h"
#include "util/clock.h"

void nvmf_tally_pass_begin(struct nvmf_conn *conn)
{
	conn->tally.in_pass = true;
	conn->tally.pass_ns = 0;
}

void nvmf_tally_pass_end(struct nvmf_conn *conn)
{
	conn->tally.in_pass = false;
	nvmf_tally_fold(conn);
}

uint64_t nvmf_tally_arrival(struct nvmf_conn *conn)
{
	struct nvmf_io_tally *t = &conn->tally;
	if (!t->in_pass)
		return nvmf_clock_ns();
	if (!t->pass_ns)
		t->pass_ns = nvmf_clock_ns();
	return t->pass_ns;
}

void nvmf_tally_answer(struct nvmf_conn *conn, struct nvmf_namespace *ns, uint64_t arrived_ns)
{
	struct nvmf_io_tally *t = &conn->tally;
	if (t->n == NVMF_TALLY_MAX || (t->n && ns != t->ns))
		nvmf_tally_fold(conn);
	if (t->n == 0 && ns) {
		nvmf_ns_get(ns); /* the command's own reference goes when it is released */
		t->ns = ns;
	}
	t->arrived[t->n++] = arrived_ns;
	if (!t->in_pass)
		nvmf_tally_fold(conn);
}

void nvmf_tally_fold(struct nvmf_conn *conn)
{
	struct nvmf_io_tally *t = &conn->tally;
	if (t->n == 0)
		return;
	uint64_t now = nvmf_clock_ns();
	uint64_t took[NVMF_TALLY_MAX];
	for (unsigned i = 0; i < t->n; i++)
		took[i] = now > t->arrived[i] ? now - t->arrived[i] : 0;
	if (conn->ctrl)
		nvmf_latency_add_many(&conn->ctrl->io_latency, took, t->n);
	if (t->ns) {
		nvmf_latency_add_many(&t->ns->stats.latency, took, t->n);
		nvmf_ns_put(t->ns);
		t->ns = NULL;
	}
	t->n = 0;
}
