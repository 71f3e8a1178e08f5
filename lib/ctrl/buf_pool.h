/*
 * Data buffers for requests under one budget shared by the process: when
 * the budget is spent an allocation fails and the request waits for a
 * buffer (back-pressure) instead of the process growing.  Sizes are rounded
 * up to powers of two from 4 KiB; each thread keeps a few freed buffers of
 * each size for reuse, counted against the budget like buffers in use.
 * Thread-safe.
 */
#ifndef NVMF_CTRL_BUF_POOL_H
#define NVMF_CTRL_BUF_POOL_H

#include <stddef.h>
#include <stdint.h>

struct nvmf_buf_pool;

/* budget: bytes of buffers the pool may hold at once.  NULL on failure. */
struct nvmf_buf_pool *nvmf_buf_pool_create(size_t budget);
/* Every buffer must have been returned (thread caches are emptied here and at thread exit). */
void nvmf_buf_pool_destroy(struct nvmf_buf_pool *p);
void nvmf_buf_pool_set_budget(struct nvmf_buf_pool *p, size_t budget);
/* Bytes held (in use or cached). */
size_t nvmf_buf_pool_held(const struct nvmf_buf_pool *p);

/*
 * A 4 KiB-aligned buffer of at least len bytes (1 <= len <= NVMF_BUF_MAX);
 * NULL when the budget is spent or memory is short.  *cap receives its size,
 * which nvmf_buf_put needs back.
 */
void *nvmf_buf_get(struct nvmf_buf_pool *p, size_t len, size_t *cap);
void nvmf_buf_put(struct nvmf_buf_pool *p, void *buf, size_t cap);

#define NVMF_BUF_MIN 4096u
#define NVMF_BUF_MAX (1024u * 1024)

#endif
