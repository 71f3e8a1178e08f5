/*
 * The byte stream under an NVMe/TCP queue pair: the socket itself, or TLS
 * 1.3 over it (OpenSSL; kernel TLS where the kernel has it).  The PDU code
 * reads and writes through these three calls only, so a TLS queue pair
 * keeps the batched shape: gathered writes become one TLS record of up to
 * 16 KiB, reads decrypt straight into the data destination.
 * They behave as read(2), readv(2) and sendmsg(2): -1 with errno (EAGAIN
 * while the TLS handshake or a record is still under way).
 */
#ifndef NVMF_TCP_TLS_H
#define NVMF_TCP_TLS_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct tcp_qpair;
struct tcp_tls;

/* Take over ssl (an OpenSSL SSL *) for tq's socket.  optional (controller): a peer that
 * sends a plain ICReq instead of a ClientHello goes on without TLS.  0, or -1 with errno. */
int tcp_tls_attach(struct tcp_qpair *tq, void *ssl, bool optional);
void tcp_tls_free(struct tcp_qpair *tq);
/* Why TLS failed (a handshake refused, plaintext on a TLS-only port), or NULL. */
const char *tcp_tls_failure(const struct tcp_qpair *tq);
/* Largest plaintext of one TLS record: what a read past the budget may take. */
#define TCP_TLS_RECORD_MAX 16384
/* Decrypted bytes are waiting inside TLS (the socket may show nothing more). */
bool tcp_tls_pending(const struct tcp_qpair *tq);

ssize_t tcp_tls_read(struct tcp_qpair *tq, void *buf, size_t len);
ssize_t tcp_tls_readv(struct tcp_qpair *tq, const struct iovec *iov, int iovcnt);
ssize_t tcp_tls_sendmsg(struct tcp_qpair *tq, const struct msghdr *msg);

#endif
