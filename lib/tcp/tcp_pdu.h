/*
 * NVMe/TCP PDU codec: pure functions that build and check PDU headers.
 * No sockets here; tcp_qpair.c moves the bytes.
 */
#ifndef NVMF_TCP_PDU_H
#define NVMF_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/tcp_spec.h>

/* Largest PDU header, with header digest and padding room, that a receiver buffers. */
#define NVMF_TCP_MAX_HDR 128

/* Fixed HLEN of each PDU type; 0 for an unknown type. */
uint8_t nvmf_tcp_pdu_hlen(uint8_t pdu_type);
/* Name for logs ("CapsuleCmd"); "unknown" for others. */
const char *nvmf_tcp_pdu_name(uint8_t pdu_type);

/* What a receiver expects of PDUs coming from its peer on one connection. */
struct nvmf_tcp_rx_rules {
	bool controller;   /* we are the controller: PDUs come from a host */
	bool handshake;    /* ICReq/ICResp still due: only that PDU is allowed */
	bool hdgst;        /* header digests negotiated */
	bool ddgst;        /* data digests negotiated */
	uint8_t pda;       /* data alignment the peer must follow (HPDA for a host's data, CPDA for a controller's), 0's based dwords */
	uint32_t max_data; /* largest PDU data the receiver accepts (in-capsule limit, MAXH2CDATA, ...) */
};

/*
 * Check a received common header (the first 8 bytes) against the rules:
 * type allowed in this direction and state, flags defined for the type,
 * HLEN fixed for the type, PDO (0 without data; else >= HLEN + header
 * digest, a multiple of the alignment), PLEN consistent with both and with
 * max_data.  Returns 0, or the fatal error status (enum nvme_tcp_fes) with
 * *fei set to the byte offset of the lowest field in error.
 */
int nvmf_tcp_check_common_header(const struct nvme_tcp_common_header *ch, const struct nvmf_tcp_rx_rules *rules,
				 uint32_t *fei);

/* Length of the PDU data (PLEN - PDO - data digest), 0 when the PDU carries none. */
uint32_t nvmf_tcp_pdu_data_len(const struct nvme_tcp_common_header *ch);

/*
 * Fill a common header for a PDU of this type carrying data_len bytes of
 * data: HLEN, flags (digest flags from hdgst/ddgst; ddgst only when
 * data_len > 0; plus extra_flags), PDO (aligned to (pda + 1) * 4 when
 * there is data) and PLEN.  Returns the bytes that precede the data:
 * header, header digest and padding (= PDO when there is data).
 */
size_t nvmf_tcp_init_header(struct nvme_tcp_common_header *ch, uint8_t pdu_type, uint8_t extra_flags,
			    uint32_t data_len, bool hdgst, bool ddgst, uint8_t pda);

/* Write the header digest after the HLEN bytes of the header at hdr (4 bytes). */
void nvmf_tcp_put_header_digest(void *hdr);
/* True when the header digest after HLEN bytes matches. */
bool nvmf_tcp_header_digest_ok(const void *hdr);

/* Builders: each writes a complete header (with header digest and padding
 * when enabled) into hdr (NVMF_TCP_MAX_HDR bytes) and returns its length
 * (the bytes before the data).  The data and its digest follow on the wire. */
size_t nvmf_tcp_build_icreq(void *hdr, uint8_t hpda, bool hdgst, bool ddgst, uint32_t maxr2t);
size_t nvmf_tcp_build_icresp(void *hdr, uint8_t cpda, bool hdgst, bool ddgst, uint32_t maxh2cdata);
size_t nvmf_tcp_build_capsule_cmd(void *hdr, const struct nvme_command *sqe, uint32_t incapsule_len, bool hdgst,
				  bool ddgst, uint8_t pda);
size_t nvmf_tcp_build_capsule_resp(void *hdr, const struct nvme_completion *cqe, bool hdgst);
size_t nvmf_tcp_build_h2c_data(void *hdr, uint16_t cccid, uint16_t ttag, uint32_t datao, uint32_t datal, bool last,
			       bool hdgst, bool ddgst, uint8_t pda);
size_t nvmf_tcp_build_c2h_data(void *hdr, uint16_t cccid, uint32_t datao, uint32_t datal, bool last, bool success,
			       bool hdgst, bool ddgst, uint8_t pda);
size_t nvmf_tcp_build_r2t(void *hdr, uint16_t cccid, uint16_t ttag, uint32_t r2to, uint32_t r2tl, bool hdgst);
/* A termination request; the header in error (up to NVME_TCP_TERM_REQ_MAX_DATA bytes of it) is its data,
 * written after the header into hdr, which must hold 24 + NVME_TCP_TERM_REQ_MAX_DATA bytes. Returns the whole PDU length. */
size_t nvmf_tcp_build_term_req(void *pdu, bool controller, uint16_t fes, uint32_t fei, const void *bad_hdr,
			       size_t bad_hdr_len);

#endif
