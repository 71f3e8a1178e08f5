/*
 * rpc: nvmfd's JSON-RPC management socket (src/nvmfd/rpc_*.c) on any byte
 * stream.  The input is what a client sends, cut into pieces where the input's
 * hash says; the real server runs on its own thread and Unix socket, with a
 * target, a bdev registry and every method.  Backends are replaced at link
 * time (--wrap): a bdev on any spec becomes a null device (a "ram:"/"null:"
 * size is kept, up to 1 GiB) and listeners open no socket, so the fuzzer can
 * neither bind ports nor open files nor pin memory.
 * Invariants: no crash, leak or hang; every answer is one line of JSON-RPC 2.0
 * (an object with "jsonrpc":"2.0", an "id" and exactly one of "result" and
 * "error", whose code is negative; or a non-empty batch of such objects); after
 * a Parse error nothing more is answered and the server closes the connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctrl/target.h"
#include "util/size.h"
#include "fuzz.h"
#include "nvmfd/acceptor.h"
#include "nvmfd/bdev_registry.h"
#include "nvmfd/rpc.h"

struct nvmf_bdev *__wrap_nvmf_bdev_open(const char *spec, uint32_t block_size, char *err, size_t errlen);
struct nvmf_bdev *__real_nvmf_bdev_open(const char *spec, uint32_t block_size, char *err, size_t errlen);
int __wrap_acceptor_unlisten(struct acceptor *a, uint16_t portid);

struct nvmf_bdev *__wrap_nvmf_bdev_open(const char *spec, uint32_t block_size, char *err, size_t errlen)
{
	char null_spec[64] = "null:1M";
	if (strncmp(spec, "ram:", 4) == 0 || strncmp(spec, "null:", 5) == 0) {
		uint64_t size;
		if (nvmf_parse_size(strchr(spec, ':') + 1, &size) == 0 && size > (1ull << 30)) {
			snprintf(err, errlen, "over the harness's 1 GiB");
			return NULL;
		}
		snprintf(null_spec, sizeof(null_spec), "null:%s", strchr(spec, ':') + 1);
	}
	return __real_nvmf_bdev_open(null_spec, block_size, err, errlen);
}

int __wrap_acceptor_unlisten(struct acceptor *a, uint16_t portid)
{
	(void)a, (void)portid;
	return 0;
}

/* What came back on the client's socket. */
struct answers {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
};

static void receive(void *arg)
{
	struct answers *a = arg;
	for (;;) {
		if (a->cap - a->len < 4096) {
			a->cap = a->cap ? a->cap * 2 : 65536;
			a->buf = realloc(a->buf, a->cap);
			FUZZ_CHECK(a->buf);
		}
		ssize_t n = recv(a->fd, a->buf + a->len, a->cap - a->len, MSG_DONTWAIT);
		if (n > 0) {
			a->len += (size_t)n;
			continue;
		}
		if (n == 0)
			a->eof = true;
		return;
	}
}

/* The socket is full: let the server thread move, taking its answers. */
static void wait_and_receive(void *arg)
{
	struct answers *a = arg;
	struct pollfd p = {.fd = a->fd, .events = POLLIN | POLLOUT};
	poll(&p, 1, 10);
	receive(a);
}

/* Wait for the server to answer and close; false after 10 s (a hang). */
static bool receive_until_eof(struct answers *a)
{
	for (int waited = 0; !a->eof; waited++) {
		struct pollfd p = {.fd = a->fd, .events = POLLIN};
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			return false;
		receive(a);
		if (waited > 100 && !a->eof)
			return false;
	}
	return true;
}

static void check_response(json_object *r)
{
	FUZZ_CHECK(json_object_is_type(r, json_type_object));
	json_object *v, *result = NULL, *error = NULL;
	FUZZ_CHECK(json_object_object_get_ex(r, "jsonrpc", &v) && strcmp(json_object_get_string(v), "2.0") == 0);
	FUZZ_CHECK(json_object_object_get_ex(r, "id", &v));
	bool has_result = json_object_object_get_ex(r, "result", &result);
	bool has_error = json_object_object_get_ex(r, "error", &error);
	FUZZ_CHECK(has_result != has_error);
	if (has_error) {
		FUZZ_CHECK(json_object_object_get_ex(error, "code", &v) && json_object_is_type(v, json_type_int));
		FUZZ_CHECK(json_object_get_int64(v) < 0);
		FUZZ_CHECK(json_object_object_get_ex(error, "message", &v) && json_object_is_type(v, json_type_string));
	}
}

/* Each line one answer; a Parse error is the last. */
static void check_answers(const struct answers *a)
{
	size_t off = 0;
	unsigned n = 0;
	bool parse_error = false;
	FUZZ_CHECK(a->len == 0 || a->buf[a->len - 1] == '\n');
	while (off < a->len) {
		const char *nl = memchr(a->buf + off, '\n', a->len - off);
		size_t line = (size_t)(nl - (a->buf + off));
		FUZZ_CHECK(!parse_error);
		json_tokener *tok = json_tokener_new();
		FUZZ_CHECK(tok);
		json_object *r = json_tokener_parse_ex(tok, a->buf + off, (int)line);
		FUZZ_CHECK(r && json_tokener_get_parse_end(tok) == line);
		json_tokener_free(tok);
		if (json_object_is_type(r, json_type_array)) {
			FUZZ_CHECK(json_object_array_length(r) > 0);
			for (size_t i = 0; i < json_object_array_length(r); i++)
				check_response(json_object_array_get_idx(r, i));
		} else {
			check_response(r);
			json_object *e, *c;
			if (json_object_object_get_ex(r, "error", &e) && json_object_object_get_ex(e, "code", &c) &&
			    json_object_get_int(c) == RPC_PARSE_ERROR)
				parse_error = true;
		}
		json_object_put(r);
		off += line + 1;
		n++;
	}
	if (fuzz_verbose())
		fprintf(stderr, "rpc: %u answers%s\n", n, parse_error ? ", the last a parse error" : "");
}

static const char *socket_path(void)
{
	static char path[108];
	if (!path[0]) {
		const char *dir = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/nvmf-fuzz-rpc.%d.sock", dir && *dir ? dir : "/tmp", (int)getpid());
	}
	return path;
}

int fuzz_one(const uint8_t *data, size_t len)
{
	struct nvmf_tgt *tgt = nvmf_tgt_create();
	struct bdev_registry *bdevs = bdev_registry_create();
	FUZZ_CHECK(tgt && bdevs);
	struct rpc_ctx ctx = {.tgt = tgt, .bdevs = bdevs};
	char err[256];
	struct rpc_server *server = rpc_server_start(socket_path(), &ctx, err, sizeof(err));
	if (!server) {
		fprintf(stderr, "rpc: %s\n", err);
		abort();
	}

	struct answers a = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, socket_path());
	FUZZ_CHECK(a.fd >= 0 && connect(a.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	struct fuzz_splitter sp;
	fuzz_split_init(&sp, data, len);
	size_t off = 0;
	while (off < len && !a.eof) {
		size_t n = fuzz_split_next(&sp, len - off);
		/* A closed connection (a parse error) takes no more. */
		if (!fuzz_write_all(a.fd, data + off, n, wait_and_receive, &a))
			break;
		off += n;
		receive(&a);
	}
	shutdown(a.fd, SHUT_WR);
	FUZZ_CHECK(receive_until_eof(&a));
	check_answers(&a);

	close(a.fd);
	free(a.buf);
	rpc_server_stop(server);
	nvmf_tgt_destroy(tgt);
	bdev_registry_destroy(bdevs);
	return 0;
}
