/*
 * The blocking layer end to end: a controller thread that uses only
 * nvmf_accept, nvmf_controller_receive_capsule and the *_sync transfers; a
 * host that uses nvmf_connect and nvmf_host_execute.  Also a rejected
 * Connect (positive status and the CQE back) and a command the controller
 * never answers (-ETIMEDOUT, then the queue pair still works).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"

#define DATA_LEN (256 * 1024)
#define OPC_IGNORE 0xc0 /* vendor opcode the controller leaves unanswered */

static int lfd;
static uint8_t store[DATA_LEN];

static void *ctrl_thread(void *arg)
{
	struct nvmf_association_params p = {.sq_flow_control = true, .maxh2cdata = 16384, .ioccsz = 4096};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &p);
	struct nvmf_qpair *qp;
	struct nvmf_capsule *nc;
	(void)arg;

	/* First connection: its Connect is refused. */
	CHECK(nvmf_accept(na, lb_accept(lfd), 5000, &qp, &nc) == 0);
	CHECK(nvmf_controller_send_status(nc, NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST) |
						      NVME_STATUS_DNR, 0) == 0);
	nvmf_capsule_free(nc);
	CHECK(nvmf_qpair_flush(qp) == 0);
	CHECK(nvmf_controller_receive_capsule(qp, &nc, 5000) == -ECONNRESET); /* the host hangs up */
	nvmf_qpair_free(qp);

	/* Second: a working queue. */
	CHECK(nvmf_accept(na, lb_accept(lfd), 5000, &qp, &nc) == 0);
	CHECK(nvmf_qpair_qsize(qp) == 16 && nvmf_qpair_sq_flow_control(qp));
	CHECK(nvmf_controller_send_status(nc, 0, 7) == 0);
	nvmf_capsule_free(nc);
	for (;;) {
		int rc = nvmf_controller_receive_capsule(qp, &nc, 5000);
		if (rc < 0)
			break;
		const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
		CHECK(nvmf_capsule_validate_command(nc) == 0);
		size_t len = nvmf_capsule_data_len(nc);
		if (sqe->opc == NVME_OPC_WRITE) {
			/* In pieces, at increasing offsets. */
			for (size_t off = 0; off < len; off += 40000) {
				size_t n = len - off < 40000 ? len - off : 40000;
				CHECK(nvmf_controller_receive_data_sync(nc, (uint32_t)off, store + off, n, 5000) == 0);
			}
		} else if (sqe->opc == NVME_OPC_READ) {
			CHECK(nvmf_controller_send_data_sync(nc, 0, store, len / 2, false, 5000) == 0);
			CHECK(nvmf_controller_send_data_sync(nc, (uint32_t)(len / 2), store + len / 2, len - len / 2, true,
							     5000) == 0);
		} else if (sqe->opc == OPC_IGNORE) {
			nvmf_capsule_free(nc);
			continue;
		}
		CHECK(nvmf_controller_send_status(nc, 0, 0) == 0);
		nvmf_capsule_free(nc);
	}
	nvmf_qpair_free(qp);

	/* Third: a command before Connect, which the transport refuses itself. */
	struct nvmf_qpair_params qpp = {.fd = lb_accept(lfd)};
	qp = nvmf_qpair_create(na, &qpp);
	CHECK(qp);
	CHECK(nvmf_controller_receive_capsule(qp, &nc, 5000) == -ECONNRESET);
	nvmf_qpair_free(qp);
	nvmf_association_free(na);
	return NULL;
}

int main(void)
{
	unsigned short port;
	lfd = lb_listen(&port);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, ctrl_thread, NULL) == 0);

	struct nvmf_association_params hp = {.sq_flow_control = true};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	struct nvmf_connect_params cp = {.qid = 1, .qsize = 16, .cntlid = 1, .subnqn = "nqn.a", .hostnqn = "nqn.b",
					 .timeout_ms = 5000};
	struct nvmf_qpair *qp = NULL;
	uint16_t cntlid = 0;
	struct nvme_completion cqe;

	int rc = nvmf_connect(na, lb_connect(port), &cp, &qp, &cntlid, &cqe);
	CHECK(rc == (NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR));
	CHECK(qp == NULL && le16toh(cqe.cid) == 0);

	nvmf_association_set_ioccsz(na, 4096);
	CHECK(nvmf_connect(na, lb_connect(port), &cp, &qp, &cntlid, &cqe) == 0);
	CHECK(cntlid == 7 && nvmf_qpair_qid(qp) == 1);

	static uint8_t wbuf[DATA_LEN], rbuf[DATA_LEN];
	lb_fill_pattern(wbuf, sizeof(wbuf), 3);
	struct nvme_command w = {.opc = NVME_OPC_WRITE, .nsid = htole32(1)};
	struct nvme_command r = {.opc = NVME_OPC_READ, .nsid = htole32(1)};
	/* In-capsule (small) and R2T (large) writes. */
	CHECK(nvmf_host_execute(qp, &w, wbuf, 1000, true, &cqe, 5000) == 0);
	CHECK(memcmp(store, wbuf, 1000) == 0);
	CHECK(nvmf_host_execute(qp, &w, wbuf, sizeof(wbuf), true, &cqe, 5000) == 0);
	CHECK((le16toh(cqe.status) & 0xfffe) == 0);
	CHECK(nvmf_host_execute(qp, &r, rbuf, sizeof(rbuf), false, &cqe, 5000) == 0);
	CHECK(memcmp(rbuf, wbuf, sizeof(rbuf)) == 0);

	/* Unanswered: times out, leaves the CID busy, the queue keeps working. */
	struct nvme_command ig = {.opc = OPC_IGNORE};
	CHECK(nvmf_host_execute(qp, &ig, NULL, 0, false, &cqe, 200) == -ETIMEDOUT);
	CHECK(nvmf_qpair_outstanding(qp) == 1);
	struct nvme_command fl = {.opc = NVME_OPC_FLUSH};
	CHECK(nvmf_host_execute(qp, &fl, NULL, 0, false, &cqe, 5000) == 0);

	nvmf_qpair_free(qp);

	/* Execute straight after creation, before the handshake has finished. */
	struct nvmf_qpair_params qpp = {.admin = true, .qsize = 8, .fd = lb_connect(port)};
	qp = nvmf_qpair_create(na, &qpp);
	CHECK(qp && !nvmf_qpair_ready(qp));
	CHECK(nvmf_host_execute(qp, &fl, NULL, 0, false, &cqe, 5000) == 0);
	CHECK((le16toh(cqe.status) & 0xfffe) ==
	      (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR) | NVME_STATUS_DNR));
	nvmf_qpair_free(qp);
	pthread_join(th, NULL);
	nvmf_association_free(na);
	close(lfd);
	printf("ok: blocking layer\n");
	return 0;
}
