/*
 * nvmfd's DH-HMAC-CHAP over real sockets, message by message: the Connect
 * response asks for authentication, commands before it get Authentication
 * Required, each bad message gets AUTH_Failure1 with the reason the spec
 * names, and a host without keys on the same subsystem is unharmed.
 * usage: test_auth_target NVMFD TEST
 */
#include <string.h>

#include <nvmf/auth_spec.h>

#include "auth/dhchap.h"
#include "target_util.h"

#define KEY_HOST "DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:"
#define KEY_CTRL "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:"
#define KEY_OTHER "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"

static struct target tgt;

static void start(const char *nvmfd)
{
	static const char *const args[] = {
		"--subsystem", TEST_NQN, "--namespace", "ram:16M", "--allow-host", TEST_HOSTNQN,
		"--dhchap-key", KEY_HOST, "--dhchap-ctrl-key", KEY_CTRL, "--dhchap-hash", "hmac(sha384),hmac(sha256)",
		"--dhchap-dhgroup", "ffdhe2048,null", "--allow-host", TEST_HOSTNQN2, NULL};
	target_start(&tgt, nvmfd, args);
}

static uint16_t auth_send(struct nvmf_qpair *qp, const void *msg, size_t len)
{
	struct nvme_command c = {0};
	struct nvmf_auth_command *ac = (void *)&c;
	ac->opc = NVME_OPC_FABRICS;
	ac->fctype = NVMF_FCTYPE_AUTH_SEND;
	ac->secp = NVMF_AUTH_SECP_DHCHAP;
	ac->spsp0 = ac->spsp1 = NVMF_AUTH_SPSP;
	ac->length = (uint32_t)len;
	return exec(qp, &c, (void *)msg, len, true, NULL);
}

static uint16_t auth_receive(struct nvmf_qpair *qp, void *buf, size_t len)
{
	struct nvme_command c = {0};
	struct nvmf_auth_command *ac = (void *)&c;
	ac->opc = NVME_OPC_FABRICS;
	ac->fctype = NVMF_FCTYPE_AUTH_RECEIVE;
	ac->secp = NVMF_AUTH_SECP_DHCHAP;
	ac->spsp0 = ac->spsp1 = NVMF_AUTH_SPSP;
	ac->length = (uint32_t)len;
	memset(buf, 0xee, len);
	return exec(qp, &c, buf, len, false, NULL);
}

static struct nvmf_dhchap_keys keys(const char *host, const char *ctrl, const char *hashes, const char *groups)
{
	struct nvmf_dhchap_keys k = {0};
	CHECK(nvmf_dhchap_secret_parse(host, &k.host) == 0);
	if (ctrl)
		CHECK(nvmf_dhchap_secret_parse(ctrl, &k.ctrl) == 0);
	if (hashes)
		CHECK(nvmf_dhchap_keys_set_hashes(&k, hashes));
	if (groups)
		CHECK(nvmf_dhchap_keys_set_dhgroups(&k, groups));
	return k;
}

/* A whole transaction on qp; tamper 1: the Reply carries another transaction ID.  Returns the host's event;
 * *failure1 the reason code explanation of an AUTH_Failure1 (0: none). */
static enum nvmf_dhchap_event transaction(struct nvmf_qpair *qp, const char *hostnqn,
					  const struct nvmf_dhchap_keys *k, int tamper, uint8_t *failure1)
{
	static uint8_t out[4096], in[4096];
	struct nvmf_dhchap_host *h = nvmf_dhchap_host_new(hostnqn, TEST_NQN, k);
	size_t n = nvmf_dhchap_host_negotiate(h, 0x1234, out, sizeof(out));
	enum nvmf_dhchap_event ev = NVMF_DHCHAP_PENDING;
	*failure1 = 0;
	for (;;) {
		CHECK(auth_send(qp, out, n) == 0);
		if (ev != NVMF_DHCHAP_PENDING)
			break;
		CHECK(auth_receive(qp, in, sizeof(in)) == 0);
		const struct nvmf_auth_failure_msg *f = (const void *)in;
		if (f->auth_id == NVMF_AUTH_MSG_FAILURE1) {
			CHECK(f->auth_type == NVMF_AUTH_COMMON_MESSAGES && f->rescode == NVMF_AUTH_RC_FAILED);
			*failure1 = f->rescode_exp;
		}
		ev = nvmf_dhchap_host_step(h, in, sizeof(in), out, sizeof(out), &n);
		if (n == 0)
			break;
		if (tamper == 1 && ((struct nvmf_auth_reply *)out)->auth_id == NVMF_AUTH_MSG_REPLY) {
			((struct nvmf_auth_reply *)out)->t_id ^= 1;
			CHECK(auth_send(qp, out, n) == 0);
			CHECK(auth_receive(qp, in, sizeof(in)) == 0);
			*failure1 = ((struct nvmf_auth_failure_msg *)in)->rescode_exp;
			ev = NVMF_DHCHAP_FAILED;
			break;
		}
	}
	nvmf_dhchap_host_free(h);
	return ev;
}

static void expect_auth_required(struct host *h)
{
	uint64_t cap;
	CHECK_STATUS(prop_get(h->admin, NVME_REG_CAP, true, &cap), NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_AUTH_REQUIRED);
	static uint8_t id[4096];
	uint16_t st = identify(h->admin, NVME_CNS_CONTROLLER, 0, id);
	CHECK_STATUS(st, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_AUTH_REQUIRED);
	CHECK(st & NVME_STATUS_DNR);
}

/* Connect as hostnqn; check AUTHREQ in the response. */
static void connect_admin(struct host *h, const char *hostnqn, bool want_atr)
{
	memset(h, 0, sizeof(*h));
	struct nvme_completion cqe;
	CHECK(host_connect_admin(h, tgt.port, TEST_NQN, hostnqn, 0, 32, &cqe) == 0);
	CHECK(((cqe.cdw0 & NVMF_CONNECT_AUTHREQ_ATR) != 0) == want_atr);
	CHECK((cqe.cdw0 & 0xffff) == h->cntlid);
}

/* A host that skips authentication: refused on the admin queue, and on an I/O queue it never authenticated. */
static void test_skip(void)
{
	struct host h, other;
	connect_admin(&h, TEST_HOSTNQN, true);
	expect_auth_required(&h);
	/* Another host, allowed without keys, works meanwhile. */
	host_setup(&other, tgt.port, TEST_NQN, TEST_HOSTNQN2);
	static uint8_t buf[4096];
	CHECK(rw(other.io, NVME_OPC_WRITE, 1, 0, 1, buf, 4096, 0) == 0);

	uint8_t f1;
	struct nvmf_dhchap_keys k = keys(KEY_HOST, NULL, NULL, NULL);
	CHECK(transaction(h.admin, TEST_HOSTNQN, &k, 0, &f1) == NVMF_DHCHAP_SUCCEEDED && f1 == 0);
	host_enable(&h);
	struct nvme_command sf = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = 0x00030003};
	CHECK(exec(h.admin, &sf, NULL, 0, false, NULL) == 0);
	struct nvme_completion cqe;
	CHECK(host_connect_io(&h, 1, h.cntlid, 32, &h.io, &cqe) == 0);
	CHECK(cqe.cdw0 & NVMF_CONNECT_AUTHREQ_ATR);
	uint16_t st = rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, 4096, 0);
	CHECK_STATUS(st, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_AUTH_REQUIRED);
	CHECK(st & NVME_STATUS_DNR);
	/* Once the I/O queue authenticates too, I/O flows. */
	CHECK(transaction(h.io, TEST_HOSTNQN, &k, 0, &f1) == NVMF_DHCHAP_SUCCEEDED);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, 4096, 0) == 0);
	CHECK(rw(other.io, NVME_OPC_READ, 1, 0, 1, buf, 4096, 0) == 0);
	host_close(&h);
	host_close(&other);
}

/* Each bad transaction ends in AUTH_Failure1 with its reason; the queue stays closed to commands. */
static void test_refusals(void)
{
	static const struct {
		const char *what, *host, *ctrl, *hashes, *groups;
		int tamper;
		uint8_t reason;
	} cases[] = {
		{"wrong secret", KEY_OTHER, NULL, NULL, NULL, 0, NVMF_AUTH_FAIL_FAILED},
		{"hash not allowed", KEY_HOST, NULL, "hmac(sha512)", NULL, 0, NVMF_AUTH_FAIL_HASH_UNUSABLE},
		{"group not allowed", KEY_HOST, NULL, NULL, "ffdhe4096,ffdhe8192", 0, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE},
		{"wrong transaction ID", KEY_HOST, NULL, NULL, NULL, 1, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct host h;
		connect_admin(&h, TEST_HOSTNQN, true);
		struct nvmf_dhchap_keys k = keys(cases[i].host, cases[i].ctrl, cases[i].hashes, cases[i].groups);
		uint8_t f1;
		enum nvmf_dhchap_event ev = transaction(h.admin, TEST_HOSTNQN, &k, cases[i].tamper, &f1);
		if (ev != NVMF_DHCHAP_FAILED || f1 != cases[i].reason)
			fprintf(stderr, "%s: event %d, Failure1 reason %#x (want %#x)\n", cases[i].what, ev, f1,
				cases[i].reason);
		CHECK(ev == NVMF_DHCHAP_FAILED && f1 == cases[i].reason);
		expect_auth_required(&h);
		host_close(&h);
	}

	/* A Reply with no transaction begun: out of sequence. */
	struct host h;
	connect_admin(&h, TEST_HOSTNQN, true);
	struct nvmf_auth_reply r = {.auth_type = NVMF_AUTH_DHCHAP_MESSAGES, .auth_id = NVMF_AUTH_MSG_REPLY, .hl = 48};
	static uint8_t msg[16 + 96], in[64];
	memcpy(msg, &r, sizeof(r));
	CHECK(auth_send(h.admin, msg, sizeof(msg)) == 0);
	CHECK(auth_receive(h.admin, in, sizeof(in)) == 0);
	const struct nvmf_auth_failure_msg *f = (const void *)in;
	CHECK(f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	CHECK(in[8] == 0); /* zero filled past the message */
	expect_auth_required(&h);

	/* Bad command fields: Invalid Field, nothing else happens. */
	struct nvme_command c = {0};
	struct nvmf_auth_command *ac = (void *)&c;
	ac->opc = NVME_OPC_FABRICS;
	ac->fctype = NVMF_FCTYPE_AUTH_SEND;
	ac->secp = 0xea;
	ac->spsp0 = ac->spsp1 = NVMF_AUTH_SPSP;
	ac->length = sizeof(msg);
	CHECK_STATUS(exec(h.admin, &c, msg, sizeof(msg), true, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	ac->secp = NVMF_AUTH_SECP_DHCHAP;
	ac->spsp1 = 2;
	CHECK_STATUS(exec(h.admin, &c, msg, sizeof(msg), true, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	ac->spsp1 = NVMF_AUTH_SPSP;
	ac->length = 8;
	CHECK_STATUS(exec(h.admin, &c, msg, sizeof(msg), true, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	ac->fctype = NVMF_FCTYPE_AUTH_RECEIVE;
	ac->length = 0;
	CHECK_STATUS(exec(h.admin, &c, NULL, 0, false, NULL), NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);

	/* After all that, the right keys still pass, bidirectionally. */
	struct nvmf_dhchap_keys k = keys(KEY_HOST, KEY_CTRL, NULL, NULL);
	uint8_t f1;
	CHECK(transaction(h.admin, TEST_HOSTNQN, &k, 0, &f1) == NVMF_DHCHAP_SUCCEEDED);
	uint64_t cap;
	CHECK(prop_get(h.admin, NVME_REG_CAP, true, &cap) == 0);
	/* A controller secret the host does not share: the host refuses the controller (Failure2), and the
	 * controller closes the gate again. */
	k = keys(KEY_HOST, KEY_OTHER, NULL, NULL);
	CHECK(transaction(h.admin, TEST_HOSTNQN, &k, 0, &f1) == NVMF_DHCHAP_FAILED && f1 == 0);
	expect_auth_required(&h);
	host_close(&h);
}

/* Hosts without keys see no AUTHREQ and work as before. */
static void test_no_keys(void)
{
	struct host h;
	connect_admin(&h, TEST_HOSTNQN2, false);
	host_close(&h);
	host_setup(&h, tgt.port, TEST_NQN, TEST_HOSTNQN2);
	/* Negotiate from a host with no keys: AUTH_Failure1, and the queue keeps working. */
	struct nvmf_dhchap_keys k = keys(KEY_HOST, NULL, NULL, NULL);
	uint8_t f1;
	CHECK(transaction(h.admin, TEST_HOSTNQN2, &k, 0, &f1) == NVMF_DHCHAP_FAILED && f1 == NVMF_AUTH_FAIL_FAILED);
	uint64_t cap;
	CHECK(prop_get(h.admin, NVME_REG_CAP, true, &cap) == 0);
	host_close(&h);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s NVMFD TEST\n", argv[0]);
		return 2;
	}
	start(argv[1]);
	if (!strcmp(argv[2], "skip"))
		test_skip();
	else if (!strcmp(argv[2], "refusals"))
		test_refusals();
	else if (!strcmp(argv[2], "no_keys"))
		test_no_keys();
	else {
		fprintf(stderr, "unknown test %s\n", argv[2]);
		return 2;
	}
	target_stop(&tgt);
	printf("ok\n");
	return 0;
}
