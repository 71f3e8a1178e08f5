/*
 * nvmfd over real sockets on 127.0.0.1: usage: test_target NVMFD CASE.
 * Each case starts its own nvmfd on an ephemeral port.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <nvmf/tcp_spec.h>

#include "util/crc32c.h"

#include "target_util.h"

#define NS_BLOCKS (64u * 1024 * 1024 / 512)

static const char *const target_args[] = {
	"--subsystem", TEST_NQN, "--namespace", "ram:64M", "--subsystem", TEST_NQN_RESTRICTED, "--namespace",
	"ram:16M", "--allow-host", TEST_ALLOWED_HOSTNQN, "--reactors", "2", NULL,
};

static void round_trip(struct host *h, uint64_t slba, uint32_t nlb, unsigned seed)
{
	size_t len = (size_t)nlb * 512;
	uint8_t *w = malloc(len), *r = malloc(len);
	CHECK(w && r);
	fill_pattern(w, len, seed);
	CHECK(rw(h->io, NVME_OPC_WRITE, 1, slba, nlb, w, len, 0) == 0);
	memset(r, 0, len);
	CHECK(rw(h->io, NVME_OPC_READ, 1, slba, nlb, r, len, 0) == 0);
	CHECK(memcmp(w, r, len) == 0);
	free(w);
	free(r);
}

/* ---- The normal path ---- */

static void case_basic(const char *port)
{
	struct host h = {0};
	CHECK(host_connect_admin(&h, port, TEST_NQN, TEST_HOSTNQN, 0, 32, NULL) == 0);
	CHECK(h.cntlid >= 1 && h.cntlid <= 0xffef);

	uint64_t cap = 0, vs = 0, csts = 0;
	CHECK(prop_get(h.admin, NVME_REG_CAP, true, &cap) == 0);
	CHECK(NVME_CAP_MQES(cap) == 1023);
	CHECK(cap & NVME_CAP_CSS_NVM);
	CHECK(((cap >> NVME_CAP_TO_SHIFT) & 0xff) > 0);
	CHECK(prop_get(h.admin, NVME_REG_VS, false, &vs) == 0);
	CHECK(vs == NVME_VS(1, 3, 0));
	CHECK(prop_get(h.admin, NVME_REG_CSTS, false, &csts) == 0);
	CHECK(!(csts & NVME_CSTS_RDY));
	host_enable(&h);

	static struct nvme_id_ctrl idc;
	CHECK(identify(h.admin, NVME_CNS_CONTROLLER, 0, &idc) == 0);
	CHECK(idc.cntlid == h.cntlid);
	CHECK(strcmp(idc.subnqn, TEST_NQN) == 0);
	CHECK(idc.sn[0] != ' ' && idc.sn[0] != 0);
	CHECK(idc.mn[0] != ' ' && idc.mn[0] != 0);
	CHECK(idc.mdts == 5);
	CHECK(idc.cntrltype == NVME_CTRL_TYPE_IO);
	CHECK(idc.ioccsz == (64 + 8192) / 16);
	CHECK(idc.iorcsz == 1);
	CHECK(idc.sqes == 0x66 && idc.cqes == 0x44);
	CHECK(idc.nn >= 1);
	CHECK(idc.oncs & NVME_CTRL_ONCS_WRITE_ZEROES);
	CHECK(idc.fuses & NVME_CTRL_FUSES_COMPARE_AND_WRITE);
	CHECK(idc.sgls & NVME_CTRL_SGLS_SUPPORTED);

	struct nvme_completion c;
	struct nvme_command sf = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = 0x00010001};
	CHECK(exec(h.admin, &sf, NULL, 0, false, &c) == 0);
	CHECK(c.cdw0 == 0x00010001);
	struct nvme_command gf = {.opc = NVME_OPC_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES};
	CHECK(exec(h.admin, &gf, NULL, 0, false, &c) == 0);
	CHECK(c.cdw0 == 0x00010001);
	gf.cdw10 = NVME_FEAT_VOLATILE_WC;
	CHECK(exec(h.admin, &gf, NULL, 0, false, &c) == 0);
	gf.cdw10 = NVME_FEAT_ARBITRATION;
	CHECK_STATUS(exec(h.admin, &gf, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);

	static struct nvme_id_ns idn;
	CHECK(identify(h.admin, NVME_CNS_NAMESPACE, 1, &idn) == 0);
	CHECK(idn.nsze == NS_BLOCKS && idn.ncap == NS_BLOCKS);
	CHECK(idn.lbaf[idn.flbas & 0xf].lbads == 9);
	static uint32_t list[1024];
	CHECK(identify(h.admin, NVME_CNS_ACTIVE_NS_LIST, 0, list) == 0);
	CHECK(list[0] == 1 && list[1] == 0);
	static uint8_t descs[4096];
	CHECK(identify(h.admin, NVME_CNS_NS_ID_DESCRIPTORS, 1, descs) == 0);
	CHECK(descs[0] == NVME_NIDT_EUI64 && descs[1] == 8);
	CHECK(descs[12] == NVME_NIDT_NGUID && descs[13] == 16);
	CHECK(memcmp(descs + 16, idn.nguid, 16) == 0);
	/* Command set specific identify is not offered. */
	CHECK_STATUS(identify(h.admin, NVME_CNS_CSI_CONTROLLER, 0, descs), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);

	CHECK(host_connect_io(&h, 1, h.cntlid, 128, &h.io, NULL) == 0);
	nvmf_association_set_ioccsz(h.na, 8192);
	struct nvmf_qpair *io2 = NULL; /* on the other reactor: one association spans reactors */
	CHECK(host_connect_io(&h, 2, h.cntlid, 64, &io2, NULL) == 0);
	static uint8_t one[512];
	CHECK(rw(io2, NVME_OPC_READ, 1, 0, 1, one, sizeof(one), 0) == 0);

	round_trip(&h, 0, 1, 1);
	round_trip(&h, 100, 8, 2);        /* in-capsule */
	round_trip(&h, NS_BLOCKS - 256, 256, 3); /* R2T, 128 KiB = MDTS */
	uint8_t *buf = malloc(65536), *zero = calloc(1, 65536);
	CHECK(buf && zero);
	fill_pattern(buf, 4096, 9);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 200, 8, buf, 4096, NVME_RW_FUA) == 0);
	struct nvme_command flush = {.opc = NVME_OPC_FLUSH, .nsid = 1};
	CHECK(exec(h.io, &flush, NULL, 0, false, NULL) == 0);
	/* Compare: equal, then different. */
	CHECK(rw(h.io, NVME_OPC_COMPARE, 1, 200, 8, buf, 4096, 0) == 0);
	buf[7] ^= 1;
	CHECK_STATUS(rw(h.io, NVME_OPC_COMPARE, 1, 200, 8, buf, 4096, 0), NVME_SCT_MEDIA_ERROR,
		     NVME_SC_COMPARE_FAILURE);
	CHECK(rw(h.io, NVME_OPC_VERIFY, 1, 200, 8, NULL, 0, 0) == 0);
	/* Write Zeroes, then read zeros. */
	CHECK(rw(h.io, NVME_OPC_WRITE_ZEROES, 1, 200, 8, NULL, 0, 0) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 200, 8, buf, 4096, 0) == 0);
	CHECK(memcmp(buf, zero, 4096) == 0);
	/* Dataset Management deallocate of two ranges. */
	struct nvme_dsm_range ranges[2] = {{.nlb = 8, .slba = 0}, {.nlb = 8, .slba = 100}};
	struct nvme_command dsm = {.opc = NVME_OPC_DATASET_MANAGEMENT, .nsid = 1, .cdw10 = 1,
				   .cdw11 = NVME_DSM_ATTR_DEALLOCATE};
	CHECK(exec(h.io, &dsm, ranges, sizeof(ranges), true, NULL) == 0);

	/* SMART: host commands and data units are counted. */
	static struct nvme_smart_log smart;
	CHECK(get_log(h.admin, NVME_LOG_SMART, 0, &smart, sizeof(smart)) == 0);
	uint64_t host_reads, host_writes, units_written;
	memcpy(&host_reads, smart.host_reads, 8);
	memcpy(&host_writes, smart.host_writes, 8);
	memcpy(&units_written, smart.data_units_written, 8);
	CHECK(host_reads >= 4 && host_writes >= 4);
	CHECK(units_written == 1); /* 1 + 8 + 256 + 8 blocks of 512 = 273: one unit of 1000 */
	/* Log page window: the second half of the SMART log alone. */
	static uint8_t half[256];
	CHECK(get_log(h.admin, NVME_LOG_SMART, 256, half, sizeof(half)) == 0);
	CHECK(memcmp(half, (uint8_t *)&smart + 256, 256) == 0);
	static struct nvme_fw_slot_log fw;
	CHECK(get_log(h.admin, NVME_LOG_FW_SLOT, 0, &fw, sizeof(fw)) == 0);
	CHECK(fw.afi == 1 && fw.frs[0][0] != 0);
	static struct nvme_cmd_effects_log effects;
	CHECK(get_log(h.admin, NVME_LOG_CMD_EFFECTS, 0, &effects, sizeof(effects)) == 0);
	CHECK(effects.iocs[NVME_OPC_WRITE] & NVME_CMD_EFFECTS_LBCC);
	static uint8_t errlog[64];
	CHECK(get_log(h.admin, NVME_LOG_ERROR, 0, errlog, sizeof(errlog)) == 0);
	CHECK_STATUS(get_log(h.admin, 0x7f, 0, errlog, sizeof(errlog)), NVME_SCT_COMMAND_SPECIFIC,
		     NVME_SC_INVALID_LOG_PAGE);

	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	CHECK(exec(h.admin, &ka, NULL, 0, false, NULL) == 0);
	struct nvme_command abort_cmd = {.opc = NVME_OPC_ABORT, .cdw10 = 1 << 16 | 5};
	CHECK(exec(h.admin, &abort_cmd, NULL, 0, false, &c) == 0);
	CHECK(c.cdw0 & NVME_ABORT_NOT_ABORTED);

	/* Shutdown notification: SHST reads complete. */
	uint64_t cc = 0;
	CHECK(prop_get(h.admin, NVME_REG_CC, false, &cc) == 0);
	CHECK(prop_set(h.admin, NVME_REG_CC, false, cc | (1u << NVME_CC_SHN_SHIFT)) == 0);
	CHECK(prop_get(h.admin, NVME_REG_CSTS, false, &csts) == 0);
	CHECK((csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_COMPLETE);
	free(buf);
	free(zero);
	nvmf_qpair_free(io2);
	host_close(&h);
}

static void case_discovery(const char *port)
{
	struct host h = {0};
	CHECK(host_connect_admin(&h, port, NVME_DISCOVERY_NQN, TEST_HOSTNQN, 0, 32, NULL) == 0);
	host_enable(&h);
	static struct nvme_id_ctrl idc;
	CHECK(identify(h.admin, NVME_CNS_CONTROLLER, 0, &idc) == 0);
	CHECK(idc.cntrltype == NVME_CTRL_TYPE_DISCOVERY);
	CHECK(strcmp(idc.subnqn, NVME_DISCOVERY_NQN) == 0);

	static uint8_t log[16 * 1024];
	struct nvmf_discovery_log_header *hdr = (void *)log;
	CHECK(get_log(h.admin, NVME_LOG_DISCOVERY, 0, log, 1024) == 0);
	uint64_t genctr = hdr->genctr;
	/* The restricted subsystem is hidden from this host: discovery + test. */
	CHECK(hdr->numrec == 2);
	CHECK(get_log(h.admin, NVME_LOG_DISCOVERY, 0, log, 3 * 1024) == 0);
	CHECK(hdr->genctr == genctr);
	struct nvmf_discovery_log_entry *e = (void *)(log + 1024);
	bool saw_current = false, saw_test = false;
	for (int i = 0; i < 2; i++) {
		CHECK(e[i].trtype == NVMF_TRTYPE_TCP && e[i].adrfam == NVMF_ADRFAM_IPV4);
		CHECK(strcmp(e[i].traddr, "127.0.0.1") == 0 && strcmp(e[i].trsvcid, port) == 0);
		saw_current |= e[i].subtype == NVMF_SUBTYPE_DISCOVERY_CURRENT &&
			       strcmp(e[i].subnqn, NVME_DISCOVERY_NQN) == 0;
		saw_test |= e[i].subtype == NVMF_SUBTYPE_NVME && strcmp(e[i].subnqn, TEST_NQN) == 0;
	}
	CHECK(saw_current && saw_test);
	/* An offset into the log. */
	static uint8_t second[1024];
	CHECK(get_log(h.admin, NVME_LOG_DISCOVERY, 2048, second, sizeof(second)) == 0);
	CHECK(memcmp(second, &e[1], 1024) == 0);
	/* The allowed host sees the restricted subsystem too. */
	host_close(&h);
	CHECK(host_connect_admin(&h, port, NVME_DISCOVERY_NQN, TEST_ALLOWED_HOSTNQN, 0, 32, NULL) == 0);
	host_enable(&h);
	CHECK(get_log(h.admin, NVME_LOG_DISCOVERY, 0, log, 1024) == 0);
	CHECK(hdr->numrec == 3);
	/* A discovery controller has no I/O queues or namespaces. */
	CHECK_STATUS(identify(h.admin, NVME_CNS_NAMESPACE, 1, log), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	host_close(&h);
}

/* ---- Bad input, each with its exact status ---- */

static uint32_t connect_error(const char *port, const char *subnqn, const char *hostnqn, uint16_t qsize,
			      uint16_t *status)
{
	struct host h = {0};
	struct nvme_completion c;
	int rc = host_connect_admin(&h, port, subnqn, hostnqn, 0, qsize, &c);
	CHECK(rc > 0);
	*status = (uint16_t)rc;
	host_close(&h);
	return c.cdw0;
}

static void case_errors(const char *port)
{
	uint16_t st;
	uint32_t dw0;

	/* Connect to an unknown subsystem: invalid parameters, IATTR=1, IPO = subnqn. */
	dw0 = connect_error(port, "nqn.2024-01.io.nvmf:nope", TEST_HOSTNQN, 32, &st);
	CHECK_STATUS(st, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	CHECK(dw0 == (1u << 16 | 256));
	/* From a host that is not allowed. */
	dw0 = connect_error(port, TEST_NQN_RESTRICTED, TEST_HOSTNQN, 32, &st);
	CHECK_STATUS(st, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST);
	/* Queue size over MQES + 1: IPO = SQSIZE in the SQE (byte 44). */
	dw0 = connect_error(port, TEST_NQN, TEST_HOSTNQN, 1025, &st);
	CHECK_STATUS(st, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	CHECK(dw0 == 44);

	/* The allowed host gets in. */
	struct host allowed = {0};
	CHECK(host_connect_admin(&allowed, port, TEST_NQN_RESTRICTED, TEST_ALLOWED_HOSTNQN, 0, 32, NULL) == 0);

	/* A command before Connect: Command Sequence Error. */
	struct nvmf_association_params p = {.sq_flow_control = true};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &p);
	CHECK(na);
	struct nvmf_qpair_params qpp = {.admin = true, .qid = 0, .qsize = 32, .fd = tcp_connect(port)};
	struct nvmf_qpair *raw = nvmf_qpair_create(na, &qpp);
	CHECK(raw);
	uint64_t v;
	CHECK_STATUS(prop_get(raw, NVME_REG_CAP, true, &v), NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR);
	struct nvme_command kacmd = {.opc = NVME_OPC_KEEP_ALIVE};
	CHECK_STATUS(exec(raw, &kacmd, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR);
	static uint8_t idbuf[4096];
	struct nvme_command idcmd = {.opc = NVME_OPC_IDENTIFY, .cdw10 = NVME_CNS_CONTROLLER};
	CHECK_STATUS(exec(raw, &idcmd, idbuf, sizeof(idbuf), false, NULL), NVME_SCT_GENERIC,
		     NVME_SC_COMMAND_SEQUENCE_ERROR);
	nvmf_qpair_free(raw);
	nvmf_association_free(na);

	/* A peer that connects and never speaks does not hold anyone up. */
	int stalled = tcp_connect(port);

	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);

	/* I/O Connect naming a controller ID that is not ours: IPO = cntlid in the data. */
	struct nvmf_qpair *qp = NULL;
	struct nvme_completion c;
	int rc = host_connect_io(&h, 2, (uint16_t)(h.cntlid + 100), 32, &qp, &c);
	CHECK(rc > 0);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	CHECK(c.cdw0 == (1u << 16 | 16));
	/* ... or another host's controller in the same subsystem. */
	struct host other = {0};
	CHECK(host_connect_admin(&other, port, TEST_NQN, TEST_HOSTNQN2, 0, 32, NULL) == 0);
	host_enable(&other);
	CHECK(other.cntlid != h.cntlid);
	rc = host_connect_io(&h, 2, other.cntlid, 32, &qp, &c);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	host_close(&other);
	/* An I/O queue above the number granted (4). */
	rc = host_connect_io(&h, 9, h.cntlid, 32, &qp, &c);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	/* The same queue ID twice. */
	rc = host_connect_io(&h, 1, h.cntlid, 32, &qp, &c);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	/* I/O queue size over MQES. */
	rc = host_connect_io(&h, 2, h.cntlid, 1025, &qp, &c);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	CHECK(c.cdw0 == 44);

	/* Unknown opcodes. */
	struct nvme_command bad = {.opc = 0x7e, .nsid = 1};
	CHECK_STATUS(exec(h.io, &bad, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	bad.opc = 0x3e;
	CHECK_STATUS(exec(h.admin, &bad, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	/* Admin queue management commands do not exist on fabrics. */
	bad.opc = NVME_OPC_CREATE_IO_SQ;
	CHECK_STATUS(exec(h.admin, &bad, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);

	uint8_t *buf = malloc(256 * 1024);
	CHECK(buf);
	/* NSID 0, an inactive NSID, the broadcast NSID. */
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 0, 0, 1, buf, 512, 0), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 5, 0, 1, buf, 512, 0), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	CHECK_STATUS(rw(h.io, NVME_OPC_WRITE, NVME_NSID_ALL, 0, 1, buf, 512, 0), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	CHECK_STATUS(identify(h.admin, NVME_CNS_NAMESPACE, 0, buf), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	CHECK_STATUS(identify(h.admin, NVME_CNS_NS_ID_DESCRIPTORS, 5, buf), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	/* An inactive NSID below NN identifies as zeros. */
	CHECK(identify(h.admin, NVME_CNS_NAMESPACE, 5, buf) == 0);
	CHECK(((struct nvme_id_ns *)buf)->nsze == 0);
	/* LBA range past the end. */
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 1, NS_BLOCKS - 1, 2, buf, 1024, 0), NVME_SCT_GENERIC,
		     NVME_SC_LBA_OUT_OF_RANGE);
	CHECK_STATUS(rw(h.io, NVME_OPC_WRITE, 1, NS_BLOCKS, 1, buf, 512, 0), NVME_SCT_GENERIC,
		     NVME_SC_LBA_OUT_OF_RANGE);
	CHECK_STATUS(rw(h.io, NVME_OPC_WRITE_ZEROES, 1, NS_BLOCKS - 4, 8, NULL, 0, 0), NVME_SCT_GENERIC,
		     NVME_SC_LBA_OUT_OF_RANGE);
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 1, ~0ull - 1, 4, buf, 2048, 0), NVME_SCT_GENERIC,
		     NVME_SC_LBA_OUT_OF_RANGE);
	/* Over MDTS (128 KiB): 132 KiB. */
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 1, 0, 264, buf, 264 * 512, 0), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	CHECK_STATUS(rw(h.io, NVME_OPC_WRITE, 1, 0, 264, buf, 264 * 512, 0), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	/* Data shorter than NLB says. */
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 1, 0, 8, buf, 512, 0), NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID);
	/* Read-only registers and unknown ones. */
	CHECK_STATUS(prop_set(h.admin, NVME_REG_CAP, true, 0), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	CHECK_STATUS(prop_set(h.admin, NVME_REG_VS, false, 0), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	CHECK_STATUS(prop_set(h.admin, NVME_REG_CSTS, false, 0), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	CHECK_STATUS(prop_get(h.admin, 0x40, false, &v), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	/* Properties on an I/O queue. */
	CHECK_STATUS(prop_get(h.io, NVME_REG_CAP, true, &v), NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_INVALID_QUEUE_TYPE);
	/* Saving features is not supported. */
	struct nvme_command sf = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC | 1u << 31, .cdw11 = 1};
	CHECK_STATUS(exec(h.admin, &sf, NULL, 0, false, NULL), NVME_SCT_COMMAND_SPECIFIC,
		     NVME_SC_FEATURE_NOT_SAVEABLE);
	/* A log page offset past its end. */
	CHECK_STATUS(get_log(h.admin, NVME_LOG_SMART, 1024, buf, 64), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);

	/* Through all that, both hosts keep being served. */
	round_trip(&h, 10, 16, 7);
	/* I/O Connect before the controller is enabled. */
	rc = host_connect_io(&allowed, 1, allowed.cntlid, 32, &allowed.io, NULL);
	CHECK_STATUS(rc, NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR);
	host_enable(&allowed);
	CHECK(host_connect_io(&allowed, 1, allowed.cntlid, 32, &allowed.io, NULL) == 0);
	uint8_t *r = malloc(4096);
	fill_pattern(buf, 4096, 11);
	CHECK(rw(allowed.io, NVME_OPC_WRITE, 1, 0, 8, buf, 4096, 0) == 0);
	CHECK(rw(allowed.io, NVME_OPC_READ, 1, 0, 8, r, 4096, 0) == 0);
	CHECK(memcmp(buf, r, 4096) == 0);
	round_trip(&h, 20, 16, 8);
	free(r);
	free(buf);
	host_close(&allowed);
	host_close(&h);
	close(stalled);
}

/* SQ flow control disabled: reads may end with a C2HData SUCCESS and no response capsule. */
static void case_nosqfc(const char *port)
{
	host_sq_flow_control = false;
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	for (unsigned i = 0; i < 32; i++)
		round_trip(&h, i * 64, 1 + i * 7, i);
	static struct nvme_id_ctrl idc;
	CHECK(identify(h.admin, NVME_CNS_CONTROLLER, 0, &idc) == 0);
	CHECK(idc.cntlid == h.cntlid);
	host_close(&h);
}

/* ---- SGL descriptors, over a hand-made NVMe/TCP connection ---- */

/* Send a command capsule with icd_len bytes of in-capsule data; return the response status. */
static uint16_t raw_command(int fd, const struct nvme_command *sqe, const void *icd, uint32_t icd_len,
			    struct nvme_completion *out)
{
	raw_send_capsule(fd, sqe, icd, icd_len);
	struct nvme_completion c = raw_read_response(fd);
	if (out)
		*out = c;
	return c.status & 0xfffe;
}

static void case_sgl(const char *port)
{
	int fd = tcp_connect(port);
	struct nvme_tcp_icreq icreq = {.ch = {.pdu_type = NVME_TCP_PDU_ICREQ, .hlen = 128, .plen = 128}};
	raw_write(fd, &icreq, sizeof(icreq));
	struct nvme_tcp_icresp icresp;
	raw_read(fd, &icresp, sizeof(icresp));
	CHECK(icresp.ch.pdu_type == NVME_TCP_PDU_ICRESP);

	struct nvmf_connect_command cc = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.fctype = NVMF_FCTYPE_CONNECT,
		.sgl = {.length = 1024, .type = NVME_SGL_INCAPSULE},
		.qid = 0,
		.sqsize = 31,
	};
	struct nvmf_connect_data data = {.cntlid = NVMF_CNTLID_DYNAMIC};
	strcpy(data.subnqn, TEST_NQN);
	strcpy(data.hostnqn, TEST_HOSTNQN);
	struct nvme_command sqe;
	memcpy(&sqe, &cc, sizeof(sqe));
	struct nvme_completion c;
	CHECK(raw_command(fd, &sqe, &data, sizeof(data), &c) == 0);

	struct nvmf_property_set_command ps = {.opc = NVME_OPC_FABRICS,
					       .flags = NVME_CMD_PSDT_SGL,
					       .fctype = NVMF_FCTYPE_PROPERTY_SET,
					       .offset = NVME_REG_CC,
					       .value = NVME_CC_EN};
	memcpy(&sqe, &ps, sizeof(sqe));
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	CHECK(raw_command(fd, &sqe, NULL, 0, NULL) == 0);

	/* A good Identify first. */
	struct nvme_command id = {.opc = NVME_OPC_IDENTIFY, .flags = NVME_CMD_PSDT_SGL, .cdw10 = NVME_CNS_CONTROLLER};
	id.dptr.sgl.type = NVME_SGL_TRANSPORT;
	id.dptr.sgl.length = 4096;
	CHECK(raw_command(fd, &id, NULL, 0, NULL) == 0);
	/* Keyed data block: not for TCP. */
	id.dptr.sgl.type = NVME_SGL_TYPE(NVME_SGL_TYPE_KEYED_DATA_BLOCK, 0);
	CHECK_STATUS(raw_command(fd, &id, NULL, 0, NULL), NVME_SCT_GENERIC, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	/* Segment descriptors are not supported either. */
	id.dptr.sgl.type = NVME_SGL_TYPE(NVME_SGL_TYPE_LAST_SEGMENT, NVME_SGL_SUBTYPE_ADDRESS);
	CHECK_STATUS(raw_command(fd, &id, NULL, 0, NULL), NVME_SCT_GENERIC, NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	/* In-capsule length that disagrees with the data carried. */
	static uint8_t junk[512];
	id.dptr.sgl.type = NVME_SGL_INCAPSULE;
	id.dptr.sgl.length = 1024;
	CHECK_STATUS(raw_command(fd, &id, junk, sizeof(junk), NULL), NVME_SCT_GENERIC,
		     NVME_SC_DATA_SGL_LENGTH_INVALID);
	/* A transport SGL shorter than the log page asked for. */
	struct nvme_command gl = {.opc = NVME_OPC_GET_LOG_PAGE, .flags = NVME_CMD_PSDT_SGL,
				  .cdw10 = NVME_LOG_SMART | (511u / 4) << 16};
	gl.dptr.sgl.type = NVME_SGL_TRANSPORT;
	gl.dptr.sgl.length = 100;
	CHECK_STATUS(raw_command(fd, &gl, NULL, 0, NULL), NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID);
	/* PRPs are not for fabrics. */
	id.flags = 0;
	id.dptr.sgl.type = NVME_SGL_TRANSPORT;
	id.dptr.sgl.length = 4096;
	CHECK_STATUS(raw_command(fd, &id, NULL, 0, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	/* Still served. */
	id.flags = NVME_CMD_PSDT_SGL;
	CHECK(raw_command(fd, &id, NULL, 0, NULL) == 0);
	close(fd);
}

/* ---- Keep alive ---- */

static void case_keepalive(const char *port)
{
	struct host h = {0};
	CHECK(host_connect_admin(&h, port, TEST_NQN, TEST_HOSTNQN, 500, 32, NULL) == 0);
	host_enable(&h);
	struct nvmf_qpair *io = NULL;
	CHECK(host_connect_io(&h, 1, h.cntlid, 32, &io, NULL) == 0);
	uint16_t first_cntlid = h.cntlid;
	/* Keep alives every 150 ms hold the association for well over KATO. */
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	for (int i = 0; i < 10; i++) {
		CHECK(exec(h.admin, &ka, NULL, 0, false, NULL) == 0);
		sleep_ms(150);
	}
	/* So does I/O alone. */
	uint8_t buf[512];
	for (int i = 0; i < 8; i++) {
		CHECK(rw(io, NVME_OPC_READ, 1, 0, 1, buf, sizeof(buf), 0) == 0);
		sleep_ms(150);
	}
	/* Silence for more than KATO: both queues get closed. */
	sleep_ms(1500);
	struct nvme_completion c;
	CHECK(nvmf_host_execute(h.admin, &ka, NULL, 0, false, &c, 2000) < 0);
	CHECK(nvmf_host_execute(io, &ka, NULL, 0, false, &c, 2000) < 0);
	nvmf_qpair_free(io);
	/* The old controller ID is gone: an I/O queue naming it is refused. */
	struct host h2 = {0};
	CHECK(host_connect_admin(&h2, port, TEST_NQN, TEST_HOSTNQN2, 0, 32, NULL) == 0);
	host_enable(&h2);
	h2.hostnqn = TEST_HOSTNQN;
	memcpy(h2.hostid, h.hostid, 16);
	int rc = host_connect_io(&h2, 1, first_cntlid, 32, &io, &c);
	CHECK_STATUS(rc, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	host_close(&h2);
	host_close(&h);
}

/* ---- Fused Compare and Write, controller reset ---- */

struct done {
	bool done;
	int error;
	struct nvme_completion cqe;
};

static void on_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct done *d = arg;
	(void)nc;
	d->done = true;
	d->error = error;
	if (cqe)
		d->cqe = *cqe;
}

/* Compare and Write of len bytes in 512-byte blocks at slba. */
static void fused_pair_len(struct nvmf_qpair *qp, uint64_t slba, void *expect, void *newdata, uint32_t len,
			   struct done d[2])
{
	struct nvme_command cmp = {.opc = NVME_OPC_COMPARE, .flags = NVME_CMD_FUSE_FIRST, .nsid = 1,
				   .cdw10 = (uint32_t)slba, .cdw12 = len / 512 - 1};
	struct nvme_command wr = cmp;
	wr.opc = NVME_OPC_WRITE;
	wr.flags = NVME_CMD_FUSE_SECOND;
	struct nvmf_capsule *a = nvmf_capsule_alloc_command(qp, &cmp);
	struct nvmf_capsule *b = nvmf_capsule_alloc_command(qp, &wr);
	CHECK(a && b);
	memset(d, 0, 2 * sizeof(*d));
	CHECK(nvmf_capsule_append_data(a, expect, len, true) == 0);
	CHECK(nvmf_capsule_append_data(b, newdata, len, true) == 0);
	nvmf_capsule_set_done(a, on_done, &d[0]);
	nvmf_capsule_set_done(b, on_done, &d[1]);
	CHECK(nvmf_capsule_transmit(a) == 0);
	CHECK(nvmf_capsule_transmit(b) == 0);
	for (int i = 0; i < 500 && !(d[0].done && d[1].done); i++) {
		CHECK(nvmf_qpair_process(qp) >= 0);
		struct pollfd pfd = {.fd = nvmf_qpair_fd(qp), .events = POLLIN};
		poll(&pfd, 1, 10);
	}
	CHECK(d[0].done && d[1].done && !d[0].error && !d[1].error);
	nvmf_capsule_free(a);
	nvmf_capsule_free(b);
}

static void fused_pair(struct nvmf_qpair *qp, uint64_t slba, void *expect, void *newdata, struct done d[2])
{
	fused_pair_len(qp, slba, expect, newdata, 4096, d);
}

static void case_fused(const char *port)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	uint8_t *old = malloc(4096), *new1 = malloc(4096), *r = malloc(4096);
	fill_pattern(old, 4096, 21);
	fill_pattern(new1, 4096, 22);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 300, 8, old, 4096, 0) == 0);
	struct done d[2];
	/* Matching: the write happens. */
	fused_pair(h.io, 300, old, new1, d);
	CHECK((d[0].cqe.status & 0xfffe) == 0 && (d[1].cqe.status & 0xfffe) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 300, 8, r, 4096, 0) == 0);
	CHECK(memcmp(r, new1, 4096) == 0);
	/* Not matching any more: compare failure, write aborted, data unchanged. */
	fused_pair(h.io, 300, old, old, d);
	CHECK_STATUS(d[0].cqe.status & 0xfffe, NVME_SCT_MEDIA_ERROR, NVME_SC_COMPARE_FAILURE);
	CHECK_STATUS(d[1].cqe.status & 0xfffe, NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 300, 8, r, 4096, 0) == 0);
	CHECK(memcmp(r, new1, 4096) == 0);
	/* A second half without a first. */
	struct nvme_command lone = {.opc = NVME_OPC_WRITE, .flags = NVME_CMD_FUSE_SECOND, .nsid = 1, .cdw12 = 7};
	CHECK_STATUS(exec(h.io, &lone, r, 4096, true, NULL), NVME_SCT_GENERIC, NVME_SC_ABORTED_MISSING_FUSED);
	free(old);
	free(new1);
	free(r);
	host_close(&h);
}


/* Two queues on two reactors race Compare and Write increments of one block. */
struct cas_worker {
	const char *port;
	struct host *h;
	uint16_t qid;
	unsigned successes;
};

static void *cas_worker_main(void *arg)
{
	struct cas_worker *w = arg;
	struct nvmf_qpair *qp = NULL;
	/* An association per thread: the transport's reference counts are per thread. */
	struct host local = *w->h;
	struct nvmf_association_params p = {.sq_flow_control = true};
	local.na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &p);
	CHECK(local.na);
	CHECK(host_connect_io(&local, w->qid, w->h->cntlid, 32, &qp, NULL) == 0);
	nvmf_association_free(local.na);
	uint8_t *cur = calloc(1, 4096), *next = calloc(1, 4096);
	CHECK(cur && next);
	for (int i = 0; i < 300; i++) {
		CHECK(rw(qp, NVME_OPC_READ, 1, 500, 8, cur, 4096, 0) == 0);
		uint64_t v;
		memcpy(&v, cur, 8);
		v++;
		memcpy(next, cur, 4096);
		memcpy(next, &v, 8);
		struct done d[2];
		fused_pair(qp, 500, cur, next, d);
		if ((d[0].cqe.status & 0xfffe) == 0) {
			CHECK((d[1].cqe.status & 0xfffe) == 0);
			w->successes++;
		} else {
			CHECK_STATUS(d[0].cqe.status & 0xfffe, NVME_SCT_MEDIA_ERROR, NVME_SC_COMPARE_FAILURE);
		}
	}
	free(cur);
	free(next);
	nvmf_qpair_free(qp);
	return NULL;
}

static void case_cas_race(const char *port)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	uint8_t *zero = calloc(1, 4096);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 500, 8, zero, 4096, 0) == 0);
	struct cas_worker w[2] = {{port, &h, 2, 0}, {port, &h, 3, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, cas_worker_main, &w[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 500, 8, zero, 4096, 0) == 0);
	uint64_t v;
	memcpy(&v, zero, 8);
	fprintf(stderr, "compare-and-write: %u + %u successes, counter %llu\n", w[0].successes, w[1].successes,
		(unsigned long long)v);
	CHECK(v == w[0].successes + w[1].successes);
	CHECK(w[0].successes > 0 && w[1].successes > 0);
	free(zero);
	host_close(&h);
}

/*
 * The same race across two gateways of one shared namespace (tests/ceph: two
 * nvmfd on one RBD image, TEST_NQN): each worker is its own host on its own
 * gateway; the counter counts every success only if compare and write is
 * atomic across gateways.  One 512-byte block: librbd's compare and write
 * covers one sector.
 */
static void *cas_gateway_worker(void *arg)
{
	struct cas_worker *w = arg;
	struct host h;
	host_setup(&h, w->port, TEST_NQN, TEST_HOSTNQN);
	uint8_t *cur = calloc(1, 4096), *next = calloc(1, 4096);
	CHECK(cur && next);
	for (int i = 0; i < 200; i++) {
		CHECK(rw(h.io, NVME_OPC_READ, 1, 500, 1, cur, 512, 0) == 0);
		uint64_t v;
		memcpy(&v, cur, 8);
		v++;
		memcpy(next, cur, 512);
		memcpy(next, &v, 8);
		struct done d[2];
		fused_pair_len(h.io, 500, cur, next, 512, d);
		if ((d[0].cqe.status & 0xfffe) == 0) {
			CHECK((d[1].cqe.status & 0xfffe) == 0);
			w->successes++;
		} else {
			CHECK_STATUS(d[0].cqe.status & 0xfffe, NVME_SCT_MEDIA_ERROR, NVME_SC_COMPARE_FAILURE);
		}
	}
	free(cur);
	free(next);
	host_close(&h);
	return NULL;
}

static void case_cas_gateways(const char *port_a, const char *port_b)
{
	struct host h;
	host_setup(&h, port_a, TEST_NQN, TEST_HOSTNQN);
	uint8_t *buf = calloc(1, 512);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 500, 1, buf, 512, 0) == 0);
	struct cas_worker w[2] = {{port_a, NULL, 0, 0}, {port_b, NULL, 0, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, cas_gateway_worker, &w[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 500, 1, buf, 512, 0) == 0);
	uint64_t v;
	memcpy(&v, buf, 8);
	fprintf(stderr, "compare-and-write across gateways: %u + %u successes, counter %llu\n", w[0].successes,
		w[1].successes, (unsigned long long)v);
	CHECK(v == w[0].successes + w[1].successes);
	CHECK(w[0].successes > 0 && w[1].successes > 0);
	free(buf);
	host_close(&h);
}

static void case_reset(const char *port)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	uint8_t buf[512];
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, sizeof(buf), 0) == 0);
	/* CC.EN 1 -> 0: I/O queues are torn down, CSTS.RDY clears. */
	CHECK(prop_set(h.admin, NVME_REG_CC, false, 0) == 0);
	uint64_t csts = 1;
	CHECK(prop_get(h.admin, NVME_REG_CSTS, false, &csts) == 0);
	CHECK(!(csts & NVME_CSTS_RDY));
	struct nvme_completion c;
	struct nvme_command rd = {.opc = NVME_OPC_READ, .nsid = 1};
	int rc = 0;
	for (int i = 0; i < 50 && rc == 0; i++) {
		rc = nvmf_host_execute(h.io, &rd, buf, sizeof(buf), false, &c, 1000);
		if (rc == 0)
			sleep_ms(20);
	}
	CHECK(rc < 0);
	nvmf_qpair_free(h.io);
	h.io = NULL;
	/* Admin commands other than Fabrics wait for the controller to be enabled. */
	static uint8_t id[4096];
	CHECK_STATUS(identify(h.admin, NVME_CNS_CONTROLLER, 0, id), NVME_SCT_GENERIC, NVME_SC_COMMAND_SEQUENCE_ERROR);
	/* Enabled again, a new I/O queue works. */
	host_enable(&h);
	CHECK(host_connect_io(&h, 1, h.cntlid, 32, &h.io, NULL) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, sizeof(buf), 0) == 0);
	host_close(&h);
}


/* ---- Data digest error on write data: Transient Transport Error ---- */

/* ICReq/ICResp, then Connect with in-capsule data; returns the fd, *cntlid on success. */
static int raw_connect(const char *port, uint16_t qid, uint16_t *cntlid, bool ddgst)
{
	int fd = tcp_connect(port);
	struct nvme_tcp_icreq icreq = {.ch = {.pdu_type = NVME_TCP_PDU_ICREQ, .hlen = 128, .plen = 128},
				       .dgst = ddgst ? NVME_TCP_DGST_DDGST_ENABLE : 0};
	raw_write(fd, &icreq, sizeof(icreq));
	struct nvme_tcp_icresp icresp;
	raw_read(fd, &icresp, sizeof(icresp));
	CHECK(icresp.ch.pdu_type == NVME_TCP_PDU_ICRESP);
	CHECK(!ddgst || (icresp.dgst & NVME_TCP_DGST_DDGST_ENABLE));

	struct nvmf_connect_command cc = {
		.opc = NVME_OPC_FABRICS,
		.flags = NVME_CMD_PSDT_SGL,
		.fctype = NVMF_FCTYPE_CONNECT,
		.sgl = {.length = 1024, .type = NVME_SGL_INCAPSULE},
		.qid = qid,
		.sqsize = 31,
	};
	struct nvmf_connect_data data = {.cntlid = qid ? *cntlid : NVMF_CNTLID_DYNAMIC};
	strcpy(data.subnqn, TEST_NQN);
	strcpy(data.hostnqn, TEST_HOSTNQN);
	struct nvme_tcp_capsule_cmd cmd = {
		.ch = {.pdu_type = NVME_TCP_PDU_CAPSULE_CMD,
		       .flags = ddgst ? NVME_TCP_F_DDGST : 0,
		       .hlen = sizeof(cmd),
		       .pdo = sizeof(cmd),
		       .plen = (uint32_t)(sizeof(cmd) + sizeof(data) + (ddgst ? 4 : 0))},
	};
	memcpy(&cmd.sqe, &cc, sizeof(cmd.sqe));
	raw_write(fd, &cmd, sizeof(cmd));
	raw_write(fd, &data, sizeof(data));
	if (ddgst) {
		uint32_t d = nvmf_crc32c(&data, sizeof(data));
		raw_write(fd, &d, 4);
	}
	struct nvme_tcp_capsule_resp resp;
	raw_read(fd, &resp, sizeof(resp));
	CHECK(resp.ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP);
	CHECK((resp.cqe.status & 0xfffe) == 0);
	if (!qid)
		*cntlid = (uint16_t)resp.cqe.cdw0;
	return fd;
}

/* A 512-byte Write through R2T/H2CData whose data digest is right or wrong; returns the status. */
static uint16_t raw_write_h2c(int fd, uint16_t cid, const uint8_t data[512], bool good_digest)
{
	struct nvme_tcp_capsule_cmd cmd = {
		.ch = {.pdu_type = NVME_TCP_PDU_CAPSULE_CMD, .hlen = sizeof(cmd), .plen = sizeof(cmd)},
		.sqe = {.opc = NVME_OPC_WRITE, .flags = NVME_CMD_PSDT_SGL, .cid = cid, .nsid = 1, .cdw10 = 40},
	};
	cmd.sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	cmd.sqe.dptr.sgl.length = 512;
	raw_write(fd, &cmd, sizeof(cmd));
	struct nvme_tcp_r2t r2t;
	raw_read(fd, &r2t, sizeof(r2t));
	CHECK(r2t.ch.pdu_type == NVME_TCP_PDU_R2T && r2t.cccid == cid && r2t.r2tl == 512);
	struct nvme_tcp_data_pdu h2c = {
		.ch = {.pdu_type = NVME_TCP_PDU_H2C_DATA,
		       .flags = NVME_TCP_F_DATA_LAST | NVME_TCP_F_DDGST,
		       .hlen = sizeof(h2c),
		       .pdo = sizeof(h2c),
		       .plen = sizeof(h2c) + 512 + 4},
		.cccid = cid,
		.ttag = r2t.ttag,
		.datao = 0,
		.datal = 512,
	};
	uint32_t digest = nvmf_crc32c(data, 512) ^ (good_digest ? 0 : 0x5a5a5a5a);
	raw_write(fd, &h2c, sizeof(h2c));
	raw_write(fd, data, 512);
	raw_write(fd, &digest, 4);
	struct nvme_tcp_capsule_resp resp;
	raw_read(fd, &resp, sizeof(resp));
	CHECK(resp.ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP && resp.cqe.cid == cid);
	return resp.cqe.status & 0xfffe;
}

static void case_ddgst(const char *port)
{
	uint16_t cntlid = 0;
	int afd = raw_connect(port, 0, &cntlid, false);
	struct nvmf_property_set_command ps = {.opc = NVME_OPC_FABRICS,
					       .flags = NVME_CMD_PSDT_SGL,
					       .fctype = NVMF_FCTYPE_PROPERTY_SET,
					       .offset = NVME_REG_CC,
					       .value = NVME_CC_EN};
	struct nvme_command sqe;
	memcpy(&sqe, &ps, sizeof(sqe));
	sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	CHECK(raw_command(afd, &sqe, NULL, 0, NULL) == 0);
	int iofd = raw_connect(port, 1, &cntlid, true);
	uint8_t data[512];
	fill_pattern(data, sizeof(data), 77);
	CHECK_STATUS(raw_write_h2c(iofd, 7, data, false), NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT_ERROR);
	/* The queue survives and a good write goes through. */
	CHECK(raw_write_h2c(iofd, 8, data, true) == 0);
	close(iofd);
	close(afd);
}

/* ---- A null namespace's reads: zeros, among other PDUs ---- */

/*
 * Reads of a null namespace carry zeros over TCP.  Many at once (8 MiB in
 * flight fills the socket, so writes stop part way), mixed with reads of a
 * RAM namespace on the same queue, must each arrive whole and in place:
 * zeros where zeros belong, the pattern elsewhere, with correct data
 * digests when asked.
 */
static void null_zeros_round(const char *nvmfd, bool digests)
{
	static const char *const args[] = {"--subsystem", TEST_NQN, "--namespace", "ram:16M", "--namespace",
					   "null:64M", NULL};
	enum { NCMD = 64, MAXLEN = 128 * 1024 };
	static const uint32_t lens[] = {MAXLEN, 4096, 512, MAXLEN, 8192 + 512};
	struct target t;
	host_digests = digests;
	target_start(&t, nvmfd, args);
	struct host h;
	host_setup(&h, t.port, TEST_NQN, TEST_HOSTNQN);
	uint8_t *pattern = malloc(MAXLEN), *bufs = malloc((size_t)NCMD * MAXLEN);
	CHECK(pattern && bufs);
	fill_pattern(pattern, MAXLEN, 91);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 0, MAXLEN / 512, pattern, MAXLEN, 0) == 0);
	for (int round = 0; round < 2; round++) {
		memset(bufs, 0xa5, (size_t)NCMD * MAXLEN);
		struct nvmf_capsule *c[NCMD];
		struct done d[NCMD];
		memset(d, 0, sizeof(d));
		for (int i = 0; i < NCMD; i++) {
			/* Every third command reads the RAM namespace's pattern. */
			bool ram = i % 3 == 2;
			uint32_t len = ram ? MAXLEN : lens[i % 5];
			struct nvme_command rd = {.opc = NVME_OPC_READ, .nsid = ram ? 1 : 2, .cdw10 = ram ? 0 : (uint32_t)i * 256,
						  .cdw12 = len / 512 - 1};
			c[i] = nvmf_capsule_alloc_command(h.io, &rd);
			CHECK(c[i] && nvmf_capsule_append_data(c[i], bufs + (size_t)i * MAXLEN, len, false) == 0);
			nvmf_capsule_set_done(c[i], on_done, &d[i]);
			CHECK(nvmf_capsule_transmit(c[i]) == 0);
		}
		int left = NCMD;
		for (int spins = 0; left && spins < 3000; spins++) {
			CHECK(nvmf_qpair_process(h.io) >= 0);
			left = 0;
			for (int i = 0; i < NCMD; i++)
				left += !d[i].done;
			struct pollfd pfd = {.fd = nvmf_qpair_fd(h.io), .events = POLLIN};
			if (left)
				poll(&pfd, 1, 10);
		}
		CHECK(left == 0);
		for (int i = 0; i < NCMD; i++) {
			bool ram = i % 3 == 2;
			uint32_t len = ram ? MAXLEN : lens[i % 5];
			const uint8_t *b = bufs + (size_t)i * MAXLEN;
			CHECK(!d[i].error && (d[i].cqe.status & 0xfffe) == 0);
			bool data_ok = true, rest_ok = true;
			if (ram)
				data_ok = memcmp(b, pattern, MAXLEN) == 0;
			for (uint32_t k = 0; k < len && !ram; k++)
				data_ok = data_ok && b[k] == 0;
			/* Nothing past the command's data was touched. */
			for (uint32_t k = len; k < MAXLEN; k++)
				rest_ok = rest_ok && b[k] == 0xa5;
			CHECK(data_ok && rest_ok);
			nvmf_capsule_free(c[i]);
		}
	}
	free(pattern);
	free(bufs);
	host_close(&h);
	target_stop(&t);
	host_digests = false;
}

static void case_null_zeros(const char *nvmfd)
{
	null_zeros_round(nvmfd, false);
	null_zeros_round(nvmfd, true);
}

/* ---- Completions that arrive later ---- */

/*
 * A file namespace completes through io_uring after the pass that read the
 * command, so the reactor's output pass sends each answer (the other cases
 * here use RAM or null namespaces, answered inside that pass).  At queue depth 1 nothing
 * else is in flight: every write, read back and flush must come back, with
 * its data.
 */
static void case_file_qd1(const char *nvmfd)
{
	char path[] = "/tmp/nvmfd-file-ns-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 16 << 20) == 0);
	close(fd);
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", path, "--reactors", "1", NULL};
	struct target t;
	target_start(&t, nvmfd, args);
	struct host h;
	host_setup(&h, t.port, TEST_NQN, TEST_HOSTNQN);
	for (unsigned i = 0; i < 200; i++) {
		round_trip(&h, (uint64_t)(i * 37 % 4000) * 8, 8, 100 + i);
		if (i % 2 == 0) {
			struct nvme_command flush = {.opc = NVME_OPC_FLUSH, .nsid = 1};
			CHECK(exec(h.io, &flush, NULL, 0, false, NULL) == 0);
		}
	}
	host_close(&h);
	target_stop(&t);
	unlink(path);
}

/* ---- Identifiers survive a restart ---- */

static void case_stable_ids(const char *nvmfd)
{
	static struct nvme_id_ns idn[2];
	static uint8_t descs[2][4096];
	static struct nvme_id_ctrl idc[2];
	for (int run = 0; run < 2; run++) {
		struct target t;
		target_start(&t, nvmfd, target_args);
		struct host h;
		host_setup(&h, t.port, TEST_NQN, TEST_HOSTNQN);
		CHECK(identify(h.admin, NVME_CNS_NAMESPACE, 1, &idn[run]) == 0);
		CHECK(identify(h.admin, NVME_CNS_NS_ID_DESCRIPTORS, 1, descs[run]) == 0);
		CHECK(identify(h.admin, NVME_CNS_CONTROLLER, 0, &idc[run]) == 0);
		host_close(&h);
		target_stop(&t);
	}
	static const uint8_t zero[16];
	CHECK(memcmp(idn[0].nguid, zero, 16) != 0 && memcmp(idn[0].eui64, zero, 8) != 0);
	CHECK(memcmp(idn[0].nguid, idn[1].nguid, 16) == 0);
	CHECK(memcmp(idn[0].eui64, idn[1].eui64, 8) == 0);
	CHECK(memcmp(descs[0], descs[1], 64) == 0); /* EUI-64, NGUID, UUID, CSI */
	CHECK(memcmp(idc[0].sn, idc[1].sn, sizeof(idc[0].sn)) == 0);
}

/* ---- nvmetcli JSON configuration ---- */

static const char config_json[] =
	"{\"hosts\": [{\"nqn\": \"" TEST_HOSTNQN "\"}],\n"
	" \"ports\": [{\"addr\": {\"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\", \"treq\": \"not specified\",\n"
	"                        \"trsvcid\": \"0\", \"trtype\": \"tcp\"},\n"
	"             \"portid\": 1, \"referrals\": [], \"subsystems\": [\"nqn.2024-01.io.nvmf:cfg-a\"]}],\n"
	" \"subsystems\": [\n"
	"  {\"nqn\": \"nqn.2024-01.io.nvmf:cfg-a\", \"allowed_hosts\": [\"" TEST_HOSTNQN "\"],\n"
	"   \"attr\": {\"allow_any_host\": \"0\", \"serial\": \"cfgserial42\", \"version\": \"1.3\"},\n"
	"   \"namespaces\": [{\"nsid\": 3, \"enable\": 1, \"device\": {\"path\": \"ram:8M\",\n"
	"       \"nguid\": \"00112233-4455-6677-8899-aabbccddeeff\", \"uuid\": \"01234567-89ab-cdef-0123-456789abcdef\"}},\n"
	"                    {\"nsid\": 4, \"enable\": 0, \"device\": {\"path\": \"ram:8M\"}}]},\n"
	"  {\"nqn\": \"nqn.2024-01.io.nvmf:cfg-b\", \"allowed_hosts\": [],\n"
	"   \"attr\": {\"allow_any_host\": \"1\"}, \"namespaces\": []}]}\n";

static void case_config(const char *nvmfd)
{
	char path[] = "/tmp/nvmfd-config-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, config_json, strlen(config_json)) == (ssize_t)strlen(config_json));
	close(fd);
	const char *args[] = {"--config", path, "--reactors", "1", NULL};
	struct target t;
	target_start(&t, nvmfd, args);
	unlink(path);

	struct host h;
	host_setup(&h, t.port, "nqn.2024-01.io.nvmf:cfg-a", TEST_HOSTNQN);
	static struct nvme_id_ctrl idc;
	CHECK(identify(h.admin, NVME_CNS_CONTROLLER, 0, &idc) == 0);
	CHECK(memcmp(idc.sn, "cfgserial42 ", 12) == 0);
	static uint32_t list[1024];
	CHECK(identify(h.admin, NVME_CNS_ACTIVE_NS_LIST, 0, list) == 0);
	CHECK(list[0] == 3 && list[1] == 0);
	static struct nvme_id_ns idn;
	CHECK(identify(h.admin, NVME_CNS_NAMESPACE, 3, &idn) == 0);
	static const uint8_t nguid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	CHECK(memcmp(idn.nguid, nguid, 16) == 0);
	CHECK(idn.nsze == 8 * 1024 * 1024 / 512);
	host_close(&h);

	/* Host not in allowed_hosts. */
	struct nvme_completion c;
	CHECK_STATUS(host_connect_admin(&h, t.port, "nqn.2024-01.io.nvmf:cfg-a", TEST_HOSTNQN2, 0, 32, &c),
		     NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST);
	host_close(&h);
	/* cfg-b exists but port 1 does not export it. */
	CHECK_STATUS(host_connect_admin(&h, t.port, "nqn.2024-01.io.nvmf:cfg-b", TEST_HOSTNQN, 0, 32, &c),
		     NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	host_close(&h);
	/* Port 1's discovery log: itself and cfg-a, then the command-line port's entries. */
	CHECK(host_connect_admin(&h, t.port, NVME_DISCOVERY_NQN, TEST_HOSTNQN, 0, 32, NULL) == 0);
	host_enable(&h);
	static uint8_t log[8 * 1024];
	CHECK(get_log(h.admin, NVME_LOG_DISCOVERY, 0, log, sizeof(log)) == 0);
	struct nvmf_discovery_log_header *hdr = (void *)log;
	struct nvmf_discovery_log_entry *e = (void *)(log + 1024);
	CHECK(hdr->numrec >= 2);
	CHECK(e[0].portid == 1 && e[0].subtype == NVMF_SUBTYPE_DISCOVERY_CURRENT);
	CHECK(e[1].portid == 1 && strcmp(e[1].subnqn, "nqn.2024-01.io.nvmf:cfg-a") == 0);
	CHECK(strcmp(e[1].trsvcid, t.port) == 0);
	host_close(&h);
	target_stop(&t);
}

/* ---- Reactors pinned to CPUs ---- */

/* The CPUs thread tid of pid may run on. */
static cpu_set_t thread_cpus(pid_t tid)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CHECK(sched_getaffinity(tid, sizeof(set), &set) == 0);
	return set;
}

/* --reactor-cpus: one reactor per CPU, in the order listed, each on its CPU alone; nvmfd's other threads
 * (and librbd's, which it starts) keep every CPU; bad lists refuse to start. */
static void case_reactor_cpus(const char *nvmfd)
{
	cpu_set_t allowed;
	CHECK(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
	int first = -1, last = -1, absent = -1;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &allowed)) {
			if (first < 0)
				first = c;
			last = c;
		} else if (absent < 0) {
			absent = c;
		}
	}
	CHECK(first >= 0 && absent >= 0);
	/* Listed last first: reactor 0 takes the first CPU of the list, not the lowest. */
	const int want[2] = {last, first};
	const int n = first == last ? 1 : 2;
	char list[32];
	if (n == 2)
		snprintf(list, sizeof(list), "%d,%d", last, first);
	else
		snprintf(list, sizeof(list), "%d", first);
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "ram:16M", "--reactor-cpus", list, NULL};
	struct target t;
	target_start(&t, nvmfd, args);

	struct target_thread th[64];
	int nth = target_threads(t.pid, th, 64);
	int reactors = 0, others = 0;
	for (int i = 0; i < nth; i++) {
		cpu_set_t got = thread_cpus(th[i].tid);
		unsigned index;
		if (sscanf(th[i].comm, "reactor%u", &index) == 1) {
			CHECK(index < (unsigned)n);
			CHECK(CPU_COUNT(&got) == 1 && CPU_ISSET(want[index], &got));
			reactors++;
		} else {
			CHECK(CPU_EQUAL(&got, &allowed));
			others++;
		}
	}
	CHECK(reactors == n && others >= 1);
	/* Connections land on each reactor in turn: two hosts cover both. */
	struct host h[2];
	for (int i = 0; i < 2; i++)
		host_setup(&h[i], t.port, TEST_NQN, TEST_HOSTNQN);
	for (int i = 0; i < 2; i++)
		round_trip(&h[i], (uint64_t)i * 64, 16, 40u + (unsigned)i);
	for (int i = 0; i < 2; i++)
		host_close(&h[i]);
	target_stop(&t);

	char absent_cpu[16], twice[32], reversed[32], count[16];
	snprintf(absent_cpu, sizeof(absent_cpu), "%d", absent);
	snprintf(twice, sizeof(twice), "%d,%d", first, first);
	snprintf(reversed, sizeof(reversed), "%d-%d", first + 1, first);
	snprintf(count, sizeof(count), "%d", n + 1);
	const char *bad[][5] = {
		{"--reactor-cpus", absent_cpu, NULL}, {"--reactor-cpus", twice, NULL},
		{"--reactor-cpus", reversed, NULL},   {"--reactor-cpus", "x", NULL},
		{"--reactor-cpus", "", NULL},	      {"--reactor-cpus", list, "--reactors", count, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		target_check_refused(nvmfd, bad[i]);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[2], "cas_gateways") == 0) {
		/* Gateways already running (tests/ceph): argv[1] is unused. */
		case_cas_gateways(argv[3], argv[4]);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s NVMFD CASE | %s - cas_gateways PORT_A PORT_B\n", argv[0], argv[0]);
		return 2;
	}
	static const struct {
		const char *name;
		void (*fn)(const char *port);
	} cases[] = {
		{"basic", case_basic},       {"discovery", case_discovery}, {"errors", case_errors},
		{"sgl", case_sgl},           {"keepalive", case_keepalive}, {"fused", case_fused},
		{"reset", case_reset},       {"ddgst", case_ddgst},         {"nosqfc", case_nosqfc},
		{"cas_race", case_cas_race},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, argv[2]) != 0)
			continue;
		struct target t;
		target_start(&t, argv[1], target_args);
		cases[i].fn(t.port);
		target_stop(&t);
		return 0;
	}
	if (strcmp(argv[2], "stable_ids") == 0) {
		case_stable_ids(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "config") == 0) {
		case_config(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "reactor_cpus") == 0) {
		case_reactor_cpus(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "file_qd1") == 0) {
		case_file_qd1(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "null_zeros") == 0) {
		case_null_zeros(argv[1]);
		return 0;
	}
	fprintf(stderr, "unknown case %s\n", argv[2]);
	return 2;
}
