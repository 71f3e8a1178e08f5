/*
 * The JSON-RPC server: a Unix socket, requests framed as SPDK frames them
 * (one JSON value after another, no length prefix; a batch is an array),
 * answered in order on a thread of its own.  A value that does not parse
 * gets "Parse error" and the connection is closed, as SPDK does: a stream
 * has no point to resynchronise at.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "util/clock.h"
#include "util/ratelimit.h"

#define RPC_MAX_CLIENTS 64 /* as SPDK */
#define RPC_MAX_PENDING_OUT (64u << 20) /* a client that never reads is dropped */

struct rpc_client {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool closing; /* flush what is queued, then close */
};

struct rpc_server {
	struct rpc_ctx *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_fd;
	pthread_t thread;
	struct rpc_client clients[RPC_MAX_CLIENTS];
	unsigned nclients;
	json_tokener *tok;
	/* Out of descriptors: the listener is left out of poll() until then (0: not paused). */
	uint64_t listen_paused_until_ms;
	struct nvmf_ratelimit accept_log;
};

/* How long the listener rests after accept() ran out of descriptors or memory. */
#define RPC_ACCEPT_PAUSE_MS 100

/* ---- Methods ---- */

static const struct rpc_method *const method_tables[] = {rpc_framework_methods, rpc_nvmf_methods, rpc_listener_methods,
							 rpc_ctrl_methods, rpc_bdev_methods};

const struct rpc_method *rpc_find_method(const char *name)
{
	for (size_t t = 0; t < sizeof(method_tables) / sizeof(method_tables[0]); t++) {
		for (const struct rpc_method *m = method_tables[t]; m->name; m++) {
			if (strcmp(m->name, name) == 0)
				return m;
		}
	}
	return NULL;
}

void rpc_for_each_method(void (*cb)(void *arg, const char *name), void *arg)
{
	for (size_t t = 0; t < sizeof(method_tables) / sizeof(method_tables[0]); t++) {
		for (const struct rpc_method *m = method_tables[t]; m->name; m++)
			cb(arg, m->name);
	}
}

json_object *rpc_invoke(struct rpc_ctx *ctx, const char *method, json_object *params, struct rpc_error *err)
{
	const struct rpc_method *m = rpc_find_method(method);
	if (!m)
		return rpc_fail(err, RPC_METHOD_NOT_FOUND, "Method not found", "no method '%s'", method);
	/* Our methods all take named parameters. */
	if (params && !json_object_is_type(params, json_type_object))
		return rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "parameters must be an object");
	err->code = 0;
	json_object *res = m->fn(ctx, params, err);
	if (!res && err->code == 0)
		rpc_fail(err, RPC_INTERNAL_ERROR, "Internal error", "%s failed", method);
	return res;
}

/* ---- Requests ---- */

static json_object *response(json_object *id, json_object *result, const struct rpc_error *err)
{
	json_object *r = json_object_new_object();
	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(r, "id", id ? json_object_get(id) : NULL);
	if (result) {
		json_object_object_add(r, "result", result);
	} else {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_int(err->code));
		json_object_object_add(e, "message", json_object_new_string(err->message));
		if (err->data[0])
			json_object_object_add(e, "data", json_object_new_string(err->data));
		json_object_object_add(r, "error", e);
	}
	return r;
}

static json_object *error_response(json_object *id, int code, const char *message)
{
	struct rpc_error e;
	rpc_fail(&e, code, message, NULL);
	return response(id, NULL, &e);
}

/* One request object; NULL when it is a notification (no response). */
static json_object *handle_single(struct rpc_ctx *ctx, json_object *req)
{
	if (!json_object_is_type(req, json_type_object))
		return error_response(NULL, RPC_INVALID_REQUEST, "Invalid request");
	json_object *version = NULL, *method = NULL, *params = NULL, *id = NULL;
	bool has_id = false, bad = false;
	json_object_object_foreach(req, key, val) {
		if (strcmp(key, "jsonrpc") == 0)
			version = val;
		else if (strcmp(key, "method") == 0)
			method = val;
		else if (strcmp(key, "params") == 0)
			params = val;
		else if (strcmp(key, "id") == 0)
			id = val, has_id = true;
		else
			bad = true; /* SPDK's decoder refuses unknown members */
	}
	if (has_id && id && !json_object_is_type(id, json_type_string) && !json_object_is_type(id, json_type_int) &&
	    !json_object_is_type(id, json_type_double)) {
		id = NULL;
		bad = true;
	}
	if (version && (!json_object_is_type(version, json_type_string) ||
			strcmp(json_object_get_string(version), "2.0") != 0))
		bad = true;
	if (!method || !json_object_is_type(method, json_type_string))
		bad = true;
	if (params && !json_object_is_type(params, json_type_object) && !json_object_is_type(params, json_type_array))
		bad = true;
	if (bad)
		return error_response(id, RPC_INVALID_REQUEST, "Invalid request");

	struct rpc_error err = {0};
	json_object *result = rpc_invoke(ctx, json_object_get_string(method), params, &err);
	if (!has_id) {
		json_object_put(result);
		return NULL;
	}
	if (result == NULL && err.code == 0)
		rpc_fail(&err, RPC_INTERNAL_ERROR, "Internal error", NULL);
	return response(id, result, &err);
}

/* A parsed value: an object or a batch.  NULL when nothing is to be sent. */
static json_object *handle_value(struct rpc_ctx *ctx, json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return handle_single(ctx, v);
	size_t n = json_object_array_length(v);
	if (n == 0)
		return error_response(NULL, RPC_INVALID_REQUEST, "Invalid request");
	json_object *out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *r = handle_single(ctx, json_object_array_get_idx(v, i));
		if (r)
			json_object_array_add(out, r);
	}
	if (json_object_array_length(out) == 0) {
		json_object_put(out);
		return NULL;
	}
	return out;
}

/* ---- Clients ---- */

static int queue_out(struct rpc_client *c, json_object *r)
{
	const char *s = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s);
	if (c->out_len - c->out_off + len + 1 > RPC_MAX_PENDING_OUT)
		return -1;
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len + 1)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p)
			return -1;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

static void send_value(struct rpc_client *c, json_object *r)
{
	if (r && queue_out(c, r) < 0)
		c->closing = true, c->out_len = c->out_off = 0;
	json_object_put(r);
}

/* Answer every complete value in the input buffer. */
static void process_input(struct rpc_server *s, struct rpc_client *c)
{
	size_t off = 0;
	while (!c->closing) {
		while (off < c->in_len && strchr(" \t\r\n", c->in[off]) && c->in[off])
			off++;
		if (off == c->in_len)
			break;
		json_tokener_reset(s->tok);
		json_object *v = json_tokener_parse_ex(s->tok, c->in + off, (int)(c->in_len - off));
		enum json_tokener_error e = json_tokener_get_error(s->tok);
		if (!v && e == json_tokener_continue) {
			if (c->in_len - off >= RPC_MAX_REQUEST) {
				/* SPDK cannot take it either; it is not JSON we will ever finish. */
				send_value(c, error_response(NULL, RPC_PARSE_ERROR, "Parse error"));
				c->closing = true;
			}
			break;
		}
		if (e != json_tokener_success) {
			send_value(c, error_response(NULL, RPC_PARSE_ERROR, "Parse error"));
			c->closing = true;
			break;
		}
		size_t used = json_tokener_get_parse_end(s->tok);
		if (used > RPC_MAX_REQUEST) {
			json_object_put(v);
			send_value(c, error_response(NULL, RPC_PARSE_ERROR, "Parse error"));
			c->closing = true;
			break;
		}
		/* A bare scalar (e.g. "null") parses but is no request. */
		send_value(c, handle_value(s->ctx, v));
		json_object_put(v);
		off += used;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void client_free(struct rpc_client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
}

/* Read what is there; false when the client is gone. */
static bool client_read(struct rpc_server *s, struct rpc_client *c)
{
	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
			if (cap > RPC_MAX_REQUEST + 65536)
				cap = RPC_MAX_REQUEST + 65536;
			if (cap <= c->in_cap) {
				/* Over the limit without a complete value. */
				process_input(s, c);
				return !c->closing || c->out_len > c->out_off;
			}
			char *p = realloc(c->in, cap);
			if (!p)
				return false;
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			process_input(s, c);
			if (c->closing)
				return c->out_len > c->out_off;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		if (n < 0)
			return false;
		/* EOF: half a request is dropped, as SPDK does; answers already
		 * due still go out, for a client that shut down only its sending side. */
		c->closing = true;
		return c->out_len > c->out_off;
	}
}

/* Send what is queued; false on a dead peer. */
static bool client_write(struct rpc_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

/*
 * Poll the stop event, the listener and every client for up to timeout_ms; serve the
 * clients that are ready. Returns the listener's revents, or -1 when told to stop.
 */
static int serve_clients(struct rpc_server *s, int timeout_ms)
{
	struct pollfd pfds[RPC_MAX_CLIENTS + 2];
	pfds[0] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
	pfds[1] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
	if (s->listen_paused_until_ms) {
		uint64_t now = nvmf_clock_ms();
		if (now < s->listen_paused_until_ms) {
			/* A pending connection would wake every poll while accept() cannot take it. */
			pfds[1].fd = -1;
			int rest = (int)(s->listen_paused_until_ms - now);
			if (timeout_ms < 0 || rest < timeout_ms)
				timeout_ms = rest;
		} else {
			s->listen_paused_until_ms = 0;
		}
	}
	for (unsigned i = 0; i < s->nclients; i++) {
		struct rpc_client *c = &s->clients[i];
		short ev = c->closing ? 0 : POLLIN;
		if (c->out_len > c->out_off)
			ev |= POLLOUT;
		pfds[i + 2] = (struct pollfd){.fd = c->fd, .events = ev};
	}
	unsigned n = s->nclients;
	if (poll(pfds, n + 2, timeout_ms) < 0) {
		if (errno == EINTR)
			return 0;
		perror("nvmfd: rpc poll");
		return -1;
	}
	if (pfds[0].revents)
		return -1;
	/* Walk backwards: a closed client is replaced by the last one. */
	for (unsigned i = n; i-- > 0;) {
		struct rpc_client *c = &s->clients[i];
		bool alive = true;
		short re = pfds[i + 2].revents;
		if (re & (POLLIN | POLLHUP | POLLERR))
			alive = c->closing ? (re & POLLIN) == 0 && !(re & (POLLHUP | POLLERR)) : client_read(s, c);
		if (alive)
			alive = client_write(c);
		if (alive && c->closing && c->out_len == c->out_off)
			alive = false;
		if (!alive) {
			client_free(c);
			s->clients[i] = s->clients[--s->nclients];
		}
	}
	return pfds[1].revents;
}

/* Returns false when told to stop. */
static bool accept_clients(struct rpc_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			int e = errno;
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
				/* The connection stays in the backlog until there is room; meanwhile, no spin. */
				s->listen_paused_until_ms = nvmf_clock_ms() + RPC_ACCEPT_PAUSE_MS;
				if (nvmf_ratelimit_allow(&s->accept_log, 1))
					fprintf(stderr, "nvmfd: rpc accept: %s: RPC clients wait\n", strerror(e));
			}
			return true;
		}
		/*
		 * At the limit, first reap clients that have gone since the last poll: a script
		 * that closes one connection and opens the next (as rpc.py does per call) must
		 * not find its own closed connection still counted.
		 */
		if (s->nclients == RPC_MAX_CLIENTS && serve_clients(s, 0) < 0) {
			close(fd);
			return false;
		}
		if (s->nclients == RPC_MAX_CLIENTS) {
			close(fd); /* SPDK likewise closes connections over its limit */
			continue;
		}
		s->clients[s->nclients++] = (struct rpc_client){.fd = fd};
	}
}

static void *server_main(void *arg)
{
	struct rpc_server *s = arg;
	for (;;) {
		int listen_events = serve_clients(s, -1);
		if (listen_events < 0)
			return NULL;
		if ((listen_events & POLLIN) && !accept_clients(s))
			return NULL;
	}
}

/* ---- Start, stop ---- */

/* A socket file someone still answers on is in use; a dead one is stale. */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

struct rpc_server *rpc_server_start(const char *path, struct rpc_ctx *ctx, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "RPC socket path '%s' is too long", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	struct rpc_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	strcpy(s->path, path);
	s->listen_fd = s->stop_fd = -1;
	s->tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (s->tok)
		json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!s->tok || s->stop_fd < 0 || s->listen_fd < 0) {
		snprintf(err, errlen, "RPC socket: %s", strerror(errno));
		goto fail;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || socket_alive(&sa)) {
			snprintf(err, errlen, "RPC socket %s is in use (another nvmfd?)", path);
			goto fail;
		}
		unlink(path);
	}
	/* Created 0600: only the owner manages the target. */
	mode_t old = umask(0177);
	int rc = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(s->listen_fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "RPC socket %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = pthread_create(&s->thread, NULL, server_main, s);
	if (rc) {
		unlink(path);
		snprintf(err, errlen, "RPC thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(s->thread, "rpc");
	return s;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->tok)
		json_tokener_free(s->tok);
	free(s);
	return NULL;
}

void rpc_server_stop(struct rpc_server *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	ssize_t n = write(s->stop_fd, &one, sizeof(one));
	(void)n;
	pthread_join(s->thread, NULL);
	for (unsigned i = 0; i < s->nclients; i++)
		client_free(&s->clients[i]);
	close(s->listen_fd);
	close(s->stop_fd);
	unlink(s->path);
	json_tokener_free(s->tok);
	free(s);
}
