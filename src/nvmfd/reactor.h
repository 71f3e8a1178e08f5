/*
 * Reactors: one thread each, an epoll loop over its connections, its bdev
 * I/O context and its message queue.  Busy-polls while work arrives and
 * sleeps in epoll_wait once idle.
 */
#ifndef NVMFD_REACTOR_H
#define NVMFD_REACTOR_H

#include <stdint.h>

struct nvmf_tgt;
struct reactor;

struct reactor *reactor_create(struct nvmf_tgt *tgt, unsigned index);
int reactor_start(struct reactor *r);
/* Close every connection, wait for them, end the thread. */
void reactor_stop(struct reactor *r);
void reactor_destroy(struct reactor *r);
/* Run fn(arg) on the reactor's thread (thread-safe). */
void reactor_post(void *reactor, void (*fn)(void *arg), void *arg);
/* Take over an accepted socket (thread-safe): the handshake and Connect run on the reactor. */
void reactor_add_socket(struct reactor *r, int fd, uint16_t portid);

/* Take over an accepted vfio-user socket (thread-safe): one emulated NVMe PCIe controller. */
void reactor_add_vfio_user(struct reactor *r, int fd, uint16_t portid);

#endif
