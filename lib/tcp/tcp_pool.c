/* Fixed-size object pools grown in chunks, so the data path never mallocs once warm. */
#include <stdlib.h>
#include <string.h>

#include "tcp/tcp_internal.h"

void tcp_pool_init(struct tcp_pool *p, size_t objsize, size_t per_chunk)
{
	memset(p, 0, sizeof(*p));
	/* Keep objects pointer-aligned; a free object's first word links the free list. */
	p->objsize = (objsize + 15) & ~(size_t)15;
	p->per_chunk = per_chunk ? per_chunk : 16;
}

void *tcp_pool_get(struct tcp_pool *p)
{
	if (p->free == NULL) {
		void **chunks = realloc(p->chunks, (p->nchunks + 1) * sizeof(*chunks));
		if (chunks == NULL)
			return NULL;
		p->chunks = chunks;
		char *mem = calloc(p->per_chunk, p->objsize);
		if (mem == NULL)
			return NULL;
		p->chunks[p->nchunks++] = mem;
		for (size_t i = p->per_chunk; i-- > 0;) {
			void *obj = mem + i * p->objsize;
			*(void **)obj = p->free;
			p->free = obj;
		}
	}
	void *obj = p->free;
	p->free = *(void **)obj;
	return obj;
}

void tcp_pool_put(struct tcp_pool *p, void *obj)
{
	*(void **)obj = p->free;
	p->free = obj;
}

void tcp_pool_foreach(struct tcp_pool *p, void (*fn)(void *obj, void *arg), void *arg)
{
	for (size_t c = 0; c < p->nchunks; c++)
		for (size_t i = 0; i < p->per_chunk; i++)
			fn((char *)p->chunks[c] + i * p->objsize, arg);
}

void tcp_pool_destroy(struct tcp_pool *p, void (*fn)(void *obj))
{
	for (size_t c = 0; c < p->nchunks; c++) {
		if (fn)
			for (size_t i = 0; i < p->per_chunk; i++)
				fn((char *)p->chunks[c] + i * p->objsize);
		free(p->chunks[c]);
	}
	free(p->chunks);
	memset(p, 0, sizeof(*p));
}
