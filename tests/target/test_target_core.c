/*
 * The controller core's transport-independent rules, on real sockets with
 * hand-made PDUs: usage: test_target_core NVMFD CASE.
 *   empty_hostnqn  an empty host NQN connects where any host may, and is refused where a list applies
 *   cid_conflict   a CID reused while its command is outstanding gets Command ID Conflict
 *   reconnect      a second Connect after a refused one sets the queue's ID, size and SQ head anew
 *   reset_race     an I/O Connect racing CC.EN 1 -> 0 never leaves a queue behind the reset
 *   buffer_budget  writes whose data never comes hold no more than the data-buffer budget
 *   sq_overflow    a command beyond the queue's size ends the connection with a PDU Sequence Error
 *   limits         --max-queue-size, --max-io-queues and --max-associations are what hosts get
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/tcp_spec.h>

#include "target_util.h"

static const char *const target_args[] = {
	"--subsystem", TEST_NQN, "--namespace", "ram:64M", "--subsystem", TEST_NQN_RESTRICTED, "--namespace",
	"ram:16M", "--allow-host", TEST_ALLOWED_HOSTNQN, "--reactors", "2", NULL,
};

/* ICReq/ICResp on a new connection. */
static int raw_open(const char *port)
{
	int fd = tcp_connect(port);
	struct nvme_tcp_icreq icreq = {.ch = {.pdu_type = NVME_TCP_PDU_ICREQ, .hlen = 128, .plen = 128}};
	raw_write(fd, &icreq, sizeof(icreq));
	struct nvme_tcp_icresp icresp;
	raw_read(fd, &icresp, sizeof(icresp));
	CHECK(icresp.ch.pdu_type == NVME_TCP_PDU_ICRESP);
	return fd;
}

/* Send a command; one without data gets an empty transport SGL, as hosts send. */
static void raw_send(int fd, const struct nvme_command *sqe_in, const void *icd, uint32_t icd_len)
{
	struct nvme_command sqe = *sqe_in;
	if (!icd_len && sqe.dptr.sgl.length == 0)
		sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	raw_send_capsule(fd, &sqe, icd, icd_len);
}

static struct nvme_completion raw_connect(int fd, const char *subnqn, const char *hostnqn, uint16_t qid,
					  uint16_t sqsize, uint16_t cntlid, uint16_t cid)
{
	struct nvmf_connect_command cc = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.cid = cid,
		.fctype = NVMF_FCTYPE_CONNECT,
		.sgl = {.length = 1024, .type = NVME_SGL_INCAPSULE},
		.qid = qid,
		.sqsize = sqsize,
	};
	struct nvmf_connect_data data = {.cntlid = cntlid};
	memset(data.hostid, 0x5a, sizeof(data.hostid));
	strcpy(data.subnqn, subnqn);
	strcpy(data.hostnqn, hostnqn);
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	raw_send(fd, &sqe, &data, sizeof(data));
	return raw_read_response(fd);
}

static struct nvme_completion raw_prop_set_cc(int fd, uint32_t cc, uint16_t cid)
{
	struct nvmf_property_set_command ps = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.cid = cid,
		.fctype = NVMF_FCTYPE_PROPERTY_SET,
		.attrib = NVMF_PROP_SIZE_4,
		.offset = NVME_REG_CC,
		.value = cc,
	};
	struct nvme_command sqe;
	memcpy(&sqe, &ps, sizeof(sqe));
	raw_send(fd, &sqe, NULL, 0);
	return raw_read_response(fd);
}

#define CC_ENABLE (NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT)

static void case_empty_hostnqn(const char *port)
{
	/* Any host may use TEST_NQN: an empty host NQN (spdk_nvme_perf's default) connects. */
	int fd = raw_open(port);
	struct nvme_completion c = raw_connect(fd, TEST_NQN, "", 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK((c.status & 0xfffe) == 0);
	CHECK(c.cdw0 != 0 && c.cdw0 != NVMF_CNTLID_DYNAMIC);
	close(fd);
	/* TEST_NQN_RESTRICTED has an allow list: refused with Connect Invalid Host, IATTR/IPO at hostnqn. */
	fd = raw_open(port);
	c = raw_connect(fd, TEST_NQN_RESTRICTED, "", 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK_STATUS(c.status, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST);
	CHECK(c.cdw0 == ((uint32_t)NVMF_CONNECT_IATTR_DATA << 16 | offsetof(struct nvmf_connect_data, hostnqn)));
	close(fd);
	/* The listed host still connects there. */
	fd = raw_open(port);
	c = raw_connect(fd, TEST_NQN_RESTRICTED, TEST_ALLOWED_HOSTNQN, 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK((c.status & 0xfffe) == 0);
	close(fd);
}

static void case_cid_conflict(const char *port)
{
	int fd = raw_open(port);
	struct nvme_completion c = raw_connect(fd, TEST_NQN, TEST_HOSTNQN, 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK((c.status & 0xfffe) == 0);
	uint16_t cntlid = (uint16_t)c.cdw0;
	c = raw_prop_set_cc(fd, CC_ENABLE, 2);
	CHECK((c.status & 0xfffe) == 0);
	int io = raw_open(port);
	c = raw_connect(io, TEST_NQN, TEST_HOSTNQN, 1, 31, cntlid, 1);
	CHECK((c.status & 0xfffe) == 0);
	/* A write with CID 7 waits for its data (an R2T the host leaves unanswered)... */
	struct nvme_command w = {.opc = NVME_OPC_WRITE, .flags = NVME_CMD_PSDT_SGL, .cid = 7, .nsid = 1};
	w.dptr.sgl.type = NVME_SGL_TRANSPORT;
	w.dptr.sgl.length = 512;
	raw_send(io, &w, NULL, 0);
	/* ...so a Flush reusing CID 7 is a conflict. */
	struct nvme_command fl = {.opc = NVME_OPC_FLUSH, .flags = NVME_CMD_PSDT_SGL, .cid = 7, .nsid = 1};
	raw_send(io, &fl, NULL, 0);
	c = raw_read_response(io); /* the R2T is skipped: it is not a response */
	CHECK(c.cid == 7);
	CHECK_STATUS(c.status, NVME_SCT_GENERIC, NVME_SC_COMMAND_ID_CONFLICT);
	CHECK(c.status & NVME_STATUS_DNR);
	/* Other CIDs go on. */
	fl.cid = 8;
	raw_send(io, &fl, NULL, 0);
	c = raw_read_response(io);
	CHECK(c.cid == 8 && (c.status & 0xfffe) == 0);
	close(io);
	/* An AER's CID reused by the host (SPDK does at shutdown) means it gave the AER up: no conflict. */
	struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST, .flags = NVME_CMD_PSDT_SGL, .cid = 9};
	raw_send(fd, &aer, NULL, 0);
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .flags = NVME_CMD_PSDT_SGL, .cid = 9};
	raw_send(fd, &ka, NULL, 0);
	c = raw_read_response(fd);
	CHECK(c.cid == 9);
	CHECK((c.status & 0xfffe) == 0);
	close(fd);
}

static void case_reconnect(const char *port)
{
	int fd = raw_open(port);
	/* Refused: no such subsystem.  SQSIZE 7 must not stick to the queue. */
	struct nvme_completion c = raw_connect(fd, "nqn.2024-01.io.nvmf:nope", TEST_HOSTNQN, 0, 7,
					       NVMF_CNTLID_DYNAMIC, 1);
	CHECK_STATUS(c.status, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	c = raw_connect(fd, TEST_NQN, TEST_HOSTNQN, 0, 127, NVMF_CNTLID_DYNAMIC, 2);
	CHECK_STATUS(c.status, 0, 0);
	CHECK(c.sqid == 0);
	CHECK(c.sqhd == 1); /* the Connect took the first entry of a 128-entry queue */
	c = raw_prop_set_cc(fd, CC_ENABLE, 3);
	CHECK(c.sqhd == 2);
	/* Past the refused Connect's 8 entries: SQ head counts on in the 128-entry queue. */
	for (uint16_t i = 0; i < 20; i++) {
		struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .flags = NVME_CMD_PSDT_SGL, .cid = (uint16_t)(10 + i)};
		raw_send(fd, &ka, NULL, 0);
		c = raw_read_response(fd);
		CHECK((c.status & 0xfffe) == 0);
		CHECK(c.sqhd == 3 + i);
	}
	close(fd);
}

static void case_sq_overflow(const char *port)
{
	int fd = raw_open(port);
	struct nvme_completion c = raw_connect(fd, TEST_NQN, TEST_HOSTNQN, 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK((c.status & 0xfffe) == 0);
	uint16_t cntlid = (uint16_t)c.cdw0;
	CHECK((raw_prop_set_cc(fd, CC_ENABLE, 2).status & 0xfffe) == 0);
	int io = raw_open(port);
	c = raw_connect(io, TEST_NQN, TEST_HOSTNQN, 1, 3, cntlid, 1); /* 4 entries */
	CHECK((c.status & 0xfffe) == 0);
	/* Four writes wait for data the host never sends: the queue is full. */
	for (uint16_t i = 0; i < 5; i++) {
		struct nvme_command w = {.opc = NVME_OPC_WRITE, .flags = NVME_CMD_PSDT_SGL, .cid = (uint16_t)(10 + i),
					 .nsid = 1, .cdw10 = i};
		w.dptr.sgl.type = NVME_SGL_TRANSPORT;
		w.dptr.sgl.length = 512;
		raw_send(io, &w, NULL, 0);
	}
	/* Up to four R2Ts, then the termination request for the fifth command, then the close. */
	unsigned r2ts = 0;
	for (;;) {
		struct nvme_tcp_common_header ch;
		raw_read(io, &ch, sizeof(ch));
		uint8_t rest[256];
		CHECK(ch.plen >= sizeof(ch) && ch.plen - sizeof(ch) <= sizeof(rest));
		raw_read(io, rest, ch.plen - sizeof(ch));
		if (ch.pdu_type == NVME_TCP_PDU_R2T) {
			r2ts++;
			continue;
		}
		CHECK(ch.pdu_type == NVME_TCP_PDU_C2H_TERM_REQ);
		uint16_t fes;
		memcpy(&fes, rest, sizeof(fes));
		CHECK(fes == NVME_TCP_FES_PDU_SEQUENCE_ERROR);
		/* The fifth command's header is echoed after the 24-byte TermReq header. */
		struct nvme_tcp_capsule_cmd echoed;
		CHECK(ch.plen >= 24 + sizeof(echoed));
		memcpy(&echoed, rest + 24 - sizeof(ch), sizeof(echoed));
		CHECK(echoed.ch.pdu_type == NVME_TCP_PDU_CAPSULE_CMD && echoed.sqe.cid == 14);
		break;
	}
	/* R2Ts still queued when the fifth command arrived are dropped for the TermReq. */
	CHECK(r2ts <= 4);
	uint8_t b;
	CHECK(read(io, &b, 1) == 0);
	close(io);
	/* The association goes on: its admin queue answers. */
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .flags = NVME_CMD_PSDT_SGL, .cid = 3};
	raw_send(fd, &ka, NULL, 0);
	CHECK((raw_read_response(fd).status & 0xfffe) == 0);
	close(fd);
}

struct io_connect {
	struct host *h;
	struct nvmf_qpair *qp;
	int rc;
};

static void *io_connect_main(void *arg)
{
	struct io_connect *ic = arg;
	ic->rc = host_connect_io(ic->h, 1, ic->h->cntlid, 32, &ic->qp, NULL);
	return NULL;
}

/* True once a command on qp fails (the queue was closed). */
static bool queue_closed(struct nvmf_qpair *qp)
{
	struct nvme_command ka = {.opc = NVME_OPC_FLUSH, .nsid = 1};
	struct nvme_completion c;
	for (int i = 0; i < 100; i++) {
		if (nvmf_host_execute(qp, &ka, NULL, 0, false, &c, 1000) < 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

static void case_reset_race(const char *port)
{
	unsigned joined = 0, refused = 0;
	for (int round = 0; round < 150; round++) {
		struct host h = {0};
		CHECK(host_connect_admin(&h, port, TEST_NQN, TEST_HOSTNQN, 0, 32, NULL) == 0);
		host_enable(&h);
		/* The I/O Connect and the reset run at once (nvmfd has 2 reactors: queues land on both). */
		struct io_connect ic = {.h = &h};
		pthread_t th;
		CHECK(pthread_create(&th, NULL, io_connect_main, &ic) == 0);
		if (round & 1)
			sleep_ms(round % 3);
		CHECK(prop_set(h.admin, NVME_REG_CC, false, 0) == 0);
		pthread_join(th, NULL);
		if (ic.rc == 0) {
			/* It joined before the reset, so the reset closed it. */
			CHECK(queue_closed(ic.qp));
			joined++;
		} else {
			refused++;
		}
		if (ic.qp)
			nvmf_qpair_free(ic.qp);
		/* Enabled again, queue 1 is free for a new Connect. */
		host_enable(&h);
		struct nvmf_qpair *qp = NULL;
		CHECK(host_connect_io(&h, 1, h.cntlid, 32, &qp, NULL) == 0);
		uint8_t buf[512];
		CHECK(rw(qp, NVME_OPC_READ, 1, 0, 1, buf, sizeof(buf), 0) == 0);
		nvmf_qpair_free(qp);
		host_close(&h);
	}
	printf("reset_race: %u I/O Connects before the reset (closed by it), %u refused\n", joined, refused);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f);
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Writes of 128 KiB whose data never comes each hold a buffer; the budget caps them. */
static void case_buffer_budget(const char *nvmfd)
{
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "ram:64M", "--reactors", "1",
			      "--buffer-budget", "8M", NULL};
	struct target t;
	target_start(&t, nvmfd, args);
	int fds[4];
	uint16_t cntlid = 0;
	int admin = raw_open(t.port);
	struct nvme_completion c = raw_connect(admin, TEST_NQN, TEST_HOSTNQN, 0, 31, NVMF_CNTLID_DYNAMIC, 1);
	CHECK((c.status & 0xfffe) == 0);
	cntlid = (uint16_t)c.cdw0;
	CHECK((raw_prop_set_cc(admin, CC_ENABLE, 2).status & 0xfffe) == 0);
	long before = rss_kib(t.pid);
	for (int q = 0; q < 4; q++) {
		fds[q] = raw_open(t.port);
		c = raw_connect(fds[q], TEST_NQN, TEST_HOSTNQN, (uint16_t)(q + 1), 1023, cntlid, 1);
		CHECK((c.status & 0xfffe) == 0);
		/* 1000 writes asking for R2Ts the host never answers (nor reads). */
		for (uint16_t i = 0; i < 1000; i++) {
			struct nvme_command w = {.opc = NVME_OPC_WRITE, .flags = NVME_CMD_PSDT_SGL, .cid = (uint16_t)(i + 2),
						 .nsid = 1, .cdw10 = (uint32_t)i * 256, .cdw12 = 255};
			w.dptr.sgl.type = NVME_SGL_TRANSPORT;
			w.dptr.sgl.length = 128 * 1024;
			raw_send(fds[q], &w, NULL, 0);
		}
	}
	sleep_ms(1000);
	long after = rss_kib(t.pid);
	printf("buffer_budget: nvmfd RSS %ld KiB before, %ld KiB with 4000 writes of 128 KiB waiting for data\n", before,
	       after);
	/* 4000 x 128 KiB would be 500 MiB; the budget is 8 MiB (plus requests and transport state). */
	CHECK(after - before < 64 * 1024);
	/* The controller still answers on its admin queue. */
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .flags = NVME_CMD_PSDT_SGL, .cid = 3};
	raw_send(admin, &ka, NULL, 0);
	CHECK((raw_read_response(admin).status & 0xfffe) == 0);
	for (int q = 0; q < 4; q++)
		close(fds[q]);
	close(admin);
	target_stop(&t);
}

static void case_limits(const char *nvmfd)
{
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "ram:16M", "--max-queue-size", "64",
			      "--max-io-queues", "2", "--max-associations", "2", NULL};
	struct target t;
	target_start(&t, nvmfd, args);
	/* Queue size: CAP.MQES says 64 entries; 65 is refused at SQSIZE, 64 accepted. */
	int fd = raw_open(t.port);
	struct nvme_completion c = raw_connect(fd, TEST_NQN, TEST_HOSTNQN, 0, 64, NVMF_CNTLID_DYNAMIC, 1);
	CHECK_STATUS(c.status, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	CHECK(c.cdw0 == offsetof(struct nvmf_connect_command, sqsize));
	close(fd);
	struct host a = {0}, b = {0}, extra = {0};
	CHECK(host_connect_admin(&a, t.port, TEST_NQN, TEST_HOSTNQN, 0, 64, NULL) == 0);
	uint64_t cap = 0;
	CHECK(prop_get(a.admin, NVME_REG_CAP, true, &cap) == 0);
	CHECK((cap & 0xffff) == 63);
	host_enable(&a);
	/* I/O queues: 8 asked for, 2 granted; queue 3 is refused. */
	struct nvme_completion sf;
	struct nvme_command cmd = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = 0x00070007};
	CHECK(exec(a.admin, &cmd, NULL, 0, false, &sf) == 0);
	CHECK(sf.cdw0 == 0x00010001);
	struct nvmf_qpair *q2 = NULL, *q3 = NULL;
	CHECK(host_connect_io(&a, 2, a.cntlid, 32, &q2, NULL) == 0);
	CHECK_STATUS(host_connect_io(&a, 3, a.cntlid, 32, &q3, NULL), NVME_SCT_COMMAND_SPECIFIC,
		     NVMF_SC_CONNECT_INVALID_PARAMETERS);
	/* Associations: a second one fits, a third is Controller Busy until one ends. */
	CHECK(host_connect_admin(&b, t.port, TEST_NQN, TEST_HOSTNQN2, 0, 32, NULL) == 0);
	CHECK_STATUS(host_connect_admin(&extra, t.port, TEST_NQN, TEST_HOSTNQN2, 0, 32, NULL), NVME_SCT_COMMAND_SPECIFIC,
		     NVMF_SC_CONNECT_CONTROLLER_BUSY);
	host_close(&extra);
	host_close(&b);
	struct host again = {0};
	int rc = -1;
	for (int i = 0; i < 100 && rc != 0; i++) {
		memset(&again, 0, sizeof(again));
		rc = host_connect_admin(&again, t.port, TEST_NQN, TEST_HOSTNQN2, 0, 32, NULL);
		if (rc != 0) {
			host_close(&again);
			sleep_ms(20);
		}
	}
	CHECK(rc == 0);
	host_close(&again);
	nvmf_qpair_free(q2);
	host_close(&a);
	target_stop(&t);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s NVMFD CASE\n", argv[0]);
		return 2;
	}
	static const struct {
		const char *name;
		void (*fn)(const char *port);
	} cases[] = {
		{"empty_hostnqn", case_empty_hostnqn},
		{"cid_conflict", case_cid_conflict},
		{"reconnect", case_reconnect},
		{"reset_race", case_reset_race},
		{"sq_overflow", case_sq_overflow},
	};
	if (strcmp(argv[2], "buffer_budget") == 0) {
		case_buffer_budget(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "limits") == 0) {
		case_limits(argv[1]);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, argv[2]) != 0)
			continue;
		struct target t;
		target_start(&t, argv[1], target_args);
		cases[i].fn(t.port);
		target_stop(&t);
		return 0;
	}
	fprintf(stderr, "unknown case %s\n", argv[2]);
	return 2;
}
