/*
 * Check the PDU codec against PDUs the Linux 6.1 kernel sent (vectors/).
 * For each file listed in vectors/expect.tsv (made from the capture
 * README's decode tables): check the common header as a receiver would,
 * compare the decoded fields with the README's values, verify digests,
 * then rebuild the PDU with the builders and compare every byte.
 *
 * usage: test_tcp_vectors [VECTOR_DIR]   (default: vectors)
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "tcp/tcp_pdu.h"
#include "util/crc32c.h"

static int failures;
static int pattern_blocks; /* blocks compared with the write pattern */
static const char *cur_file;

#define CHECK(cond, ...)                                                                                  \
	do {                                                                                              \
		if (!(cond)) {                                                                            \
			failures++;                                                                       \
			fprintf(stderr, "FAIL %s: %s:%d: %s: ", cur_file, __FILE__, __LINE__, #cond);     \
			fprintf(stderr, __VA_ARGS__);                                                     \
			fputc('\n', stderr);                                                              \
		}                                                                                         \
	} while (0)

/* The README's key=value pairs for one PDU; each must be checked (used). */
#define MAX_KV 32
struct kv {
	int n;
	char *key[MAX_KV];
	char *val[MAX_KV];
	bool used[MAX_KV];
};

static const char *kv_get(struct kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++) {
		if (strcmp(kv->key[i], key) == 0) {
			kv->used[i] = true;
			return kv->val[i];
		}
	}
	return NULL;
}

static uint64_t parse_u(const char *s)
{
	char *end;
	errno = 0;
	uint64_t v = strtoull(s, &end, 0);
	if (errno || *end != '\0') {
		failures++;
		fprintf(stderr, "FAIL %s: bad number '%s' in expect.tsv\n", cur_file, s);
	}
	return v;
}

/* Compare a decoded field with the README; the key must be present. */
static void expect_u(struct kv *kv, const char *key, uint64_t actual)
{
	const char *s = kv_get(kv, key);
	CHECK(s != NULL, "README has no '%s'", key);
	if (s)
		CHECK(parse_u(s) == actual, "%s: README %s, PDU %" PRIu64 " (0x%" PRIx64 ")", key, s, actual,
		      actual);
}

/* A flag word (last, success, dnr): present means set. */
static void expect_flag(struct kv *kv, const char *key, bool actual)
{
	CHECK((kv_get(kv, key) != NULL) == actual, "%s: README %s, PDU %s", key,
	      kv_get(kv, key) ? "set" : "clear", actual ? "set" : "clear");
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

/* The host-target sessions write this pattern: LBA 0-7 = bytes 0-4095, LBA 128-255 = bytes 4096-69631. */
#define PATTERN_LEN 69632u
static uint8_t pattern_byte(uint32_t i)
{
	return (uint8_t)((i * 7 + (i >> 9)) & 0xff);
}

/* Byte offset of a 512-byte LBA in the pattern; UINT32_MAX when not part of it. */
static uint32_t pattern_off(uint64_t lba)
{
	if (lba < 8)
		return (uint32_t)lba * 512;
	if (lba >= 128 && lba < 256)
		return 4096 + (uint32_t)(lba - 128) * 512;
	return UINT32_MAX;
}

/* Per TCP connection state, reset when the connection number changes. */
#define MAX_CID 65536
struct conn {
	char id[64];     /* folder and cN */
	int qid;         /* from the Connect command, -1 before */
	uint8_t opc[MAX_CID];
	uint64_t slba[MAX_CID];
	bool written[256]; /* LBAs written so far in this session */
};

/* Commands the captures hold: name, opcode, fabrics type (-1: none), queue (0 admin, 1 I/O). */
static const struct {
	const char *name;
	uint8_t opc;
	int fctype;
	int io;
} cmd_names[] = {
	{"Connect", 0x7f, 0x01, -1},  {"PropertyGet", 0x7f, 0x04, 0},    {"PropertySet", 0x7f, 0x00, 0},
	{"Identify", 0x06, -1, 0},    {"SetFeatures", 0x09, -1, 0},      {"AsyncEventRequest", 0x0c, -1, 0},
	{"GetLogPage", 0x02, -1, 0},  {"Read", 0x02, -1, 1},             {"Write", 0x01, -1, 1},
};

static bool digest_folder(const char *folder)
{
	return strstr(folder, "nodigest") == NULL;
}

/* Data payload check: digest (contiguous and split in an iovec), and the write pattern. */
static void check_data(const uint8_t *pdu, size_t len, uint32_t pdo, uint32_t dlen, bool ddgst)
{
	const uint8_t *data = pdu + pdo;
	CHECK((size_t)pdo + dlen + (ddgst ? 4 : 0) == len, "data %u + pdo %u vs file %zu", dlen, pdo, len);
	if (!ddgst || (size_t)pdo + dlen + 4 > len)
		return;
	uint32_t want = get_le32(data + dlen);
	CHECK(nvmf_crc32c(data, dlen) == want, "data digest 0x%08x, PDU 0x%08x", nvmf_crc32c(data, dlen), want);
	struct iovec iov[3] = {
		{(void *)data, 1},
		{(void *)(data + 1), dlen / 2},
		{(void *)(data + 1 + dlen / 2), dlen - 1 - dlen / 2},
	};
	CHECK(nvmf_crc32c_iov(iov, 3) == want, "iov data digest");
}

/* Check blocks of a write or read against the session's pattern (host-target sessions only). */
static void check_pattern(struct conn *c, const uint8_t *data, uint32_t len, uint64_t slba, uint32_t datao,
			  bool is_write)
{
	uint32_t bad = 0, checked = 0;

	for (uint32_t blk = 0; blk < len / 512; blk++) {
		uint64_t lba = slba + (datao / 512) + blk;
		uint32_t off = pattern_off(lba);
		if (off == UINT32_MAX || (!is_write && !(lba < 256 && c->written[lba])))
			continue;
		for (uint32_t i = 0; i < 512; i++)
			bad += data[blk * 512 + i] != pattern_byte(off + i);
		checked++;
		pattern_blocks++;
	}
	if (is_write)
		CHECK(checked == len / 512, "write outside the pattern's LBAs");
	CHECK(bad == 0, "%u bytes differ from the write pattern", bad);
}

static void test_one(const char *dir, const char *folder, const char *fname, const char *type, struct kv *kv,
		     struct conn *c, int *seen)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, folder, fname);
	cur_file = path;
	uint8_t *pdu = read_file(path, &len);
	CHECK(pdu != NULL, "cannot read");
	if (!pdu)
		return;
	CHECK(len >= 8, "short file");
	if (len < 8) {
		free(pdu);
		return;
	}

	/* Direction and connection from the file name: c<conn>-<seq>-<dir>-<type>.bin */
	const bool from_host = strstr(fname, "-host2ctrl-") != NULL;
	CHECK(from_host || strstr(fname, "-ctrl2host-"), "direction in name");
	const bool dg = digest_folder(folder);
	char conn_id[64];
	snprintf(conn_id, sizeof(conn_id), "%s/%.*s", folder, (int)strcspn(fname, "-"), fname);
	if (strcmp(conn_id, c->id) != 0) {
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", conn_id);
		c->qid = -1;
	}

	struct nvme_tcp_common_header ch;
	memcpy(&ch, pdu, sizeof(ch));
	const uint32_t plen = le32toh(ch.plen);
	static const struct {
		const char *name;
		uint8_t type;
	} types[] = {
		{"icreq", NVME_TCP_PDU_ICREQ},           {"icresp", NVME_TCP_PDU_ICRESP},
		{"h2c-term-req", NVME_TCP_PDU_H2C_TERM_REQ}, {"c2h-term-req", NVME_TCP_PDU_C2H_TERM_REQ},
		{"capsule-cmd", NVME_TCP_PDU_CAPSULE_CMD}, {"capsule-resp", NVME_TCP_PDU_CAPSULE_RESP},
		{"h2c-data", NVME_TCP_PDU_H2C_DATA},       {"c2h-data", NVME_TCP_PDU_C2H_DATA},
		{"r2t", NVME_TCP_PDU_R2T},
	};
	int ti = -1;
	for (int i = 0; i < (int)(sizeof(types) / sizeof(types[0])); i++)
		if (strcmp(types[i].name, type) == 0)
			ti = i;
	CHECK(ti >= 0, "README type '%s'", type);
	if (ti < 0) {
		free(pdu);
		return;
	}
	CHECK(ch.pdu_type == types[ti].type, "type 0x%02x, README %s", ch.pdu_type, type);
	CHECK(strstr(fname, type) != NULL, "README type %s vs name", type);
	seen[ti * 2 + dg]++;

	/* Common header: what the README says, and what a receiver accepts. */
	expect_u(kv, "flags", ch.flags);
	expect_u(kv, "hlen", ch.hlen);
	expect_u(kv, "pdo", ch.pdo);
	expect_u(kv, "plen", plen);
	CHECK(plen == len, "plen %u, file %zu bytes", plen, len);
	const bool ic = ch.pdu_type == NVME_TCP_PDU_ICREQ || ch.pdu_type == NVME_TCP_PDU_ICRESP;
	struct nvmf_tcp_rx_rules rules = {
		.controller = from_host,
		.handshake = ic,
		.hdgst = dg && !ic,
		.ddgst = dg && !ic,
		.pda = 0, /* every ICReq/ICResp here has HPDA = CPDA = 0 */
		.max_data = 1u << 20,
	};
	uint32_t fei = 0xdead;
	int fes = nvmf_tcp_check_common_header(&ch, &rules, &fei);
	CHECK(fes == 0, "check_common_header: fes %d fei %u", fes, fei);
	/* The peer's view must reject it: wrong direction. */
	rules.controller = !from_host;
	CHECK(nvmf_tcp_check_common_header(&ch, &rules, &fei) == NVME_TCP_FES_INVALID_PDU_HEADER_FIELD && fei == 0,
	      "accepted in the wrong direction");
	rules.controller = from_host;
	/* Digest settings other than negotiated: the flags are wrong (IC PDUs have none). */
	if (!ic) {
		rules.hdgst = !rules.hdgst;
		CHECK(nvmf_tcp_check_common_header(&ch, &rules, &fei) == NVME_TCP_FES_INVALID_PDU_HEADER_FIELD && fei == 1,
		      "accepted with header digests %s", rules.hdgst ? "on" : "off");
		rules.hdgst = !rules.hdgst;
	}
	/* A receiver with a smaller limit refuses the data. */
	if (nvmf_tcp_pdu_data_len(&ch) > 1) {
		rules.max_data = nvmf_tcp_pdu_data_len(&ch) - 1;
		CHECK(nvmf_tcp_check_common_header(&ch, &rules, &fei) == NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED,
		      "data over max_data accepted");
		rules.max_data = 1u << 20;
	}

	const bool hd = ch.flags & NVME_TCP_F_HDGST;
	const bool dd = ch.flags & NVME_TCP_F_DDGST;
	CHECK(hd == (dg && !ic), "HDGST flag vs folder");
	if (hd) {
		CHECK(nvmf_tcp_header_digest_ok(pdu), "header digest");
		uint8_t copy[NVMF_TCP_MAX_HDR + 4];
		memcpy(copy, pdu, ch.hlen + 4u);
		copy[ch.hlen - 1] ^= 0x40;
		CHECK(!nvmf_tcp_header_digest_ok(copy), "header digest accepts a flipped bit");
	}
	const uint32_t dlen = nvmf_tcp_pdu_data_len(&ch);
	if (ch.pdo)
		CHECK(dlen == plen - ch.pdo - (dd ? 4u : 0u), "data_len %u", dlen);
	else
		CHECK(dlen == 0, "data_len %u without PDO", dlen);
	if (dlen)
		check_data(pdu, len, ch.pdo, dlen, dd);

	uint8_t *out = calloc(1, len + NVMF_TCP_MAX_HDR);
	size_t pre = 0;
	switch (ch.pdu_type) {
	case NVME_TCP_PDU_ICREQ: {
		struct nvme_tcp_icreq p;
		memcpy(&p, pdu, sizeof(p));
		expect_u(kv, "pfv", le16toh(p.pfv));
		expect_u(kv, "hpda", p.hpda);
		expect_u(kv, "dgst", p.dgst);
		expect_u(kv, "maxr2t", le32toh(p.maxr2t));
		pre = nvmf_tcp_build_icreq(out, p.hpda, p.dgst & NVME_TCP_DGST_HDGST_ENABLE,
					   p.dgst & NVME_TCP_DGST_DDGST_ENABLE, le32toh(p.maxr2t));
		CHECK(p.dgst == (dg ? 3 : 0), "digests negotiated vs folder");
		break;
	}
	case NVME_TCP_PDU_ICRESP: {
		struct nvme_tcp_icresp p;
		memcpy(&p, pdu, sizeof(p));
		expect_u(kv, "pfv", le16toh(p.pfv));
		expect_u(kv, "cpda", p.cpda);
		expect_u(kv, "dgst", p.dgst);
		expect_u(kv, "maxh2cdata", le32toh(p.maxh2cdata));
		pre = nvmf_tcp_build_icresp(out, p.cpda, p.dgst & NVME_TCP_DGST_HDGST_ENABLE,
					    p.dgst & NVME_TCP_DGST_DDGST_ENABLE, le32toh(p.maxh2cdata));
		break;
	}
	case NVME_TCP_PDU_CAPSULE_CMD: {
		struct nvme_tcp_capsule_cmd p;
		memcpy(&p, pdu, sizeof(p));
		const struct nvme_command *s = &p.sqe;
		const uint16_t cid = le16toh(s->cid);
		const uint32_t nsid = le32toh(s->nsid);
		const uint32_t c10 = le32toh(s->cdw10), c11 = le32toh(s->cdw11), c12 = le32toh(s->cdw12);
		expect_u(kv, "opc", s->opc);
		expect_u(kv, "cid", cid);
		const char *sgl = kv_get(kv, "sgl");
		CHECK(sgl != NULL, "README has no sgl");
		if (sgl) {
			char tbuf[16];
			snprintf(tbuf, sizeof(tbuf), "%.*s", (int)strcspn(sgl, "/"), sgl);
			CHECK(parse_u(tbuf) == s->dptr.sgl.type, "sgl type 0x%02x, README %s", s->dptr.sgl.type, sgl);
			const char *slash = strchr(sgl, '/');
			CHECK(slash && parse_u(slash + 1) == le32toh(s->dptr.sgl.length), "sgl length %u, README %s",
			      le32toh(s->dptr.sgl.length), sgl);
		}
		const char *name = kv_get(kv, "name");
		int ni = -1;
		for (int i = 0; name && i < (int)(sizeof(cmd_names) / sizeof(cmd_names[0])); i++)
			if (strcmp(cmd_names[i].name, name) == 0)
				ni = i;
		CHECK(ni >= 0, "command name %s", name ? name : "(none)");
		if (ni < 0)
			break;
		CHECK(cmd_names[ni].opc == s->opc, "%s has opcode 0x%02x", name, s->opc);
		if (cmd_names[ni].fctype >= 0)
			CHECK((nsid & 0xff) == (uint32_t)cmd_names[ni].fctype, "%s fctype 0x%02x", name, nsid & 0xff);
		if (strcmp(name, "Connect") == 0) {
			c->qid = (int)(c10 >> 16);
			expect_u(kv, "qid", c10 >> 16);
			expect_u(kv, "sqsize", c11 & 0xffff);
			expect_u(kv, "kato", c12);
		} else {
			CHECK(c->qid >= 0, "command before Connect");
			CHECK(cmd_names[ni].io == (c->qid > 0), "%s on queue %d", name, c->qid);
		}
		if (s->opc == 0x7f && cmd_names[ni].fctype != 0x01) {
			expect_u(kv, "offset", c11);
			expect_u(kv, "size", (c10 & 7) ? 8 : 4);
		} else if (s->opc != 0x7f) {
			expect_u(kv, "nsid", nsid);
		}
		if (strcmp(name, "Identify") == 0)
			expect_u(kv, "cns", c10 & 0xff);
		if (strcmp(name, "SetFeatures") == 0)
			expect_u(kv, "fid", c10 & 0xff);
		if (strcmp(name, "GetLogPage") == 0) {
			expect_u(kv, "lid", c10 & 0xff);
			expect_u(kv, "numd", ((c10 >> 16) | ((c11 & 0xffff) << 16)) + 1ull); /* 0's based */
		}
		if (cmd_names[ni].io == 1) {
			const uint64_t slba = c10 | (uint64_t)c11 << 32;
			const uint32_t nlb = (c12 & 0xffff) + 1; /* 0's based */
			expect_u(kv, "slba", slba);
			expect_u(kv, "nlb", nlb);
			c->opc[cid] = s->opc;
			c->slba[cid] = slba;
			if (!strstr(folder, "probe") && s->opc == 0x01) {
				for (uint64_t l = slba; l < slba + nlb && l < 256; l++)
					c->written[l] = true;
				if (dlen)
					check_pattern(c, pdu + ch.pdo, dlen, slba, 0, true);
			}
		}
		pre = nvmf_tcp_build_capsule_cmd(out, &p.sqe, dlen, rules.hdgst, rules.ddgst, rules.pda);
		break;
	}
	case NVME_TCP_PDU_CAPSULE_RESP: {
		struct nvme_tcp_capsule_resp p;
		memcpy(&p, pdu, sizeof(p));
		const uint16_t st = le16toh(p.cqe.status);
		expect_u(kv, "cid", le16toh(p.cqe.cid));
		expect_u(kv, "sqhd", le16toh(p.cqe.sqhd));
		expect_u(kv, "dw0", le32toh(p.cqe.cdw0) | (uint64_t)le32toh(p.cqe.cdw1) << 32);
		expect_u(kv, "sct", NVME_STATUS_GET_SCT(st));
		expect_u(kv, "sc", NVME_STATUS_GET_SC(st));
		expect_u(kv, "status", (uint64_t)NVME_STATUS_GET_SCT(st) << 8 | NVME_STATUS_GET_SC(st));
		expect_flag(kv, "dnr", NVME_STATUS_GET_DNR(st));
		pre = nvmf_tcp_build_capsule_resp(out, &p.cqe, rules.hdgst);
		break;
	}
	case NVME_TCP_PDU_H2C_DATA:
	case NVME_TCP_PDU_C2H_DATA: {
		struct nvme_tcp_data_pdu p;
		memcpy(&p, pdu, sizeof(p));
		const uint16_t cccid = le16toh(p.cccid), ttag = le16toh(p.ttag);
		const uint32_t datao = le32toh(p.datao), datal = le32toh(p.datal);
		const bool last = ch.flags & NVME_TCP_F_DATA_LAST, success = ch.flags & NVME_TCP_F_DATA_SUCCESS;
		expect_u(kv, "cccid", cccid);
		expect_u(kv, "datao", datao);
		expect_u(kv, "datal", datal);
		expect_flag(kv, "last", last);
		expect_flag(kv, "success", success);
		CHECK(datal == dlen, "DATAL %u, PDU data %u", datal, dlen);
		if (ch.pdu_type == NVME_TCP_PDU_H2C_DATA) {
			expect_u(kv, "ttag", ttag);
			pre = nvmf_tcp_build_h2c_data(out, cccid, ttag, datao, datal, last, rules.hdgst, rules.ddgst,
						      rules.pda);
		} else {
			CHECK(ttag == 0, "C2HData reserved TTAG %u", ttag);
			pre = nvmf_tcp_build_c2h_data(out, cccid, datao, datal, last, success, rules.hdgst, rules.ddgst,
						      rules.pda);
		}
		/* Data of the host-target sessions' writes, and reads of blocks written before. */
		if (!strstr(folder, "probe") && c->opc[cccid])
			check_pattern(c, pdu + ch.pdo, dlen, c->slba[cccid], datao, c->opc[cccid] == 0x01);
		break;
	}
	case NVME_TCP_PDU_R2T: {
		struct nvme_tcp_r2t p;
		memcpy(&p, pdu, sizeof(p));
		expect_u(kv, "cccid", le16toh(p.cccid));
		expect_u(kv, "ttag", le16toh(p.ttag));
		expect_u(kv, "r2to", le32toh(p.r2to));
		expect_u(kv, "r2tl", le32toh(p.r2tl));
		pre = nvmf_tcp_build_r2t(out, le16toh(p.cccid), le16toh(p.ttag), le32toh(p.r2to), le32toh(p.r2tl),
					 rules.hdgst);
		break;
	}
	default:
		CHECK(0, "no decoder for type 0x%02x", ch.pdu_type);
	}

	/* Re-encode: builder header + the file's data + our data digest must be the file. */
	if (pre) {
		CHECK(pre == (ch.pdo ? ch.pdo : ch.hlen + (hd ? 4u : 0u)), "builder length %zu", pre);
		if (pre + dlen + (dd ? 4 : 0) == len) {
			memcpy(out + pre, pdu + pre, dlen);
			if (dd) {
				uint32_t d = htole32(nvmf_crc32c(out + pre, dlen));
				memcpy(out + pre + dlen, &d, 4);
			}
			size_t i = 0;
			while (i < len && out[i] == pdu[i])
				i++;
			CHECK(i == len, "re-encoded PDU differs at byte %zu (0x%02x, file 0x%02x)", i, out[i], pdu[i]);
		} else {
			CHECK(0, "builder length %zu + data %u != file %zu", pre, dlen, len);
		}
	}
	for (int i = 0; i < kv->n; i++)
		CHECK(kv->used[i], "README field '%s' not checked", kv->key[i]);
	free(out);
	free(pdu);
}

static int count_bins(const char *dir, const char *folder)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, folder);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		n += l > 4 && strcmp(e->d_name + l - 4, ".bin") == 0;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "vectors";
	char path[4096];
	snprintf(path, sizeof(path), "%s/expect.tsv", dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return 1;
	}
	static struct conn conn;
	int seen[9 * 2] = {0};
	char folders[8][128] = {{0}};
	int folder_count[8] = {0}, nfolders = 0, total = 0;
	char line[4096];

	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *save, *folder = strtok_r(line, "\t", &save), *fname = strtok_r(NULL, "\t", &save);
		char *type = strtok_r(NULL, "\t", &save), *rest = strtok_r(NULL, "\t", &save);
		if (!folder || !fname || !type || !rest) {
			fprintf(stderr, "bad expect.tsv line\n");
			failures++;
			continue;
		}
		struct kv kv = {0};
		for (char *w = strtok_r(rest, " ", &save); w && kv.n < MAX_KV; w = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(w, '=');
			if (!eq)
				continue;
			*eq = '\0';
			kv.key[kv.n] = w;
			kv.val[kv.n++] = eq + 1;
		}
		int fi = 0;
		while (fi < nfolders && strcmp(folders[fi], folder) != 0)
			fi++;
		if (fi == nfolders && nfolders < 8)
			snprintf(folders[nfolders++], sizeof(folders[0]), "%s", folder);
		if (fi < 8)
			folder_count[fi]++;
		test_one(dir, folder, fname, type, &kv, &conn, seen);
		total++;
	}
	fclose(f);
	cur_file = "(summary)";

	/* Every .bin file has a README line. */
	CHECK(nfolders == 4, "%d folders in expect.tsv", nfolders);
	for (int i = 0; i < nfolders; i++) {
		int n = count_bins(dir, folders[i]);
		CHECK(n == folder_count[i], "%s: %d .bin files, %d in expect.tsv", folders[i], n, folder_count[i]);
	}
	/* Every type the captures can hold (no TermReq: Linux 6.1 sends none), digests on and off. */
	static const char *const tn[] = {"ICReq", "ICResp", "H2CTermReq", "C2HTermReq", "CapsuleCmd",
					 "CapsuleResp", "H2CData", "C2HData", "R2T"};
	for (int t = 0; t < 9; t++) {
		if (t == 2 || t == 3)
			continue;
		for (int dg = 0; dg < 2; dg++)
			CHECK(seen[t * 2 + dg] > 0, "no %s vector with digests %s", tn[t], dg ? "on" : "off");
	}
	/* 4 KiB + 64 KiB written, 64 KiB read back, in each host-target folder. */
	CHECK(pattern_blocks == 2 * (8 + 128 + 128), "%d blocks compared with the write pattern", pattern_blocks);
	printf("%d vectors, %d pattern blocks, %d failures\n", total, pattern_blocks, failures);
	return failures ? 1 : 0;
}
