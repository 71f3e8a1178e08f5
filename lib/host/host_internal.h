/* Host library internals shared by its files. */
#ifndef NVMF_HOST_INTERNAL_H
#define NVMF_HOST_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include <nvmf/host.h>
#include <nvmf/transport.h>

/* One command slot of a queue pair; a pool per queue, so no allocation per I/O here. */
struct host_req {
	struct nvmf_host_qpair *hq;
	struct nvme_command sqe; /* kept to resubmit after a reconnect */
	void *buf;
	size_t len;
	bool send;
	nvmf_host_io_cb cb;
	void *arg;
	struct host_req *next; /* free list or retry list */
};

/* Admin queue (qid 0) and I/O queues share this. */
struct nvmf_host_qpair {
	struct nvmf_host_ctrl *ctrl;
	struct nvmf_qpair *qp; /* NULL while disconnected */
	uint16_t qid;
	uint16_t qsize;
	struct host_req *reqs;
	unsigned nreqs;
	struct host_req *free;
	struct host_req *retry_head, **retry_tail; /* I/O held for resubmission */
	unsigned outstanding;
	unsigned completed; /* callbacks run during the current process call */
	int error;          /* negative errno once the connection failed */
	char errmsg[512];
};

struct vu_client;

struct nvmf_host_ctrl {
	struct vu_client *vu; /* vfio-user: the device session (NULL for TCP) */
	pthread_t owner; /* the thread that connected: owns the admin queue */
	struct nvmf_host_addr addr;
	struct nvmf_host_opts opts;
	struct nvmf_association *na;
	struct nvmf_host_qpair admin;
	struct nvmf_host_qpair **ioq;
	unsigned nr_ioq;
	uint16_t cntlid;
	uint64_t cap;
	uint32_t max_xfer;
	struct nvme_id_ctrl id;
	uint64_t ka_next_ns;
	bool ka_outstanding;
	bool live; /* enabled: Keep Alive may go out */
	uint64_t ka_sent;
	unsigned reconnects;
	bool in_reconnect;
	bool shutdown_done;
	int shutdown_rc;
	bool dead; /* controller loss timeout expired: no more retries */
	char errmsg[512];
};

void host_set_error(struct nvmf_host_ctrl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Queue pair plumbing (io.c). */
int hq_init(struct nvmf_host_qpair *hq, struct nvmf_host_ctrl *c, uint16_t qid, uint16_t qsize);
void hq_attach(struct nvmf_host_qpair *hq, struct nvmf_qpair *qp);
/* Close the connection; pending commands complete with an error (or are held for a reconnect). */
void hq_detach(struct nvmf_host_qpair *hq);
void hq_destroy(struct nvmf_host_qpair *hq);
/* Complete every held command with error. */
void hq_fail_held(struct nvmf_host_qpair *hq, int error);
/* Resubmit held commands after a reconnect. */
int hq_resubmit_held(struct nvmf_host_qpair *hq);
int hq_submit(struct nvmf_host_qpair *hq, const struct nvme_command *sqe, void *buf, size_t len, bool send,
	      nvmf_host_io_cb cb, void *arg);
/* Process without reconnecting. */
int hq_process(struct nvmf_host_qpair *hq);
/* Submit, then wait up to timeout_ms; on timeout the connection is torn down. */
int hq_exec(struct nvmf_host_qpair *hq, const struct nvme_command *sqe, void *buf, size_t len, bool send,
	    struct nvmf_host_completion *cpl, int timeout_ms);

/* Admin command with an error message naming it (ctrl.c).  Returns as the public API. */
int host_admin(struct nvmf_host_ctrl *c, const char *what, const struct nvme_command *sqe, void *buf, size_t len,
	       bool send, struct nvmf_host_completion *cpl);
/* vfio-user (vfio_user.c): open the device, bring a queue up, registers. */
int host_vu_open(struct nvmf_host_ctrl *c);
int host_vu_connect_queue(struct nvmf_host_ctrl *c, struct nvmf_host_qpair *hq);
/* After Identify Controller: Doorbell Buffer Config where OACS offers it, before the I/O
 * queues are made.  0 or a negative errno (the controller's error is set). */
int host_vu_shadow_doorbells(struct nvmf_host_ctrl *c);
int host_vu_reg(struct nvmf_host_ctrl *c, bool set, uint32_t offset, bool eight, uint64_t *value);
void host_vu_close(struct nvmf_host_ctrl *c);
void *host_vu_io_buffer(struct nvmf_host_ctrl *c, size_t len);

/* auth.c: a secret is set; authenticate a queue right after its Connect (0 or a negative errno, message set). */
bool host_auth_configured(const struct nvmf_host_ctrl *c);
int host_authenticate_new_queue(struct nvmf_host_ctrl *c, uint16_t qid, struct nvmf_qpair *qp);
/* Keep Alive when due (ctrl.c). */
void host_keep_alive(struct nvmf_host_ctrl *c);

#endif
