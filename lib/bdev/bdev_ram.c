/*
 * RAM backend: an anonymous MAP_NORESERVE mapping, so untouched blocks cost
 * no memory.  Reads and writes are copies and complete at once; writes
 * stream past the cache (nvmf_copy_to_storage).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev_internal.h"
#include "util/copy.h"

/* From this size on, a namespace's memory is offered transparent huge pages. */
#define RAM_HUGE_PAGES_MIN (64ull << 20)
/* Below this, memset beats the madvise syscall and its TLB shootdown. */
#define RAM_MADVISE_MIN (256u * 1024)

static int ram_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		     uint64_t off, uint64_t len, nvmf_bdev_cb cb, void *arg)
{
	(void)len;
	const uint8_t *src = (const uint8_t *)b->priv + off;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len) /* a NULL base is allowed with length 0 */
			memcpy(iov[i].iov_base, src, iov[i].iov_len);
		src += iov[i].iov_len;
	}
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static int ram_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	(void)len;
	(void)fua; /* memory is as stable as it gets */
	uint8_t *dst = (uint8_t *)b->priv + off;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			nvmf_copy_to_storage(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	nvmf_copy_to_storage_done();
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static int ram_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg)
{
	(void)b;
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

/*
 * Write zeroes and deallocate are the same here: whole pages go back to the
 * kernel (an anonymous private mapping reads zeros after MADV_DONTNEED),
 * partial pages at the ends are cleared with memset.
 */
static int ram_zero(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		    nvmf_bdev_cb cb, void *arg)
{
	(void)dealloc;
	uint8_t *mem = b->priv;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = (off + page - 1) & ~(page - 1);
	uint64_t end = (off + len) & ~(page - 1);
	if (len < RAM_MADVISE_MIN || start >= end || madvise(mem + start, end - start, MADV_DONTNEED) != 0) {
		memset(mem + off, 0, len);
	} else {
		memset(mem + off, 0, start - off);
		memset(mem + end, 0, off + len - end);
	}
	nvmf_bdev_complete_now(ctx, cb, arg, 0);
	return 0;
}

static void ram_close(struct nvmf_bdev *b)
{
	munmap(b->priv, b->size);
}

static const struct nvmf_bdev_ops ram_ops = {
	.kind = "ram",
	.readv = ram_readv,
	.writev = ram_writev,
	.flush = ram_flush,
	.zero = ram_zero,
	.close = ram_close,
};

int nvmf_bdev_ram_open(struct nvmf_bdev *b, uint64_t size, char *err, size_t errlen)
{
	if ((uint64_t)(size_t)size != size) {
		snprintf(err, errlen, "bdev '%s': too large for this address space", b->spec);
		return -1;
	}
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		snprintf(err, errlen, "bdev '%s': cannot map %llu bytes: %s", b->spec, (unsigned long long)size,
			 strerror(errno));
		return -1;
	}
	/*
	 * Huge pages where the kernel has them (best effort) for large namespaces:
	 * random I/O over them otherwise misses the TLB on nearly every command,
	 * which in a virtual machine costs a two-level page walk (SPDK's malloc
	 * bdev sits on huge pages too).  Small ones keep 4 KiB pages, so that
	 * their memory grows with what is written, not by 2 MiB at a time.
	 */
	if (size >= RAM_HUGE_PAGES_MIN)
		(void)madvise(mem, size, MADV_HUGEPAGE);
	b->ops = &ram_ops;
	b->priv = mem;
	b->memory = mem;
	b->size = size;
	b->volatile_cache = false;
	b->supports_deallocate = true;
	return 0;
}
