/* NVMe base specification: queue entries, SGL descriptors, opcodes and status codes. */
#ifndef NVMF_NVME_SPEC_H
#define NVMF_NVME_SPEC_H

#include <assert.h>
#include <stdint.h>

/* SGL descriptor (NVMe base 2.0, 4.1.8). type = descriptor type << 4 | subtype. */
struct nvme_sgl_desc {
	uint64_t address;
	uint32_t length;
	uint8_t reserved[3];
	uint8_t type;
} __attribute__((packed));
static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

enum nvme_sgl_type {
	NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	NVME_SGL_TYPE_SEGMENT = 0x2,
	NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
};

enum nvme_sgl_subtype {
	NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	NVME_SGL_SUBTYPE_OFFSET = 0x1,
	NVME_SGL_SUBTYPE_TRANSPORT = 0xa,
};

#define NVME_SGL_TYPE(type, subtype) ((uint8_t)(((type) << 4) | (subtype)))
/* In-capsule data: a data block addressed by offset into the capsule. */
#define NVME_SGL_INCAPSULE NVME_SGL_TYPE(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_OFFSET)
/* Data moved by the transport (NVMe/TCP R2T, H2CData, C2HData). */
#define NVME_SGL_TRANSPORT NVME_SGL_TYPE(NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK, NVME_SGL_SUBTYPE_TRANSPORT)

/* Submission queue entry. */
struct nvme_command {
	uint8_t opc;
	uint8_t flags; /* bits 1:0 FUSE, bits 7:6 PSDT */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct nvme_sgl_desc sgl;
	} dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
} __attribute__((packed));
static_assert(sizeof(struct nvme_command) == 64, "SQE is 64 bytes");

#define NVME_CMD_FUSE_MASK 0x03
#define NVME_CMD_FUSE_FIRST 0x01
#define NVME_CMD_FUSE_SECOND 0x02
#define NVME_CMD_PSDT_MASK 0xc0
#define NVME_CMD_PSDT_SGL 0x40 /* SGLs, metadata pointer contiguous */

/* Completion queue entry. */
struct nvme_completion {
	uint32_t cdw0;
	uint32_t cdw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 phase, 8:1 SC, 11:9 SCT, 13:12 CRD, 14 M, 15 DNR */
} __attribute__((packed));
static_assert(sizeof(struct nvme_completion) == 16, "CQE is 16 bytes");

/* Status field helpers: status without the phase bit, as (sct, sc, dnr). */
#define NVME_STATUS(sct, sc) ((uint16_t)((((sct) & 0x7) << 9) | (((sc) & 0xff) << 1)))
#define NVME_STATUS_DNR 0x8000
#define NVME_STATUS_MORE 0x4000
#define NVME_STATUS_GET_SC(st) ((uint8_t)(((st) >> 1) & 0xff))
#define NVME_STATUS_GET_SCT(st) ((uint8_t)(((st) >> 9) & 0x7))
#define NVME_STATUS_GET_DNR(st) (((st) >> 15) & 1)

enum nvme_status_code_type {
	NVME_SCT_GENERIC = 0x0,
	NVME_SCT_COMMAND_SPECIFIC = 0x1,
	NVME_SCT_MEDIA_ERROR = 0x2,
	NVME_SCT_PATH = 0x3,
	NVME_SCT_VENDOR = 0x7,
};

/* Generic command status (SCT 0). */
enum nvme_generic_status {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_COMMAND_ID_CONFLICT = 0x03,
	NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	NVME_SC_ABORTED_POWER_LOSS = 0x05,
	NVME_SC_INTERNAL_DEVICE_ERROR = 0x06,
	NVME_SC_ABORTED_BY_REQUEST = 0x07,
	NVME_SC_ABORTED_SQ_DELETION = 0x08,
	NVME_SC_ABORTED_FAILED_FUSED = 0x09,
	NVME_SC_ABORTED_MISSING_FUSED = 0x0a,
	NVME_SC_INVALID_NAMESPACE_OR_FORMAT = 0x0b,
	NVME_SC_COMMAND_SEQUENCE_ERROR = 0x0c,
	NVME_SC_INVALID_SGL_SEGMENT_DESCRIPTOR = 0x0d,
	NVME_SC_INVALID_NUMBER_OF_SGL_DESCRIPTORS = 0x0e,
	NVME_SC_DATA_SGL_LENGTH_INVALID = 0x0f,
	NVME_SC_METADATA_SGL_LENGTH_INVALID = 0x10,
	NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID = 0x11,
	NVME_SC_INVALID_USE_OF_CMB = 0x12,
	NVME_SC_INVALID_PRP_OFFSET = 0x13,
	NVME_SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14,
	NVME_SC_OPERATION_DENIED = 0x15,
	NVME_SC_SGL_OFFSET_INVALID = 0x16,
	NVME_SC_HOST_ID_INCONSISTENT_FORMAT = 0x18,
	NVME_SC_KEEP_ALIVE_TIMER_EXPIRED = 0x19,
	NVME_SC_KEEP_ALIVE_TIMEOUT_INVALID = 0x1a,
	NVME_SC_ABORTED_PREEMPT_ABORT = 0x1b,
	NVME_SC_SANITIZE_FAILED = 0x1c,
	NVME_SC_SANITIZE_IN_PROGRESS = 0x1d,
	NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID = 0x1e,
	NVME_SC_NAMESPACE_IS_WRITE_PROTECTED = 0x20,
	NVME_SC_COMMAND_INTERRUPTED = 0x21,
	NVME_SC_TRANSIENT_TRANSPORT_ERROR = 0x22,
	/* NVM command set */
	NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	NVME_SC_CAPACITY_EXCEEDED = 0x81,
	NVME_SC_NAMESPACE_NOT_READY = 0x82,
	NVME_SC_RESERVATION_CONFLICT = 0x83,
};

/* Command specific status (SCT 1). */
enum nvme_command_specific_status {
	NVME_SC_COMPLETION_QUEUE_INVALID = 0x00,
	NVME_SC_INVALID_QUEUE_IDENTIFIER = 0x01,
	NVME_SC_INVALID_QUEUE_SIZE = 0x02,
	NVME_SC_ABORT_COMMAND_LIMIT_EXCEEDED = 0x03,
	NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED = 0x05,
	NVME_SC_INVALID_FIRMWARE_SLOT = 0x06,
	NVME_SC_INVALID_FIRMWARE_IMAGE = 0x07,
	NVME_SC_INVALID_INTERRUPT_VECTOR = 0x08,
	NVME_SC_INVALID_LOG_PAGE = 0x09,
	NVME_SC_INVALID_FORMAT = 0x0a,
	NVME_SC_INVALID_QUEUE_DELETION = 0x0c,
	NVME_SC_FEATURE_NOT_SAVEABLE = 0x0d,
	NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC = 0x0f,
	/* NVM command set */
	NVME_SC_CONFLICTING_ATTRIBUTES = 0x80,
	NVME_SC_INVALID_PROTECTION_INFORMATION = 0x81,
	NVME_SC_ATTEMPTED_WRITE_TO_READ_ONLY_RANGE = 0x82,
};

/* Media and data integrity errors (SCT 2). */
enum nvme_media_status {
	NVME_SC_WRITE_FAULT = 0x80,
	NVME_SC_UNRECOVERED_READ_ERROR = 0x81,
	NVME_SC_COMPARE_FAILURE = 0x85,
	NVME_SC_ACCESS_DENIED = 0x86,
	NVME_SC_DEALLOCATED_OR_UNWRITTEN_BLOCK = 0x87,
};

enum nvme_admin_opcode {
	NVME_OPC_DELETE_IO_SQ = 0x00,
	NVME_OPC_CREATE_IO_SQ = 0x01,
	NVME_OPC_GET_LOG_PAGE = 0x02,
	NVME_OPC_DELETE_IO_CQ = 0x04,
	NVME_OPC_CREATE_IO_CQ = 0x05,
	NVME_OPC_IDENTIFY = 0x06,
	NVME_OPC_ABORT = 0x08,
	NVME_OPC_SET_FEATURES = 0x09,
	NVME_OPC_GET_FEATURES = 0x0a,
	NVME_OPC_ASYNC_EVENT_REQUEST = 0x0c,
	NVME_OPC_NAMESPACE_MANAGEMENT = 0x0d,
	NVME_OPC_FIRMWARE_COMMIT = 0x10,
	NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD = 0x11,
	NVME_OPC_DEVICE_SELF_TEST = 0x14,
	NVME_OPC_NAMESPACE_ATTACHMENT = 0x15,
	NVME_OPC_KEEP_ALIVE = 0x18,
	NVME_OPC_DIRECTIVE_SEND = 0x19,
	NVME_OPC_DIRECTIVE_RECEIVE = 0x1a,
	NVME_OPC_DOORBELL_BUFFER_CONFIG = 0x7c,
	NVME_OPC_FABRICS = 0x7f,
	NVME_OPC_FORMAT_NVM = 0x80,
	NVME_OPC_SECURITY_SEND = 0x81,
	NVME_OPC_SECURITY_RECEIVE = 0x82,
	NVME_OPC_SANITIZE = 0x84,
};

enum nvme_nvm_opcode {
	NVME_OPC_FLUSH = 0x00,
	NVME_OPC_WRITE = 0x01,
	NVME_OPC_READ = 0x02,
	NVME_OPC_WRITE_UNCORRECTABLE = 0x04,
	NVME_OPC_COMPARE = 0x05,
	NVME_OPC_WRITE_ZEROES = 0x08,
	NVME_OPC_DATASET_MANAGEMENT = 0x09,
	NVME_OPC_VERIFY = 0x0c,
	NVME_OPC_RESERVATION_REGISTER = 0x0d,
	NVME_OPC_RESERVATION_REPORT = 0x0e,
	NVME_OPC_RESERVATION_ACQUIRE = 0x11,
	NVME_OPC_RESERVATION_RELEASE = 0x15,
};

/* Read/Write CDW12 bits. */
#define NVME_RW_FUA (1u << 30)
#define NVME_RW_LIMITED_RETRY (1u << 31)
#define NVME_WZ_DEALLOCATE (1u << 25)
/* Dataset Management CDW11 attributes. */
#define NVME_DSM_ATTR_DEALLOCATE (1u << 2)

/* Dataset Management range (16 bytes). */
struct nvme_dsm_range {
	uint32_t attributes;
	uint32_t nlb;
	uint64_t slba;
} __attribute__((packed));
static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* Controller registers (properties), byte offsets. */
enum nvme_register {
	NVME_REG_CAP = 0x00,
	NVME_REG_VS = 0x08,
	NVME_REG_INTMS = 0x0c,
	NVME_REG_INTMC = 0x10,
	NVME_REG_CC = 0x14,
	NVME_REG_CSTS = 0x1c,
	NVME_REG_NSSR = 0x20,
	NVME_REG_AQA = 0x24,
	NVME_REG_ASQ = 0x28,
	NVME_REG_ACQ = 0x30,
};

/* CAP fields. */
#define NVME_CAP_MQES(cap) ((uint16_t)((cap) & 0xffff))
#define NVME_CAP_CQR (1ull << 16)
#define NVME_CAP_TO_SHIFT 24 /* in 500 ms units, 8 bits */
#define NVME_CAP_CSS_NVM (1ull << 37)
#define NVME_CAP_MPSMIN_SHIFT 48
#define NVME_CAP_MPSMAX_SHIFT 52

/* CC fields. */
#define NVME_CC_EN 0x1u
#define NVME_CC_CSS_SHIFT 4
#define NVME_CC_MPS_SHIFT 7
#define NVME_CC_AMS_SHIFT 11
#define NVME_CC_SHN_SHIFT 14
#define NVME_CC_SHN_MASK (0x3u << NVME_CC_SHN_SHIFT)
#define NVME_CC_IOSQES_SHIFT 16
#define NVME_CC_IOCQES_SHIFT 20

/* CSTS fields. */
#define NVME_CSTS_RDY 0x1u
#define NVME_CSTS_CFS 0x2u
#define NVME_CSTS_SHST_SHIFT 2
#define NVME_CSTS_SHST_MASK (0x3u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_NORMAL 0x0u
#define NVME_CSTS_SHST_OCCURRING (0x1u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_COMPLETE (0x2u << NVME_CSTS_SHST_SHIFT)

#define NVME_VS(major, minor, tertiary) (((uint32_t)(major) << 16) | ((uint32_t)(minor) << 8) | (tertiary))

#endif
