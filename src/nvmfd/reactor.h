/*
 * Reactors: one thread each, an epoll loop over its connections, its bdev
 * I/O context and its message queue.  Busy-polls while work arrives and
 * sleeps in epoll_wait once idle.  A connection is served when its socket
 * has an event, or when completions gave it output; one blocked on a peer
 * that does not read waits for POLLOUT (and the timer tick) alone.
 */
#ifndef NVMFD_REACTOR_H
#define NVMFD_REACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <nvmf/transport.h>

struct nvmf_tgt;
struct reactor;
struct conn_limits;

struct reactor *reactor_create(struct nvmf_tgt *tgt, unsigned index);
/*
 * Before the first socket arrives: the limits of each connection's queue
 * pair (read budget per pass, transmit backlog), and the admission counts
 * that closed connections are released from (NULL: none).
 */
void reactor_configure(struct reactor *r, const struct nvmf_qpair_limits *limits, struct conn_limits *admission);
/* How long the reactor keeps polling after its last work before it sleeps in epoll (before reactor_start). */
void reactor_set_spin(struct reactor *r, uint64_t spin_ns);
/* Run the reactor's thread on this CPU alone (before reactor_start; -1, the default: wherever the kernel puts it). */
void reactor_set_cpu(struct reactor *r, int cpu);
/* Start the thread: 0 or a negative errno (a CPU it may not run on: -EINVAL). */
int reactor_start(struct reactor *r);
/* Close every connection, wait for them, end the thread. */
void reactor_stop(struct reactor *r);
void reactor_destroy(struct reactor *r);
/* Run fn(arg) on the reactor's thread (thread-safe). */
void reactor_post(void *reactor, void (*fn)(void *arg), void *arg);
/* Take over an accepted socket from peer (thread-safe): the handshake and Connect run on
 * the reactor.  The connection is released from the admission counts when it closes. */
void reactor_add_socket(struct reactor *r, int fd, uint16_t portid, const struct sockaddr_storage *peer);

/* Take over an accepted vfio-user socket (thread-safe): one emulated NVMe PCIe controller,
 * whose doorbells are trapped (messages wake an idle device) or mapped (polled, also when idle). */
void reactor_add_vfio_user(struct reactor *r, int fd, uint16_t portid, bool trapped_doorbells);

#endif
