/*
 * Replay PDUs the Linux 6.1 kernel sent (tests/unit/vectors) against this
 * library over real sockets, so the state machines meet bytes this project
 * did not write.
 *  - Controller: the kernel host's PDUs go to our controller queue pair (the
 *    H2CData TTAG patched to the one our R2T chose); every command must be
 *    delivered, valid, and answered.
 *  - Host: our host queue pair sends the same commands (checked byte for byte
 *    against the kernel host's, CIDs aside); the kernel target's answers,
 *    CIDs patched to ours, must complete them with the captured data.
 * Usage: test_lb_linux_replay VECTOR_DIR
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"
#include "tcp/tcp_pdu.h"

struct pdu {
	char name[256];
	bool h2c; /* host2ctrl */
	uint8_t *buf;
	size_t len;
};

static struct pdu pdus[256];
static int npdus;

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct pdu *)a)->name, ((const struct pdu *)b)->name);
}

static void load(const char *dir, const char *conn)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cl = strlen(conn);

	CHECK(d);
	npdus = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, conn, cl) || e->d_name[cl] != '-')
			continue;
		CHECK(npdus < 256);
		struct pdu *p = &pdus[npdus++];
		snprintf(p->name, sizeof(p->name), "%s", e->d_name);
		p->h2c = strstr(e->d_name, "host2ctrl") != NULL;
		char path[1400];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f);
		fseek(f, 0, SEEK_END);
		p->len = (size_t)ftell(f);
		fseek(f, 0, SEEK_SET);
		p->buf = malloc(p->len);
		CHECK(fread(p->buf, 1, p->len, f) == p->len);
		fclose(f);
	}
	closedir(d);
	qsort(pdus, (size_t)npdus, sizeof(pdus[0]), cmp_name);
}

static void unload(void)
{
	for (int i = 0; i < npdus; i++)
		free(pdus[i].buf);
	npdus = 0;
}

static uint8_t type_of(const struct pdu *p) { return p->buf[0]; }
static bool has_hdgst(const uint8_t *b) { return b[1] & NVME_TCP_F_HDGST; }
static void fix_hdgst(uint8_t *b)
{
	if (has_hdgst(b))
		nvmf_tcp_put_header_digest(b);
}

/* Read one PDU from a raw socket while pumping the library's queue pair. */
static size_t read_pdu(int fd, struct nvmf_qpair *qp, uint8_t *buf, size_t cap)
{
	size_t got = 0, want = 8;

	for (int i = 0; i < 4000 && got < want; i++) {
		if (!nvmf_qpair_failed(qp))
			CHECK(nvmf_qpair_process(qp) >= 0);
		ssize_t k = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (k > 0) {
			got += (size_t)k;
			if (got == 8) {
				want = le32toh(((struct nvme_tcp_common_header *)buf)->plen);
				CHECK(want >= 8 && want <= cap);
			}
			continue;
		}
		CHECK(k < 0);
		usleep(250);
	}
	CHECK(got == want);
	return got;
}

/* ---- Our controller against the kernel host's PDUs ---- */

struct cstate {
	struct nvmf_capsule *cmds[64];
	int ncmds;
	int data_done;
};

static void c_receive(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct cstate *s = arg;
	(void)qp;
	CHECK(s->ncmds < 64);
	s->cmds[s->ncmds++] = nc;
}

static void c_data_done(void *arg, struct nvmf_capsule *nc, int error)
{
	struct cstate *s = arg;
	CHECK(error == 0);
	s->data_done++;
	CHECK(nvmf_controller_send_status(nc, 0, 0) == 0);
	nvmf_capsule_free(nc);
}

static void replay_to_controller(const char *dir, const char *conn, bool digests)
{
	struct nvmf_association_params p = {.header_digests = true, .data_digests = true, .maxh2cdata = 4194304,
					    .ioccsz = 16384};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, true, &p);
	struct cstate st = {0};
	int a, b;
	lb_pair(&a, &b);
	struct nvmf_qpair_params qpp = {.fd = b, .receive_cb = c_receive, .cb_arg = &st};
	struct nvmf_qpair *qp = nvmf_qpair_create(na, &qpp);
	static uint8_t in[128 * 1024], scratch[128 * 1024];
	struct nvmf_capsule *held[8];
	int nheld = 0, commands = 0, answered = 0, writes_pending = 0;
	uint16_t ttag = 0xffff;

	load(dir, conn);
	for (int i = 0; i < npdus; i++) {
		struct pdu *pd = &pdus[i];
		if (!pd->h2c)
			continue;
		if (type_of(pd) == NVME_TCP_PDU_H2C_DATA) {
			/* Wait for our R2T, answer it with the kernel's data under our TTAG. */
			while (ttag == 0xffff) {
				size_t n = read_pdu(a, qp, in, sizeof(in));
				(void)n;
				if (in[0] == NVME_TCP_PDU_R2T)
					ttag = le16toh(((struct nvme_tcp_r2t *)in)->ttag);
				else if (in[0] == NVME_TCP_PDU_CAPSULE_RESP)
					answered++;
			}
			struct nvme_tcp_data_pdu *h = (void *)pd->buf;
			h->ttag = htole16(ttag);
			fix_hdgst(pd->buf);
			ttag = 0xffff;
		}
		lb_write_all(a, pd->buf, pd->len);
		if (type_of(pd) == NVME_TCP_PDU_ICREQ) {
			read_pdu(a, qp, in, sizeof(in));
			const struct nvme_tcp_icresp *r = (const void *)in;
			CHECK(r->ch.pdu_type == NVME_TCP_PDU_ICRESP && r->dgst == (digests ? 3 : 0));
			continue;
		}
		if (type_of(pd) == NVME_TCP_PDU_H2C_DATA) {
			for (int k = 0; k < 4000 && st.data_done < 1; k++) {
				CHECK(nvmf_qpair_process(qp) >= 0);
				usleep(250);
			}
			CHECK(st.data_done == 1);
			st.data_done = 0;
			writes_pending--;
			continue;
		}
		CHECK(type_of(pd) == NVME_TCP_PDU_CAPSULE_CMD);
		commands++;
		for (int k = 0; k < 4000 && st.ncmds == 0; k++) {
			CHECK(nvmf_qpair_process(qp) >= 0);
			usleep(250);
		}
		CHECK(st.ncmds == 1);
		struct nvmf_capsule *nc = st.cmds[0];
		st.ncmds = 0;
		const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
		CHECK(memcmp(sqe, pd->buf + 8, 64) == 0);
		CHECK(nvmf_capsule_validate_command(nc) == 0);
		size_t len = nvmf_capsule_data_len(nc), icl;
		const void *icd = nvmf_capsule_incapsule_data(nc, &icl);
		if (icd) {
			const struct nvme_tcp_common_header *ch = (const void *)pd->buf;
			CHECK(icl == len && memcmp(icd, pd->buf + ch->pdo, len) == 0);
		}
		if (sqe->opc == NVME_OPC_ASYNC_EVENT_REQUEST && nvmf_qpair_qid(qp) == 0) {
			held[nheld++] = nc;
		} else if (len && !icd && (sqe->opc & 3) == 1) {
			CHECK(nvmf_controller_receive_data(nc, 0, scratch, len, c_data_done, &st) == 0);
			writes_pending++;
		} else {
			if (len && !icd && (sqe->opc & 3) == 2) {
				memset(scratch, 0, len);
				CHECK(nvmf_controller_send_data(nc, 0, scratch, len, true, NULL, NULL) == 0);
			}
			CHECK(nvmf_controller_send_status(nc, 0, sqe->opc == NVME_OPC_FABRICS ? 1 : 0) == 0);
			nvmf_capsule_free(nc);
		}
	}
	for (int i = 0; i < nheld; i++) {
		CHECK(nvmf_controller_send_status(held[i], NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION), 0) == 0);
		nvmf_capsule_free(held[i]);
	}
	CHECK(writes_pending == 0);
	/* Every command answered: count the responses still to come. */
	while (answered < commands) {
		read_pdu(a, qp, in, sizeof(in));
		if (in[0] == NVME_TCP_PDU_CAPSULE_RESP)
			answered++;
		else
			CHECK(in[0] == NVME_TCP_PDU_C2H_DATA);
	}
	CHECK(!nvmf_qpair_failed(qp));
	nvmf_qpair_free(qp);
	nvmf_association_free(na);
	close(a);
	unload();
	printf("ok: controller replay %s %s (%d commands)\n", digests ? "digest" : "nodigest", conn, commands);
}

/* ---- Our host against the kernel target's PDUs ---- */

struct hcmd {
	struct nvmf_capsule *nc;
	uint16_t linux_cid, our_cid;
	uint8_t *buf;
	size_t len;
	bool done;
	uint16_t status;
	const struct pdu *c2h; /* expected read data */
};

static void h_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct hcmd *c = arg;
	(void)nc;
	CHECK(error == 0 && cqe);
	c->done = true;
	c->status = le16toh(cqe->status) & 0xfffe;
}

static struct hcmd *by_linux_cid(struct hcmd *cmds, int n, uint16_t cid)
{
	for (int i = n - 1; i >= 0; i--)
		if (cmds[i].linux_cid == cid && !cmds[i].done)
			return &cmds[i];
	CHECK(!"unknown Linux CID");
	return NULL;
}

static void replay_to_host(const char *dir, const char *conn, bool digests)
{
	struct nvmf_association_params p = {.sq_flow_control = true, .header_digests = digests, .data_digests = digests,
					    .ioccsz = 16384};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &p);
	static uint8_t in[128 * 1024];
	struct hcmd cmds[64];
	int ncmds = 0;
	struct nvmf_qpair *qp = NULL;
	int a = -1, b = -1;

	memset(cmds, 0, sizeof(cmds));
	load(dir, conn);
	/* The queue's ID and size come from the kernel host's Connect. */
	for (int i = 0; i < npdus; i++)
		if (type_of(&pdus[i]) == NVME_TCP_PDU_CAPSULE_CMD) {
			const struct nvmf_connect_command *cc = (const void *)(pdus[i].buf + 8);
			CHECK(cc->opc == NVME_OPC_FABRICS && cc->fctype == NVMF_FCTYPE_CONNECT);
			lb_pair(&a, &b);
			struct nvmf_qpair_params qpp = {.admin = cc->qid == 0, .qid = le16toh(cc->qid),
							.qsize = (uint16_t)(le16toh(cc->sqsize) + 1), .fd = a};
			qp = nvmf_qpair_create(na, &qpp);
			break;
		}
	CHECK(qp);
	for (int i = 0; i < npdus; i++) {
		struct pdu *pd = &pdus[i];
		const uint8_t t = type_of(pd);
		if (t == NVME_TCP_PDU_ICREQ) {
			read_pdu(b, qp, in, sizeof(in));
			CHECK(memcmp(in, pd->buf, pd->len) == 0); /* our ICReq is the kernel's, byte for byte */
			continue;
		}
		if (t == NVME_TCP_PDU_ICRESP) {
			lb_write_all(b, pd->buf, pd->len);
			for (int k = 0; k < 4000 && !nvmf_qpair_ready(qp); k++) {
				CHECK(nvmf_qpair_process(qp) >= 0);
				usleep(250);
			}
			CHECK(nvmf_qpair_ready(qp));
			continue;
		}
		if (t == NVME_TCP_PDU_CAPSULE_CMD) {
			/* Send the same command; compare what goes on the wire. */
			const struct nvme_tcp_common_header *ch = (const void *)pd->buf;
			const struct nvme_command *lsqe = (const void *)(pd->buf + 8);
			struct hcmd *c = &cmds[ncmds++];
			c->linux_cid = le16toh(lsqe->cid);
			c->len = le32toh(lsqe->dptr.sgl.length);
			bool send = lsqe->dptr.sgl.type == NVME_SGL_INCAPSULE || (lsqe->opc & 3) == 1;
			c->nc = nvmf_capsule_alloc_command(qp, lsqe);
			if (c->len) {
				c->buf = calloc(1, c->len);
				if (lsqe->dptr.sgl.type == NVME_SGL_INCAPSULE)
					memcpy(c->buf, pd->buf + ch->pdo, c->len);
				else if (send) /* the data of the kernel's H2CData for this command */
					for (int j = i + 1; j < npdus; j++)
						if (type_of(&pdus[j]) == NVME_TCP_PDU_H2C_DATA &&
						    le16toh(((struct nvme_tcp_data_pdu *)pdus[j].buf)->cccid) == c->linux_cid) {
							const struct nvme_tcp_data_pdu *h = (const void *)pdus[j].buf;
							memcpy(c->buf + le32toh(h->datao), pdus[j].buf + h->ch.pdo,
							       le32toh(h->datal));
						}
				CHECK(nvmf_capsule_append_data(c->nc, c->buf, c->len, send) == 0);
			}
			nvmf_capsule_set_done(c->nc, h_done, c);
			CHECK(nvmf_capsule_transmit(c->nc) == 0);
			size_t n = read_pdu(b, qp, in, sizeof(in));
			c->our_cid = le16toh(((struct nvme_command *)(in + 8))->cid);
			/* Identical but for the CID (and the digest over it). */
			((struct nvme_command *)(in + 8))->cid = lsqe->cid;
			fix_hdgst(in);
			CHECK(n == pd->len && memcmp(in, pd->buf, n) == 0);
			continue;
		}
		if (t == NVME_TCP_PDU_H2C_DATA) {
			/* Ours, after the R2T: byte for byte the kernel's but for the CID. */
			read_pdu(b, qp, in, sizeof(in));
			struct nvme_tcp_data_pdu *h = (void *)in;
			struct hcmd *c = by_linux_cid(cmds, ncmds, le16toh(((struct nvme_tcp_data_pdu *)pd->buf)->cccid));
			CHECK(le16toh(h->cccid) == c->our_cid);
			h->cccid = htole16(c->linux_cid);
			fix_hdgst(in);
			CHECK(memcmp(in, pd->buf, pd->len) == 0);
			continue;
		}
		/* The kernel target's answers, with our CIDs. */
		struct hcmd *c;
		if (t == NVME_TCP_PDU_CAPSULE_RESP) {
			struct nvme_tcp_capsule_resp *r = (void *)pd->buf;
			c = by_linux_cid(cmds, ncmds, le16toh(r->cqe.cid));
			r->cqe.cid = htole16(c->our_cid);
		} else {
			CHECK(t == NVME_TCP_PDU_C2H_DATA || t == NVME_TCP_PDU_R2T);
			struct nvme_tcp_data_pdu *d = (void *)pd->buf;
			c = by_linux_cid(cmds, ncmds, le16toh(d->cccid));
			d->cccid = htole16(c->our_cid);
			if (t == NVME_TCP_PDU_C2H_DATA)
				c->c2h = pd;
		}
		fix_hdgst(pd->buf);
		lb_write_all(b, pd->buf, pd->len);
		if (t == NVME_TCP_PDU_CAPSULE_RESP) {
			for (int k = 0; k < 4000 && !c->done; k++) {
				CHECK(nvmf_qpair_process(qp) >= 0);
				usleep(250);
			}
			CHECK(c->done);
		}
	}
	for (int i = 0; i < ncmds; i++) {
		struct hcmd *c = &cmds[i];
		CHECK(c->done);
		if (c->c2h) {
			const struct nvme_tcp_data_pdu *d = (const void *)c->c2h->buf;
			CHECK(memcmp(c->buf + le32toh(d->datao), c->c2h->buf + d->ch.pdo, le32toh(d->datal)) == 0);
			CHECK(nvmf_capsule_data_transferred(c->nc) == c->len);
		}
		nvmf_capsule_free(c->nc);
		free(c->buf);
	}
	CHECK(!nvmf_qpair_failed(qp) && nvmf_qpair_outstanding(qp) == 0);
	nvmf_qpair_free(qp);
	nvmf_association_free(na);
	close(b);
	unload();
	printf("ok: host replay %s %s (%d commands)\n", digests ? "digest" : "nodigest", conn, ncmds);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	static const char *conns[] = {"c1", "c2", "c3"};
	for (int dg = 0; dg < 2; dg++) {
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s/linux-6.1-host-target-%s", argv[1], dg ? "digest" : "nodigest");
		for (int i = 0; i < 3; i++) {
			replay_to_controller(dir, conns[i], dg);
			replay_to_host(dir, conns[i], dg);
		}
	}
	return 0;
}
