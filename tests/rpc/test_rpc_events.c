/*
 * Changes made over nvmfd's JSON-RPC socket reach connected hosts: a
 * namespace added or removed raises a Namespace Attribute Changed event and
 * enters the Changed Namespace List, I/O in flight to a removed namespace
 * completes, controllers and queue pairs are listed, associations end by
 * controller ID, host NQN or all, and a removed host or deleted subsystem
 * loses its association and cannot connect again.
 *
 * usage: test_rpc_events NVMFD CASE
 */
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "target_util.h"

static char sock_path[108];
static char metrics_port[16];

/* ---- A minimal JSON-RPC client ---- */

/* Call method with params (JSON text or NULL); the result, or NULL with *code set from the error. */
static json_object *rpc(const char *method, const char *params, int *code)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	char req[4096];
	int n = snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}", method,
			 params ? ",\"params\":" : "", params ? params : "");
	CHECK(n > 0 && (size_t)n < sizeof(req) && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
	json_tokener *tok = json_tokener_new();
	json_object *resp = NULL;
	char buf[65536];
	while (!resp) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		CHECK(got > 0);
		resp = json_tokener_parse_ex(tok, buf, (int)got);
		CHECK(resp || json_tokener_get_error(tok) == json_tokener_continue);
	}
	json_tokener_free(tok);
	close(fd);
	json_object *result = NULL, *error;
	if (json_object_object_get_ex(resp, "error", &error)) {
		fprintf(stderr, "rpc %s: %s\n", method, json_object_to_json_string(error));
		if (code)
			*code = json_object_get_int(json_object_object_get(error, "code"));
	} else {
		CHECK(json_object_object_get_ex(resp, "result", &result));
		json_object_get(result);
	}
	json_object_put(resp);
	return result;
}

/* A call that must succeed; its result is dropped. */
static void rpc_ok(const char *method, const char *params)
{
	json_object *r = rpc(method, params, NULL);
	CHECK(r);
	json_object_put(r);
}

/* ---- Host helpers ---- */

struct pending {
	bool done;
	int error;
	struct nvme_completion cqe;
};

static void on_done(void *arg, struct nvmf_capsule *nc, const struct nvme_completion *cqe, int error)
{
	struct pending *p = arg;
	(void)nc;
	p->done = true;
	p->error = error;
	if (cqe)
		p->cqe = *cqe;
}

static struct nvmf_capsule *submit(struct nvmf_qpair *qp, const struct nvme_command *cmd, void *buf, size_t len,
				   bool send, struct pending *p)
{
	struct nvmf_capsule *nc = nvmf_capsule_alloc_command(qp, cmd);
	CHECK(nc);
	memset(p, 0, sizeof(*p));
	if (buf)
		CHECK(nvmf_capsule_append_data(nc, buf, len, send) == 0);
	nvmf_capsule_set_done(nc, on_done, p);
	CHECK(nvmf_capsule_transmit(nc) == 0);
	CHECK(nvmf_qpair_flush(qp) >= -11);
	return nc;
}

static struct nvmf_capsule *submit_aer(struct nvmf_qpair *qp, struct pending *p)
{
	struct nvme_command aer = {.opc = NVME_OPC_ASYNC_EVENT_REQUEST};
	return submit(qp, &aer, NULL, 0, false, p);
}

/* Poll qp until every p[0..n) is done (or the qpair fails: false). */
static bool wait_all(struct nvmf_qpair *qp, struct pending *p, unsigned n)
{
	for (int i = 0; i < TEST_TIMEOUT_MS / 10; i++) {
		unsigned done = 0;
		for (unsigned k = 0; k < n; k++)
			done += p[k].done;
		if (done == n)
			return true;
		if (nvmf_qpair_process(qp) < 0)
			return false;
		struct pollfd pfd = {.fd = nvmf_qpair_fd(qp), .events = POLLIN};
		poll(&pfd, 1, 10);
	}
	return false;
}

/* The association is gone: the target closes the admin queue (commands
 * sent before the close lands may still be answered). */
static bool admin_closed(struct host *h)
{
	struct pending p = {.done = true};
	struct nvmf_capsule *nc = NULL;
	bool gone = false;
	for (int i = 0; i < TEST_TIMEOUT_MS / 10 && !gone; i++) {
		if (p.done) {
			if ((gone = p.error != 0))
				break;
			nvmf_capsule_free(nc);
			struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
			nc = nvmf_capsule_alloc_command(h->admin, &ka);
			if ((gone = nc == NULL))
				break;
			memset(&p, 0, sizeof(p));
			nvmf_capsule_set_done(nc, on_done, &p);
			if ((gone = nvmf_capsule_transmit(nc) != 0))
				break;
			nvmf_qpair_flush(h->admin);
		}
		gone = nvmf_qpair_process(h->admin) < 0;
		struct pollfd pfd = {.fd = nvmf_qpair_fd(h->admin), .events = POLLIN};
		poll(&pfd, 1, 10);
	}
	if (nc && p.done)
		nvmf_capsule_free(nc);
	return gone;
}

/* The association still serves commands. */
static bool admin_alive(struct host *h)
{
	struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	return exec(h->admin, &ka, NULL, 0, false, NULL) == 0;
}

static json_object *controllers(void)
{
	json_object *r = rpc("nvmf_subsystem_get_controllers", "{\"nqn\":\"" TEST_NQN "\"}", NULL);
	CHECK(r && json_object_is_type(r, json_type_array));
	return r;
}

static int64_t field(json_object *o, const char *key)
{
	json_object *v;
	CHECK(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

/* ---- Cases ---- */

static void case_namespaces(const char *port)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	struct nvme_command aec = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_ASYNC_EVENT,
				   .cdw11 = NVME_AEC_NS_ATTR};
	CHECK(exec(h.admin, &aec, NULL, 0, false, NULL) == 0);
	struct pending p;
	struct nvmf_capsule *nc = submit_aer(h.admin, &p);

	rpc_ok("bdev_malloc_create", "{\"name\":\"Extra\",\"num_blocks\":4096,\"block_size\":512}");
	json_object *nsid = rpc("nvmf_subsystem_add_ns", "{\"nqn\":\"" TEST_NQN "\",\"namespace\":{\"bdev_name\":\"Extra\",\"nsid\":5}}", NULL);
	CHECK(nsid && json_object_get_int(nsid) == 5);
	json_object_put(nsid);
	CHECK(wait_all(h.admin, &p, 1) && !p.error && p.cqe.status >> 1 == 0);
	CHECK(p.cqe.cdw0 == NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED, NVME_LOG_CHANGED_NS));
	nvmf_capsule_free(nc);
	static uint32_t list[1024];
	CHECK(get_log(h.admin, NVME_LOG_CHANGED_NS, 0, list, sizeof(list)) == 0);
	CHECK(list[0] == 5 && list[1] == 0);
	CHECK(identify(h.admin, NVME_CNS_ACTIVE_NS_LIST, 0, list) == 0);
	CHECK(list[0] == 1 && list[1] == 5 && list[2] == 0);

	/* I/O to it, and stats count it. */
	static uint8_t buf[8][4096];
	fill_pattern(buf[0], sizeof(buf[0]), 7);
	CHECK(rw(h.io, NVME_OPC_WRITE, 5, 8, 8, buf[0], sizeof(buf[0]), 0) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 5, 8, 8, buf[1], sizeof(buf[1]), 0) == 0);
	CHECK(memcmp(buf[0], buf[1], sizeof(buf[0])) == 0);
	json_object *st = rpc("nvmf_subsystem_get_io_stats", "{\"nqn\":\"" TEST_NQN "\"}", NULL);
	json_object *c0 = json_object_array_get_idx(json_object_object_get(st, "controllers"), 0);
	CHECK(c0 && field(c0, "write_ops") == 1 && field(c0, "read_ops") == 1 && field(c0, "bytes_written") == 4096);
	json_object *nss = json_object_object_get(st, "namespaces");
	CHECK(nss && json_object_array_length(nss) == 2);
	for (size_t i = 0; i < 2; i++) {
		json_object *n = json_object_array_get_idx(nss, i);
		bool five = field(n, "nsid") == 5;
		CHECK(field(n, "write_ops") == five && field(n, "read_ops") == five);
		CHECK(field(n, "bytes_written") == (five ? 4096 : 0) && field(n, "bytes_read") == (five ? 4096 : 0));
	}
	json_object_put(st);

	/* Removed with writes in flight: each completes (done or refused), none hangs, then the event. */
	nc = submit_aer(h.admin, &p);
	struct pending io[8];
	struct nvmf_capsule *ios[8];
	for (unsigned i = 0; i < 8; i++) {
		struct nvme_command w = {.opc = NVME_OPC_WRITE, .nsid = 5, .cdw10 = i * 8, .cdw12 = 7};
		ios[i] = submit(h.io, &w, buf[i], sizeof(buf[i]), true, &io[i]);
	}
	rpc_ok("nvmf_subsystem_remove_ns", "{\"nqn\":\"" TEST_NQN "\",\"nsid\":5}");
	CHECK(wait_all(h.io, io, 8));
	for (unsigned i = 0; i < 8; i++) {
		uint16_t st16 = io[i].cqe.status & 0xfffe;
		CHECK(!io[i].error);
		CHECK(st16 == 0 || (NVME_STATUS_GET_SCT(st16) == NVME_SCT_GENERIC &&
				    NVME_STATUS_GET_SC(st16) == NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
		nvmf_capsule_free(ios[i]);
	}
	CHECK(wait_all(h.admin, &p, 1) && !p.error);
	CHECK(p.cqe.cdw0 == NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR_CHANGED, NVME_LOG_CHANGED_NS));
	nvmf_capsule_free(nc);
	CHECK(get_log(h.admin, NVME_LOG_CHANGED_NS, 0, list, sizeof(list)) == 0);
	CHECK(list[0] == 5 && list[1] == 0);
	CHECK(identify(h.admin, NVME_CNS_ACTIVE_NS_LIST, 0, list) == 0);
	CHECK(list[0] == 1 && list[1] == 0);
	CHECK_STATUS(rw(h.io, NVME_OPC_READ, 5, 0, 1, buf[0], 512, 0), NVME_SCT_GENERIC,
		     NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	/* The bdev outlives its namespace: it can be deleted now, and the host is unharmed. */
	rpc_ok("bdev_malloc_delete", "{\"name\":\"Extra\"}");
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf[0], 512, 0) == 0);
	host_close(&h);
}

static void case_controllers(const char *port)
{
	struct host a, b;
	host_setup(&a, port, TEST_NQN, TEST_HOSTNQN);
	host_setup(&b, port, TEST_NQN, TEST_HOSTNQN2);
	json_object *cs = controllers();
	CHECK(json_object_array_length(cs) == 2);
	bool seen_a = false;
	for (size_t i = 0; i < 2; i++) {
		json_object *c = json_object_array_get_idx(cs, i);
		if (field(c, "cntlid") == a.cntlid) {
			seen_a = true;
			CHECK(strcmp(json_object_get_string(json_object_object_get(c, "hostnqn")), TEST_HOSTNQN) == 0);
			CHECK(field(c, "num_io_qpairs") == 1);
		}
	}
	CHECK(seen_a);
	json_object_put(cs);
	json_object *qs = rpc("nvmf_subsystem_get_qpairs", "{\"nqn\":\"" TEST_NQN "\"}", NULL);
	CHECK(qs && json_object_array_length(qs) == 4);
	json_object *addr = json_object_object_get(json_object_array_get_idx(qs, 0), "listen_address");
	CHECK(addr && strcmp(json_object_get_string(json_object_object_get(addr, "trsvcid")), port) == 0);
	json_object_put(qs);

	/* By controller ID: only a goes. */
	char params[256];
	snprintf(params, sizeof(params), "{\"nqn\":\"%s\",\"cntlid\":%u}", TEST_NQN, a.cntlid);
	json_object *r = rpc("nvmf_subsystem_terminate_associations", params, NULL);
	CHECK(r && field(r, "terminated") == 1);
	json_object_put(r);
	CHECK(admin_closed(&a));
	CHECK(admin_alive(&b));
	host_close(&a);

	/* By host NQN. */
	host_setup(&a, port, TEST_NQN, TEST_HOSTNQN);
	r = rpc("nvmf_subsystem_terminate_associations", "{\"nqn\":\"" TEST_NQN "\",\"hostnqn\":\"" TEST_HOSTNQN2 "\"}",
		NULL);
	CHECK(r && field(r, "terminated") == 1);
	json_object_put(r);
	CHECK(admin_closed(&b));
	CHECK(admin_alive(&a));
	host_close(&b);

	/* All. */
	host_setup(&b, port, TEST_NQN, TEST_HOSTNQN2);
	r = rpc("nvmf_subsystem_terminate_associations", "{\"nqn\":\"" TEST_NQN "\"}", NULL);
	CHECK(r && field(r, "terminated") == 2);
	json_object_put(r);
	CHECK(admin_closed(&a) && admin_closed(&b));
	host_close(&a);
	host_close(&b);
	/* The controllers leave the list as their queues close. */
	for (int i = 0; i < 100; i++) {
		cs = controllers();
		size_t n = json_object_array_length(cs);
		json_object_put(cs);
		if (n == 0)
			break;
		sleep_ms(20);
	}
	cs = controllers();
	CHECK(json_object_array_length(cs) == 0);
	json_object_put(cs);
	/* And new hosts connect as before. */
	host_setup(&a, port, TEST_NQN, TEST_HOSTNQN);
	host_close(&a);
}

static void case_hosts(const char *port)
{
	const char *restricted = "{\"nqn\":\"" TEST_NQN_RESTRICTED "\"}";
	rpc_ok("nvmf_create_subsystem", restricted);
	rpc_ok("bdev_malloc_create", "{\"name\":\"R\",\"num_blocks\":64,\"block_size\":512}");
	rpc_ok("nvmf_subsystem_add_ns", "{\"nqn\":\"" TEST_NQN_RESTRICTED "\",\"namespace\":{\"bdev_name\":\"R\"}}");
	rpc_ok("nvmf_subsystem_add_host", "{\"nqn\":\"" TEST_NQN_RESTRICTED "\",\"host\":\"" TEST_HOSTNQN "\"}");
	struct host h;
	host_setup(&h, port, TEST_NQN_RESTRICTED, TEST_HOSTNQN);
	struct nvme_completion cqe;
	struct host other = {0};
	CHECK(host_connect_admin(&other, port, TEST_NQN_RESTRICTED, TEST_HOSTNQN2, 0, 32, &cqe) > 0);
	CHECK_STATUS(cqe.status & 0xfffe, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST);
	host_close(&other);

	/* Removed: its association ends, and it is refused at reconnect. */
	rpc_ok("nvmf_subsystem_remove_host", "{\"nqn\":\"" TEST_NQN_RESTRICTED "\",\"host\":\"" TEST_HOSTNQN "\"}");
	CHECK(admin_closed(&h));
	host_close(&h);
	CHECK(host_connect_admin(&h, port, TEST_NQN_RESTRICTED, TEST_HOSTNQN, 0, 32, &cqe) > 0);
	CHECK_STATUS(cqe.status & 0xfffe, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST);
	host_close(&h);

	/* Allowed again; then the subsystem is deleted under it. */
	rpc_ok("nvmf_subsystem_add_host", "{\"nqn\":\"" TEST_NQN_RESTRICTED "\",\"host\":\"" TEST_HOSTNQN "\"}");
	host_setup(&h, port, TEST_NQN_RESTRICTED, TEST_HOSTNQN);
	rpc_ok("nvmf_delete_subsystem", restricted);
	CHECK(admin_closed(&h));
	host_close(&h);
	CHECK(host_connect_admin(&h, port, TEST_NQN_RESTRICTED, TEST_HOSTNQN, 0, 32, &cqe) > 0);
	CHECK_STATUS(cqe.status & 0xfffe, NVME_SCT_COMMAND_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAMETERS);
	host_close(&h);
	/* Its bdev is free again. */
	json_object *b = rpc("bdev_get_bdevs", "{\"name\":\"R\"}", NULL);
	CHECK(b && !json_object_get_boolean(json_object_object_get(json_object_array_get_idx(b, 0), "claimed")));
	json_object_put(b);
}

/* GET /metrics: the body (malloc'd). */
static char *scrape(void)
{
	int fd = tcp_connect(metrics_port);
	CHECK(fd >= 0);
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
	CHECK(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1);
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	CHECK(buf);
	ssize_t n;
	while ((n = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	char *body = strstr(buf, "\r\n\r\n");
	CHECK(body);
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The value of the sample with exactly this name and labels, or -1. */
static long long sample(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, k) == 0 && p[k] == ' ')
			return atoll(p + k + 1);
	}
	return -1;
}

static void case_metrics(const char *port)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN);
	static uint8_t buf[4096];
	fill_pattern(buf, sizeof(buf), 3);
	CHECK(rw(h.io, NVME_OPC_WRITE, 1, 0, 8, buf, sizeof(buf), 0) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 0, 1, buf, 512, 0) == 0);
	CHECK(rw(h.io, NVME_OPC_READ, 1, 8, 1, buf, 512, 0) == 0);
	char key[512], *text = scrape();
	const char *ss = "subsystem=\"" TEST_NQN "\"";
	snprintf(key, sizeof(key), "nvmfd_controllers{%s}", ss);
	CHECK(sample(text, key) == 1);
	snprintf(key, sizeof(key), "nvmfd_io_qpairs{%s}", ss);
	CHECK(sample(text, key) == 1);
	snprintf(key, sizeof(key), "nvmfd_write_commands_total{%s,cntlid=\"%u\",hostnqn=\"%s\"}", ss, h.cntlid,
		 TEST_HOSTNQN);
	CHECK(sample(text, key) == 1);
	snprintf(key, sizeof(key), "nvmfd_read_commands_total{%s,cntlid=\"%u\",hostnqn=\"%s\"}", ss, h.cntlid,
		 TEST_HOSTNQN);
	CHECK(sample(text, key) == 2);
	snprintf(key, sizeof(key), "nvmfd_written_bytes_total{%s,cntlid=\"%u\",hostnqn=\"%s\"}", ss, h.cntlid,
		 TEST_HOSTNQN);
	CHECK(sample(text, key) == 4096);
	snprintf(key, sizeof(key), "nvmfd_read_bytes_total{%s,cntlid=\"%u\",hostnqn=\"%s\"}", ss, h.cntlid,
		 TEST_HOSTNQN);
	CHECK(sample(text, key) == 1024);
	snprintf(key, sizeof(key), "nvmfd_namespace_read_commands_total{%s,nsid=\"1\"}", ss);
	CHECK(sample(text, key) == 2);
	snprintf(key, sizeof(key), "nvmfd_namespace_written_bytes_total{%s,nsid=\"1\"}", ss);
	CHECK(sample(text, key) == 4096);
	free(text);
	host_close(&h);
}

/* A port nobody listens on now (for --metrics). */
static void pick_port(char *out, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(out, len, "%u", ntohs(sa.sin_port));
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s NVMFD CASE\n", argv[0]);
		return 2;
	}
	char dir[96];
	const char *tmpdir = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/nvmfd-rpc-XXXXXX", tmpdir && *tmpdir && strlen(tmpdir) < 48 ? tmpdir : "/tmp");
	CHECK(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/rpc.sock", dir);
	pick_port(metrics_port, sizeof(metrics_port));
	char metrics_addr[64];
	snprintf(metrics_addr, sizeof(metrics_addr), "127.0.0.1:%s", metrics_port);
	const char *args[] = {"--rpc-socket", sock_path, "--reactors", "2", "--subsystem", TEST_NQN, "--namespace",
			      "ram:1M", "--metrics", metrics_addr, NULL};
	struct target t;
	target_start(&t, argv[1], args);
	if (!strcmp(argv[2], "namespaces"))
		case_namespaces(t.port);
	else if (!strcmp(argv[2], "controllers"))
		case_controllers(t.port);
	else if (!strcmp(argv[2], "hosts"))
		case_hosts(t.port);
	else if (!strcmp(argv[2], "metrics"))
		case_metrics(t.port);
	else
		CHECK(!"unknown case");
	target_stop(&t);
	rmdir(dir);
	printf("ok - %s\n", argv[2]);
	return 0;
}
