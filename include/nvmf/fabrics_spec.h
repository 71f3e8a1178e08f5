/* NVMe over Fabrics: Fabrics commands, Connect data, discovery log page. */
#ifndef NVMF_FABRICS_SPEC_H
#define NVMF_FABRICS_SPEC_H

#include <nvmf/nvme_spec.h>

#define NVME_NQN_MAX 223 /* characters, without the terminating NUL */
#define NVME_NQN_FIELD 256
#define NVME_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

enum nvmf_fabrics_command_type {
	NVMF_FCTYPE_PROPERTY_SET = 0x00,
	NVMF_FCTYPE_CONNECT = 0x01,
	NVMF_FCTYPE_PROPERTY_GET = 0x04,
	NVMF_FCTYPE_AUTH_SEND = 0x05,
	NVMF_FCTYPE_AUTH_RECEIVE = 0x06,
	NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* Common layout of every Fabrics command (opcode 0x7f). */
struct nvmf_fabrics_command {
	uint8_t opc;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[35];
	uint8_t specific[24];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_fabrics_command) == 64, "Fabrics command is 64 bytes");

/* Connect command attributes (CATTR). */
#define NVMF_CONNECT_ATTR_PRIORITY_MASK 0x03
#define NVMF_CONNECT_ATTR_DISABLE_SQ_FC 0x04
#define NVMF_CONNECT_ATTR_IO_QUEUE_DELETION 0x08

struct nvmf_connect_command {
	uint8_t opc;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[19];
	struct nvme_sgl_desc sgl;
	uint16_t recfmt;
	uint16_t qid;
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;
	uint8_t reserved2;
	uint32_t kato; /* milliseconds */
	uint8_t reserved3[12];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_connect_command) == 64, "Connect command is 64 bytes");

#define NVMF_CNTLID_DYNAMIC 0xffff
#define NVMF_CNTLID_STATIC_ANY 0xfffe

struct nvmf_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t reserved1[238];
	char subnqn[NVME_NQN_FIELD];
	char hostnqn[NVME_NQN_FIELD];
	uint8_t reserved2[256];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_connect_data) == 1024, "Connect data is 1024 bytes");

/* Connect response, CQE DW0 on success: the controller ID; on Connect Invalid Parameters: IATTR/IPO. */
#define NVMF_CONNECT_IATTR_DATA 0x1 /* the parameter in error is in the Connect data */

/* Fabrics command status (SCT 1). */
enum nvmf_fabrics_status {
	NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT = 0x80,
	NVMF_SC_CONNECT_CONTROLLER_BUSY = 0x81,
	NVMF_SC_CONNECT_INVALID_PARAMETERS = 0x82,
	NVMF_SC_CONNECT_RESTART_DISCOVERY = 0x83,
	NVMF_SC_CONNECT_INVALID_HOST = 0x84,
	NVMF_SC_INVALID_QUEUE_TYPE = 0x85,
	NVMF_SC_DISCOVER_RESTART = 0x90,
	NVMF_SC_AUTH_REQUIRED = 0x91,
};

/* Property Get/Set ATTRIB: size of the property. */
#define NVMF_PROP_SIZE_4 0x0
#define NVMF_PROP_SIZE_8 0x1

struct nvmf_property_get_command {
	uint8_t opc;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[35];
	uint8_t attrib;
	uint8_t reserved2[3];
	uint32_t offset;
	uint8_t reserved3[16];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_property_get_command) == 64, "Property Get is 64 bytes");

struct nvmf_property_set_command {
	uint8_t opc;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[35];
	uint8_t attrib;
	uint8_t reserved2[3];
	uint32_t offset;
	uint64_t value;
	uint8_t reserved3[8];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_property_set_command) == 64, "Property Set is 64 bytes");

/* Authentication Send / Receive (DH-HMAC-CHAP rides on these). */
struct nvmf_auth_command {
	uint8_t opc;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[19];
	struct nvme_sgl_desc sgl;
	uint8_t reserved2;
	uint8_t spsp0;
	uint8_t spsp1;
	uint8_t secp;
	uint32_t length; /* TL for Send, AL for Receive */
	uint8_t reserved3[16];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_command) == 64, "Authentication command is 64 bytes");

#define NVMF_AUTH_SECP_NVME 0xe9

/* Discovery log page (log identifier 0x70). */
enum nvmf_trtype {
	NVMF_TRTYPE_RDMA = 1,
	NVMF_TRTYPE_FC = 2,
	NVMF_TRTYPE_TCP = 3,
	NVMF_TRTYPE_INTRA_HOST = 254,
	/* Not a Fabrics TRTYPE: the vfio-user PCIe transport (SPDK's number); never in a discovery log. */
	NVMF_TRTYPE_VFIO_USER = 1024,
};

enum nvmf_adrfam {
	NVMF_ADRFAM_IPV4 = 1,
	NVMF_ADRFAM_IPV6 = 2,
	NVMF_ADRFAM_IB = 3,
	NVMF_ADRFAM_FC = 4,
	NVMF_ADRFAM_INTRA_HOST = 254,
};

enum nvmf_subtype {
	NVMF_SUBTYPE_DISCOVERY_REFERRAL = 1,
	NVMF_SUBTYPE_NVME = 2,
	NVMF_SUBTYPE_DISCOVERY_CURRENT = 3,
};

/* TREQ: secure channel requirement (bits 1:0), SQ flow control disable allowed (bit 2). */
#define NVMF_TREQ_SECURE_CHANNEL_NOT_SPECIFIED 0x0
#define NVMF_TREQ_SECURE_CHANNEL_REQUIRED 0x1
#define NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED 0x2
#define NVMF_TREQ_DISABLE_SQ_FC 0x4

/* EFLAGS */
#define NVMF_EFLAGS_EPCSD 0x2 /* explicit persistent connection support for discovery */
#define NVMF_EFLAGS_DUPRETINFO 0x1

/* TCP transport specific address subtype: security type in TSAS byte 0. */
#define NVMF_TCP_SECTYPE_NONE 0
#define NVMF_TCP_SECTYPE_TLS13 2

struct nvmf_discovery_log_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	uint16_t portid;
	uint16_t cntlid;
	uint16_t asqsz;
	uint16_t eflags;
	uint8_t reserved1[20];
	char trsvcid[32];
	uint8_t reserved2[192];
	char subnqn[NVME_NQN_FIELD];
	char traddr[256];
	uint8_t tsas[256];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_discovery_log_entry) == 1024, "Discovery log entry is 1024 bytes");

struct nvmf_discovery_log_header {
	uint64_t genctr;
	uint64_t numrec;
	uint16_t recfmt;
	uint8_t reserved[1006];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_discovery_log_header) == 1024, "Discovery log header is 1024 bytes");

#endif
