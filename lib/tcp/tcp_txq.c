/* Transmit queue: PDUs gathered into writev() calls, data iovecs pointing at the callers' buffers. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "tcp/tcp_internal.h"
#include "util/crc32c.h"

#define TX_BATCH_IOV 256

struct tcp_tx_item *tcp_tx_alloc(struct tcp_qpair *tq, int ndata_iov)
{
	struct tcp_tx_item *it = tcp_pool_get(&tq->tx_pool);

	if (it == NULL)
		return NULL;
	it->next = NULL;
	it->cb = NULL;
	it->cb_arg = NULL;
	it->cb_nc = NULL;
	it->niov = 0;
	it->len = 0;
	it->iov = it->iov_inline;
	if (ndata_iov + 2 > TCP_TX_INLINE_IOV) {
		it->iov = malloc((size_t)(ndata_iov + 2) * sizeof(struct iovec));
		if (it->iov == NULL) {
			it->iov = it->iov_inline;
			tcp_pool_put(&tq->tx_pool, it);
			return NULL;
		}
	}
	return it;
}

static void tx_release(struct tcp_qpair *tq, struct tcp_tx_item *it)
{
	if (it->iov != it->iov_inline)
		free(it->iov);
	it->iov = it->iov_inline;
	tcp_pool_put(&tq->tx_pool, it);
}

void tcp_tx_discard(struct tcp_qpair *tq, struct tcp_tx_item *it)
{
	tx_release(tq, it);
}

void tcp_tx_queue(struct tcp_qpair *tq, struct tcp_tx_item *it, size_t hlen, const struct iovec *data, int ndata,
		  bool ddgst)
{
	size_t dlen = 0;

	it->iov[0].iov_base = it->hdr;
	it->iov[0].iov_len = hlen;
	it->niov = 1;
	if (data == it->iov + 1) {
		/* Built in place by the caller (no empty segments). */
		for (int i = 0; i < ndata; i++)
			dlen += data[i].iov_len;
		it->niov += ndata;
	} else {
		for (int i = 0; i < ndata; i++) {
			if (data[i].iov_len == 0)
				continue;
			it->iov[it->niov++] = data[i];
			dlen += data[i].iov_len;
		}
	}
	if (ddgst && dlen) {
		it->ddgst = nvmf_crc32c_iov(&it->iov[1], it->niov - 1);
		it->iov[it->niov].iov_base = &it->ddgst;
		it->iov[it->niov].iov_len = NVME_TCP_DIGEST_LEN;
		it->niov++;
		dlen += NVME_TCP_DIGEST_LEN;
	}
	it->len = hlen + dlen;
	it->next = NULL;
	tq->tx_backlog += it->len + sizeof(*it);
	if (tq->txq_tail)
		tq->txq_tail->next = it;
	else
		tq->txq_head = it;
	tq->txq_tail = it;
}

/* An item has fully left: run its callback and recycle it. */
static void tx_complete(struct tcp_qpair *tq, struct tcp_tx_item *it, int error)
{
	nvmf_data_done_cb cb = it->cb;
	void *arg = it->cb_arg;
	struct nvmf_capsule *nc = it->cb_nc;

	tq->tx_backlog -= it->len + sizeof(*it);
	tx_release(tq, it);
	if (cb)
		cb(arg, nc, error);
}

int tcp_tx_write(struct tcp_qpair *tq)
{
	struct iovec iov[TX_BATCH_IOV];

	while (tq->txq_head) {
		if (tq->dead && !tq->terminating)
			return -ENOTCONN; /* a completion callback failed the queue pair */
		int n = 0;
		size_t skip = tq->tx_sent;
		for (struct tcp_tx_item *it = tq->txq_head; it && n < TX_BATCH_IOV; it = it->next) {
			for (int i = 0; i < it->niov && n < TX_BATCH_IOV; i++) {
				if (skip >= it->iov[i].iov_len) {
					skip -= it->iov[i].iov_len;
					continue;
				}
				iov[n].iov_base = (char *)it->iov[i].iov_base + skip;
				iov[n].iov_len = it->iov[i].iov_len - skip;
				skip = 0;
				n++;
			}
		}
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = tcp_tls_sendmsg(tq, &msg);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		size_t left = (size_t)w + tq->tx_sent;
		tq->tx_sent = 0;
		while (tq->txq_head && left >= tq->txq_head->len) {
			struct tcp_tx_item *it = tq->txq_head;
			left -= it->len;
			tq->txq_head = it->next;
			if (tq->txq_head == NULL)
				tq->txq_tail = NULL;
			tx_complete(tq, it, 0);
		}
		tq->tx_sent = left;
	}
	return 0;
}

int tcp_tx_flush(struct tcp_qpair *tq)
{
	if (tq->terminating)
		return tcp_term_progress(tq);
	if (tq->dead)
		return -ENOTCONN;
	int rc = tcp_tx_write(tq);
	if (rc < 0 && rc != -EAGAIN)
		tcp_fail(tq, rc, "write failed");
	else if (tq->dead)
		rc = -ENOTCONN; /* a completion callback failed the queue pair */
	return rc;
}

void tcp_tx_drop_unstarted(struct tcp_qpair *tq, int error)
{
	struct tcp_tx_item *keep = tq->tx_sent ? tq->txq_head : NULL;
	struct tcp_tx_item *it = keep ? keep->next : tq->txq_head;

	if (keep)
		keep->next = NULL;
	tq->txq_head = tq->txq_tail = keep;
	if (!keep)
		tq->tx_sent = 0;
	while (it) {
		struct tcp_tx_item *next = it->next;
		tx_complete(tq, it, error);
		it = next;
	}
}

void tcp_tx_drain(struct tcp_qpair *tq, int error)
{
	struct tcp_tx_item *it = tq->txq_head;

	tq->txq_head = tq->txq_tail = NULL;
	tq->tx_sent = 0;
	while (it) {
		struct tcp_tx_item *next = it->next;
		tx_complete(tq, it, error);
		it = next;
	}
}
