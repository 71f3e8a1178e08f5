/* Guest memory the client shared with DMA_MAP: a sorted table of mmapped regions, and which of them were lost. */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "vu_guard.h"
#include "vu_internal.h"

int vu_dma_add(struct vu_dma *d, uint64_t iova, uint64_t len, int fd, uint64_t offset, bool readable,
	       bool writable)
{
	if (len == 0 || iova + len < iova || (iova | len | offset) & (VU_PAGE - 1) || len > (uint64_t)SIZE_MAX)
		return -EINVAL;
	unsigned pos = 0;
	for (; pos < d->n; pos++) {
		if (vu_overlaps(iova, len, d->r[pos].iova, d->r[pos].len))
			return -EEXIST;
		if (d->r[pos].iova > iova)
			break;
	}
	for (unsigned i = pos; i < d->n; i++)
		if (vu_overlaps(iova, len, d->r[i].iova, d->r[i].len))
			return -EEXIST;
	if (d->n == d->cap) {
		unsigned cap = d->cap ? d->cap * 2 : 8;
		struct vu_dma_region *r = realloc(d->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		d->r = r;
		d->cap = cap;
	}
	uint8_t *va = NULL;
	struct stat st;
	/*
	 * Past the end of its file a mapping faults (SIGBUS) when touched: refuse it now.  Not on
	 * hugetlbfs, where a shared writable mapping grows the file instead: SPDK's initiator maps
	 * regions of several huge pages from the first page's file (its pages past that file are
	 * then not shared with it, as with SPDK's own target).
	 */
	struct statfs sf;
	bool grows = fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type == HUGETLBFS_MAGIC && writable;
	if (fd >= 0 && !grows && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (offset > (uint64_t)st.st_size || len > (uint64_t)st.st_size - offset))
		return -EINVAL;
	if (fd >= 0) {
		int prot = (readable ? PROT_READ : 0) | (writable ? PROT_WRITE : 0);
		void *p = mmap(NULL, (size_t)len, prot ? prot : PROT_NONE, MAP_SHARED, fd, (off_t)offset);
		if (p == MAP_FAILED)
			return -errno;
		va = p;
	}
	memmove(&d->r[pos + 1], &d->r[pos], (d->n - pos) * sizeof(*d->r));
	d->r[pos] = (struct vu_dma_region){.iova = iova, .len = len, .vaddr = va, .readable = readable, .writable = writable};
	d->n++;
	return 0;
}

int vu_dma_remove(struct vu_dma *d, uint64_t iova, uint64_t len)
{
	for (unsigned i = 0; i < d->n; i++) {
		if (d->r[i].iova == iova && d->r[i].len == len) {
			if (d->r[i].vaddr)
				munmap(d->r[i].vaddr, (size_t)len);
			memmove(&d->r[i], &d->r[i + 1], (d->n - i - 1) * sizeof(*d->r));
			d->n--;
			return 0;
		}
	}
	return -ENOENT;
}

void vu_dma_clear(struct vu_dma *d)
{
	for (unsigned i = 0; i < d->n; i++)
		if (d->r[i].vaddr)
			munmap(d->r[i].vaddr, (size_t)d->r[i].len);
	free(d->r);
	memset(d, 0, sizeof(*d));
}

void *vu_dma_ptr(const struct vu_dma *d, uint64_t iova, uint64_t len, bool write)
{
	if (iova + len < iova)
		return NULL;
	unsigned lo = 0, hi = d->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct vu_dma_region *r = &d->r[mid];
		if (iova < r->iova) {
			hi = mid;
		} else if (iova - r->iova >= r->len) {
			lo = mid + 1;
		} else {
			if (len > r->len - (iova - r->iova) || !r->vaddr || r->lost ||
			    !(write ? r->writable : r->readable))
				return NULL;
			return r->vaddr + (iova - r->iova);
		}
	}
	return NULL;
}

void vu_dma_lost(struct vu_dma *d, unsigned faults0, unsigned kept0)
{
	unsigned kept = vu_guard.kept;
	bool all = vu_guard.faults - faults0 > kept - kept0; /* more faults than addresses kept */
	for (unsigned k = kept0; k < kept; k++) {
		uint8_t *a = (uint8_t *)vu_guard.addr[k];
		bool ours = false;
		for (unsigned i = 0; i < d->n && !ours; i++) {
			struct vu_dma_region *r = &d->r[i];
			if (r->vaddr && a >= r->vaddr && a < r->vaddr + r->len)
				r->lost = ours = true;
		}
		if (!ours) {
			/* Not guest memory: a fault the guard must not hide. */
			fprintf(stderr, "nvmfd: SIGBUS at %p, outside guest memory\n", (void *)a);
			abort();
		}
	}
	for (unsigned i = 0; all && i < d->n; i++)
		d->r[i].lost = true;
	vu_guard.kept = kept0;
	vu_guard.faults = faults0;
}
