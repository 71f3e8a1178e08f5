/*
 * The host library's DH-HMAC-CHAP against nvmfd: connect with every queue
 * authenticated, verified I/O, re-authentication of the admin queue and
 * of an I/O queue when the host asks, and the connect refused on a wrong
 * secret with the reason in the error.
 * usage: test_auth_host NVMFD
 */
#include <errno.h>
#include <string.h>

#include <nvmf/host.h>

#include "target_util.h"

#define KEY_HOST "DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:"
#define KEY_CTRL "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:"
#define KEY_OTHER "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"

static struct target tgt;

static struct nvmf_host_ctrl *connect_with(const char *secret, const char *ctrl_secret, char *err, size_t errlen,
					   int *rc)
{
	struct nvmf_host_addr addr;
	char uri[300];
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%s/%s", tgt.port, TEST_NQN);
	CHECK(nvmf_host_parse_address(uri, &addr, err, errlen) == 0);
	struct nvmf_host_opts o;
	nvmf_host_opts_default(&o);
	snprintf(o.hostnqn, sizeof(o.hostnqn), "%s", TEST_HOSTNQN);
	snprintf(o.dhchap_secret, sizeof(o.dhchap_secret), "%s", secret);
	snprintf(o.dhchap_ctrl_secret, sizeof(o.dhchap_ctrl_secret), "%s", ctrl_secret ? ctrl_secret : "");
	o.nr_io_queues = 2;
	struct nvmf_host_ctrl *c = NULL;
	*rc = nvmf_host_connect(&addr, &o, &c, err, errlen);
	return c;
}

static void verify_io(struct nvmf_host_ctrl *c, unsigned q, uint64_t lba)
{
	static uint8_t out[8192], in[8192];
	fill_pattern(out, sizeof(out), (unsigned)lba);
	struct nvmf_host_qpair *qp = nvmf_host_ctrl_io_qpair(c, q);
	CHECK(nvmf_host_write_sync(qp, 1, lba, 16, out, sizeof(out), NULL) == 0);
	memset(in, 0, sizeof(in));
	CHECK(nvmf_host_read_sync(qp, 1, lba, 16, in, sizeof(in), NULL) == 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s NVMFD\n", argv[0]);
		return 2;
	}
	static const char *const args[] = {"--subsystem",     TEST_NQN,	    "--namespace", "ram:16M", "--allow-host",
					   TEST_HOSTNQN,      "--dhchap-key", KEY_HOST,	   "--dhchap-ctrl-key",
					   KEY_CTRL,	      "--dhchap-dhgroup", "ffdhe2048", NULL};
	target_start(&tgt, argv[1], args);
	char err[1024];
	int rc;

	struct nvmf_host_ctrl *c = connect_with(KEY_HOST, KEY_CTRL, err, sizeof(err), &rc);
	if (!c)
		fprintf(stderr, "connect: %s\n", err);
	CHECK(c && rc == 0 && nvmf_host_ctrl_nr_io_queues(c) == 2);
	verify_io(c, 0, 0);
	verify_io(c, 1, 64);
	/* Re-authentication when the host asks: admin queue, then each I/O queue; I/O goes on. */
	CHECK(nvmf_host_reauthenticate(c, NULL) == 0);
	CHECK(nvmf_host_reauthenticate(c, nvmf_host_ctrl_io_qpair(c, 0)) == 0);
	CHECK(nvmf_host_reauthenticate(c, nvmf_host_ctrl_io_qpair(c, 1)) == 0);
	verify_io(c, 0, 128);
	verify_io(c, 1, 192);
	CHECK(nvmf_host_disconnect(c) == 0);

	/* Unidirectional connect works; a wrong secret does not, and says why. */
	c = connect_with(KEY_HOST, NULL, err, sizeof(err), &rc);
	CHECK(c && rc == 0);
	verify_io(c, 1, 256);
	nvmf_host_disconnect(c);
	c = connect_with(KEY_OTHER, NULL, err, sizeof(err), &rc);
	CHECK(!c && rc == -EACCES && strstr(err, "AUTH_Failure1, authentication failed"));
	CHECK(!strstr(err, "bHuByyp0") && !strstr(err, "AAECAwQF"));
	c = connect_with(KEY_HOST, KEY_OTHER, err, sizeof(err), &rc);
	CHECK(!c && rc == -EACCES && strstr(err, "controller failed to authenticate"));
	target_stop(&tgt);
	printf("ok\n");
	return 0;
}
