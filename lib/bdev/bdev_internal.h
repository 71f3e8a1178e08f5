/* Internals shared by the bdev dispatcher, its backends and the I/O context. */
#ifndef NVMF_BDEV_INTERNAL_H
#define NVMF_BDEV_INTERNAL_H

#include <liburing.h>
#include <stdatomic.h>

#include "bdev.h"

/* iovecs held inside a request; longer lists are copied to the heap. */
#define NVMF_BDEV_REQ_INLINE_IOV 16

enum nvmf_bdev_op {
	NVMF_BDEV_OP_READ,
	NVMF_BDEV_OP_WRITE,
	NVMF_BDEV_OP_FLUSH,
	NVMF_BDEV_OP_FALLOC, /* write zeroes / deallocate through fallocate */
	NVMF_BDEV_OP_ZWRITE, /* write zeroes by writing a zero buffer */
	NVMF_BDEV_OP_CAW,    /* compare and write: iov[0] the compare data, iov[1] the new data */
};

/*
 * A request owned by an I/O context.  The iovec list is copied because a
 * request may wait in the software queue after the submitting call returned.
 */
struct nvmf_bdev_req {
	struct nvmf_bdev_req *next;
	struct nvmf_bdev *b;
	nvmf_bdev_cb cb;
	void *arg;
	int result;
	uint8_t op;
	uint8_t step;	   /* position in a fallocate fallback chain */
	bool fua;
	bool dealloc;	   /* FALLOC/ZWRITE came from deallocate */
	bool buffered;	   /* O_DIRECT refused this request: use the buffered fd */
	bool used_direct;  /* the last SQE went to the O_DIRECT fd */
	int iovcnt;
	struct iovec *iov; /* iov_inline or heap; advanced on short transfers */
	uint64_t off, len; /* remaining range */
	struct nvmf_bdev_io_ctx *ctx; /* set for requests that complete on another thread */
	void *priv;	   /* backend's per-request state */
	uint64_t aux;	   /* backend scratch (librbd's mismatch offset) */
	struct iovec iov_inline[NVMF_BDEV_REQ_INLINE_IOV];
};

struct nvmf_bdev_ops {
	const char *kind;
	/* Arguments are validated by bdev.c; len is the iovec total. */
	int (*readv)(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		     uint64_t off, uint64_t len, nvmf_bdev_cb cb, void *arg);
	int (*writev)(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg);
	int (*flush)(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, nvmf_bdev_cb cb, void *arg);
	int (*zero)(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, uint64_t off, uint64_t len, bool dealloc,
		    nvmf_bdev_cb cb, void *arg);
	void (*close)(struct nvmf_bdev *b);
	/* Optional: atomic compare and write (see bdev.h). */
	bool (*can_caw)(const struct nvmf_bdev *b, uint64_t off, uint64_t len);
	int (*caw)(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const void *cmp, const void *data, uint64_t off,
		   uint64_t len, bool fua, nvmf_bdev_cb cb, void *arg);
	/* io_uring backends: fill an SQE for req; on a CQE return true when req is finished (req->result set), false to resubmit it. */
	void (*prep)(struct nvmf_bdev_req *req, struct io_uring_sqe *sqe);
	bool (*complete)(struct nvmf_bdev_req *req, int res);
};

struct nvmf_bdev {
	atomic_int refs; /* nvmf_bdev_open's reference plus nvmf_bdev_get's */
	const struct nvmf_bdev_ops *ops;
	char *spec;
	char *identity; /* see nvmf_bdev_identity(); NULL: the spec */
	uint64_t size;
	uint32_t block_size;
	bool volatile_cache;
	bool supports_deallocate;
	bool holds_no_data; /* see nvmf_bdev_holds_no_data() */
	void *memory; /* see nvmf_bdev_memory(): the whole device in memory, or NULL */
	void *priv; /* backend state */
	struct nvmf_bdev_listener *listeners; /* under listeners_lock in bdev.c */
};

/* Backend constructors: fill b->ops, size, priv...; 0 or -1 with a message in err. */
int nvmf_bdev_ram_open(struct nvmf_bdev *b, uint64_t size, char *err, size_t errlen);
int nvmf_bdev_null_open(struct nvmf_bdev *b, uint64_t size, char *err, size_t errlen);
int nvmf_bdev_rbd_open(struct nvmf_bdev *b, const char *spec, uint32_t block_size, char *err, size_t errlen);
/* Split "rbd:POOL/IMAGE[@CONF][:id=CLIENT]" (absent parts NULL, the caller frees); 0, -EINVAL or -ENOMEM. */
int nvmf_bdev_rbd_parse(const char *spec, char **pool, char **image, char **conf, char **id);
/* Any thread: the backend's size changed; tells the resize listeners. */
void nvmf_bdev_notify_resize(struct nvmf_bdev *b);
int nvmf_bdev_file_open(struct nvmf_bdev *b, const char *path, uint32_t block_size, char *err, size_t errlen);

/* For tests: whether a file bdev has an O_DIRECT descriptor. */
bool nvmf_bdev_file_direct(const struct nvmf_bdev *b);
/* For tests: act as on a file system without O_DIRECT and/or these fallocate modes. */
#define NVMF_BDEV_NO_DIRECT 1u
#define NVMF_BDEV_NO_ZERO_RANGE 2u
#define NVMF_BDEV_NO_PUNCH 4u
void nvmf_bdev_file_degrade(struct nvmf_bdev *b, unsigned what);

/* I/O context services for backends. */
bool nvmf_bdev_ctx_has_ring(const struct nvmf_bdev_io_ctx *ctx);
/* A request with iovcnt copied from iov; NULL (-ENOMEM) on failure. */
struct nvmf_bdev_req *nvmf_bdev_req_new(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev *b, const struct iovec *iov,
					int iovcnt, nvmf_bdev_cb cb, void *arg);
/* Hand a new request to the ring (or its software queue); it completes through poll. */
void nvmf_bdev_req_start(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req);
/*
 * Requests a backend runs on threads of its own (librbd): begin counts one in
 * flight; complete_remote may be called from any thread and hands the request
 * to the context's poll through the eventfd, which then calls
 * ops->complete(req, result): true finishes it, false means the backend
 * started another step and will complete it remotely again.
 */
void nvmf_bdev_req_begin_remote(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req);
void nvmf_bdev_req_complete_remote(struct nvmf_bdev_req *req, int result);
/* Before ops->complete starts another remote step of req (then it returns false). */
void nvmf_bdev_req_rearm_remote(struct nvmf_bdev_req *req);
/* A request begun remotely whose submission failed: give it back without a callback. */
void nvmf_bdev_req_abandon(struct nvmf_bdev_io_ctx *ctx, struct nvmf_bdev_req *req);
/* A request done without the ring: run cb now, or defer it to poll if a callback is already running. */
void nvmf_bdev_complete_now(struct nvmf_bdev_io_ctx *ctx, nvmf_bdev_cb cb, void *arg, int result);

#endif
