/*
 * Named bdevs, as SPDK's bdev_*_create methods make them: the backends that
 * nvmf_subsystem_add_ns refers to by name.  The registry holds one
 * reference to each bdev; every namespace on it holds another.
 */
#ifndef NVMFD_BDEV_REGISTRY_H
#define NVMFD_BDEV_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvmf_bdev;
struct bdev_registry;

enum bdev_kind { BDEV_MALLOC, BDEV_NULL, BDEV_AIO, BDEV_RBD };

struct bdev_entry {
	char name[128];
	enum bdev_kind kind;
	uint8_t uuid[16];
	uint64_t num_blocks;
	uint32_t block_size;
	char *filename; /* BDEV_AIO: the file; BDEV_RBD: the rbd: spec */
	struct nvmf_bdev *bdev;
	struct bdev_entry *next;
};

struct bdev_registry *bdev_registry_create(void);
/* Drops the registry's references (namespaces keep theirs). */
void bdev_registry_destroy(struct bdev_registry *r);
/* Takes over the caller's reference to bdev.  The entry, or NULL if the name is taken (-EEXIST) or on ENOMEM. */
struct bdev_entry *bdev_registry_add(struct bdev_registry *r, const char *name, enum bdev_kind kind,
				     struct nvmf_bdev *bdev);
struct bdev_entry *bdev_registry_find(struct bdev_registry *r, const char *name);
struct bdev_entry *bdev_registry_find_bdev(struct bdev_registry *r, const struct nvmf_bdev *bdev);
/* Forget the entry and drop the registry's reference. */
void bdev_registry_remove(struct bdev_registry *r, struct bdev_entry *e);
/* Entries in creation order (prev NULL: the first). */
struct bdev_entry *bdev_registry_next(struct bdev_registry *r, struct bdev_entry *prev);
/* "Malloc0", "Malloc1"...: the first free name with this prefix (into out). */
void bdev_registry_free_name(struct bdev_registry *r, const char *prefix, char *out, size_t outlen);

#endif
