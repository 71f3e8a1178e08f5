/*
 * The host side of vfio-user: a client of a vfio-user NVMe device (our
 * nvmfd, SPDK's target) and a userspace NVMe PCIe driver over it.  Guest
 * memory is a memfd shared with the device as one DMA region; queues and
 * data bounce buffers live in it; doorbells are written through the
 * mmapped BAR0 (or by message where the device traps them, then to shadow
 * doorbells with EventIdx); completions are polled or taken from MSI-X
 * eventfds.
 */
#ifndef NVMF_VU_HOST_H
#define NVMF_VU_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/transport_internal.h"

struct vu_client;

/* Data one command may move through the host queue's bounce buffers. */
#define VU_HOST_MAX_XFER (128u * 1024)

/*
 * Connect to the device at path, negotiate the version, share mem_bytes of
 * memory, map the doorbells.  0 or a negative errno with a message in err.
 */
int vu_client_open(const char *path, size_t mem_bytes, struct vu_client **out, char *err, size_t errlen);
void vu_client_close(struct vu_client *c);
/* BAR0 register access (4 or 8 bytes).  0 or a negative errno. */
int vu_client_reg_read(struct vu_client *c, uint32_t off, unsigned len, uint64_t *v);
int vu_client_reg_write(struct vu_client *c, uint32_t off, unsigned len, uint64_t v);
/* Memory in the shared region: page aligned, zeroed.  NULL when it is spent. */
void *vu_client_alloc(struct vu_client *c, size_t len, uint64_t *iova);
/* The device's address of [p, p + len) when it lies in the shared memory: true and *iova, else false. */
bool vu_client_iova_of(const struct vu_client *c, const void *p, size_t len, uint64_t *iova);
/* Route MSI-X vector to eventfd efd (-1: none).  0 or a negative errno. */
int vu_client_set_msix(struct vu_client *c, unsigned vector, int efd);
/* The doorbell registers (BAR0 at 0x1000), mmapped; NULL when the device traps them. */
volatile uint32_t *vu_client_doorbells(struct vu_client *c);
/* Write doorbell i (2 * qid: SQ tail, 2 * qid + 1: CQ head) in BAR0: a store where it is
 * mmapped, else a region write message.  0 or a negative errno. */
int vu_client_ring(struct vu_client *c, unsigned i, uint32_t value);
/* The shadow doorbell and EventIdx pages for Doorbell Buffer Config (allocated once, zeroed on
 * every call).  0 or -ENOMEM. */
int vu_client_shadow_buffers(struct vu_client *c, uint64_t *shadow_iova, uint64_t *eventidx_iova);
/* The device took them (on) or forgot them (off, a reset): I/O queues made afterwards ring there. */
void vu_client_use_shadow(struct vu_client *c, bool on);
/* The shadow pages in use, if any: true with both set, else false with both NULL. */
bool vu_client_shadow(const struct vu_client *c, volatile uint32_t **shadow, volatile uint32_t **eventidx);
/* Any message (tests): 0, or -EREMOTEIO with the errno of an error reply in *err_no; the reply payload in reply_buf. */
int vu_client_call(struct vu_client *c, uint16_t cmd, const void *p, size_t len, const int *fds, unsigned nfds,
		   void *reply_buf, size_t *reply_size, uint32_t *err_no);
/* The shared memory's file (tests: shrink it under the device). */
int vu_client_memfd(const struct vu_client *c);
/* The shared memory region as the device sees it. */
void vu_client_memory(const struct vu_client *c, uint64_t *iova, uint64_t *len);
/* The class code from config space (0x010802 for NVMe). */
uint32_t vu_client_class(const struct vu_client *c);

/*
 * A host queue pair: SQ and CQ rings of qsize entries in shared memory and
 * a bounce buffer per command.  vector < 0: polled (no interrupts).  The
 * caller creates the queues on the device (registers or admin commands).
 * NULL with errno.
 */
struct nvmf_qpair *vu_host_qpair_create(struct nvmf_association *na, struct vu_client *c, uint16_t qid,
					uint16_t qsize, int vector, const struct nvmf_qpair_params *params);
void vu_host_qpair_rings(const struct nvmf_qpair *qp, uint64_t *sq_iova, uint64_t *cq_iova);

/* Ops of the transport's host side (vu_qpair.c dispatches to these). */
void vu_host_qpair_close(struct nvmf_qpair *qp);
void vu_host_qpair_destroy(struct nvmf_qpair *qp);
int vu_host_process(struct nvmf_qpair *qp);
unsigned vu_host_outstanding(const struct nvmf_qpair *qp);
struct nvmf_capsule *vu_host_capsule_alloc(struct nvmf_qpair *qp);
int vu_host_capsule_transmit(struct nvmf_capsule *nc);

#endif
