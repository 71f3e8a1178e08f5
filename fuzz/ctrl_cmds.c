/*
 * ctrl_cmds: a whole controller (lib/ctrl through target.h) behind one end of
 * a socket pair.  The harness plays a host without digests: ICReq, Connect
 * (and for an I/O queue first an admin queue with CC.EN set), then what the
 * input says: command capsules with any SQE (so admin, Fabrics and I/O
 * commands, SGL descriptors, log pages incl. discovery), H2CData answering
 * the controller's R2Ts, raw bytes, timer ticks.
 *
 * Input: byte 0 is the mode: bits 0-1 0 admin queue of a RAM subsystem,
 * 1 an I/O queue of it, 2 the discovery controller, 3 an admin queue left
 * disabled (CC.EN 0); bit 2 asks to disable SQ flow control; bit 3 leaves
 * CC.EN to the records in modes 0 and 2 as well (as a replayed Linux host does).  Then records,
 * each a tag byte t:
 *   t % 4 == 0  capsule: 64-byte SQE, 2-byte LE in-capsule length L (<= 8 KiB), L bytes
 *   t % 4 == 1  H2CData for the oldest R2T: r2tl bytes from the input (zero
 *               padded); bit 2 sends half only, bit 3 a wrong TTAG
 *   t % 4 == 2  raw: 2-byte LE length, that many bytes as they are
 *   t % 4 == 3  a turn without input; bit 2 runs the timers an hour ahead
 * Invariants: nothing crashes, leaks or hangs; every connection closes.
 */
#include <endian.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/transport.h>

#include "bdev/bdev.h"
#include "ctrl/target.h"
#include "fuzz.h"
#include "tcp/tcp_pdu.h"

#define SUBNQN "nqn.2024-01.io.nvmf:fuzz"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000f022"
#define MAX_R2T 16
#define OUT_MAX (1 << 20)

struct r2t {
	uint16_t cccid, ttag;
	uint32_t r2to, r2tl;
};

/* The host's end of one connection, and what it has read back. */
struct link {
	struct nvmf_conn *conn;
	int peer;
	bool closed; /* on_close ran */
	uint8_t *out;
	size_t outlen;
	struct r2t r2ts[MAX_R2T];
	int nr2t;
	bool got_resp;
	struct nvme_completion resp;
	unsigned nresp, nfail, nr2t_seen, npdu; /* for FUZZ_VERBOSE */
};

static struct link links[2];
static int nlinks;
/* Output buffers, allocated once: a large malloc per run costs ASan dearly. */
static uint8_t out_bufs[2][OUT_MAX];

static void on_close(void *thread, struct nvmf_conn *conn)
{
	(void)thread;
	for (int i = 0; i < nlinks; i++) {
		if (links[i].conn == conn) {
			FUZZ_CHECK(!links[i].closed);
			links[i].closed = true;
		}
	}
}

/* Parse the controller's PDUs: remember R2Ts and the latest response. */
static void parse_output(struct link *l)
{
	size_t pos = 0;
	while (l->outlen - pos >= sizeof(struct nvme_tcp_common_header)) {
		const uint8_t *p = l->out + pos;
		struct nvme_tcp_common_header ch;
		memcpy(&ch, p, sizeof(ch));
		uint32_t plen = le32toh(ch.plen);
		FUZZ_CHECK(plen >= sizeof(ch) && plen <= OUT_MAX); /* the controller sends well-formed PDUs */
		if (l->outlen - pos < plen)
			break;
		l->npdu++;
		if (ch.pdu_type == NVME_TCP_PDU_R2T && plen >= sizeof(struct nvme_tcp_r2t) && l->nr2t < MAX_R2T) {
			struct nvme_tcp_r2t r;
			memcpy(&r, p, sizeof(r));
			l->nr2t_seen++;
			l->r2ts[l->nr2t++] = (struct r2t){le16toh(r.cccid), le16toh(r.ttag), le32toh(r.r2to),
							 le32toh(r.r2tl)};
		} else if (ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP && plen >= sizeof(struct nvme_tcp_capsule_resp)) {
			struct nvme_tcp_capsule_resp r;
			memcpy(&r, p, sizeof(r));
			l->resp = r.cqe;
			l->got_resp = true;
			l->nresp++;
			l->nfail += (le16toh(r.cqe.status) >> 1) != 0;
			if (fuzz_verbose() && (le16toh(r.cqe.status) >> 1))
				fprintf(stderr, "ctrl_cmds: cid %u status 0x%x\n", le16toh(r.cqe.cid), le16toh(r.cqe.status) >> 1);
		}
		pos += plen;
	}
	memmove(l->out, l->out + pos, l->outlen - pos);
	l->outlen -= pos;
}

static void read_output(struct link *l)
{
	for (;;) {
		if (l->outlen == OUT_MAX)
			l->outlen = 0; /* a huge C2HData: its payload is of no interest */
		ssize_t n = recv(l->peer, l->out + l->outlen, OUT_MAX - l->outlen, MSG_DONTWAIT);
		if (n <= 0)
			break;
		l->outlen += (size_t)n;
		parse_output(l);
	}
}

/* One turn of the "reactor": every connection, posted work, output. */
static void turn(void)
{
	for (int round = 0; round < 8; round++) {
		int work = 0;
		for (int i = 0; i < nlinks; i++) {
			struct link *l = &links[i];
			if (!l->closed) {
				work += nvmf_conn_process(l->conn);
				if (!l->closed && nvmf_conn_fd(l->conn) >= 0 && fuzz_pending(nvmf_conn_fd(l->conn)))
					work++;
			}
			read_output(l);
		}
		work += fuzz_run_posted();
		if (!work)
			break;
	}
}

static void pump(void *arg)
{
	(void)arg;
	turn();
}

static bool send_bytes(struct link *l, const void *buf, size_t len)
{
	return !l->closed && fuzz_write_all(l->peer, buf, len, pump, NULL);
}

static bool send_capsule(struct link *l, const struct nvme_command *sqe, const void *data, uint32_t len)
{
	uint8_t hdr[NVMF_TCP_MAX_HDR];
	size_t h = nvmf_tcp_build_capsule_cmd(hdr, sqe, len, false, false, 0);
	return send_bytes(l, hdr, h) && send_bytes(l, data, len);
}

/* Send a command and wait for its response; its status, or -1. */
static int command(struct link *l, const struct nvme_command *sqe, const void *data, uint32_t len, uint32_t *dw0)
{
	l->got_resp = false;
	if (!send_capsule(l, sqe, data, len))
		return -1;
	turn();
	if (!l->got_resp)
		return -1;
	if (dw0)
		*dw0 = le32toh(l->resp.cdw0);
	return le16toh(l->resp.status) >> 1;
}

static struct link *open_link(struct nvmf_tgt *tgt, const struct nvmf_conn_env *env)
{
	int fds[2];
	FUZZ_CHECK(fuzz_socketpair(fds) == 0);
	struct link *l = &links[nlinks];
	memset(l, 0, sizeof(*l));
	l->out = out_bufs[nlinks];
	l->peer = fds[1];
	l->conn = nvmf_conn_create(tgt, fds[0], 1, env);
	FUZZ_CHECK(l->conn);
	nlinks++;
	uint8_t icreq[NVMF_TCP_MAX_HDR];
	size_t n = nvmf_tcp_build_icreq(icreq, 0, false, false, 3);
	FUZZ_CHECK(send_bytes(l, icreq, n));
	turn();
	return l;
}

/* Connect; returns the status (0 and *cntlid on success), or -1. */
static int connect_queue(struct link *l, uint16_t qid, uint16_t cntlid, const char *subnqn, bool nosqfc,
			 uint16_t *cntlid_out)
{
	struct nvmf_connect_command cc = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.cid = htole16(qid ? 0x100 : 0),
		.fctype = NVMF_FCTYPE_CONNECT,
		.qid = htole16(qid),
		.sqsize = htole16(31),
		.cattr = nosqfc ? NVMF_CONNECT_ATTR_DISABLE_SQ_FC : 0,
		.kato = htole32(qid ? 0 : 30000),
	};
	cc.sgl.type = NVME_SGL_INCAPSULE;
	cc.sgl.length = htole32(sizeof(struct nvmf_connect_data));
	struct nvmf_connect_data cd = {.cntlid = htole16(cntlid)};
	memset(cd.hostid, 0x22, sizeof(cd.hostid));
	snprintf(cd.subnqn, sizeof(cd.subnqn), "%s", subnqn);
	snprintf(cd.hostnqn, sizeof(cd.hostnqn), "%s", HOSTNQN);
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	uint32_t dw0 = 0;
	int st = command(l, &sqe, &cd, sizeof(cd), &dw0);
	if (st == 0 && cntlid_out)
		*cntlid_out = (uint16_t)dw0;
	return st;
}

static int enable(struct link *l)
{
	struct nvmf_property_set_command ps = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.cid = htole16(1),
		.fctype = NVMF_FCTYPE_PROPERTY_SET,
		.attrib = 0, /* 4 bytes */
		.offset = htole32(NVME_REG_CC),
		.value = htole64(NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT),
	};
	struct nvme_command sqe;
	memcpy(&sqe, &ps, sizeof(sqe));
	return command(l, &sqe, NULL, 0, NULL);
}

static void h2c_for_r2t(struct link *l, uint8_t tag, const uint8_t **p, size_t *left)
{
	if (l->nr2t == 0)
		return;
	struct r2t r = l->r2ts[0];
	memmove(l->r2ts, l->r2ts + 1, (size_t)(l->nr2t - 1) * sizeof(r));
	l->nr2t--;
	uint32_t len = tag & 4 ? r.r2tl / 2 : r.r2tl;
	if (len > 1 << 20)
		return;
	uint8_t *buf = calloc(1, len ? len : 1);
	FUZZ_CHECK(buf);
	size_t take = *left < len ? *left : len;
	memcpy(buf, *p, take);
	*p += take;
	*left -= take;
	uint8_t hdr[NVMF_TCP_MAX_HDR];
	size_t h = nvmf_tcp_build_h2c_data(hdr, r.cccid, (uint16_t)(r.ttag ^ (tag & 8 ? 1 : 0)), r.r2to, len, true,
					   false, false, 0);
	if (send_bytes(l, hdr, h))
		send_bytes(l, buf, len);
	free(buf);
}

static uint16_t get_le16(const uint8_t **p, size_t *left)
{
	uint16_t v = 0;
	if (*left >= 2) {
		v = (uint16_t)((*p)[0] | (*p)[1] << 8);
		*p += 2;
		*left -= 2;
	} else {
		*left = 0;
	}
	return v;
}

static void run_records(struct link *l, const uint8_t *p, size_t left)
{
	uint64_t ticks = 0;
	while (left && !l->closed) {
		uint8_t t = *p++;
		left--;
		switch (t & 3) {
		case 0: {
			if (left < sizeof(struct nvme_command))
				return;
			struct nvme_command sqe;
			memcpy(&sqe, p, sizeof(sqe));
			p += sizeof(sqe);
			left -= sizeof(sqe);
			uint32_t len = get_le16(&p, &left) % (NVMF_ADMIN_INCAPSULE_DATA + 1);
			if (len > left)
				len = (uint32_t)left;
			send_capsule(l, &sqe, p, len);
			p += len;
			left -= len;
			break;
		}
		case 1:
			h2c_for_r2t(l, t, &p, &left);
			break;
		case 2: {
			uint32_t len = get_le16(&p, &left);
			if (len > left)
				len = (uint32_t)left;
			send_bytes(l, p, len);
			p += len;
			left -= len;
			break;
		}
		default:
			if (t & 4) {
				ticks++;
				for (int i = 0; i < nlinks; i++) {
					if (!links[i].closed)
						nvmf_conn_timer(links[i].conn, nvmf_now_ms() + ticks * 3600 * 1000);
				}
			}
			break;
		}
		turn();
	}
}

static struct nvmf_tgt *make_target(void)
{
	struct nvmf_subsystem *ss;
	struct nvmf_tgt *tgt = fuzz_target_create(SUBNQN, &ss);
	char err[256];
	struct nvmf_ns_opts opts = {.block_size = 4096};
	FUZZ_CHECK(nvmf_subsystem_add_namespace(ss, 3, "null:64M", &opts, err, sizeof(err)) == 3);
	struct nvmf_port_addr pa = {.trtype = NVMF_TRTYPE_TCP, .adrfam = NVMF_ADRFAM_IPV4};
	snprintf(pa.traddr, sizeof(pa.traddr), "127.0.0.1");
	snprintf(pa.trsvcid, sizeof(pa.trsvcid), "4420");
	FUZZ_CHECK(nvmf_tgt_add_port(tgt, 1, &pa, true) == 0);
	return tgt;
}

int fuzz_one(const uint8_t *data, size_t len)
{
	static struct nvmf_bdev_io_ctx *io;
	if (!io) {
		io = nvmf_bdev_io_ctx_create(64);
		FUZZ_CHECK(io);
	}
	if (len < 1)
		return 0;
	const uint8_t mode = data[0] & 3;
	const bool nosqfc = data[0] & 4;
	struct nvmf_tgt *tgt = make_target();
	struct nvmf_conn_env env = {.thread = NULL, .post = fuzz_post, .on_close = on_close, .io = io};
	nlinks = 0;

	struct link *admin = open_link(tgt, &env);
	struct link *target = admin;
	uint16_t cntlid = 0;
	int st = connect_queue(admin, 0, NVMF_CNTLID_DYNAMIC, mode == 2 ? NVME_DISCOVERY_NQN : SUBNQN, nosqfc, &cntlid);
	FUZZ_CHECK(st == 0);
	if (mode == 1 || (mode != 3 && !(data[0] & 8)))
		FUZZ_CHECK(enable(admin) == 0);
	if (mode == 1) {
		target = open_link(tgt, &env);
		FUZZ_CHECK(connect_queue(target, 1, cntlid, SUBNQN, nosqfc, NULL) == 0);
	}
	run_records(target, data + 1, len - 1);
	turn();
	if (fuzz_verbose())
		fprintf(stderr, "ctrl_cmds: mode %u: %u PDUs, %u responses (%u failed), %u R2Ts, %s\n", mode,
			target->npdu, target->nresp, target->nfail, target->nr2t_seen, target->closed ? "closed" : "open");

	/* Close what is left, let in-flight work finish, then free. */
	for (int i = nlinks - 1; i >= 0; i--) {
		if (!links[i].closed)
			nvmf_conn_close(links[i].conn);
		turn();
	}
	for (int spin = 0; spin < 1000; spin++) {
		bool open = false;
		for (int i = 0; i < nlinks; i++)
			open |= !links[i].closed;
		if (!open && !fuzz_posted_pending() && !nvmf_bdev_io_ctx_inflight(io))
			break;
		nvmf_bdev_io_ctx_poll(io);
		turn();
		FUZZ_CHECK(spin < 999); /* a connection that never closes */
	}
	for (int i = 0; i < nlinks; i++) {
		nvmf_conn_put(links[i].conn);
		close(links[i].peer);
	}
	nlinks = 0;
	nvmf_tgt_destroy(tgt);
	return 0;
}
