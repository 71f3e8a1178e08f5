/*
 * Malformed input (NVMe-oF 1.1 7.4.x): a raw socket peer sends bad PDUs to a
 * controller queue pair (and to a host queue pair) of this library.  Each case
 * checks the exact termination request received (type, FES, FEI, echoed
 * header), that the connection then closes, that error_cb ran, and that a
 * healthy connection in the same process keeps working.  Also: a data digest
 * error on H2CData fails only that transfer, a received termination request
 * closes without an answer, a stalled peer blocks nobody.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"
#include "tcp/tcp_pdu.h"
#include "util/crc32c.h"

#define MAXH2C 4096

/* ---- A controller queue pair and what it reported ---- */

struct cstate {
	struct nvmf_qpair *qp;
	struct nvmf_capsule *cmds[64];
	int ncmds;
	int errors;
	int last_error;
};

static void c_receive(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct cstate *s = arg;

	(void)qp;
	CHECK(s->ncmds < 64);
	s->cmds[s->ncmds++] = nc;
}

static void c_error(void *arg, struct nvmf_qpair *qp, int error)
{
	struct cstate *s = arg;

	(void)qp;
	s->errors++;
	s->last_error = error;
}

static struct nvmf_association *ctrl_na, *host_na, *host_dd_na;

/* ---- A healthy host/controller pair that must keep working throughout ---- */

static struct nvmf_qpair *good_host;
static struct cstate good_ctrl;

static void pump_good(void)
{
	CHECK(nvmf_qpair_process(good_host) >= 0);
	CHECK(nvmf_qpair_process(good_ctrl.qp) >= 0);
	/* The healthy controller answers everything at once. */
	for (int i = 0; i < good_ctrl.ncmds; i++) {
		struct nvmf_capsule *nc = good_ctrl.cmds[i];
		CHECK(nvmf_controller_send_status(nc, 0, 1) == 0);
		nvmf_capsule_free(nc);
	}
	good_ctrl.ncmds = 0;
}

struct hdone {
	bool done;
	int error;
	uint16_t status;
};

static void h_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct hdone *d = arg;

	(void)nc;
	d->done = true;
	d->error = error;
	d->status = cqe ? le16toh(cqe->status) & 0xfffe : 0xffff;
}

static void good_roundtrip(const struct nvme_command *sqe, void *data, size_t len)
{
	struct hdone d = {0};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(good_host, sqe);
	if (len)
		CHECK(nvmf_capsule_append_data(nc, data, len, true) == 0);
	nvmf_capsule_set_done(nc, h_done, &d);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	for (int i = 0; i < 2000 && !d.done; i++) {
		pump_good();
		usleep(1000);
	}
	CHECK(d.done && d.error == 0 && d.status == 0);
	nvmf_capsule_free(nc);
}

static void good_check(void)
{
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	good_roundtrip(&ka, NULL, 0);
}

static void good_setup(void)
{
	int a, b;
	lb_pair(&a, &b);
	struct nvmf_qpair_params cp = {.fd = b, .receive_cb = c_receive, .error_cb = c_error, .cb_arg = &good_ctrl};
	good_ctrl.qp = nvmf_qpair_create(ctrl_na, &cp);
	struct nvmf_qpair_params hp = {.admin = true, .qid = 0, .qsize = 8, .fd = a};
	good_host = nvmf_qpair_create(host_na, &hp);
	CHECK(good_ctrl.qp && good_host);
	for (int i = 0; i < 2000 && !nvmf_qpair_ready(good_host); i++) {
		pump_good();
		usleep(1000);
	}
	CHECK(nvmf_qpair_ready(good_host));
	struct nvmf_connect_command cc = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_CONNECT, .sqsize = htole16(7)};
	struct nvmf_connect_data data = {0};
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	good_roundtrip(&sqe, &data, sizeof(data));
	good_check();
}

/* ---- A raw peer ---- */

struct raw {
	int fd;
	bool hd, dd;
	struct cstate st; /* when the library side is a controller */
	struct nvmf_qpair *hq; /* when the library side is a host */
};

static void lib_pump(struct raw *r)
{
	struct nvmf_qpair *qp = r->hq ? r->hq : r->st.qp;
	if (!nvmf_qpair_failed(qp))
		(void)nvmf_qpair_process(qp);
}

/* Read n bytes from the library side, processing it meanwhile. */
static void raw_read(struct raw *r, void *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 3000 && got < n; i++) {
		lib_pump(r);
		ssize_t k = recv(r->fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0)
			break;
		else
			usleep(500);
	}
	if (got != n)
		fprintf(stderr, "raw_read: wanted %zu got %zu\n", n, got);
	CHECK(got == n);
}

/* Nothing more arrives and the library side closed. */
static void raw_expect_closed(struct raw *r)
{
	char c;
	for (int i = 0; i < 2000; i++) {
		lib_pump(r);
		ssize_t k = recv(r->fd, &c, 1, MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return;
		CHECK(k < 0);
		usleep(500);
	}
	CHECK(!"connection not closed");
}

static void raw_send(struct raw *r, const void *buf, size_t n)
{
	lb_write_all(r->fd, buf, n);
}

/* Open a raw host against a fresh controller queue pair and do the ICReq/ICResp exchange. */
static void raw_host_open(struct raw *r, bool hd, bool dd, uint32_t maxr2t)
{
	int a, b;
	memset(r, 0, sizeof(*r));
	lb_pair(&a, &b);
	r->fd = a;
	r->hd = hd;
	r->dd = dd;
	struct nvmf_qpair_params cp = {.fd = b, .receive_cb = c_receive, .error_cb = c_error, .cb_arg = &r->st};
	r->st.qp = nvmf_qpair_create(ctrl_na, &cp);
	CHECK(r->st.qp);
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_icreq(pdu, 0, hd, dd, maxr2t);
	raw_send(r, pdu, n);
	struct nvme_tcp_icresp resp;
	raw_read(r, &resp, sizeof(resp));
	CHECK(resp.ch.pdu_type == NVME_TCP_PDU_ICRESP && resp.ch.hlen == 128 && le32toh(resp.ch.plen) == 128);
	CHECK(resp.pfv == 0 && resp.cpda == 0 && le32toh(resp.maxh2cdata) == MAXH2C);
	CHECK(resp.dgst == ((hd ? 1 : 0) | (dd ? 2 : 0)));
	CHECK(nvmf_qpair_ready(r->st.qp));
}

/* Send a command capsule, with in-capsule data if any. */
static void raw_cmd(struct raw *r, struct nvme_command *sqe, const void *data, uint32_t len)
{
	uint8_t pdu[NVMF_TCP_MAX_HDR + 8192 + 4];
	sqe->flags = NVME_CMD_PSDT_SGL;
	size_t n = nvmf_tcp_build_capsule_cmd(pdu, sqe, len, r->hd, r->dd, 0);
	if (len)
		memcpy(pdu + n, data, len);
	n += len;
	if (r->dd && len) {
		uint32_t d = htole32(nvmf_crc32c(data, len));
		memcpy(pdu + n, &d, 4);
		n += 4;
	}
	raw_send(r, pdu, n);
}

static void raw_read_resp(struct raw *r, uint16_t cid, uint16_t status)
{
	uint8_t buf[28];
	raw_read(r, buf, 24 + (r->hd ? 4 : 0));
	const struct nvme_tcp_capsule_resp *p = (const void *)buf;
	CHECK(p->ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP);
	CHECK(le16toh(p->cqe.cid) == cid);
	CHECK((le16toh(p->cqe.status) & 0xfffe) == status);
}

/* Connect the raw host's queue (admin, SQSIZE 15). */
static void raw_connect(struct raw *r)
{
	struct nvmf_connect_command cc = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_CONNECT, .cid = htole16(1),
					  .sqsize = htole16(15)};
	struct nvmf_connect_data data = {0};
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	sqe.dptr.sgl.type = NVME_SGL_INCAPSULE;
	sqe.dptr.sgl.length = htole32(sizeof(data));
	raw_cmd(r, &sqe, &data, sizeof(data));
	for (int i = 0; i < 2000 && r->st.ncmds == 0; i++) {
		lib_pump(r);
		usleep(500);
	}
	CHECK(r->st.ncmds == 1);
	CHECK(nvmf_capsule_validate_command(r->st.cmds[0]) == 0);
	CHECK(nvmf_controller_send_status(r->st.cmds[0], 0, 1) == 0);
	nvmf_capsule_free(r->st.cmds[0]);
	r->st.ncmds = 0;
	raw_read_resp(r, 1, 0);
}

/* Read a termination request and check it byte for byte; then the close. */
static void raw_expect_term(struct raw *r, uint8_t type, uint16_t fes, uint32_t fei, const void *bad, size_t badlen)
{
	uint8_t buf[NVME_TCP_TERM_REQ_MAX_PLEN];
	raw_read(r, buf, 24);
	const struct nvme_tcp_term_req *t = (const void *)buf;
	if (t->ch.pdu_type != type || le16toh(t->fes) != fes || le32toh(t->fei) != fei)
		fprintf(stderr, "got TermReq type %#x FES %u FEI %u, want %#x %u %u\n", t->ch.pdu_type, le16toh(t->fes),
			le32toh(t->fei), type, fes, fei);
	CHECK(t->ch.pdu_type == type && t->ch.flags == 0 && t->ch.hlen == 24 && t->ch.pdo == 0);
	CHECK(le16toh(t->fes) == fes && le32toh(t->fei) == fei);
	if (badlen > NVME_TCP_TERM_REQ_MAX_DATA)
		badlen = NVME_TCP_TERM_REQ_MAX_DATA;
	CHECK(le32toh(t->ch.plen) == 24 + badlen);
	raw_read(r, buf + 24, badlen);
	CHECK(memcmp(buf + 24, bad, badlen) == 0);
	raw_expect_closed(r);
	struct nvmf_qpair *qp = r->hq ? r->hq : r->st.qp;
	CHECK(nvmf_qpair_failed(qp));
	CHECK(strlen(nvmf_qpair_error(qp)) > 0);
}

static void raw_close(struct raw *r)
{
	if (r->hq)
		nvmf_qpair_free(r->hq);
	else {
		for (int i = 0; i < r->st.ncmds; i++)
			nvmf_capsule_free(r->st.cmds[i]);
		nvmf_qpair_free(r->st.qp);
	}
	close(r->fd);
	good_check();
}

/* ---- Controller cases ---- */

static void ctrl_case_header(const char *name, bool hd, void (*mutate)(uint8_t *pdu, size_t *len), uint16_t fes,
			     uint32_t fei, size_t echo)
{
	struct raw r;
	raw_host_open(&r, hd, false, 0);
	raw_connect(&r);
	struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16(2), .flags = NVME_CMD_PSDT_SGL};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	uint8_t pdu[NVMF_TCP_MAX_HDR + 9000] = {0};
	size_t n = nvmf_tcp_build_capsule_cmd(pdu, &sqe, 0, hd, false, 0);
	mutate(pdu, &n);
	raw_send(&r, pdu, n);
	raw_expect_term(&r, NVME_TCP_PDU_C2H_TERM_REQ, fes, fei, pdu, echo);
	CHECK(r.st.errors == 1 && r.st.last_error < 0);
	raw_close(&r);
	printf("ok: %s\n", name);
}

static void m_unknown_type(uint8_t *p, size_t *n) { p[0] = 0x0a; p[2] = 8; p[3] = 0; p[4] = 8; *n = 8; }
static void m_wrong_dir(uint8_t *p, size_t *n) { p[0] = NVME_TCP_PDU_CAPSULE_RESP; (void)n; }
static void m_hlen(uint8_t *p, size_t *n) { p[2] = 70; (void)n; }
static void m_plen(uint8_t *p, size_t *n) { p[4] = 80; (void)n; }
static void m_hdgst(uint8_t *p, size_t *n) { p[72] ^= 1; (void)n; }
static void m_flags(uint8_t *p, size_t *n) { p[1] |= NVME_TCP_F_DATA_LAST; (void)n; }
static void m_icreq_again(uint8_t *p, size_t *n) { *n = nvmf_tcp_build_icreq(p, 0, false, false, 0); }
static void m_pdo(uint8_t *p, size_t *n)
{
	/* In-capsule data at a misaligned PDO. */
	struct nvme_tcp_common_header *ch = (void *)p;
	ch->pdo = 74;
	ch->plen = htole32(74 + 16);
	*n = 74 + 16;
}
static void m_too_much_icd(uint8_t *p, size_t *n)
{
	struct nvme_tcp_common_header *ch = (void *)p;
	ch->pdo = 72;
	ch->plen = htole32(72 + 8192 + 4);
	*n = 72 + 8192 + 4;
}

/* A write whose data comes by R2T: returns the raw peer with the R2Ts read. */
static struct nvmf_capsule *r2t_write(struct raw *r, uint32_t len, uint8_t *buf, struct nvme_tcp_r2t *r2ts,
				      int nr2t, nvmf_data_done_cb cb, void *arg)
{
	struct nvme_command sqe = {.opc = NVME_OPC_WRITE, .cid = htole16(5), .nsid = htole32(1)};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	sqe.dptr.sgl.length = htole32(len);
	raw_cmd(r, &sqe, NULL, 0);
	for (int i = 0; i < 2000 && r->st.ncmds == 0; i++) {
		lib_pump(r);
		usleep(500);
	}
	CHECK(r->st.ncmds == 1);
	struct nvmf_capsule *nc = r->st.cmds[0];
	CHECK(nvmf_capsule_validate_command(nc) == 0 && nvmf_capsule_data_len(nc) == len);
	CHECK(nvmf_controller_receive_data(nc, 0, buf, len, cb, arg) == 0);
	for (int i = 0; i < nr2t; i++) {
		uint8_t b[28];
		raw_read(r, b, 24 + (r->hd ? 4 : 0));
		memcpy(&r2ts[i], b, 24);
		if (r->hd)
			CHECK(nvmf_tcp_header_digest_ok(b));
		CHECK(r2ts[i].ch.pdu_type == NVME_TCP_PDU_R2T && le16toh(r2ts[i].cccid) == 5);
		CHECK(le32toh(r2ts[i].r2tl) <= MAXH2C);
	}
	return nc;
}

struct ddone {
	int calls;
	int error;
};

static void d_done(void *arg, struct nvmf_capsule *nc, int error)
{
	struct ddone *d = arg;
	(void)nc;
	d->calls++;
	d->error = error;
}

static size_t h2c(uint8_t *pdu, bool dd, uint16_t cid, uint16_t ttag, uint32_t datao, uint32_t datal,
		  uint32_t payload, bool last, bool bad_digest)
{
	size_t n = nvmf_tcp_build_h2c_data(pdu, cid, ttag, datao, datal, last, false, dd, 0);
	if (payload != datal) {
		struct nvme_tcp_common_header *ch = (void *)pdu;
		ch->plen = htole32((uint32_t)(n + payload + (dd ? 4 : 0)));
	}
	lb_fill_pattern(pdu + n, payload, datao);
	uint32_t d = htole32(nvmf_crc32c(pdu + n, payload) ^ (bad_digest ? 1 : 0));
	n += payload;
	if (dd) {
		memcpy(pdu + n, &d, 4);
		n += 4;
	}
	return n;
}

static void ctrl_case_h2c(const char *name, int which)
{
	struct raw r;
	struct nvme_tcp_r2t r2ts[2];
	struct ddone d = {0};
	static uint8_t buf[6144];
	uint8_t pdu[32 + MAXH2C + 8];

	raw_host_open(&r, false, false, 1);
	raw_connect(&r);
	r2t_write(&r, sizeof(buf), buf, r2ts, 2, d_done, &d);
	CHECK(le32toh(r2ts[0].r2to) == 0 && le32toh(r2ts[0].r2tl) == 4096);
	CHECK(le32toh(r2ts[1].r2to) == 4096 && le32toh(r2ts[1].r2tl) == 2048);
	uint16_t tt0 = le16toh(r2ts[0].ttag), tt1 = le16toh(r2ts[1].ttag);
	CHECK(tt0 != tt1);
	size_t n = 0;
	uint16_t fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei = 0;
	switch (which) {
	case 0: /* no such R2T: unknown CID and TTAG */
		n = h2c(pdu, false, 9, 77, 0, 16, 16, true, false), fei = 8;
		break;
	case 1: /* right CID, wrong TTAG */
		n = h2c(pdu, false, 5, 77, 0, 16, 16, true, false), fei = 10;
		break;
	case 2: /* wrong offset */
		n = h2c(pdu, false, 5, tt0, 4, 16, 16, false, false), fei = 12;
		break;
	case 3: /* DATAL disagrees with the PDU length */
		n = h2c(pdu, false, 5, tt0, 0, 4096, 2048, false, false), fei = 16;
		break;
	case 4: /* past the R2T and the command */
		n = h2c(pdu, false, 5, tt1, 4096, 4096, 4096, true, false);
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0; /* FEI reserved for FES 04h */
		break;
	case 6: /* the R2T's whole range without LAST_PDU */
		n = h2c(pdu, false, 5, tt0, 0, 4096, 4096, false, false), fei = 1;
		break;
	case 7: /* LAST_PDU on an H2CData that does not end the R2T */
		n = h2c(pdu, false, 5, tt0, 0, 2048, 2048, true, false), fei = 1;
		break;
	case 5: /* more than MAXH2CDATA in one PDU */
		n = h2c(pdu, false, 5, tt0, 0, 4100, 4100, false, false);
		fes = NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, fei = 0;
		break;
	}
	raw_send(&r, pdu, n);
	raw_expect_term(&r, NVME_TCP_PDU_C2H_TERM_REQ, fes, fei, pdu, 24);
	CHECK(d.calls == 1 && d.error < 0); /* the pending transfer failed */
	CHECK(r.st.errors == 1);
	raw_close(&r);
	printf("ok: %s\n", name);
}

/* A data digest error fails the transfer with -EBADMSG; the stream goes on. */
static void ctrl_case_ddgst(void)
{
	struct raw r;
	struct nvme_tcp_r2t r2ts[2];
	struct ddone d = {0};
	static uint8_t buf[6144];
	uint8_t pdu[32 + MAXH2C + 8];

	raw_host_open(&r, true, true, 1);
	raw_connect(&r);
	struct nvmf_capsule *nc = r2t_write(&r, sizeof(buf), buf, r2ts, 2, d_done, &d);
	/* The first R2T's data in two PDUs, the second with a bad digest; the second R2T good. */
	size_t n = nvmf_tcp_build_h2c_data(pdu, 5, le16toh(r2ts[0].ttag), 0, 2048, false, true, true, 0);
	lb_fill_pattern(pdu + n, 2048, 1);
	uint32_t dg = htole32(nvmf_crc32c(pdu + n, 2048));
	memcpy(pdu + n + 2048, &dg, 4);
	raw_send(&r, pdu, n + 2048 + 4);
	n = nvmf_tcp_build_h2c_data(pdu, 5, le16toh(r2ts[0].ttag), 2048, 2048, true, true, true, 0);
	lb_fill_pattern(pdu + n, 2048, 2);
	dg = htole32(nvmf_crc32c(pdu + n, 2048) ^ 0xff);
	memcpy(pdu + n + 2048, &dg, 4);
	raw_send(&r, pdu, n + 2048 + 4);
	n = nvmf_tcp_build_h2c_data(pdu, 5, le16toh(r2ts[1].ttag), 4096, 2048, true, true, true, 0);
	lb_fill_pattern(pdu + n, 2048, 3);
	dg = htole32(nvmf_crc32c(pdu + n, 2048));
	memcpy(pdu + n + 2048, &dg, 4);
	raw_send(&r, pdu, n + 2048 + 4);
	for (int i = 0; i < 2000 && d.calls == 0; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d.calls == 1 && d.error == -EBADMSG);
	CHECK(!nvmf_qpair_failed(r.st.qp));
	CHECK(nvmf_controller_send_status(nc, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR), 0) == 0);
	nvmf_capsule_free(nc);
	r.st.ncmds = 0;
	raw_read_resp(&r, 5, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR));

	/* The queue still works: a good write by R2T lands intact. */
	memset(&d, 0, sizeof(d));
	nc = r2t_write(&r, sizeof(buf), buf, r2ts, 2, d_done, &d);
	uint8_t expect[6144];
	for (int k = 0; k < 2; k++) {
		uint32_t o = le32toh(r2ts[k].r2to), l = le32toh(r2ts[k].r2tl);
		n = nvmf_tcp_build_h2c_data(pdu, 5, le16toh(r2ts[k].ttag), o, l, true, true, true, 0);
		lb_fill_pattern(pdu + n, l, 100 + k);
		memcpy(expect + o, pdu + n, l);
		dg = htole32(nvmf_crc32c(pdu + n, l));
		memcpy(pdu + n + l, &dg, 4);
		raw_send(&r, pdu, n + l + 4);
	}
	for (int i = 0; i < 2000 && d.calls == 0; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d.calls == 1 && d.error == 0);
	CHECK(memcmp(buf, expect, sizeof(buf)) == 0);
	CHECK(nvmf_controller_send_status(nc, 0, 0) == 0);
	nvmf_capsule_free(nc);
	r.st.ncmds = 0;
	raw_read_resp(&r, 5, 0);
	raw_close(&r);
	printf("ok: H2CData data digest error\n");
}

/* A termination request from the host: closed, nothing sent back. */
static void ctrl_case_termreq_in(void)
{
	struct raw r;
	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	uint8_t pdu[NVME_TCP_TERM_REQ_MAX_PLEN];
	uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n = nvmf_tcp_build_term_req(pdu, false, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, junk, sizeof(junk));
	raw_send(&r, pdu, n);
	raw_expect_closed(&r); /* fails if any byte arrives first */
	CHECK(nvmf_qpair_failed(r.st.qp) && r.st.errors == 1);
	raw_close(&r);
	printf("ok: H2CTermReq received\n");
}

/*
 * A termination request that is itself in error is not answered with one: the
 * receiver just closes (NVMe/TCP transport errors), on both sides.  The reason
 * recorded tells a malformed one from a well-formed one.
 */
enum bad_term { TERM_OK_MAX, TERM_PLEN_BIG, TERM_PLEN_SMALL, TERM_HLEN, TERM_PDO, TERM_HDGST, TERM_WRONG_DIR };

static size_t bad_term_req(uint8_t *pdu, bool from_ctrl, enum bad_term how)
{
	uint8_t junk[NVME_TCP_TERM_REQ_MAX_DATA];
	lb_fill_pattern(junk, sizeof(junk), 9);
	const bool as_ctrl = how == TERM_WRONG_DIR ? !from_ctrl : from_ctrl;
	size_t n = nvmf_tcp_build_term_req(pdu, as_ctrl, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, junk,
					   how == TERM_OK_MAX ? sizeof(junk) : 16);
	struct nvme_tcp_common_header *ch = (void *)pdu;
	switch (how) {
	case TERM_PLEN_BIG: /* 160 bytes: past the 152 a TermReq may have */
		memset(pdu + n, 0, 160 - n);
		n = 160;
		ch->plen = htole32(160);
		break;
	case TERM_PLEN_SMALL: /* shorter than its own header */
		ch->plen = htole32(20);
		n = 20;
		break;
	case TERM_HLEN:
		ch->hlen = 28;
		break;
	case TERM_PDO:
		ch->pdo = 24;
		break;
	case TERM_HDGST: /* TermReqs never carry digests */
		ch->flags = NVME_TCP_F_HDGST;
		break;
	case TERM_OK_MAX:
	case TERM_WRONG_DIR:
		break;
	}
	return n;
}

static void check_term_reason(struct nvmf_qpair *qp, enum bad_term how)
{
	const char *why = nvmf_qpair_error(qp);
	if (how == TERM_OK_MAX ? !strstr(why, "peer sent") : !strstr(why, "malformed"))
		fprintf(stderr, "reason: %s\n", why);
	CHECK(how == TERM_OK_MAX ? strstr(why, "peer sent") != NULL : strstr(why, "malformed") != NULL);
}

static void ctrl_case_bad_termreq(const char *name, enum bad_term how)
{
	struct raw r;
	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	uint8_t pdu[256];
	size_t n = bad_term_req(pdu, false, how);
	raw_send(&r, pdu, n);
	raw_expect_closed(&r); /* fails if any byte, such as a C2HTermReq, arrives first */
	CHECK(nvmf_qpair_failed(r.st.qp) && r.st.errors == 1);
	check_term_reason(r.st.qp, how);
	raw_close(&r);
	printf("ok: %s: closed, nothing sent back\n", name);
}

/* Bad ICReq fields. */
static void ctrl_case_icreq(const char *name, int off, uint8_t val, uint32_t fei)
{
	struct raw r;
	int a, b;
	memset(&r, 0, sizeof(r));
	lb_pair(&a, &b);
	r.fd = a;
	struct nvmf_qpair_params cp = {.fd = b, .receive_cb = c_receive, .error_cb = c_error, .cb_arg = &r.st};
	r.st.qp = nvmf_qpair_create(ctrl_na, &cp);
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_icreq(pdu, 0, false, false, 0);
	pdu[off] = val;
	raw_send(&r, pdu, n);
	raw_expect_term(&r, NVME_TCP_PDU_C2H_TERM_REQ, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, fei, pdu, 128);
	raw_close(&r);
	printf("ok: %s\n", name);
}

/* Half a PDU, then nothing: that queue waits, the healthy one goes on. */
static void ctrl_case_stall(void)
{
	struct raw r;
	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16(3), .flags = NVME_CMD_PSDT_SGL};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_capsule_cmd(pdu, &sqe, 0, false, false, 0);
	raw_send(&r, pdu, 40);
	for (int i = 0; i < 20; i++) {
		CHECK(nvmf_qpair_process(r.st.qp) >= 0);
		good_check();
	}
	CHECK(r.st.ncmds == 0 && !nvmf_qpair_failed(r.st.qp));
	raw_send(&r, pdu + 40, n - 40);
	for (int i = 0; i < 2000 && r.st.ncmds == 0; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(r.st.ncmds == 1);
	CHECK(nvmf_controller_send_status(r.st.cmds[0], 0, 0) == 0);
	nvmf_capsule_free(r.st.cmds[0]);
	r.st.ncmds = 0;
	raw_read_resp(&r, 3, 0);
	raw_close(&r);
	printf("ok: stalled peer\n");
}

/* A command before Connect is refused by the transport. */
static void ctrl_case_no_connect(void)
{
	struct raw r;
	raw_host_open(&r, false, false, 0);
	struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16(4)};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	raw_cmd(&r, &sqe, NULL, 0);
	raw_read_resp(&r, 4, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR) | NVME_STATUS_DNR);
	CHECK(r.st.ncmds == 0);
	raw_close(&r);
	printf("ok: command before Connect\n");
}

/* A command before the ICReq: a sequence error. */
static void ctrl_case_cmd_before_icreq(void)
{
	struct raw r;
	int a, b;
	memset(&r, 0, sizeof(r));
	lb_pair(&a, &b);
	r.fd = a;
	struct nvmf_qpair_params cp = {.fd = b, .receive_cb = c_receive, .error_cb = c_error, .cb_arg = &r.st};
	r.st.qp = nvmf_qpair_create(ctrl_na, &cp);
	struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE};
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_capsule_cmd(pdu, &sqe, 0, false, false, 0);
	raw_send(&r, pdu, n);
	raw_expect_term(&r, NVME_TCP_PDU_C2H_TERM_REQ, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, pdu, 72);
	CHECK(r.st.errors == 1);
	raw_close(&r);
	printf("ok: CapsuleCmd before ICReq\n");
}

/* Bad data digest on in-capsule data: answered with a transient transport error, not delivered. */
static void ctrl_case_icd_digest(void)
{
	struct raw r;
	uint8_t pdu[NVMF_TCP_MAX_HDR + 512 + 4], data[512];

	raw_host_open(&r, false, true, 0);
	raw_connect(&r);
	lb_fill_pattern(data, sizeof(data), 9);
	struct nvme_command sqe = {.opc = NVME_OPC_WRITE, .cid = htole16(8), .flags = NVME_CMD_PSDT_SGL};
	sqe.dptr.sgl.type = NVME_SGL_INCAPSULE;
	sqe.dptr.sgl.length = htole32(sizeof(data));
	size_t n = nvmf_tcp_build_capsule_cmd(pdu, &sqe, sizeof(data), false, true, 0);
	memcpy(pdu + n, data, sizeof(data));
	uint32_t dg = htole32(nvmf_crc32c(data, sizeof(data)) + 1);
	memcpy(pdu + n + sizeof(data), &dg, 4);
	raw_send(&r, pdu, n + sizeof(data) + 4);
	raw_read_resp(&r, 8, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR));
	CHECK(r.st.ncmds == 0 && !nvmf_qpair_failed(r.st.qp));
	/* The same command with a good digest goes through. */
	dg = htole32(nvmf_crc32c(data, sizeof(data)));
	memcpy(pdu + n + sizeof(data), &dg, 4);
	raw_send(&r, pdu, n + sizeof(data) + 4);
	for (int i = 0; i < 2000 && r.st.ncmds == 0; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(r.st.ncmds == 1);
	size_t l;
	const void *icd = nvmf_capsule_incapsule_data(r.st.cmds[0], &l);
	CHECK(icd && l == sizeof(data) && memcmp(icd, data, l) == 0);
	CHECK(nvmf_controller_send_status(r.st.cmds[0], 0, 0) == 0);
	nvmf_capsule_free(r.st.cmds[0]);
	r.st.ncmds = 0;
	raw_read_resp(&r, 8, 0);
	raw_close(&r);
	printf("ok: in-capsule data digest error\n");
}

/*
 * A host that ignores its queue size (SQSIZE 15: 16 entries) is cut off at
 * the first command beyond it, with a PDU Sequence Error echoing that command.
 */
static void ctrl_case_flood(void)
{
	struct raw r;
	struct nvmf_capsule *kept[32];
	int nkept = 0;

	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	uint8_t last[NVMF_TCP_MAX_HDR];
	size_t lastlen = 0;
	for (int i = 0; i < 17; i++) {
		struct nvme_command sqe = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16((uint16_t)(100 + i))};
		sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
		sqe.flags = NVME_CMD_PSDT_SGL;
		lastlen = nvmf_tcp_build_capsule_cmd(last, &sqe, 0, false, false, 0);
		raw_cmd(&r, &sqe, NULL, 0);
	}
	for (int i = 0; i < 2000 && !nvmf_qpair_failed(r.st.qp); i++) {
		usleep(200);
		lib_pump(&r);
		/* The application answers none of them. */
		for (int k = 0; k < r.st.ncmds; k++)
			kept[nkept++] = r.st.cmds[k];
		r.st.ncmds = 0;
	}
	CHECK(nkept == 16); /* the queue's entries, all held */
	raw_expect_term(&r, NVME_TCP_PDU_C2H_TERM_REQ, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, last, lastlen);
	CHECK(r.st.errors == 1 && r.st.last_error == -EPROTO);
	for (int k = 0; k < nkept; k++)
		nvmf_capsule_free(kept[k]);
	raw_close(&r);
	printf("ok: host flooding its queue\n");
}

/* SGL checks on received commands: the status to answer with. */
static void ctrl_case_validate(void)
{
	static const struct {
		uint8_t type;
		uint32_t len, icd;
		uint64_t addr;
		uint16_t status;
	} cases[] = {
		{NVME_SGL_INCAPSULE, 512, 512, 0, 0},
		{NVME_SGL_TRANSPORT, 4096, 0, 0, 0},
		{NVME_SGL_TRANSPORT, 0, 0, 0, 0},
		{NVME_SGL_INCAPSULE, 0, 0, 0, 0},
		{NVME_SGL_TRANSPORT, 512, 512, 0, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID},
		{NVME_SGL_INCAPSULE, 256, 512, 0, NVME_SC_DATA_SGL_LENGTH_INVALID},
		{NVME_SGL_INCAPSULE, 512, 512, 64, NVME_SC_SGL_OFFSET_INVALID},
		{NVME_SGL_INCAPSULE, 16384, 0, 0, NVME_SC_DATA_SGL_LENGTH_INVALID},
		{NVME_SGL_TYPE(NVME_SGL_TYPE_KEYED_DATA_BLOCK, 0), 4096, 0, 0, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID},
		{NVME_SGL_TYPE(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_ADDRESS), 4096, 0, 0,
		 NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID},
	};
	struct raw r;
	static uint8_t data[512];

	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvme_command sqe = {.opc = NVME_OPC_WRITE, .cid = htole16((uint16_t)(10 + i))};
		sqe.dptr.sgl.type = cases[i].type;
		sqe.dptr.sgl.length = htole32(cases[i].len);
		sqe.dptr.sgl.address = htole64(cases[i].addr);
		raw_cmd(&r, &sqe, data, cases[i].icd);
		for (int k = 0; k < 2000 && r.st.ncmds == 0; k++) {
			lib_pump(&r);
			usleep(500);
		}
		CHECK(r.st.ncmds == 1);
		uint16_t st = nvmf_capsule_validate_command(r.st.cmds[0]);
		uint16_t want = cases[i].status ? (NVME_STATUS(NVME_SCT_GENERIC, cases[i].status) | NVME_STATUS_DNR) : 0;
		if (st != want)
			fprintf(stderr, "validate case %zu: got %#x want %#x\n", i, st, want);
		CHECK(st == want);
		if (!st)
			CHECK(nvmf_capsule_data_len(r.st.cmds[0]) == cases[i].len);
		CHECK(nvmf_controller_send_status(r.st.cmds[0], st, 0) == 0);
		nvmf_capsule_free(r.st.cmds[0]);
		r.st.ncmds = 0;
		raw_read_resp(&r, (uint16_t)(10 + i), st & 0xfffe);
	}
	raw_close(&r);
	printf("ok: SGL validation\n");
}

/* ---- Host cases: a raw controller ---- */

static int host_errors;
static void h_error(void *arg, struct nvmf_qpair *qp, int error)
{
	(void)arg, (void)qp, (void)error;
	host_errors++;
}

static void raw_ctrl_open(struct raw *r, uint32_t maxh2cdata, bool dd)
{
	int a, b;
	memset(r, 0, sizeof(*r));
	lb_pair(&a, &b);
	r->fd = b;
	struct nvmf_qpair_params hp = {.admin = true, .qid = 0, .qsize = 4, .fd = a, .error_cb = h_error};
	r->hq = nvmf_qpair_create(dd ? host_dd_na : host_na, &hp);
	CHECK(r->hq);
	struct nvme_tcp_icreq req;
	raw_read(r, &req, sizeof(req));
	CHECK(req.ch.pdu_type == NVME_TCP_PDU_ICREQ && req.pfv == 0 && req.dgst == (dd ? 2 : 0));
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_icresp(pdu, 0, false, dd, maxh2cdata);
	raw_send(r, pdu, n);
}

static void host_case(const char *name, int which)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[4096];

	host_errors = 0;
	raw_ctrl_open(&r, which == 3 ? 1000 : 65536, which == 4);
	if (which == 3) {
		uint8_t icr[128];
		nvmf_tcp_build_icresp(icr, 0, false, false, 1000);
		raw_expect_term(&r, NVME_TCP_PDU_H2C_TERM_REQ, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 12, icr, 128);
		CHECK(host_errors == 1);
		raw_close(&r);
		printf("ok: %s\n", name);
		return;
	}
	for (int i = 0; i < 2000 && !nvmf_qpair_ready(r.hq); i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(nvmf_qpair_ready(r.hq));
	struct nvme_command sqe = {.opc = NVME_OPC_IDENTIFY};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(r.hq, &sqe);
	CHECK(nvmf_capsule_append_data(nc, buf, sizeof(buf), false) == 0);
	nvmf_capsule_set_done(nc, h_done, &d);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	struct nvme_tcp_capsule_cmd cmd;
	raw_read(&r, &cmd, sizeof(cmd));
	CHECK(cmd.ch.pdu_type == NVME_TCP_PDU_CAPSULE_CMD && cmd.sqe.dptr.sgl.type == NVME_SGL_TRANSPORT);
	CHECK(le32toh(cmd.sqe.dptr.sgl.length) == sizeof(buf) && (cmd.sqe.flags & NVME_CMD_PSDT_MASK) == NVME_CMD_PSDT_SGL);
	uint16_t cid = le16toh(cmd.sqe.cid);
	uint8_t pdu[NVMF_TCP_MAX_HDR + 8192];
	size_t n;
	uint16_t fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei;
	if (which == 0) { /* response for a CID never used */
		struct nvme_completion cqe = {.cid = htole16((uint16_t)(cid + 1))};
		n = nvmf_tcp_build_capsule_resp(pdu, &cqe, false);
		fei = 20;
	} else if (which == 1) { /* C2HData past the buffer */
		n = nvmf_tcp_build_c2h_data(pdu, cid, 0, 8192, true, false, false, false, 0);
		memset(pdu + n, 0, 8192);
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, fei = 0;
		raw_send(&r, pdu, n + 8192);
		raw_expect_term(&r, NVME_TCP_PDU_H2C_TERM_REQ, fes, fei, pdu, 24);
		goto out;
	} else if (which == 4) { /* C2HData with a bad data digest, then its response */
		n = nvmf_tcp_build_c2h_data(pdu, cid, 0, 4096, true, false, false, true, 0);
		memset(pdu + n, 0x5a, 4096);
		uint32_t dg = htole32(nvmf_crc32c(pdu + n, 4096) ^ 1);
		memcpy(pdu + n + 4096, &dg, 4);
		raw_send(&r, pdu, n + 4096 + 4);
		struct nvme_completion cqe = {.cid = htole16(cid)};
		n = nvmf_tcp_build_capsule_resp(pdu, &cqe, false);
		raw_send(&r, pdu, n);
		for (int i = 0; i < 2000 && !d.done; i++) {
			lib_pump(&r);
			usleep(500);
		}
		CHECK(d.done && d.error == 0);
		CHECK(d.status == NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR));
		CHECK(!nvmf_qpair_failed(r.hq) && host_errors == 0);
		nvmf_capsule_free(nc);
		raw_close(&r);
		printf("ok: %s\n", name);
		return;
	} else { /* the controller terminates */
		n = nvmf_tcp_build_term_req(pdu, true, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, NULL, 0);
		raw_send(&r, pdu, n);
		raw_expect_closed(&r);
		goto out;
	}
	raw_send(&r, pdu, n);
	raw_expect_term(&r, NVME_TCP_PDU_H2C_TERM_REQ, fes, fei, pdu, 24);
out:
	CHECK(d.done && d.error < 0); /* the pending command failed */
	CHECK(host_errors == 1 && nvmf_qpair_failed(r.hq));
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: %s\n", name);
}

/* A response that overtakes our H2CData (a controller failing a write early): the
 * command completes only once its data has left, so the buffer is never reused under it. */
static void host_case_early_resp(void)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[16 << 20], got[16 << 20]; /* more than the sockets hold */

	host_errors = 0;
	raw_ctrl_open(&r, 65536, false);
	for (int i = 0; i < 2000 && !nvmf_qpair_ready(r.hq); i++) {
		lib_pump(&r);
		usleep(500);
	}
	lb_fill_pattern(buf, sizeof(buf), 77);
	struct nvme_command sqe = {.opc = NVME_OPC_WRITE};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(r.hq, &sqe);
	CHECK(nvmf_capsule_append_data(nc, buf, sizeof(buf), true) == 0);
	nvmf_capsule_set_done(nc, h_done, &d);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	struct nvme_tcp_capsule_cmd cmd;
	raw_read(&r, &cmd, sizeof(cmd));
	CHECK(cmd.sqe.dptr.sgl.type == NVME_SGL_TRANSPORT);
	uint16_t cid = le16toh(cmd.sqe.cid);
	/* R2T and the (error) response in one write: both parsed before any flush. */
	uint8_t pdu[64];
	size_t n = nvmf_tcp_build_r2t(pdu, cid, 3, 0, sizeof(buf), false);
	struct nvme_completion cqe = {.cid = htole16(cid), .status = htole16(NVME_STATUS(NVME_SCT_GENERIC, 6))};
	n += nvmf_tcp_build_capsule_resp(pdu + n, &cqe, false);
	lb_write_all(r.fd, pdu, n);
	for (int i = 0; i < 20; i++) {
		lib_pump(&r);
		usleep(1000);
	}
	CHECK(!d.done && nvmf_qpair_want_write(r.hq)); /* held back while the data is queued */
	for (uint32_t off = 0; off < sizeof(buf);) {
		struct nvme_tcp_data_pdu h;
		raw_read(&r, &h, sizeof(h));
		CHECK(h.ch.pdu_type == NVME_TCP_PDU_H2C_DATA && le16toh(h.ttag) == 3 && le32toh(h.datao) == off);
		uint32_t l = le32toh(h.datal);
		CHECK(l <= 65536 && off + l <= sizeof(buf));
		CHECK(!!(h.ch.flags & NVME_TCP_F_DATA_LAST) == (off + l == sizeof(buf)));
		raw_read(&r, got + off, l);
		off += l;
	}
	CHECK(memcmp(got, buf, sizeof(buf)) == 0);
	for (int i = 0; i < 2000 && !d.done; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d.done && d.error == 0 && d.status == NVME_STATUS(NVME_SCT_GENERIC, 6));
	CHECK(nvmf_qpair_outstanding(r.hq) == 0 && host_errors == 0);
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: response before our H2CData left\n");
}

/* The host side of the same: a malformed C2HTermReq is not answered either. */
static void host_case_bad_termreq(const char *name, enum bad_term how)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[4096];

	host_errors = 0;
	raw_ctrl_open(&r, 65536, false);
	for (int i = 0; i < 2000 && !nvmf_qpair_ready(r.hq); i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(nvmf_qpair_ready(r.hq));
	struct nvme_command sqe = {.opc = NVME_OPC_IDENTIFY};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(r.hq, &sqe);
	CHECK(nvmf_capsule_append_data(nc, buf, sizeof(buf), false) == 0);
	nvmf_capsule_set_done(nc, h_done, &d);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	struct nvme_tcp_capsule_cmd cmd;
	raw_read(&r, &cmd, sizeof(cmd));
	uint8_t pdu[256];
	size_t n = bad_term_req(pdu, true, how);
	raw_send(&r, pdu, n);
	raw_expect_closed(&r); /* fails if any byte, such as an H2CTermReq, arrives first */
	CHECK(d.done && d.error < 0);
	CHECK(host_errors == 1 && nvmf_qpair_failed(r.hq));
	check_term_reason(r.hq, how);
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: %s: closed, nothing sent back\n", name);
}

/* ---- Hostile controllers: C2HData order, SUCCESS, responses, R2Ts ---- */

static struct nvmf_association *host_nofc_na;

static void raw_ctrl_open_na(struct raw *r, uint32_t maxh2cdata, struct nvmf_association *na)
{
	int a, b;
	memset(r, 0, sizeof(*r));
	lb_pair(&a, &b);
	r->fd = b;
	struct nvmf_qpair_params hp = {.admin = true, .qid = 0, .qsize = 4, .fd = a, .error_cb = h_error};
	r->hq = nvmf_qpair_create(na, &hp);
	CHECK(r->hq);
	struct nvme_tcp_icreq req;
	raw_read(r, &req, sizeof(req));
	uint8_t pdu[NVMF_TCP_MAX_HDR];
	raw_send(r, pdu, nvmf_tcp_build_icresp(pdu, 0, false, false, maxh2cdata));
	for (int i = 0; i < 2000 && !nvmf_qpair_ready(r->hq); i++) {
		lib_pump(r);
		usleep(500);
	}
	CHECK(nvmf_qpair_ready(r->hq));
}

/* Transmit a command with len bytes of data; returns its capsule, *cid as sent. */
static struct nvmf_capsule *host_cmd(struct raw *r, uint8_t opc, void *buf, size_t len, bool send, struct hdone *d,
				     uint16_t *cid)
{
	struct nvme_command sqe = {.opc = opc};
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(r->hq, &sqe);
	CHECK(nvmf_capsule_append_data(nc, buf, len, send) == 0);
	nvmf_capsule_set_done(nc, h_done, d);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	struct nvme_tcp_capsule_cmd cmd;
	raw_read(r, &cmd, sizeof(cmd));
	CHECK(cmd.ch.pdu_type == NVME_TCP_PDU_CAPSULE_CMD && cmd.sqe.dptr.sgl.type == NVME_SGL_TRANSPORT);
	*cid = le16toh(cmd.sqe.cid);
	return nc;
}

static size_t c2h(uint8_t *pdu, uint16_t cid, uint32_t datao, uint32_t datal, bool last, bool success)
{
	size_t n = nvmf_tcp_build_c2h_data(pdu, cid, datao, datal, last, success, false, false, 0);
	lb_fill_pattern(pdu + n, datal, datao);
	return n + datal;
}

static void host_case_c2h(const char *name, int which)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[4096];
	static uint8_t pdu[3][64 + 4096];
	size_t n[3] = {0};
	int npdu = 1, bad;
	uint16_t cid, fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei = 0;
	const bool nofc = which >= 4;

	host_errors = 0;
	raw_ctrl_open_na(&r, 65536, nofc ? host_nofc_na : host_na);
	struct nvmf_capsule *nc = host_cmd(&r, NVME_OPC_IDENTIFY, buf, sizeof(buf), false, &d, &cid);
	struct nvme_completion cqe = {.cid = htole16(cid)};
	switch (which) {
	case 0: /* a gap: data at 1024 first */
		n[0] = c2h(pdu[0], cid, 1024, 1024, false, false), fei = 12;
		break;
	case 1: /* overlap: the first half twice */
		n[0] = c2h(pdu[0], cid, 0, 2048, false, false);
		n[1] = c2h(pdu[1], cid, 0, 2048, true, false), npdu = 2, fei = 12;
		break;
	case 2: /* SUCCESS before all the data, SQ flow control on (SUCCESS itself is fine:
		 * test_lb_c2h_success) */
		n[0] = c2h(pdu[0], cid, 0, 2048, true, true), fei = 1;
		break;
	case 3: /* SUCCESS without LAST_PDU (checked with the common header) */
		n[0] = c2h(pdu[0], cid, 0, 4096, false, true), fei = 1;
		break;
	case 4: /* SUCCESS with half the data */
		n[0] = c2h(pdu[0], cid, 0, 2048, true, true), fei = 1;
		break;
	case 5: /* SUCCESS, then a response for the same command */
		n[0] = c2h(pdu[0], cid, 0, 4096, true, true);
		n[1] = nvmf_tcp_build_capsule_resp(pdu[1], &cqe, false), npdu = 2, fei = 20;
		break;
	case 6: /* two responses for one command */
		n[0] = nvmf_tcp_build_capsule_resp(pdu[0], &cqe, false);
		n[1] = nvmf_tcp_build_capsule_resp(pdu[1], &cqe, false), npdu = 2, fei = 20;
		break;
	}
	bad = npdu - 1;
	for (int i = 0; i < npdu; i++)
		raw_send(&r, pdu[i], n[i]);
	raw_expect_term(&r, NVME_TCP_PDU_H2C_TERM_REQ, fes, fei, pdu[bad], 24);
	CHECK(host_errors == 1 && nvmf_qpair_failed(r.hq));
	CHECK(d.done);
	if (which < 5)
		CHECK(d.error < 0); /* the command failed with the queue pair */
	else
		CHECK(d.error == 0); /* it had completed before the bad PDU */
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: %s\n", name);
}

/* A successful response after only part of the read data: accepted, as Linux does (the
 * transport cannot know the command did not mean to move less); transferred tells. */
static void host_case_short_read(void)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[4096];
	static uint8_t pdu[64 + 4096];
	uint16_t cid;

	host_errors = 0;
	raw_ctrl_open_na(&r, 65536, host_na);
	struct nvmf_capsule *nc = host_cmd(&r, NVME_OPC_IDENTIFY, buf, sizeof(buf), false, &d, &cid);
	size_t n = c2h(pdu, cid, 0, 1024, true, false);
	struct nvme_completion cqe = {.cid = htole16(cid)};
	n += nvmf_tcp_build_capsule_resp(pdu + n, &cqe, false);
	raw_send(&r, pdu, n);
	for (int i = 0; i < 2000 && !d.done; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d.done && d.error == 0 && d.status == 0);
	CHECK(nvmf_capsule_data_transferred(nc) == 1024);
	CHECK(!nvmf_qpair_failed(r.hq) && host_errors == 0);
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: success response after a short read\n");
}

static void host_case_r2t(const char *name, int which)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[16384]; /* above the admin in-capsule limit: sent by R2T */
	uint8_t pdu[64];
	uint16_t cid, fes = NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	uint32_t fei = 0;
	size_t n = 0, bad = 0;

	host_errors = 0;
	raw_ctrl_open_na(&r, 4096, host_na); /* the host offers MAXR2T 0: one R2T at a time */
	struct nvmf_capsule *nc = host_cmd(&r, NVME_OPC_WRITE, buf, sizeof(buf), true, &d, &cid);
	switch (which) {
	case 0: /* the same range twice */
		n = nvmf_tcp_build_r2t(pdu, cid, 1, 0, 4096, false);
		bad = n;
		n += nvmf_tcp_build_r2t(pdu + n, cid, 2, 0, 4096, false), fei = 12;
		break;
	case 1: /* a second R2T while the first is outstanding */
		n = nvmf_tcp_build_r2t(pdu, cid, 1, 0, 4096, false);
		bad = n;
		n += nvmf_tcp_build_r2t(pdu + n, cid, 2, 4096, 4096, false);
		fes = NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED;
		break;
	case 2: /* past the command's data */
		n = nvmf_tcp_build_r2t(pdu, cid, 1, 8192, 16384, false);
		fes = NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE;
		break;
	}
	raw_send(&r, pdu, n); /* one write: parsed before any H2CData is flushed */
	raw_expect_term(&r, NVME_TCP_PDU_H2C_TERM_REQ, fes, fei, pdu + bad, 24);
	CHECK(host_errors == 1 && d.done && d.error < 0);
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: %s\n", name);
}

/* R2Ts one after another, each once the last one's data is in, with R2TL above MAXH2CDATA: fine. */
static void host_case_r2t_ok(void)
{
	struct raw r;
	struct hdone d = {0};
	static uint8_t buf[16384], got[16384];
	uint8_t pdu[64];
	uint16_t cid;

	host_errors = 0;
	lb_fill_pattern(buf, sizeof(buf), 5);
	raw_ctrl_open_na(&r, 4096, host_na);
	struct nvmf_capsule *nc = host_cmd(&r, NVME_OPC_WRITE, buf, sizeof(buf), true, &d, &cid);
	for (uint32_t o = 0; o < sizeof(buf); o += 8192) {
		raw_send(&r, pdu, nvmf_tcp_build_r2t(pdu, cid, 7, o, 8192, false));
		for (uint32_t k = 0; k < 8192; k += 4096) {
			struct nvme_tcp_data_pdu h;
			raw_read(&r, &h, sizeof(h));
			CHECK(h.ch.pdu_type == NVME_TCP_PDU_H2C_DATA && le32toh(h.datao) == o + k);
			CHECK(le32toh(h.datal) == 4096 && !!(h.ch.flags & NVME_TCP_F_DATA_LAST) == (k == 4096));
			raw_read(&r, got + o + k, 4096);
		}
	}
	CHECK(memcmp(got, buf, sizeof(buf)) == 0);
	struct nvme_completion cqe = {.cid = htole16(cid)};
	raw_send(&r, pdu, nvmf_tcp_build_capsule_resp(pdu, &cqe, false));
	for (int i = 0; i < 2000 && !d.done; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d.done && d.error == 0 && d.status == 0 && host_errors == 0);
	nvmf_capsule_free(nc);
	raw_close(&r);
	printf("ok: sequential R2Ts within MAXR2T\n");
}

/* ---- A TermReq behind a full send buffer ---- */

/* The controller's send buffer full of C2HData when the host sends a bad PDU: the queued
 * data is dropped, the TermReq is the last thing on the wire once the peer reads, then
 * the close.  With never_read, the controller gives up after about a second. */
static void ctrl_case_term_full(bool never_read)
{
	struct raw r;
	struct ddone d = {0};
	static uint8_t big[4 << 20];
	static uint8_t in[256 * 1024];
	int small = 16384;

	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	CHECK(setsockopt(nvmf_qpair_fd(r.st.qp), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	CHECK(setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
	struct nvme_command sqe = {.opc = NVME_OPC_READ, .cid = htole16(6), .nsid = htole32(1)};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	sqe.dptr.sgl.length = htole32(sizeof(big));
	raw_cmd(&r, &sqe, NULL, 0);
	for (int i = 0; i < 2000 && r.st.ncmds == 0; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(r.st.ncmds == 1);
	struct nvmf_capsule *nc = r.st.cmds[0];
	CHECK(nvmf_controller_send_data(nc, 0, big, sizeof(big), true, d_done, &d) >= 0);
	for (int i = 0; i < 50; i++) {
		lib_pump(&r);
		usleep(200);
	}
	CHECK(nvmf_qpair_want_write(r.st.qp)); /* stuck: the peer reads nothing */
	/* A bad PDU: a CapsuleCmd with a wrong HLEN. */
	uint8_t bad[NVMF_TCP_MAX_HDR];
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16(7)};
	nvmf_tcp_build_capsule_cmd(bad, &ka, 0, false, false, 0);
	bad[2] = 70;
	raw_send(&r, bad, 72);
	for (int i = 0; i < 50 && d.calls == 0; i++) {
		lib_pump(&r);
		usleep(1000);
	}
	CHECK(d.calls == 1 && d.error < 0); /* the transfer failed at once */
	CHECK(!nvmf_qpair_failed(r.st.qp) && r.st.errors == 0); /* reported once the TermReq is out */
	nvmf_capsule_free(nc);
	r.st.ncmds = 0;
	if (never_read) {
		for (int i = 0; i < 300 && !nvmf_qpair_failed(r.st.qp); i++) {
			lib_pump(&r);
			usleep(10000);
		}
		CHECK(nvmf_qpair_failed(r.st.qp) && r.st.errors == 1);
		raw_close(&r);
		printf("ok: TermReq given up on a peer that never reads\n");
		return;
	}
	/* Read the stream PDU by PDU: whole C2HData PDUs in order, then the TermReq, then the close. */
	uint32_t next = 0;
	for (;;) {
		struct nvme_tcp_common_header ch;
		raw_read(&r, &ch, sizeof(ch));
		uint32_t plen = le32toh(ch.plen);
		CHECK(plen >= 24 && plen <= sizeof(in));
		memcpy(in, &ch, sizeof(ch));
		raw_read(&r, in + 8, plen - 8);
		if (ch.pdu_type == NVME_TCP_PDU_C2H_TERM_REQ) {
			const struct nvme_tcp_term_req *t = (const void *)in;
			CHECK(le16toh(t->fes) == NVME_TCP_FES_INVALID_PDU_HEADER_FIELD && le32toh(t->fei) == 2);
			CHECK(plen == 24 + 70 && memcmp(in + 24, bad, 70) == 0);
			break;
		}
		const struct nvme_tcp_data_pdu *dp = (const void *)in;
		CHECK(ch.pdu_type == NVME_TCP_PDU_C2H_DATA && le32toh(dp->datao) == next);
		next += le32toh(dp->datal);
	}
	CHECK(next < sizeof(big)); /* the rest was dropped */
	raw_expect_closed(&r);
	CHECK(nvmf_qpair_failed(r.st.qp) && r.st.errors == 1);
	raw_close(&r);
	printf("ok: TermReq after a full send buffer\n");
}

/* A write abandoned (capsule freed) after its response but with its H2CData still queued:
 * its CID stays busy until that data has left, so a new command never shares it. */
static void host_case_cid_reuse(void)
{
	struct raw r;
	struct hdone d = {0}, d2 = {0};
	static uint8_t buf[16 << 20], got[NVMF_TCP_MAX_HDR + 65536];
	uint16_t cid, cid2 = 0;

	host_errors = 0;
	raw_ctrl_open_na(&r, 65536, host_na);
	struct nvmf_capsule *nc = host_cmd(&r, NVME_OPC_WRITE, buf, sizeof(buf), true, &d, &cid);
	uint8_t pdu[64];
	size_t n = nvmf_tcp_build_r2t(pdu, cid, 3, 0, sizeof(buf), false);
	struct nvme_completion cqe = {.cid = htole16(cid), .status = htole16(NVME_STATUS(NVME_SCT_GENERIC, 6))};
	n += nvmf_tcp_build_capsule_resp(pdu + n, &cqe, false);
	lb_write_all(r.fd, pdu, n);
	for (int i = 0; i < 20; i++) {
		lib_pump(&r);
		usleep(1000);
	}
	CHECK(!d.done && nvmf_qpair_want_write(r.hq));
	nvmf_capsule_free(nc); /* abandoned; buf stays valid */
	CHECK(nvmf_qpair_outstanding(r.hq) == 1);
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	struct nvmf_capsule *nc2 = nvmf_capsule_alloc_command(r.hq, &ka);
	nvmf_capsule_set_done(nc2, h_done, &d2);
	CHECK(nvmf_capsule_transmit(nc2) == 0);
	/* The rest of the data, then the new command, on another CID. */
	uint32_t next = 0;
	for (;;) {
		struct nvme_tcp_common_header ch;
		raw_read(&r, &ch, sizeof(ch));
		CHECK(le32toh(ch.plen) <= sizeof(got));
		memcpy(got, &ch, sizeof(ch));
		raw_read(&r, got + 8, le32toh(ch.plen) - 8);
		if (ch.pdu_type == NVME_TCP_PDU_CAPSULE_CMD) {
			cid2 = le16toh(((const struct nvme_tcp_capsule_cmd *)got)->sqe.cid);
			break;
		}
		const struct nvme_tcp_data_pdu *h = (const void *)got;
		CHECK(ch.pdu_type == NVME_TCP_PDU_H2C_DATA && le16toh(h->cccid) == cid && le32toh(h->datao) == next);
		next += le32toh(h->datal);
	}
	CHECK(cid2 != cid);
	CHECK(next > 0); /* some data was still queued when the capsule was freed */
	for (int i = 0; i < 2000 && nvmf_qpair_outstanding(r.hq) != 1; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(nvmf_qpair_outstanding(r.hq) == 1); /* the old CID is free once its data left */
	cqe = (struct nvme_completion){.cid = htole16(cid2)};
	raw_send(&r, pdu, nvmf_tcp_build_capsule_resp(pdu, &cqe, false));
	for (int i = 0; i < 2000 && !d2.done; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(d2.done && d2.error == 0 && d2.status == 0 && host_errors == 0);
	CHECK(!d.done); /* the freed capsule reports nothing */
	nvmf_capsule_free(nc2);
	raw_close(&r);
	printf("ok: CID of an abandoned write kept until its data left\n");
}

/* Controller API: C2HData in order only, R2T fetches never going back. */
static void ctrl_case_order(void)
{
	struct raw r;
	static uint8_t buf[8192];

	raw_host_open(&r, false, false, 0);
	raw_connect(&r);
	struct nvme_command sqe = {.opc = NVME_OPC_READ, .cid = htole16(6), .nsid = htole32(1)};
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	sqe.dptr.sgl.length = htole32(sizeof(buf));
	raw_cmd(&r, &sqe, NULL, 0);
	sqe.opc = NVME_OPC_WRITE;
	sqe.cid = htole16(7);
	raw_cmd(&r, &sqe, NULL, 0);
	for (int i = 0; i < 2000 && r.st.ncmds < 2; i++) {
		lib_pump(&r);
		usleep(500);
	}
	CHECK(r.st.ncmds == 2);
	struct nvmf_capsule *rd = r.st.cmds[0], *wr = r.st.cmds[1];
	CHECK(nvmf_controller_send_data(rd, 4096, buf, 4096, false, NULL, NULL) == -EINVAL); /* a gap */
	CHECK(nvmf_controller_send_data(rd, 0, buf, 4096, false, NULL, NULL) == 0);
	CHECK(nvmf_controller_send_data(rd, 0, buf, 4096, false, NULL, NULL) == -EINVAL); /* overlap */
	CHECK(nvmf_controller_send_data(rd, 4096, buf, 4096, true, NULL, NULL) >= 0);
	CHECK(nvmf_controller_receive_data(wr, 4096, buf + 4096, 4096, NULL, NULL) == 0);
	CHECK(nvmf_controller_receive_data(wr, 0, buf, 4096, NULL, NULL) == -EINVAL); /* going back */
	CHECK(!nvmf_qpair_failed(r.st.qp));
	raw_close(&r);
	printf("ok: data transfer order enforced\n");
}

/* SQHD: advances per command and wraps at the queue size; 0 (reserved) without SQ flow control. */
static void ctrl_case_sqhd(bool fc)
{
	struct raw r;
	raw_host_open(&r, false, false, 0);
	struct nvmf_connect_command cc = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_CONNECT, .cid = htole16(1),
					  .sqsize = htole16(15), .cattr = fc ? 0 : NVMF_CONNECT_ATTR_DISABLE_SQ_FC};
	struct nvmf_connect_data data = {0};
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	sqe.dptr.sgl.type = NVME_SGL_INCAPSULE;
	sqe.dptr.sgl.length = htole32(sizeof(data));
	raw_cmd(&r, &sqe, &data, sizeof(data));
	for (int i = 0; i < 40; i++) {
		for (int k = 0; k < 2000 && r.st.ncmds == 0; k++) {
			lib_pump(&r);
			usleep(200);
		}
		CHECK(r.st.ncmds == 1);
		CHECK(nvmf_controller_send_status(r.st.cmds[0], 0, 0) == 0);
		nvmf_capsule_free(r.st.cmds[0]);
		r.st.ncmds = 0;
		struct nvme_tcp_capsule_resp resp;
		raw_read(&r, &resp, sizeof(resp));
		CHECK(resp.ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP);
		CHECK(le16toh(resp.cqe.sqhd) == (fc ? (i + 1) % 16 : 0));
		struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE, .cid = htole16((uint16_t)(2 + i))};
		ka.dptr.sgl.type = NVME_SGL_TRANSPORT;
		raw_cmd(&r, &ka, NULL, 0);
	}
	CHECK(nvmf_qpair_sq_flow_control(r.st.qp) == fc);
	raw_close(&r);
	printf("ok: SQHD %s SQ flow control\n", fc ? "with" : "without");
}

int main(void)
{
	struct nvmf_association_params cp = {
		.sq_flow_control = false,
		.header_digests = true,
		.data_digests = true,
		.maxh2cdata = MAXH2C,
		.ioccsz = 8192,
	};
	/* Parameters no peer could accept are refused up front. */
	struct nvmf_association_params bad = {.maxh2cdata = 1000};
	CHECK(nvmf_association_create(NVMF_TRTYPE_TCP, true, &bad) == NULL && errno == EINVAL);
	bad = (struct nvmf_association_params){.pda = 32};
	CHECK(nvmf_association_create(NVMF_TRTYPE_TCP, false, &bad) == NULL && errno == EINVAL);
	CHECK(nvmf_association_create(NVMF_TRTYPE_RDMA, false, &cp) == NULL && errno == EPROTONOSUPPORT);
	ctrl_na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &cp);
	struct nvmf_association_params hp = {.sq_flow_control = true};
	host_na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	hp.data_digests = true;
	host_dd_na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	hp.data_digests = false;
	hp.sq_flow_control = false;
	host_nofc_na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	CHECK(ctrl_na && host_na);
	good_setup();

	ctrl_case_header("unknown PDU type", false, m_unknown_type, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 0, 8);
	ctrl_case_header("PDU type of the wrong direction", false, m_wrong_dir, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
			 0, 72);
	ctrl_case_header("wrong flags", false, m_flags, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 1, 72);
	ctrl_case_header("wrong HLEN", false, m_hlen, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 2, 70);
	ctrl_case_header("misaligned PDO", false, m_pdo, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 3, 72);
	ctrl_case_header("wrong PLEN", false, m_plen, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 4, 72);
	ctrl_case_header("header digest mismatch", true, m_hdgst, NVME_TCP_FES_HEADER_DIGEST_ERROR, 0, 72);
	ctrl_case_header("in-capsule data over the limit", false, m_too_much_icd,
			 NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0, 72);
	ctrl_case_header("ICReq after the handshake", false, m_icreq_again, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, 128);
	ctrl_case_h2c("H2CData without an R2T", 0);
	ctrl_case_h2c("H2CData with a wrong TTAG", 1);
	ctrl_case_h2c("H2CData at a wrong offset", 2);
	ctrl_case_h2c("H2CData with a wrong DATAL", 3);
	ctrl_case_h2c("H2CData past the command", 4);
	ctrl_case_h2c("H2CData over MAXH2CDATA", 5);
	ctrl_case_h2c("H2CData ending the R2T without LAST_PDU", 6);
	ctrl_case_h2c("H2CData with LAST_PDU before the R2T's end", 7);
	ctrl_case_icreq("ICReq with PFV 1", 8, 1, 8);
	ctrl_case_icreq("ICReq with HPDA 32", 10, 32, 10);
	ctrl_case_icreq("ICReq with reserved digest bits", 11, 0x04, 11);
	ctrl_case_ddgst();
	ctrl_case_termreq_in();
	ctrl_case_bad_termreq("H2CTermReq with 128 bytes of data (the most)", TERM_OK_MAX);
	ctrl_case_bad_termreq("H2CTermReq with PLEN 160", TERM_PLEN_BIG);
	ctrl_case_bad_termreq("H2CTermReq with PLEN 20", TERM_PLEN_SMALL);
	ctrl_case_bad_termreq("H2CTermReq with HLEN 28", TERM_HLEN);
	ctrl_case_bad_termreq("H2CTermReq with PDO 24", TERM_PDO);
	ctrl_case_bad_termreq("H2CTermReq with HDGSTF", TERM_HDGST);
	ctrl_case_bad_termreq("C2HTermReq from a host", TERM_WRONG_DIR);
	ctrl_case_stall();
	ctrl_case_no_connect();
	ctrl_case_validate();
	ctrl_case_cmd_before_icreq();
	ctrl_case_icd_digest();
	ctrl_case_flood();
	host_case("response for an unknown CID", 0);
	host_case("C2HData past the buffer", 1);
	host_case("C2HTermReq received", 2);
	host_case_bad_termreq("C2HTermReq with 128 bytes of data (the most)", TERM_OK_MAX);
	host_case_bad_termreq("C2HTermReq with PLEN 160", TERM_PLEN_BIG);
	host_case_bad_termreq("C2HTermReq with PLEN 20", TERM_PLEN_SMALL);
	host_case_bad_termreq("C2HTermReq with HLEN 28", TERM_HLEN);
	host_case_bad_termreq("C2HTermReq with PDO 24", TERM_PDO);
	host_case_bad_termreq("C2HTermReq with HDGSTF", TERM_HDGST);
	host_case_bad_termreq("H2CTermReq from a controller", TERM_WRONG_DIR);
	host_case("ICResp with MAXH2CDATA 1000", 3);
	host_case("C2HData data digest error", 4);
	host_case_early_resp();
	host_case_c2h("C2HData with a gap", 0);
	host_case_c2h("C2HData overlapping", 1);
	host_case_c2h("C2HData SUCCESS before all the data, SQ flow control on", 2);
	host_case_c2h("C2HData SUCCESS without LAST_PDU", 3);
	host_case_c2h("C2HData SUCCESS before all the data", 4);
	host_case_c2h("response after C2HData SUCCESS", 5);
	host_case_c2h("second response for a CID", 6);
	host_case_short_read();
	host_case_r2t("R2T overlapping an earlier one", 0);
	host_case_r2t("R2Ts beyond MAXR2T", 1);
	host_case_r2t("R2T past the command's data", 2);
	host_case_r2t_ok();
	host_case_cid_reuse();
	ctrl_case_sqhd(true);
	ctrl_case_sqhd(false);
	ctrl_case_order();
	ctrl_case_term_full(false);
	ctrl_case_term_full(true);

	good_check();
	nvmf_qpair_free(good_host);
	for (int i = 0; i < good_ctrl.ncmds; i++)
		nvmf_capsule_free(good_ctrl.cmds[i]);
	nvmf_qpair_free(good_ctrl.qp);
	nvmf_association_free(ctrl_na);
	nvmf_association_free(host_na);
	nvmf_association_free(host_dd_na);
	nvmf_association_free(host_nofc_na);
	printf("all malformed-input cases passed\n");
	return 0;
}
