/*
 * nvmf perf: a load generator in the manner of spdk_nvme_perf.
 * Each thread owns one I/O queue pair and busy-polls it: submit a batch,
 * flush once, then process completions and resubmit from the callbacks
 * (the transport flushes at the end of each process call).
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "histogram.h"
#include "util/clock.h"

enum workload { W_READ, W_WRITE, W_RANDREAD, W_RANDWRITE, W_RANDRW, W_RW };

enum { OPT_NSID = CMD_OPT_BASE, OPT_VERIFY, OPT_QPT, OPT_WAIT, OPT_RATE };

struct perf_args {
	uint32_t depth, io_size, read_pct, seconds, threads, nsid, qpt;
	uint64_t count;
	uint64_t core_mask;
	enum workload w;
	bool have_w, have_pct, verify;
	bool wait; /* sleep in poll() when nothing completed, rather than spin */
	uint32_t rate; /* I/Os started per second per thread (0: as fast as completions allow) */
};

struct perf;

struct task {
	struct worker *w;
	struct nvmf_host_qpair *qp;
	uint8_t *buf;  /* data written, or read into */
	bool buf_shared; /* buf came from nvmf_host_io_buffer(): the controller owns it */
	uint8_t *vbuf; /* verify: the pattern expected back */
	uint64_t lba;
	uint64_t start_ns;
	uint64_t due_ns; /* --rate: when it may start */
	unsigned slot; /* verify: this task's index among all tasks (disjoint LBAs) */
	bool is_read;
	bool verify_read; /* the read half of a verify pair */
};

struct worker {
	pthread_t th;
	struct perf *p;
	struct nvmf_host_qpair **qps;
	unsigned nqp;
	unsigned id;
	struct task *tasks;
	struct task **deferred; /* refused with -EBUSY: resubmitted after the next completions */
	unsigned ndeferred;
	/* --rate: tasks waiting for their start time, in start order (a ring of depth entries). */
	struct task **paced;
	unsigned paced_head, npaced;
	uint64_t next_start_ns;
	uint64_t polls, busy_polls;
	struct hist hist;
	_Atomic uint64_t ios;
	_Atomic uint64_t bytes;
	uint64_t reads, writes;
	uint64_t errors, miscompares;
	uint64_t quota; /* units left to start, UINT64_MAX without -n */
	uint64_t seq_next, seq_end, seq_begin;
	uint64_t rng;
	uint64_t last_progress_ns;
	unsigned inflight;
	uint64_t cpu_ns;
	double elapsed_s;
	bool failed;
	char err[1024];
	_Atomic bool done;
};

struct perf {
	struct perf_args a;
	struct nvmf_host_ns_info ns;
	uint32_t nlb;
	uint64_t nslots; /* I/O-sized slots in the namespace */
	unsigned total_tasks;
	uint64_t seed;
	int timeout_ms;
	_Atomic bool stop;
	struct worker *workers;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Each block carries its LBA and the run's seed, then words derived from both. */
static void fill_pattern(uint8_t *buf, uint64_t lba, uint32_t nlb, uint32_t bs, uint64_t seed)
{
	for (uint32_t b = 0; b < nlb; b++) {
		uint64_t *w = (uint64_t *)(buf + (size_t)b * bs);
		uint64_t l = lba + b;
		w[0] = l;
		w[1] = seed;
		for (size_t k = 2; k < bs / 8; k++)
			w[k] = (l * 0x9E3779B97F4A7C15ull) ^ (seed + k);
	}
}

static void io_done(void *arg, const struct nvmf_host_completion *cpl);
static void worker_fail(struct worker *w, const char *fmt, const char *detail);

/* Submit t as set up; a full queue defers it rather than failing. */
static void task_submit(struct task *t)
{
	struct worker *w = t->w;
	struct perf *p = w->p;
	t->start_ns = nvmf_clock_ns();
	int rc = t->is_read ? nvmf_host_read(t->qp, p->a.nsid, t->lba, p->nlb, t->buf, p->a.io_size, io_done, t)
			    : nvmf_host_write(t->qp, p->a.nsid, t->lba, p->nlb, t->buf, p->a.io_size, io_done, t);
	if (rc == -EBUSY) {
		w->deferred[w->ndeferred++] = t;
	} else if (rc) {
		worker_fail(w, "submit: %s", strerror(-rc));
		w->inflight--;
	}
}

static void worker_fail(struct worker *w, const char *fmt, const char *detail)
{
	if (!w->failed)
		snprintf(w->err, sizeof(w->err), fmt, detail);
	w->failed = true;
}

/* Start the next unit of work on task t (or retire it). */
static void task_next(struct task *t)
{
	struct worker *w = t->w;
	struct perf *p = w->p;
	const struct perf_args *a = &p->a;
	if (w->failed || atomic_load_explicit(&p->stop, memory_order_relaxed) || w->quota == 0) {
		w->inflight--;
		return;
	}
	w->quota--;
	bool rnd = a->w == W_RANDREAD || a->w == W_RANDWRITE || a->w == W_RANDRW;
	uint64_t slot;
	if (a->verify) {
		/* Tasks own disjoint slots, so a write and its read-back never race another task. */
		uint64_t per = p->nslots / p->total_tasks;
		uint64_t k = rnd ? xorshift(&w->rng) % per : (w->seq_next++ % per);
		slot = t->slot + k * p->total_tasks;
	} else if (rnd) {
		slot = xorshift(&w->rng) % p->nslots;
	} else {
		slot = w->seq_next++;
		if (w->seq_next >= w->seq_end)
			w->seq_next = w->seq_begin;
	}
	t->lba = slot * p->nlb;
	switch (a->w) {
	case W_READ:
	case W_RANDREAD:
		t->is_read = true;
		break;
	case W_WRITE:
	case W_RANDWRITE:
		t->is_read = false;
		break;
	default:
		t->is_read = xorshift(&w->rng) % 100 < a->read_pct;
	}
	t->verify_read = false;
	if (a->verify) {
		t->is_read = false;
		fill_pattern(t->buf, t->lba, p->nlb, p->ns.block_size, p->seed);
	}
	if (a->rate) {
		/* Start times a fixed interval apart: latency is measured from the start, so the
		 * target sees the gaps (its idle wake-up) and the figures exclude the pacing. */
		uint64_t now = nvmf_clock_ns();
		t->due_ns = w->next_start_ns > now ? w->next_start_ns : now;
		w->next_start_ns = t->due_ns + 1000000000ull / a->rate;
		w->paced[(w->paced_head + w->npaced++) % a->depth] = t;
		return;
	}
	task_submit(t);
}

/* --rate: start the tasks whose time has come.  Returns how many. */
static unsigned start_paced(struct worker *w)
{
	unsigned n = 0;
	uint64_t now = nvmf_clock_ns();
	while (w->npaced && w->paced[w->paced_head]->due_ns <= now) {
		struct task *t = w->paced[w->paced_head];
		w->paced_head = (w->paced_head + 1) % w->p->a.depth;
		w->npaced--;
		task_submit(t);
		n++;
	}
	return n;
}

static void io_done(void *arg, const struct nvmf_host_completion *cpl)
{
	struct task *t = arg;
	struct worker *w = t->w;
	struct perf *p = w->p;
	uint64_t end = nvmf_clock_ns();
	hist_add(&w->hist, end - t->start_ns);
	w->last_progress_ns = end;
	atomic_store_explicit(&w->ios, atomic_load_explicit(&w->ios, memory_order_relaxed) + 1, memory_order_relaxed);
	atomic_store_explicit(&w->bytes, atomic_load_explicit(&w->bytes, memory_order_relaxed) + p->a.io_size,
			      memory_order_relaxed);
	if (t->is_read)
		w->reads++;
	else
		w->writes++;
	if (cpl->error || cpl->status) {
		w->errors++;
		char why[512];
		if (cpl->error)
			snprintf(why, sizeof(why), "%s", nvmf_host_qpair_error(t->qp)[0] ? nvmf_host_qpair_error(t->qp)
											 : strerror(-cpl->error));
		else
			nvmf_host_status_format(cpl->status, false, why, sizeof(why));
		char msg[600];
		snprintf(msg, sizeof(msg), "%s lba %llu: %s (%zu of %u bytes moved)", t->is_read ? "read" : "write",
			 (unsigned long long)t->lba, why, cpl->transferred, p->a.io_size);
		worker_fail(w, "%s", msg);
		w->inflight--;
		return;
	}
	if (p->a.verify && !t->verify_read) {
		/* Read it back into a poisoned buffer. */
		memcpy(t->vbuf, t->buf, p->a.io_size);
		memset(t->buf, 0xa5, p->a.io_size);
		t->is_read = true;
		t->verify_read = true;
		task_submit(t);
		return;
	}
	if (p->a.verify && memcmp(t->buf, t->vbuf, p->a.io_size) != 0) {
		w->miscompares++;
		size_t off = 0;
		while (off < p->a.io_size && t->buf[off] == t->vbuf[off])
			off++;
		char msg[200];
		snprintf(msg, sizeof(msg), "lba %llu: data read back differs at byte %zu (block %llu)",
			 (unsigned long long)t->lba, off, (unsigned long long)(t->lba + off / p->ns.block_size));
		worker_fail(w, "verify: %s", msg);
		w->inflight--;
		return;
	}
	task_next(t);
}

/* --wait: sleep until a queue has input (or room for its output).  The timeout
 * bounds what a descriptor cannot show (bytes a TLS layer already holds). */
static void wait_for_input(struct worker *w)
{
	struct pollfd pfd[64];
	unsigned n = 0;
	for (unsigned q = 0; q < w->nqp && n < 64; q++) {
		int fd = nvmf_host_qpair_fd(w->qps[q]);
		if (fd < 0)
			return; /* a polled queue has nothing to sleep on */
		short ev = POLLIN;
		if (nvmf_host_qpair_want_write(w->qps[q]))
			ev |= POLLOUT;
		pfd[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	poll(pfd, n, 1);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct perf *p = w->p;
	if (p->a.core_mask) {
		/* The id-th set bit of the mask. */
		unsigned n = 0;
		for (int cpu = 0; cpu < 64; cpu++) {
			if (!(p->a.core_mask >> cpu & 1))
				continue;
			if (n++ == w->id) {
				cpu_set_t set;
				CPU_ZERO(&set);
				CPU_SET(cpu, &set);
				pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
				break;
			}
		}
	}
	uint64_t cpu0 = thread_cpu_ns(), t0 = nvmf_clock_ns();
	w->last_progress_ns = t0;
	w->inflight = p->a.depth;
	for (unsigned i = 0; i < p->a.depth; i++)
		task_next(&w->tasks[i]);
	for (unsigned q = 0; q < w->nqp; q++)
		nvmf_host_qpair_flush(w->qps[q]);
	unsigned idle = 0;
	while (w->inflight > 0) {
		int rc = 0, n = 0;
		for (unsigned q = 0; q < w->nqp && rc >= 0; q++) {
			rc = nvmf_host_qpair_process(w->qps[q]);
			if (rc < 0)
				worker_fail(w, "%s",
					    nvmf_host_qpair_error(w->qps[q])[0] ? nvmf_host_qpair_error(w->qps[q])
										 : strerror(-rc));
			else
				n += rc;
		}
		if (rc < 0)
			break;
		w->polls++;
		if (w->npaced && start_paced(w)) {
			for (unsigned q = 0; q < w->nqp; q++)
				nvmf_host_qpair_flush(w->qps[q]);
			w->last_progress_ns = nvmf_clock_ns();
		}
		if (w->ndeferred) {
			unsigned k = w->ndeferred;
			w->ndeferred = 0;
			for (unsigned i = 0; i < k; i++)
				task_submit(w->deferred[i]);
			for (unsigned q = 0; q < w->nqp; q++)
				nvmf_host_qpair_flush(w->qps[q]);
		}
		if (n > 0) {
			w->busy_polls++;
			idle = 0;
			continue;
		}
		if (p->a.wait)
			wait_for_input(w);
		if (++idle % 4096 == 0 && nvmf_clock_ns() - w->last_progress_ns > (uint64_t)p->timeout_ms * 1000000ull) {
			char msg[64];
			snprintf(msg, sizeof(msg), "%d ms", p->timeout_ms);
			worker_fail(w, "no completion for %s: target stalled", msg);
			break;
		}
	}
	w->cpu_ns = thread_cpu_ns() - cpu0;
	w->elapsed_s = (double)(nvmf_clock_ns() - t0) / 1e9;
	atomic_store(&w->done, true);
	return NULL;
}

static int perf_opt(void *ctx, int opt, const char *arg)
{
	struct perf_args *a = ctx;
	switch (opt) {
	case 'q':
		return parse_u32(arg, &a->depth) && a->depth ? 0 : -1;
	case 'o': {
		uint64_t v;
		char *end;
		v = strtoull(arg, &end, 0);
		if (*end == 'k' || *end == 'K')
			v *= 1024, end++;
		else if (*end == 'm' || *end == 'M')
			v *= 1024 * 1024, end++;
		if (*end || v == 0 || v > (1u << 30))
			return -1;
		a->io_size = (uint32_t)v;
		return 0;
	}
	case 'w':
		a->have_w = true;
		if (!strcmp(arg, "read"))
			a->w = W_READ;
		else if (!strcmp(arg, "write"))
			a->w = W_WRITE;
		else if (!strcmp(arg, "randread"))
			a->w = W_RANDREAD;
		else if (!strcmp(arg, "randwrite"))
			a->w = W_RANDWRITE;
		else if (!strcmp(arg, "randrw"))
			a->w = W_RANDRW;
		else if (!strcmp(arg, "rw"))
			a->w = W_RW;
		else
			return -1;
		return 0;
	case 'M':
		a->have_pct = true;
		return parse_u32(arg, &a->read_pct) && a->read_pct <= 100 ? 0 : -1;
	case 't':
		return parse_u32(arg, &a->seconds) && a->seconds ? 0 : -1;
	case 'n':
		return parse_u64(arg, &a->count) && a->count ? 0 : -1;
	case 'j':
		return parse_u32(arg, &a->threads) && a->threads && a->threads <= 256 ? 0 : -1;
	case 'c':
		return parse_u64(arg, &a->core_mask) && a->core_mask ? 0 : -1;
	case OPT_NSID:
		return parse_u32(arg, &a->nsid) && a->nsid ? 0 : -1;
	case OPT_VERIFY:
		a->verify = true;
		return 0;
	case OPT_WAIT:
		a->wait = true;
		return 0;
	case OPT_RATE:
		return parse_u32(arg, &a->rate) && a->rate ? 0 : -1;
	case 'P':
	case OPT_QPT:
		return parse_u32(arg, &a->qpt) && a->qpt && a->qpt <= 64 ? 0 : -1;
	default:
		return -1;
	}
}

static const struct option perf_opts[] = {
	{"queue-depth", required_argument, NULL, 'q'},
	{"io-size", required_argument, NULL, 'o'},
	{"workload", required_argument, NULL, 'w'},
	{"rwmixread", required_argument, NULL, 'M'},
	{"time", required_argument, NULL, 't'},
	{"count", required_argument, NULL, 'n'},
	{"threads", required_argument, NULL, 'j'},
	{"core-mask", required_argument, NULL, 'c'},
	{"nsid", required_argument, NULL, OPT_NSID},
	{"verify", no_argument, NULL, OPT_VERIFY},
	{"wait", no_argument, NULL, OPT_WAIT},
	{"rate", required_argument, NULL, OPT_RATE},
	{"queues-per-thread", required_argument, NULL, OPT_QPT},
	{NULL, 0, NULL, 0},
};

static const char perf_usage[] =
	"-q DEPTH -o IOSIZE -w read|write|randread|randwrite|randrw|rw [-M READPCT]\n"
	"  [-t SECONDS | -n COUNT] [-j THREADS] [-P QUEUES] [-c COREMASK] [--nsid N] [--verify] [--wait] [--rate IOPS]\n"
	"  [--json]\n"
	"  -q: outstanding I/Os per thread (default 32); -o: bytes per I/O (default 4096, k/m suffixes)\n"
	"  -t: run time (default 10 s); -n/--count: total I/Os instead (verify: write+read pairs)\n"
	"  -j: threads, each with its own I/O queues (-P per thread, default 1; -q is spread over them)\n"
	"  -c: pin thread i to the i-th CPU of the mask\n"
	"  --verify: write a pattern (LBA stamped in each block), read it back and compare\n"
	"  --wait: when a poll finds nothing, sleep on the queues' descriptors instead of spinning\n"
	"    (for a target that shares the client's CPUs, e.g. a Ceph gateway beside its OSDs)\n"
	"  --rate: start at most IOPS I/Os a second per thread, evenly spaced (latency at light load,\n"
	"    a target waking from idle); latency counts from each I/O's start\n";

static const char *workload_name(enum workload w)
{
	static const char *n[] = {"read", "write", "randread", "randwrite", "randrw", "rw"};
	return n[w];
}

static void print_histogram(const struct hist *h)
{
	/* One line per power of two of microseconds that holds samples, with the cumulative share. */
	printf("\nLatency histogram (us):\n%14s %14s %10s %12s\n", "from", "to", "cumulative", "count");
	uint64_t seen = 0;
	for (int r = 0; r < 64; r++) {
		uint64_t lo_ns = r == 0 ? 0 : 1000ull << (r - 1), hi_ns = (1000ull << r) - 1;
		if (lo_ns > h->max)
			break;
		uint64_t n = 0;
		for (unsigned i = 0; i < HIST_BUCKETS; i++) {
			uint64_t bl = hist_bucket_low(i);
			if (bl >= lo_ns && bl <= hi_ns)
				n += h->buckets[i];
		}
		if (!n)
			continue;
		seen += n;
		printf("%14.3f %14.3f %9.4f%% %12llu\n", (double)lo_ns / 1000.0, (double)(hi_ns + 1) / 1000.0,
		       100.0 * (double)seen / (double)h->count, (unsigned long long)n);
	}
}

int cmd_perf(int argc, char **argv)
{
	struct cli cli = {0};
	struct perf *p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	struct perf_args *a = &p->a;
	a->depth = 32;
	a->io_size = 4096;
	a->seconds = 10;
	a->threads = 1;
	a->w = W_RANDREAD;
	a->read_pct = 50;
	a->qpt = 1;
	cli_parse(&cli, argc, argv, perf_opts, "q:o:w:M:t:n:j:c:P:", perf_opt, a, perf_usage);
	if (!a->have_w && !a->verify) {
		cli_error(&cli, "-w is required (read|write|randread|randwrite|randrw|rw)");
		return 2;
	}
	if (a->threads > 1 && a->core_mask && (unsigned)__builtin_popcountll(a->core_mask) < a->threads) {
		cli_error(&cli, "core mask %#llx has fewer CPUs than -j %u", (unsigned long long)a->core_mask, a->threads);
		return 2;
	}
	cli.opts.nr_io_queues = (uint16_t)(a->threads * a->qpt);
	/* A reconnect touches every queue pair from the thread that notices, so not with worker threads. */
	cli.opts.ctrl_loss_tmo_s = 0;
	/* Queue entries: each queue's share of the depth plus the one slot that stays empty. */
	uint32_t per_q = (a->depth + a->qpt - 1) / a->qpt;
	if (cli.opts.io_qsize < per_q + 1)
		cli.opts.io_qsize = (uint16_t)(per_q + 1 > 65535 ? 65535 : per_q + 1);
	/* vfio-user: the tasks' buffers in the memory the device reaches, so no data is copied on this side. */
	cli.opts.io_buffer_bytes = (size_t)a->threads * a->depth * ((a->io_size + 4095) & ~(size_t)4095);
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	int status = 0;
	if (!a->nsid) {
		uint32_t *list = NULL;
		size_t n = 0;
		if (nvmf_host_active_namespaces(c, &list, &n) || n == 0) {
			cli_error(&cli, "%s", n == 0 ? "no active namespace" : nvmf_host_ctrl_error(c));
			free(list);
			nvmf_host_disconnect(c);
			return 1;
		}
		a->nsid = list[0];
		free(list);
	}
	if (nvmf_host_ns_info(c, a->nsid, &p->ns)) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return 1;
	}
	uint32_t bs = p->ns.block_size;
	uint32_t maxx = nvmf_host_ctrl_max_xfer(c);
	if (a->io_size % bs || (maxx && a->io_size > maxx) || a->io_size / bs > 65536) {
		cli_error(&cli, "I/O size %u must be a multiple of the block size %u and at most %u", a->io_size, bs,
			  maxx ? maxx : 65536 * bs);
		nvmf_host_disconnect(c);
		return 2;
	}
	unsigned nq = nvmf_host_ctrl_nr_io_queues(c);
	if (nq < a->threads * a->qpt) {
		cli_error(&cli, "controller granted %u I/O queues, fewer than the %u asked for", nq, a->threads * a->qpt);
		nvmf_host_disconnect(c);
		return 1;
	}
	unsigned qdepth = nvmf_host_qpair_depth(nvmf_host_ctrl_io_qpair(c, 0)) * a->qpt;
	if (a->depth > qdepth) {
		fprintf(stderr, "nvmf perf: queue depth %u limited to %u by the controller's queue size\n", a->depth,
			qdepth);
		a->depth = qdepth;
	}
	p->nlb = a->io_size / bs;
	p->nslots = p->ns.nsze / p->nlb;
	p->total_tasks = a->threads * a->depth;
	p->timeout_ms = cli.opts.timeout_ms > 0 ? cli.opts.timeout_ms : 10000;
	if (p->nslots < p->total_tasks) {
		cli_error(&cli, "namespace too small: %llu I/O slots for %u outstanding I/Os", (unsigned long long)p->nslots,
			  p->total_tasks);
		nvmf_host_disconnect(c);
		return 2;
	}
	p->seed = nvmf_clock_ns() ^ (uint64_t)getpid() << 32;
	p->workers = calloc(a->threads, sizeof(*p->workers));
	for (unsigned i = 0; i < a->threads; i++) {
		struct worker *w = &p->workers[i];
		w->p = p;
		w->id = i;
		w->nqp = a->qpt;
		w->qps = calloc(a->qpt, sizeof(*w->qps));
		for (unsigned q = 0; q < a->qpt; q++)
			w->qps[q] = nvmf_host_ctrl_io_qpair(c, i * a->qpt + q);
		w->deferred = calloc(a->depth, sizeof(*w->deferred));
		w->paced = calloc(a->depth, sizeof(*w->paced));
		hist_init(&w->hist);
		w->rng = p->seed + 0x9E3779B97F4A7C15ull * (i + 1);
		w->quota = a->count ? a->count / a->threads + (i < a->count % a->threads) : UINT64_MAX;
		w->seq_begin = p->nslots * i / a->threads;
		w->seq_end = p->nslots * (i + 1) / a->threads;
		w->seq_next = a->verify ? 0 : w->seq_begin;
		w->tasks = calloc(a->depth, sizeof(*w->tasks));
		for (unsigned k = 0; k < a->depth; k++) {
			struct task *t = &w->tasks[k];
			t->w = w;
			t->qp = w->qps[k % a->qpt];
			t->slot = i * a->depth + k;
			t->buf = nvmf_host_io_buffer(c, (a->io_size + 4095) & ~4095u);
			t->buf_shared = t->buf != NULL;
			if (!t->buf)
				t->buf = aligned_alloc(4096, (a->io_size + 4095) & ~4095u);
			t->vbuf = a->verify ? aligned_alloc(4096, (a->io_size + 4095) & ~4095u) : NULL;
			if (t->buf)
				fill_pattern(t->buf, 0, p->nlb, bs, p->seed);
		}
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t0 = nvmf_clock_ns();
	for (unsigned i = 0; i < a->threads; i++)
		pthread_create(&p->workers[i].th, NULL, worker_main, &p->workers[i]);

	/* Main thread: keep alive on the admin queue, a progress line each second, the time limit. */
	uint64_t next_tick = t0 + 1000000000ull, last_ios = 0, last_bytes = 0;
	unsigned second = 0;
	for (;;) {
		bool all_done = true;
		for (unsigned i = 0; i < a->threads; i++)
			all_done &= atomic_load(&p->workers[i].done);
		if (all_done)
			break;
		struct pollfd pfd = {.fd = nvmf_host_ctrl_fd(c), .events = POLLIN};
		poll(&pfd, pfd.fd >= 0 ? 1 : 0, 50);
		if (nvmf_host_ctrl_process(c) < 0 && !atomic_load(&p->stop)) {
			cli_error(&cli, "admin queue: %s", nvmf_host_ctrl_error(c));
			atomic_store(&p->stop, true);
		}
		uint64_t now = nvmf_clock_ns();
		if (!a->count && now - t0 >= (uint64_t)a->seconds * 1000000000ull)
			atomic_store(&p->stop, true);
		if (now >= next_tick) {
			uint64_t ios = 0, bytes = 0;
			for (unsigned i = 0; i < a->threads; i++) {
				ios += atomic_load_explicit(&p->workers[i].ios, memory_order_relaxed);
				bytes += atomic_load_explicit(&p->workers[i].bytes, memory_order_relaxed);
			}
			second++;
			fprintf(stderr, "[%4u s] %10.0f IOPS %10.2f MiB/s  total %llu I/Os\n", second,
				(double)(ios - last_ios), (double)(bytes - last_bytes) / 1048576.0,
				(unsigned long long)ios);
			last_ios = ios;
			last_bytes = bytes;
			next_tick += 1000000000ull;
		}
	}
	for (unsigned i = 0; i < a->threads; i++)
		pthread_join(p->workers[i].th, NULL);
	double elapsed = (double)(nvmf_clock_ns() - t0) / 1e9;
	getrusage(RUSAGE_SELF, &ru1);

	struct hist *total = malloc(sizeof(*total));
	hist_init(total);
	uint64_t ios = 0, bytes = 0, errors = 0, miscompares = 0, cpu_ns = 0, reads = 0, writes = 0, polls = 0,
		 busy_polls = 0;
	for (unsigned i = 0; i < a->threads; i++) {
		struct worker *w = &p->workers[i];
		hist_merge(total, &w->hist);
		ios += w->ios;
		bytes += w->bytes;
		reads += w->reads;
		writes += w->writes;
		errors += w->errors;
		miscompares += w->miscompares;
		cpu_ns += w->cpu_ns;
		polls += w->polls;
		busy_polls += w->busy_polls;
		if (w->failed) {
			cli_error(&cli, "thread %u (queue %u): %s", i, nvmf_host_qpair_qid(w->qps[0]), w->err);
			status = 1;
		}
	}
	double proc_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
			  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double iops = elapsed > 0 ? (double)ios / elapsed : 0, mibs = elapsed > 0 ? (double)bytes / elapsed / 1048576.0 : 0;
	double us = 1000.0;
	double cpu_per_io_us = ios ? (double)cpu_ns / 1000.0 / (double)ios : 0;
	double proc_per_io_us = ios ? proc_cpu * 1e6 / (double)ios : 0;
	/* Busy polling burns the idle time too: the share of polls that found completions tells how much. */
	double busy_pct = polls ? 100.0 * (double)busy_polls / (double)polls : 0;

	if (cli.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "workload", json_object_new_string(workload_name(a->w)));
		json_object_object_add(o, "queue_depth", json_object_new_int((int)a->depth));
		json_object_object_add(o, "io_size", json_object_new_int64(a->io_size));
		json_object_object_add(o, "threads", json_object_new_int((int)a->threads));
		json_object_object_add(o, "nsid", json_object_new_int64(a->nsid));
		json_object_object_add(o, "verify", json_object_new_boolean(a->verify));
		json_object_object_add(o, "seconds", json_object_new_double(elapsed));
		json_object_object_add(o, "ios", json_object_new_uint64(ios));
		json_object_object_add(o, "reads", json_object_new_uint64(reads));
		json_object_object_add(o, "writes", json_object_new_uint64(writes));
		json_object_object_add(o, "errors", json_object_new_uint64(errors));
		json_object_object_add(o, "miscompares", json_object_new_uint64(miscompares));
		json_object_object_add(o, "iops", json_object_new_double(iops));
		json_object_object_add(o, "mib_per_s", json_object_new_double(mibs));
		json_object *lat = json_object_new_object();
		json_object_object_add(lat, "mean", json_object_new_double(hist_mean(total) / us));
		json_object_object_add(lat, "min", json_object_new_double(total->count ? (double)total->min / us : 0));
		json_object_object_add(lat, "p50", json_object_new_double((double)hist_quantile(total, 0.5) / us));
		json_object_object_add(lat, "p99", json_object_new_double((double)hist_quantile(total, 0.99) / us));
		json_object_object_add(lat, "p99_9", json_object_new_double((double)hist_quantile(total, 0.999) / us));
		json_object_object_add(lat, "max", json_object_new_double((double)total->max / us));
		json_object_object_add(o, "latency_us", lat);
		json_object *hb = json_object_new_array();
		for (unsigned i = 0; i < HIST_BUCKETS; i++) {
			if (!total->buckets[i])
				continue;
			json_object *b = json_object_new_object();
			json_object_object_add(b, "from_ns", json_object_new_uint64(hist_bucket_low(i)));
			json_object_object_add(b, "to_ns", json_object_new_uint64(hist_bucket_high(i)));
			json_object_object_add(b, "count", json_object_new_uint64(total->buckets[i]));
			json_object_array_add(hb, b);
		}
		json_object_object_add(o, "histogram", hb);
		json_object_object_add(o, "thread_cpu_us_per_io", json_object_new_double(cpu_per_io_us));
		json_object_object_add(o, "process_cpu_us_per_io", json_object_new_double(proc_per_io_us));
		json_object_object_add(o, "polls", json_object_new_uint64(polls));
		json_object_object_add(o, "busy_poll_pct", json_object_new_double(busy_pct));
		json_object_object_add(o, "ok", json_object_new_boolean(status == 0));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("nvmf perf: %s, %u threads x depth %u, %u-byte I/O, nsid %u%s%s%s\n", workload_name(a->w),
		       a->threads, a->depth, a->io_size, a->nsid, a->verify ? ", verify" : "",
		       cli.opts.hdgst ? ", header digest" : "", cli.opts.ddgst ? ", data digest" : "");
		printf("%-22s %12s %10s %10s %10s %10s %10s %10s\n", "", "IOPS", "MiB/s", "mean us", "p50 us", "p99 us",
		       "p99.9 us", "max us");
		for (unsigned i = 0; i < a->threads; i++) {
			struct worker *w = &p->workers[i];
			double e = w->elapsed_s > 0 ? w->elapsed_s : elapsed;
			char name[64];
			if (w->nqp > 1)
				snprintf(name, sizeof(name), "thread %u (queues %u-%u)", i, nvmf_host_qpair_qid(w->qps[0]),
					 nvmf_host_qpair_qid(w->qps[w->nqp - 1]));
			else
				snprintf(name, sizeof(name), "thread %u (queue %u)", i, nvmf_host_qpair_qid(w->qps[0]));
			printf("%-22s %12.0f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, (double)w->ios / e,
			       (double)w->bytes / e / 1048576.0, hist_mean(&w->hist) / us,
			       (double)hist_quantile(&w->hist, 0.5) / us, (double)hist_quantile(&w->hist, 0.99) / us,
			       (double)hist_quantile(&w->hist, 0.999) / us, (double)w->hist.max / us);
		}
		printf("%-22s %12.0f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", "Total", iops, mibs,
		       hist_mean(total) / us, (double)hist_quantile(total, 0.5) / us,
		       (double)hist_quantile(total, 0.99) / us, (double)hist_quantile(total, 0.999) / us,
		       (double)total->max / us);
		printf("I/Os: %llu (%llu reads, %llu writes) in %.2f s; errors %llu; miscompares %llu\n",
		       (unsigned long long)ios, (unsigned long long)reads, (unsigned long long)writes, elapsed,
		       (unsigned long long)errors, (unsigned long long)miscompares);
		printf("CPU per I/O: %.3f us in the I/O threads (CLOCK_THREAD_CPUTIME_ID), %.3f us for the process (getrusage)\n",
		       cpu_per_io_us, proc_per_io_us);
		printf("Polling: %llu polls, %.1f%% found completions (%.2f I/Os per productive poll)\n",
		       (unsigned long long)polls, busy_pct, busy_polls ? (double)ios / (double)busy_polls : 0.0);
		print_histogram(total);
		if (a->verify && status == 0)
			printf("verify: %llu blocks written and read back identical\n",
			       (unsigned long long)(writes * p->nlb));
	}
	free(total);
	for (unsigned i = 0; i < a->threads; i++) {
		for (unsigned k = 0; k < a->depth; k++) {
			if (!p->workers[i].tasks[k].buf_shared)
				free(p->workers[i].tasks[k].buf);
			free(p->workers[i].tasks[k].vbuf);
		}
		free(p->workers[i].tasks);
		free(p->workers[i].qps);
		free(p->workers[i].deferred);
		free(p->workers[i].paced);
	}
	free(p->workers);
	free(p);
	return cli_disconnect(&cli, c) | status;
}
