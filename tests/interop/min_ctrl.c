/*
 * min_ctrl: a minimal NVMe/TCP controller for interop tests, built only on
 * the blocking API of <nvmf/transport.h>.
 *
 * It listens on 127.0.0.1:PORT, accepts connections one after another,
 * completes the ICReq/ICResp exchange and the Fabrics Connect (admin queue,
 * discovery NQN or the NQN given with --subnqn), then answers what follows:
 * Property Get of CAP/VS/CC/CSTS with plausible values, Property Set of CC
 * with success, Disconnect and Keep Alive with success, anything else with
 * Invalid Opcode (or Invalid Field for an unknown Fabrics command).  It
 * implements no Identify, so a host gives up after its first Identify; that
 * is expected.  Every step is logged on stdout, one line each:
 *
 *   LISTEN port=4420
 *   ACCEPT peer=127.0.0.1:53422
 *   ICREQ-OK hdgst=0 ddgst=0
 *   CONNECT qid=0 sqsize=31 kato=0 cattr=0x00 flags=0x40 sgl=0x01/1024 cntlid=0xffff subnqn=... hostnqn=...
 *   CMD opc=0x7f fctype=4 cid=1 prop=0x0 size=8 -> 0x...
 *   CLOSED cmds=5 reason=...
 *   RESULT icreq=1 connect=1 cmds=5 ok=1
 *
 * Exit status 0 when at least one connection got through the ICReq, a
 * Connect (with --expect-hostnqn: from that host NQN; with --expect-digests:
 * with both digests) and at least one command after the Connect; 1 otherwise;
 * 2 on usage or setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nvmf/fabrics_spec.h>
#include <nvmf/nvme_spec.h>
#include <nvmf/transport.h>

#define MIN_CTRL_CNTLID 1

struct options {
	const char *bind_addr;
	int port;
	const char *port_file;
	const char *subnqn;
	const char *expect_hostnqn;
	bool expect_digests;
	int timeout_s;
	int conns;
};

struct regs {
	uint64_t cap;
	uint32_t vs;
	uint32_t cc;
	uint32_t csts;
};

struct result {
	int icreq;
	int connect;
	unsigned cmds;
	bool ok;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remaining_ms(double deadline)
{
	double r = deadline - now_s();
	if (r <= 0)
		return 0;
	return (int)(r * 1000) + 1;
}

/* Copy a fixed-size NQN field into a NUL-terminated string. */
static void nqn_copy(char *dst, const char *src)
{
	memcpy(dst, src, NVME_NQN_FIELD);
	dst[NVME_NQN_FIELD] = '\0';
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--bind ADDR] [--port PORT|0] [--port-file FILE] [--subnqn NQN]\n"
		"          [--expect-hostnqn NQN] [--expect-digests] [--timeout SEC] [--conns N]\n",
		prog);
}

static uint16_t property_get(const struct nvmf_property_get_command *cmd, struct regs *r, uint64_t *value)
{
	unsigned size = (cmd->attrib & 0x7) == NVMF_PROP_SIZE_8 ? 8 : 4;

	switch (cmd->offset) {
	case NVME_REG_CAP:
		*value = r->cap;
		break;
	case NVME_REG_VS:
		*value = r->vs;
		break;
	case NVME_REG_CC:
		*value = r->cc;
		break;
	case NVME_REG_CSTS:
		*value = r->csts;
		break;
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	}
	if (size == 4 && cmd->offset == NVME_REG_CAP)
		*value &= 0xffffffffu;
	return 0;
}

static uint16_t property_set(const struct nvmf_property_set_command *cmd, struct regs *r)
{
	if (cmd->offset != NVME_REG_CC)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	r->cc = (uint32_t)cmd->value;
	r->csts = (r->cc & NVME_CC_EN) ? NVME_CSTS_RDY : 0;
	if (r->cc & NVME_CC_SHN_MASK)
		r->csts |= NVME_CSTS_SHST_COMPLETE;
	return 0;
}

static const char *fctype_name(uint8_t fctype)
{
	switch (fctype) {
	case NVMF_FCTYPE_PROPERTY_SET:
		return "PropertySet";
	case NVMF_FCTYPE_CONNECT:
		return "Connect";
	case NVMF_FCTYPE_PROPERTY_GET:
		return "PropertyGet";
	case NVMF_FCTYPE_AUTH_SEND:
		return "AuthSend";
	case NVMF_FCTYPE_AUTH_RECEIVE:
		return "AuthReceive";
	case NVMF_FCTYPE_DISCONNECT:
		return "Disconnect";
	default:
		return "?";
	}
}

static const char *admin_name(uint8_t opc)
{
	switch (opc) {
	case NVME_OPC_GET_LOG_PAGE:
		return "GetLogPage";
	case NVME_OPC_IDENTIFY:
		return "Identify";
	case NVME_OPC_SET_FEATURES:
		return "SetFeatures";
	case NVME_OPC_GET_FEATURES:
		return "GetFeatures";
	case NVME_OPC_ASYNC_EVENT_REQUEST:
		return "AER";
	case NVME_OPC_KEEP_ALIVE:
		return "KeepAlive";
	default:
		return "?";
	}
}

/* Answer one command after the Connect.  Returns 0, or a negative errno when sending failed. */
static int handle_command(struct nvmf_capsule *nc, struct regs *r)
{
	const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
	struct nvme_completion cqe;
	uint16_t status = 0;

	memset(&cqe, 0, sizeof(cqe));
	if (sqe->opc == NVME_OPC_FABRICS) {
		const struct nvmf_fabrics_command *fc = (const void *)sqe;
		printf("CMD opc=0x%02x fctype=%u (%s) cid=%u", sqe->opc, fc->fctype, fctype_name(fc->fctype), sqe->cid);
		switch (fc->fctype) {
		case NVMF_FCTYPE_PROPERTY_GET: {
			const struct nvmf_property_get_command *pg = (const void *)sqe;
			uint64_t v = 0;
			status = property_get(pg, r, &v);
			cqe.cdw0 = (uint32_t)v;
			cqe.cdw1 = (uint32_t)(v >> 32);
			printf(" prop=0x%x size=%u -> 0x%llx", pg->offset, (pg->attrib & 0x7) == NVMF_PROP_SIZE_8 ? 8 : 4,
			       (unsigned long long)v);
			break;
		}
		case NVMF_FCTYPE_PROPERTY_SET: {
			const struct nvmf_property_set_command *ps = (const void *)sqe;
			status = property_set(ps, r);
			printf(" prop=0x%x value=0x%llx", ps->offset, (unsigned long long)ps->value);
			break;
		}
		case NVMF_FCTYPE_DISCONNECT:
			break;
		default:
			status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
			break;
		}
	} else {
		printf("CMD opc=0x%02x (%s) cid=%u nsid=%u cdw10=0x%x", sqe->opc, admin_name(sqe->opc), sqe->cid, sqe->nsid,
		       sqe->cdw10);
		if (sqe->opc == NVME_OPC_KEEP_ALIVE)
			status = 0;
		else
			status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
	printf(" status=0x%04x\n", status);
	fflush(stdout);
	cqe.status = status;
	return nvmf_controller_send_response(nc, &cqe);
}

/* One connection: handshake, Connect, then commands until the host goes away. */
static void serve(struct nvmf_association *na, int fd, const struct options *o, double deadline, struct result *res)
{
	struct nvmf_qpair *qp = NULL;
	struct nvmf_capsule *nc = NULL;
	struct regs r = {
		.cap = 127u /* MQES: 128 entries */ | NVME_CAP_CQR | (15ull << NVME_CAP_TO_SHIFT) /* 7.5 s */ |
		       NVME_CAP_CSS_NVM,
		.vs = NVME_VS(1, 3, 0),
	};
	unsigned cmds = 0;
	int rc;

	rc = nvmf_accept(na, fd, remaining_ms(deadline), &qp, &nc);
	if (rc != 0) {
		printf("ACCEPT-FAILED rc=%d (%s)\n", rc, strerror(rc < 0 ? -rc : rc));
		fflush(stdout);
		return;
	}
	bool hd = nvmf_qpair_header_digests(qp), dd = nvmf_qpair_data_digests(qp);
	printf("ICREQ-OK hdgst=%d ddgst=%d\n", hd, dd);
	res->icreq++;

	const struct nvmf_connect_command *cc = (const void *)nvmf_capsule_sqe(nc);
	size_t dlen = 0;
	const struct nvmf_connect_data *cd = nvmf_capsule_incapsule_data(nc, &dlen);
	char subnqn[NVME_NQN_FIELD + 1] = "", hostnqn[NVME_NQN_FIELD + 1] = "";
	uint16_t status = 0;

	if (cc->opc != NVME_OPC_FABRICS || cc->fctype != NVMF_FCTYPE_CONNECT) {
		printf("CONNECT-BAD opc=0x%02x fctype=%u: not a Connect\n", cc->opc, cc->fctype);
		status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR) | NVME_STATUS_DNR;
	} else if (cd == NULL || dlen != sizeof(*cd)) {
		printf("CONNECT-BAD data length %zu (want 1024 in-capsule)\n", cd ? dlen : (size_t)0);
		status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID) | NVME_STATUS_DNR;
	} else {
		nqn_copy(subnqn, cd->subnqn);
		nqn_copy(hostnqn, cd->hostnqn);
		printf("CONNECT qid=%u sqsize=%u kato=%u cattr=0x%02x flags=0x%02x sgl=0x%02x/%u cntlid=0x%04x subnqn=%s "
		       "hostnqn=%s\n",
		       cc->qid, cc->sqsize, cc->kato, cc->cattr, cc->flags, cc->sgl.type, cc->sgl.length, cd->cntlid, subnqn,
		       hostnqn);
		bool nqn_ok = strcmp(subnqn, NVME_DISCOVERY_NQN) == 0 || (o->subnqn && strcmp(subnqn, o->subnqn) == 0);
		if (cc->qid != 0) {
			printf("CONNECT-BAD qid %u: only the admin queue is served\n", cc->qid);
			status = NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS) | NVME_STATUS_DNR;
		} else if (!nqn_ok) {
			printf("CONNECT-BAD unknown subsystem %s\n", subnqn);
			status = NVME_STATUS(NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS) | NVME_STATUS_DNR;
		}
	}
	struct nvme_completion cqe;
	memset(&cqe, 0, sizeof(cqe));
	cqe.status = status;
	if (status == 0) {
		cqe.cdw0 = MIN_CTRL_CNTLID;
	} else if (NVME_STATUS_GET_SC(status) == NVMF_SC_CONNECT_INVALID_PARAMETERS) {
		/* IATTR 1 (Connect data), IPO: offset of SUBNQN or of QID */
		cqe.cdw0 = cc->qid != 0 ? (44u << 16) : (NVMF_CONNECT_IATTR_DATA | (256u << 16));
	}
	rc = nvmf_controller_send_response(nc, &cqe);
	nvmf_capsule_free(nc);
	nc = NULL;
	printf("CONNECT-RESPONSE status=0x%04x cntlid=%u rc=%d\n", status, status == 0 ? MIN_CTRL_CNTLID : 0, rc);
	fflush(stdout);
	if (rc != 0 || status != 0) {
		nvmf_qpair_free(qp);
		return;
	}
	bool connect_ok = true;
	if (o->expect_hostnqn && strcmp(hostnqn, o->expect_hostnqn) != 0) {
		printf("EXPECT-FAILED hostnqn %s, want %s\n", hostnqn, o->expect_hostnqn);
		connect_ok = false;
	}
	if (o->expect_digests && !(hd && dd)) {
		printf("EXPECT-FAILED digests hdgst=%d ddgst=%d, want both\n", hd, dd);
		connect_ok = false;
	}
	if (connect_ok)
		res->connect++;

	const char *reason = "timeout";
	for (;;) {
		int ms = remaining_ms(deadline);
		if (ms <= 0)
			break;
		rc = nvmf_controller_receive_capsule(qp, &nc, ms);
		if (rc != 0) {
			reason = rc == -ETIMEDOUT ? "timeout" : strerror(-rc);
			if (nvmf_qpair_failed(qp) && nvmf_qpair_error(qp)[0])
				reason = nvmf_qpair_error(qp);
			break;
		}
		cmds++;
		rc = handle_command(nc, &r);
		nvmf_capsule_free(nc);
		nc = NULL;
		if (rc != 0) {
			reason = "send failed";
			break;
		}
	}
	printf("CLOSED cmds=%u reason=%s\n", cmds, reason);
	fflush(stdout);
	nvmf_qpair_free(qp);
	res->cmds += cmds;
	if (connect_ok && cmds > 0)
		res->ok = true;
}

int main(int argc, char **argv)
{
	struct options o = {.bind_addr = "127.0.0.1", .port = 4420, .timeout_s = 60, .conns = 1};
	static const struct option lopts[] = {
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'P'},
		{"subnqn", required_argument, NULL, 'n'},
		{"expect-hostnqn", required_argument, NULL, 'H'},
		{"expect-digests", no_argument, NULL, 'D'},
		{"timeout", required_argument, NULL, 't'},
		{"conns", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "b:p:P:n:H:Dt:c:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.bind_addr = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'P':
			o.port_file = optarg;
			break;
		case 'n':
			o.subnqn = optarg;
			break;
		case 'H':
			o.expect_hostnqn = optarg;
			break;
		case 'D':
			o.expect_digests = true;
			break;
		case 't':
			o.timeout_s = atoi(optarg);
			break;
		case 'c':
			o.conns = atoi(optarg);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (o.port < 0 || o.port > 65535 || o.timeout_s <= 0 || o.conns <= 0) {
		usage(argv[0]);
		return 2;
	}

	struct nvmf_association_params ap = {
		.sq_flow_control = false, /* hosts may disable SQ flow control */
		.header_digests = true,	  /* accept the digests a host asks for */
		.data_digests = true,
		.pda = 0,
		.maxr2t = 0,
		.maxh2cdata = 131072,
		.ioccsz = 8192,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &ap);
	if (na == NULL) {
		fprintf(stderr, "min_ctrl: nvmf_association_create: %s\n", strerror(errno));
		return 2;
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
	if (lfd < 0 || inet_pton(AF_INET, o.bind_addr, &sin.sin_addr) != 1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 8) != 0) {
		fprintf(stderr, "min_ctrl: listen on %s:%d: %s\n", o.bind_addr, o.port, strerror(errno));
		return 2;
	}
	socklen_t sl = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	printf("LISTEN port=%u\n", ntohs(sin.sin_port));
	if (o.port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", o.port_file);
		FILE *f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%u\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0 ||
		    rename(tmp, o.port_file) != 0) {
			fprintf(stderr, "min_ctrl: %s: %s\n", o.port_file, strerror(errno));
			return 2;
		}
	}

	double deadline = now_s() + o.timeout_s;
	struct result res = {0};
	for (int n = 0; n < o.conns;) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		int ms = remaining_ms(deadline);
		if (ms <= 0)
			break;
		int pr = poll(&pfd, 1, ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		char pa[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &peer.sin_addr, pa, sizeof(pa));
		printf("ACCEPT peer=%s:%u\n", pa, ntohs(peer.sin_port));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve(na, fd, &o, deadline, &res);
		n++;
	}
	close(lfd);
	nvmf_association_free(na);
	printf("RESULT icreq=%d connect=%d cmds=%u ok=%d\n", res.icreq, res.connect, res.cmds, res.ok);
	return res.ok ? 0 : 1;
}
