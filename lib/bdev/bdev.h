/*
 * Namespace backends ("block devices"): RAM, regular file or block device,
 * and null.  I/O is asynchronous through a per-thread I/O context (an
 * io_uring for file backends) so that a reactor never blocks on a disk.
 * A bdev may be used from several threads at once, each with its own context.
 */
#ifndef NVMF_BDEV_H
#define NVMF_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct nvmf_bdev;
struct nvmf_bdev_io_ctx;

/*
 * Open a backend from its spec: "ram:SIZE", "null:SIZE" (writes are dropped,
 * reads return zeros; for benchmarks), SIZE in bytes with
 * an optional K/M/G/T suffix, powers of 1024), "rbd:POOL/IMAGE[@CONF][:id=CLIENT]"
 * (a Ceph RBD image; CONF a ceph.conf path, CLIENT the cephx user without
 * "client."; when built with librbd) or a path to a regular file
 * or block device.  block_size: 0 for the backend's natural size (512 for
 * RAM/null and files, the device's logical block size for block devices).
 * NULL on failure with a message in err.
 */
struct nvmf_bdev *nvmf_bdev_open(const char *spec, uint32_t block_size, char *err, size_t errlen);
/* Drop a reference; the last one closes the backend. */
void nvmf_bdev_close(struct nvmf_bdev *b);
/* One more reference (a registry and the namespaces on it share one bdev). */
void nvmf_bdev_get(struct nvmf_bdev *b);

uint64_t nvmf_bdev_size(const struct nvmf_bdev *b); /* bytes, a multiple of the block size */
uint32_t nvmf_bdev_block_size(const struct nvmf_bdev *b);
/* "ram", "null", "file", "block", "rbd" */
const char *nvmf_bdev_kind(const struct nvmf_bdev *b);
/* The spec it was opened from (stable identity for NGUID/UUID derivation). */
const char *nvmf_bdev_spec(const struct nvmf_bdev *b);
/*
 * What names the stored data wherever it is opened from, for identifiers that
 * several gateways must agree on: the spec, except for RBD
 * ("rbd:FSID/POOL/IMAGE", whatever conf file or client id reached it).
 */
const char *nvmf_bdev_identity(const struct nvmf_bdev *b);
/* Has a volatile write cache that Flush must write back (files and block devices). */
bool nvmf_bdev_volatile_cache(const struct nvmf_bdev *b);
/* Deallocate frees space / reads back zeros afterwards. */
bool nvmf_bdev_supports_deallocate(const struct nvmf_bdev *b);
/*
 * Holds no data (null): writes are dropped and reads have no defined value,
 * so a caller may skip both and move no data at all.
 */
bool nvmf_bdev_holds_no_data(const struct nvmf_bdev *b);
/*
 * The backend's bytes [offset, offset + len) where they live in this
 * process's memory (RAM), for sending reads without a copy; NULL for
 * other backends or a range outside the device.  The memory stays mapped
 * until nvmf_bdev_close(); concurrent writes may change it.
 */
const void *nvmf_bdev_memory(const struct nvmf_bdev *b, uint64_t offset, uint64_t len);
/*
 * The same bytes, for a write to land in place (RAM): bytes stored there are
 * written and as durable as a completed write, with no backend call.  NULL
 * where nvmf_bdev_memory() is.
 */
void *nvmf_bdev_memory_for_write(struct nvmf_bdev *b, uint64_t offset, uint64_t len);

/*
 * Call cb(arg) when the backend's size changes (an RBD image resized
 * elsewhere); cb runs on any thread and must not call back into the bdev
 * listener functions.  0 or -ENOMEM.
 */
int nvmf_bdev_add_resize_listener(struct nvmf_bdev *b, void (*cb)(void *arg), void *arg);
void nvmf_bdev_remove_resize_listener(struct nvmf_bdev *b, void (*cb)(void *arg), void *arg);

/* Per-thread I/O context.  depth: most requests in flight. */
struct nvmf_bdev_io_ctx *nvmf_bdev_io_ctx_create(unsigned depth);
/* Waits for requests still in the kernel but does not run their callbacks. */
void nvmf_bdev_io_ctx_destroy(struct nvmf_bdev_io_ctx *ctx);
/* A file descriptor that becomes readable when completions are waiting (an eventfd). */
int nvmf_bdev_io_ctx_fd(const struct nvmf_bdev_io_ctx *ctx);
/* Submit what is queued and run the callbacks of finished requests; never blocks. Returns completions run. */
int nvmf_bdev_io_ctx_poll(struct nvmf_bdev_io_ctx *ctx);
/* Requests submitted and not yet completed. */
unsigned nvmf_bdev_io_ctx_inflight(const struct nvmf_bdev_io_ctx *ctx);

/*
 * Completion: result is 0 or a negative errno.  For RAM and null backends
 * the callback may run before the submitting call returns.
 * Offsets and lengths are in bytes, multiples of the block size.
 * Submission returns 0, or a negative errno (then the callback does not run).
 */
typedef void (*nvmf_bdev_cb)(void *arg, int result);

int nvmf_bdev_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		    uint64_t offset, nvmf_bdev_cb cb, void *arg);
/* fua: the data is on stable media when cb runs. */
int nvmf_bdev_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		     uint64_t offset, bool fua, nvmf_bdev_cb cb, void *arg);
/* Everything completed before the flush was submitted is on stable media when cb runs. */
int nvmf_bdev_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg);
/*
 * Atomic compare and write where the backend offers it (RBD: librbd's, so it
 * holds across gateways): if [offset, offset + len) equals cmp, write data
 * there.  Whether the backend can do it for this range (RBD: within one 512-byte sector).
 */
bool nvmf_bdev_can_compare_and_write(const struct nvmf_bdev *b, uint64_t offset, uint64_t len);
/* cb's result: 0, -EILSEQ when the media differs from cmp (nothing written), or another negative errno. */
int nvmf_bdev_compare_and_write(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const void *cmp, const void *data,
				uint64_t offset, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg);
int nvmf_bdev_write_zeroes(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t offset, uint64_t len,
			   nvmf_bdev_cb cb, void *arg);
int nvmf_bdev_deallocate(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t offset, uint64_t len,
			 nvmf_bdev_cb cb, void *arg);

#endif
