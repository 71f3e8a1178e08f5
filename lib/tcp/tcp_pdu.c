/* NVMe/TCP PDU codec (NVMe-oF 1.1, chapter 7; NVMe/TCP transport spec 3.x). */
#include "tcp/tcp_pdu.h"

#include <endian.h>
#include <string.h>

#include "util/crc32c.h"

uint8_t nvmf_tcp_pdu_hlen(uint8_t pdu_type)
{
	switch (pdu_type) {
	case NVME_TCP_PDU_ICREQ:
	case NVME_TCP_PDU_ICRESP:
		return 128;
	case NVME_TCP_PDU_H2C_TERM_REQ:
	case NVME_TCP_PDU_C2H_TERM_REQ:
		return sizeof(struct nvme_tcp_term_req);
	case NVME_TCP_PDU_CAPSULE_CMD:
		return sizeof(struct nvme_tcp_capsule_cmd);
	case NVME_TCP_PDU_CAPSULE_RESP:
		return sizeof(struct nvme_tcp_capsule_resp);
	case NVME_TCP_PDU_H2C_DATA:
	case NVME_TCP_PDU_C2H_DATA:
		return sizeof(struct nvme_tcp_data_pdu);
	case NVME_TCP_PDU_R2T:
		return sizeof(struct nvme_tcp_r2t);
	default:
		return 0;
	}
}

const char *nvmf_tcp_pdu_name(uint8_t pdu_type)
{
	switch (pdu_type) {
	case NVME_TCP_PDU_ICREQ:
		return "ICReq";
	case NVME_TCP_PDU_ICRESP:
		return "ICResp";
	case NVME_TCP_PDU_H2C_TERM_REQ:
		return "H2CTermReq";
	case NVME_TCP_PDU_C2H_TERM_REQ:
		return "C2HTermReq";
	case NVME_TCP_PDU_CAPSULE_CMD:
		return "CapsuleCmd";
	case NVME_TCP_PDU_CAPSULE_RESP:
		return "CapsuleResp";
	case NVME_TCP_PDU_H2C_DATA:
		return "H2CData";
	case NVME_TCP_PDU_C2H_DATA:
		return "C2HData";
	case NVME_TCP_PDU_R2T:
		return "R2T";
	default:
		return "unknown";
	}
}

static bool is_ic_or_term(uint8_t t)
{
	return t == NVME_TCP_PDU_ICREQ || t == NVME_TCP_PDU_ICRESP || t == NVME_TCP_PDU_H2C_TERM_REQ ||
	       t == NVME_TCP_PDU_C2H_TERM_REQ;
}

static bool is_term(uint8_t t)
{
	return t == NVME_TCP_PDU_H2C_TERM_REQ || t == NVME_TCP_PDU_C2H_TERM_REQ;
}

/* PDUs whose data may carry a data digest. */
static bool carries_data(uint8_t t)
{
	return t == NVME_TCP_PDU_CAPSULE_CMD || t == NVME_TCP_PDU_H2C_DATA || t == NVME_TCP_PDU_C2H_DATA;
}

static bool is_data_pdu(uint8_t t)
{
	return t == NVME_TCP_PDU_H2C_DATA || t == NVME_TCP_PDU_C2H_DATA;
}

/* The types a peer may send us, by our role (7.3.x PDU direction). */
static bool type_from_host(uint8_t t)
{
	return t == NVME_TCP_PDU_ICREQ || t == NVME_TCP_PDU_H2C_TERM_REQ || t == NVME_TCP_PDU_CAPSULE_CMD ||
	       t == NVME_TCP_PDU_H2C_DATA;
}

static bool type_from_ctrl(uint8_t t)
{
	return t == NVME_TCP_PDU_ICRESP || t == NVME_TCP_PDU_C2H_TERM_REQ || t == NVME_TCP_PDU_CAPSULE_RESP ||
	       t == NVME_TCP_PDU_C2H_DATA || t == NVME_TCP_PDU_R2T;
}

static int fail(uint32_t *fei, int fes, uint32_t off)
{
	if (fei)
		*fei = off;
	return fes;
}

int nvmf_tcp_check_common_header(const struct nvme_tcp_common_header *ch, const struct nvmf_tcp_rx_rules *rules,
				 uint32_t *fei)
{
	const uint8_t t = ch->pdu_type;
	const uint8_t hlen = nvmf_tcp_pdu_hlen(t);
	const uint8_t flags = ch->flags;
	const uint32_t plen = le32toh(ch->plen);
	const uint8_t ic_type = rules->controller ? NVME_TCP_PDU_ICREQ : NVME_TCP_PDU_ICRESP;
	const uint8_t term_type = rules->controller ? NVME_TCP_PDU_H2C_TERM_REQ : NVME_TCP_PDU_C2H_TERM_REQ;

	/* Type: unknown or never sent in this direction is a bad field (FEI 0);
	 * a known one at the wrong time (before/after the handshake) a sequence
	 * error, as SPDK does.  FEI is reserved (0) for FES other than 01h/06h. */
	if (hlen == 0 || !(rules->controller ? type_from_host(t) : type_from_ctrl(t)))
		return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, offsetof(struct nvme_tcp_common_header, pdu_type));
	/* A TermReq may end the connection at any time, also during the handshake. */
	if (t != term_type && (rules->handshake != (t == ic_type)))
		return fail(fei, NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);

	/* Flags defined for the type, digest flags as negotiated; DDGSTF only
	 * with data (Linux sends capsules without data and without DDGSTF). */
	uint8_t want = 0, allowed = 0;
	if (!is_ic_or_term(t) && rules->hdgst)
		want |= NVME_TCP_F_HDGST;
	if (carries_data(t) && rules->ddgst && (is_data_pdu(t) || ch->pdo != 0))
		want |= NVME_TCP_F_DDGST;
	if (is_data_pdu(t))
		allowed |= NVME_TCP_F_DATA_LAST;
	if (t == NVME_TCP_PDU_C2H_DATA)
		allowed |= NVME_TCP_F_DATA_SUCCESS;
	if ((flags & (NVME_TCP_F_HDGST | NVME_TCP_F_DDGST)) != want || (flags & ~(want | allowed)) ||
	    ((flags & NVME_TCP_F_DATA_SUCCESS) && !(flags & NVME_TCP_F_DATA_LAST)))
		return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, offsetof(struct nvme_tcp_common_header, flags));

	if (ch->hlen != hlen)
		return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, offsetof(struct nvme_tcp_common_header, hlen));

	const uint32_t hd = (flags & NVME_TCP_F_HDGST) ? NVME_TCP_DIGEST_LEN : 0;
	const uint32_t dd = (flags & NVME_TCP_F_DDGST) ? NVME_TCP_DIGEST_LEN : 0;
	const uint32_t align = ((uint32_t)rules->pda + 1) * 4;
	const uint32_t off_pdo = offsetof(struct nvme_tcp_common_header, pdo);
	const uint32_t off_plen = offsetof(struct nvme_tcp_common_header, plen);

	if (is_term(t)) {
		/* The data (the header in error) follows the header directly. */
		if (ch->pdo != 0)
			return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_pdo);
		if (plen < hlen || plen > NVME_TCP_TERM_REQ_MAX_PLEN)
			return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_plen);
		return 0;
	}
	if (!carries_data(t) || (t == NVME_TCP_PDU_CAPSULE_CMD && ch->pdo == 0)) {
		if (ch->pdo != 0)
			return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_pdo);
		if (plen != hlen + hd)
			return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_plen);
		return 0;
	}
	/* Data PDUs, and capsules with in-capsule data. */
	if (ch->pdo < hlen + hd || ch->pdo % align)
		return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_pdo);
	if (plen <= (uint32_t)ch->pdo + dd)
		return fail(fei, NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, off_plen);
	if (plen - ch->pdo - dd > rules->max_data)
		return fail(fei, NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
	return 0;
}

uint32_t nvmf_tcp_pdu_data_len(const struct nvme_tcp_common_header *ch)
{
	const uint32_t plen = le32toh(ch->plen);

	if (is_term(ch->pdu_type))
		return plen > ch->hlen ? plen - ch->hlen : 0;
	if (ch->pdo == 0)
		return 0;
	const uint32_t dd = (ch->flags & NVME_TCP_F_DDGST) ? NVME_TCP_DIGEST_LEN : 0;
	if (plen <= ch->pdo + dd)
		return 0;
	return plen - ch->pdo - dd;
}

size_t nvmf_tcp_init_header(struct nvme_tcp_common_header *ch, uint8_t pdu_type, uint8_t extra_flags,
			    uint32_t data_len, bool hdgst, bool ddgst, uint8_t pda)
{
	const uint8_t hlen = nvmf_tcp_pdu_hlen(pdu_type);
	uint8_t flags = extra_flags;
	size_t pre, hd = 0, dd = 0;

	/* IC and TermReq PDUs never carry digests. */
	if (!is_ic_or_term(pdu_type)) {
		if (hdgst) {
			flags |= NVME_TCP_F_HDGST;
			hd = NVME_TCP_DIGEST_LEN;
		}
		if (ddgst && data_len > 0) {
			flags |= NVME_TCP_F_DDGST;
			dd = NVME_TCP_DIGEST_LEN;
		}
	}
	ch->pdu_type = pdu_type;
	ch->flags = flags;
	ch->hlen = hlen;
	if (data_len == 0 || is_term(pdu_type)) {
		ch->pdo = 0;
		pre = hlen + hd;
	} else {
		const size_t align = ((size_t)pda + 1) * 4;
		pre = (hlen + hd + align - 1) / align * align;
		ch->pdo = (uint8_t)pre;
	}
	ch->plen = htole32((uint32_t)(pre + data_len + dd));
	return pre;
}

void nvmf_tcp_put_header_digest(void *hdr)
{
	const uint8_t hlen = ((const struct nvme_tcp_common_header *)hdr)->hlen;

	/* Only PDUs up to 72 bytes carry a digest; never write past the buffer. */
	if (hlen + NVME_TCP_DIGEST_LEN > NVMF_TCP_MAX_HDR)
		return;
	const uint32_t d = htole32(nvmf_crc32c(hdr, hlen));
	memcpy((uint8_t *)hdr + hlen, &d, sizeof(d));
}

bool nvmf_tcp_header_digest_ok(const void *hdr)
{
	const uint8_t hlen = ((const struct nvme_tcp_common_header *)hdr)->hlen;
	uint32_t d;

	if (hlen + NVME_TCP_DIGEST_LEN > NVMF_TCP_MAX_HDR)
		return false;
	memcpy(&d, (const uint8_t *)hdr + hlen, sizeof(d));
	return le32toh(d) == nvmf_crc32c(hdr, hlen);
}

/* Zero the header and padding, fill the common header; digest added by finish(). */
static size_t start(void *hdr, uint8_t type, uint8_t extra_flags, uint32_t data_len, bool hdgst, bool ddgst,
		    uint8_t pda)
{
	struct nvme_tcp_common_header ch;
	const size_t pre = nvmf_tcp_init_header(&ch, type, extra_flags, data_len, hdgst, ddgst, pda);

	memset(hdr, 0, pre);
	memcpy(hdr, &ch, sizeof(ch));
	return pre;
}

static size_t finish(void *hdr, size_t pre)
{
	if (((const struct nvme_tcp_common_header *)hdr)->flags & NVME_TCP_F_HDGST)
		nvmf_tcp_put_header_digest(hdr);
	return pre;
}

static uint8_t ic_dgst(bool hdgst, bool ddgst)
{
	return (hdgst ? NVME_TCP_DGST_HDGST_ENABLE : 0) | (ddgst ? NVME_TCP_DGST_DDGST_ENABLE : 0);
}

size_t nvmf_tcp_build_icreq(void *hdr, uint8_t hpda, bool hdgst, bool ddgst, uint32_t maxr2t)
{
	struct nvme_tcp_icreq *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_ICREQ, 0, 0, false, false, 0);

	p->pfv = htole16(NVME_TCP_PFV_1_0);
	p->hpda = hpda;
	p->dgst = ic_dgst(hdgst, ddgst);
	p->maxr2t = htole32(maxr2t);
	return pre;
}

size_t nvmf_tcp_build_icresp(void *hdr, uint8_t cpda, bool hdgst, bool ddgst, uint32_t maxh2cdata)
{
	struct nvme_tcp_icresp *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_ICRESP, 0, 0, false, false, 0);

	p->pfv = htole16(NVME_TCP_PFV_1_0);
	p->cpda = cpda;
	p->dgst = ic_dgst(hdgst, ddgst);
	p->maxh2cdata = htole32(maxh2cdata);
	return pre;
}

size_t nvmf_tcp_build_capsule_cmd(void *hdr, const struct nvme_command *sqe, uint32_t incapsule_len, bool hdgst,
				  bool ddgst, uint8_t pda)
{
	struct nvme_tcp_capsule_cmd *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_CAPSULE_CMD, 0, incapsule_len, hdgst, ddgst, pda);

	memcpy(&p->sqe, sqe, sizeof(p->sqe));
	return finish(hdr, pre);
}

size_t nvmf_tcp_build_capsule_resp(void *hdr, const struct nvme_completion *cqe, bool hdgst)
{
	struct nvme_tcp_capsule_resp *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_CAPSULE_RESP, 0, 0, hdgst, false, 0);

	memcpy(&p->cqe, cqe, sizeof(p->cqe));
	return finish(hdr, pre);
}

size_t nvmf_tcp_build_h2c_data(void *hdr, uint16_t cccid, uint16_t ttag, uint32_t datao, uint32_t datal, bool last,
			       bool hdgst, bool ddgst, uint8_t pda)
{
	struct nvme_tcp_data_pdu *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_H2C_DATA, last ? NVME_TCP_F_DATA_LAST : 0, datal, hdgst, ddgst, pda);

	p->cccid = htole16(cccid);
	p->ttag = htole16(ttag);
	p->datao = htole32(datao);
	p->datal = htole32(datal);
	return finish(hdr, pre);
}

size_t nvmf_tcp_build_c2h_data(void *hdr, uint16_t cccid, uint32_t datao, uint32_t datal, bool last, bool success,
			       bool hdgst, bool ddgst, uint8_t pda)
{
	struct nvme_tcp_data_pdu *p = hdr;
	uint8_t extra = (last ? NVME_TCP_F_DATA_LAST : 0) | (success ? NVME_TCP_F_DATA_SUCCESS : 0);
	const size_t pre = start(hdr, NVME_TCP_PDU_C2H_DATA, extra, datal, hdgst, ddgst, pda);

	p->cccid = htole16(cccid);
	p->datao = htole32(datao);
	p->datal = htole32(datal);
	return finish(hdr, pre);
}

size_t nvmf_tcp_build_r2t(void *hdr, uint16_t cccid, uint16_t ttag, uint32_t r2to, uint32_t r2tl, bool hdgst)
{
	struct nvme_tcp_r2t *p = hdr;
	const size_t pre = start(hdr, NVME_TCP_PDU_R2T, 0, 0, hdgst, false, 0);

	p->cccid = htole16(cccid);
	p->ttag = htole16(ttag);
	p->r2to = htole32(r2to);
	p->r2tl = htole32(r2tl);
	return finish(hdr, pre);
}

size_t nvmf_tcp_build_term_req(void *pdu, bool controller, uint16_t fes, uint32_t fei, const void *bad_hdr,
			       size_t bad_hdr_len)
{
	struct nvme_tcp_term_req *p = pdu;
	const uint8_t type = controller ? NVME_TCP_PDU_C2H_TERM_REQ : NVME_TCP_PDU_H2C_TERM_REQ;
	const size_t n = bad_hdr_len < NVME_TCP_TERM_REQ_MAX_DATA ? bad_hdr_len : NVME_TCP_TERM_REQ_MAX_DATA;
	const size_t pre = start(pdu, type, 0, (uint32_t)n, false, false, 0);

	p->fes = htole16(fes);
	p->fei = htole32(fei);
	if (n)
		memcpy((uint8_t *)pdu + pre, bad_hdr, n);
	return pre + n;
}
