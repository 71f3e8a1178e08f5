/*
 * Loopback TCP ping-pong: what this machine's sockets can do, as a yardstick
 * for the transport.  The client sends 64-byte requests, the server answers
 * each with 4096 bytes; 1 or 32 requests in flight, receivers busy-polling
 * (MSG_DONTWAIT) or blocking.  Client on CPU 1, server on CPU 0.
 * Both sides batch: every request (response) that is due goes out in one send().
 *
 * usage: pingpong [-t seconds] [--json]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ 64
#define RESP 4096
#define MAX_DEPTH 32

struct mode {
	const char *name;
	int depth;
	bool busy;
};

struct result {
	double tps, mean_us, p50_us, p99_us;
	uint64_t n;
};

static bool pin_ok;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	if (!pin_ok)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) /* 0: the calling thread */
		perror("sched_setaffinity");
}

/* Receive what is there (at least 1 byte); busy spins on EAGAIN. 0 at EOF. */
static ssize_t rx(int fd, void *buf, size_t len, bool busy)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, busy ? MSG_DONTWAIT : 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die("recv");
	}
}

static void tx(int fd, const void *buf, size_t len, bool busy)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, (busy ? MSG_DONTWAIT : 0) | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			die("send");
		}
		p += n;
		len -= (size_t)n;
	}
}

struct server_arg {
	int lfd;
	bool busy;
};

/* Answer every complete request; stop at EOF. */
static void *server(void *p)
{
	struct server_arg *a = p;
	static char in[MAX_DEPTH * REQ * 4];
	static char out[MAX_DEPTH * 4 * RESP];
	size_t have = 0;

	pin(0);
	int fd = accept(a->lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(out, 0xab, sizeof(out));
	for (;;) {
		ssize_t n = rx(fd, in + have, sizeof(in) - have, a->busy);
		if (n == 0)
			break;
		have += (size_t)n;
		size_t k = have / REQ;
		if (k) {
			tx(fd, out, k * RESP, a->busy);
			memmove(in, in + k * REQ, have - k * REQ);
			have -= k * REQ;
		}
	}
	close(fd);
	return NULL;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

static struct result run(const struct mode *m, double seconds)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl))
		die("listen");
	struct server_arg sarg = {lfd, m->busy};
	pthread_t th;
	if (pthread_create(&th, NULL, server, &sarg))
		die("pthread_create");

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	size_t cap = 1 << 20, n = 0;
	uint32_t *lat = malloc(cap * sizeof(*lat)); /* round trips, ns */
	if (!lat)
		die("malloc");
	static char req[MAX_DEPTH * REQ], buf[256 * 1024];
	uint64_t sent_at[MAX_DEPTH]; /* FIFO: responses come back in order */
	unsigned head = 0, inflight = 0;
	size_t partial = 0;
	memset(req, 0x5a, sizeof(req));

	const uint64_t start = now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
	uint64_t t = start;
	for (int i = 0; i < m->depth; i++)
		sent_at[i] = t;
	tx(fd, req, (size_t)m->depth * REQ, m->busy);
	inflight = (unsigned)m->depth;
	while (inflight) {
		ssize_t r = rx(fd, buf, sizeof(buf), m->busy);
		if (r == 0)
			break;
		partial += (size_t)r;
		unsigned done = (unsigned)(partial / RESP);
		partial %= RESP;
		if (!done)
			continue;
		t = now_ns();
		for (unsigned i = 0; i < done; i++) {
			if (n == cap) {
				cap *= 2;
				lat = realloc(lat, cap * sizeof(*lat));
				if (!lat)
					die("realloc");
			}
			uint64_t d = t - sent_at[head];
			lat[n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			head = (head + 1) % MAX_DEPTH;
		}
		inflight -= done;
		if (t < deadline) { /* refill; the slots just freed sit behind the tail */
			for (unsigned i = 0; i < done; i++)
				sent_at[(head + inflight + i) % MAX_DEPTH] = t;
			tx(fd, req, (size_t)done * REQ, m->busy);
			inflight += done;
		}
	}
	const uint64_t end = now_ns();
	close(fd);
	pthread_join(th, NULL);
	close(lfd);

	struct result res = {.n = n};
	if (n) {
		double sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += lat[i];
		qsort(lat, n, sizeof(*lat), cmp_u32);
		res.tps = n / ((end - start) / 1e9);
		res.mean_us = sum / n / 1e3;
		res.p50_us = lat[n / 2] / 1e3;
		res.p99_us = lat[(size_t)(n * 0.99)] / 1e3;
	}
	free(lat);
	return res;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: %s [-t seconds] [--json]\n", argv[0]);
			return 2;
		}
	}
	if (!(seconds > 0))
		seconds = 3;

	/* Pin only when CPUs 0 and 1 are both ours. */
	cpu_set_t set;
	pin_ok = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
	pin(1);

	static const struct mode modes[] = {
		{"qd1-busy", 1, true},
		{"qd1-block", 1, false},
		{"qd32-busy", 32, true},
		{"qd32-block", 32, false},
	};
	const int nm = sizeof(modes) / sizeof(modes[0]);
	if (json)
		printf("{\"seconds\": %g, \"pinned\": %s, \"request\": %d, \"response\": %d, \"modes\": [", seconds,
		       pin_ok ? "true" : "false", REQ, RESP);
	for (int i = 0; i < nm; i++) {
		struct result r = run(&modes[i], seconds);
		if (json)
			printf("%s\n  {\"mode\": \"%s\", \"in_flight\": %d, \"busy_poll\": %s, \"transactions\": %llu, "
			       "\"tps\": %.0f, \"mean_us\": %.2f, \"p50_us\": %.2f, \"p99_us\": %.2f}",
			       i ? "," : "", modes[i].name, modes[i].depth, modes[i].busy ? "true" : "false",
			       (unsigned long long)r.n, r.tps, r.mean_us, r.p50_us, r.p99_us);
		else
			printf("%-10s in_flight=%-2d %s  %10.0f transactions/s  mean %8.2f us  p50 %8.2f us  p99 %8.2f us\n",
			       modes[i].name, modes[i].depth, modes[i].busy ? "busy-poll" : "blocking ", r.tps, r.mean_us,
			       r.p50_us, r.p99_us);
		fflush(stdout);
	}
	if (json)
		printf("\n]}\n");
	return 0;
}
