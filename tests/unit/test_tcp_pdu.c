/*
 * PDU codec: builders round-trip through the receive check, and malformed
 * common headers give the exact fatal error status and field offset.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "tcp/tcp_pdu.h"
#include "util/crc32c.h"

static int failures;

#define CHECK(cond, ...)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			failures++;                                                             \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                                           \
			fputc('\n', stderr);                                                    \
		}                                                                               \
	} while (0)

enum { FEI_TYPE = 0, FEI_FLAGS = 1, FEI_HLEN = 2, FEI_PDO = 3, FEI_PLEN = 4 };

static struct nvme_tcp_common_header mk(uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen)
{
	struct nvme_tcp_common_header ch = {type, flags, hlen, pdo, htole32(plen)};
	return ch;
}

/* Established connection, no digests, PDA 0. */
static struct nvmf_tcp_rx_rules rules(bool controller)
{
	struct nvmf_tcp_rx_rules r = {.controller = controller, .max_data = 8192};
	return r;
}

/* Expect fes (0: accepted) and, on error, fei. */
#define EXPECT(ch, r, want_fes, want_fei)                                                                 \
	do {                                                                                              \
		struct nvme_tcp_common_header ch_ = (ch);                                                 \
		uint32_t fei_ = 0xdeadbeef;                                                               \
		int fes_ = nvmf_tcp_check_common_header(&ch_, &(r), &fei_);                               \
		CHECK(fes_ == (want_fes) && (fes_ == 0 || fei_ == (uint32_t)(want_fei)),                  \
		      "type %u flags 0x%02x hlen %u pdo %u plen %u: fes %d fei %u, want fes %d fei %d",   \
		      ch_.pdu_type, ch_.flags, ch_.hlen, ch_.pdo, le32toh(ch_.plen), fes_, fei_,         \
		      (int)(want_fes), (int)(want_fei));                                                  \
	} while (0)

#define BAD_FIELD NVME_TCP_FES_INVALID_PDU_HEADER_FIELD

static void test_names(void)
{
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_ICREQ) == 128, "ICReq");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_ICRESP) == 128, "ICResp");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_H2C_TERM_REQ) == 24, "H2CTermReq");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_C2H_TERM_REQ) == 24, "C2HTermReq");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_CAPSULE_CMD) == 72, "CapsuleCmd");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_CAPSULE_RESP) == 24, "CapsuleResp");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_H2C_DATA) == 24, "H2CData");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_C2H_DATA) == 24, "C2HData");
	CHECK(nvmf_tcp_pdu_hlen(NVME_TCP_PDU_R2T) == 24, "R2T");
	CHECK(nvmf_tcp_pdu_hlen(0x08) == 0 && nvmf_tcp_pdu_hlen(0x0a) == 0 && nvmf_tcp_pdu_hlen(0xff) == 0, "unknown");
	CHECK(strcmp(nvmf_tcp_pdu_name(NVME_TCP_PDU_CAPSULE_CMD), "CapsuleCmd") == 0, "name");
	CHECK(strcmp(nvmf_tcp_pdu_name(NVME_TCP_PDU_R2T), "R2T") == 0, "name");
	CHECK(strcmp(nvmf_tcp_pdu_name(0x08), "unknown") == 0, "name");
}

static void test_type(void)
{
	struct nvmf_tcp_rx_rules c = rules(true), h = rules(false);

	/* Unknown types. */
	EXPECT(mk(0x08, 0, 24, 0, 24), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(0x0a, 0, 24, 0, 24), h, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(0xff, 0xff, 0xff, 0xff, 0), c, BAD_FIELD, FEI_TYPE);
	/* Types that never travel in this direction. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 0, 24), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_DATA_LAST, 24, 24, 28), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_R2T, 0, 24, 0, 24), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_C2H_TERM_REQ, 0, 24, 0, 24), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_ICRESP, 0, 128, 0, 128), c, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72), h, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_DATA_LAST, 24, 24, 28), h, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 24, 0, 24), h, BAD_FIELD, FEI_TYPE);
	EXPECT(mk(NVME_TCP_PDU_ICREQ, 0, 128, 0, 128), h, BAD_FIELD, FEI_TYPE);

	/* Right direction, wrong time: the IC exchange happens once, first. */
	EXPECT(mk(NVME_TCP_PDU_ICREQ, 0, 128, 0, 128), c, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	EXPECT(mk(NVME_TCP_PDU_ICRESP, 0, 128, 0, 128), h, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	c.handshake = h.handshake = true;
	EXPECT(mk(NVME_TCP_PDU_ICREQ, 0, 128, 0, 128), c, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_ICRESP, 0, 128, 0, 128), h, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72), c, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 0, 24), h, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	EXPECT(mk(NVME_TCP_PDU_R2T, 0, 24, 0, 24), h, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	/* A peer may give up with a TermReq during the handshake (e.g. unsupported PFV). */
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 24, 0, 24 + 128), c, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_C2H_TERM_REQ, 0, 24, 0, 24 + 128), h, 0, 0);
	/* Still a wrong direction, not a sequence error, during the handshake. */
	EXPECT(mk(NVME_TCP_PDU_ICRESP, 0, 128, 0, 128), c, BAD_FIELD, FEI_TYPE);
}

static void test_flags(void)
{
	struct nvmf_tcp_rx_rules c = rules(true), h = rules(false);
	struct nvmf_tcp_rx_rules cd = c, hd = h;
	cd.hdgst = cd.ddgst = hd.hdgst = hd.ddgst = true;

	/* IC and TermReq never have flags, digests negotiated or not. */
	c.handshake = true;
	EXPECT(mk(NVME_TCP_PDU_ICREQ, NVME_TCP_F_HDGST, 128, 0, 128), c, BAD_FIELD, FEI_FLAGS);
	c.handshake = false;
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, NVME_TCP_F_HDGST, 24, 0, 24), cd, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_C2H_TERM_REQ, 0x10, 24, 0, 24), hd, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_C2H_TERM_REQ, 0, 24, 0, 24), hd, 0, 0);

	/* Header digest flag iff negotiated. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST, 72, 0, 76), c, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72), cd, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST, 72, 0, 76), cd, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 0, 24), hd, BAD_FIELD, FEI_FLAGS);
	/* Data digest flag only on PDUs with data, iff negotiated. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 0, 80), cd, BAD_FIELD,
	       FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST, 72, 76, 76 + 512 + 4), cd, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 76, 76 + 512 + 4), cd, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_DDGST, 72, 72, 72 + 512 + 4), c, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 0, 32), hd, BAD_FIELD,
	       FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_R2T, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 0, 32), hd, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DATA_LAST, 24, 28, 28 + 512 + 4), cd,
	       BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 28 + 512 + 4), cd, 0, 0);
	/* LAST_PDU only on data PDUs; SUCCESS only on C2HData, and only with LAST_PDU. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_DATA_LAST, 72, 0, 72), c, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_R2T, NVME_TCP_F_DATA_LAST, 24, 0, 24), h, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, 24, 24, 536), c, BAD_FIELD,
	       FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_DATA_SUCCESS, 24, 24, 536), h, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, 24, 24, 536), h, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, 0, 24, 24, 536), h, 0, 0);
	/* Reserved bits. */
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, 0x10 | NVME_TCP_F_DATA_LAST, 24, 24, 536), h, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0x80, 24, 0, 24), h, BAD_FIELD, FEI_FLAGS);
}

static void test_hlen_pdo_plen(void)
{
	struct nvmf_tcp_rx_rules c = rules(true), h = rules(false);
	struct nvmf_tcp_rx_rules cd = c, hd = h;
	cd.hdgst = cd.ddgst = hd.hdgst = hd.ddgst = true;

	/* HLEN is fixed per type. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 64, 0, 64), c, BAD_FIELD, FEI_HLEN);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 76, 0, 76), c, BAD_FIELD, FEI_HLEN);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, NVME_TCP_F_HDGST, 28, 0, 28), hd, BAD_FIELD, FEI_HLEN);
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 128, 0, 128), c, BAD_FIELD, FEI_HLEN);
	c.handshake = true;
	EXPECT(mk(NVME_TCP_PDU_ICREQ, 0, 24, 0, 128), c, BAD_FIELD, FEI_HLEN);
	c.handshake = false;
	/* The lowest field in error is reported. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0x80, 99, 7, 3), h, BAD_FIELD, FEI_FLAGS);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 99, 7, 3), h, BAD_FIELD, FEI_HLEN);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 7, 3), h, BAD_FIELD, FEI_PDO);

	/* PDO: 0 without data. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 24, 24), h, BAD_FIELD, FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_R2T, 0, 24, 24, 24), h, BAD_FIELD, FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 24, 24, 48), c, BAD_FIELD, FEI_PDO);
	/* Data PDUs always carry data. */
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 0, 24), c, BAD_FIELD, FEI_PDO);
	/* PDO at least HLEN plus the header digest. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 68, 1092), c, BAD_FIELD, FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 72, 1100), cd, BAD_FIELD,
	       FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 24, 540), hd, BAD_FIELD, FEI_PDO);
	/* PDO a multiple of (PDA + 1) * 4. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 74, 74 + 512), c, BAD_FIELD, FEI_PDO);
	c.pda = 1; /* 8 bytes */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 72, 72 + 512), c, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 76, 76 + 512), c, BAD_FIELD, FEI_PDO);
	cd.pda = 1;
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 76, 76 + 512 + 4), cd,
	       BAD_FIELD, FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 80, 80 + 512 + 4), cd, 0, 0);
	hd.pda = 31; /* 128 bytes */
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 28 + 512 + 4), hd, BAD_FIELD,
	       FEI_PDO);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 128, 128 + 512 + 4), hd, 0, 0);
	hd.pda = 0;
	c.pda = cd.pda = 0;

	/* PLEN consistent with HLEN, digests and PDO. */
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, 0, 24, 0, 28), h, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_RESP, NVME_TCP_F_HDGST, 24, 0, 24), hd, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_R2T, 0, 24, 0, 23), h, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 0, 1096), c, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 24, 24), c, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 24, 20), c, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 32), cd, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 33), cd, 0, 0);
	c.handshake = true;
	EXPECT(mk(NVME_TCP_PDU_ICREQ, 0, 128, 0, 132), c, BAD_FIELD, FEI_PLEN);
	c.handshake = false;
	/* TermReq: 24-byte header plus at most 128 bytes of the header in error. */
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 24, 0, 152), c, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_H2C_TERM_REQ, 0, 24, 0, 153), c, BAD_FIELD, FEI_PLEN);
	EXPECT(mk(NVME_TCP_PDU_C2H_TERM_REQ, 0, 24, 0, 23), h, BAD_FIELD, FEI_PLEN);

	/* Data over the receiver's limit. */
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 24, 24 + 8192), c, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 24, 24 + 8193), c, NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
	EXPECT(mk(NVME_TCP_PDU_CAPSULE_CMD, 0, 72, 72, 72 + 8193), c, NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 28 + 8192 + 4), hd, 0, 0);
	EXPECT(mk(NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 28 + 8193 + 4), hd,
	       NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
	/* Huge PLEN does not wrap. */
	EXPECT(mk(NVME_TCP_PDU_H2C_DATA, 0, 24, 24, 0xffffffffu), c, NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
}

/* Check a built header as its receiver would, with the same negotiated settings. */
static void accept_built(const uint8_t *hdr, size_t pre, uint32_t data_len, bool controller_rx, bool hdgst,
			 bool ddgst, uint8_t pda)
{
	struct nvme_tcp_common_header ch;
	memcpy(&ch, hdr, sizeof(ch));
	struct nvmf_tcp_rx_rules r = {.controller = controller_rx, .hdgst = hdgst, .ddgst = ddgst, .pda = pda,
				      .max_data = 1u << 20};
	r.handshake = ch.pdu_type == NVME_TCP_PDU_ICREQ || ch.pdu_type == NVME_TCP_PDU_ICRESP;
	uint32_t fei = 0;
	int fes = nvmf_tcp_check_common_header(&ch, &r, &fei);
	CHECK(fes == 0, "%s (data %u hd %d dd %d pda %u) rejected: fes %d fei %u", nvmf_tcp_pdu_name(ch.pdu_type),
	      data_len, hdgst, ddgst, pda, fes, fei);
	CHECK(nvmf_tcp_pdu_data_len(&ch) == data_len, "%s data_len %u, want %u", nvmf_tcp_pdu_name(ch.pdu_type),
	      nvmf_tcp_pdu_data_len(&ch), data_len);
	/* IC and TermReq PDUs carry no digests; TermReq data follows its header (PDO 0). */
	const bool term = ch.pdu_type == NVME_TCP_PDU_H2C_TERM_REQ || ch.pdu_type == NVME_TCP_PDU_C2H_TERM_REQ;
	const bool dig = hdgst && !r.handshake && !term;
	CHECK(!!(ch.flags & NVME_TCP_F_HDGST) == dig, "HDGST flag");
	CHECK(!!(ch.flags & NVME_TCP_F_DDGST) == (ddgst && data_len > 0 && !r.handshake && !term), "DDGST flag");
	if (dig)
		CHECK(nvmf_tcp_header_digest_ok(hdr), "%s header digest", nvmf_tcp_pdu_name(ch.pdu_type));
	/* Header digest then zero padding up to PDO. */
	size_t end = ch.hlen + (dig ? 4u : 0u);
	CHECK(pre == (data_len && !term ? ch.pdo : end), "%s returned %zu", nvmf_tcp_pdu_name(ch.pdu_type), pre);
	for (size_t i = end; i < pre; i++)
		CHECK(hdr[i] == 0, "padding byte %zu", i);
	CHECK(le32toh(ch.plen) == pre + data_len + (ch.flags & NVME_TCP_F_DDGST ? 4u : 0u), "plen");
	if (data_len && !term)
		CHECK(ch.pdo % ((pda + 1u) * 4) == 0 && ch.pdo >= end && ch.pdo < end + (pda + 1u) * 4, "pdo %u", ch.pdo);
}

static void test_builders(void)
{
	uint8_t hdr[NVMF_TCP_MAX_HDR + 8];
	struct nvme_command sqe;
	struct nvme_completion cqe;
	memset(&sqe, 0x5a, sizeof(sqe));
	memset(&cqe, 0xa5, sizeof(cqe));

	for (int dg = 0; dg < 4; dg++) {
		const bool hd = dg & 1, dd = dg & 2;
		for (uint8_t pda = 0; pda <= NVME_TCP_MAX_PDA; pda += (pda < 4 ? 1 : 9)) {
			size_t n;
			memset(hdr, 0xee, sizeof(hdr));
			n = nvmf_tcp_build_icreq(hdr, pda, hd, dd, 7);
			CHECK(n == 128, "icreq %zu", n);
			accept_built(hdr, n, 0, true, hd, dd, 0);
			struct nvme_tcp_icreq icq;
			memcpy(&icq, hdr, sizeof(icq));
			CHECK(icq.hpda == pda && icq.dgst == dg && le32toh(icq.maxr2t) == 7 && icq.pfv == 0, "icreq fields");
			for (size_t i = 16; i < 128; i++)
				CHECK(hdr[i] == 0, "icreq reserved %zu", i);

			memset(hdr, 0xee, sizeof(hdr));
			n = nvmf_tcp_build_icresp(hdr, pda, hd, dd, 131072);
			accept_built(hdr, n, 0, false, hd, dd, 0);
			struct nvme_tcp_icresp ics;
			memcpy(&ics, hdr, sizeof(ics));
			CHECK(ics.cpda == pda && ics.dgst == dg && le32toh(ics.maxh2cdata) == 131072, "icresp fields");

			static const uint32_t lens[] = {0, 1, 4096};
			for (int li = 0; li < 3; li++) {
				const uint32_t dl = lens[li];
				memset(hdr, 0xee, sizeof(hdr));
				n = nvmf_tcp_build_capsule_cmd(hdr, &sqe, dl, hd, dd, pda);
				CHECK(n <= NVMF_TCP_MAX_HDR, "capsule header %zu", n);
				accept_built(hdr, n, dl, true, hd, dd, pda);
				CHECK(memcmp(hdr + 8, &sqe, 64) == 0, "sqe");
				if (dl == 0)
					continue;
				memset(hdr, 0xee, sizeof(hdr));
				n = nvmf_tcp_build_h2c_data(hdr, 0x1234, 0x5678, 4096, dl, li == 2, hd, dd, pda);
				accept_built(hdr, n, dl, true, hd, dd, pda);
				struct nvme_tcp_data_pdu d;
				memcpy(&d, hdr, sizeof(d));
				CHECK(le16toh(d.cccid) == 0x1234 && le16toh(d.ttag) == 0x5678 && le32toh(d.datao) == 4096 &&
				      le32toh(d.datal) == dl, "h2c fields");
				CHECK(!!(d.ch.flags & NVME_TCP_F_DATA_LAST) == (li == 2), "h2c last");

				memset(hdr, 0xee, sizeof(hdr));
				n = nvmf_tcp_build_c2h_data(hdr, 0x4321, 512, dl, li == 2, li == 2, hd, dd, pda);
				accept_built(hdr, n, dl, false, hd, dd, pda);
				memcpy(&d, hdr, sizeof(d));
				CHECK(le16toh(d.cccid) == 0x4321 && d.ttag == 0 && le32toh(d.datao) == 512 &&
				      le32toh(d.datal) == dl, "c2h fields");
				CHECK((d.ch.flags & (NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS)) ==
				      (li == 2 ? NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS : 0), "c2h flags");
			}
			memset(hdr, 0xee, sizeof(hdr));
			n = nvmf_tcp_build_capsule_resp(hdr, &cqe, hd);
			accept_built(hdr, n, 0, false, hd, dd, pda);
			CHECK(memcmp(hdr + 8, &cqe, 16) == 0, "cqe");
			memset(hdr, 0xee, sizeof(hdr));
			n = nvmf_tcp_build_r2t(hdr, 9, 10, 11, 12, hd);
			accept_built(hdr, n, 0, false, hd, dd, pda);
			struct nvme_tcp_r2t r;
			memcpy(&r, hdr, sizeof(r));
			CHECK(le16toh(r.cccid) == 9 && le16toh(r.ttag) == 10 && le32toh(r.r2to) == 11 && le32toh(r.r2tl) == 12 &&
			      r.reserved[0] == 0 && r.reserved[3] == 0, "r2t fields");
		}
	}

	/* Exact layout: a CapsuleCmd with header digest and PDA 1 pads 76 up to 80. */
	struct nvme_tcp_common_header ch;
	CHECK(nvmf_tcp_init_header(&ch, NVME_TCP_PDU_CAPSULE_CMD, 0, 100, true, true, 1) == 80, "pre");
	CHECK(ch.pdo == 80 && le32toh(ch.plen) == 80 + 100 + 4 && ch.flags == 3 && ch.hlen == 72, "capsule ch");
	CHECK(nvmf_tcp_init_header(&ch, NVME_TCP_PDU_CAPSULE_CMD, 0, 0, true, true, 1) == 76, "pre no data");
	CHECK(ch.pdo == 0 && le32toh(ch.plen) == 76 && ch.flags == NVME_TCP_F_HDGST, "capsule ch no data");
	CHECK(nvmf_tcp_init_header(&ch, NVME_TCP_PDU_ICREQ, 0, 0, true, true, 3) == 128, "icreq pre");
	CHECK(ch.flags == 0 && ch.pdo == 0 && le32toh(ch.plen) == 128, "icreq ch");
	/* The header digest is CRC32C of the HLEN bytes, little endian after them. */
	nvmf_tcp_build_r2t(hdr, 1, 2, 3, 4, true);
	uint32_t d = htole32(nvmf_crc32c(hdr, 24)), got;
	memcpy(&got, hdr + 24, 4);
	CHECK(got == d, "r2t digest");
	hdr[25] ^= 1;
	CHECK(!nvmf_tcp_header_digest_ok(hdr), "digest mismatch detected");
}

static void test_term_req(void)
{
	uint8_t pdu[24 + NVME_TCP_TERM_REQ_MAX_DATA + 16];
	uint8_t bad[200];
	for (size_t i = 0; i < sizeof(bad); i++)
		bad[i] = (uint8_t)(i + 1);

	/* Controller sends C2HTermReq; data is the header in error. */
	memset(pdu, 0xee, sizeof(pdu));
	size_t n = nvmf_tcp_build_term_req(pdu, true, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 3, bad, 72);
	CHECK(n == 24 + 72, "term len %zu", n);
	struct nvme_tcp_term_req t;
	memcpy(&t, pdu, sizeof(t));
	CHECK(t.ch.pdu_type == NVME_TCP_PDU_C2H_TERM_REQ && t.ch.flags == 0 && t.ch.hlen == 24 && t.ch.pdo == 0 &&
	      le32toh(t.ch.plen) == 96, "term ch");
	CHECK(pdu[8] == 1 && pdu[9] == 0 && pdu[10] == 3 && pdu[11] == 0 && pdu[12] == 0 && pdu[13] == 0,
	      "FES at 8, FEI at 10, little endian");
	for (int i = 14; i < 24; i++)
		CHECK(pdu[i] == 0, "term reserved %d", i);
	CHECK(memcmp(pdu + 24, bad, 72) == 0, "term data");
	accept_built(pdu, 24, 72, false, false, false, 0);

	/* Host sends H2CTermReq; a longer header is cut at 128 bytes (PLEN 152). */
	memset(pdu, 0xee, sizeof(pdu));
	n = nvmf_tcp_build_term_req(pdu, false, NVME_TCP_FES_UNSUPPORTED_PARAMETER, 0x01020304, bad, sizeof(bad));
	CHECK(n == NVME_TCP_TERM_REQ_MAX_PLEN, "term len %zu", n);
	memcpy(&t, pdu, sizeof(t));
	CHECK(t.ch.pdu_type == NVME_TCP_PDU_H2C_TERM_REQ && le32toh(t.ch.plen) == 152, "h2c term ch");
	CHECK(le16toh(t.fes) == NVME_TCP_FES_UNSUPPORTED_PARAMETER && le32toh(t.fei) == 0x01020304, "fes fei");
	CHECK(memcmp(pdu + 24, bad, 128) == 0 && pdu[152] == 0xee, "term data cut at 128");
	accept_built(pdu, 24, 128, true, true, true, 0);

	/* Without data. */
	n = nvmf_tcp_build_term_req(pdu, false, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, NULL, 0);
	CHECK(n == 24, "empty term len %zu", n);
	accept_built(pdu, 24, 0, true, false, false, 0);
}

int main(void)
{
	test_names();
	test_type();
	test_flags();
	test_hlen_pdo_plen();
	test_builders();
	test_term_req();
	printf("tcp_pdu: %d failures\n", failures);
	return failures ? 1 : 0;
}
