/*
 * The vfio-user transport's shared state: the emulated NVMe PCIe
 * controller's queues, its window on guest memory (DMA regions) and its
 * interrupts, as the transport ops (vu_qpair.c, in the transport library)
 * and the device (vu_device.c and friends, above the controller core) both
 * see them.  One device, its queues and its connections live on one thread.
 */
#ifndef NVMF_VU_INTERNAL_H
#define NVMF_VU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/nvme_spec.h>

#include "transport/transport_internal.h"
#include "vfio_user.h"

#define VU_PAGE 4096u
/* Queue IDs 0..VU_MAX_QID (the controller core grants 64 I/O queues). */
#define VU_MAX_QID NVMF_VU_MAX_IO_QUEUES
#define VU_NR_VECTORS (VU_MAX_QID + 1)
#define VU_MAX_QSIZE NVMF_VU_MAX_QUEUE_ENTRIES /* CAP.MQES + 1 */
/* What a PRP-described command may move (the core bounds it by MDTS). */
#define VU_PRP_MAX_XFER (1u << 20)
/* BAR0: registers below 0x1000, doorbells from there (CAP.DSTRD 0). */
#define VU_BAR0_SIZE 0x4000u
#define VU_DOORBELL_OFF 0x1000u

/* ---- Guest memory (vu_dma.c) ---- */

struct vu_dma_region {
	uint64_t iova, len;
	uint8_t *vaddr; /* NULL: not mappable (no fd) */
	bool readable, writable;
	bool lost; /* its memory vanished under the mapping (vu_guard.h): never reached again */
};

struct vu_dma {
	struct vu_dma_region *r; /* sorted by iova, never overlapping */
	unsigned n, cap;
};

/* Map len bytes of fd at offset for guest addresses [iova, iova+len).  0, -EINVAL (zero,
 * unaligned, wrapping), -EEXIST (overlap), or the errno of mmap. */
int vu_dma_add(struct vu_dma *d, uint64_t iova, uint64_t len, int fd, uint64_t offset, bool readable,
	       bool writable);
/* Unmap exactly [iova, iova+len).  0 or -ENOENT. */
int vu_dma_remove(struct vu_dma *d, uint64_t iova, uint64_t len);
void vu_dma_clear(struct vu_dma *d);
/* Host pointer for [iova, iova+len) inside one mapped region (writable if asked), or NULL
 * (also when the region's memory was lost). */
void *vu_dma_ptr(const struct vu_dma *d, uint64_t iova, uint64_t len, bool write);
/* The region [iova, iova+len) overlaps [a, a+alen). */
static inline bool vu_overlaps(uint64_t iova, uint64_t len, uint64_t a, uint64_t alen)
{
	return iova < a + alen && a < iova + len;
}

/* ---- The emulated controller's queues ---- */

struct vu_qpair;

struct vu_cq {
	bool live;
	uint16_t size, tail, head, iv;
	bool ien, phase;
	uint64_t iova;
	struct nvme_completion *ring;
	unsigned sqs;	  /* SQs that post here */
	unsigned inflight; /* commands fetched whose entry is still to be posted */
	/*
	 * While an SQ's fetch pass runs, entries are written a cache line at a
	 * time: the host polls the ring from another CPU, and each entry written
	 * on its own took the line back from it (up to four transfers a line).
	 * held[] waits for the rest of its line or the pass's end; its slots
	 * start at held_slot and are already taken (tail is past them).
	 */
	bool by_line;
	uint8_t nheld;
	uint16_t held_slot;
	struct nvme_completion held[4];
};

/* An interrupt vector's entries not yet signalled, for interrupt coalescing. */
struct vu_vector {
	uint16_t pending;  /* completion entries posted since its last interrupt */
	uint64_t since_ns; /* when a signal pass first held them back (0: none has) */
	bool admin;	   /* an Admin Completion Queue entry is among them: never held */
	bool cd;	   /* Coalescing Disable (Feature 09h) */
};

struct vu_sq {
	bool live;
	uint16_t size, head, cqid;
	uint64_t iova;
	struct nvme_command *ring;
	struct vu_qpair *vqp; /* the transport queue pair commands go to */
	bool deleting;
};

struct vu_ctrl;

/* What the device layer does for the transport (it sits above the controller core). */
struct vu_ctrl_hooks {
	/* An admin command the PCIe transport itself executes (queue management).
	 * Returns true when it took the command (it posts the completion). */
	bool (*admin_command)(struct vu_ctrl *vc, const struct nvme_command *sqe);
	/* An invalid doorbell write: info is the Asynchronous Event Information. */
	void (*doorbell_error)(struct vu_ctrl *vc, uint8_t info);
};

struct vu_ctrl {
	struct vu_dma dma;
	volatile uint32_t *doorbells; /* in the BAR0 memory shared with the client */
	/* Doorbell writes reach the device as messages (BAR0's doorbell page is not mmappable),
	 * so an idle device sleeps until one comes; Doorbell Buffer Config is offered. */
	bool trapped;
	/* Doorbell Buffer Config: the guest's shadow doorbells and EventIdx entries, laid out as
	 * BAR0's doorbells; I/O queues only (the admin queue stays on BAR0).  NULL: none. */
	volatile uint32_t *shadow, *eventidx;
	uint64_t shadow_iova, eventidx_iova;
	/* A poll moved some EventIdx behind the guest's writes since vu_arm_eventidx: an idle
	 * device must arm again before it sleeps, or the guest's next submission sends nothing. */
	bool eventidx_followed;
	struct vu_sq sq[VU_MAX_QID + 1];
	struct vu_cq cq[VU_MAX_QID + 1];
	int msix_fd[VU_NR_VECTORS];
	int msi_fd, intx_fd;
	bool fatal; /* CSTS.CFS */
	bool irqs_pending; /* some vector has pending entries */
	struct vu_vector vec[VU_NR_VECTORS];
	/* Feature 08h: THR (entries, 0's based) and TIME (100 us units); either 0: no coalescing. */
	uint8_t coalesce_thr, coalesce_time;
	const struct vu_ctrl_hooks *hooks;
	void *owner;
};

void vu_ctrl_init(struct vu_ctrl *vc);
/* Post a completion on CQ cqid (the caller made sure there is room). */
void vu_post_cqe(struct vu_ctrl *vc, uint16_t cqid, const struct nvme_completion *cqe);
/* Post a completion for a command of SQ sqid answered by the transport itself. */
void vu_complete(struct vu_ctrl *vc, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t cdw0);
/*
 * Signal the vectors of CQs that got entries since their last interrupt,
 * unless interrupt coalescing holds them back (fewer than THR + 1 entries for
 * less than TIME; never Admin Completion Queue entries, never a vector with
 * Coalescing Disable): irqs_pending then stays set.  Returns how many.
 */
int vu_signal_irqs(struct vu_ctrl *vc);
/* Resolve the rings of live queues and the shadow doorbells again (after DMA changes); false
 * when one lies outside guest memory. */
bool vu_remap_queues(struct vu_ctrl *vc);
/* Forget every queue, the shadow doorbells and the interrupt coalescing settings (controller reset). */
void vu_reset_queues(struct vu_ctrl *vc);
/* Doorbell i (2 * qid: SQ tail, 2 * qid + 1: CQ head) starts at 0 for a new queue, in BAR0 and in
 * the shadow buffer (Linux does not clear the latter when it deletes a queue, as SPDK notes). */
void vu_zero_doorbell(struct vu_ctrl *vc, unsigned i);
/*
 * Before an idle device sleeps: set each I/O SQ's EventIdx to its head, so
 * that the guest's next submission writes BAR0 (a message, trapped) and
 * wakes the device.  Returns false when an SQ has commands waiting (the
 * guest raced the update): poll instead of sleeping.  True with no shadow
 * doorbells (every doorbell write is then a message).  Call it after every
 * poll that ends idle with vc->eventidx_followed set, not only on the way
 * from busy to idle: a poll of an idle device (a message for another queue,
 * a CQ head doorbell) moves EventIdx too.
 */
bool vu_arm_eventidx(struct vu_ctrl *vc);

/* ---- Transport queue pairs (vu_qpair.c) ---- */

struct vu_qpair {
	struct nvmf_qpair qp;
	struct vu_ctrl *vc;
	uint16_t qid;
	unsigned inflight; /* commands handed to the core, not yet answered */
};

/* A controller queue pair for queue qid of vc; the generic part is set up. NULL with errno. */
struct nvmf_qpair *vu_qpair_create(struct nvmf_association *na, struct vu_ctrl *vc, uint16_t qid,
				   const struct nvmf_qpair_params *params);
/* The transport-side Connect, Property Get or Property Set: a capsule for sqe with
 * data, answered to done (maybe before this returns).  0 or a negative errno. */
typedef void (*vu_internal_done)(void *arg, const struct nvme_completion *cqe);
int vu_qpair_submit_internal(struct nvmf_qpair *qp, const struct nvme_command *sqe, const void *data, size_t len,
			     vu_internal_done done, void *arg);
/* Fetch from the queue's SQ (its process op does it too).  Returns commands fetched. */
int vu_qpair_poll(struct nvmf_qpair *qp);

/* ---- Data pointers (vu_prp.c) ---- */

/*
 * Walk the data a command's PRP entries or SGL describe, for bytes
 * [offset, offset+len): fn gets each piece of guest memory in turn, pieces
 * that follow each other in our address space merged into one.  A piece is
 * checked before fn sees it: returns 0, or an NVMe status (NVME_STATUS
 * form) when the pointers are malformed or reach outside the mapped memory,
 * and then fn may have seen part of the data.
 */
typedef void (*vu_seg_fn)(void *arg, uint8_t *guest, size_t len);
uint16_t vu_walk_data(const struct vu_dma *d, const struct nvme_command *sqe, uint64_t offset, uint64_t len,
		      bool write_to_guest, vu_seg_fn fn, void *arg);
/* Length an SGL describes (0 for PRPs: unknown, see VU_PRP_MAX_XFER); status in *st. */
uint64_t vu_sgl_length(const struct vu_dma *d, const struct nvme_command *sqe, uint16_t *st);

#endif
