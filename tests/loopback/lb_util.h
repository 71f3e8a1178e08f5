/* Helpers shared by the loopback tests: sockets on 127.0.0.1 and loud failure. */
#ifndef LB_UTIL_H
#define LB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

/* A listening socket on 127.0.0.1 with an ephemeral port. */
int lb_listen(unsigned short *port);
int lb_connect(unsigned short port);
int lb_accept(int lfd);
/* A connected pair of TCP sockets: *a the client, *b the accepted side. */
void lb_pair(int *a, int *b);
/* Blocking helpers for raw peers. */
void lb_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes within timeout_ms; returns bytes read (less on EOF/timeout). */
size_t lb_read_n(int fd, void *buf, size_t len, int timeout_ms);
/* True when the peer closed (EOF or reset) within timeout_ms with no further data. */
bool lb_wait_closed(int fd, int timeout_ms);
void lb_fill_pattern(void *buf, size_t len, unsigned seed);

#endif
