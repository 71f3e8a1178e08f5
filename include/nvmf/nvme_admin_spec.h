/*
 * NVMe base specification: admin command data structures (Identify, log
 * pages, features, asynchronous events).  Multi-byte fields are little
 * endian on the wire; this code only targets little-endian hosts.
 * Offsets checked against NVMe base 2.0 and Linux include/linux/nvme.h.
 */
#ifndef NVMF_NVME_ADMIN_SPEC_H
#define NVMF_NVME_ADMIN_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define NVME_IDENTIFY_DATA_SIZE 4096
#define NVME_NSID_ALL 0xffffffffu

/* ---- Identify (opcode 0x06): CDW10 bits 7:0 CNS, bits 31:16 CNTID ---- */

enum nvme_identify_cns {
	NVME_CNS_NAMESPACE = 0x00,
	NVME_CNS_CONTROLLER = 0x01,
	NVME_CNS_ACTIVE_NS_LIST = 0x02,
	NVME_CNS_NS_ID_DESCRIPTORS = 0x03,
	NVME_CNS_NVM_SET_LIST = 0x04,
	NVME_CNS_CSI_NAMESPACE = 0x05,
	NVME_CNS_CSI_CONTROLLER = 0x06,
	NVME_CNS_CSI_ACTIVE_NS_LIST = 0x07,
	NVME_CNS_ALLOCATED_NS_LIST = 0x10,
	NVME_CNS_CTRL_LIST = 0x13,
	NVME_CNS_IO_COMMAND_SET = 0x1c,
};

#define NVME_IDENTIFY_CNS(cdw10) ((uint8_t)((cdw10) & 0xff))
#define NVME_IDENTIFY_CNTID(cdw10) ((uint16_t)((cdw10) >> 16))
/* Identify CDW11 bits 31:24: command set identifier for CNS 5/6/7. */
#define NVME_IDENTIFY_CSI(cdw11) ((uint8_t)((cdw11) >> 24))
#define NVME_CSI_NVM 0x00

/* Power state descriptor (32 bytes). */
struct nvme_power_state {
	uint16_t max_power; /* centiwatts */
	uint8_t reserved2;
	uint8_t flags;
	uint32_t entry_lat; /* microseconds */
	uint32_t exit_lat;
	uint8_t read_tput;
	uint8_t read_lat;
	uint8_t write_tput;
	uint8_t write_lat;
	uint16_t idle_power;
	uint8_t idle_scale;
	uint8_t reserved19;
	uint16_t active_power;
	uint8_t active_work_scale;
	uint8_t reserved23[9];
} __attribute__((packed));
static_assert(sizeof(struct nvme_power_state) == 32, "power state descriptor is 32 bytes");

/* Identify Controller data structure (CNS 0x01). */
struct nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts; /* 2^mdts units of the minimum page size; 0: no limit */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t reserved102[9];
	uint8_t cntrltype;
	uint8_t fguid[16];
	uint16_t crdt1;
	uint16_t crdt2;
	uint16_t crdt3;
	uint8_t reserved134[119];
	uint8_t nvmsr;
	uint8_t vwci;
	uint8_t mec;
	uint16_t oacs;
	uint8_t acl;
	uint8_t aerl;
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe;
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas; /* keep alive granularity, 100 ms units */
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t reserved358[10];
	uint8_t megcap[16];
	uint8_t reserved384[128];
	uint8_t sqes;
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t maxdna[16];
	uint32_t maxcna;
	uint8_t reserved564[204];
	char subnqn[256];
	uint8_t reserved1024[768];
	/* Fabrics only */
	uint32_t ioccsz; /* 16-byte units, including the 64-byte SQE */
	uint32_t iorcsz;
	uint16_t icdoff;
	uint8_t fcatt;
	uint8_t msdbd;
	uint16_t ofcs;
	uint8_t dctype;
	uint8_t reserved1807[241];
	struct nvme_power_state psd[32];
	uint8_t vs[1024];
} __attribute__((packed));
static_assert(sizeof(struct nvme_id_ctrl) == 4096, "Identify Controller is 4096 bytes");
static_assert(offsetof(struct nvme_id_ctrl, cntrltype) == 111, "CNTRLTYPE at 111");
static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "OACS at 256");
static_assert(offsetof(struct nvme_id_ctrl, kas) == 320, "KAS at 320");
static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "SQES at 512");
static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "SGLS at 536");
static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "SUBNQN at 768");
static_assert(offsetof(struct nvme_id_ctrl, ioccsz) == 1792, "IOCCSZ at 1792");
static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "PSD0 at 2048");

/* CMIC */
#define NVME_CTRL_CMIC_MULTI_PORT 0x01
#define NVME_CTRL_CMIC_MULTI_CTRL 0x02
#define NVME_CTRL_CMIC_ANA 0x08
/* OACS: Doorbell Buffer Config (for emulated controllers) */
#define NVME_CTRL_OACS_DBBUF (1u << 8)
/* OAES */
#define NVME_CTRL_OAES_NS_ATTR (1u << 8)
#define NVME_CTRL_OAES_FW_ACTIVATION (1u << 9)
#define NVME_CTRL_OAES_ANA_CHANGE (1u << 11)
#define NVME_CTRL_OAES_DISCOVERY_LOG_CHANGE (1u << 31)
/* CTRATT */
#define NVME_CTRL_CTRATT_HOSTID_128 (1u << 0)
/* CNTRLTYPE */
#define NVME_CTRL_TYPE_IO 1
#define NVME_CTRL_TYPE_DISCOVERY 2
#define NVME_CTRL_TYPE_ADMIN 3
/* FRMW: bit 0 slot 1 read only, bits 3:1 number of slots */
#define NVME_CTRL_FRMW_SLOT1_RO 0x01
#define NVME_CTRL_FRMW_SLOTS(n) ((uint8_t)(((n) & 0x7) << 1))
/* LPA */
#define NVME_CTRL_LPA_SMART_PER_NS 0x01
#define NVME_CTRL_LPA_CMD_EFFECTS 0x02
#define NVME_CTRL_LPA_EXTENDED_DATA 0x04
/* SQES / CQES: bits 3:0 required, 7:4 maximum (log2 of the entry size) */
#define NVME_CTRL_QES(required, max) ((uint8_t)(((max) << 4) | (required)))
/* ONCS */
#define NVME_CTRL_ONCS_COMPARE (1u << 0)
#define NVME_CTRL_ONCS_WRITE_UNCORRECTABLE (1u << 1)
#define NVME_CTRL_ONCS_DSM (1u << 2)
#define NVME_CTRL_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_CTRL_ONCS_SAVE_FEATURES (1u << 4)
#define NVME_CTRL_ONCS_RESERVATIONS (1u << 5)
#define NVME_CTRL_ONCS_TIMESTAMP (1u << 6)
#define NVME_CTRL_ONCS_VERIFY (1u << 7)
/* FUSES */
#define NVME_CTRL_FUSES_COMPARE_AND_WRITE (1u << 0)
/* VWC */
#define NVME_CTRL_VWC_PRESENT 0x01
#define NVME_CTRL_VWC_NSID_ALL_FLUSH (0x3u << 1) /* Flush with NSID FFFFFFFFh supported */
/* SGLS */
#define NVME_CTRL_SGLS_SUPPORTED (1u << 0) /* no alignment requirement */
#define NVME_CTRL_SGLS_KEYED (1u << 2)
#define NVME_CTRL_SGLS_BIT_BUCKET (1u << 16)
#define NVME_CTRL_SGLS_OFFSET (1u << 20)
#define NVME_CTRL_SGLS_TRANSPORT (1u << 21)

/* LBA format (4 bytes): metadata size, log2 of the data size, relative performance. */
struct nvme_lbaf {
	uint16_t ms;
	uint8_t lbads;
	uint8_t rp;
} __attribute__((packed));
static_assert(sizeof(struct nvme_lbaf) == 4, "LBA format is 4 bytes");

/* Identify Namespace data structure (CNS 0x00). */
struct nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf; /* 0's based */
	uint8_t flbas;
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t reserved81;
	uint8_t nulbaf;
	uint8_t reserved83[9];
	uint32_t anagrpid;
	uint8_t reserved96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct nvme_lbaf lbaf[64];
	uint8_t vs[3712];
} __attribute__((packed));
static_assert(sizeof(struct nvme_id_ns) == 4096, "Identify Namespace is 4096 bytes");
static_assert(offsetof(struct nvme_id_ns, nvmcap) == 48, "NVMCAP at 48");
static_assert(offsetof(struct nvme_id_ns, anagrpid) == 92, "ANAGRPID at 92");
static_assert(offsetof(struct nvme_id_ns, nguid) == 104, "NGUID at 104");
static_assert(offsetof(struct nvme_id_ns, eui64) == 120, "EUI64 at 120");
static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "LBAF0 at 128");

/* NSFEAT */
#define NVME_NS_FEAT_THIN_PROVISIONING 0x01
#define NVME_NS_FEAT_ATOMICS 0x02 /* NAWUN/NAWUPF/NACWU valid */
#define NVME_NS_FEAT_DEALLOCATED_ERROR 0x04
#define NVME_NS_FEAT_IO_OPT 0x10 /* NPWG/NPWA/NPDG/NPDA/NOWS valid */
/* FLBAS bits 3:0: the LBA format in use */
#define NVME_NS_FLBAS_INDEX(flbas) ((flbas) & 0xf)
/* NMIC */
#define NVME_NS_NMIC_SHARED 0x01
/* DLFEAT bits 2:0 = 1: deallocated blocks read as zeros; bit 3: Write Zeroes may deallocate */
#define NVME_NS_DLFEAT_READ_ZEROES 0x01
#define NVME_NS_DLFEAT_WZ_DEALLOCATE 0x08

/* Namespace Identification Descriptor (CNS 0x03): header then NIDL bytes. */
struct nvme_ns_id_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint8_t reserved[2];
} __attribute__((packed));
static_assert(sizeof(struct nvme_ns_id_desc) == 4, "namespace id descriptor header is 4 bytes");

enum nvme_nidt {
	NVME_NIDT_EUI64 = 1,
	NVME_NIDT_NGUID = 2,
	NVME_NIDT_UUID = 3,
	NVME_NIDT_CSI = 4,
};
#define NVME_NIDT_EUI64_LEN 8
#define NVME_NIDT_NGUID_LEN 16
#define NVME_NIDT_UUID_LEN 16
#define NVME_NIDT_CSI_LEN 1

/* ---- Get Log Page (opcode 0x02) ---- */

enum nvme_log_page_id {
	NVME_LOG_ERROR = 0x01,
	NVME_LOG_SMART = 0x02,
	NVME_LOG_FW_SLOT = 0x03,
	NVME_LOG_CHANGED_NS = 0x04,
	NVME_LOG_CMD_EFFECTS = 0x05,
	NVME_LOG_ANA = 0x0c,
	NVME_LOG_DISCOVERY = 0x70,
};

/* CDW10: LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16; CDW11: NUMDU 15:0; CDW12/13: offset. */
#define NVME_LOG_LID(cdw10) ((uint8_t)((cdw10) & 0xff))
#define NVME_LOG_LSP(cdw10) ((uint8_t)(((cdw10) >> 8) & 0x7f))
#define NVME_LOG_RAE(cdw10) (((cdw10) >> 15) & 1)
/* Bytes requested: (NUMDU:NUMDL + 1) dwords. */
#define NVME_LOG_LEN(cdw10, cdw11) ((((uint64_t)((cdw11) & 0xffff) << 16 | ((cdw10) >> 16)) + 1) * 4)
#define NVME_LOG_OFFSET(cdw12, cdw13) ((uint64_t)(cdw13) << 32 | (cdw12))

/* Error Information log entry (64 bytes). */
struct nvme_error_log_entry {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 phase tag, as in the CQE */
	uint16_t param_error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vs;
	uint8_t trtype;
	uint8_t reserved30[2];
	uint64_t cs;
	uint16_t trtype_spec_info;
	uint8_t reserved42[22];
} __attribute__((packed));
static_assert(sizeof(struct nvme_error_log_entry) == 64, "error log entry is 64 bytes");

/*
 * SMART / Health Information (512 bytes).  The 128-bit counters are little
 * endian byte arrays; data units are thousands of 512-byte units, rounded up.
 */
struct nvme_smart_log {
	uint8_t critical_warning;
	uint8_t temperature[2]; /* kelvin */
	uint8_t avail_spare;
	uint8_t spare_thresh;
	uint8_t percent_used;
	uint8_t endu_grp_crit_warn_sumry;
	uint8_t reserved7[25];
	uint8_t data_units_read[16];
	uint8_t data_units_written[16];
	uint8_t host_reads[16];
	uint8_t host_writes[16];
	uint8_t ctrl_busy_time[16];
	uint8_t power_cycles[16];
	uint8_t power_on_hours[16];
	uint8_t unsafe_shutdowns[16];
	uint8_t media_errors[16];
	uint8_t num_err_log_entries[16];
	uint32_t warning_temp_time;
	uint32_t critical_comp_time;
	uint16_t temp_sensor[8];
	uint32_t thm_temp1_trans_count;
	uint32_t thm_temp2_trans_count;
	uint32_t thm_temp1_total_time;
	uint32_t thm_temp2_total_time;
	uint8_t reserved232[280];
} __attribute__((packed));
static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");
static_assert(offsetof(struct nvme_smart_log, data_units_read) == 32, "data units read at 32");
static_assert(offsetof(struct nvme_smart_log, host_writes) == 80, "host writes at 80");
static_assert(offsetof(struct nvme_smart_log, warning_temp_time) == 192, "WCTT at 192");

/* Firmware Slot Information (512 bytes). */
struct nvme_fw_slot_log {
	uint8_t afi; /* bits 2:0 active slot, 6:4 slot activated at next reset */
	uint8_t reserved1[7];
	char frs[7][8]; /* firmware revision per slot, ASCII, space padded */
	uint8_t reserved64[448];
} __attribute__((packed));
static_assert(sizeof(struct nvme_fw_slot_log) == 512, "firmware slot log is 512 bytes");

/* Changed Namespace List: up to 1024 NSIDs; 0xffffffff first when more changed. */
#define NVME_CHANGED_NS_MAX 1024
struct nvme_changed_ns_log {
	uint32_t nsid[NVME_CHANGED_NS_MAX];
} __attribute__((packed));
static_assert(sizeof(struct nvme_changed_ns_log) == 4096, "changed namespace list is 4096 bytes");

/* Commands Supported and Effects (4096 bytes). */
struct nvme_cmd_effects_log {
	uint32_t acs[256]; /* admin commands by opcode */
	uint32_t iocs[256]; /* I/O commands by opcode */
	uint8_t reserved2048[2048];
} __attribute__((packed));
static_assert(sizeof(struct nvme_cmd_effects_log) == 4096, "commands supported and effects log is 4096 bytes");

#define NVME_CMD_EFFECTS_CSUPP (1u << 0) /* command supported */
#define NVME_CMD_EFFECTS_LBCC (1u << 1) /* logical block content change */
#define NVME_CMD_EFFECTS_NCC (1u << 2) /* namespace capability change */
#define NVME_CMD_EFFECTS_NIC (1u << 3) /* namespace inventory change */
#define NVME_CMD_EFFECTS_CCC (1u << 4) /* controller capability change */

/* Asymmetric Namespace Access log: header, then group descriptors each followed by NSIDs. */
struct nvme_ana_log_header {
	uint64_t chgcnt;
	uint16_t ngrps;
	uint8_t reserved10[6];
} __attribute__((packed));
static_assert(sizeof(struct nvme_ana_log_header) == 16, "ANA log header is 16 bytes");

struct nvme_ana_group_desc {
	uint32_t grpid;
	uint32_t nnsids;
	uint64_t chgcnt;
	uint8_t state;
	uint8_t reserved17[15];
	uint32_t nsids[];
} __attribute__((packed));
static_assert(sizeof(struct nvme_ana_group_desc) == 32, "ANA group descriptor is 32 bytes");

enum nvme_ana_state {
	NVME_ANA_OPTIMIZED = 0x1,
	NVME_ANA_NONOPTIMIZED = 0x2,
	NVME_ANA_INACCESSIBLE = 0x3,
	NVME_ANA_PERSISTENT_LOSS = 0x4,
	NVME_ANA_CHANGE = 0xf,
};

/* ---- Get / Set Features (opcodes 0x0a / 0x09): CDW10 bits 7:0 FID ---- */

enum nvme_feature_id {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_AUTO_PST = 0x0c,
	NVME_FEAT_TIMESTAMP = 0x0e,
	NVME_FEAT_KATO = 0x0f,
	NVME_FEAT_HOST_ID = 0x81,
	NVME_FEAT_RESV_MASK = 0x82,
	NVME_FEAT_RESV_PERSIST = 0x83,
};

#define NVME_FEAT_FID(cdw10) ((uint8_t)((cdw10) & 0xff))
/* Get Features CDW10 bits 10:8: which value (0 current, 1 default, 2 saved, 3 capabilities). */
#define NVME_FEAT_SEL(cdw10) ((uint8_t)(((cdw10) >> 8) & 0x7))
/* Set Features CDW10 bit 31: save. */
#define NVME_FEAT_SV(cdw10) (((cdw10) >> 31) & 1)
/* Number of Queues: NSQR 15:0, NCQR 31:16, both 0's based. */
#define NVME_FEAT_NUM_QUEUES_VALUE(nsqr, ncqr) ((uint32_t)(((ncqr) & 0xffff) << 16 | ((nsqr) & 0xffff)))
/* Host Identifier CDW11 bit 0: extended (128-bit) host identifier. */
#define NVME_FEAT_HOST_ID_EXHID 0x1

/* Asynchronous Event Configuration (CDW11 of feature 0x0b). */
#define NVME_AEC_SMART_MASK 0xffu
#define NVME_AEC_NS_ATTR (1u << 8)
#define NVME_AEC_FW_ACTIVATION (1u << 9)
#define NVME_AEC_ANA_CHANGE (1u << 11)
#define NVME_AEC_DISCOVERY_LOG_CHANGE (1u << 31)

/* ---- Asynchronous events: completion DW0 ---- */

enum nvme_async_event_type {
	NVME_AER_TYPE_ERROR = 0,
	NVME_AER_TYPE_SMART = 1,
	NVME_AER_TYPE_NOTICE = 2,
	NVME_AER_TYPE_IMMEDIATE = 3,
	NVME_AER_TYPE_IO_SPECIFIC = 6,
	NVME_AER_TYPE_VENDOR = 7,
};

enum nvme_async_event_notice {
	NVME_AER_NOTICE_NS_ATTR_CHANGED = 0x00,
	NVME_AER_NOTICE_FW_ACTIVATION = 0x01,
	NVME_AER_NOTICE_ANA_CHANGE = 0x03,
	NVME_AER_NOTICE_DISCOVERY_LOG_CHANGE = 0xf0,
};

/* DW0: type 2:0, information 15:8, log page to read 23:16. */
#define NVME_AER_DW0(type, info, lid) \
	((uint32_t)(((type) & 0x7) | (((info) & 0xff) << 8) | (((lid) & 0xff) << 16)))

/* Abort completion DW0 bit 0: the command was not aborted. */
#define NVME_ABORT_NOT_ABORTED 0x1

#endif
