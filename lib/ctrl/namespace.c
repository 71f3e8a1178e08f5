/* A namespace on a bdev: geometry, stable identifiers, LBA range locks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ctrl_internal.h"

void nvmf_derive_id(uint8_t out[16], const char *a, const char *b, const char *c)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *parts[3] = {a, b, c};

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int i = 0; i < 3; i++) {
		/* The NUL separates parts so that ("ab","c") differs from ("a","bc"). */
		if (parts[i])
			EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(out, md, 16);
}

static uint8_t log2_u32(uint32_t v)
{
	uint8_t l = 0;
	while ((1u << l) < v)
		l++;
	return l;
}

/* Any thread (an RBD image resized elsewhere): the new capacity, and an event to the hosts. */
static void ns_resized(void *arg)
{
	struct nvmf_namespace *ns = arg;
	__atomic_store_n(&ns->nblocks, nvmf_bdev_size(ns->bdev) / ns->block_size, __ATOMIC_RELAXED);
	struct nvmf_subsystem *ss = atomic_load(&ns->owner);
	if (ss)
		ns->on_resized(ss, ns->nsid); /* set with the owner: the subsystem tells its controllers */
}

struct nvmf_namespace *nvmf_ns_create(const char *subnqn, uint32_t nsid, const char *spec,
				      const struct nvmf_ns_opts *opts, char *err, size_t errlen)
{
	struct nvmf_bdev *bdev = nvmf_bdev_open(spec, opts ? opts->block_size : 0, err, errlen);
	if (!bdev)
		return NULL;
	return nvmf_ns_create_on_bdev(subnqn, nsid, bdev, opts, err, errlen);
}

struct nvmf_namespace *nvmf_ns_create_on_bdev(const char *subnqn, uint32_t nsid, struct nvmf_bdev *bdev,
					      const struct nvmf_ns_opts *opts, char *err, size_t errlen)
{
	uint32_t bs = nvmf_bdev_block_size(bdev);
	if (bs < 512 || (bs & (bs - 1)) || nvmf_bdev_size(bdev) < bs) {
		snprintf(err, errlen, "%s: unusable block size %u or size", nvmf_bdev_spec(bdev), bs);
		nvmf_bdev_close(bdev);
		return NULL;
	}
	struct nvmf_namespace *ns = calloc(1, sizeof(*ns));
	if (!ns) {
		snprintf(err, errlen, "out of memory");
		nvmf_bdev_close(bdev);
		return NULL;
	}
	atomic_init(&ns->refs, 1);
	ns->nsid = nsid;
	ns->bdev = bdev;
	ns->block_size = bs;
	ns->lbads = log2_u32(bs);
	ns->nblocks = nvmf_bdev_size(bdev) / bs;
	pthread_mutex_init(&ns->range_lock, NULL);
	if (nvmf_bdev_add_resize_listener(bdev, ns_resized, ns) < 0) {
		snprintf(err, errlen, "out of memory");
		pthread_mutex_destroy(&ns->range_lock);
		free(ns);
		nvmf_bdev_close(bdev);
		return NULL;
	}

	/* Identifiers hash what names the namespace, so they survive restarts. */
	char nsid_str[16];
	snprintf(nsid_str, sizeof(nsid_str), "%u", nsid);
	const char *backing = nvmf_bdev_identity(bdev); /* the same on every gateway of a shared image */
	uint8_t h[16];
	if (opts && opts->has_nguid) {
		memcpy(ns->nguid, opts->nguid, 16);
	} else {
		nvmf_derive_id(ns->nguid, subnqn, nsid_str, backing);
	}
	if (opts && opts->has_uuid) {
		memcpy(ns->uuid, opts->uuid, 16);
	} else {
		nvmf_derive_id(ns->uuid, "uuid", subnqn, nsid_str);
		/* RFC 4122: name-based version 5 layout, variant 10b. */
		ns->uuid[6] = (uint8_t)((ns->uuid[6] & 0x0f) | 0x50);
		ns->uuid[8] = (uint8_t)((ns->uuid[8] & 0x3f) | 0x80);
	}
	if (opts && opts->has_eui64) {
		memcpy(ns->eui64, opts->eui64, 8);
	} else {
		nvmf_derive_id(h, "eui64", subnqn, nsid_str);
		memcpy(ns->eui64, h, 8);
		/* Locally administered, unicast: we own no OUI. */
		ns->eui64[0] = (uint8_t)((ns->eui64[0] & ~0x01) | 0x02);
	}
	return ns;
}

void nvmf_ns_get(struct nvmf_namespace *ns)
{
	atomic_fetch_add(&ns->refs, 1);
}

void nvmf_ns_put(struct nvmf_namespace *ns)
{
	if (!ns || atomic_fetch_sub(&ns->refs, 1) != 1)
		return;
	nvmf_bdev_remove_resize_listener(ns->bdev, ns_resized, ns);
	nvmf_bdev_close(ns->bdev);
	pthread_mutex_destroy(&ns->range_lock);
	free(ns);
}

bool nvmf_ns_range_acquire(struct nvmf_namespace *ns, struct nvmf_range *r, uint64_t slba, uint64_t nlb,
			   bool exclusive)
{
	r->start = slba;
	r->end = slba + nlb;
	r->exclusive = exclusive;
	pthread_mutex_lock(&ns->range_lock);
	for (struct nvmf_range *o = ns->ranges; o; o = o->next) {
		bool overlap = o->start < r->end && r->start < o->end;
		if (overlap && (exclusive || o->exclusive)) {
			pthread_mutex_unlock(&ns->range_lock);
			return false;
		}
	}
	r->next = ns->ranges;
	ns->ranges = r;
	pthread_mutex_unlock(&ns->range_lock);
	return true;
}

void nvmf_ns_range_release(struct nvmf_namespace *ns, struct nvmf_range *r)
{
	pthread_mutex_lock(&ns->range_lock);
	for (struct nvmf_range **p = &ns->ranges; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&ns->range_lock);
}
