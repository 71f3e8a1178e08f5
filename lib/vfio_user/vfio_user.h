/*
 * A vfio-user device: one client connection (QEMU's vfio-user-pci, or the
 * host library's client) served as an NVMe PCIe controller on the
 * controller core.  Register accesses become Property Get/Set, creating an
 * I/O queue becomes that controller's queue Connect; every command goes
 * through the core like a TCP queue's.
 *
 * Runs on one thread (a reactor): watch nvmf_vu_dev_fd() for input, call
 * nvmf_vu_dev_process() when it is readable, and nvmf_vu_dev_poll() every
 * turn while nvmf_vu_dev_busy(), else every nvmf_vu_dev_idle_poll_ms().
 * Mapped doorbells are memory the client writes: they are polled, with no
 * system call, and nothing wakes a sleeping thread when one is written.
 * Trapped doorbells come as messages while the device is idle (the guest
 * uses shadow doorbells and EventIdx to send them only then).  Once
 * nvmf_vu_dev_done(), destroy it.
 */
#ifndef NVMF_VFIO_USER_H
#define NVMF_VFIO_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrl/target.h"

struct nvmf_vu_dev;

/* What the emulated controller offers: entries per queue (CAP.MQES + 1) and I/O queues. */
#define NVMF_VU_MAX_QUEUE_ENTRIES 1024
#define NVMF_VU_MAX_IO_QUEUES 64

/* Take over an accepted Unix socket that arrived on portid.  trapped_doorbells: BAR0's doorbell
 * page is not offered for mmap (writes come as messages) and Doorbell Buffer Config is.  NULL
 * with errno. */
struct nvmf_vu_dev *nvmf_vu_dev_create(struct nvmf_tgt *tgt, int fd, uint16_t portid,
				       const struct nvmf_conn_env *env, bool trapped_doorbells);
/* The descriptor to watch for readability (messages). */
int nvmf_vu_dev_fd(const struct nvmf_vu_dev *dev);
/* Handle messages, poll doorbells, signal interrupts.  Returns work done (>= 0). */
int nvmf_vu_dev_process(struct nvmf_vu_dev *dev);
/* Poll doorbells and signal interrupts, without looking for messages.  Returns work done (>= 0). */
int nvmf_vu_dev_poll(struct nvmf_vu_dev *dev);
/* I/O flows, or completions posted from outside a poll (an event) wait for their interrupt:
 * call process again without waiting. */
bool nvmf_vu_dev_busy(const struct nvmf_vu_dev *dev);
/*
 * Not busy: how often to look at the doorbells (nvmf_vu_dev_poll), in ms at
 * now_ns (nvmf_clock_ns): the longest a first command after idling waits.
 * Mapped doorbells: 1 ms, then 5 ms once idle for a second, so that an idle
 * guest costs about 200 wake-ups a second.  Trapped doorbells: -1, never
 * (a message wakes the device).
 */
int nvmf_vu_dev_idle_poll_ms(const struct nvmf_vu_dev *dev, uint64_t now_ns);
/* Start ending (the client went, or the target stops). */
void nvmf_vu_dev_close(struct nvmf_vu_dev *dev);
/* Ended: every queue closed. */
bool nvmf_vu_dev_done(const struct nvmf_vu_dev *dev);
void nvmf_vu_dev_destroy(struct nvmf_vu_dev *dev);

#endif
