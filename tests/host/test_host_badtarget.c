/*
 * A raw-socket fake target that misbehaves at a chosen step: the host
 * library (and the nvmf command) must end the association with a clear
 * error and not crash.  And one that behaves as SPDK's target does, which
 * everything must work with.  usage: test_host_badtarget NVMF
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nvmf/host.h>
#include <nvmf/tcp_spec.h>

#include "check.h"

enum misbehaviour {
	BAD_PDU_TYPE,      /* answer Property Get CAP with an undefined PDU type */
	UNKNOWN_CID,       /* answer Property Get CAP for a command ID never sent */
	C2H_PAST_BUFFER,   /* Identify data at offset 4000, 200 bytes: past the 4096-byte buffer */
	C2H_PARTIAL_CLOSE, /* half the Identify data, then close */
	SILENT,            /* never answer Property Get CAP */
	BAD_HLEN,          /* a CapsuleResp with a wrong header length */
	BAD_CNTLID,        /* Identify Controller disagrees with Connect about the controller ID */
	/* The same on an I/O queue, answering a Read once the association is up. */
	IO_BAD_PDU_TYPE,
	IO_UNKNOWN_CID,
	IO_C2H_PAST_BUFFER,
	IO_C2H_PARTIAL_CLOSE,
	/* Not a misbehaviour: as SPDK's target (c2h_success, its default), end each read
	 * whose completion has DW0 and DW1 zero with C2HData SUCCESS and send no
	 * CapsuleResp, although the host kept SQ flow control on. */
	SPDK_C2H_SUCCESS,
};

static const char *names[] = {"undefined PDU type", "response for an unknown command ID", "C2HData past the buffer",
			      "connection closed mid-transfer", "no response", "CapsuleResp with a bad HLEN",
			      "Identify with another cntlid",
			      "Read answered with an undefined PDU type", "Read answered for an unknown command ID",
			      "Read data past the buffer", "Read connection closed mid-transfer",
			      "C2HData SUCCESS with SQ flow control on"};

struct fake {
	int lfd;
	int port;
	enum misbehaviour how;
	pthread_t conns[8];
	int nconns;
};

struct conn {
	struct fake *f;
	int fd;
};

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void send_resp(int fd, uint16_t cid, uint16_t sqhd, uint32_t dw0, uint32_t dw1, uint16_t status)
{
	struct nvme_tcp_capsule_resp r = {0};
	r.ch.pdu_type = NVME_TCP_PDU_CAPSULE_RESP;
	r.ch.hlen = sizeof(r);
	r.ch.plen = sizeof(r);
	r.cqe.cdw0 = dw0;
	r.cqe.cdw1 = dw1;
	r.cqe.cid = cid;
	r.cqe.sqhd = sqhd;
	r.cqe.status = status;
	write_full(fd, &r, sizeof(r));
}

static void send_c2h_flags(int fd, uint16_t cid, uint32_t off, const void *data, uint32_t len, uint8_t flags)
{
	struct nvme_tcp_data_pdu h = {0};
	h.ch.pdu_type = NVME_TCP_PDU_C2H_DATA;
	h.ch.flags = flags;
	h.ch.hlen = sizeof(h);
	h.ch.pdo = sizeof(h);
	h.ch.plen = sizeof(h) + len;
	h.cccid = cid;
	h.datao = off;
	h.datal = len;
	write_full(fd, &h, sizeof(h));
	write_full(fd, data, len);
}

static void send_c2h(int fd, uint16_t cid, uint32_t off, const void *data, uint32_t len, bool last)
{
	send_c2h_flags(fd, cid, off, data, len, last ? NVME_TCP_F_DATA_LAST : 0);
}

/* A successful read's data and completion: SPDK's way (SQHD then counts it all the same) or the usual one. */
static void send_read_ok(int fd, enum misbehaviour how, uint16_t cid, uint16_t sqhd, const void *data, uint32_t len)
{
	if (how == SPDK_C2H_SUCCESS) {
		send_c2h_flags(fd, cid, 0, data, len, NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS);
		return;
	}
	send_c2h(fd, cid, 0, data, len, true);
	send_resp(fd, cid, sqhd, 0, 0, 0);
}

static void identify_data(uint8_t cns, uint8_t *id, enum misbehaviour how)
{
	memset(id, 0, 4096);
	if (cns == NVME_CNS_CONTROLLER) {
		struct nvme_id_ctrl *c = (struct nvme_id_ctrl *)id;
		memset(c->sn, ' ', sizeof(c->sn));
		memset(c->mn, ' ', sizeof(c->mn));
		memcpy(c->mn, "fake", 4);
		c->mdts = 5;
		c->nn = 1;
		c->sgls = NVME_CTRL_SGLS_SUPPORTED | NVME_CTRL_SGLS_TRANSPORT;
		c->ioccsz = 4; /* no in-capsule data for I/O */
		c->iorcsz = 1;
		c->cntrltype = NVME_CTRL_TYPE_IO;
		c->cntlid = how == BAD_CNTLID ? 9 : 1;
		c->kas = 1;
	} else if (cns == NVME_CNS_NAMESPACE) {
		struct nvme_id_ns *ns = (struct nvme_id_ns *)id;
		ns->nsze = ns->ncap = ns->nuse = 1024;
		ns->lbaf[0].lbads = 9;
	} else if (cns == NVME_CNS_ACTIVE_NS_LIST) {
		((uint32_t *)id)[0] = 1;
	}
}

/* Serve one connection, playing a controller until the chosen step. */
static void *serve_conn(void *arg)
{
	struct conn *cn = arg;
	struct fake *f = cn->f;
	int fd = cn->fd, one = 1;
	free(cn);
	/* Headers and data go in separate writes: without this, Nagle and delayed ACKs
	 * add 40 ms to each command at depth 1. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint8_t *buf = malloc(65536), *id = malloc(131072);
	uint16_t qid = 0, qsize = 32;
	struct nvme_tcp_icreq icreq;
	if (!read_full(fd, &icreq, sizeof(icreq)))
		goto out;
	struct nvme_tcp_icresp icresp = {0};
	icresp.ch.pdu_type = NVME_TCP_PDU_ICRESP;
	icresp.ch.hlen = sizeof(icresp);
	icresp.ch.plen = sizeof(icresp);
	icresp.maxh2cdata = 131072;
	write_full(fd, &icresp, sizeof(icresp));
	uint16_t sqhd = 0;
	uint32_t cc = 0;
	for (;;) {
		struct nvme_tcp_common_header ch;
		if (!read_full(fd, &ch, sizeof(ch)) || ch.plen < sizeof(ch) || ch.plen > 65536)
			break;
		memcpy(buf, &ch, sizeof(ch));
		if (!read_full(fd, buf + sizeof(ch), ch.plen - sizeof(ch)))
			break;
		if (ch.pdu_type != NVME_TCP_PDU_CAPSULE_CMD)
			continue;
		struct nvme_command *sqe = &((struct nvme_tcp_capsule_cmd *)buf)->sqe;
		struct nvmf_fabrics_command *fc = (struct nvmf_fabrics_command *)sqe;
		if (sqe->opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_CONNECT) {
			qid = ((struct nvmf_connect_command *)sqe)->qid;
			qsize = (uint16_t)(((struct nvmf_connect_command *)sqe)->sqsize + 1);
		}
		sqhd = (uint16_t)((sqhd + 1) % qsize);
		if (sqe->opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_CONNECT) {
			send_resp(fd, sqe->cid, sqhd, 1, 0, 0);
		} else if (qid != 0 && sqe->opc == NVME_OPC_READ) {
			memset(id, 0x42, 4096);
			if (f->how == IO_BAD_PDU_TYPE) {
				struct nvme_tcp_common_header bad = {.pdu_type = 0x7e, .hlen = 8, .plen = 8};
				write_full(fd, &bad, sizeof(bad));
			} else if (f->how == IO_UNKNOWN_CID) {
				send_resp(fd, (uint16_t)(sqe->cid + 77), sqhd, 0, 0, 0);
			} else if (f->how == IO_C2H_PAST_BUFFER) {
				send_c2h(fd, sqe->cid, 4000, id, 200, true);
				send_resp(fd, sqe->cid, sqhd, 0, 0, 0);
			} else if (f->how == IO_C2H_PARTIAL_CLOSE) {
				send_c2h(fd, sqe->cid, 0, id, 1536, false);
				usleep(100 * 1000);
				break;
			} else {
				uint32_t len = sqe->dptr.sgl.length;
				if (len > 131072)
					len = 131072;
				memset(id, 0x42, len);
				send_read_ok(fd, f->how, sqe->cid, sqhd, id, len);
			}
		} else if (sqe->opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_PROPERTY_GET) {
			struct nvmf_property_get_command *pg = (struct nvmf_property_get_command *)sqe;
			if (pg->offset == NVME_REG_CAP) {
				if (f->how == BAD_PDU_TYPE) {
					struct nvme_tcp_common_header bad = {.pdu_type = 0x7e, .hlen = 8, .plen = 8};
					write_full(fd, &bad, sizeof(bad));
					continue;
				}
				if (f->how == UNKNOWN_CID) {
					send_resp(fd, (uint16_t)(sqe->cid + 77), sqhd, 0, 0, 0);
					continue;
				}
				if (f->how == SILENT)
					continue;
				if (f->how == BAD_HLEN) {
					struct nvme_tcp_capsule_resp r = {0};
					r.ch.pdu_type = NVME_TCP_PDU_CAPSULE_RESP;
					r.ch.hlen = 40;
					r.ch.plen = 40;
					r.cqe.cid = sqe->cid;
					write_full(fd, &r, sizeof(r));
					write_full(fd, buf, 16);
					continue;
				}
			}
			uint64_t v = 0;
			if (pg->offset == NVME_REG_CAP)
				v = 127 | 1ull << NVME_CAP_TO_SHIFT | NVME_CAP_CSS_NVM;
			else if (pg->offset == NVME_REG_CSTS)
				v = ((cc & NVME_CC_EN) ? NVME_CSTS_RDY : 0) |
				    ((cc & NVME_CC_SHN_MASK) ? NVME_CSTS_SHST_COMPLETE : 0);
			else if (pg->offset == NVME_REG_VS)
				v = NVME_VS(1, 3, 0);
			send_resp(fd, sqe->cid, sqhd, (uint32_t)v, (uint32_t)(v >> 32), 0);
		} else if (sqe->opc == NVME_OPC_FABRICS && fc->fctype == NVMF_FCTYPE_PROPERTY_SET) {
			cc = (uint32_t)((struct nvmf_property_set_command *)sqe)->value;
			send_resp(fd, sqe->cid, sqhd, 0, 0, 0);
		} else if (sqe->opc == NVME_OPC_IDENTIFY) {
			identify_data((uint8_t)sqe->cdw10, id, f->how);
			if (f->how == C2H_PAST_BUFFER) {
				send_c2h(fd, sqe->cid, 4000, id, 200, true);
				send_resp(fd, sqe->cid, sqhd, 0, 0, 0);
			} else if (f->how == C2H_PARTIAL_CLOSE) {
				send_c2h(fd, sqe->cid, 0, id, 2048, false);
				usleep(100 * 1000);
				break;
			} else {
				send_read_ok(fd, f->how, sqe->cid, sqhd, id, 4096);
			}
		} else if (sqe->opc == NVME_OPC_SET_FEATURES || sqe->opc == NVME_OPC_GET_FEATURES ||
			   sqe->opc == NVME_OPC_KEEP_ALIVE) {
			send_resp(fd, sqe->cid, sqhd, 0, 0, 0); /* Number of Queues: 1 */
		} else {
			send_resp(fd, sqe->cid, sqhd, 0, 0, NVME_STATUS(0, NVME_SC_INVALID_OPCODE));
		}
	}
out:
	/* Let the host see the end of the stream after what it was sent. */
	usleep(200 * 1000);
	close(fd);
	free(buf);
	free(id);
	return NULL;
}

/* Accept connections (admin, then I/O) until the listener is shut down. */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	while (f->nconns < 8) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		struct conn *cn = malloc(sizeof(*cn));
		cn->f = f;
		cn->fd = fd;
		pthread_create(&f->conns[f->nconns++], NULL, serve_conn, cn);
	}
	for (int i = 0; i < f->nconns; i++)
		pthread_join(f->conns[i], NULL);
	return NULL;
}

static void fake_stop(struct fake *f, pthread_t th)
{
	shutdown(f->lfd, SHUT_RDWR); /* wakes accept() */
	pthread_join(th, NULL);
	close(f->lfd);
}

static int fake_listen(struct fake *f)
{
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	if (bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(f->lfd, 4) ||
	    getsockname(f->lfd, (struct sockaddr *)&sin, &sl))
		return -1;
	f->port = ntohs(sin.sin_port);
	return 0;
}

static void run_library(enum misbehaviour how, const char *expect_what)
{
	struct fake f = {.how = how};
	if (fake_listen(&f)) {
		CHECK(0, "listen");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);
	struct nvmf_host_addr addr;
	char uri[128], err[1024] = "";
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/nqn.2024-01.io.test:fake", f.port);
	nvmf_host_parse_address(uri, &addr, err, sizeof(err));
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.nr_io_queues = 0;
	o.timeout_ms = 1500;
	struct nvmf_host_ctrl *c = NULL;
	int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
	CHECK(rc != 0 && c == NULL && strstr(err, expect_what) != NULL, "%s: connect fails: \"%s\"", names[how], err);
	if (c)
		nvmf_host_disconnect(c);
	fake_stop(&f, th);
}

/* Connect works; the first Read on the I/O queue meets the misbehaviour. */
static void run_library_io(enum misbehaviour how, const char *expect_what)
{
	struct fake f = {.how = how};
	if (fake_listen(&f)) {
		CHECK(0, "listen");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);
	struct nvmf_host_addr addr;
	char uri[128], err[1024] = "";
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/nqn.2024-01.io.test:fake", f.port);
	nvmf_host_parse_address(uri, &addr, err, sizeof(err));
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.nr_io_queues = 1;
	o.timeout_ms = 1500;
	struct nvmf_host_ctrl *c = NULL;
	int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
	CHECK(rc == 0, "%s: connect to the fake controller %s", names[how], err);
	if (rc == 0) {
		struct nvmf_host_qpair *q = nvmf_host_ctrl_io_qpair(c, 0);
		uint8_t *buf = calloc(1, 4096);
		struct nvmf_host_completion cpl = {0};
		rc = nvmf_host_read_sync(q, 1, 0, 8, buf, 4096, &cpl);
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s (%zu bytes moved)", nvmf_host_qpair_error(q), cpl.transferred);
		CHECK(rc < 0 && strstr(msg, expect_what), "%s: read fails: \"%s\"", names[how], msg);
		/* The admin queue is unaffected: a clean shutdown still works. */
		CHECK(nvmf_host_disconnect(c) == 0, "%s: clean shutdown afterwards", names[how]);
		free(buf);
	}
	fake_stop(&f, th);
}

struct spdk_reads {
	unsigned done, bad;
};

static void spdk_read_done(void *arg, const struct nvmf_host_completion *cpl)
{
	struct spdk_reads *r = arg;
	r->done++;
	if (cpl->error || cpl->status || cpl->transferred != 4096)
		r->bad++;
}

/* SPDK's C2HData SUCCESS with SQ flow control on: Identify and reads complete, far past
 * the queue size, synchronously and at the queue's full depth. */
static void run_library_spdk(void)
{
	struct fake f = {.how = SPDK_C2H_SUCCESS};
	if (fake_listen(&f)) {
		CHECK(0, "listen");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);
	struct nvmf_host_addr addr;
	char uri[128], err[1024] = "";
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/nqn.2024-01.io.test:fake", f.port);
	nvmf_host_parse_address(uri, &addr, err, sizeof(err));
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	o.nr_io_queues = 1;
	o.io_qsize = 8;
	o.timeout_ms = 5000;
	struct nvmf_host_ctrl *c = NULL;
	int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
	CHECK(rc == 0, "%s: connect (Identify by SUCCESS) %s", names[SPDK_C2H_SUCCESS], err);
	if (rc) {
		fake_stop(&f, th);
		return;
	}
	uint8_t id[4096];
	rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = nvmf_host_identify(c, NVME_CNS_CONTROLLER, 0, 0, id);
	CHECK(rc == 0 && memcmp(((struct nvme_id_ctrl *)id)->mn, "fake", 4) == 0,
	      "%s: 100 Identify on an admin queue of 32: %s", names[SPDK_C2H_SUCCESS], nvmf_host_ctrl_error(c));
	struct nvmf_host_qpair *q = nvmf_host_ctrl_io_qpair(c, 0);
	static uint8_t bufs[8][4096];
	struct nvmf_host_completion cpl = {0};
	rc = 0;
	for (int i = 0; i < 50 && rc == 0; i++) {
		bufs[0][4095] = 0;
		rc = nvmf_host_read_sync(q, 1, (uint64_t)i, 8, bufs[0], 4096, &cpl);
		if (rc == 0 && (cpl.status || bufs[0][4095] != 0x42))
			rc = -EIO;
	}
	CHECK(rc == 0, "%s: 50 reads at depth 1 on an I/O queue of 8: %s", names[SPDK_C2H_SUCCESS],
	      nvmf_host_qpair_error(q));
	/* At the queue's depth: every slot busy, refilled as completions come. */
	struct spdk_reads r = {0};
	unsigned depth = nvmf_host_qpair_depth(q), sent = 0;
	for (int spin = 0; r.done < 2000 && spin < 100000; spin++) {
		while (sent < 2000 && nvmf_host_qpair_outstanding(q) < depth) {
			if (nvmf_host_read(q, 1, sent % 1024, 8, bufs[sent % depth], 4096, spdk_read_done, &r))
				break;
			sent++;
		}
		if (nvmf_host_qpair_wait(q, 5000) < 0)
			break;
	}
	CHECK(r.done == 2000 && r.bad == 0, "%s: 2000 reads at depth %u: %u done, %u bad %s", names[SPDK_C2H_SUCCESS],
	      depth, r.done, r.bad, nvmf_host_qpair_error(q));
	CHECK(nvmf_host_disconnect(c) == 0, "%s: clean shutdown", names[SPDK_C2H_SUCCESS]);
	fake_stop(&f, th);
}

/* nvmf identify and nvmf perf against the SPDK-like target: exit status 0. */
static void run_command_spdk(const char *nvmf, bool perf)
{
	struct fake f = {.how = SPDK_C2H_SUCCESS};
	if (fake_listen(&f)) {
		CHECK(0, "listen");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);
	char uri[128];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/nqn.2024-01.io.test:fake", f.port);
	int pfd[2];
	if (pipe(pfd))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		if (perf)
			execl(nvmf, nvmf, "perf", uri, "-q", "16", "-o", "4096", "-w", "randread", "-n", "3000",
			      "--timeout", "5000", (char *)NULL);
		else
			execl(nvmf, nvmf, "identify", uri, "--timeout", "5000", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char out[8192] = "";
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1 && (n = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		  (perf ? strstr(out, "I/Os: 3000 (3000 reads, 0 writes)") && strstr(out, "errors 0;")
			: strstr(out, "fake") != NULL);
	CHECK(ok, "nvmf %s vs %s: exit %d", perf ? "perf -q 16 -n 3000" : "identify", names[SPDK_C2H_SUCCESS],
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if (!ok)
		printf("%s\n", out);
	fake_stop(&f, th);
}

/* The command against the fake target: exit status 1 and a message, no signal. */
static void run_command(const char *nvmf, enum misbehaviour how)
{
	bool io = how >= IO_BAD_PDU_TYPE;
	struct fake f = {.how = how};
	if (fake_listen(&f)) {
		CHECK(0, "listen");
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);
	char uri[128];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/nqn.2024-01.io.test:fake", f.port);
	int pfd[2];
	if (pipe(pfd))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		if (io)
			execl(nvmf, nvmf, "read", uri, "--nsid", "1", "--lba", "0", "--count", "8", "-o", "/dev/null",
			      "--timeout", "1500", (char *)NULL);
		else
			execl(nvmf, nvmf, "identify", uri, "--timeout", "1500", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char out[2048] = "";
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1 && (n = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	out[strcspn(out, "\n")] = '\0';
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(out, io ? "nvmf read: " : "nvmf identify: "),
	      "nvmf %s vs %s: exit %d: \"%s\"", io ? "read" : "identify", names[how],
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
	fake_stop(&f, th);
}

int main(int argc, char **argv)
{
	run_library(BAD_PDU_TYPE, "Property Get CAP (0x0)");
	run_library(UNKNOWN_CID, "Property Get CAP (0x0)");
	run_library(BAD_HLEN, "Property Get CAP (0x0)");
	run_library(SILENT, "timed out");
	run_library(C2H_PAST_BUFFER, "Identify Controller");
	run_library(C2H_PARTIAL_CLOSE, "after 2048 of 4096 bytes");
	run_library(BAD_CNTLID, "cntlid 9 does not match the 1 Connect returned");
	run_library_io(IO_BAD_PDU_TYPE, "I/O queue 1: connection failed");
	run_library_io(IO_UNKNOWN_CID, "I/O queue 1: connection failed");
	run_library_io(IO_C2H_PAST_BUFFER, "I/O queue 1: connection failed");
	run_library_io(IO_C2H_PARTIAL_CLOSE, "(1536 bytes moved)");
	run_library_spdk();
	if (argc > 1 && access(argv[1], X_OK) == 0) {
		run_command(argv[1], BAD_PDU_TYPE);
		run_command(argv[1], UNKNOWN_CID);
		run_command(argv[1], C2H_PAST_BUFFER);
		run_command(argv[1], IO_UNKNOWN_CID);
		run_command(argv[1], IO_C2H_PAST_BUFFER);
		run_command(argv[1], IO_C2H_PARTIAL_CLOSE);
		run_command_spdk(argv[1], false);
		run_command_spdk(argv[1], true);
	}
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
