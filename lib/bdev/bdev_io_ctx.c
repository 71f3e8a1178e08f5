/* Per-thread I/O context: one io_uring, an eventfd for the reactor, a software queue. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bdev_internal.h"

#define CTX_DEFAULT_DEPTH 128
#define CTX_MAX_DEPTH 4096
#define CTX_CHUNK 64 /* requests allocated at a time */
#define CTX_REAP_BATCH 64

struct req_list {
	struct nvmf_bdev_req *head, *tail;
};

struct req_chunk {
	struct req_chunk *next;
	struct nvmf_bdev_req reqs[CTX_CHUNK];
};

struct nvmf_bdev_io_ctx {
	struct io_uring ring;
	bool has_ring;
	int efd;
	unsigned depth;	      /* most SQEs given to the ring at once, so the CQ never overflows */
	unsigned in_ring;     /* SQEs prepared and not yet reaped */
	unsigned unsubmitted; /* SQEs prepared and not yet passed to io_uring_enter */
	unsigned inflight;    /* requests accepted and not completed */
	unsigned cb_depth;    /* > 0 while callbacks run: defer submits and sync completions */
	struct req_list pending; /* waiting for room in the ring */
	struct req_list done;	 /* sync completions deferred to avoid recursion */
	struct nvmf_bdev_req *free;
	struct req_chunk *chunks;
	_Atomic(struct nvmf_bdev_req *) remote; /* completed on other threads, newest first */
	atomic_uint remote_out;			/* remote requests begun and not yet handed back */
};

static void list_push(struct req_list *l, struct nvmf_bdev_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static struct nvmf_bdev_req *list_pop(struct req_list *l)
{
	struct nvmf_bdev_req *r = l->head;
	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
	}
	return r;
}

static int grow(struct nvmf_bdev_io_ctx *ctx)
{
	struct req_chunk *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->next = ctx->chunks;
	ctx->chunks = c;
	for (int i = 0; i < CTX_CHUNK; i++) {
		c->reqs[i].iov = NULL;
		c->reqs[i].next = ctx->free;
		ctx->free = &c->reqs[i];
	}
	return 0;
}

static struct nvmf_bdev_req *req_get(struct nvmf_bdev_io_ctx *ctx)
{
	if (!ctx->free && grow(ctx) < 0)
		return NULL;
	struct nvmf_bdev_req *r = ctx->free;
	ctx->free = r->next;
	return r;
}

static void req_put(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *r)
{
	if (r->iov && r->iov != r->iov_inline)
		free(r->iov);
	r->iov = NULL;
	r->next = ctx->free;
	ctx->free = r;
}

static void signal_self(struct nvmf_bdev_io_ctx *ctx)
{
	uint64_t one = 1;
	/* Only fails when the counter is saturated, which still wakes the reactor. */
	ssize_t n = write(ctx->efd, &one, sizeof(one));
	(void)n;
}

struct nvmf_bdev_io_ctx *nvmf_bdev_io_ctx_create(unsigned depth)
{
	if (depth == 0)
		depth = CTX_DEFAULT_DEPTH;
	if (depth > CTX_MAX_DEPTH)
		depth = CTX_MAX_DEPTH;
	struct nvmf_bdev_io_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->depth = depth;
	ctx->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctx->efd < 0)
		goto fail;

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = 2 * depth;
#ifdef IORING_SETUP_SUBMIT_ALL
	/* One bad SQE must not hold back the others queued behind it. */
	p.flags |= IORING_SETUP_SUBMIT_ALL;
#endif
	int r = io_uring_queue_init_params(depth, &ctx->ring, &p);
#ifdef IORING_SETUP_SUBMIT_ALL
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = 2 * depth;
		r = io_uring_queue_init_params(depth, &ctx->ring, &p);
	}
#endif
	if (r == 0) {
		ctx->has_ring = true;
		r = io_uring_register_eventfd(&ctx->ring, ctx->efd);
		if (r < 0) {
			io_uring_queue_exit(&ctx->ring);
			errno = -r;
			goto fail;
		}
	} else if (r == -ENOSYS || r == -EPERM) {
		/* io_uring disabled (e.g. by seccomp): RAM and null still work. */
		static atomic_bool noted;
		if (!atomic_exchange(&noted, true))
			fprintf(stderr, "nvmf: io_uring unavailable (%s); file backends disabled\n", strerror(-r));
	} else {
		errno = -r;
		goto fail;
	}
	for (unsigned n = 0; n < depth; n += CTX_CHUNK)
		if (grow(ctx) < 0) {
			nvmf_bdev_io_ctx_destroy(ctx);
			errno = ENOMEM;
			return NULL;
		}
	return ctx;
fail:
	r = errno;
	if (ctx->efd >= 0)
		close(ctx->efd);
	free(ctx);
	errno = r;
	return NULL;
}

void nvmf_bdev_io_ctx_destroy(struct nvmf_bdev_io_ctx *ctx)
{
	if (!ctx)
		return;
	/* Other threads still own remote requests: wait until they hand them back (backends bound this). */
	while (atomic_load(&ctx->remote_out) > 0)
		usleep(1000);
	if (ctx->has_ring) {
		/* The kernel may still write into request memory: wait for it (callbacks are not run). */
		io_uring_submit(&ctx->ring);
		while (ctx->in_ring > 0) {
			struct io_uring_cqe *cqe;
			if (io_uring_wait_cqe(&ctx->ring, &cqe) < 0)
				break;
			io_uring_cqe_seen(&ctx->ring, cqe);
			ctx->in_ring--;
		}
		io_uring_queue_exit(&ctx->ring);
	}
	close(ctx->efd);
	while (ctx->chunks) {
		struct req_chunk *c = ctx->chunks;
		ctx->chunks = c->next;
		for (int i = 0; i < CTX_CHUNK; i++)
			if (c->reqs[i].iov && c->reqs[i].iov != c->reqs[i].iov_inline)
				free(c->reqs[i].iov);
		free(c);
	}
	free(ctx);
}

int nvmf_bdev_io_ctx_fd(const struct nvmf_bdev_io_ctx *ctx)
{
	return ctx->efd;
}

unsigned nvmf_bdev_io_ctx_inflight(const struct nvmf_bdev_io_ctx *ctx)
{
	return ctx->inflight;
}

bool nvmf_bdev_ctx_has_ring(const struct nvmf_bdev_io_ctx *ctx)
{
	return ctx->has_ring;
}

struct nvmf_bdev_req *nvmf_bdev_req_new(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov,
					int iovcnt, nvmf_bdev_cb cb, void *arg)
{
	struct nvmf_bdev_req *r = req_get(ctx);
	if (!r)
		return NULL;
	memset(r, 0, offsetof(struct nvmf_bdev_req, iov_inline));
	r->b = b;
	r->cb = cb;
	r->arg = arg;
	if (iovcnt > 0) {
		r->iov = r->iov_inline;
		if (iovcnt > NVMF_BDEV_REQ_INLINE_IOV) {
			r->iov = malloc(sizeof(*iov) * (size_t)iovcnt);
			if (!r->iov) {
				req_put(ctx, r);
				return NULL;
			}
		}
		memcpy(r->iov, iov, sizeof(*iov) * (size_t)iovcnt);
		r->iovcnt = iovcnt;
	} else {
		r->iov = r->iov_inline;
	}
	return r;
}

/* Into the ring if there is room, else false. */
static bool to_ring(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *r)
{
	if (ctx->in_ring >= ctx->depth)
		return false;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctx->ring);
	if (!sqe)
		return false;
	r->b->ops->prep(r, sqe);
	io_uring_sqe_set_data(sqe, r);
	ctx->in_ring++;
	ctx->unsubmitted++;
	return true;
}

static void enqueue(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *r)
{
	if (ctx->pending.head || !to_ring(ctx, r))
		list_push(&ctx->pending, r);
}

static void submit(struct nvmf_bdev_io_ctx *ctx)
{
	if (!ctx->has_ring)
		return;
	while (ctx->pending.head && to_ring(ctx, ctx->pending.head))
		list_pop(&ctx->pending);
	if (ctx->unsubmitted == 0)
		return;
	int n = io_uring_submit(&ctx->ring);
	if (n > 0)
		ctx->unsubmitted -= (unsigned)n < ctx->unsubmitted ? (unsigned)n : ctx->unsubmitted;
	if (ctx->unsubmitted > 0)
		signal_self(ctx); /* transient (EAGAIN/EBUSY/EINTR): retry from the next poll */
}

void nvmf_bdev_req_start(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req)
{
	ctx->inflight++;
	enqueue(ctx, req);
	if (ctx->cb_depth == 0)
		submit(ctx); /* inside callbacks, poll submits once at the end */
}

void nvmf_bdev_req_begin_remote(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req)
{
	req->ctx = ctx;
	ctx->inflight++;
	atomic_fetch_add(&ctx->remote_out, 1);
}

void nvmf_bdev_req_abandon(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req)
{
	ctx->inflight--;
	atomic_fetch_sub(&ctx->remote_out, 1);
	req_put(ctx, req);
}

void nvmf_bdev_req_complete_remote(struct nvmf_bdev_req *req, int result)
{
	struct nvmf_bdev_io_ctx *ctx = req->ctx;
	req->result = result;
	struct nvmf_bdev_req *head = atomic_load_explicit(&ctx->remote, memory_order_relaxed);
	do
		req->next = head;
	while (!atomic_compare_exchange_weak_explicit(&ctx->remote, &head, req, memory_order_release,
						      memory_order_relaxed));
	/*
	 * A list that was not empty was signalled by whoever pushed its first
	 * request, and the poll that takes it (after draining the eventfd) takes
	 * this one too: no second write, no second wake.
	 */
	if (!head)
		signal_self(ctx);
	/* Last: once remote_out drops, destroy may free the context. */
	atomic_fetch_sub_explicit(&ctx->remote_out, 1, memory_order_release);
}

void nvmf_bdev_req_rearm_remote(struct nvmf_bdev_req *req)
{
	atomic_fetch_add(&req->ctx->remote_out, 1);
}

static void finish(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *r)
{
	nvmf_bdev_cb cb = r->cb;
	void *arg = r->arg;
	int result = r->result;
	ctx->inflight--;
	req_put(ctx, r);
	cb(arg, result);
}

/* Run the deferred completions present now; later ones wait for the next poll. */
static int run_done(struct nvmf_bdev_io_ctx *ctx)
{
	struct req_list l = ctx->done;
	ctx->done.head = ctx->done.tail = NULL;
	int n = 0;
	struct nvmf_bdev_req *r;
	while ((r = list_pop(&l))) {
		finish(ctx, r);
		n++;
	}
	return n;
}

void nvmf_bdev_complete_now(struct nvmf_bdev_io_ctx *ctx, nvmf_bdev_cb cb, void *arg, int result)
{
	if (ctx->cb_depth > 0) {
		struct nvmf_bdev_req *r = req_get(ctx);
		if (r) {
			r->cb = cb;
			r->arg = arg;
			r->result = result;
			r->iov = NULL;
			ctx->inflight++;
			list_push(&ctx->done, r);
			return;
		}
	}
	ctx->cb_depth++;
	cb(arg, result);
	run_done(ctx);
	ctx->cb_depth--;
	if (ctx->cb_depth == 0) {
		submit(ctx);
		if (ctx->done.head)
			signal_self(ctx);
	}
}

int nvmf_bdev_io_ctx_poll(struct nvmf_bdev_io_ctx *ctx)
{
	uint64_t cnt;
	if (!ctx)
		return 0;
	if (ctx->cb_depth > 0)
		return 0; /* called from a callback: the outer poll carries on */
	/*
	 * Drain before reaping: a completion posted after this read signals again,
	 * and a remote one pushed before the exchange below, unsignalled because
	 * the list was not empty, is taken by it.
	 */
	if (read(ctx->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	int n = 0;
	ctx->cb_depth++;
	if (ctx->has_ring) {
		struct io_uring_cqe *cqes[CTX_REAP_BATCH];
		unsigned got;
		while ((got = io_uring_peek_batch_cqe(&ctx->ring, cqes, CTX_REAP_BATCH)) > 0) {
			for (unsigned i = 0; i < got; i++) {
				struct nvmf_bdev_req *r = io_uring_cqe_get_data(cqes[i]);
				int res = cqes[i]->res;
				ctx->in_ring--;
				if (r->b->ops->complete(r, res)) {
					finish(ctx, r);
					n++;
				} else {
					enqueue(ctx, r);
				}
			}
			io_uring_cq_advance(&ctx->ring, got);
		}
	}
	struct nvmf_bdev_req *r = atomic_exchange_explicit(&ctx->remote, NULL, memory_order_acquire), *fifo = NULL;
	while (r) { /* oldest first */
		struct nvmf_bdev_req *next = r->next;
		r->next = fifo;
		fifo = r;
		r = next;
	}
	while ((r = fifo)) {
		fifo = r->next;
		if (r->b->ops->complete(r, r->result)) {
			finish(ctx, r);
			n++;
		}
	}
	n += run_done(ctx);
	ctx->cb_depth--;
	if (ctx->cb_depth == 0) {
		submit(ctx);
		if (ctx->done.head)
			signal_self(ctx);
	}
	return n;
}
