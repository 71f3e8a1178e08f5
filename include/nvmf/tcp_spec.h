/* NVMe/TCP transport binding (NVMe-oF 1.1, chapter 7): PDU headers. */
#ifndef NVMF_TCP_SPEC_H
#define NVMF_TCP_SPEC_H

#include <nvmf/nvme_spec.h>

enum nvme_tcp_pdu_type {
	NVME_TCP_PDU_ICREQ = 0x00,
	NVME_TCP_PDU_ICRESP = 0x01,
	NVME_TCP_PDU_H2C_TERM_REQ = 0x02,
	NVME_TCP_PDU_C2H_TERM_REQ = 0x03,
	NVME_TCP_PDU_CAPSULE_CMD = 0x04,
	NVME_TCP_PDU_CAPSULE_RESP = 0x05,
	NVME_TCP_PDU_H2C_DATA = 0x06,
	NVME_TCP_PDU_C2H_DATA = 0x07,
	NVME_TCP_PDU_R2T = 0x09,
};

/* Common header flags. */
#define NVME_TCP_F_HDGST 0x01
#define NVME_TCP_F_DDGST 0x02
#define NVME_TCP_F_DATA_LAST 0x04
#define NVME_TCP_F_DATA_SUCCESS 0x08

/* ICReq/ICResp DGST field. */
#define NVME_TCP_DGST_HDGST_ENABLE 0x01
#define NVME_TCP_DGST_DDGST_ENABLE 0x02

#define NVME_TCP_PFV_1_0 0
#define NVME_TCP_DIGEST_LEN 4
#define NVME_TCP_MAX_PDA 31 /* HPDA/CPDA: alignment is (PDA + 1) * 4 bytes */

/* Fatal error status of a termination request. */
enum nvme_tcp_fes {
	NVME_TCP_FES_INVALID_PDU_HEADER_FIELD = 0x01,
	NVME_TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
	NVME_TCP_FES_HEADER_DIGEST_ERROR = 0x03,
	NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04,
	NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05,
	NVME_TCP_FES_UNSUPPORTED_PARAMETER = 0x06,
};

/* A termination request PDU is at most 152 bytes: its 24-byte header and up to
 * 128 bytes of the PDU header in error. */
#define NVME_TCP_TERM_REQ_MAX_PLEN 152
#define NVME_TCP_TERM_REQ_MAX_DATA (NVME_TCP_TERM_REQ_MAX_PLEN - 24)

struct nvme_tcp_common_header {
	uint8_t pdu_type;
	uint8_t flags;
	uint8_t hlen;
	uint8_t pdo;
	uint32_t plen;
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_common_header) == 8, "CH is 8 bytes");

struct nvme_tcp_icreq {
	struct nvme_tcp_common_header ch;
	uint16_t pfv;
	uint8_t hpda;
	uint8_t dgst;
	uint32_t maxr2t; /* 0's based */
	uint8_t reserved[112];
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_icreq) == 128, "ICReq is 128 bytes");

struct nvme_tcp_icresp {
	struct nvme_tcp_common_header ch;
	uint16_t pfv;
	uint8_t cpda;
	uint8_t dgst;
	uint32_t maxh2cdata;
	uint8_t reserved[112];
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_icresp) == 128, "ICResp is 128 bytes");

struct nvme_tcp_term_req {
	struct nvme_tcp_common_header ch;
	uint16_t fes;
	uint32_t fei; /* field error information: offset of the field in error, or the parameter */
	uint8_t reserved[10];
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_term_req) == 24, "TermReq header is 24 bytes");

struct nvme_tcp_capsule_cmd {
	struct nvme_tcp_common_header ch;
	struct nvme_command sqe;
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_capsule_cmd) == 72, "CapsuleCmd header is 72 bytes");

struct nvme_tcp_capsule_resp {
	struct nvme_tcp_common_header ch;
	struct nvme_completion cqe;
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_capsule_resp) == 24, "CapsuleResp header is 24 bytes");

/* H2CData and C2HData share a layout; C2HData has no TTAG. */
struct nvme_tcp_data_pdu {
	struct nvme_tcp_common_header ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t datao;
	uint32_t datal;
	uint8_t reserved[4];
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_data_pdu) == 24, "data PDU header is 24 bytes");

struct nvme_tcp_r2t {
	struct nvme_tcp_common_header ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t reserved[4];
} __attribute__((packed));
static_assert(sizeof(struct nvme_tcp_r2t) == 24, "R2T is 24 bytes");

#endif
