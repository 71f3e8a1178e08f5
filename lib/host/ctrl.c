/* Associations: connect (the Linux host's sequence), keep alive, reconnect, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/auth_spec.h>
#include <openssl/crypto.h>

#include "auth/tls.h"

#include "host_internal.h"
#include "util/clock.h"

void host_set_error(struct nvmf_host_ctrl *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

/* A connected, non-blocking TCP socket, or a negative errno with a message. */
static int tcp_connect(struct nvmf_host_ctrl *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	struct addrinfo *res = NULL;
	hints.ai_family = c->addr.adrfam == NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(c->addr.traddr, c->addr.trsvcid, &hints, &res);
	if (gai) {
		host_set_error(c, "cannot resolve %s:%s: %s", c->addr.traddr, c->addr.trsvcid, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	int rc = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			close(fd);
			continue;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 10000);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (n <= 0) {
			rc = n == 0 ? -ETIMEDOUT : -errno;
			close(fd);
			continue;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			rc = -soerr;
			close(fd);
			continue;
		}
		freeaddrinfo(res);
		return fd;
	}
	freeaddrinfo(res);
	host_set_error(c, "cannot connect to %s:%s: %s", c->addr.traddr, c->addr.trsvcid, strerror(-rc));
	return rc;
}

/* Which parameter a Connect Invalid Parameters response points at (DW0: IATTR 23:16, IPO 15:0). */
static void connect_param_name(uint32_t dw0, char *buf, size_t len)
{
	bool in_data = (dw0 >> 16) & NVMF_CONNECT_IATTR_DATA;
	unsigned ipo = dw0 & 0xffff;
	const char *what = "unknown";
	if (in_data) {
		if (ipo == offsetof(struct nvmf_connect_data, cntlid))
			what = "cntlid";
		else if (ipo == offsetof(struct nvmf_connect_data, subnqn))
			what = "subnqn";
		else if (ipo == offsetof(struct nvmf_connect_data, hostnqn))
			what = "hostnqn";
		else if (ipo < 16)
			what = "hostid";
	} else {
		if (ipo == offsetof(struct nvmf_connect_command, qid))
			what = "qid";
		else if (ipo == offsetof(struct nvmf_connect_command, sqsize))
			what = "sqsize";
		else if (ipo == offsetof(struct nvmf_connect_command, kato))
			what = "kato";
		else if (ipo == offsetof(struct nvmf_connect_command, cattr))
			what = "cattr";
	}
	snprintf(buf, len, "; invalid %s parameter at offset %u: %s", in_data ? "data" : "command", ipo, what);
}

/* Transport handshake and Fabrics Connect of one queue. */
static int connect_queue(struct nvmf_host_ctrl *c, struct nvmf_host_qpair *hq)
{
	if (c->addr.trtype == NVMF_TRTYPE_VFIO_USER)
		return host_vu_connect_queue(c, hq);
	int fd = tcp_connect(c);
	if (fd < 0)
		return fd;
	struct nvmf_connect_params cp = {
		.qid = hq->qid,
		.qsize = hq->qsize,
		.cntlid = hq->qid == 0 ? NVMF_CNTLID_DYNAMIC : c->cntlid,
		.subnqn = c->addr.subnqn,
		.hostnqn = c->opts.hostnqn,
		.kato_ms = hq->qid == 0 ? c->opts.kato_ms : 0,
		.timeout_ms = c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 10000,
	};
	memcpy(cp.hostid, c->opts.hostid, 16);
	if (c->opts.tls_key[0]) {
		struct nvmf_tls_configured_psk psk;
		int prc = nvmf_tls_psk_parse(c->opts.tls_key, &psk);
		cp.tls = prc ? NULL
			     : nvmf_tls_client_ssl(&psk, c->opts.hostnqn, c->addr.subnqn, c->opts.tls_identity,
						   c->opts.tls_tp8011 ? NVMF_TLS_KDF_TP8011 : NVMF_TLS_KDF_NVME_CLI);
		OPENSSL_cleanse(&psk, sizeof(psk));
		if (!cp.tls) {
			close(fd);
			host_set_error(c, "%s", prc ? "the TLS key is not a valid NVMeTLSkey-1 PSK" : "cannot set up TLS");
			return -EINVAL;
		}
	}
	struct nvmf_qpair *qp = NULL;
	struct nvme_completion cqe = {0};
	uint16_t cntlid = 0;
	int rc = nvmf_connect(c->na, fd, &cp, &qp, &cntlid, &cqe);
	if (rc > 0) {
		char st[256], why[96] = "";
		nvmf_host_status_format((uint16_t)rc, true, st, sizeof(st));
		if (NVME_STATUS_GET_SCT(rc) == NVME_SCT_COMMAND_SPECIFIC &&
		    NVME_STATUS_GET_SC(rc) == NVMF_SC_CONNECT_INVALID_PARAMETERS)
			connect_param_name(cqe.cdw0, why, sizeof(why));
		host_set_error(c, "Connect (queue %u) to %s:%s subsystem %s rejected: %s%s", hq->qid, c->addr.traddr,
			       c->addr.trsvcid, c->addr.subnqn, st, why);
		return rc;
	}
	if (rc < 0) {
		host_set_error(c, "Connect (queue %u) to %s:%s failed: %s", hq->qid, c->addr.traddr, c->addr.trsvcid,
			       c->opts.tls_key[0] ? "the TLS handshake or the connection failed" : strerror(-rc));
		return rc;
	}
	/* The controller asks for authentication; a host that wants the controller's proof asks anyway. */
	bool asked = (cqe.cdw0 & (NVMF_CONNECT_AUTHREQ_ATR | NVMF_CONNECT_AUTHREQ_ASCR)) != 0;
	if (asked && !host_auth_configured(c)) {
		host_set_error(c, "Connect (queue %u) to %s: the controller requires authentication; no DH-HMAC-CHAP "
				  "secret given", hq->qid, c->addr.subnqn);
		nvmf_qpair_free(qp);
		return -EACCES;
	}
	if ((asked || c->opts.dhchap_ctrl_secret[0]) && (rc = host_authenticate_new_queue(c, hq->qid, qp))) {
		nvmf_qpair_free(qp);
		return rc;
	}
	if (hq->qid == 0)
		c->cntlid = cntlid;
	hq_attach(hq, qp);
	return 0;
}

int host_admin(struct nvmf_host_ctrl *c, const char *what, const struct nvme_command *sqe, void *buf, size_t len,
	       bool send, struct nvmf_host_completion *cpl)
{
	struct nvmf_host_completion local;
	if (!cpl)
		cpl = &local;
	memset(cpl, 0, sizeof(*cpl));
	int rc = hq_exec(&c->admin, sqe, buf, len, send, cpl, c->opts.timeout_ms);
	if (rc > 0) {
		char st[256];
		nvmf_host_status_format((uint16_t)rc, sqe->opc == NVME_OPC_FABRICS, st, sizeof(st));
		host_set_error(c, "%s failed: %s", what, st);
	} else if (rc < 0) {
		const char *why = c->admin.errmsg[0] ? c->admin.errmsg : strerror(-rc);
		if (cpl->transferred)
			host_set_error(c, "%s failed after %zu of %zu bytes: %s", what, cpl->transferred, len, why);
		else
			host_set_error(c, "%s failed: %s", what, why);
	}
	return rc;
}

static const char *reg_name(uint32_t offset)
{
	switch (offset) {
	case NVME_REG_CAP:
		return "CAP ";
	case NVME_REG_VS:
		return "VS ";
	case NVME_REG_CC:
		return "CC ";
	case NVME_REG_CSTS:
		return "CSTS ";
	default:
		return "";
	}
}

int nvmf_host_property_get(struct nvmf_host_ctrl *c, uint32_t offset, bool eight, uint64_t *value)
{
	if (c->addr.trtype == NVMF_TRTYPE_VFIO_USER)
		return host_vu_reg(c, false, offset, eight, value);
	struct nvmf_property_get_command cmd = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_PROPERTY_GET};
	cmd.attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4;
	cmd.offset = offset;
	struct nvmf_host_completion cpl;
	char what[64];
	snprintf(what, sizeof(what), "Property Get %s(0x%x)", reg_name(offset), offset);
	int rc = host_admin(c, what, (const struct nvme_command *)&cmd, NULL, 0, false, &cpl);
	if (rc == 0)
		*value = eight ? (uint64_t)cpl.cdw1 << 32 | cpl.cdw0 : cpl.cdw0;
	return rc;
}

int nvmf_host_property_set(struct nvmf_host_ctrl *c, uint32_t offset, bool eight, uint64_t value)
{
	if (c->addr.trtype == NVMF_TRTYPE_VFIO_USER)
		return host_vu_reg(c, true, offset, eight, &value);
	struct nvmf_property_set_command cmd = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_PROPERTY_SET};
	cmd.attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4;
	cmd.offset = offset;
	cmd.value = value;
	char what[64];
	snprintf(what, sizeof(what), "Property Set %s(0x%x)", reg_name(offset), offset);
	return host_admin(c, what, (const struct nvme_command *)&cmd, NULL, 0, false, NULL);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Poll CSTS until (CSTS & mask) == want, for up to ms. */
static int wait_csts(struct nvmf_host_ctrl *c, uint32_t mask, uint32_t want, int ms, const char *what)
{
	uint64_t deadline = nvmf_clock_ns() + (uint64_t)ms * 1000000ull;
	for (;;) {
		uint64_t csts;
		int rc = nvmf_host_property_get(c, NVME_REG_CSTS, false, &csts);
		if (rc)
			return rc;
		if (csts & NVME_CSTS_CFS) {
			host_set_error(c, "%s: controller fatal status (CSTS 0x%x)", what, (unsigned)csts);
			return -EIO;
		}
		if ((csts & mask) == want)
			return 0;
		if (nvmf_clock_ns() > deadline) {
			host_set_error(c, "%s: timed out after %d ms (CSTS 0x%x)", what, ms, (unsigned)csts);
			return -ETIMEDOUT;
		}
		sleep_ms(10);
	}
}

/* The Linux host's sanity checks on a Fabrics controller's Identify data. */
static int check_identify(struct nvmf_host_ctrl *c)
{
	const struct nvme_id_ctrl *id = &c->id;
	/* Linux's discovery controller reports IOCCSZ 0: capsule sizes matter only for I/O queues. */
	bool discovery = id->cntrltype == NVME_CTRL_TYPE_DISCOVERY || !strcmp(c->addr.subnqn, NVME_DISCOVERY_NQN);
	if (id->cntlid != c->cntlid)
		host_set_error(c, "Identify Controller: cntlid %u does not match the %u Connect returned", id->cntlid,
			       c->cntlid);
	else if (!discovery && id->ioccsz < 4)
		host_set_error(c, "Identify Controller: IOCCSZ %u is below the minimum of 4", id->ioccsz);
	else if (!discovery && id->iorcsz < 1)
		host_set_error(c, "Identify Controller: IORCSZ %u is below the minimum of 1", id->iorcsz);
	else if (id->icdoff)
		host_set_error(c, "Identify Controller: ICDOFF %u is not supported", id->icdoff);
	else if (!(id->sgls & 0x3))
		host_set_error(c, "Identify Controller: SGLS %#x: SGLs are mandatory for NVMe over Fabrics", id->sgls);
	else if (!discovery && !id->kas)
		host_set_error(c, "Identify Controller: KAS is 0: keep alive is mandatory for Fabrics I/O controllers");
	else
		return 0;
	return -EPROTO;
}

/* The whole connect sequence, on queue structures already set up. */
static int establish(struct nvmf_host_ctrl *c, bool first)
{
	struct nvmf_association_params ap = {
		.sq_flow_control = !c->opts.disable_sq_flow_control,
		.header_digests = c->opts.hdgst,
		.data_digests = c->opts.ddgst,
	};
	c->live = false;
	if (c->na)
		nvmf_association_free(c->na);
	c->na = nvmf_association_create(c->addr.trtype, false, &ap);
	if (!c->na) {
		host_set_error(c, "cannot create association: %s", strerror(errno));
		return -errno;
	}
	bool pcie = c->addr.trtype == NVMF_TRTYPE_VFIO_USER;
	int rc = pcie && !c->vu ? host_vu_open(c) : 0;
	if (rc)
		return rc;
	rc = connect_queue(c, &c->admin);
	if (rc)
		return rc;
	if ((rc = nvmf_host_property_get(c, NVME_REG_CAP, true, &c->cap)))
		return rc;
	if (first) {
		/* I/O queue sizes depend on CAP.MQES. */
		unsigned mqes = NVME_CAP_MQES(c->cap) + 1u;
		if (c->opts.io_qsize > mqes)
			c->opts.io_qsize = (uint16_t)mqes;
		for (unsigned i = 0; i < c->nr_ioq; i++) {
			c->ioq[i] = calloc(1, sizeof(struct nvmf_host_qpair));
			if (!c->ioq[i] || hq_init(c->ioq[i], c, (uint16_t)(i + 1), c->opts.io_qsize)) {
				host_set_error(c, "out of memory");
				return -ENOMEM;
			}
		}
	}
	uint32_t cc = NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT;
	if ((rc = nvmf_host_property_set(c, NVME_REG_CC, false, cc)))
		return rc;
	int to_ms = (int)((c->cap >> NVME_CAP_TO_SHIFT) & 0xff) * 500;
	if (to_ms == 0)
		to_ms = 500;
	if ((rc = wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, to_ms, "enabling the controller (CSTS.RDY)")))
		return rc;
	c->ka_next_ns = nvmf_clock_ns() + (uint64_t)c->opts.kato_ms * 500000ull;
	c->live = true;
	if ((rc = nvmf_host_identify(c, NVME_CNS_CONTROLLER, 0, 0, &c->id)))
		return rc;
	if (pcie)
		c->cntlid = c->id.cntlid; /* no Connect told it */
	else if ((rc = check_identify(c)))
		return rc;
	if (pcie && (rc = host_vu_shadow_doorbells(c)))
		return rc;
	if (c->id.ioccsz >= 4)
		nvmf_association_set_ioccsz(c->na, c->id.ioccsz * 16 - 64);
	unsigned mps_min = 12 + (unsigned)((c->cap >> NVME_CAP_MPSMIN_SHIFT) & 0xf);
	c->max_xfer = c->id.mdts ? (c->id.mdts + mps_min >= 32 ? 0 : 1u << (c->id.mdts + mps_min)) : 0;
	if (c->nr_ioq) {
		uint32_t want = c->nr_ioq - 1u;
		uint32_t result = 0;
		rc = nvmf_host_set_features(c, NVME_FEAT_NUM_QUEUES, 0, NVME_FEAT_NUM_QUEUES_VALUE(want, want), false,
					    NULL, 0, &result);
		if (rc)
			return rc;
		unsigned nsq = (result & 0xffff) + 1u, ncq = (result >> 16) + 1u;
		unsigned granted = nsq < ncq ? nsq : ncq;
		if (granted < c->nr_ioq) {
			if (!first) {
				host_set_error(c, "reconnect: controller grants %u I/O queues, had %u", granted,
					       c->nr_ioq);
				return -ENOSPC;
			}
			for (unsigned i = granted; i < c->nr_ioq; i++) {
				hq_destroy(c->ioq[i]);
				free(c->ioq[i]);
				c->ioq[i] = NULL;
			}
			c->nr_ioq = granted;
		}
		for (unsigned i = 0; i < c->nr_ioq; i++)
			if ((rc = connect_queue(c, c->ioq[i])))
				return rc;
	}
	c->ka_next_ns = nvmf_clock_ns() + (uint64_t)c->opts.kato_ms * 500000ull;
	c->ka_outstanding = false;
	c->live = true;
	return 0;
}

int nvmf_host_connect(const struct nvmf_host_addr *addr, const struct nvmf_host_opts *opts,
		      struct nvmf_host_ctrl **ctrlp, char *err, size_t errlen)
{
	*ctrlp = NULL;
	if (addr->subnqn[0] == '\0' && addr->trtype != NVMF_TRTYPE_VFIO_USER) {
		snprintf(err, errlen, "no subsystem NQN given");
		return -EINVAL;
	}
	struct nvmf_host_ctrl *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->owner = pthread_self();
	c->addr = *addr;
	c->opts = *opts;
	if (c->opts.admin_qsize < 2)
		c->opts.admin_qsize = 32;
	if (c->opts.io_qsize < 2)
		c->opts.io_qsize = 128;
	int rc = hq_init(&c->admin, c, 0, c->opts.admin_qsize);
	c->nr_ioq = opts->nr_io_queues;
	if (rc == 0 && c->nr_ioq) {
		c->ioq = calloc(c->nr_ioq, sizeof(*c->ioq));
		if (!c->ioq)
			rc = -ENOMEM;
	}
	if (rc) {
		snprintf(err, errlen, "out of memory");
		hq_destroy(&c->admin);
		free(c);
		return rc;
	}
	if (rc == 0)
		rc = establish(c, true);
	if (rc) {
		snprintf(err, errlen, "%s", c->errmsg);
		for (unsigned i = 0; c->ioq && i < c->nr_ioq; i++)
			if (c->ioq[i]) {
				hq_destroy(c->ioq[i]);
				free(c->ioq[i]);
			}
		free(c->ioq);
		hq_destroy(&c->admin);
		host_vu_close(c);
		if (c->na)
			nvmf_association_free(c->na);
		free(c);
		return rc;
	}
	*ctrlp = c;
	return 0;
}

static void ka_done(void *arg, const struct nvmf_host_completion *cpl)
{
	struct nvmf_host_ctrl *c = arg;
	c->ka_outstanding = false;
	if (cpl->error == 0 && cpl->status) {
		char st[256];
		nvmf_host_status_format(cpl->status, false, st, sizeof(st));
		host_set_error(c, "Keep Alive failed: %s", st);
	}
}

void host_keep_alive(struct nvmf_host_ctrl *c)
{
	/* Only once the controller is enabled: Linux's nvmet rejects Keep Alive while CC.EN is 0. */
	if (!c->opts.kato_ms || !c->live || !c->admin.qp || c->admin.error)
		return;
	uint64_t now = nvmf_clock_ns();
	if (now < c->ka_next_ns || c->ka_outstanding)
		return;
	struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE};
	if (hq_submit(&c->admin, &sqe, NULL, 0, false, ka_done, c) == 0) {
		c->ka_outstanding = true;
		c->ka_sent++;
		nvmf_qpair_flush(c->admin.qp);
	}
	c->ka_next_ns = now + (uint64_t)c->opts.kato_ms * 500000ull;
}

int nvmf_host_ctrl_process(struct nvmf_host_ctrl *c)
{
	host_keep_alive(c);
	int rc = hq_process(&c->admin);
	if (rc < 0) {
		if (c->opts.ctrl_loss_tmo_s > 0 && !c->dead && !c->in_reconnect)
			return nvmf_host_ctrl_reconnect(c);
		snprintf(c->errmsg, sizeof(c->errmsg), "%s", c->admin.errmsg);
		return rc;
	}
	return 0;
}

int nvmf_host_ctrl_fd(const struct nvmf_host_ctrl *c)
{
	return c->admin.qp ? nvmf_qpair_fd(c->admin.qp) : -1;
}

int nvmf_host_ctrl_next_timeout_ms(const struct nvmf_host_ctrl *c)
{
	if (!c->opts.kato_ms)
		return -1;
	uint64_t now = nvmf_clock_ns();
	return now >= c->ka_next_ns ? 0 : (int)((c->ka_next_ns - now) / 1000000ull) + 1;
}

uint64_t nvmf_host_ctrl_keep_alives(const struct nvmf_host_ctrl *c)
{
	return c->ka_sent;
}

static void teardown_queues(struct nvmf_host_ctrl *c)
{
	c->live = false;
	for (unsigned i = 0; i < c->nr_ioq; i++)
		hq_detach(c->ioq[i]);
	hq_detach(&c->admin);
}

int nvmf_host_ctrl_reconnect(struct nvmf_host_ctrl *c)
{
	if (c->dead)
		return -ENOTCONN;
	c->in_reconnect = true;
	char first_error[512];
	snprintf(first_error, sizeof(first_error), "%s", c->admin.error ? c->admin.errmsg : "connection lost");
	for (unsigned i = 0; i < c->nr_ioq; i++)
		if (c->ioq[i]->error)
			snprintf(first_error, sizeof(first_error), "%s", c->ioq[i]->errmsg);
	teardown_queues(c);
	uint64_t deadline = nvmf_clock_ns() + (uint64_t)c->opts.ctrl_loss_tmo_s * 1000000000ull;
	int delay_ms = (c->opts.reconnect_delay_s > 0 ? c->opts.reconnect_delay_s : 1) * 1000;
	int rc = -ENOTCONN;
	while (nvmf_clock_ns() < deadline) {
		sleep_ms(delay_ms);
		rc = establish(c, false);
		if (rc == 0)
			break;
		teardown_queues(c);
	}
	if (rc == 0) {
		c->reconnects++;
		for (unsigned i = 0; i < c->nr_ioq && rc == 0; i++)
			rc = hq_resubmit_held(c->ioq[i]);
	}
	c->in_reconnect = false;
	if (rc) {
		c->dead = true;
		char last[512];
		snprintf(last, sizeof(last), "%s", c->errmsg);
		host_set_error(c, "%s; controller loss timeout (%d s) expired, giving up: %s", first_error,
			       c->opts.ctrl_loss_tmo_s, last);
		for (unsigned i = 0; i < c->nr_ioq; i++) {
			c->ioq[i]->error = -ENOTCONN;
			snprintf(c->ioq[i]->errmsg, sizeof(c->ioq[i]->errmsg), "%s", c->errmsg);
			hq_fail_held(c->ioq[i], -ENOTCONN);
		}
		return rc < 0 ? rc : -ENOTCONN;
	}
	return 0;
}

unsigned nvmf_host_ctrl_reconnects(const struct nvmf_host_ctrl *c)
{
	return c->reconnects;
}

void *nvmf_host_io_buffer(struct nvmf_host_ctrl *c, size_t len)
{
	return host_vu_io_buffer(c, len);
}

int nvmf_host_shutdown(struct nvmf_host_ctrl *c)
{
	if (c->shutdown_done)
		return c->shutdown_rc;
	c->shutdown_done = true;
	/* As Linux: I/O queues go first, then the controller is shut down over the admin queue. */
	for (unsigned i = 0; i < c->nr_ioq; i++)
		hq_detach(c->ioq[i]);
	c->dead = true; /* no reconnecting from here on */
	int rc = -ENOTCONN;
	if (c->admin.qp && !c->admin.error) {
		uint32_t cc = NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT |
			      1u << NVME_CC_SHN_SHIFT;
		rc = nvmf_host_property_set(c, NVME_REG_CC, false, cc);
		if (rc == 0)
			rc = wait_csts(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE, 5000, "shutdown (CSTS.SHST)");
	} else {
		host_set_error(c, "shutdown: admin queue not connected: %s", c->admin.errmsg);
	}
	c->shutdown_rc = rc;
	return rc;
}

int nvmf_host_disconnect(struct nvmf_host_ctrl *c)
{
	if (!c)
		return 0;
	int rc = nvmf_host_shutdown(c);
	for (unsigned i = 0; i < c->nr_ioq; i++) {
		hq_destroy(c->ioq[i]);
		free(c->ioq[i]);
	}
	free(c->ioq);
	hq_destroy(&c->admin);
	host_vu_close(c);
	if (c->na)
		nvmf_association_free(c->na);
	free(c);
	return rc;
}

const char *nvmf_host_ctrl_error(const struct nvmf_host_ctrl *c)
{
	return c->errmsg;
}

uint16_t nvmf_host_ctrl_cntlid(const struct nvmf_host_ctrl *c)
{
	return c->cntlid;
}

const struct nvme_id_ctrl *nvmf_host_ctrl_identify_data(const struct nvmf_host_ctrl *c)
{
	return &c->id;
}

uint64_t nvmf_host_ctrl_cap(const struct nvmf_host_ctrl *c)
{
	return c->cap;
}

uint32_t nvmf_host_ctrl_max_xfer(const struct nvmf_host_ctrl *c)
{
	return c->max_xfer;
}

const struct nvmf_host_addr *nvmf_host_ctrl_addr(const struct nvmf_host_ctrl *c)
{
	return &c->addr;
}

unsigned nvmf_host_ctrl_nr_io_queues(const struct nvmf_host_ctrl *c)
{
	return c->nr_ioq;
}

struct nvmf_host_qpair *nvmf_host_ctrl_io_qpair(struct nvmf_host_ctrl *c, unsigned i)
{
	return i < c->nr_ioq ? c->ioq[i] : NULL;
}
