/* bdev front end: spec parsing, argument checks, dispatch to the backend. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "util/size.h"

#define BDEV_MAX_BLOCK 65536u

struct nvmf_bdev_listener {
	struct nvmf_bdev_listener *next;
	void (*cb)(void *arg);
	void *arg;
};

static pthread_mutex_t listeners_lock = PTHREAD_MUTEX_INITIALIZER;

/* "SIZE[K|M|G|T]" (1024-based) into bytes; 0 or -1 with a message. */
static int parse_size(const char *spec, const char *s, uint64_t *out, char *err, size_t errlen)
{
	if (*s == '\0') {
		snprintf(err, errlen, "bdev '%s': missing size (e.g. %s1G)", spec, spec);
		return -1;
	}
	int rc = nvmf_parse_size(s, out);
	if (rc == -ERANGE)
		snprintf(err, errlen, "bdev '%s': size '%s' is too large", spec, s);
	else if (rc < 0)
		snprintf(err, errlen, "bdev '%s': invalid size '%s' (a number with an optional K/M/G/T suffix)", spec, s);
	else if (*out == 0)
		snprintf(err, errlen, "bdev '%s': size must not be zero", spec);
	return rc < 0 || *out == 0 ? -1 : 0;
}

struct nvmf_bdev *nvmf_bdev_open(const char *spec, uint32_t block_size, char *err, size_t errlen)
{
	char dummy[1];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!spec || !*spec) {
		snprintf(err, errlen, "bdev: empty spec");
		return NULL;
	}
	if (block_size && (block_size < 512 || block_size > BDEV_MAX_BLOCK || (block_size & (block_size - 1)))) {
		snprintf(err, errlen, "bdev '%s': block size %u is not a power of two in 512..%u", spec, block_size,
			 BDEV_MAX_BLOCK);
		return NULL;
	}
	struct nvmf_bdev *b = calloc(1, sizeof(*b));
	if (!b || !(b->spec = strdup(spec))) {
		free(b);
		snprintf(err, errlen, "bdev '%s': out of memory", spec);
		return NULL;
	}
	atomic_init(&b->refs, 1);
	int r;
	bool ram = strncmp(spec, "ram:", 4) == 0;
	if (ram || strncmp(spec, "null:", 5) == 0) {
		uint64_t size;
		r = parse_size(spec, spec + (ram ? 4 : 5), &size, err, errlen);
		if (r == 0) {
			b->block_size = block_size ? block_size : 512;
			if (size % b->block_size) {
				snprintf(err, errlen, "bdev '%s': size %llu is not a multiple of the block size %u", spec,
					 (unsigned long long)size, b->block_size);
				r = -1;
			}
		}
		if (r == 0)
			r = ram ? nvmf_bdev_ram_open(b, size, err, errlen) : nvmf_bdev_null_open(b, size, err, errlen);
	} else if (strncmp(spec, "rbd:", 4) == 0) {
#ifdef NVMF_HAVE_LIBRBD
		r = nvmf_bdev_rbd_open(b, spec, block_size, err, errlen);
#else
		snprintf(err, errlen, "bdev '%s': this build has no RBD support (librbd-dev was missing)", spec);
		r = -1;
#endif
	} else {
		r = nvmf_bdev_file_open(b, spec, block_size, err, errlen);
	}
	if (r < 0) {
		free(b->spec);
		free(b);
		return NULL;
	}
	return b;
}

void nvmf_bdev_get(struct nvmf_bdev *b)
{
	atomic_fetch_add(&b->refs, 1);
}

void nvmf_bdev_close(struct nvmf_bdev *b)
{
	if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	b->ops->close(b); /* stops resize notifications first */
	while (b->listeners) {
		struct nvmf_bdev_listener *l = b->listeners;
		b->listeners = l->next;
		free(l);
	}
	free(b->identity);
	free(b->spec);
	free(b);
}

uint64_t nvmf_bdev_size(const struct nvmf_bdev *b)
{
	return __atomic_load_n(&b->size, __ATOMIC_RELAXED); /* RBD images change size under us */
}

int nvmf_bdev_add_resize_listener(struct nvmf_bdev *b, void (*cb)(void *arg), void *arg)
{
	struct nvmf_bdev_listener *l = malloc(sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	pthread_mutex_lock(&listeners_lock);
	l->next = b->listeners;
	b->listeners = l;
	pthread_mutex_unlock(&listeners_lock);
	return 0;
}

void nvmf_bdev_remove_resize_listener(struct nvmf_bdev *b, void (*cb)(void *arg), void *arg)
{
	pthread_mutex_lock(&listeners_lock);
	for (struct nvmf_bdev_listener **p = &b->listeners; *p; p = &(*p)->next)
		if ((*p)->cb == cb && (*p)->arg == arg) {
			struct nvmf_bdev_listener *l = *p;
			*p = l->next;
			free(l);
			break;
		}
	pthread_mutex_unlock(&listeners_lock);
}

void nvmf_bdev_notify_resize(struct nvmf_bdev *b)
{
	pthread_mutex_lock(&listeners_lock);
	for (struct nvmf_bdev_listener *l = b->listeners; l; l = l->next)
		l->cb(l->arg);
	pthread_mutex_unlock(&listeners_lock);
}

uint32_t nvmf_bdev_block_size(const struct nvmf_bdev *b)
{
	return b->block_size;
}

const char *nvmf_bdev_kind(const struct nvmf_bdev *b)
{
	return b->ops->kind;
}

const char *nvmf_bdev_spec(const struct nvmf_bdev *b)
{
	return b->spec;
}

const char *nvmf_bdev_identity(const struct nvmf_bdev *b)
{
	return b->identity ? b->identity : b->spec;
}

bool nvmf_bdev_volatile_cache(const struct nvmf_bdev *b)
{
	return b->volatile_cache;
}

bool nvmf_bdev_holds_no_data(const struct nvmf_bdev *b)
{
	return b->holds_no_data;
}

void *nvmf_bdev_memory_for_write(struct nvmf_bdev *b, uint64_t offset, uint64_t len)
{
	if (!b->memory || offset > b->size || len > b->size - offset)
		return NULL;
	return (uint8_t *)b->memory + offset;
}

const void *nvmf_bdev_memory(const struct nvmf_bdev *b, uint64_t offset, uint64_t len)
{
	/* The same bytes, read only: the backend's memory is never const itself. */
	return nvmf_bdev_memory_for_write((struct nvmf_bdev *)b, offset, len);
}

bool nvmf_bdev_supports_deallocate(const struct nvmf_bdev *b)
{
	return b->supports_deallocate;
}

/* Block-aligned and inside the device: 0, -EINVAL or -ERANGE. */
static int check_range(const struct nvmf_bdev *b, uint64_t off, uint64_t len)
{
	if ((off | len) % b->block_size)
		return -EINVAL;
	uint64_t size = nvmf_bdev_size(b);
	if (off > size || len > size - off)
		return -ERANGE;
	return 0;
}

static int check_iov(const struct nvmf_bdev *b, const struct iovec *iov, int iovcnt, uint64_t off, uint64_t *len)
{
	if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	uint64_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		total += iov[i].iov_len;
		if (total < iov[i].iov_len)
			return -EINVAL;
	}
	if (total == 0)
		return -EINVAL;
	*len = total;
	return check_range(b, off, total);
}

int nvmf_bdev_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		    uint64_t offset, nvmf_bdev_cb cb, void *arg)
{
	uint64_t len;
	if (!ctx || !b || !cb)
		return -EINVAL;
	int r = check_iov(b, iov, iovcnt, offset, &len);
	return r < 0 ? r : b->ops->readv(ctx, b, iov, iovcnt, offset, len, cb, arg);
}

/*
 * Without a volatile cache an acknowledged write is already durable (RBD with
 * its cache off: the OSDs have it), so FUA asks nothing more of the backend.
 * Passing it on would cost a flush per write, and an RBD flush waits for every
 * write in flight before it: at QD32 that halved the write rate.
 */
static bool durable_fua(const struct nvmf_bdev *b, bool fua)
{
	return fua && b->volatile_cache;
}

int nvmf_bdev_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		     uint64_t offset, bool fua, nvmf_bdev_cb cb, void *arg)
{
	uint64_t len;
	if (!ctx || !b || !cb)
		return -EINVAL;
	int r = check_iov(b, iov, iovcnt, offset, &len);
	return r < 0 ? r : b->ops->writev(ctx, b, iov, iovcnt, offset, len, durable_fua(b, fua), cb, arg);
}

int nvmf_bdev_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg)
{
	if (!ctx || !b || !cb)
		return -EINVAL;
	return b->ops->flush(ctx, b, cb, arg);
}

static int zero(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		nvmf_bdev_cb cb, void *arg)
{
	if (!ctx || !b || !cb)
		return -EINVAL;
	int r = check_range(b, off, len);
	if (r < 0)
		return r;
	if (len == 0) {
		nvmf_bdev_complete_now(ctx, cb, arg, 0);
		return 0;
	}
	return b->ops->zero(ctx, b, off, len, dealloc, cb, arg);
}

bool nvmf_bdev_can_compare_and_write(const struct nvmf_bdev *b, uint64_t offset, uint64_t len)
{
	return b->ops->can_caw && check_range(b, offset, len) == 0 && len > 0 && b->ops->can_caw(b, offset, len);
}

int nvmf_bdev_compare_and_write(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const void *cmp, const void *data,
				uint64_t offset, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	if (!ctx || !b || !cb || !cmp || !data)
		return -EINVAL;
	if (!nvmf_bdev_can_compare_and_write(b, offset, len))
		return b->ops->can_caw ? check_range(b, offset, len) ?: -EINVAL : -EOPNOTSUPP;
	return b->ops->caw(ctx, b, cmp, data, offset, len, durable_fua(b, fua), cb, arg);
}

int nvmf_bdev_write_zeroes(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t offset, uint64_t len,
			   nvmf_bdev_cb cb, void *arg)
{
	return zero(ctx, b, offset, len, false, cb, arg);
}

int nvmf_bdev_deallocate(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t offset, uint64_t len,
			 nvmf_bdev_cb cb, void *arg)
{
	return zero(ctx, b, offset, len, true, cb, arg);
}
