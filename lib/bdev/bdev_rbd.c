/*
 * Ceph RBD backend over librbd's asynchronous calls.  librbd completes
 * requests on its own threads; each completion is handed to the submitting
 * reactor's I/O context (its eventfd), so a reactor never blocks on the
 * cluster.  One rados connection per (conf, client id) per process, shared
 * by the images opened through it.
 *
 * Settings that make the gateway's promises hold: the rbd cache is off
 * (always), so an acknowledged write is on the OSDs and a gateway killed with
 * I/O in flight loses none; partial discards zero (always), so deallocated
 * blocks read back as zeros; operations time out (rados_osd_op_timeout,
 * unless the conf file sets one) so that commands fail with a retryable
 * status instead of hanging while the cluster does not answer.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

#define RBD_CAW_SECTOR 512u
#define RBD_OP_TIMEOUT "10" /* seconds: well under Linux's default 30 s NVMe I/O timeout */

struct rbd_cluster {
	struct rbd_cluster *next;
	char *conf, *id; /* NULL: librados' defaults */
	rados_t rados;
	int refs;
};

static pthread_mutex_t clusters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rbd_cluster *clusters;

struct rbd_state {
	struct rbd_cluster *cluster;
	rados_ioctx_t io;
	rbd_image_t image;
	uint64_t watch;
	bool watching;
	struct nvmf_bdev *b;
};

enum { STEP_IO, STEP_FLUSH_AFTER_WRITE };

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Set opt unless the conf file did. */
static int set_default(rados_t r, const char *opt, const char *val, const char *unset)
{
	char cur[64];
	if (rados_conf_get(r, opt, cur, sizeof(cur)) == 0 && strcmp(cur, unset) != 0)
		return 0;
	return rados_conf_set(r, opt, val);
}

static struct rbd_cluster *cluster_get(const char *conf, const char *id, const char *spec, char *err, size_t errlen)
{
	pthread_mutex_lock(&clusters_lock);
	for (struct rbd_cluster *c = clusters; c; c = c->next)
		if (same(c->conf, conf) && same(c->id, id)) {
			c->refs++;
			pthread_mutex_unlock(&clusters_lock);
			return c;
		}
	struct rbd_cluster *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;
	const char *what = "out of memory";
	if (!c || (conf && !(c->conf = strdup(conf))) || (id && !(c->id = strdup(id))))
		goto fail;
	what = "rados_create";
	if ((r = rados_create(&c->rados, id)) < 0)
		goto fail;
	what = "reading the Ceph configuration";
	r = rados_conf_read_file(c->rados, conf);
	if (r < 0 && conf)
		goto shut;
	what = "setting client options";
	/* Timeouts are checked against "0": Ceph's default of none. */
	if ((r = set_default(c->rados, "rados_osd_op_timeout", RBD_OP_TIMEOUT, "0")) < 0 ||
	    (r = set_default(c->rados, "rados_mon_op_timeout", RBD_OP_TIMEOUT, "0")) < 0 ||
	    (r = set_default(c->rados, "client_mount_timeout", RBD_OP_TIMEOUT, "300")) < 0 ||
	    /*
	     * One completion thread, not two: a reactor takes completions in
	     * batches anyway, and two threads handing them over cost the gateway
	     * a fifth of its CPU per I/O (bench/ceph-bench.sh).
	     */
	    (r = set_default(c->rados, "librados_thread_count", "1", "2")) < 0 ||
	    /* Always: an acknowledged write must be in the cluster, not in this process. */
	    (r = rados_conf_set(c->rados, "rbd_cache", "false")) < 0 ||
	    (r = rados_conf_set(c->rados, "rbd_skip_partial_discard", "false")) < 0)
		goto shut;
	what = "connecting to the cluster";
	if ((r = rados_connect(c->rados)) < 0)
		goto shut;
	c->refs = 1;
	c->next = clusters;
	clusters = c;
	pthread_mutex_unlock(&clusters_lock);
	return c;
shut:
	rados_shutdown(c->rados);
fail:
	pthread_mutex_unlock(&clusters_lock);
	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "bdev '%s': %s: the cluster did not answer (is it up? conf %s)", spec, what,
			 conf ? conf : "default");
	else
		snprintf(err, errlen, "bdev '%s': %s: %s", spec, what, strerror(-r));
	if (c) {
		free(c->conf);
		free(c->id);
		free(c);
	}
	return NULL;
}

static void cluster_put(struct rbd_cluster *c)
{
	pthread_mutex_lock(&clusters_lock);
	if (--c->refs > 0) {
		pthread_mutex_unlock(&clusters_lock);
		return;
	}
	for (struct rbd_cluster **p = &clusters; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	pthread_mutex_unlock(&clusters_lock);
	rados_shutdown(c->rados);
	free(c->conf);
	free(c->id);
	free(c);
}

/* librbd's thread: hand the request to its reactor. */
static void aio_done(rbd_completion_t comp, void *arg)
{
	struct nvmf_bdev_req *req = arg;
	ssize_t r = rbd_aio_get_return_value(comp);
	rbd_aio_release(comp);
	nvmf_bdev_req_complete_remote(req, r < 0 ? (int)r : 0);
}

/* Start req's current step; 0 or a negative errno. */
static int issue(struct nvmf_bdev_req *req)
{
	struct rbd_state *st = req->b->priv;
	rbd_completion_t comp;
	int r = rbd_aio_create_completion(req, aio_done, &comp);
	if (r < 0)
		return r;
	if (req->step == STEP_FLUSH_AFTER_WRITE || req->op == NVMF_BDEV_OP_FLUSH)
		r = rbd_aio_flush(st->image, comp);
	else if (req->op == NVMF_BDEV_OP_READ)
		r = rbd_aio_readv(st->image, req->iov, req->iovcnt, req->off, comp);
	else if (req->op == NVMF_BDEV_OP_WRITE)
		r = rbd_aio_writev(st->image, req->iov, req->iovcnt, req->off, comp);
	else if (req->op == NVMF_BDEV_OP_CAW)
		r = rbd_aio_compare_and_write(st->image, req->off, req->len, req->iov[0].iov_base, req->iov[1].iov_base,
					      comp, &req->aux, 0);
	else if (req->dealloc)
		r = rbd_aio_discard(st->image, req->off, req->len, comp);
	else
		r = rbd_aio_write_zeroes(st->image, req->off, req->len, comp, 0, 0);
	if (r < 0)
		rbd_aio_release(comp);
	return r;
}

static int start(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt, uint8_t op,
		 uint64_t off, uint64_t len, bool fua, bool dealloc, nvmf_bdev_cb cb, void *arg)
{
	struct nvmf_bdev_req *req = nvmf_bdev_req_new(ctx, b, iov, iovcnt, cb, arg);
	if (!req)
		return -ENOMEM;
	req->op = op;
	req->off = off;
	req->len = len;
	req->fua = fua;
	req->dealloc = dealloc;
	nvmf_bdev_req_begin_remote(ctx, req);
	int r = issue(req);
	if (r < 0)
		nvmf_bdev_req_abandon(ctx, req);
	return r;
}

/* On the reactor: a write with FUA goes on to a flush. */
static bool rbdb_complete(struct nvmf_bdev_req *req, int res)
{
	if (res == 0 && req->fua && req->step == STEP_IO) {
		req->step = STEP_FLUSH_AFTER_WRITE;
		nvmf_bdev_req_rearm_remote(req);
		int r = issue(req);
		if (r == 0)
			return false;
		req->result = r;
		/* Not issued: undo the rearm by completing through the remote path once more. */
		nvmf_bdev_req_complete_remote(req, r);
		return false;
	}
	req->result = res;
	return true;
}

static int rbdb_readv(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		     uint64_t off, uint64_t len, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, iov, iovcnt, NVMF_BDEV_OP_READ, off, len, false, false, cb, arg);
}

static int rbdb_writev(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, iov, iovcnt, NVMF_BDEV_OP_WRITE, off, len, fua, false, cb, arg);
}

static int rbdb_flush(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, NULL, 0, NVMF_BDEV_OP_FLUSH, 0, 0, false, false, cb, arg);
}

static int rbdb_zero(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		    nvmf_bdev_cb cb, void *arg)
{
	return start(ctx, b, NULL, 0, NVMF_BDEV_OP_ZWRITE, off, len, false, dealloc, cb, arg);
}

/* librbd (16.2) compares and writes within one 512-byte sector only (-EINVAL otherwise). */
static bool rbdb_can_caw(const struct nvmf_bdev *b, uint64_t off, uint64_t len)
{
	(void)b;
	return off / RBD_CAW_SECTOR == (off + len - 1) / RBD_CAW_SECTOR;
}

static int rbdb_caw(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const void *cmp, const void *data, uint64_t off,
		    uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg)
{
	/* librbd reads both buffers when the call is made, as it does a write's. */
	const struct iovec iov[2] = {{(void *)cmp, len}, {(void *)data, len}};
	return start(ctx, b, iov, 2, NVMF_BDEV_OP_CAW, off, len, fua, false, cb, arg);
}

/* librbd's thread: the image header changed; a new size becomes the namespace's. */
static void header_changed(void *arg)
{
	struct rbd_state *st = arg;
	uint64_t size;
	if (rbd_get_size(st->image, &size) < 0)
		return;
	size -= size % st->b->block_size;
	if (size != __atomic_load_n(&st->b->size, __ATOMIC_RELAXED)) {
		__atomic_store_n(&st->b->size, size, __ATOMIC_RELAXED);
		nvmf_bdev_notify_resize(st->b);
	}
}

static void rbdb_close(struct nvmf_bdev *b)
{
	struct rbd_state *st = b->priv;
	if (st->watching)
		rbd_update_unwatch(st->image, st->watch);
	rbd_close(st->image);
	rados_ioctx_destroy(st->io);
	cluster_put(st->cluster);
	free(st);
}

static const struct nvmf_bdev_ops rbd_ops = {
	.kind = "rbd",
	.readv = rbdb_readv,
	.writev = rbdb_writev,
	.flush = rbdb_flush,
	.zero = rbdb_zero,
	.close = rbdb_close,
	.complete = rbdb_complete,
	.can_caw = rbdb_can_caw,
	.caw = rbdb_caw,
};

int nvmf_bdev_rbd_parse(const char *spec, char **pool, char **image, char **conf, char **id)
{
	*pool = *image = *conf = *id = NULL;
	if (strncmp(spec, "rbd:", 4) != 0)
		return -EINVAL;
	char *s = strdup(spec + 4);
	if (!s)
		return -ENOMEM;
	char *idp = strstr(s, ":id=");
	if (idp) {
		*idp = '\0';
		idp += 4;
	}
	char *at = strchr(s, '@');
	if (at)
		*at++ = '\0';
	char *slash = strchr(s, '/');
	int r = -EINVAL;
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || (at && !*at) || (idp && !*idp))
		goto out;
	*slash = '\0';
	r = -ENOMEM;
	if (!(*pool = strdup(s)) || !(*image = strdup(slash + 1)) || (at && !(*conf = strdup(at))) ||
	    (idp && !(*id = strdup(idp)))) {
		free(*pool);
		free(*image);
		free(*conf);
		free(*id);
		*pool = *image = *conf = *id = NULL;
		goto out;
	}
	r = 0;
out:
	free(s);
	return r;
}

int nvmf_bdev_rbd_open(struct nvmf_bdev *b, const char *spec, uint32_t block_size, char *err, size_t errlen)
{
	char *pool, *image, *conf, *id;
	int r = nvmf_bdev_rbd_parse(spec, &pool, &image, &conf, &id);
	if (r < 0) {
		snprintf(err, errlen, "bdev '%s': expected rbd:POOL/IMAGE[@CONF][:id=CLIENT]", spec);
		return -1;
	}
	struct rbd_state *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "bdev '%s': out of memory", spec);
		goto out;
	}
	st->b = b;
	if (!(st->cluster = cluster_get(conf, id, spec, err, errlen)))
		goto fail;
	if ((r = rados_ioctx_create(st->cluster->rados, pool, &st->io)) < 0) {
		if (r == -ENOENT)
			snprintf(err, errlen, "bdev '%s': pool '%s' does not exist", spec, pool);
		else
			snprintf(err, errlen, "bdev '%s': pool '%s': %s", spec, pool, strerror(-r));
		goto put;
	}
	if ((r = rbd_open(st->io, image, &st->image, NULL)) < 0) {
		if (r == -ENOENT)
			snprintf(err, errlen, "bdev '%s': image '%s' does not exist in pool '%s'", spec, image, pool);
		else
			snprintf(err, errlen, "bdev '%s': opening image '%s': %s", spec, image, strerror(-r));
		goto io;
	}
	uint64_t size;
	if ((r = rbd_get_size(st->image, &size)) < 0) {
		snprintf(err, errlen, "bdev '%s': image size: %s", spec, strerror(-r));
		goto img;
	}
	b->block_size = block_size ? block_size : 512;
	size -= size % b->block_size;
	if (size == 0) {
		snprintf(err, errlen, "bdev '%s': the image is smaller than one %u-byte block", spec, b->block_size);
		goto img;
	}
	uint64_t features = 0;
	if (rbd_get_features(st->image, &features) == 0 && (features & RBD_FEATURE_EXCLUSIVE_LOCK))
		fprintf(stderr,
			"nvmfd: %s: the image has exclusive-lock; with several gateways writes move the lock back "
			"and forth, and a dead holder stalls writes for ~30 s (create it with "
			"--image-feature layering for multipath)\n",
			spec);
	char fsid[64] = "";
	rados_cluster_fsid(st->cluster->rados, fsid, sizeof(fsid));
	size_t idlen = strlen(fsid) + strlen(pool) + strlen(image) + 8;
	if (!(b->identity = malloc(idlen))) {
		snprintf(err, errlen, "bdev '%s': out of memory", spec);
		goto img;
	}
	snprintf(b->identity, idlen, "rbd:%s/%s/%s", fsid, pool, image);
	b->size = size;
	b->ops = &rbd_ops;
	b->priv = st;
	b->volatile_cache = false; /* rbd cache off: an acknowledged write is on the OSDs */
	b->supports_deallocate = true;
	st->watching = rbd_update_watch(st->image, &st->watch, header_changed, st) == 0;
	r = 0;
	goto out;
img:
	rbd_close(st->image);
io:
	rados_ioctx_destroy(st->io);
put:
	cluster_put(st->cluster);
fail:
	free(st);
	r = -1;
out:
	free(pool);
	free(image);
	free(conf);
	free(id);
	return r < 0 ? -1 : 0;
}
