/* The registry of named bdevs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_registry.h"
#include "bdev/bdev.h"

struct bdev_registry {
	struct bdev_entry *head, *tail;
};

struct bdev_registry *bdev_registry_create(void)
{
	return calloc(1, sizeof(struct bdev_registry));
}

static void entry_free(struct bdev_entry *e)
{
	nvmf_bdev_close(e->bdev);
	free(e->filename);
	free(e);
}

void bdev_registry_destroy(struct bdev_registry *r)
{
	if (!r)
		return;
	while (r->head) {
		struct bdev_entry *e = r->head;
		r->head = e->next;
		entry_free(e);
	}
	free(r);
}

struct bdev_entry *bdev_registry_add(struct bdev_registry *r, const char *name, enum bdev_kind kind,
				     struct nvmf_bdev *bdev)
{
	if (bdev_registry_find(r, name) || strlen(name) >= sizeof(((struct bdev_entry *)0)->name))
		return NULL;
	struct bdev_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	strcpy(e->name, name);
	e->kind = kind;
	e->bdev = bdev;
	e->block_size = nvmf_bdev_block_size(bdev);
	e->num_blocks = nvmf_bdev_size(bdev) / e->block_size;
	if (r->tail)
		r->tail->next = e;
	else
		r->head = e;
	r->tail = e;
	return e;
}

struct bdev_entry *bdev_registry_find(struct bdev_registry *r, const char *name)
{
	for (struct bdev_entry *e = r->head; e; e = e->next) {
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

struct bdev_entry *bdev_registry_find_bdev(struct bdev_registry *r, const struct nvmf_bdev *bdev)
{
	for (struct bdev_entry *e = r->head; e; e = e->next) {
		if (e->bdev == bdev)
			return e;
	}
	return NULL;
}

void bdev_registry_remove(struct bdev_registry *r, struct bdev_entry *e)
{
	struct bdev_entry *prev = NULL;
	for (struct bdev_entry *p = r->head; p; prev = p, p = p->next) {
		if (p != e)
			continue;
		if (prev)
			prev->next = e->next;
		else
			r->head = e->next;
		if (r->tail == e)
			r->tail = prev;
		entry_free(e);
		return;
	}
}

struct bdev_entry *bdev_registry_next(struct bdev_registry *r, struct bdev_entry *prev)
{
	return prev ? prev->next : r->head;
}

void bdev_registry_free_name(struct bdev_registry *r, const char *prefix, char *out, size_t outlen)
{
	for (unsigned i = 0;; i++) {
		snprintf(out, outlen, "%s%u", prefix, i);
		if (!bdev_registry_find(r, out))
			return;
	}
}
