/*
 * Data path of one backend, chosen by argv[1]:
 *   ram, null, tmp (a temp file under $TMPDIR or /tmp),
 *   disk (a temp file under /var/tmp when that is a real disk file system),
 *   tmp-buffered (as tmp, acting as if O_DIRECT and FALLOC_FL_ZERO_RANGE were refused),
 *   tmp-zwrite (as tmp, acting as if no fallocate mode worked: zeros are written),
 *   block, block4k (a loop device with 512 or 4096-byte sectors over a temp file; root only).
 * Patterned writes and read-back (block- but not 4K-aligned, 1 MiB
 * multi-segment, unaligned buffers), flush, FUA, write zeroes, deallocate,
 * a deep queue overflowing the ring, chained completions and two threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bdev_test.h"
#include "bdev/bdev_internal.h"

#define MIB (1024u * 1024)

static bool is_null; /* null reads zeros and drops writes */
static uint64_t dev_size;

static uint8_t pat(uint64_t off, unsigned seed)
{
	uint64_t x = (off >> 2) * 0x9e3779b97f4a7c15ull + seed * 0xbf58476d1ce4e5b9ull + (off & 3);
	return (uint8_t)(x >> 56);
}

static void fill(uint8_t *p, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(off + i, seed);
}

/* Checks device bytes at off against the pattern (or zeros when seed is 0). */
static void expect(const uint8_t *p, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t want = (seed && !is_null) ? pat(off + i, seed) : 0;
		if (p[i] != want) {
			fprintf(stderr, "byte at device offset %llu: got %u want %u\n", (unsigned long long)(off + i),
				p[i], want);
			CHECK(p[i] == want);
		}
	}
}

static void *abuf(size_t len)
{
	void *p = NULL;
	CHECK(posix_memalign(&p, 4096, len) == 0);
	memset(p, 0xee, len);
	return p;
}

static int sync_io(struct nvmf_bdev_io_ctx *ctx, int r, struct done *d)
{
	CHECK(r == 0);
	wait_idle(ctx);
	CHECK(d->called == 1);
	return d->result;
}

static void wr(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int n, uint64_t off,
	       bool fua)
{
	struct done d = {0};
	CHECK(sync_io(ctx, nvmf_bdev_writev(ctx, b, iov, n, off, fua, done_cb, &d), &d) == 0);
}

static void rd(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int n, uint64_t off)
{
	struct done d = {0};
	CHECK(sync_io(ctx, nvmf_bdev_readv(ctx, b, iov, n, off, done_cb, &d), &d) == 0);
}

/* Write a pattern at off with one buffer, read it back and compare. */
static void roundtrip(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, size_t len, unsigned seed,
		      size_t misalign, bool fua)
{
	uint8_t *w = abuf(len + misalign), *r = abuf(len + misalign);
	fill(w + misalign, off, len, seed);
	struct iovec iov = {w + misalign, len};
	wr(ctx, b, &iov, 1, off, fua);
	iov.iov_base = r + misalign;
	rd(ctx, b, &iov, 1, off);
	expect(r + misalign, off, len, seed);
	free(w);
	free(r);
}

static void check_range(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, size_t len, unsigned seed)
{
	uint8_t *r = abuf(len);
	struct iovec iov = {r, len};
	rd(ctx, b, &iov, 1, off);
	expect(r, off, len, seed);
	free(r);
}

static void patterns(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b)
{
	roundtrip(ctx, b, 0, 4096, 1, 0, false);
	roundtrip(ctx, b, 512, 1536, 2, 0, false);	    /* block- but not 4K-aligned */
	roundtrip(ctx, b, 3 * 4096 + 512, 8192, 3, 0, false);
	roundtrip(ctx, b, dev_size - 8192, 8192, 4, 0, false); /* last blocks */
	roundtrip(ctx, b, 64 * 1024, 4096, 5, 8, false);	    /* buffer not aligned: buffered fallback */
	roundtrip(ctx, b, 128 * 1024, 4096, 6, 0, true);	    /* FUA */
	roundtrip(ctx, b, 136 * 1024 + 512, 2048, 7, 0, true);   /* FUA, unaligned to 4K */
	/* Earlier ranges are untouched by later writes. */
	check_range(ctx, b, 0, 512, 1);
	check_range(ctx, b, 512, 1536, 2);
	check_range(ctx, b, 3 * 4096 + 512, 8192, 3);
	/* An empty segment (NULL base) in the list is ignored. */
	uint8_t *r = abuf(4096);
	struct iovec iov[3] = {{r, 2048}, {NULL, 0}, {r + 2048, 2048}};
	rd(ctx, b, iov, 3, 0);
	expect(r, 0, 512, 1);
	expect(r + 512, 512, 1536, 2);
	expect(r + 2048, 2048, 2048, 1);
	free(r);
}

/* 1 MiB in four 256 KiB segments, read back through five uneven ones. */
static void big_iov(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b)
{
	const uint64_t off = 2 * MIB;
	uint8_t *w = abuf(MIB), *r = abuf(MIB);
	fill(w, off, MIB, 8);
	struct iovec wv[4];
	for (int i = 0; i < 4; i++)
		wv[i] = (struct iovec){w + i * (MIB / 4), MIB / 4};
	wr(ctx, b, wv, 4, off, false);
	size_t cuts[5] = {512, 4096, 300 * 1024, 512 * 1024};
	cuts[4] = MIB - cuts[0] - cuts[1] - cuts[2] - cuts[3];
	struct iovec rv[5];
	size_t pos = 0;
	for (int i = 0; i < 5; i++) {
		rv[i] = (struct iovec){r + pos, cuts[i]};
		pos += cuts[i];
	}
	rd(ctx, b, rv, 5, off);
	expect(r, off, MIB, 8);
	/* More segments than a request holds inline (heap-copied iovec list). */
	struct iovec many[40];
	for (int i = 0; i < 40; i++)
		many[i] = (struct iovec){w + i * 4096, 4096};
	fill(w, off, 40 * 4096, 9);
	wr(ctx, b, many, 40, off, false);
	check_range(ctx, b, off, 40 * 4096, 9);
	free(w);
	free(r);
}

static void flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b)
{
	struct done d = {0};
	CHECK(sync_io(ctx, nvmf_bdev_flush(ctx, b, done_cb, &d), &d) == 0);
}

/* Write zeroes / deallocate inside patterned data: zeros inside, neighbours intact. */
static void zeroing(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, bool dealloc, uint64_t off, uint64_t len,
		    unsigned seed)
{
	const uint64_t pad = 8192;
	uint8_t *w = abuf(len + 2 * pad);
	fill(w, off - pad, len + 2 * pad, seed);
	struct iovec iov = {w, len + 2 * pad};
	wr(ctx, b, &iov, 1, off - pad, false);
	struct done d = {0};
	int r = dealloc ? nvmf_bdev_deallocate(ctx, b, off, len, done_cb, &d)
			: nvmf_bdev_write_zeroes(ctx, b, off, len, done_cb, &d);
	CHECK(sync_io(ctx, r, &d) == 0);
	check_range(ctx, b, off - pad, pad, seed);
	check_range(ctx, b, off, len, 0);
	check_range(ctx, b, off + len, pad, seed);
	free(w);
}

static void zeroes(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b)
{
	zeroing(ctx, b, false, 5 * MIB + 512, 3 * 4096, 10);  /* small, block-aligned only */
	zeroing(ctx, b, false, 6 * MIB + 1536, 2 * MIB, 11);  /* large, partial pages at both ends */
	zeroing(ctx, b, true, 9 * MIB + 4096, 64 * 1024, 12); /* page-aligned */
	zeroing(ctx, b, true, 10 * MIB + 512, 2 * MIB + 1024, 13);
}

/* 256 writes then 256 reads on a depth-64 context: the software queue must absorb the excess. */
struct deep_ctx {
	int completed;
	int errors;
};

static void deep_cb(void *arg, int result)
{
	struct deep_ctx *dc = arg;
	dc->completed++;
	if (result)
		dc->errors++;
}

static void deep_queue(struct nvmf_bdev *b)
{
	enum { N = 256, LEN = 4096 };
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(64);
	CHECK(ctx);
	uint8_t *buf = abuf((size_t)N * LEN);
	const uint64_t base = 13 * MIB;
	for (int i = 0; i < N; i++)
		fill(buf + (size_t)i * LEN, base + (uint64_t)i * 2 * LEN, LEN, 14);
	struct deep_ctx dc = {0};
	for (int i = 0; i < N; i++) {
		struct iovec iov = {buf + (size_t)i * LEN, LEN};
		CHECK(nvmf_bdev_writev(ctx, b, &iov, 1, base + (uint64_t)i * 2 * LEN, i % 7 == 0, deep_cb, &dc) == 0);
	}
	CHECK((unsigned)dc.completed + nvmf_bdev_io_ctx_inflight(ctx) == N);
	if (strcmp(nvmf_bdev_kind(b), "file") == 0 || strcmp(nvmf_bdev_kind(b), "block") == 0)
		CHECK(dc.completed == 0); /* all accepted although the ring holds 64: 192 wait in software */
	wait_idle(ctx);
	CHECK(dc.completed == N && dc.errors == 0);
	memset(buf, 0, (size_t)N * LEN);
	dc = (struct deep_ctx){0};
	for (int i = 0; i < N; i++) {
		struct iovec iov = {buf + (size_t)i * LEN, LEN};
		CHECK(nvmf_bdev_readv(ctx, b, &iov, 1, base + (uint64_t)i * 2 * LEN, deep_cb, &dc) == 0);
	}
	wait_idle(ctx);
	CHECK(dc.completed == N && dc.errors == 0);
	for (int i = 0; i < N; i++)
		expect(buf + (size_t)i * LEN, base + (uint64_t)i * 2 * LEN, LEN, 14);
	free(buf);
	nvmf_bdev_io_ctx_destroy(ctx);
}

/* Each completion submits the next read: must not recurse without bound. */
struct chain {
	struct nvmf_bdev_io_ctx *ctx;
	struct nvmf_bdev *b;
	uint8_t *buf;
	int left;
	int errors;
};

static void chain_cb(void *arg, int result)
{
	struct chain *c = arg;
	if (result)
		c->errors++;
	if (--c->left > 0) {
		struct iovec iov = {c->buf, 512};
		if (nvmf_bdev_readv(c->ctx, c->b, &iov, 1, (uint64_t)(c->left % 64) * 512, chain_cb, c) != 0)
			c->errors++;
	}
}

static void chained(struct nvmf_bdev *b)
{
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(16);
	CHECK(ctx);
	uint8_t *buf = abuf(4096);
	struct chain c = {ctx, b, buf, 200000, 0};
	struct iovec iov = {buf, 512};
	if (strcmp(nvmf_bdev_kind(b), "file") == 0 || strcmp(nvmf_bdev_kind(b), "block") == 0)
		c.left = 2000;
	CHECK(nvmf_bdev_readv(ctx, b, &iov, 1, 0, chain_cb, &c) == 0);
	wait_idle(ctx);
	CHECK(c.left == 0 && c.errors == 0);
	free(buf);
	nvmf_bdev_io_ctx_destroy(ctx);
}

/* Two threads, each with its own context, on disjoint halves of one range. */
struct thr {
	struct nvmf_bdev *b;
	uint64_t base;
	unsigned seed;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(32);
	CHECK(ctx);
	for (int i = 0; i < 64; i++)
		roundtrip(ctx, t->b, t->base + (uint64_t)i * 8192, 8192, t->seed + (unsigned)i, 0, false);
	for (int i = 0; i < 64; i++)
		check_range(ctx, t->b, t->base + (uint64_t)i * 8192, 8192, t->seed + (unsigned)i);
	nvmf_bdev_io_ctx_destroy(ctx);
	return NULL;
}

static void threads(struct nvmf_bdev *b)
{
	struct thr t[2] = {{b, 14 * MIB, 100}, {b, 14 * MIB + 512 * 1024, 200}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, thr_main, &t[i]) == 0);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
}

/*
 * The file shrinks under the bdev: a read across the new end transfers a
 * short count, the remainder is resubmitted and hits EOF, giving -EIO.
 */
static void truncated(struct nvmf_bdev *b, int fd)
{
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(4);
	CHECK(ctx);
	const uint64_t off = dev_size - 8192;
	roundtrip(ctx, b, off, 8192, 15, 0, false);
	CHECK(ftruncate(fd, (off_t)(dev_size - 4096 - 512)) == 0);
	uint8_t *r = abuf(8192);
	struct iovec iov[2] = {{r, 2048}, {r + 2048, 6144}};
	struct done d = {0};
	CHECK(sync_io(ctx, nvmf_bdev_readv(ctx, b, iov, 2, off, done_cb, &d), &d) == -EIO);
	expect(r, off, 8192 - 4096 - 512, 15); /* what was there before the end */
	free(r);
	nvmf_bdev_io_ctx_destroy(ctx);
}

/* A temp file in dir. */
static int make_file(const char *dir, char *path, size_t pathlen, uint64_t size)
{
	snprintf(path, pathlen, "%s/nvmf-bdev-test-XXXXXX", dir);
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

/*
 * A loop device over backing_fd with logical block size lbs, detached
 * automatically on last close; its fd, or -1 when loop devices are unavailable.
 */
static int setup_loop(int backing_fd, unsigned lbs, char *dev, size_t devlen)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	int lfd = -1;
	for (int tries = 0; tries < 10 && lfd < 0; tries++) { /* another process may take the free one first */
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(dev, devlen, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			break;
		struct loop_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (uint32_t)backing_fd;
		cfg.block_size = lbs;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) != 0) {
			int e = errno;
			close(lfd);
			lfd = -1;
			if (e != EBUSY)
				break;
		}
	}
	close(ctl);
	return lfd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s ram|null|tmp|tmp-buffered|tmp-zwrite|disk|block|block4k\n", argv[0]);
		return 2;
	}
	const char *which = argv[1];
	char spec[4096], err[256];
	int fd = -1;   /* backing file */
	bool blk = strncmp(which, "block", 5) == 0;
	const uint64_t size = 16 * MIB;
	const char *tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if (strcmp(which, "ram") == 0) {
		snprintf(spec, sizeof(spec), "ram:16M");
	} else if (strcmp(which, "null") == 0) {
		snprintf(spec, sizeof(spec), "null:16M");
		is_null = true;
	} else if (strncmp(which, "tmp", 3) == 0 || blk) {
		fd = make_file(tmpdir, spec, sizeof(spec), size);
	} else if (strcmp(which, "disk") == 0) {
		struct statfs sf;
		if (statfs("/var/tmp", &sf) != 0 || sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC) {
			printf("SKIP: /var/tmp missing or not on a disk file system\n");
			return SKIP_CODE;
		}
		fd = make_file("/var/tmp", spec, sizeof(spec), size);
	} else {
		fprintf(stderr, "unknown backend '%s'\n", which);
		return 2;
	}
	char file[4096];
	snprintf(file, sizeof(file), "%s", spec);
	int lfd = -1;
	if (blk) {
		/* block4k: a 4 KiB-sector device used with 512-byte blocks, so O_DIRECT and fallocate refuse small requests. */
		lfd = setup_loop(fd, strcmp(which, "block4k") == 0 ? 4096 : 512, spec, sizeof(spec));
		if (lfd < 0) {
			printf("SKIP: no loop device (needs root and the loop driver)\n");
			close(fd);
			return SKIP_CODE;
		}
		struct nvmf_bdev *g = nvmf_bdev_open(spec, 0, err, sizeof(err));
		if (!g)
			fprintf(stderr, "%s\n", err);
		CHECK(g != NULL);
		CHECK(strcmp(nvmf_bdev_kind(g), "block") == 0);
		CHECK(nvmf_bdev_block_size(g) == (strcmp(which, "block4k") == 0 ? 4096u : 512u));
		CHECK(nvmf_bdev_size(g) == size);
		nvmf_bdev_close(g);
	}
	struct nvmf_bdev *b = nvmf_bdev_open(spec, blk ? 512 : 0, err, sizeof(err));
	if (!b)
		fprintf(stderr, "%s\n", err);
	CHECK(b != NULL);
	if (lfd >= 0)
		close(lfd); /* the bdev's descriptors keep the loop device attached */
	if (fd >= 0)
		unlink(file); /* open descriptors keep it */
	if (fd >= 0) {
		if (strcmp(which, "tmp-buffered") == 0)
			nvmf_bdev_file_degrade(b, NVMF_BDEV_NO_DIRECT | NVMF_BDEV_NO_ZERO_RANGE);
		else if (strcmp(which, "tmp-zwrite") == 0)
			nvmf_bdev_file_degrade(b, NVMF_BDEV_NO_ZERO_RANGE | NVMF_BDEV_NO_PUNCH);
		printf("%s: %s I/O\n", which, nvmf_bdev_file_direct(b) ? "O_DIRECT" : "buffered");
	}
	dev_size = nvmf_bdev_size(b);
	CHECK(dev_size == size);

	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(64);
	CHECK(ctx);
	CHECK(nvmf_bdev_io_ctx_fd(ctx) >= 0);
	patterns(ctx, b);
	big_iov(ctx, b);
	flush(ctx, b);
	zeroes(ctx, b);
	flush(ctx, b);
	if (strcmp(which, "disk") == 0) {
		/* Deallocate freed space: the punched range is a hole. */
		off_t h = lseek(fd, 9 * MIB + 4096, SEEK_HOLE);
		CHECK(h >= 0 && (uint64_t)h < 9 * MIB + 4096 + 64 * 1024);
	}
	nvmf_bdev_io_ctx_destroy(ctx);
	deep_queue(b);
	chained(b);
	threads(b);
	if (fd >= 0 && !blk)
		truncated(b, fd);
	nvmf_bdev_close(b);
	if (fd >= 0)
		close(fd);
	printf("bdev %s: ok\n", which);
	return 0;
}
