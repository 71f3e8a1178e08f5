/*
 * The core in-process (reactors and acceptor from nvmfd, port 0 listener):
 * namespaces and subsystems change at run time and hosts hear of it
 * through Asynchronous Event Requests.
 */
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "ctrl/target.h"
#include "nvmfd/acceptor.h"
#include "nvmfd/reactor.h"
#include "target_util.h"

struct pending {
	bool done;
	int error;
	struct nvme_completion cqe;
};

static void on_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct pending *p = arg;
	(void)nc;
	p->done = true;
	p->error = error;
	if (cqe)
		p->cqe = *cqe;
}

static struct nvmf_capsule *submit_aer(struct nvmf_qpair *qp, struct pending *p)
{
	struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(qp, &aer);
	CHECK(nc);
	memset(p, 0, sizeof(*p));
	nvmf_capsule_set_done(nc, on_done, p);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	CHECK(nvmf_qpair_flush(qp) >= -11);
	return nc;
}

/* Poll qp until p is done or ms pass. */
static void wait_for(struct nvmf_qpair *qp, struct pending *p, int ms)
{
	for (int i = 0; i < ms / 10 && !p->done; i++) {
		CHECK(nvmf_qpair_process(qp) >= 0);
		struct pollfd pfd = {.fd = nvmf_qpair_fd(qp), .events = POLLIN};
		poll(&pfd, 1, 10);
	}
	if (!p->done)
		CHECK(nvmf_qpair_process(qp) >= 0);
}

int main(void)
{
	struct nvmf_tgt *tgt = nvmf_tgt_create();
	CHECK(tgt);
	char err[256];
	struct nvmf_subsystem *ss = nvmf_subsystem_create(tgt, TEST_NQN, err, sizeof(err));
	CHECK(ss);
	nvmf_subsystem_set_allow_any_host(ss, true);
	CHECK(nvmf_subsystem_add_namespace(ss, 1, "ram:4M", NULL, err, sizeof(err)) == 1);
	/* Bad NQNs are refused. */
	CHECK(!nvmf_subsystem_create(tgt, "nqn.24-01.x:y", err, sizeof(err)));
	CHECK(!nvmf_subsystem_create(tgt, "nqn.2024-13.io.x:y", err, sizeof(err)));
	CHECK(!nvmf_subsystem_create(tgt, "nqn.2024-01.io.x", err, sizeof(err)));
	char longnqn[300] = "nqn.2024-01.io.x:";
	memset(longnqn + strlen(longnqn), 'a', 224 - strlen(longnqn));
	longnqn[224] = '\0';
	CHECK(!nvmf_subsystem_create(tgt, longnqn, err, sizeof(err)));
	longnqn[223] = '\0';
	CHECK(nvmf_nqn_valid(longnqn));

	struct reactor *reactors[2];
	for (int i = 0; i < 2; i++) {
		reactors[i] = reactor_create(tgt, (unsigned)i);
		CHECK(reactors[i] && reactor_start(reactors[i]) == 0);
	}
	struct acceptor *acc = acceptor_create(reactors, 2, NULL);
	CHECK(acc);
	struct nvmf_port_addr pa;
	CHECK(parse_listen_address("127.0.0.1:0", &pa) == 0);
	CHECK(acceptor_listen(acc, &pa, 1, err, sizeof(err)) == 0);
	CHECK(nvmf_tgt_add_port(tgt, 1, &pa, true) == 0);
	CHECK(acceptor_start(acc) == 0);

	/* An I/O controller that asks for namespace notices. */
	struct host h;
	host_setup(&h, pa.trsvcid, TEST_NQN, TEST_HOSTNQN);
	struct nvme_command aec = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_ASYNC_EVENT,
				   .cdw11 = NVME_AEC_NS_ATTR};
	CHECK(exec(h.admin, &aec, NULL, 0, false, NULL) == 0);
	struct pending p;
	struct nvmf_capsule *nc = submit_aer(h.admin, &p);
	wait_for(h.admin, &p, 200);
	CHECK(!p.done); /* held until something happens */

	/* A namespace appears. */
	CHECK(nvmf_subsystem_add_namespace(ss, 7, "ram:1M", NULL, err, sizeof(err)) == 7);
	wait_for(h.admin, &p, 3000);
	CHECK(p.done && !p.error && (p.cqe.status & 0xfffe) == 0);
	CHECK(p.cqe.cdw0 == NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED, NVME_LOG_CHANGED_NS));
	nvmf_capsule_free(nc);
	static uint32_t changed[1024];
	CHECK(get_log(h.admin, NVME_LOG_CHANGED_NS, 0, changed, sizeof(changed)) == 0);
	CHECK(changed[0] == 7 && changed[1] == 0);
	/* Read once, the list is empty. */
	CHECK(get_log(h.admin, NVME_LOG_CHANGED_NS, 0, changed, sizeof(changed)) == 0);
	CHECK(changed[0] == 0);
	uint8_t buf[512];
	CHECK(rw(h.io, NVME_OPC_WRITE, 7, 0, 1, buf, sizeof(buf), 0) == 0);

	/* It goes away: another event, and I/O to it fails. */
	nc = submit_aer(h.admin, &p);
	CHECK(nvmf_subsystem_remove_namespace(ss, 7) == 0);
	wait_for(h.admin, &p, 3000);
	CHECK(p.done && p.cqe.cdw0 == NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED,
						     NVME_LOG_CHANGED_NS));
	nvmf_capsule_free(nc);
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 7, 0, 1, buf, sizeof(buf), 0), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, sizeof(buf), 0) == 0);

	/* Too many AERs: the fifth is refused. */
	struct pending ps[5];
	struct nvmf_capsule *ncs[5];
	for (int i = 0; i < 5; i++)
		ncs[i] = submit_aer(h.admin, &ps[i]);
	wait_for(h.admin, &ps[4], 2000);
	CHECK(ps[4].done);
	CHECK_STATUS(ps[4].cqe.status & 0xfffe, NVME_SCT_COMMAND_SPECIFIC, NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);

	/* A discovery controller hears of new subsystems. */
	struct host d = {0};
	CHECK(host_connect_admin(&d, pa.trsvcid, NVME_DISCOVERY_NQN, TEST_HOSTNQN2, 0, 32, NULL) == 0);
	host_enable(&d);
	static uint8_t log[4096];
	CHECK(get_log(d.admin, NVME_LOG_DISCOVERY, 0, log, sizeof(log)) == 0);
	uint64_t genctr = ((struct nvmf_discovery_log_header *)log)->genctr;
	aec.cdw11 = NVME_AEC_DISCOVERY_LOG_CHANGE;
	CHECK(exec(d.admin, &aec, NULL, 0, false, NULL) == 0);
	struct pending dp;
	struct nvmf_capsule *dnc = submit_aer(d.admin, &dp);
	CHECK(nvmf_subsystem_create(tgt, "nqn.2024-01.io.nvmf:later", err, sizeof(err)));
	wait_for(d.admin, &dp, 3000);
	CHECK(dp.done && dp.cqe.cdw0 == NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_DISCOVERY_LOG_CHANGE,
						       NVME_LOG_DISCOVERY));
	nvmf_capsule_free(dnc);
	CHECK(get_log(d.admin, NVME_LOG_DISCOVERY, 0, log, sizeof(log)) == 0);
	CHECK(((struct nvmf_discovery_log_header *)log)->genctr > genctr);
	host_close(&d);

	for (int i = 0; i < 5; i++)
		nvmf_capsule_free(ncs[i]);
	host_close(&h);
	acceptor_destroy(acc);
	for (int i = 0; i < 2; i++)
		reactor_destroy(reactors[i]);
	nvmf_tgt_destroy(tgt);
	return 0;
}
