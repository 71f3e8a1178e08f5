/*
 * Backend benchmark: 4 KiB random reads and writes at a fixed queue depth
 * through one I/O context, for a bounded time per case.
 *
 *   bdev_bench [-t SECONDS] [-q DEPTH] [-s FILE_SIZE_MIB] [SPEC...]
 *
 * Without specs: ram:256M, null:1T and a temp file in $TMPDIR (or /tmp),
 * filled before it is measured so reads reach the disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bdev/bdev.h"

#define BS 4096u

struct job {
	struct nvmf_bdev_io_ctx *ctx;
	struct nvmf_bdev *b;
	bool write;
	bool stop;
	uint64_t blocks;
	uint64_t rng;
	uint64_t done;
	uint64_t errors;
	uint8_t *bufs;
};

struct slot {
	struct job *job;
	uint8_t *buf;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: cheap enough not to show in the figures */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void issue(struct slot *s);

static void io_done(void *arg, int result)
{
	struct slot *s = arg;
	s->job->done++;
	if (result)
		s->job->errors++;
	if (!s->job->stop)
		issue(s);
}

static void issue(struct slot *s)
{
	struct job *j = s->job;
	uint64_t off = next_rand(&j->rng) % j->blocks * BS;
	struct iovec iov = {s->buf, BS};
	int r = j->write ? nvmf_bdev_writev(j->ctx, j->b, &iov, 1, off, false, io_done, s)
			 : nvmf_bdev_readv(j->ctx, j->b, &iov, 1, off, io_done, s);
	if (r) {
		fprintf(stderr, "submit: %s\n", strerror(-r));
		exit(1);
	}
}

static void drive(struct job *j, double seconds)
{
	struct pollfd p = {.fd = nvmf_bdev_io_ctx_fd(j->ctx), .events = POLLIN};
	double end = now() + seconds;
	while (!j->stop || nvmf_bdev_io_ctx_inflight(j->ctx) > 0) {
		if (nvmf_bdev_io_ctx_poll(j->ctx) == 0 && nvmf_bdev_io_ctx_inflight(j->ctx) > 0)
			poll(&p, 1, 1000);
		if (!j->stop && now() >= end)
			j->stop = true;
	}
}

static void run(struct nvmf_bdev *b, const char *label, bool write, unsigned depth, double seconds)
{
	struct job j = {.b = b, .write = write, .blocks = nvmf_bdev_size(b) / BS, .rng = 0x9e3779b97f4a7c15ull};
	j.ctx = nvmf_bdev_io_ctx_create(depth);
	struct slot *slots = calloc(depth, sizeof(*slots));
	void *mem = NULL;
	if (!j.ctx || !slots || posix_memalign(&mem, BS, (size_t)depth * BS)) {
		fprintf(stderr, "out of memory or io_uring unavailable\n");
		exit(1);
	}
	memset(mem, 0x5a, (size_t)depth * BS);
	double t0 = now();
	for (unsigned i = 0; i < depth; i++) {
		slots[i] = (struct slot){&j, (uint8_t *)mem + (size_t)i * BS};
		issue(&slots[i]);
	}
	drive(&j, seconds);
	double dt = now() - t0;
	printf("%-28s %-9s qd %-3u %10.0f IOPS %9.1f MiB/s%s\n", label, write ? "randwrite" : "randread", depth,
	       (double)j.done / dt, (double)j.done * BS / dt / (1024.0 * 1024.0), j.errors ? "  (errors!)" : "");
	nvmf_bdev_io_ctx_destroy(j.ctx);
	free(mem);
	free(slots);
}

/* Write the whole file once so random reads hit allocated blocks. */
static int fill_file(int fd, uint64_t size)
{
	size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return -1;
	memset(buf, 0xa5, chunk);
	for (uint64_t off = 0; off < size; off += chunk)
		if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk) {
			free(buf);
			return -1;
		}
	free(buf);
	return fsync(fd);
}

static struct nvmf_bdev *open_spec(const char *spec)
{
	char err[256];
	struct nvmf_bdev *b = nvmf_bdev_open(spec, 0, err, sizeof(err));
	if (!b)
		fprintf(stderr, "%s\n", err);
	else if (nvmf_bdev_size(b) < BS) {
		fprintf(stderr, "%s: too small\n", spec);
		nvmf_bdev_close(b);
		b = NULL;
	}
	return b;
}

static void bench(struct nvmf_bdev *b, const char *label, unsigned depth, double seconds)
{
	/* Writes first, so RAM reads touch written pages rather than the shared zero page. */
	run(b, label, true, depth, seconds);
	run(b, label, false, depth, seconds);
	nvmf_bdev_close(b);
}

int main(int argc, char **argv)
{
	double seconds = 2;
	unsigned depth = 32;
	unsigned file_mib = 256;
	int opt;
	while ((opt = getopt(argc, argv, "t:q:s:")) != -1) {
		switch (opt) {
		case 't': seconds = atof(optarg); break;
		case 'q': depth = (unsigned)atoi(optarg); break;
		case 's': file_mib = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-t SECONDS] [-q DEPTH] [-s FILE_SIZE_MIB] [SPEC...]\n", argv[0]);
			return 2;
		}
	}
	if (seconds <= 0 || seconds > 600 || depth == 0 || depth > 4096 || file_mib == 0) {
		fprintf(stderr, "bad option value\n");
		return 2;
	}
	struct nvmf_bdev *b;
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			if (!(b = open_spec(argv[i])))
				return 1;
			bench(b, argv[i], depth, seconds);
		}
		return 0;
	}
	const char *specs[] = {"ram:256M", "null:1T"};
	for (int i = 0; i < 2; i++) {
		if (!(b = open_spec(specs[i])))
			return 1;
		bench(b, specs[i], depth, seconds);
	}

	const char *dir = getenv("TMPDIR");
	char path[4096], label[64];
	snprintf(path, sizeof(path), "%s/nvmf-bdev-bench-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0 || fill_file(fd, (uint64_t)file_mib << 20) < 0) {
		fprintf(stderr, "temp file: %s\n", strerror(errno));
		if (fd >= 0)
			unlink(path);
		return 1;
	}
	snprintf(label, sizeof(label), "file (%u MiB temp file)", file_mib);
	/* Drop the file's cached pages so buffered fallbacks cannot hide the disk. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	b = open_spec(path);
	unlink(path); /* the bdev keeps it open */
	close(fd);
	if (!b)
		return 1;
	bench(b, label, depth, seconds);
	return 0;
}
