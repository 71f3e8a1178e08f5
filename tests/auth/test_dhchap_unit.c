/*
 * DH-HMAC-CHAP without sockets: secrets as nvme-cli 2.3's gen-dhchap-key
 * writes them (its transformed keys are the known-good values of our
 * transform), Diffie-Hellman, and whole transactions between our host
 * and controller state machines: every hash and group, unidirectional
 * and bidirectional, and each refusal with its reason code.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/dhchap.h"
#include "check.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"
#define SUBNQN "nqn.2024-01.io.nvmf:authtest"

/* nvme gen-dhchap-key -s 000102...1f -m 0 / -m 1 -n HOSTNQN */
#define KEY32_RAW "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define KEY32_SHA256 "DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:"
/* nvme gen-dhchap-key -s 000102...2f -l 48 -m 0 / -m 2 -n HOSTNQN */
#define KEY48_RAW "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:"
#define KEY48_SHA384 "DHHC-1:02:yRbznXvUOKyUzpjxLyIgLGvEOxsb9/CBo2/XbRG0sXMHJv918yV2tXSc+gbRp7T1eXmwtA==:"
/* nvme gen-dhchap-key -s 000102...3f -l 64 -m 0 */
#define KEY64_RAW                                                                                                     \
	"DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P4zODhA=:"

static void test_secrets(void)
{
	struct nvmf_dhchap_secret s, t;
	uint8_t expect[64];
	for (int i = 0; i < 64; i++)
		expect[i] = (uint8_t)i;
	CHECK(nvmf_dhchap_secret_parse(KEY32_RAW, &s) == 0 && s.len == 32 && s.hash_id == 0 &&
		      memcmp(s.key, expect, 32) == 0,
	      "32-byte secret from nvme-cli parses to its bytes");
	CHECK(nvmf_dhchap_secret_parse(KEY48_RAW, &s) == 0 && s.len == 48 && memcmp(s.key, expect, 48) == 0,
	      "48-byte secret parses");
	CHECK(nvmf_dhchap_secret_parse(KEY64_RAW, &s) == 0 && s.len == 64 && memcmp(s.key, expect, 64) == 0,
	      "64-byte secret parses");
	char text[128];
	CHECK(nvmf_dhchap_secret_format(&s, text, sizeof(text)) > 0 && strcmp(text, KEY64_RAW) == 0,
	      "formatting gives nvme-cli's text back");

	/* Transformation: nvme-cli writes HMAC(secret, NQN || "NVMe-over-Fabrics") as the -m N key. */
	uint8_t out[64];
	nvmf_dhchap_secret_parse(KEY32_RAW, &s);
	s.hash_id = NVMF_AUTH_HASH_SHA256;
	CHECK(nvmf_dhchap_secret_parse(KEY32_SHA256, &t) == 0 && t.hash_id == 1, "transformed secret parses (hash 01)");
	CHECK(nvmf_dhchap_secret_transform(&s, HOSTNQN, out) == 32 && memcmp(out, t.key, 32) == 0,
	      "SHA-256 transform matches nvme-cli");
	nvmf_dhchap_secret_parse(KEY48_RAW, &s);
	s.hash_id = NVMF_AUTH_HASH_SHA384;
	CHECK(nvmf_dhchap_secret_parse(KEY48_SHA384, &t) == 0 && t.hash_id == 2, "transformed secret parses (hash 02)");
	CHECK(nvmf_dhchap_secret_transform(&s, HOSTNQN, out) == 48 && memcmp(out, t.key, 48) == 0,
	      "SHA-384 transform matches nvme-cli");
	s.hash_id = 0;
	CHECK(nvmf_dhchap_secret_transform(&s, HOSTNQN, out) == 48 && memcmp(out, expect, 48) == 0,
	      "hash 00: the secret is used as it is");

	char bad[128];
	snprintf(bad, sizeof(bad), "%s", KEY32_RAW);
	bad[12] = bad[12] == 'A' ? 'B' : 'A';
	CHECK(nvmf_dhchap_secret_parse(bad, &s) == -EBADMSG, "a changed byte fails the CRC-32");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:04:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &s) == -EINVAL,
	      "hash 04 refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-2:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &s) == -EINVAL,
	      "wrong version refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMU:", &s) == -EINVAL,
	      "short key refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:!!!!AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &s) == -EINVAL,
	      "bad base64 refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:x", &s) == -EINVAL,
	      "trailing text refused");
	/* OpenSSL's decoder alone would take these: blanks, '=' inside, a stray character before padding. */
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:    AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &s) == -EINVAL,
	      "blanks in base64 refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:=AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &s) == -EINVAL,
	      "padding inside base64 refused");
	CHECK(nvmf_dhchap_secret_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaRx===:", &s) == -EINVAL,
	      "a stray character before padding refused");
}

static void test_dh(void)
{
	for (uint8_t g = 1; g <= 5; g++) {
		int size = nvmf_dhchap_dhgroup_size(g);
		struct nvmf_dhchap_dh *a = nvmf_dhchap_dh_new(g), *b = nvmf_dhchap_dh_new(g);
		uint8_t pa[1024], pb[1024], sa[1024], sb[1024];
		bool ok = a && b && nvmf_dhchap_dh_public(a, pa, sizeof(pa)) == size &&
			  nvmf_dhchap_dh_public(b, pb, sizeof(pb)) == size &&
			  nvmf_dhchap_dh_shared(a, pb, (size_t)size, sa, sizeof(sa)) == size &&
			  nvmf_dhchap_dh_shared(b, pa, (size_t)size, sb, sizeof(sb)) == size &&
			  memcmp(sa, sb, (size_t)size) == 0;
		CHECK(ok, "%s: both ends derive the same %d-byte value", nvmf_dhchap_dhgroup_name(g), size);
		uint8_t one[1024] = {0};
		one[size - 1] = 1;
		CHECK(nvmf_dhchap_dh_shared(a, one, (size_t)size, sa, sizeof(sa)) < 0, "%s: public value 1 refused",
		      nvmf_dhchap_dhgroup_name(g));
		CHECK(nvmf_dhchap_dh_shared(a, pb, (size_t)size - 1, sa, sizeof(sa)) < 0, "%s: short value refused",
		      nvmf_dhchap_dhgroup_name(g));
		nvmf_dhchap_dh_free(a);
		nvmf_dhchap_dh_free(b);
	}
}

static struct nvmf_dhchap_keys keys_of(const char *host, const char *ctrl)
{
	struct nvmf_dhchap_keys k = {0};
	nvmf_dhchap_secret_parse(host, &k.host);
	if (ctrl)
		nvmf_dhchap_secret_parse(ctrl, &k.ctrl);
	return k;
}

/* Run one transaction; returns the controller's view, *host_ev the host's, *exp the Failure1 reason. */
static enum nvmf_dhchap_event run(const struct nvmf_dhchap_keys *ck, const struct nvmf_dhchap_keys *hk,
				  enum nvmf_dhchap_event *host_ev, uint8_t *exp)
{
	struct nvmf_dhchap_ctrl *c = nvmf_dhchap_ctrl_new(HOSTNQN, SUBNQN);
	struct nvmf_dhchap_host *h = nvmf_dhchap_host_new(HOSTNQN, SUBNQN, hk);
	static uint8_t a[4096], b[4096];
	enum nvmf_dhchap_event cev = NVMF_DHCHAP_PENDING, hev = NVMF_DHCHAP_PENDING;
	*exp = 0;
	size_t n = nvmf_dhchap_host_negotiate(h, 7, a, sizeof(a));
	cev = nvmf_dhchap_ctrl_send(c, ck, a, n);
	for (int round = 0; round < 4 && hev == NVMF_DHCHAP_PENDING; round++) {
		n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &cev);
		const struct nvmf_auth_failure_msg *f = (const void *)b;
		if (f->auth_id == NVMF_AUTH_MSG_FAILURE1)
			*exp = f->rescode_exp;
		size_t out = 0;
		hev = nvmf_dhchap_host_step(h, b, n, a, sizeof(a), &out);
		if (out)
			cev = nvmf_dhchap_ctrl_send(c, ck, a, out);
	}
	if (cev == NVMF_DHCHAP_PENDING && nvmf_dhchap_ctrl_authenticated(c))
		cev = NVMF_DHCHAP_SUCCEEDED;
	*host_ev = hev;
	nvmf_dhchap_ctrl_free(c);
	nvmf_dhchap_host_free(h);
	return cev;
}

static void test_transactions(void)
{
	const char *hashes[] = {"hmac(sha256)", "hmac(sha384)", "hmac(sha512)"};
	const char *groups[] = {"null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"};
	enum nvmf_dhchap_event hev;
	uint8_t exp;
	for (int hi = 0; hi < 3; hi++)
		for (int gi = 0; gi < 6; gi++)
			for (int bidir = 0; bidir < 2; bidir++) {
				/* Skip the slow groups for all but one hash. */
				if (gi >= 4 && hi != 2)
					continue;
				struct nvmf_dhchap_keys ck = keys_of(KEY32_SHA256, KEY48_RAW);
				struct nvmf_dhchap_keys hk = keys_of(KEY32_SHA256, bidir ? KEY48_RAW : NULL);
				nvmf_dhchap_keys_set_hashes(&ck, hashes[hi]);
				nvmf_dhchap_keys_set_dhgroups(&ck, groups[gi]);
				enum nvmf_dhchap_event cev = run(&ck, &hk, &hev, &exp);
				CHECK(cev == NVMF_DHCHAP_SUCCEEDED && hev == NVMF_DHCHAP_SUCCEEDED, "%s %s %s",
				      hashes[hi], groups[gi], bidir ? "bidirectional" : "unidirectional");
			}

	struct nvmf_dhchap_keys ck = keys_of(KEY32_SHA256, KEY48_RAW);
	struct nvmf_dhchap_keys hk = keys_of(KEY32_RAW, NULL);
	CHECK(run(&ck, &hk, &hev, &exp) == NVMF_DHCHAP_FAILED && hev == NVMF_DHCHAP_FAILED &&
		      exp == NVMF_AUTH_FAIL_FAILED,
	      "wrong host secret: AUTH_Failure1, authentication failed");
	hk = keys_of(KEY32_SHA256, KEY64_RAW);
	CHECK(run(&ck, &hk, &hev, &exp) != NVMF_DHCHAP_SUCCEEDED && hev == NVMF_DHCHAP_FAILED,
	      "wrong controller secret: the host refuses the controller (AUTH_Failure2)");
	hk = keys_of(KEY32_SHA256, NULL);
	nvmf_dhchap_keys_set_hashes(&ck, "sha512");
	nvmf_dhchap_keys_set_hashes(&hk, "sha256,sha384");
	CHECK(run(&ck, &hk, &hev, &exp) == NVMF_DHCHAP_FAILED && exp == NVMF_AUTH_FAIL_HASH_UNUSABLE,
	      "hash the subsystem does not allow: hash function not usable");
	nvmf_dhchap_keys_set_hashes(&ck, "sha256");
	nvmf_dhchap_keys_set_dhgroups(&ck, "ffdhe3072");
	nvmf_dhchap_keys_set_dhgroups(&hk, "null,ffdhe2048");
	CHECK(run(&ck, &hk, &hev, &exp) == NVMF_DHCHAP_FAILED && exp == NVMF_AUTH_FAIL_DHGROUP_UNUSABLE,
	      "group the subsystem does not allow: DH group not usable");
	struct nvmf_dhchap_keys nokey = keys_of(KEY32_SHA256, NULL);
	hk = keys_of(KEY32_SHA256, KEY48_RAW);
	CHECK(run(&nokey, &hk, &hev, &exp) == NVMF_DHCHAP_FAILED && exp == NVMF_AUTH_FAIL_FAILED,
	      "bidirectional asked of a subsystem with no controller secret: refused");
}

/* Messages out of order and with a wrong transaction ID. */
static void test_sequence(void)
{
	struct nvmf_dhchap_keys k = keys_of(KEY32_SHA256, NULL);
	nvmf_dhchap_keys_set_dhgroups(&k, "null");
	uint8_t a[4096], b[4096];
	enum nvmf_dhchap_event ev;

	/* A Reply before any Negotiate. */
	struct nvmf_dhchap_ctrl *c = nvmf_dhchap_ctrl_new(HOSTNQN, SUBNQN);
	struct nvmf_auth_reply r = {.auth_type = NVMF_AUTH_DHCHAP_MESSAGES, .auth_id = NVMF_AUTH_MSG_REPLY, .t_id = 3};
	nvmf_dhchap_ctrl_send(c, &k, &r, sizeof(r));
	size_t n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	const struct nvmf_auth_failure_msg *f = (const void *)b;
	CHECK(n == 8 && f->auth_type == 0 && f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode == 1 &&
		      f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE && f->t_id == 3 &&
		      ev == NVMF_DHCHAP_FAILED && !nvmf_dhchap_ctrl_authenticated(c),
	      "Reply out of sequence: AUTH_Failure1, incorrect protocol message");
	nvmf_dhchap_ctrl_free(c);

	/* A Reply with another transaction's ID. */
	c = nvmf_dhchap_ctrl_new(HOSTNQN, SUBNQN);
	struct nvmf_dhchap_host *h = nvmf_dhchap_host_new(HOSTNQN, SUBNQN, &k);
	n = nvmf_dhchap_host_negotiate(h, 9, a, sizeof(a));
	nvmf_dhchap_ctrl_send(c, &k, a, n);
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	size_t out = 0;
	nvmf_dhchap_host_step(h, b, n, a, sizeof(a), &out);
	((struct nvmf_auth_reply *)a)->t_id = 10;
	nvmf_dhchap_ctrl_send(c, &k, a, out);
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(n == 8 && f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PAYLOAD &&
		      ev == NVMF_DHCHAP_FAILED,
	      "Reply with a wrong transaction ID: AUTH_Failure1, incorrect payload");

	/* The same transaction done right, then a second Reply: out of sequence. */
	n = nvmf_dhchap_host_negotiate(h, 11, a, sizeof(a));
	nvmf_dhchap_ctrl_send(c, &k, a, n);
	CHECK(nvmf_dhchap_ctrl_receive(c, b, 10, &ev) == 0, "Receive with too small an AL: nothing, message kept");
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	nvmf_dhchap_host_step(h, b, n, a, sizeof(a), &out);
	nvmf_dhchap_ctrl_send(c, &k, a, out);
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(ev == NVMF_DHCHAP_SUCCEEDED && nvmf_dhchap_ctrl_authenticated(c), "then a good transaction passes");
	nvmf_dhchap_ctrl_send(c, &k, a, out);
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE &&
		      !nvmf_dhchap_ctrl_authenticated(c),
	      "a replayed Reply: AUTH_Failure1, and the queue is no longer authenticated");

	/* Truncated messages. */
	n = nvmf_dhchap_host_negotiate(h, 12, a, sizeof(a));
	nvmf_dhchap_ctrl_send(c, &k, a, 20);
	nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PAYLOAD,
	      "truncated Negotiate: incorrect payload");
	n = nvmf_dhchap_host_negotiate(h, 13, a, sizeof(a));
	nvmf_dhchap_ctrl_send(c, &k, a, n);
	n = nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	nvmf_dhchap_host_step(h, b, n, a, sizeof(a), &out);
	nvmf_dhchap_ctrl_send(c, &k, a, out - 1);
	nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(f->auth_id == NVMF_AUTH_MSG_FAILURE1 && f->rescode_exp == NVMF_AUTH_FAIL_INCORRECT_PAYLOAD,
	      "truncated Reply: incorrect payload");
	struct nvmf_auth_negotiate *neg = (void *)a;
	n = nvmf_dhchap_host_negotiate(h, 14, a, sizeof(a));
	neg->sc_c = 1;
	nvmf_dhchap_ctrl_send(c, &k, a, n);
	nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(f->rescode_exp == NVMF_AUTH_FAIL_CONCAT_MISMATCH, "secure channel concatenation asked: mismatch");
	n = nvmf_dhchap_host_negotiate(h, 15, a, sizeof(a));
	neg->descr[0].authid = 2;
	nvmf_dhchap_ctrl_send(c, &k, a, n);
	nvmf_dhchap_ctrl_receive(c, b, sizeof(b), &ev);
	CHECK(f->rescode_exp == NVMF_AUTH_FAIL_PROTOCOL_UNUSABLE, "no DH-HMAC-CHAP descriptor: protocol not usable");
	nvmf_dhchap_host_free(h);
	nvmf_dhchap_ctrl_free(c);
}

int main(void)
{
	test_secrets();
	test_dh();
	test_transactions();
	test_sequence();
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures ? 1 : 0;
}
