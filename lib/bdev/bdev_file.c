/*
 * File backend: a regular file or a block device, all I/O through the
 * context's io_uring so no thread waits on the disk.  Two descriptors share
 * the file: O_DIRECT for aligned requests and a buffered one for the rest
 * (and for everything when the file system refuses O_DIRECT).  Linux keeps
 * the page cache coherent with direct I/O on the same file.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev_internal.h"

#define ZBUF_SIZE (64u * 1024)
#define MODE_ZERO (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)
#define MODE_PUNCH (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define UNSUP_ZERO 1u
#define UNSUP_PUNCH 2u

/* Source for zero writes; never written.  In .bss, so plain anonymous memory for O_DIRECT. */
static uint8_t zero_buf[ZBUF_SIZE] __attribute__((aligned(4096)));

struct file_priv {
	int fd;		    /* buffered */
	int dfd;	    /* O_DIRECT, or -1 */
	uint32_t mem_align; /* O_DIRECT buffer address alignment */
	uint32_t off_align; /* O_DIRECT offset and length alignment */
	atomic_uint unsup;  /* fallocate modes found unsupported (shared by all threads) */
};

/* Fallback chains: the first mode the file system supports wins; writing zeros always works. */
static const int zero_chain[] = {MODE_ZERO, MODE_PUNCH};
static const int dealloc_chain[] = {MODE_PUNCH, MODE_ZERO};
#define CHAIN_LEN 2

static unsigned unsup_bit(int mode)
{
	return mode == MODE_ZERO ? UNSUP_ZERO : UNSUP_PUNCH;
}

static bool aligned_direct(const struct file_priv *fp, const struct nvmf_bdev_req *r)
{
	if (fp->dfd < 0 || r->buffered || ((r->off | r->len) & (fp->off_align - 1)))
		return false;
	for (int i = 0; i < r->iovcnt; i++)
		if (((uintptr_t)r->iov[i].iov_base & (fp->mem_align - 1)) || (r->iov[i].iov_len & (fp->off_align - 1)))
			return false;
	return true;
}

/* Skip fallocate modes already known to fail; past the chain, write zeros. */
static void falloc_settle(struct file_priv *fp, struct nvmf_bdev_req *r)
{
	const int *chain = r->dealloc ? dealloc_chain : zero_chain;
	unsigned unsup = atomic_load_explicit(&fp->unsup, memory_order_relaxed);
	while (r->step < CHAIN_LEN && (unsup & unsup_bit(chain[r->step])))
		r->step++;
	if (r->step >= CHAIN_LEN)
		r->op = NVMF_BDEV_OP_ZWRITE;
}

static void file_prep(struct nvmf_bdev_req *r, struct io_uring_sqe *sqe)
{
	struct file_priv *fp = r->b->priv;
	int fd;
	switch (r->op) {
	case NVMF_BDEV_OP_READ:
	case NVMF_BDEV_OP_WRITE:
		r->used_direct = aligned_direct(fp, r);
		fd = r->used_direct ? fp->dfd : fp->fd;
		if (r->op == NVMF_BDEV_OP_READ) {
			io_uring_prep_readv(sqe, fd, r->iov, (unsigned)r->iovcnt, r->off);
		} else {
			io_uring_prep_writev(sqe, fd, r->iov, (unsigned)r->iovcnt, r->off);
			if (r->fua)
				sqe->rw_flags = RWF_DSYNC;
		}
		break;
	case NVMF_BDEV_OP_FLUSH:
		io_uring_prep_fsync(sqe, fp->fd, IORING_FSYNC_DATASYNC);
		break;
	case NVMF_BDEV_OP_FALLOC:
		io_uring_prep_fallocate(sqe, fp->fd, (r->dealloc ? dealloc_chain : zero_chain)[r->step], (off_t)r->off,
					(off_t)r->len);
		break;
	case NVMF_BDEV_OP_ZWRITE: {
		/* Up to 16 x 64 KiB of the same zero buffer per SQE. */
		uint64_t left = r->len;
		int n = 0;
		while (left && n < NVMF_BDEV_REQ_INLINE_IOV) {
			size_t l = left < ZBUF_SIZE ? (size_t)left : ZBUF_SIZE;
			r->iov_inline[n].iov_base = zero_buf;
			r->iov_inline[n].iov_len = l;
			left -= l;
			n++;
		}
		uint64_t whole = r->len;
		r->iov = r->iov_inline;
		r->iovcnt = n;
		r->len -= left; /* aligned_direct() looks at this SQE's length */
		r->used_direct = aligned_direct(fp, r);
		r->len = whole;
		io_uring_prep_writev(sqe, r->used_direct ? fp->dfd : fp->fd, r->iov, (unsigned)n, r->off);
		break;
	}
	}
}

/* Drop n transferred bytes from the front of the request. */
static void advance(struct nvmf_bdev_req *r, uint64_t n)
{
	r->off += n;
	r->len -= n;
	int i = 0;
	while (i < r->iovcnt && n >= r->iov[i].iov_len)
		n -= r->iov[i++].iov_len;
	if (i < r->iovcnt) {
		r->iov[i].iov_base = (uint8_t *)r->iov[i].iov_base + n;
		r->iov[i].iov_len -= n;
	}
	memmove(r->iov, r->iov + i, sizeof(*r->iov) * (size_t)(r->iovcnt - i));
	r->iovcnt -= i;
}

static bool transient(int res)
{
	return res == -EAGAIN || res == -EINTR;
}

/* Direct I/O refused this request's alignment after all: redo it buffered. */
static bool direct_refused(const struct nvmf_bdev_req *r, int res)
{
	return r->used_direct && (res == -EINVAL || res == -EOPNOTSUPP);
}

static bool file_complete(struct nvmf_bdev_req *r, int res)
{
	struct file_priv *fp = r->b->priv;
	if (transient(res))
		return false;
	switch (r->op) {
	case NVMF_BDEV_OP_READ:
	case NVMF_BDEV_OP_WRITE:
		if (direct_refused(r, res)) {
			r->buffered = true;
			return false;
		}
		if (res <= 0) {
			r->result = res < 0 ? res : -EIO; /* 0: the file shrank under us */
			return true;
		}
		if ((uint64_t)res < r->len) {
			advance(r, (uint64_t)res);
			return false;
		}
		r->result = 0;
		return true;
	case NVMF_BDEV_OP_FLUSH:
		r->result = res;
		return true;
	case NVMF_BDEV_OP_FALLOC:
		if (res == 0) {
			r->result = 0;
			return true;
		}
		if (res == -EOPNOTSUPP || res == -EINVAL) {
			/* EINVAL can be alignment (block devices), so only EOPNOTSUPP is remembered. */
			if (res == -EOPNOTSUPP)
				atomic_fetch_or_explicit(&fp->unsup,
							 unsup_bit((r->dealloc ? dealloc_chain : zero_chain)[r->step]),
							 memory_order_relaxed);
			r->step++;
			falloc_settle(fp, r);
			return false;
		}
		r->result = res;
		return true;
	case NVMF_BDEV_OP_ZWRITE:
		if (direct_refused(r, res)) {
			r->buffered = true;
			return false;
		}
		if (res <= 0) {
			r->result = res < 0 ? res : -EIO;
			return true;
		}
		r->off += (uint64_t)res;
		r->len -= (uint64_t)res;
		if (r->len)
			return false;
		r->result = 0;
		return true;
	}
	r->result = -EIO;
	return true;
}

static int start(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt, uint8_t op,
		 uint64_t off, uint64_t len, bool flag, nvmf_bdev_cb cb, void *arg)
{
	if (!nvmf_bdev_ctx_has_ring(ctx))
		return -EOPNOTSUPP;
	struct nvmf_bdev_req *r = nvmf_bdev_req_new(ctx, b, iov, iovcnt, cb, arg);
	if (!r)
		return -ENOMEM;
	r->op = op;
	r->off = off;
	r->len = len;
	if (op == NVMF_BDEV_OP_WRITE)
		r->fua = flag;
	if (op == NVMF_BDEV_OP_FALLOC) {
		r->dealloc = flag;
		falloc_settle(b->priv, r);
	}
	nvmf_bdev_req_start(ctx, r);
	return 0;
}

static int file_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, iov, iovcnt, NVMF_BDEV_OP_READ, off, len, false, cb, arg);
}

static int file_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		       uint64_t off, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, iov, iovcnt, NVMF_BDEV_OP_WRITE, off, len, fua, cb, arg);
}

static int file_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, NULL, 0, NVMF_BDEV_OP_FLUSH, 0, 0, false, cb, arg);
}

static int file_zero(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		     nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, NULL, 0, NVMF_BDEV_OP_FALLOC, off, len, dealloc, cb, arg);
}

static void file_close(struct nvmf_bdev *b)
{
	struct file_priv *fp = b->priv;
	if (fp->dfd >= 0)
		close(fp->dfd);
	close(fp->fd);
	free(fp);
}

static const struct nvmf_bdev_ops file_ops = {
	.kind = "file",
	.readv = file_readv,
	.writev = file_writev,
	.flush = file_flush,
	.zero = file_zero,
	.close = file_close,
	.prep = file_prep,
	.complete = file_complete,
};

static const struct nvmf_bdev_ops block_ops = {
	.kind = "block",
	.readv = file_readv,
	.writev = file_writev,
	.flush = file_flush,
	.zero = file_zero,
	.close = file_close,
	.prep = file_prep,
	.complete = file_complete,
};

bool nvmf_bdev_file_direct(const struct nvmf_bdev *b)
{
	if (b->ops != &file_ops && b->ops != &block_ops)
		return false;
	return ((const struct file_priv *)b->priv)->dfd >= 0;
}

void nvmf_bdev_file_degrade(struct nvmf_bdev *b, unsigned what)
{
	if (b->ops != &file_ops && b->ops != &block_ops)
		return;
	struct file_priv *fp = b->priv;
	if ((what & NVMF_BDEV_NO_DIRECT) && fp->dfd >= 0) {
		close(fp->dfd);
		fp->dfd = -1;
	}
	atomic_fetch_or(&fp->unsup, ((what & NVMF_BDEV_NO_ZERO_RANGE) ? UNSUP_ZERO : 0) |
					    ((what & NVMF_BDEV_NO_PUNCH) ? UNSUP_PUNCH : 0));
}

/* Open the O_DIRECT descriptor and learn its alignment; on failure stay buffered with a note. */
static void open_direct(struct file_priv *fp, const char *path, bool blk, uint32_t lbs)
{
	fp->dfd = -1;
	fp->mem_align = fp->off_align = blk ? lbs : 4096; /* safe guesses without statx */
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (statx(fp->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0) {
			fprintf(stderr, "nvmf: bdev '%s': file system has no O_DIRECT, using buffered I/O\n", path);
			return;
		}
		fp->mem_align = stx.stx_dio_mem_align;
		fp->off_align = stx.stx_dio_offset_align;
	}
#endif
	fp->dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fp->dfd < 0)
		fprintf(stderr, "nvmf: bdev '%s': O_DIRECT open failed (%s), using buffered I/O\n", path,
			strerror(errno));
}

int nvmf_bdev_file_open(struct nvmf_bdev *b, const char *path, uint32_t block_size, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "bdev '%s': %s (expected ram:SIZE, null:SIZE, a file or a block device)", path,
			 strerror(errno));
		return -1;
	}
	bool blk = S_ISBLK(st.st_mode);
	if (!blk && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "bdev '%s': not a regular file or block device", path);
		return -1;
	}
	struct file_priv *fp = calloc(1, sizeof(*fp));
	if (!fp) {
		snprintf(err, errlen, "bdev '%s': out of memory", path);
		return -1;
	}
	/* O_EXCL on a block device refuses one that is mounted or claimed. */
	fp->fd = open(path, O_RDWR | O_CLOEXEC | (blk ? O_EXCL : 0));
	if (fp->fd < 0) {
		snprintf(err, errlen, "bdev '%s': cannot open read-write: %s", path, strerror(errno));
		free(fp);
		return -1;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint32_t lbs = 512;
	if (blk) {
		int ssz = 0;
		if (ioctl(fp->fd, BLKGETSIZE64, &size) < 0 || ioctl(fp->fd, BLKSSZGET, &ssz) < 0 || ssz < 512) {
			snprintf(err, errlen, "bdev '%s': cannot read device geometry: %s", path, strerror(errno));
			goto fail;
		}
		lbs = (uint32_t)ssz;
	}
	b->block_size = block_size ? block_size : lbs;
	b->size = size / b->block_size * b->block_size;
	if (b->size == 0) {
		snprintf(err, errlen, "bdev '%s': smaller than one %u-byte block", path, b->block_size);
		goto fail;
	}
	open_direct(fp, path, blk, lbs);
	b->ops = blk ? &block_ops : &file_ops;
	b->priv = fp;
	b->volatile_cache = true;
	b->supports_deallocate = true; /* punch hole, zero range or written zeros: reads return zeros */
	return 0;
fail:
	close(fp->fd);
	free(fp);
	return -1;
}
