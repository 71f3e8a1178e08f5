/* Request data buffers under a process-wide budget, with small per-thread caches. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "buf_pool.h"

#define NCLASSES 9 /* 4 KiB .. 1 MiB */
/* A thread keeps at most this many bytes of freed buffers per size class. */
#define CACHE_BYTES_PER_CLASS (2u * 1024 * 1024)

struct nvmf_buf_pool {
	atomic_size_t budget;
	atomic_size_t held;
	pthread_key_t key; /* the thread's cache, emptied by its destructor */
};

struct free_buf {
	struct free_buf *next;
};

struct thread_cache {
	struct nvmf_buf_pool *pool;
	struct free_buf *free[NCLASSES];
	unsigned count[NCLASSES];
};

static unsigned size_class(size_t len)
{
	unsigned c = 0;
	while (((size_t)NVMF_BUF_MIN << c) < len)
		c++;
	return c;
}

static void cache_empty(struct thread_cache *tc)
{
	for (unsigned c = 0; c < NCLASSES; c++) {
		while (tc->free[c]) {
			struct free_buf *b = tc->free[c];
			tc->free[c] = b->next;
			free(b);
			atomic_fetch_sub(&tc->pool->held, (size_t)NVMF_BUF_MIN << c);
		}
		tc->count[c] = 0;
	}
}

static void cache_destructor(void *arg)
{
	struct thread_cache *tc = arg;
	cache_empty(tc);
	free(tc);
}

struct nvmf_buf_pool *nvmf_buf_pool_create(size_t budget)
{
	struct nvmf_buf_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (pthread_key_create(&p->key, cache_destructor) != 0) {
		free(p);
		return NULL;
	}
	atomic_init(&p->budget, budget);
	atomic_init(&p->held, 0);
	return p;
}

void nvmf_buf_pool_destroy(struct nvmf_buf_pool *p)
{
	if (!p)
		return;
	struct thread_cache *tc = pthread_getspecific(p->key);
	if (tc) {
		pthread_setspecific(p->key, NULL);
		cache_destructor(tc);
	}
	pthread_key_delete(p->key);
	free(p);
}

void nvmf_buf_pool_set_budget(struct nvmf_buf_pool *p, size_t budget)
{
	atomic_store(&p->budget, budget);
}

size_t nvmf_buf_pool_held(const struct nvmf_buf_pool *p)
{
	return atomic_load(&p->held);
}

static struct thread_cache *thread_cache(struct nvmf_buf_pool *p)
{
	struct thread_cache *tc = pthread_getspecific(p->key);
	if (!tc) {
		tc = calloc(1, sizeof(*tc));
		if (!tc)
			return NULL;
		tc->pool = p;
		if (pthread_setspecific(p->key, tc) != 0) {
			free(tc);
			return NULL;
		}
	}
	return tc;
}

void *nvmf_buf_get(struct nvmf_buf_pool *p, size_t len, size_t *cap)
{
	if (len == 0 || len > NVMF_BUF_MAX)
		return NULL;
	unsigned c = size_class(len);
	size_t size = (size_t)NVMF_BUF_MIN << c;
	struct thread_cache *tc = thread_cache(p);
	if (tc && tc->free[c]) {
		struct free_buf *b = tc->free[c];
		tc->free[c] = b->next;
		tc->count[c]--;
		*cap = size;
		return b;
	}
	/* Reserve the bytes first so that threads racing for the last of the budget cannot overshoot it. */
	size_t held = atomic_fetch_add(&p->held, size) + size;
	if (held > atomic_load(&p->budget)) {
		atomic_fetch_sub(&p->held, size);
		return NULL;
	}
	void *b = aligned_alloc(NVMF_BUF_MIN, size);
	if (!b) {
		atomic_fetch_sub(&p->held, size);
		return NULL;
	}
	*cap = size;
	return b;
}

void nvmf_buf_put(struct nvmf_buf_pool *p, void *buf, size_t cap)
{
	if (!buf)
		return;
	unsigned c = size_class(cap);
	struct thread_cache *tc = thread_cache(p);
	if (tc && (tc->count[c] + 1) * cap <= CACHE_BYTES_PER_CLASS) {
		struct free_buf *b = buf;
		b->next = tc->free[c];
		tc->free[c] = b;
		tc->count[c]++;
		return;
	}
	free(buf);
	atomic_fetch_sub(&p->held, cap);
}
