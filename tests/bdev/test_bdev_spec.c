/* Spec parsing, geometry and argument checks of nvmf_bdev_open and the I/O calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev_test.h"

static char err[256];

static void expect_fail(const char *spec, uint32_t bs, const char *needle)
{
	err[0] = '\0';
	struct nvmf_bdev *b = nvmf_bdev_open(spec, bs, err, sizeof(err));
	if (b || !strstr(err, needle))
		fprintf(stderr, "spec '%s': expected an error with '%s', got '%s'\n", spec, needle, err);
	CHECK(b == NULL);
	CHECK(strstr(err, needle) != NULL);
}

static void expect_size(const char *spec, uint32_t bs, uint64_t size, uint32_t want_bs, const char *kind)
{
	struct nvmf_bdev *b = nvmf_bdev_open(spec, bs, err, sizeof(err));
	if (!b)
		fprintf(stderr, "spec '%s': %s\n", spec, err);
	CHECK(b != NULL);
	CHECK(nvmf_bdev_size(b) == size);
	CHECK(nvmf_bdev_block_size(b) == want_bs);
	CHECK(strcmp(nvmf_bdev_kind(b), kind) == 0);
	CHECK(strcmp(nvmf_bdev_spec(b), spec) == 0);
	nvmf_bdev_close(b);
}

static void sizes(void)
{
	expect_size("ram:1G", 0, 1ull << 30, 512, "ram"); /* MAP_NORESERVE: costs nothing */
	expect_size("ram:4k", 0, 4096, 512, "ram");
	expect_size("ram:3M", 4096, 3ull << 20, 4096, "ram");
	expect_size("ram:1024", 0, 1024, 512, "ram");
	expect_size("null:1T", 0, 1ull << 40, 512, "null");
	expect_size("null:512", 0, 512, 512, "null");

	struct nvmf_bdev *b = nvmf_bdev_open("ram:1M", 0, err, sizeof(err));
	CHECK(b && !nvmf_bdev_volatile_cache(b) && nvmf_bdev_supports_deallocate(b));
	nvmf_bdev_close(b);
}

static void bad_specs(void)
{
	expect_fail("ram:", 0, "missing size");
	expect_fail("null:", 0, "missing size");
	expect_fail("ram:abc", 0, "invalid size 'abc'");
	expect_fail("ram:12X", 0, "invalid size");
	expect_fail("ram:1GB", 0, "invalid size");
	expect_fail("ram:-1", 0, "invalid size");
	expect_fail("ram: 1", 0, "invalid size");
	expect_fail("ram:0", 0, "must not be zero");
	expect_fail("ram:99999999999999999999", 0, "too large");
	expect_fail("null:20000000T", 0, "too large");
	expect_fail("ram:1000", 0, "not a multiple of the block size");
	expect_fail("ram:1M", 1000, "block size 1000");
	expect_fail("ram:1M", 256, "block size 256");
	expect_fail("", 0, "empty spec");
	expect_fail("/nonexistent-dir-nvmf/none.img", 0, "No such file or directory");
	expect_fail(".", 0, "not a regular file or block device");
	CHECK(nvmf_bdev_open(NULL, 0, err, sizeof(err)) == NULL);
	CHECK(nvmf_bdev_open("ram:", 0, NULL, 0) == NULL); /* no error buffer: no crash */
}

/* Regular file sizes round down to the block size. */
static void file_sizes(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/nvmf-bdev-spec-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 10000) == 0);
	expect_size(path, 0, 19 * 512, 512, "file");
	expect_size(path, 4096, 8192, 4096, "file");
	struct nvmf_bdev *b = nvmf_bdev_open(path, 0, err, sizeof(err));
	CHECK(b && nvmf_bdev_volatile_cache(b) && nvmf_bdev_supports_deallocate(b));
	nvmf_bdev_close(b);
	CHECK(ftruncate(fd, 100) == 0);
	expect_fail(path, 0, "smaller than one 512-byte block");
	close(fd);
	unlink(path);
}

/* Misaligned or out-of-range requests fail at submission and never call back. */
static void bad_args(void)
{
	struct nvmf_bdev *b = nvmf_bdev_open("ram:1M", 0, err, sizeof(err));
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(8);
	CHECK(b && ctx);
	static char buf[4096];
	struct iovec iov = {buf, 512};
	struct done d = {0};
	CHECK(nvmf_bdev_readv(ctx, b, &iov, 1, 100, done_cb, &d) == -EINVAL);
	CHECK(nvmf_bdev_readv(ctx, b, &iov, 1, 1 << 20, done_cb, &d) == -ERANGE);
	CHECK(nvmf_bdev_writev(ctx, b, &iov, 1, UINT64_MAX - 511, false, done_cb, &d) == -ERANGE);
	CHECK(nvmf_bdev_readv(ctx, b, &iov, 0, 0, done_cb, &d) == -EINVAL);
	CHECK(nvmf_bdev_readv(ctx, b, NULL, 1, 0, done_cb, &d) == -EINVAL);
	iov.iov_len = 100;
	CHECK(nvmf_bdev_writev(ctx, b, &iov, 1, 0, false, done_cb, &d) == -EINVAL);
	CHECK(nvmf_bdev_write_zeroes(ctx, b, 512, 100, done_cb, &d) == -EINVAL);
	CHECK(nvmf_bdev_deallocate(ctx, b, 1 << 20, 512, done_cb, &d) == -ERANGE);
	CHECK(nvmf_bdev_flush(ctx, b, NULL, NULL) == -EINVAL);
	CHECK(d.called == 0);
	CHECK(nvmf_bdev_io_ctx_inflight(ctx) == 0);
	/* Zero-length deallocate is a no-op that completes. */
	CHECK(nvmf_bdev_deallocate(ctx, b, 0, 0, done_cb, &d) == 0);
	wait_idle(ctx);
	CHECK(d.called == 1 && d.result == 0);
	nvmf_bdev_io_ctx_destroy(ctx);
	nvmf_bdev_close(b);
}

int main(void)
{
	sizes();
	bad_specs();
	file_sizes();
	bad_args();
	printf("bdev spec: ok\n");
	return 0;
}
