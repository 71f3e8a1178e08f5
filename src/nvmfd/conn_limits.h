/*
 * Connection admission: counts open connections, in all and per host
 * address, against the limits (thread-safe: the acceptor counts, the
 * reactors release).
 */
#ifndef NVMFD_CONN_LIMITS_H
#define NVMFD_CONN_LIMITS_H

#include <stdbool.h>
#include <sys/socket.h>

struct conn_limits;

/* 0 for a limit: none.  NULL on allocation failure. */
struct conn_limits *conn_limits_create(unsigned max_total, unsigned max_per_host);
void conn_limits_destroy(struct conn_limits *cl);
enum admission {
	ADMITTED,
	REFUSED_TOTAL,	  /* max_total connections are open */
	REFUSED_PER_HOST, /* max_per_host connections from this address are open */
	REFUSED_NOMEM,
};
#define ADMISSION_REFUSALS 3

/* Count a connection from peer, unless a limit is reached (then nothing is counted). */
enum admission conn_limits_acquire(struct conn_limits *cl, const struct sockaddr_storage *peer);
/* Why a connection was refused, for messages. */
const char *conn_limits_reason(enum admission a);
/* A connection admitted with this peer address has closed. */
void conn_limits_release(struct conn_limits *cl, const struct sockaddr_storage *peer);

#endif
