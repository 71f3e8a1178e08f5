/*
 * Mutated PDU streams against a controller queue pair and a host queue pair:
 * whatever arrives, the library must not crash, leak or hang; the queue pair
 * either keeps working or fails cleanly (error_cb once, every callback once).
 * Deterministic (fixed seeds); most useful under ASan/UBSan.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "lb_util.h"
#include "tcp/tcp_pdu.h"
#include "util/crc32c.h"

static unsigned rng_state;
static unsigned rnd(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* ---- Controller side ---- */

struct ctl {
	int errors;
	int data_cbs_pending;
	struct nvmf_capsule *held[64];
	int nheld;
};

static uint8_t sink[1 << 20];
static unsigned stat_cmds, stat_fail, stat_data, stat_hdone, stat_hfail;

static void data_cb(void *arg, struct nvmf_capsule *nc, int error)
{
	struct ctl *c = arg;
	c->data_cbs_pending--;
	stat_data += error == 0;
	if (!nvmf_qpair_failed(nvmf_capsule_qpair(nc)))
		(void)nvmf_controller_send_status(nc, error ? 0x44 : 0, 0);
	nvmf_capsule_free(nc);
}

static void ctl_receive(void *arg, struct nvmf_qpair *qp, struct nvmf_capsule *nc)
{
	struct ctl *c = arg;
	const struct nvme_command *sqe = nvmf_capsule_sqe(nc);
	(void)qp;
	stat_cmds++;
	uint16_t st = nvmf_capsule_validate_command(nc);
	size_t len = nvmf_capsule_data_len(nc);
	if (st || len > sizeof(sink)) {
		(void)nvmf_controller_send_status(nc, st ? st : 2, 0);
		nvmf_capsule_free(nc);
		return;
	}
	if (len && !nvmf_capsule_incapsule_data(nc, NULL)) {
		if (sqe->opc & 1) {
			c->data_cbs_pending++;
			if (nvmf_controller_receive_data(nc, 0, sink, len, data_cb, c) < 0) {
				c->data_cbs_pending--;
				nvmf_capsule_free(nc);
			}
			return;
		}
		int rc = nvmf_controller_send_data(nc, 0, sink, len, true, NULL, NULL);
		if (rc == NVMF_SUCCESS_SENT) {
			nvmf_capsule_free(nc);
			return;
		}
	}
	if (sqe->opc == 0x0c && c->nheld < 64) { /* hold some, freed at the end */
		c->held[c->nheld++] = nc;
		return;
	}
	(void)nvmf_controller_send_status(nc, 0, 0);
	nvmf_capsule_free(nc);
}

static void ctl_error(void *arg, struct nvmf_qpair *qp, int error)
{
	struct ctl *c = arg;
	(void)qp, (void)error;
	c->errors++;
}

/* A plausible host stream: ICReq, Connect, commands with and without data, H2CData. */
static size_t host_stream(uint8_t *out, bool hd, bool dd)
{
	size_t n = nvmf_tcp_build_icreq(out, 0, hd, dd, 3);
	static uint8_t data[8192];
	struct nvmf_connect_command cc = {.opc = NVME_OPC_FABRICS, .fctype = NVMF_FCTYPE_CONNECT, .sqsize = htole16(31),
					  .flags = NVME_CMD_PSDT_SGL};
	cc.sgl.type = NVME_SGL_INCAPSULE;
	cc.sgl.length = htole32(1024);
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	for (int i = 0; i < 6; i++) {
		uint32_t len = i == 0 ? 1024 : (i % 2 ? 0 : 512 * (unsigned)i);
		if (i > 0) {
			memset(&sqe, 0, sizeof(sqe));
			sqe.opc = i == 5 ? 0x0c : NVME_OPC_WRITE;
			sqe.flags = NVME_CMD_PSDT_SGL;
			sqe.cid = htole16((uint16_t)i);
			sqe.dptr.sgl.type = len ? NVME_SGL_INCAPSULE : NVME_SGL_TRANSPORT;
			sqe.dptr.sgl.length = htole32(len ? len : 8192);
		}
		size_t h = nvmf_tcp_build_capsule_cmd(out + n, &sqe, len, hd, dd, 0);
		n += h;
		memcpy(out + n, data, len);
		n += len;
		if (dd && len) {
			uint32_t d = htole32(nvmf_crc32c(data, len));
			memcpy(out + n, &d, 4);
			n += 4;
		}
		if (i > 0 && !len) {
			/* H2CData guessing TTAGs 0 and 1 for the R2T write. */
			for (int k = 0; k < 2; k++) {
				h = nvmf_tcp_build_h2c_data(out + n, (uint16_t)i, (uint16_t)k, (uint32_t)k * 4096, 4096, true,
							    hd, dd, 0);
				n += h;
				memcpy(out + n, data, 4096);
				n += 4096;
				if (dd) {
					uint32_t d = htole32(nvmf_crc32c(data, 4096));
					memcpy(out + n, &d, 4);
					n += 4;
				}
			}
		}
	}
	return n;
}

static void mutate(uint8_t *buf, size_t n)
{
	int flips = 1 + (int)(rnd() % 4);
	for (int i = 0; i < flips; i++) {
		size_t at = rnd() % n;
		switch (rnd() % 3) {
		case 0:
			buf[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:
			buf[at] = (uint8_t)rnd();
			break;
		default:
			buf[at] = (uint8_t)(rnd() % 2 ? 0 : 0xff);
		}
	}
}

static void run_ctrl(struct nvmf_association *na, unsigned seed)
{
	static uint8_t stream[64 * 1024];
	struct ctl c = {0};
	int a, b;

	rng_state = seed;
	bool hd = rnd() % 2, dd = rnd() % 2;
	size_t n = host_stream(stream, hd, dd);
	if (seed % 8)
		mutate(stream + 128, n - 128); /* keep the ICReq mostly sane so deeper states are reached */
	else
		mutate(stream, n);
	lb_pair(&a, &b);
	struct nvmf_qpair_params p = {.fd = b, .receive_cb = ctl_receive, .error_cb = ctl_error, .cb_arg = &c};
	struct nvmf_qpair *qp = nvmf_qpair_create(na, &p);
	CHECK(qp);
	/* Send in random pieces, draining whatever comes back. */
	size_t off = 0;
	static uint8_t junk[256 * 1024];
	while (off < n) {
		size_t k = 1 + rnd() % 9000;
		if (k > n - off)
			k = n - off;
		if (send(a, stream + off, k, MSG_NOSIGNAL) < 0)
			break;
		off += k;
		for (int i = 0; i < 3; i++) {
			int rc = nvmf_qpair_process(qp);
			if (rc < 0)
				break;
			(void)recv(a, junk, sizeof(junk), MSG_DONTWAIT);
		}
		if (nvmf_qpair_failed(qp))
			break;
	}
	for (int i = 0; i < 20 && !nvmf_qpair_failed(qp); i++) {
		(void)nvmf_qpair_process(qp);
		(void)recv(a, junk, sizeof(junk), MSG_DONTWAIT);
	}
	CHECK(c.errors <= 1);
	CHECK(c.errors == 0 || nvmf_qpair_failed(qp));
	stat_fail += c.errors;
	for (int i = 0; i < c.nheld; i++)
		nvmf_capsule_free(c.held[i]);
	close(a);
	nvmf_qpair_free(qp); /* outstanding data callbacks run now, with an error */
	CHECK(c.data_cbs_pending == 0);
}

/* ---- Host side ---- */

struct hst {
	int done;
	int errors;
};

static void h_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct hst *h = arg;
	(void)cqe;
	h->done++;
	stat_hdone += error == 0;
	nvmf_capsule_free(nc);
}

static void h_error(void *arg, struct nvmf_qpair *qp, int error)
{
	struct hst *h = arg;
	(void)qp, (void)error;
	h->errors++;
}

/* fc: the host keeps SQ flow control, so the stream carries no C2HData SUCCESS. */
static void run_host(struct nvmf_association *na, bool fc, unsigned seed)
{
	static uint8_t stream[64 * 1024], in[64 * 1024];
	static uint8_t bufs[8][8192];
	struct hst h = {0};
	int a, b;

	rng_state = seed;
	lb_pair(&a, &b);
	struct nvmf_qpair_params p = {.admin = true, .qsize = 8, .fd = a, .error_cb = h_error, .cb_arg = &h};
	struct nvmf_qpair *qp = nvmf_qpair_create(na, &p);
	CHECK(qp);
	CHECK(nvmf_qpair_process(qp) >= 0); /* sends the ICReq */
	CHECK(lb_read_n(b, in, 128, 2000) == 128);
	size_t n = nvmf_tcp_build_icresp(stream, 0, false, false, 4096);
	/* Responses, C2HData, R2Ts for CIDs 0..7, some with SUCCESS. */
	for (int i = 0; i < 8; i++) {
		uint16_t cid = (uint16_t)i;
		if (i % 3 == 0) {
			const bool success = i == 3 && !fc;
			/* SUCCESS needs the whole command's data. */
			const uint32_t len = success ? 8192 : 4096;
			n += nvmf_tcp_build_c2h_data(stream + n, cid, 0, len, true, success, false, false, 0);
			memset(stream + n, i, len);
			n += len;
			if (success)
				continue;
		} else if (i % 3 == 1) {
			n += nvmf_tcp_build_r2t(stream + n, cid, (uint16_t)i, 0, 8192, false);
		}
		struct nvme_completion cqe = {.cid = htole16(cid)};
		n += nvmf_tcp_build_capsule_resp(stream + n, &cqe, false);
	}
	mutate(stream, n);
	for (int i = 0; i < 8; i++) {
		struct nvme_command sqe = {.opc = i % 3 == 1 ? NVME_OPC_WRITE : NVME_OPC_READ};
		struct nvmf_capsule *nc = nvmf_capsule_alloc_command(qp, &sqe);
		CHECK(nvmf_capsule_append_data(nc, bufs[i], i % 3 == 2 ? 0 : 8192, i % 3 == 1) == 0);
		nvmf_capsule_set_done(nc, h_done, &h);
		/* Before the handshake, transmit refuses: keep trying while pumping. */
		int rc;
		for (int k = 0; k < 50 && (rc = nvmf_capsule_transmit(nc)) == -EAGAIN; k++) {
			if (k == 0)
				lb_write_all(b, stream, 128);
			(void)nvmf_qpair_process(qp);
			usleep(200);
		}
		if (rc != 0) {
			nvmf_capsule_free(nc);
			continue;
		}
	}
	size_t off = 128;
	while (off < n) {
		size_t k = 1 + rnd() % 5000;
		if (k > n - off)
			k = n - off;
		if (send(b, stream + off, k, MSG_NOSIGNAL) < 0)
			break;
		off += k;
		(void)nvmf_qpair_process(qp);
		(void)recv(b, in, sizeof(in), MSG_DONTWAIT);
		if (nvmf_qpair_failed(qp))
			break;
	}
	for (int i = 0; i < 10; i++) {
		(void)nvmf_qpair_process(qp);
		(void)recv(b, in, sizeof(in), MSG_DONTWAIT);
	}
	CHECK(h.errors <= 1);
	stat_hfail += h.errors;
	close(b);
	nvmf_qpair_free(qp); /* every command still out completes now */
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 400;
	struct nvmf_association_params cp = {.sq_flow_control = false, .header_digests = true, .data_digests = true,
					     .maxh2cdata = 4096, .ioccsz = 4096};
	struct nvmf_association *cna = nvmf_association_create(NVMF_TRTYPE_TCP, true, &cp);
	struct nvmf_association_params hp = {.sq_flow_control = true};
	struct nvmf_association *hna = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	hp.sq_flow_control = false;
	struct nvmf_association *hna_nofc = nvmf_association_create(NVMF_TRTYPE_TCP, false, &hp);
	CHECK(cna && hna && hna_nofc);
	for (unsigned s = 1; s <= iters; s++) {
		run_ctrl(cna, s);
		run_host(s % 2 ? hna : hna_nofc, s % 2, s);
	}
	nvmf_association_free(cna);
	nvmf_association_free(hna);
	nvmf_association_free(hna_nofc);
	printf("ok: %u mutated streams each way; controller: %u commands, %u R2T transfers, %u failed; "
	       "host: %u completions, %u failed\n", iters, stat_cmds, stat_data, stat_fail, stat_hdone, stat_hfail);
	return 0;
}
