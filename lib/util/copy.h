/* Copies into a namespace's own memory, which nothing reads again soon. */
#ifndef NVMF_UTIL_COPY_H
#define NVMF_UTIL_COPY_H

#include <stddef.h>

/*
 * Copy n bytes from src to dst, where dst is storage (a RAM namespace's
 * blocks) rather than a buffer about to be read.  Large copies use
 * non-temporal stores where the CPU has them (x86-64): the destination's
 * cache lines are not read first and hotter data is not evicted, which
 * makes random writes into a large namespace markedly faster.  A transfer
 * may come in several pieces, one call each.
 */
void nvmf_copy_to_storage(void *dst, const void *src, size_t n);
/*
 * After the last piece of a transfer, before its completion is posted: the
 * bytes copied so far become visible to every thread (a store fence).
 */
void nvmf_copy_to_storage_done(void);

#endif
