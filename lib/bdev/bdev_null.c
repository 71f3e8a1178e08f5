/*
 * Null backend for benchmarks: writes are dropped and reads have no defined
 * value, as with SPDK's null bdev and Linux's null_blk.  The controller skips
 * the backend (holds_no_data) and moves no data where the transport allows
 * (vfio-user: the host's buffer keeps what it held; NVMe/TCP sends zeros).
 * A read through the backend itself still fills the buffer with zeros, so
 * no caller sees stale target memory from earlier I/O.
 */
#include <string.h>

#include "bdev_internal.h"

static int null_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len, nvmf_bdev_cb cb, void *arg)
{
	(void)b;
	(void)off;
	(void)len;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len) /* a NULL base is allowed with length 0 */
			memset(iov[i].iov_base, 0, iov[i].iov_len);
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static int null_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		       uint64_t off, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	(void)b;
	(void)iov;
	(void)iovcnt;
	(void)off;
	(void)len;
	(void)fua;
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static int null_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg)
{
	(void)b;
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static int null_zero(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		     nvmf_bdev_cb cb, void *arg)
{
	(void)b;
	(void)off;
	(void)len;
	(void)dealloc;
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static void null_close(struct nvmf_bdev *b)
{
	(void)b;
}

static const struct nvmf_bdev_ops null_ops = {
	.kind = "null",
	.readv = null_readv,
	.writev = null_writev,
	.flush = null_flush,
	.zero = null_zero,
	.close = null_close,
};

int nvmf_bdev_null_open(struct nvmf_bdev *b, uint64_t size, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	b->ops = &null_ops;
	b->size = size;
	b->volatile_cache = false;
	b->supports_deallocate = false; /* reads have no defined value: no "reads zeros after Deallocate" */
	b->holds_no_data = true;
	return 0;
}
