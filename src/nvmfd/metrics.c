/* Prometheus metrics over HTTP: the text format, served by one thread polling its clients. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

#define METRICS_MAX_CLIENTS 16
#define METRICS_MAX_REQUEST 8192 /* request line and headers */
#define METRICS_CLIENT_MS 10000	 /* a client gets this long to ask and read */

/* ---- The text ---- */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 8192;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->failed = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

/* A label value: backslash, quote and newline escaped, as the format wants. */
static const char *label(const char *s, char *out, size_t outlen)
{
	size_t k = 0;
	for (; *s && k + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			out[k++] = '\\';
			out[k++] = *s == '\n' ? 'n' : *s;
		} else {
			out[k++] = *s;
		}
	}
	out[k] = '\0';
	return out;
}

struct ctrl_rows {
	struct text *t;
	const char *nqn; /* escaped */
	const char *metric;
	int which;
	uint64_t ctrls, io_qpairs;
};

static void ctrl_row(void *arg, const struct nvmf_ctrl_info *c)
{
	struct ctrl_rows *r = arg;
	char host[512];
	uint64_t v[] = {c->read_cmds, c->write_cmds, c->bytes_read, c->bytes_written, c->errors};
	r->ctrls++;
	r->io_qpairs += c->num_io_qpairs;
	if (r->metric)
		put(r->t, "%s{subsystem=\"%s\",cntlid=\"%u\",hostnqn=\"%s\"} %llu\n", r->metric, r->nqn, c->cntlid,
		    label(c->hostnqn, host, sizeof(host)), (unsigned long long)v[r->which]);
}

struct ns_rows {
	struct text *t;
	const char *nqn; /* escaped */
	const char *metric;
	int which;
};

static void ns_row(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_rows *r = arg;
	uint64_t v[] = {ns->read_cmds, ns->write_cmds, ns->bytes_read, ns->bytes_written};
	put(r->t, "%s{subsystem=\"%s\",nsid=\"%u\"} %llu\n", r->metric, r->nqn, ns->nsid,
	    (unsigned long long)v[r->which]);
}

/* Histogram bounds (seconds), as Prometheus wants them: cumulative counts up to each. */
static const double latency_le[] = {5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1};

/* One histogram's samples; labels is what goes inside the braces. */
static void put_latency(struct text *t, const char *metric, const char *labels, const struct nvmf_latency_snapshot *s)
{
	for (size_t i = 0; i < sizeof(latency_le) / sizeof(latency_le[0]); i++)
		put(t, "%s_bucket{%s,le=\"%g\"} %llu\n", metric, labels, latency_le[i],
		    (unsigned long long)nvmf_latency_count_le(s, (uint64_t)(latency_le[i] * 1e9)));
	put(t, "%s_bucket{%s,le=\"+Inf\"} %llu\n", metric, labels, (unsigned long long)s->count);
	put(t, "%s_sum{%s} %.9f\n", metric, labels, (double)s->sum_ns / 1e9);
	put(t, "%s_count{%s} %llu\n", metric, labels, (unsigned long long)s->count);
}

static void ns_latency_row(void *arg, const struct nvmf_ns_info *ns)
{
	struct ns_rows *r = arg;
	char labels[600];
	snprintf(labels, sizeof(labels), "subsystem=\"%s\",nsid=\"%u\"", r->nqn, ns->nsid);
	put_latency(r->t, r->metric, labels, &ns->latency);
}

static void ctrl_latency_row(void *arg, const struct nvmf_ctrl_info *c)
{
	struct ctrl_rows *r = arg;
	char host[512], labels[1200];
	snprintf(labels, sizeof(labels), "subsystem=\"%s\",cntlid=\"%u\",hostnqn=\"%s\"", r->nqn, c->cntlid,
		 label(c->hostnqn, host, sizeof(host)));
	put_latency(r->t, r->metric, labels, &c->latency);
}

static void count_ns(void *arg, const struct nvmf_ns_info *ns)
{
	(void)ns;
	(*(unsigned *)arg)++;
}

static void count_port(void *arg, uint16_t portid, const struct nvmf_port_addr *addr)
{
	(void)portid;
	(void)addr;
	(*(unsigned *)arg)++;
}

char *metrics_render(struct nvmf_tgt *tgt)
{
	static const struct {
		const char *name, *help;
	} per_ctrl[] = {
		{"nvmfd_read_commands_total", "Read commands completed, per controller."},
		{"nvmfd_write_commands_total", "Write commands completed, per controller."},
		{"nvmfd_read_bytes_total", "Bytes read, per controller."},
		{"nvmfd_written_bytes_total", "Bytes written, per controller."},
		{"nvmfd_errors_total", "Commands that completed with an error, per controller."},
	};
	struct text t = {0};
	unsigned nsubs = 0, nports = 0;
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss))
		nsubs++;
	nvmf_tgt_for_each_port(tgt, count_port, &nports);
	put(&t, "# HELP nvmfd_subsystems NVM subsystems defined.\n# TYPE nvmfd_subsystems gauge\nnvmfd_subsystems %u\n",
	    nsubs);
	put(&t, "# HELP nvmfd_listeners Ports defined.\n# TYPE nvmfd_listeners gauge\nnvmfd_listeners %u\n", nports);
	put(&t, "# HELP nvmfd_discovery_generation The discovery log's generation counter.\n"
		"# TYPE nvmfd_discovery_generation gauge\nnvmfd_discovery_generation %llu\n",
	    (unsigned long long)nvmf_tgt_genctr(tgt));

	/* Gauges per subsystem, then the counters per controller. */
	put(&t, "# HELP nvmfd_namespaces Active namespaces.\n# TYPE nvmfd_namespaces gauge\n");
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss)) {
		char nqn[512];
		unsigned n = 0;
		nvmf_subsystem_for_each_ns(ss, count_ns, &n);
		put(&t, "nvmfd_namespaces{subsystem=\"%s\"} %u\n", label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn)), n);
	}
	put(&t, "# HELP nvmfd_controllers Controllers (associations) connected.\n# TYPE nvmfd_controllers gauge\n");
	struct text qp = {0};
	put(&qp, "# HELP nvmfd_io_qpairs I/O queue pairs connected.\n# TYPE nvmfd_io_qpairs gauge\n");
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss)) {
		char nqn[512];
		struct ctrl_rows r = {.t = &t, .nqn = label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn))};
		nvmf_subsystem_for_each_ctrl(ss, ctrl_row, &r);
		put(&t, "nvmfd_controllers{subsystem=\"%s\"} %llu\n", nqn, (unsigned long long)r.ctrls);
		put(&qp, "nvmfd_io_qpairs{subsystem=\"%s\"} %llu\n", nqn, (unsigned long long)r.io_qpairs);
	}
	if (qp.buf)
		put(&t, "%s", qp.buf);
	free(qp.buf);
	t.failed |= qp.failed;
	for (size_t m = 0; m < sizeof(per_ctrl) / sizeof(per_ctrl[0]); m++) {
		put(&t, "# HELP %s %s\n# TYPE %s counter\n", per_ctrl[m].name, per_ctrl[m].help, per_ctrl[m].name);
		for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss;
		     ss = nvmf_tgt_next_subsystem(tgt, ss)) {
			char nqn[512];
			struct ctrl_rows r = {.t = &t, .nqn = label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn)),
					      .metric = per_ctrl[m].name, .which = (int)m};
			nvmf_subsystem_for_each_ctrl(ss, ctrl_row, &r);
		}
	}
	static const struct {
		const char *name, *help;
	} per_ns[] = {
		{"nvmfd_namespace_read_commands_total", "Read commands completed, per namespace."},
		{"nvmfd_namespace_write_commands_total", "Write commands completed, per namespace."},
		{"nvmfd_namespace_read_bytes_total", "Bytes read, per namespace."},
		{"nvmfd_namespace_written_bytes_total", "Bytes written, per namespace."},
	};
	for (size_t m = 0; m < sizeof(per_ns) / sizeof(per_ns[0]); m++) {
		put(&t, "# HELP %s %s\n# TYPE %s counter\n", per_ns[m].name, per_ns[m].help, per_ns[m].name);
		for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss;
		     ss = nvmf_tgt_next_subsystem(tgt, ss)) {
			char nqn[512];
			struct ns_rows r = {&t, label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn)), per_ns[m].name, (int)m};
			nvmf_subsystem_for_each_ns(ss, ns_row, &r);
		}
	}
	/* I/O command latency, arrival to answer, per namespace and per controller (each family whole). */
	put(&t, "# HELP nvmfd_namespace_io_latency_seconds I/O commands from arrival to answer, per namespace.\n"
		"# TYPE nvmfd_namespace_io_latency_seconds histogram\n");
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss)) {
		char nqn[512];
		struct ns_rows nr = {&t, label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn)), "nvmfd_namespace_io_latency_seconds", 0};
		nvmf_subsystem_for_each_ns(ss, ns_latency_row, &nr);
	}
	put(&t, "# HELP nvmfd_io_latency_seconds I/O commands from arrival to answer, per controller.\n"
		"# TYPE nvmfd_io_latency_seconds histogram\n");
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss)) {
		char nqn[512];
		struct ctrl_rows cr = {.t = &t, .nqn = label(nvmf_subsystem_nqn(ss), nqn, sizeof(nqn)), .metric = "nvmfd_io_latency_seconds"};
		nvmf_subsystem_for_each_ctrl(ss, ctrl_latency_row, &cr);
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

/* ---- HTTP ---- */

struct client {
	int fd;
	uint64_t deadline_ms;
	char in[METRICS_MAX_REQUEST];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool draining; /* answered: read what the client still sends until it closes */
};

struct metrics_server {
	struct nvmf_tgt *tgt;
	int listen_fd, stop_fd;
	pthread_t thread;
	struct client clients[METRICS_MAX_CLIENTS];
	unsigned nclients;
};

static void respond(struct client *c, const char *status, const char *type, const char *body)
{
	size_t blen = strlen(body);
	size_t cap = blen + 256;
	c->out = malloc(cap);
	if (!c->out)
		return;
	int n = snprintf(c->out, cap,
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
			 type, blen);
	memcpy(c->out + n, body, blen);
	c->out_len = (size_t)n + blen;
}

/* A complete request head is in: answer it. */
static void handle(struct metrics_server *m, struct client *c)
{
	char method[8], path[256], version[16];
	if (sscanf(c->in, "%7s %255s %15s", method, path, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
		respond(c, "400 Bad Request", "text/plain", "bad request\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond(c, "405 Method Not Allowed", "text/plain", "GET /metrics\n");
		return;
	}
	if (strcmp(path, "/metrics") != 0) {
		respond(c, "404 Not Found", "text/plain", "GET /metrics\n");
		return;
	}
	char *body = metrics_render(m->tgt);
	if (!body) {
		respond(c, "500 Internal Server Error", "text/plain", "out of memory\n");
		return;
	}
	respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", strcmp(method, "HEAD") ? body : "");
	free(body);
}

/* Read; false when the client is finished with (closed or refused). */
static bool client_read(struct metrics_server *m, struct client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		return false;
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
		handle(m, c);
	else if (c->in_len == sizeof(c->in) - 1)
		respond(c, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
	return true;
}

static bool client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_off += (size_t)n;
	}
	/* Connection: close.  Closing with unread input would reset the
	 * connection and could lose the answer: half-close, drain, then close. */
	shutdown(c->fd, SHUT_WR);
	c->draining = true;
	return true;
}

static bool client_drain(struct client *c)
{
	char junk[4096];
	ssize_t n;
	while ((n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static void drop(struct metrics_server *m, unsigned i)
{
	close(m->clients[i].fd);
	free(m->clients[i].out);
	m->clients[i] = m->clients[--m->nclients];
}

static void *metrics_main(void *arg)
{
	struct metrics_server *m = arg;
	struct pollfd pfds[METRICS_MAX_CLIENTS + 2];
	for (;;) {
		pfds[0] = (struct pollfd){.fd = m->stop_fd, .events = POLLIN};
		pfds[1] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
		for (unsigned i = 0; i < m->nclients; i++)
			pfds[i + 2] = (struct pollfd){.fd = m->clients[i].fd,
						      .events = m->clients[i].out && !m->clients[i].draining ? POLLOUT : POLLIN};
		unsigned n = m->nclients;
		if (poll(pfds, n + 2, n ? 1000 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pfds[0].revents)
			return NULL;
		uint64_t now = nvmf_now_ms();
		for (unsigned i = n; i-- > 0;) {
			struct client *c = &m->clients[i];
			if (now > c->deadline_ms) {
				drop(m, i); /* idle or too slow: its slot serves others */
				continue;
			}
			if (!pfds[i + 2].revents)
				continue;
			bool keep = c->draining ? client_drain(c) : c->out ? client_write(c) : client_read(m, c);
			if (keep && c->out && !c->draining)
				keep = client_write(c);
			if (!keep)
				drop(m, i);
		}
		if (pfds[1].revents & POLLIN) {
			int fd;
			while ((fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
				if (m->nclients == METRICS_MAX_CLIENTS) {
					close(fd); /* scrapers come one at a time; the rest wait for their turn */
					continue;
				}
				m->clients[m->nclients++] = (struct client){.fd = fd, .deadline_ms = now + METRICS_CLIENT_MS};
			}
		}
	}
}

struct metrics_server *metrics_start(struct nvmf_tgt *tgt, struct nvmf_port_addr *addr, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = addr->adrfam == NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(addr->traddr, addr->trsvcid, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "metrics %s:%s: %s", addr->traddr, addr->trsvcid, gai_strerror(rc));
		return NULL;
	}
	struct metrics_server *m = calloc(1, sizeof(*m));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!m || fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "metrics on %s:%s: %s", addr->traddr, addr->trsvcid, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		free(m);
		return NULL;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
							 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%u", port);
	}
	m->tgt = tgt;
	m->listen_fd = fd;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0 || (rc = pthread_create(&m->thread, NULL, metrics_main, m)) != 0) {
		snprintf(err, errlen, "metrics thread: %s", strerror(m->stop_fd < 0 ? errno : rc));
		if (m->stop_fd >= 0)
			close(m->stop_fd);
		close(fd);
		free(m);
		return NULL;
	}
	pthread_setname_np(m->thread, "metrics");
	return m;
}

void metrics_stop(struct metrics_server *m)
{
	if (!m)
		return;
	uint64_t one = 1;
	ssize_t n = write(m->stop_fd, &one, sizeof(one));
	(void)n;
	pthread_join(m->thread, NULL);
	while (m->nclients)
		drop(m, 0);
	close(m->listen_fd);
	close(m->stop_fd);
	free(m);
}
