/*
 * TLS under a queue pair (see tcp_tls.h).  Writes: the gathered iovecs are
 * copied into one staging buffer of at most a TLS record and written with
 * SSL_write; when the socket is full OpenSSL keeps that record half sent,
 * so the staging buffer stays until the same bytes are offered again.
 * Reads: SSL_read until the buffers are full or TLS wants more from the
 * socket, so a short read means nothing waits inside TLS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth/tls.h"
#include "tcp/tcp_internal.h"
#include "tcp/tcp_tls.h"

#define TLS_RECORD_MAX 16384
#define TLS_HANDSHAKE_RECORD 0x16 /* first byte of a ClientHello */

struct tcp_tls {
	SSL *ssl;
	bool optional;
	bool decided; /* controller: the first byte told TLS from plain */
	bool handshake_done;
	uint8_t out[TLS_RECORD_MAX];
	size_t out_len; /* staged bytes SSL_write has not finished */
	char failure[192];
};

int tcp_tls_attach(struct tcp_qpair *tq, void *ssl, bool optional)
{
	struct tcp_tls *t = calloc(1, sizeof(*t));
	if (!t || !SSL_set_fd(ssl, tq->qp.fd)) {
		free(t);
		errno = ENOMEM;
		return -1;
	}
	t->ssl = ssl;
	t->optional = optional;
	t->decided = !tq->controller;
	if (tq->controller)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	tq->tls = t;
	tq->qp.tls = ssl;
	return 0;
}

void tcp_tls_free(struct tcp_qpair *tq)
{
	struct tcp_tls *t = tq->tls;
	if (!t)
		return;
	SSL_free(t->ssl);
	OPENSSL_cleanse(t->out, sizeof(t->out));
	free(t);
	tq->tls = NULL;
	tq->qp.tls = NULL;
}

const char *tcp_tls_failure(const struct tcp_qpair *tq)
{
	return tq->tls && tq->tls->failure[0] ? tq->tls->failure : NULL;
}

bool tcp_tls_pending(const struct tcp_qpair *tq)
{
	return tq->tls && tq->tls->handshake_done && SSL_has_pending(tq->tls->ssl);
}

static ssize_t fail_with(struct tcp_tls *t, int err, const char *fmt, const char *arg)
{
	if (!t->failure[0])
		snprintf(t->failure, sizeof(t->failure), fmt, arg);
	ERR_clear_error();
	errno = err;
	return -1;
}

/* Why OpenSSL gave up, without key material: our own reason first, then OpenSSL's. */
static const char *ssl_reason(SSL *ssl, int e)
{
	const char *mine = nvmf_tls_failure_of(ssl);
	if (mine)
		return mine;
	unsigned long code = ERR_peek_last_error();
	if (code)
		return ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "TLS error";
	return e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ? "connection closed" : "TLS error";
}

/* The controller's first look: a ClientHello, or (where allowed) a plain ICReq. */
static int decide(struct tcp_qpair *tq)
{
	struct tcp_tls *t = tq->tls;
	unsigned char first;
	ssize_t n = recv(tq->qp.fd, &first, 1, MSG_PEEK);
	if (n < 0)
		return -1; /* errno from recv: EAGAIN or a real error */
	if (n == 0) {
		errno = ECONNRESET;
		return -1;
	}
	if (first == TLS_HANDSHAKE_RECORD) {
		t->decided = true;
		return 0;
	}
	if (t->optional) {
		tcp_tls_free(tq);
		return 1;
	}
	return (int)fail_with(t, EACCES, "%s", "plaintext NVMe/TCP on a port that requires TLS");
}

/* 0 once the stream is ready (TLS done, or plain after all), else -1 with errno. */
static int ready(struct tcp_qpair *tq)
{
	struct tcp_tls *t = tq->tls;
	if (t->failure[0]) {
		errno = EACCES;
		return -1;
	}
	if (t->handshake_done)
		return 0;
	if (!t->decided) {
		int d = decide(tq);
		if (d != 0)
			return d > 0 ? 0 : -1;
	}
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->handshake_done = true;
		return 0;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	return (int)fail_with(t, EACCES, "TLS handshake failed: %s", ssl_reason(t->ssl, e));
}

/* SSL_read until len bytes or TLS needs the socket. */
static ssize_t read_some(struct tcp_tls *t, void *buf, size_t len, bool *drained)
{
	size_t total = 0;
	*drained = false;
	while (total < len) {
		size_t n = 0;
		ERR_clear_error();
		int r = SSL_read_ex(t->ssl, (char *)buf + total, len - total, &n);
		if (r > 0) {
			total += n;
			continue;
		}
		int e = SSL_get_error(t->ssl, r);
		*drained = true;
		if (total > 0)
			break; /* the error (or EOF) shows on the next call */
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			errno = EAGAIN;
			return -1;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
			return 0; /* the peer closed without close_notify */
		if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			/* The same, as OpenSSL 3 reports it: a close, not a protocol error (PDUs are self-delimiting,
			 * so a cut inside one is still caught by the transport). */
			ERR_clear_error();
			return 0;
		}
		return fail_with(t, EPROTO, "TLS: %s", ssl_reason(t->ssl, e));
	}
	return (ssize_t)total;
}

ssize_t tcp_tls_read(struct tcp_qpair *tq, void *buf, size_t len)
{
	if (!tq->tls)
		return read(tq->qp.fd, buf, len);
	if (ready(tq) < 0)
		return -1;
	if (!tq->tls)
		return read(tq->qp.fd, buf, len);
	bool drained;
	return read_some(tq->tls, buf, len, &drained);
}

ssize_t tcp_tls_readv(struct tcp_qpair *tq, const struct iovec *iov, int iovcnt)
{
	if (!tq->tls)
		return readv(tq->qp.fd, iov, iovcnt);
	if (ready(tq) < 0)
		return -1;
	if (!tq->tls)
		return readv(tq->qp.fd, iov, iovcnt);
	ssize_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		bool drained;
		ssize_t n = read_some(tq->tls, iov[i].iov_base, iov[i].iov_len, &drained);
		if (n < 0)
			return total > 0 ? total : -1;
		total += n;
		if (n == 0 || drained)
			break;
	}
	return total;
}

/* Offer the staged bytes to SSL_write again: 0 when the record is out, -1 (EAGAIN, or an error). */
static int push_staged(struct tcp_tls *t)
{
	size_t n = 0;
	ERR_clear_error();
	int r = SSL_write_ex(t->ssl, t->out, t->out_len, &n);
	if (r > 0) {
		t->out_len = 0;
		return 0;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		errno = EAGAIN;
		return -1;
	}
	return (int)fail_with(t, EPIPE, "TLS: %s", ssl_reason(t->ssl, e));
}

/* Gather the head of the message into buf (at most cap bytes); returns the count. */
static size_t gather(const struct msghdr *msg, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < msg->msg_iovlen && n < cap; i++) {
		size_t take = msg->msg_iov[i].iov_len < cap - n ? msg->msg_iov[i].iov_len : cap - n;
		memcpy(buf + n, msg->msg_iov[i].iov_base, take);
		n += take;
	}
	return n;
}

/* Whether the message begins with the staged bytes (the caller offers what it offered before). */
static bool begins_with_staged(const struct tcp_tls *t, const struct msghdr *msg)
{
	size_t off = 0;
	for (size_t i = 0; i < msg->msg_iovlen && off < t->out_len; i++) {
		size_t take = msg->msg_iov[i].iov_len < t->out_len - off ? msg->msg_iov[i].iov_len : t->out_len - off;
		if (memcmp(t->out + off, msg->msg_iov[i].iov_base, take) != 0)
			return false;
		off += take;
	}
	return off == t->out_len;
}

ssize_t tcp_tls_sendmsg(struct tcp_qpair *tq, const struct msghdr *msg)
{
	if (!tq->tls)
		return sendmsg(tq->qp.fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (ready(tq) < 0)
		return -1;
	if (!tq->tls)
		return sendmsg(tq->qp.fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	struct tcp_tls *t = tq->tls;
	if (t->out_len) {
		/* A record is half out: finish it before anything else. */
		size_t staged = t->out_len;
		bool same = begins_with_staged(t, msg);
		if (push_staged(t) < 0)
			return -1;
		if (same)
			return (ssize_t)staged;
	}
	t->out_len = gather(msg, t->out, sizeof(t->out));
	if (t->out_len == 0)
		return 0;
	size_t staged = t->out_len;
	if (push_staged(t) < 0)
		return -1;
	return (ssize_t)staged;
}
