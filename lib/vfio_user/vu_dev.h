/* Internals of a vfio-user device shared by its protocol half (vu_device.c) and its NVMe half (vu_nvme.c). */
#ifndef NVMF_VU_DEV_H
#define NVMF_VU_DEV_H

#include <nvmf/fabrics_spec.h>

#include "vfio_user.h"
#include "vu_internal.h"
#include "vu_msg.h"
#include "vu_pci.h"

struct vu_conn {
	struct nvmf_conn *conn;
	uint16_t qid;
	bool closed; /* on_close ran: put it on the next pass */
	/* Create I/O SQ waiting for the queue's Connect, or Delete I/O SQ waiting for the close. */
	bool create_pending, delete_pending;
	uint16_t cmd_cid;
	struct vu_conn *next;
};

struct nvmf_vu_dev {
	struct nvmf_tgt *tgt;
	uint16_t portid;
	struct nvmf_conn_env env;  /* the reactor's */
	struct nvmf_conn_env qenv; /* given to our queues: routes to us */
	int sock, bar0fd;
	uint8_t *bar0;
	struct vu_rx rx;
	bool versioned;
	uint32_t peer_max_xfer;
	bool ending;
	bool idle; /* no work for VU_SPIN_NS: polled every nvmf_vu_dev_idle_poll_ms(), not every turn */
	uint64_t last_work_ns;
	unsigned polls;

	struct vu_pci pci;
	struct vu_ctrl vc;

	/* NVMe registers the transport keeps (the core keeps CAP, VS, CC, CSTS). */
	uint64_t cap;
	uint32_t vs, cc, aqa, intms;
	bool shadow_logged; /* Doorbell Buffer Config logged since the last reset */
	uint64_t asq, acq;

	/* The controller on the core: host identity and its queues. */
	char subnqn[NVME_NQN_FIELD];
	char hostnqn[NVME_NQN_FIELD];
	uint8_t hostid[16];
	uint16_t cntlid;
	struct vu_conn *admin;
	struct vu_conn *conns; /* every queue, the admin queue too */
};

/* vu_nvme.c */
extern const struct vu_ctrl_hooks vu_nvme_hooks;
/* Connect the admin queue: a controller on the core.  0 or a negative errno. */
int vu_nvme_start(struct nvmf_vu_dev *dev);
/* BAR0 register access below the doorbells. */
void vu_nvme_reg_read(struct nvmf_vu_dev *dev, uint32_t off, void *buf, uint32_t len);
void vu_nvme_reg_write(struct nvmf_vu_dev *dev, uint32_t off, const void *buf, uint32_t len);
/* Controller reset (CC.EN to 0, a function level reset, DEVICE_RESET). */
void vu_nvme_reset(struct nvmf_vu_dev *dev);
/* Guest memory changed: queues outside it now make the controller fatal. */
void vu_nvme_dma_changed(struct nvmf_vu_dev *dev);
/* Poll every queue; returns work done. */
int vu_nvme_poll(struct nvmf_vu_dev *dev);
/* Close every queue (the device ends). */
void vu_nvme_close_all(struct nvmf_vu_dev *dev);
/* A queue pair closed (its conn's on_close). */
void vu_nvme_conn_closed(struct nvmf_vu_dev *dev, struct nvmf_conn *conn);
/* Commands of the guest not yet answered, less those held for an event (the device stays busy). */
unsigned vu_nvme_inflight(const struct nvmf_vu_dev *dev);

#endif
