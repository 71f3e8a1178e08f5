/*
 * nvmfd against hostile hosts, over real sockets on 127.0.0.0/8:
 *   emfile    out of file descriptors, nvmfd neither spins nor floods its log, and serves again later
 *   limits    connections over --max-connections / --max-connections-per-host are closed at once
 *   backlog   a host that pipelines commands and never reads is no longer read (admin, I/O and
 *             discovery queues): nvmfd's memory stays bounded, others are served, and every
 *             response arrives once the host reads
 *   fairness_bytes, fairness_commands
 *             a host streaming commands gets a bounded share of each reactor pass (by the read
 *             budget, by the commands per pass)
 *   blocked   queues whose hosts stopped reading cost the reactor no reads while it serves others
 *   config    the limits from the config file's "limits" object and flags (flags win); bad values refused
 * Every assertion is a count or a size; waits only bound how long the test may take.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nvmf/tcp_spec.h>

#include "target_util.h"

#define RESPONSE_LEN sizeof(struct nvme_tcp_capsule_resp)
#define COMMAND_LEN sizeof(struct nvme_tcp_capsule_cmd)

static const char *nvmfd_path;

/* ---- nvmfd's own counters ---- */

/* A "Key:  value kB" line of /proc/PID/status, in bytes. */
static long long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f);
	long long v = -1;
	size_t klen = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = atoll(line + klen + 1) * 1024;
	}
	fclose(f);
	CHECK(v >= 0);
	return v;
}

static long long rss_bytes(pid_t pid)
{
	return proc_status_kb(pid, "VmRSS");
}

/* User plus system CPU time of a stat file, in clock ticks. */
static long long stat_ticks(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	CHECK(f);
	CHECK(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15. */
	const char *p = strrchr(buf, ')');
	CHECK(p);
	unsigned long long utime = 0, stime = 0;
	CHECK(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2);
	return (long long)(utime + stime);
}

/* User plus system CPU time of process pid, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_ticks(path);
}

/* The same for its thread named comm (the first found); -1 if none. */
static long long thread_ticks(pid_t pid, const char *comm)
{
	struct target_thread th[64];
	int n = target_threads(pid, th, 64);
	for (int i = 0; i < n; i++)
		if (strcmp(th[i].comm, comm) == 0) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)th[i].tid);
			return stat_ticks(path);
		}
	return -1;
}

/* Read system calls (read, readv, ...) made so far, successful or not. */
static long long read_syscalls(pid_t pid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f);
	long long v = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "syscr:", 6) == 0)
			v = atoll(line + 6);
	}
	fclose(f);
	CHECK(v >= 0);
	return v;
}

/* ---- Raw PDUs on a connected queue's socket ---- */

static void build_command(void *pdu, const struct nvme_command *sqe)
{
	struct nvme_tcp_capsule_cmd c = {
		.ch = {.pdu_type = NVME_TCP_PDU_CAPSULE_CMD, .hlen = COMMAND_LEN, .plen = htole32(COMMAND_LEN)},
		.sqe = *sqe,
	};
	c.sqe.flags = NVME_CMD_PSDT_SGL;
	c.sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	memcpy(pdu, &c, sizeof(c));
}

/* A buffer of n copies of the command, sent round and round. */
static uint8_t *command_stream(const struct nvme_command *sqe, size_t n)
{
	uint8_t *buf = malloc(n * COMMAND_LEN);
	CHECK(buf);
	for (size_t i = 0; i < n; i++)
		build_command(buf + i * COMMAND_LEN, sqe);
	return buf;
}

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Bytes this side has sent that the peer has not yet read from its socket. */
static int unread_by_peer(int fd)
{
	int n = 0;
	CHECK(ioctl(fd, SIOCOUTQ, &n) == 0);
	return n;
}

/* Read responses (CapsuleResp PDUs) until count have come, each with status want; meanwhile
 * write the tail of a command cut short (tail_len bytes at tail) as the socket takes it. */
static void read_responses(int fd, uint64_t count, uint16_t want, const uint8_t *tail, size_t tail_len)
{
	static uint8_t buf[RESPONSE_LEN * 4096];
	size_t have = 0;
	uint64_t got = 0;
	while (got < count) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | (tail_len ? POLLOUT : 0)};
		int pr = poll(&pfd, 1, TEST_TIMEOUT_MS);
		if (pr == 0)
			fprintf(stderr, "responses: %llu of %llu arrived\n", (unsigned long long)got, (unsigned long long)count);
		CHECK(pr == 1);
		if (tail_len && (pfd.revents & POLLOUT)) {
			ssize_t w = write(fd, tail, tail_len);
			if (w > 0) {
				tail += w;
				tail_len -= (size_t)w;
			}
		}
		if (!(pfd.revents & POLLIN))
			continue;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EAGAIN)
			continue;
		CHECK(n > 0);
		have += (size_t)n;
		size_t i = 0;
		for (; i + RESPONSE_LEN <= have; i += RESPONSE_LEN) {
			const struct nvme_tcp_capsule_resp *r = (const void *)(buf + i);
			CHECK(r->ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP && r->ch.plen == htole32(RESPONSE_LEN));
			CHECK_STATUS(le16toh(r->cqe.status) & 0xfffe, NVME_STATUS_GET_SCT(want), NVME_STATUS_GET_SC(want));
			got++;
		}
		memmove(buf, buf + i, have - i);
		have -= i;
	}
	CHECK(have == 0 && tail_len == 0);
}

/* A good host: connect, run count 4 KiB reads at QD1, disconnect. */
static void good_host(const char *port, unsigned count)
{
	struct host h;
	host_setup(&h, port, TEST_NQN, TEST_HOSTNQN2);
	static uint8_t buf[4096];
	for (unsigned i = 0; i < count; i++)
		CHECK(rw(h.io, NVME_OPC_READ, 1, i % 64, 1, buf, sizeof(buf), 0) == 0);
	host_close(&h);
}

/* ---- emfile ---- */

static void case_emfile(void)
{
	char errpath[] = "/tmp/nvmfd-hardening-XXXXXX";
	int errfd = mkstemp(errpath);
	CHECK(errfd >= 0);
	unlink(errpath);
	struct sockaddr_un rpc_sa = {.sun_family = AF_UNIX};
	snprintf(rpc_sa.sun_path, sizeof(rpc_sa.sun_path), "/tmp/nvmfd-hardening-rpc-%d.sock", (int)getpid());
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "null:1G", "--reactors", "1",
			      "--rpc-socket", rpc_sa.sun_path, NULL};
	struct target t;
	/* Room for the daemon's own files and a few dozen connections. */
	target_start_ex(&t, nvmfd_path, args, errfd, 48);

	/* More connections than nvmfd has descriptors for; the rest wait in its listen backlog. */
	enum { FLOOD = 100 };
	int fds[FLOOD];
	for (int i = 0; i < FLOOD; i++)
		fds[i] = tcp_connect(t.port);
	/* An RPC client too, once nvmfd is out of descriptors: it waits in the RPC socket's
	 * backlog, which must not make the RPC thread spin either; it is answered once
	 * descriptors are free again. */
	char seen[4096] = "";
	for (int i = 0; i < 500 && !strstr(seen, "Too many open files"); i++) {
		sleep_ms(10);
		ssize_t got = pread(errfd, seen, sizeof(seen) - 1, 0);
		seen[got > 0 ? got : 0] = '\0';
	}
	CHECK(strstr(seen, "Too many open files"));
	long long rpc_ticks0 = thread_ticks(t.pid, "rpc");
	CHECK(rpc_ticks0 >= 0);
	int rpc = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(rpc >= 0 && connect(rpc, (struct sockaddr *)&rpc_sa, sizeof(rpc_sa)) == 0);
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"spdk_get_version\"}";
	CHECK(write(rpc, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
	/* Out of descriptors nvmfd must wait, not spin.  Spinning costs a core in every window
	 * (about 100 ticks a second here); an idle nvmfd costs next to nothing once it has shed
	 * the flood, which a loaded run (sanitizers, other tests) can stretch over seconds.  So:
	 * one window of the first eight must be nearly idle. */
	const int window_ms = 1000;
	long long allowed = sysconf(_SC_CLK_TCK) * window_ms / 1000 / 5, used = 0;
	for (int w = 0; w < 8; w++) {
		long long cpu0 = cpu_ticks(t.pid);
		sleep_ms(window_ms);
		used = cpu_ticks(t.pid) - cpu0;
		fprintf(stderr, "emfile: nvmfd used %lld ticks of CPU in window %d of %d ms (allowed %lld)\n", used, w,
			window_ms, allowed);
		if (used <= allowed)
			break;
	}
	CHECK(used <= allowed);
	struct stat st;
	CHECK(fstat(errfd, &st) == 0);
	fprintf(stderr, "emfile: nvmfd wrote %lld bytes to stderr\n", (long long)st.st_size);
	CHECK(st.st_size < 16384);
	char log[512] = "";
	CHECK(pread(errfd, log, sizeof(log) - 1, 0) >= 0);
	CHECK(strstr(log, "Too many open files"));

	/* Once the flood leaves, a good host is served. */
	for (int i = 0; i < FLOOD; i++)
		close(fds[i]);
	struct host h;
	int rc = -1;
	for (int i = 0; i < 100 && rc != 0; i++) {
		memset(&h, 0, sizeof(h));
		rc = host_connect_admin(&h, t.port, TEST_NQN, TEST_HOSTNQN, 0, 32, NULL);
		if (rc != 0) {
			host_close(&h);
			sleep_ms(100);
		}
	}
	CHECK(rc == 0);
	host_close(&h);
	good_host(t.port, 10);
	struct pollfd pfd = {.fd = rpc, .events = POLLIN};
	CHECK(poll(&pfd, 1, 10000) == 1);
	char resp[512] = "";
	CHECK(read(rpc, resp, sizeof(resp) - 1) > 0);
	CHECK(strstr(resp, "\"id\":7") || strstr(resp, "\"id\": 7"));
	CHECK(strstr(resp, "nvmfd"));
	/* Waiting costs the RPC thread next to nothing (ten short wake-ups a second): a spin on the
	 * backlog took a whole CPU while it lasted, 8-15 ticks even when nvmfd shed the flood fast. */
	long long rpc_ticks = thread_ticks(t.pid, "rpc") - rpc_ticks0;
	fprintf(stderr, "emfile: the RPC thread used %lld ticks of CPU while its client waited\n", rpc_ticks);
	CHECK(rpc_ticks <= 3);
	close(rpc);
	target_stop(&t);
	close(errfd);
}

/* ---- limits ---- */

/* An admin connection from source address src: true when nvmfd took it. */
static bool try_connect(struct host *h, const char *port, const char *src)
{
	memset(h, 0, sizeof(*h));
	tcp_source_addr = src;
	int rc = host_connect_admin(h, port, TEST_NQN, TEST_HOSTNQN, 0, 32, NULL);
	tcp_source_addr = NULL;
	if (rc != 0) {
		CHECK(rc < 0); /* closed by the transport, never answered with a status */
		host_close(h);
	}
	return rc == 0;
}

static void case_limits(void)
{
	char errpath[] = "/tmp/nvmfd-hardening-XXXXXX";
	int errfd = mkstemp(errpath);
	CHECK(errfd >= 0);
	unlink(errpath);
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "null:1G", "--max-connections", "5",
			      "--max-connections-per-host", "3", NULL};
	struct target t;
	target_start_ex(&t, nvmfd_path, args, errfd, 0);
	struct host h1[3], h2[2], extra;
	for (int i = 0; i < 3; i++)
		CHECK(try_connect(&h1[i], t.port, "127.0.0.1"));
	CHECK(!try_connect(&extra, t.port, "127.0.0.1")); /* per host */
	for (int i = 0; i < 2; i++)
		CHECK(try_connect(&h2[i], t.port, "127.0.0.2"));
	CHECK(!try_connect(&extra, t.port, "127.0.0.3")); /* in all */
	/* Those admitted still work. */
	uint64_t cap;
	CHECK(prop_get(h1[0].admin, NVME_REG_CAP, true, &cap) == 0);
	/* A closed connection frees its place (released once its reactor has closed it). */
	host_close(&h1[0]);
	bool in = false;
	for (int i = 0; i < 100 && !in; i++) {
		in = try_connect(&extra, t.port, "127.0.0.3");
		if (!in)
			sleep_ms(50);
	}
	CHECK(in);
	char log[4096] = "";
	CHECK(pread(errfd, log, sizeof(log) - 1, 0) > 0);
	CHECK(strstr(log, "connection limit per host reached"));
	CHECK(strstr(log, "connection limit reached"));
	host_close(&extra);
	for (int i = 1; i < 3; i++)
		host_close(&h1[i]);
	for (int i = 0; i < 2; i++)
		host_close(&h2[i]);
	target_stop(&t);
	close(errfd);
}

/* ---- backlog ---- */

/*
 * On fd (a connected queue), pipeline copies of sqe without reading until
 * nvmfd stops reading them: the socket takes nothing more for a second.
 * Fails when nvmfd's RSS grows past rss_limit first.  Returns the bytes sent.
 */
static uint64_t pipeline_until_blocked(pid_t pid, int fd, const uint8_t *stream, size_t len, long long rss_limit)
{
	size_t off = 0;
	uint64_t bytes = 0;
	set_nonblocking(fd);
	for (;;) {
		ssize_t n = write(fd, stream + off, len - off);
		if (n > 0) {
			bytes += (uint64_t)n;
			off = (off + (size_t)n) % len;
			if (bytes % (1u << 20) < (uint64_t)n) {
				long long rss = rss_bytes(pid);
				if (rss > rss_limit)
					fprintf(stderr, "backlog: nvmfd RSS %lld after %llu bytes of commands\n", rss,
						(unsigned long long)bytes);
				CHECK(rss <= rss_limit);
			}
			continue;
		}
		CHECK(n < 0 && errno == EAGAIN);
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		if (poll(&pfd, 1, 1000) == 0)
			return bytes;
	}
}

struct flood_queue {
	const char *what;
	const char *subnqn;
	bool io;
	struct nvme_command sqe;
	uint16_t status;
};

static void backlog_one(struct target *t, const struct flood_queue *q)
{
	struct host h;
	memset(&h, 0, sizeof(h));
	if (q->io) {
		host_setup(&h, t->port, q->subnqn, TEST_HOSTNQN);
	} else {
		CHECK(host_connect_admin(&h, t->port, q->subnqn, TEST_HOSTNQN, 0, 32, NULL) == 0);
		host_enable(&h);
	}
	int fd = nvmf_qpair_fd(q->io ? h.io : h.admin);
	long long rss0 = rss_bytes(t->pid);
	/* Bounds: the transmit backlog (64 KiB here) and buffers; without them it grows without end. */
	const long long bound = 32ll << 20;
	enum { BATCH = 1024 };
	uint8_t *stream = command_stream(&q->sqe, BATCH);
	uint64_t bytes = pipeline_until_blocked(t->pid, fd, stream, (size_t)BATCH * COMMAND_LEN, rss0 + bound);
	long long grown = rss_bytes(t->pid) - rss0;
	uint64_t sent = (bytes + COMMAND_LEN - 1) / COMMAND_LEN;
	fprintf(stderr, "backlog %s: %llu commands pipelined before nvmfd stopped reading; RSS grew %lld KiB\n",
		q->what, (unsigned long long)sent, grown / 1024);
	CHECK(grown <= bound);
	/* nvmfd leaves the rest unread in the socket. */
	CHECK(unread_by_peer(fd) > 0);
	/* Another host is served meanwhile. */
	good_host(t->port, 20);
	/* Reading resumes as the responses drain, to the last command (finishing one cut short). */
	size_t cut = (size_t)(bytes % COMMAND_LEN);
	read_responses(fd, sent, q->status, stream + cut, cut ? COMMAND_LEN - cut : 0);
	CHECK(unread_by_peer(fd) == 0);
	free(stream);
	host_close(&h);
}

static void case_backlog(void)
{
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "null:1G", "--reactors", "1",
			      "--tx-backlog", "64K", NULL};
	struct target t;
	target_start(&t, nvmfd_path, args);
	const struct flood_queue queues[] = {
		{"admin (Keep Alive)", TEST_NQN, false, {.opc = NVME_OPC_KEEP_ALIVE}, 0},
		{"I/O (Flush of an absent namespace)", TEST_NQN, true, {.opc = NVME_OPC_FLUSH, .nsid = 99},
		 NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NAMESPACE_OR_FORMAT)},
		{"discovery (Keep Alive)", NVME_DISCOVERY_NQN, false, {.opc = NVME_OPC_KEEP_ALIVE}, 0},
	};
	for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
		backlog_one(&t, &queues[i]);
	target_stop(&t);
}

/* ---- fairness ---- */

struct flooder {
	int fd;
	atomic_bool stop;
	atomic_ullong responses;
};

/* Stream Keep Alives as fast as the socket takes them, and read the responses. */
static void *flood_main(void *arg)
{
	struct flooder *f = arg;
	enum { BATCH = 1024 };
	const struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	uint8_t *stream = command_stream(&ka, BATCH);
	const size_t len = (size_t)BATCH * COMMAND_LEN;
	static uint8_t rbuf[1 << 16];
	size_t off = 0;
	unsigned long long rbytes = 0;
	while (!atomic_load(&f->stop)) {
		struct pollfd pfd = {.fd = f->fd, .events = POLLIN | POLLOUT};
		CHECK(poll(&pfd, 1, 100) >= 0);
		if (pfd.revents & POLLOUT) {
			ssize_t n = write(f->fd, stream + off, len - off);
			if (n > 0)
				off = (off + (size_t)n) % len;
		}
		if (pfd.revents & POLLIN) {
			ssize_t n = read(f->fd, rbuf, sizeof(rbuf));
			CHECK(n > 0 || (n < 0 && errno == EAGAIN));
			if (n > 0) {
				rbytes += (unsigned long long)n;
				atomic_store(&f->responses, rbytes / RESPONSE_LEN);
			}
		}
	}
	free(stream);
	return NULL;
}

/* One reactor with a read budget (KiB) and commands per pass (0: no limit). */
static void case_fairness(unsigned budget_kib, unsigned per_pass)
{
	char budget[32], commands[16];
	snprintf(budget, sizeof(budget), "%uK", budget_kib);
	snprintf(commands, sizeof(commands), "%u", per_pass);
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "null:1G", "--reactors", "1",
			      "--read-budget", budget, "--commands-per-pass", commands, NULL};
	struct target t;
	target_start(&t, nvmfd_path, args);
	struct host fh = {0};
	CHECK(host_connect_admin(&fh, t.port, TEST_NQN, TEST_HOSTNQN, 0, 32, NULL) == 0);
	host_enable(&fh);
	struct flooder f = {.fd = nvmf_qpair_fd(fh.admin)};
	set_nonblocking(f.fd);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, flood_main, &f) == 0);
	/* Let the stream fill the socket buffers first. */
	while (atomic_load(&f.responses) < 100000)
		sleep_ms(10);
	struct host h;
	host_setup(&h, t.port, TEST_NQN, TEST_HOSTNQN2);
	static uint8_t buf[4096];
	enum { N = 300 };
	unsigned long long r0 = atomic_load(&f.responses);
	for (unsigned i = 0; i < N; i++)
		CHECK(rw(h.io, NVME_OPC_READ, 1, i, 1, buf, sizeof(buf), 0) == 0);
	unsigned long long share = (atomic_load(&f.responses) - r0) / N;
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	/* Per good command the flooder gets a few reactor passes' worth of commands at most
	 * (a pass reads at most the budget from it and handles at most per_pass of them);
	 * generous for a loaded machine. */
	const unsigned long long passes = 64;
	unsigned long long per_pass_max = budget_kib * 1024ull / COMMAND_LEN;
	if (per_pass && per_pass < per_pass_max)
		per_pass_max = per_pass;
	unsigned long long bound = passes * per_pass_max;
	fprintf(stderr, "fairness: %llu flooder commands answered per good command (bound %llu)\n", share, bound);
	CHECK(share <= bound);
	host_close(&h);
	host_close(&fh);
	target_stop(&t);
}

/* ---- blocked ---- */

static void case_blocked(void)
{
	/* The backlog limit high enough that blocked queues still take input: only waiting for
	 * POLLOUT keeps the reactor off them. */
	const char *args[] = {"--subsystem", TEST_NQN, "--namespace", "null:1G", "--reactors", "1",
			      "--tx-backlog", "64M", NULL};
	struct target t;
	target_start(&t, nvmfd_path, args);
	enum { HOGS = 8, READS = 64, XFER = 128 * 1024 };
	struct host hogs[HOGS];
	for (int i = 0; i < HOGS; i++) {
		host_setup(&hogs[i], t.port, TEST_NQN, TEST_HOSTNQN);
		int fd = nvmf_qpair_fd(hogs[i].io);
		int small = 4096;
		CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
		/* Reads within the queue size whose data (8 MiB) is more than the sockets hold. */
		struct nvme_command rd = {.opc = NVME_OPC_READ, .nsid = 1, .cdw12 = XFER / 512 - 1};
		rd.dptr.sgl.length = htole32(XFER);
		uint8_t *stream = command_stream(&rd, READS);
		for (int c = 0; c < READS; c++)
			((struct nvme_tcp_capsule_cmd *)(stream + c * COMMAND_LEN))->sqe.cid = (uint16_t)c;
		CHECK(write(fd, stream, READS * COMMAND_LEN) == (ssize_t)(READS * COMMAND_LEN));
		free(stream);
		for (int w = 0; w < 500 && unread_by_peer(fd) > 0; w++)
			sleep_ms(10);
		CHECK(unread_by_peer(fd) == 0);
	}
	enum { N = 500 };
	long long r0 = read_syscalls(t.pid);
	good_host(t.port, N);
	long long reads = read_syscalls(t.pid) - r0;
	fprintf(stderr, "blocked: %lld read calls by nvmfd for %d commands with %d blocked queues\n", reads, N, HOGS);
	/* The good host's own reads (and its connect), nothing per blocked queue per pass. */
	CHECK(reads <= 4 * N);
	for (int i = 0; i < HOGS; i++)
		host_close(&hogs[i]);
	target_stop(&t);
}

/* ---- config ---- */

static void write_config(char *path, const char *limits)
{
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"subsystems\":[{\"nqn\":\"%s\",\"attr\":{\"allow_any_host\":\"1\"},"
		 "\"namespaces\":[{\"nsid\":1,\"device\":{\"path\":\"null:1G\"}}]}],\"limits\":%s}",
		 TEST_NQN, limits);
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
	close(fd);
}

/* Connections admitted from one address until the first refusal (at most 8). */
static int admitted_per_host(const char *port)
{
	struct host h[8];
	int n = 0;
	while (n < 8 && try_connect(&h[n], port, "127.0.0.1"))
		n++;
	for (int i = 0; i < n; i++)
		host_close(&h[i]);
	return n;
}

static void case_config(void)
{
	char path[] = "/tmp/nvmfd-limits-XXXXXX";
	write_config(path, "{\"max_connections_per_host\":1,\"read_budget\":\"32K\",\"tx_backlog\":0,"
			  "\"commands_per_pass\":64}");
	struct target t;
	const char *file_only[] = {"--config", path, NULL};
	target_start(&t, nvmfd_path, file_only);
	CHECK(admitted_per_host(t.port) == 1);
	target_stop(&t);
	const char *flag_wins[] = {"--config", path, "--max-connections-per-host", "2", NULL};
	target_start(&t, nvmfd_path, flag_wins);
	CHECK(admitted_per_host(t.port) == 2);
	target_stop(&t);
	unlink(path);

	const char *bad_flags[][3] = {
		{"--read-budget", "0", NULL},	  {"--read-budget", "100", NULL},   {"--tx-backlog", "12", NULL},
		{"--max-connections", "x", NULL}, {"--max-connections", "2M", NULL},
	};
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++)
		target_check_refused(nvmfd_path, bad_flags[i]);
	const char *bad_limits[] = {"{\"read_budget\":\"1K\"}", "{\"max_conections\":4}", "[1]",
				    "{\"commands_per_pass\":-1}"};
	for (size_t i = 0; i < sizeof(bad_limits) / sizeof(bad_limits[0]); i++) {
		char bad[] = "/tmp/nvmfd-limits-XXXXXX";
		write_config(bad, bad_limits[i]);
		const char *args[] = {"--config", bad, NULL};
		target_check_refused(nvmfd_path, args);
		unlink(bad);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s NVMFD CASE [ARG]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	nvmfd_path = argv[1];
	const char *c = argv[2];
	if (strcmp(c, "emfile") == 0)
		case_emfile();
	else if (strcmp(c, "limits") == 0)
		case_limits();
	else if (strcmp(c, "backlog") == 0)
		case_backlog();
	else if (strcmp(c, "fairness_bytes") == 0)
		case_fairness(argc > 3 ? (unsigned)atoi(argv[3]) : 16, 0);
	else if (strcmp(c, "fairness_commands") == 0)
		case_fairness(1024 * 1024, argc > 3 ? (unsigned)atoi(argv[3]) : 32);
	else if (strcmp(c, "blocked") == 0)
		case_blocked();
	else if (strcmp(c, "config") == 0)
		case_config();
	else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	return 0;
}
