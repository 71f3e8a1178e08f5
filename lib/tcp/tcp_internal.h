/* NVMe/TCP queue pair internals shared by the receive, transmit, host and controller halves. */
#ifndef NVMF_TCP_INTERNAL_H
#define NVMF_TCP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <nvmf/tcp_spec.h>

#include "tcp/tcp_pdu.h"
#include "tcp/tcp_tls.h"
#include "transport/transport_internal.h"

#define TCP_RBUF_SIZE (256 * 1024)
/* C2HData PDUs carry at most this much (the spec allows any size; this keeps digests cache-warm). */
#define TCP_C2H_MAX (128 * 1024)
/* In-capsule data buffers start on a page: backends write from them as they are. */
#define TCP_ICD_ALIGN 4096
/* Default MAXH2CDATA a controller advertises when its params leave it 0. */
#define TCP_DEFAULT_MAXH2CDATA (128 * 1024)
/* Cap on the R2Ts we keep outstanding per command, whatever MAXR2T the host offers. */
#define TCP_MAX_R2T_PER_CMD 16
#define TCP_TX_INLINE_IOV 8
/* How long a TermReq may wait for a peer that does not read. */
#define TCP_TERM_LINGER_MS 1000
#define TCP_TX_HDR_SIZE 160 /* largest header we build: TermReq with 128 bytes of data */
/* Bytes one process() call reads when the owner sets no read budget. */
#define TCP_DEFAULT_READ_BUDGET (1024 * 1024)

/* Fixed-size object pool grown in chunks: no malloc per PDU once warm. */
struct tcp_pool {
	size_t objsize;
	size_t per_chunk;
	void *free;
	void **chunks;
	size_t nchunks;
};
void tcp_pool_init(struct tcp_pool *p, size_t objsize, size_t per_chunk);
void *tcp_pool_get(struct tcp_pool *p);
void tcp_pool_put(struct tcp_pool *p, void *obj);
/* Calls fn on every object ever allocated (free or not), then releases the memory. */
void tcp_pool_foreach(struct tcp_pool *p, void (*fn)(void *obj, void *arg), void *arg);
void tcp_pool_destroy(struct tcp_pool *p, void (*fn)(void *obj));

/* One PDU waiting to be written: our header plus iovecs into the caller's data. */
struct tcp_tx_item {
	struct tcp_tx_item *next;
	size_t len;
	int niov;
	struct iovec *iov;
	struct iovec iov_inline[TCP_TX_INLINE_IOV];
	uint32_t ddgst;
	/* Run once the PDU has been handed to the kernel (or with an error). */
	nvmf_data_done_cb cb;
	void *cb_arg;
	struct nvmf_capsule *cb_nc;
	uint8_t hdr[TCP_TX_HDR_SIZE] __attribute__((aligned(8)));
};

struct tcp_xfer;

struct tcp_capsule {
	struct nvmf_capsule nc;
	bool in_use;
	/* Host */
	uint16_t cid;
	bool queued; /* transmitted, holding its CID */
	bool ddgst_error;
	uint32_t r2t_end;	/* end of the highest range R2Ts asked for: later R2Ts must start there */
	bool resp_deferred;	/* response arrived first: delivered once they are out */
	struct nvme_completion deferred_cqe;
	/* Controller */
	uint8_t *icd;
	uint32_t icd_cap;
	uint32_t icd_len;
	struct tcp_xfer *xfers; /* receive transfers in progress, oldest first */
	unsigned r2t_out; /* controller: R2Ts outstanding */
	uint32_t c2h_next; /* C2HData goes in order: the next send starts here */
	uint32_t rx_next;  /* R2Ts go in order: the next fetch starts at or after here */
};

/* Controller: one nvmf_controller_receive_data() call served by R2Ts. */
struct tcp_xfer {
	struct tcp_xfer *next;
	struct tcp_capsule *tc; /* NULL once the capsule was freed: data is discarded */
	uint8_t *buf;
	uint32_t offset, len;
	uint32_t issued;   /* bytes asked for by R2Ts */
	uint32_t received; /* bytes landed */
	unsigned nr2t;	   /* R2Ts outstanding */
	int error;
	nvmf_data_done_cb cb;
	void *cb_arg;
};

/* Host: per-CID state, kept by CID, not by capsule, so that it outlives a capsule freed
 * first: the CID stays busy until its H2CData has left. */
struct tcp_h2c_slot {
	struct tcp_qpair *tq;
	uint16_t cid;
	uint16_t sq_next; /* SQ tail just past this command: SQ head once the controller took it */
	unsigned pending; /* H2CData PDUs not yet written */
	unsigned r2t_out; /* R2Ts whose H2CData is not all written */
};

struct tcp_r2t {
	bool active;
	uint16_t cid;
	struct tcp_xfer *x;
	uint32_t r2to, r2tl, got;
	uint16_t next_free;
};

enum tcp_rx_state { RX_HDR, RX_DATA, RX_DDGST };
enum tcp_rx_action { ACT_NONE, ACT_CAPSULE_CMD, ACT_H2C, ACT_C2H };

struct tcp_qpair {
	struct nvmf_qpair qp;
	bool controller;
	bool dead; /* failed or closed: no more I/O */
	struct tcp_tls *tls; /* TLS under the PDUs (tcp_tls.c), or NULL */
	/* A TermReq is still in the send queue: keep flushing (and discarding input)
	 * until it is out or the peer stops reading for TCP_TERM_LINGER_MS; only then
	 * shut the socket and report the failure. */
	bool terminating;
	uint64_t term_deadline; /* CLOCK_MONOTONIC ns */
	char term_why[128];
	uint8_t txpda;	 /* alignment of data we send (the peer's requirement) */
	uint8_t rxpda;	 /* alignment of data we receive (our requirement) */
	uint32_t maxh2cdata;
	uint32_t maxr2t; /* controller: R2Ts per command minus one */

	/* Receive */
	uint8_t *rbuf;
	size_t rpos, rend;
	enum tcp_rx_state rx_state;
	bool ch_checked;
	enum tcp_rx_action rx_act;
	uint8_t *rx_dst; /* NULL: discard */
	uint32_t rx_left;
	uint32_t rx_crc;
	bool rx_ddgst;
	uint8_t rx_flags;
	uint16_t rx_cid;
	uint16_t rx_ttag;
	uint32_t rx_datal;
	struct tcp_capsule *rx_tc;
	size_t read_budget;
	unsigned pdu_limit; /* per process() call; 0: none */
	unsigned rx_quota;  /* PDUs this call may still handle */
	/* Parsing stopped at a PDU boundary: the transmit backlog is full or the quota spent. */
	bool rx_held;

	/* Transmit backlog: queued PDU bytes plus one tcp_tx_item each; input stops at tx_limit (0: never). */
	size_t tx_backlog;
	size_t tx_limit;

	/* Transmit */
	struct tcp_tx_item *txq_head, *txq_tail;
	size_t tx_sent; /* bytes of txq_head already written */
	struct tcp_pool tx_pool;

	struct tcp_pool capsule_pool;

	/* Host */
	struct tcp_capsule **cids;
	struct tcp_h2c_slot *h2c_slots;
	uint16_t *cid_free;
	unsigned ncid_free;
	unsigned outstanding;
	/* SQ flow control: the controller's SQ head as far as we know it (from SQHD, or from
	 * a C2HData SUCCESS that completed a command, which the controller must have taken). */
	uint16_t sq_tail, sq_head;

	/* Controller */
	struct tcp_pool xfer_pool;
	struct tcp_r2t *r2ts;
	unsigned nr2ts;
	unsigned r2t_free; /* head of the free TTAG list, nr2ts when empty */
};

static inline struct tcp_qpair *TQ(const struct nvmf_qpair *qp) { return (struct tcp_qpair *)qp; }
static inline struct tcp_capsule *TC(const struct nvmf_capsule *nc) { return (struct tcp_capsule *)nc; }

/* tcp_txq.c */
struct tcp_tx_item *tcp_tx_alloc(struct tcp_qpair *tq, int ndata_iov);
/* Give back an item that was never queued. */
void tcp_tx_discard(struct tcp_qpair *tq, struct tcp_tx_item *it);
/* Append the header (hlen bytes of item->hdr), data iovecs and data digest; queue it.
 * data may already sit in place at it->iov + 1 (then without empty segments). */
void tcp_tx_queue(struct tcp_qpair *tq, struct tcp_tx_item *it, size_t hlen, const struct iovec *data, int ndata,
		  bool ddgst);
int tcp_tx_flush(struct tcp_qpair *tq);
/* The transmit backlog has reached its limit: take no more input. */
static inline bool tcp_tx_full(const struct tcp_qpair *tq)
{
	return tq->tx_limit && tq->tx_backlog >= tq->tx_limit;
}
/* Write what the socket takes; 0 all out, -EAGAIN some left, else negative errno.  Ignores dead. */
int tcp_tx_write(struct tcp_qpair *tq);
/* Keep the PDU partly written (the peer needs its end to parse the stream) and drop all
 * queued after it, running their callbacks with error. */
void tcp_tx_drop_unstarted(struct tcp_qpair *tq, int error);
/* Drop everything queued, running item callbacks with error. */
void tcp_tx_drain(struct tcp_qpair *tq, int error);

/* tcp_qpair.c */
/* A fatal PDU error: queue a termination request echoing the bad header, then fail. */
void tcp_fatal_pdu(struct tcp_qpair *tq, uint16_t fes, uint32_t fei, const void *hdr, size_t hdr_len,
		   const char *why);
void tcp_fail(struct tcp_qpair *tq, int error, const char *why);
/* Terminating: push the TermReq on; fail for good once it is out or given up.  0 or negative errno. */
int tcp_term_progress(struct tcp_qpair *tq);

/* tcp_host.c */
int tcp_host_transmit(struct nvmf_capsule *nc);
/* Header handlers: 0, or -1 after a fatal error. */
int tcp_host_icresp(struct tcp_qpair *tq, const uint8_t *hdr);
int tcp_host_resp(struct tcp_qpair *tq, const uint8_t *hdr);
int tcp_host_c2h_hdr(struct tcp_qpair *tq, const uint8_t *hdr);
void tcp_host_c2h_done(struct tcp_qpair *tq, bool digest_ok);
int tcp_host_r2t(struct tcp_qpair *tq, const uint8_t *hdr);
void tcp_host_fail_all(struct tcp_qpair *tq, int error);
int tcp_host_init(struct tcp_qpair *tq);
void tcp_host_capsule_release(struct tcp_qpair *tq, struct tcp_capsule *tc);

/* tcp_ctrl.c */
int tcp_ctrl_icreq(struct tcp_qpair *tq, const uint8_t *hdr);
int tcp_ctrl_cmd_hdr(struct tcp_qpair *tq, const uint8_t *hdr);
void tcp_ctrl_cmd_done(struct tcp_qpair *tq, bool digest_ok);
int tcp_ctrl_h2c_hdr(struct tcp_qpair *tq, const uint8_t *hdr);
void tcp_ctrl_h2c_done(struct tcp_qpair *tq, bool digest_ok);
void tcp_ctrl_fail_all(struct tcp_qpair *tq, int error);
void tcp_ctrl_capsule_release(struct tcp_qpair *tq, struct tcp_capsule *tc);
uint16_t tcp_ctrl_validate(const struct nvmf_capsule *nc);
size_t tcp_ctrl_data_len(const struct nvmf_capsule *nc);
const void *tcp_ctrl_icd(const struct nvmf_capsule *nc, size_t *len);
int tcp_ctrl_receive_data(struct nvmf_capsule *nc, uint32_t offset, void *buf, size_t len, unsigned flags,
			  nvmf_data_done_cb cb, void *arg);
int tcp_ctrl_send_data(struct nvmf_capsule *nc, uint32_t offset, const struct iovec *iov, int iovcnt, bool last,
		       nvmf_data_done_cb cb, void *arg);
int tcp_ctrl_send_response(struct nvmf_capsule *nc, const struct nvme_completion *cqe);

#endif
