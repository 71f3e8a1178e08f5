/*
 * The vfio-user server: one client connection, its messages handled as
 * QEMU's docs/interop/vfio-user.rst specifies (version 0.1), the device's
 * regions (config space, BAR0 with its doorbells mmappable unless they are
 * trapped, BAR4/BAR5 for MSI-X), its interrupts, and its life: polled by
 * the reactor, ended when the client goes away.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vu_dev.h"
#include "vu_guard.h"
#include "util/clock.h"

/* Largest data in one REGION_READ/WRITE we accept (our max_data_xfer_size). */
#define VU_MAX_DATA_XFER (1u << 20)
#define VU_MAX_MSG (sizeof(struct vfio_user_header) + sizeof(struct vfio_user_region_access) + VU_MAX_DATA_XFER)
/* DMA regions per device, as libvfio-user allows (a VM maps a handful): each is one of the
 * process's mappings, which vm.max_map_count bounds for every device together. */
#define VU_MAX_DMA_MAPS 64
/* Messages handled per process call: a chatty client cannot starve the queues. */
#define VU_MSG_BUDGET 32
/* Busy-poll the doorbells this long after the last work; then the device is idle (nvmf_vu_dev_idle_poll_ms). */
#define VU_SPIN_NS 2000000ull
#define VU_IDLE_POLL_MS 1
#define VU_DEEP_IDLE_NS 1000000000ull
#define VU_DEEP_IDLE_POLL_MS 5
#define VU_REPLY_TIMEOUT_MS 5000

/* ---- Replies ---- */

static int reply(struct nvmf_vu_dev *dev, const struct vfio_user_header *req, const void *p1, size_t l1,
		 const void *p2, size_t l2, const int *fds, unsigned nfds)
{
	if (req->flags & VFIO_USER_F_NO_REPLY)
		return 0;
	struct vfio_user_header h = {.msg_id = req->msg_id, .cmd = req->cmd, .flags = VFIO_USER_F_TYPE_REPLY};
	return vu_send(dev->sock, &h, p1, l1, p2, l2, fds, nfds, VU_REPLY_TIMEOUT_MS);
}

static int reply_error(struct nvmf_vu_dev *dev, const struct vfio_user_header *req, int err)
{
	if (req->flags & VFIO_USER_F_NO_REPLY)
		return 0;
	struct vfio_user_header h = {.msg_id = req->msg_id,
				     .cmd = req->cmd,
				     .flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
				     .error_no = (uint32_t)err};
	return vu_send(dev->sock, &h, NULL, 0, NULL, 0, NULL, 0, VU_REPLY_TIMEOUT_MS);
}

/* ---- Commands ---- */

static int cmd_version(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_version v;
	if (len < sizeof(v) || dev->versioned)
		return reply_error(dev, h, EINVAL);
	memcpy(&v, p, sizeof(v));
	if (v.major != VFIO_USER_MAJOR)
		return reply_error(dev, h, ENOTSUP);
	bool has_pgsizes = false;
	dev->peer_max_xfer = VFIO_USER_DEFAULT_MAX_DATA_XFER;
	if (len > sizeof(v)) {
		const char *json = (const char *)p + sizeof(v);
		size_t jlen = len - sizeof(v);
		if (memchr(json, '\0', jlen) == NULL)
			return reply_error(dev, h, EINVAL);
		json_object *o = json_tokener_parse(json);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return reply_error(dev, h, EINVAL);
		}
		json_object *caps, *x;
		if (json_object_object_get_ex(o, "capabilities", &caps)) {
			if (!json_object_is_type(caps, json_type_object)) {
				json_object_put(o);
				return reply_error(dev, h, EINVAL);
			}
			if (json_object_object_get_ex(caps, "max_data_xfer_size", &x))
				dev->peer_max_xfer = (uint32_t)json_object_get_int64(x);
			if (json_object_object_get_ex(caps, "pgsizes", &x)) {
				has_pgsizes = true;
				if (!(json_object_get_int64(x) & 4096)) {
					json_object_put(o);
					return reply_error(dev, h, EINVAL);
				}
			}
		}
		json_object_put(o);
	}
	/* Our own limits; no migration, no twin socket. */
	char json[256];
	int n = snprintf(json, sizeof(json),
			 "{\"capabilities\":{\"max_msg_fds\":%u,\"max_data_xfer_size\":%u%s}}", VU_MAX_FDS,
			 VU_MAX_DATA_XFER, has_pgsizes ? ",\"pgsizes\":4096" : "");
	struct vfio_user_version r = {.major = VFIO_USER_MAJOR, .minor = v.minor < VFIO_USER_MINOR ? v.minor : VFIO_USER_MINOR};
	dev->versioned = true;
	return reply(dev, h, &r, sizeof(r), json, (size_t)n + 1, NULL, 0);
}

static int cmd_dma_map(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_dma_map m;
	if (len != sizeof(m) || dev->rx.nfds > 1)
		return reply_error(dev, h, EINVAL);
	memcpy(&m, p, sizeof(m));
	if (m.argsz != sizeof(m) || (m.flags & ~3u))
		return reply_error(dev, h, EINVAL);
	if (dev->vc.dma.n >= VU_MAX_DMA_MAPS)
		return reply_error(dev, h, ENOSPC);
	int fd = dev->rx.nfds ? dev->rx.fds[0] : -1;
	int rc = vu_dma_add(&dev->vc.dma, m.addr, m.size, fd, m.offset, m.flags & VFIO_USER_F_DMA_REGION_READ,
			    m.flags & VFIO_USER_F_DMA_REGION_WRITE);
	if (rc < 0)
		return reply_error(dev, h, -rc);
	vu_nvme_dma_changed(dev);
	return reply(dev, h, NULL, 0, NULL, 0, NULL, 0);
}

static int cmd_dma_unmap(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_dma_unmap u;
	/* SPDK's initiator sends the region's descriptor along; it is not needed (the message layer closes it). */
	if (len != sizeof(u) || dev->rx.nfds > 1)
		return reply_error(dev, h, EINVAL);
	memcpy(&u, p, sizeof(u));
	if (u.argsz < sizeof(u) || (u.flags & ~VFIO_DMA_UNMAP_FLAG_ALL))
		return reply_error(dev, h, u.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP ? ENOTSUP : EINVAL);
	if (u.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (u.addr || u.size)
			return reply_error(dev, h, EINVAL);
		vu_dma_clear(&dev->vc.dma);
	} else {
		int rc = vu_dma_remove(&dev->vc.dma, u.addr, u.size);
		if (rc < 0)
			return reply_error(dev, h, -rc);
	}
	/* Nothing holds guest memory past this call (data is copied in and out while
	 * commands run on this thread); queues there make the controller fatal. */
	vu_nvme_dma_changed(dev);
	u.argsz = sizeof(u);
	return reply(dev, h, &u, sizeof(u), NULL, 0, NULL, 0);
}

static int cmd_device_info(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_device_info i;
	/* Clients may send argsz bytes (room for the reply): more than the structure is fine. */
	if (len < sizeof(i) || dev->rx.nfds)
		return reply_error(dev, h, EINVAL);
	memcpy(&i, p, sizeof(i));
	if (i.argsz < sizeof(i))
		return reply_error(dev, h, EINVAL);
	i = (struct vfio_user_device_info){.argsz = sizeof(i),
					   .flags = VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI,
					   .num_regions = VFIO_PCI_NUM_REGIONS,
					   .num_irqs = VFIO_PCI_NUM_IRQS};
	return reply(dev, h, &i, sizeof(i), NULL, 0, NULL, 0);
}

static uint64_t region_size(unsigned index)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		return VU_BAR0_SIZE;
	case VFIO_PCI_BAR4_REGION_INDEX:
		return VU_BAR4_SIZE;
	case VFIO_PCI_BAR5_REGION_INDEX:
		return VU_BAR5_SIZE;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return VU_PCI_CFG_SIZE;
	default:
		return 0;
	}
}

static int cmd_region_info(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_region_info ri;
	if (len < sizeof(ri) || dev->rx.nfds)
		return reply_error(dev, h, EINVAL);
	memcpy(&ri, p, sizeof(ri));
	if (ri.argsz < sizeof(ri) || ri.index >= VFIO_PCI_NUM_REGIONS)
		return reply_error(dev, h, EINVAL);
	uint32_t asked = ri.argsz;
	uint32_t index = ri.index;
	ri = (struct vfio_user_region_info){.argsz = sizeof(ri), .index = index, .size = region_size(index)};
	if (ri.size)
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (index != VFIO_PCI_BAR0_REGION_INDEX || dev->vc.trapped)
		return reply(dev, h, &ri, sizeof(ri), NULL, 0, NULL, 0);
	/* BAR0: the doorbell page is mmappable (a sparse area); registers go by message. */
	struct {
		struct vfio_region_info_cap_sparse_mmap cap;
		struct vfio_region_sparse_mmap_area area;
	} sparse = {
		.cap = {.header = {.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1, .next = 0}, .nr_areas = 1},
		.area = {.offset = VU_DOORBELL_OFF, .size = VU_PAGE},
	};
	ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
	ri.argsz = sizeof(ri) + sizeof(sparse);
	ri.offset = 0;
	/* Too small for the capability: the size it needs and no capability (QEMU
	 * refuses a CAPS flag whose cap_offset lies outside the reply), then it asks again. */
	if (asked < ri.argsz)
		return reply(dev, h, &ri, sizeof(ri), NULL, 0, NULL, 0);
	ri.flags |= VFIO_REGION_INFO_FLAG_CAPS;
	ri.cap_offset = sizeof(ri);
	return reply(dev, h, &ri, sizeof(ri), &sparse, sizeof(sparse), &dev->bar0fd, 1);
}

static uint32_t irq_count(unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
	case VFIO_PCI_MSI_IRQ_INDEX:
		return 1;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return VU_NR_VECTORS;
	default:
		return 0;
	}
}

static int cmd_irq_info(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_irq_info ii;
	if (len < sizeof(ii) || dev->rx.nfds)
		return reply_error(dev, h, EINVAL);
	memcpy(&ii, p, sizeof(ii));
	if (ii.argsz < sizeof(ii) || ii.index >= VFIO_PCI_NUM_IRQS)
		return reply_error(dev, h, EINVAL);
	uint32_t index = ii.index;
	ii = (struct vfio_user_irq_info){.argsz = sizeof(ii), .index = index, .count = irq_count(index)};
	if (index == VFIO_PCI_INTX_IRQ_INDEX)
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	else if (ii.count)
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	return reply(dev, h, &ii, sizeof(ii), NULL, 0, NULL, 0);
}

/* The eventfd slot of interrupt (index, i). */
static int *irq_slot(struct nvmf_vu_dev *dev, unsigned index, unsigned i)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return &dev->vc.intx_fd;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return &dev->vc.msi_fd;
	default:
		return &dev->vc.msix_fd[i];
	}
}

static void set_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

static int cmd_set_irqs(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, const uint8_t *p, size_t len)
{
	struct vfio_user_irq_set s;
	if (len < sizeof(s))
		return reply_error(dev, h, EINVAL);
	memcpy(&s, p, sizeof(s));
	uint32_t data = s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK, action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint32_t count = irq_count(s.index);
	bool one_data = data && !(data & (data - 1)), one_action = action && !(action & (action - 1));
	if (s.argsz != len || (s.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) ||
	    !one_data || !one_action || s.index >= VFIO_PCI_NUM_IRQS)
		return reply_error(dev, h, EINVAL);
	/* start 0 count 0 with no data: disable every interrupt of the index. */
	bool all = data == VFIO_IRQ_SET_DATA_NONE && s.start == 0 && s.count == 0;
	if (!all && (s.count == 0 || s.start >= count || s.count > count - s.start))
		return reply_error(dev, h, EINVAL);
	size_t need = sizeof(s) + (data == VFIO_IRQ_SET_DATA_BOOL ? s.count : 0);
	if (len != need)
		return reply_error(dev, h, EINVAL);
	if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (dev->rx.nfds != 0 && dev->rx.nfds != s.count)
			return reply_error(dev, h, EINVAL);
	} else if (dev->rx.nfds) {
		return reply_error(dev, h, EINVAL);
	}
	if (all) {
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			for (uint32_t i = 0; i < count; i++)
				set_fd(irq_slot(dev, s.index, i), -1);
		return reply(dev, h, NULL, 0, NULL, 0, NULL, 0);
	}
	const uint8_t *bools = p + sizeof(s);
	for (uint32_t i = 0; i < s.count; i++) {
		int *slot = irq_slot(dev, s.index, s.start + i);
		if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
			int fd = dev->rx.nfds ? dev->rx.fds[i] : -1;
			if (dev->rx.nfds)
				dev->rx.fds[i] = -1; /* taken */
			if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
				set_fd(slot, fd);
			else if (fd >= 0)
				close(fd); /* mask/unmask notifications: not used by this device */
		} else if (action == VFIO_IRQ_SET_ACTION_TRIGGER &&
			   (data == VFIO_IRQ_SET_DATA_NONE || bools[i])) {
			if (*slot >= 0) {
				uint64_t one = 1;
				ssize_t n = write(*slot, &one, sizeof(one));
				(void)n;
			}
		}
		/* Masking is the client's (QEMU masks MSI-X vectors itself). */
	}
	return reply(dev, h, NULL, 0, NULL, 0, NULL, 0);
}

static void do_flr(struct nvmf_vu_dev *dev)
{
	vu_nvme_reset(dev);
	vu_pci_reset(&dev->pci, VU_BAR0_SIZE, VU_NR_VECTORS);
}

static int region_access(struct nvmf_vu_dev *dev, uint32_t region, uint64_t off, uint8_t *buf, uint32_t count,
			 bool write)
{
	switch (region) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		if (write) {
			if (vu_pci_cfg_write(&dev->pci, (uint32_t)off, buf, count))
				do_flr(dev);
		} else {
			vu_pci_cfg_read(&dev->pci, (uint32_t)off, buf, count);
		}
		return 0;
	case VFIO_PCI_BAR4_REGION_INDEX:
	case VFIO_PCI_BAR5_REGION_INDEX: {
		uint8_t *mem = region == VFIO_PCI_BAR4_REGION_INDEX ? dev->pci.bar4 : dev->pci.bar5;
		if (write)
			memcpy(mem + off, buf, count);
		else
			memcpy(buf, mem + off, count);
		return 0;
	}
	case VFIO_PCI_BAR0_REGION_INDEX:
		if (off >= VU_DOORBELL_OFF) {
			/* Doorbells by message (a client that did not mmap them): the same memory. */
			if (write)
				memcpy(dev->bar0 + off, buf, count);
			else
				memset(buf, 0, count);
			return 0;
		}
		if (off + count > VU_DOORBELL_OFF)
			return EINVAL;
		if (write)
			vu_nvme_reg_write(dev, (uint32_t)off, buf, count);
		else
			vu_nvme_reg_read(dev, (uint32_t)off, buf, count);
		return 0;
	default:
		return EINVAL;
	}
}

static int cmd_region_rw(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, uint8_t *p, size_t len,
			 bool write)
{
	struct vfio_user_region_access a;
	if (len < sizeof(a) || dev->rx.nfds)
		return reply_error(dev, h, EINVAL);
	memcpy(&a, p, sizeof(a));
	uint64_t size = a.region < VFIO_PCI_NUM_REGIONS ? region_size(a.region) : 0;
	if (a.count == 0 || a.count > VU_MAX_DATA_XFER || a.offset >= size || a.count > size - a.offset ||
	    len != sizeof(a) + (write ? a.count : 0))
		return reply_error(dev, h, EINVAL);
	if (write) {
		int err = region_access(dev, a.region, a.offset, p + sizeof(a), a.count, true);
		return err ? reply_error(dev, h, err) : reply(dev, h, &a, sizeof(a), NULL, 0, NULL, 0);
	}
	uint8_t *buf = malloc(a.count);
	if (!buf)
		return reply_error(dev, h, ENOMEM);
	int err = region_access(dev, a.region, a.offset, buf, a.count, false);
	int rc = err ? reply_error(dev, h, err) : reply(dev, h, &a, sizeof(a), buf, a.count, NULL, 0);
	free(buf);
	return rc;
}

static int cmd_reset(struct nvmf_vu_dev *dev, const struct vfio_user_header *h, size_t len)
{
	if (len || dev->rx.nfds)
		return reply_error(dev, h, EINVAL);
	do_flr(dev);
	return reply(dev, h, NULL, 0, NULL, 0, NULL, 0);
}

/* One whole message in dev->rx.  Returns 0, or a negative errno when the connection must end. */
static int handle_message(struct nvmf_vu_dev *dev)
{
	struct vfio_user_header h;
	memcpy(&h, dev->rx.buf, sizeof(h));
	uint8_t *p = dev->rx.buf + sizeof(h);
	size_t len = h.msg_size - sizeof(h);
	if ((h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND || (h.flags & VFIO_USER_F_ERROR) ||
	    dev->rx.too_many_fds)
		return reply_error(dev, &h, EINVAL);
	if (!dev->versioned && h.cmd != VFIO_USER_VERSION)
		return reply_error(dev, &h, EINVAL);
	switch (h.cmd) {
	case VFIO_USER_VERSION:
		return cmd_version(dev, &h, p, len);
	case VFIO_USER_DMA_MAP:
		return cmd_dma_map(dev, &h, p, len);
	case VFIO_USER_DMA_UNMAP:
		return cmd_dma_unmap(dev, &h, p, len);
	case VFIO_USER_DEVICE_GET_INFO:
		return cmd_device_info(dev, &h, p, len);
	case VFIO_USER_DEVICE_GET_REGION_INFO:
		return cmd_region_info(dev, &h, p, len);
	case VFIO_USER_DEVICE_GET_IRQ_INFO:
		return cmd_irq_info(dev, &h, p, len);
	case VFIO_USER_DEVICE_SET_IRQS:
		return cmd_set_irqs(dev, &h, p, len);
	case VFIO_USER_REGION_READ:
		return cmd_region_rw(dev, &h, p, len, false);
	case VFIO_USER_REGION_WRITE:
		return cmd_region_rw(dev, &h, p, len, true);
	case VFIO_USER_DEVICE_RESET:
		return cmd_reset(dev, &h, len);
	default:
		/* Region I/O fds, multi-writes, device features (migration): not offered. */
		return reply_error(dev, &h, ENOTSUP);
	}
}

/* ---- Life ---- */

static void dev_post(void *thread, void (*fn)(void *arg), void *arg)
{
	struct nvmf_vu_dev *dev = thread;
	dev->env.post(dev->env.thread, fn, arg);
}

static void dev_on_close(void *thread, struct nvmf_conn *conn)
{
	vu_nvme_conn_closed(thread, conn);
}

static bool socket_path_id(int fd, uint8_t id[16])
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return false;
	/* A stable host identity per socket path (FNV-1a, twice with different seeds). */
	uint64_t a = 1469598103934665603ull, b = 1099511628211ull * 7;
	for (size_t i = 0; i < sizeof(sa.sun_path) && sa.sun_path[i]; i++) {
		a = (a ^ (uint8_t)sa.sun_path[i]) * 1099511628211ull;
		b = (b ^ (uint8_t)sa.sun_path[i]) * 1099511628211ull + 1;
	}
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	return true;
}

struct nvmf_vu_dev *nvmf_vu_dev_create(struct nvmf_tgt *tgt, int fd, uint16_t portid,
				       const struct nvmf_conn_env *env, bool trapped_doorbells)
{
	vu_guard_install();
	struct nvmf_vu_dev *dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fd);
		return NULL;
	}
	dev->tgt = tgt;
	dev->portid = portid;
	dev->env = *env;
	dev->qenv = (struct nvmf_conn_env){.thread = dev, .post = dev_post, .on_close = dev_on_close, .io = env->io};
	dev->sock = fd;
	dev->bar0fd = memfd_create("nvmf-vfio-user-bar0", MFD_CLOEXEC);
	vu_ctrl_init(&dev->vc);
	dev->vc.trapped = trapped_doorbells;
	dev->vc.hooks = &vu_nvme_hooks;
	dev->vc.owner = dev;
	vu_pci_init(&dev->pci, VU_BAR0_SIZE, VU_NR_VECTORS);
	int e = ENOMEM;
	if (dev->bar0fd < 0 || ftruncate(dev->bar0fd, VU_BAR0_SIZE) < 0 ||
	    vu_rx_init(&dev->rx, VU_MAX_MSG) < 0)
		goto fail;
	void *bar = mmap(NULL, VU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dev->bar0fd, 0);
	if (bar == MAP_FAILED)
		goto fail;
	dev->bar0 = bar;
	dev->vc.doorbells = (volatile uint32_t *)(dev->bar0 + VU_DOORBELL_OFF);
	if (!socket_path_id(fd, dev->hostid))
		goto fail;
	int rc = vu_nvme_start(dev);
	if (rc < 0) {
		e = -rc;
		goto fail;
	}
	dev->last_work_ns = nvmf_clock_ns();
	return dev;
fail:
	nvmf_vu_dev_close(dev);
	nvmf_vu_dev_destroy(dev);
	errno = e;
	return NULL;
}

int nvmf_vu_dev_fd(const struct nvmf_vu_dev *dev)
{
	return dev->sock;
}

int nvmf_vu_dev_process(struct nvmf_vu_dev *dev)
{
	if (dev->ending) {
		vu_nvme_poll(dev); /* closes finish, puts happen */
		return 0;
	}
	int work = 0;
	for (int i = 0; i < VU_MSG_BUDGET; i++) {
		int rc = vu_rx_read(dev->sock, &dev->rx);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (rc == -EMSGSIZE || rc == -EBADMSG) {
				/* Cannot find the next message after this one: say so, then end. */
				reply_error(dev, vu_rx_hdr(&dev->rx), EINVAL);
			}
			nvmf_vu_dev_close(dev);
			return 1;
		}
		work++;
		rc = handle_message(dev);
		vu_rx_reset(&dev->rx);
		if (rc < 0) {
			nvmf_vu_dev_close(dev);
			return work;
		}
	}
	return work + nvmf_vu_dev_poll(dev);
}

int nvmf_vu_dev_poll(struct nvmf_vu_dev *dev)
{
	if (dev->ending) {
		vu_nvme_poll(dev);
		return 0;
	}
	int work = vu_nvme_poll(dev);
	work += vu_signal_irqs(&dev->vc);
	uint64_t now = nvmf_clock_ns();
	/* Interrupts held back by coalescing keep the device polled until they go. */
	if (work || vu_nvme_inflight(dev) || dev->vc.irqs_pending)
		dev->last_work_ns = now;
	bool idle = now - dev->last_work_ns > VU_SPIN_NS;
	/* Trapped doorbells: before sleeping, the guest's next submission must send a message.  An
	 * idle device polled again (a message) may have moved EventIdx: armed again then too. */
	if (idle && (!dev->idle || dev->vc.eventidx_followed) && dev->vc.trapped && !vu_arm_eventidx(&dev->vc)) {
		idle = false;
		dev->last_work_ns = now;
	}
	dev->idle = idle;
	return work;
}

bool nvmf_vu_dev_busy(const struct nvmf_vu_dev *dev)
{
	/* Entries posted from outside a poll (an event answered on a message) wait for their interrupt. */
	return dev->ending || !dev->idle || dev->vc.irqs_pending;
}

int nvmf_vu_dev_idle_poll_ms(const struct nvmf_vu_dev *dev, uint64_t now_ns)
{
	if (dev->vc.trapped)
		return -1;
	return now_ns - dev->last_work_ns > VU_DEEP_IDLE_NS ? VU_DEEP_IDLE_POLL_MS : VU_IDLE_POLL_MS;
}

void nvmf_vu_dev_close(struct nvmf_vu_dev *dev)
{
	if (dev->ending)
		return;
	dev->ending = true;
	vu_nvme_close_all(dev);
}

bool nvmf_vu_dev_done(const struct nvmf_vu_dev *dev)
{
	return dev->ending && dev->conns == NULL;
}

void nvmf_vu_dev_destroy(struct nvmf_vu_dev *dev)
{
	if (!dev)
		return;
	vu_nvme_poll(dev);
	for (unsigned i = 0; i < VU_NR_VECTORS; i++)
		set_fd(&dev->vc.msix_fd[i], -1);
	set_fd(&dev->vc.msi_fd, -1);
	set_fd(&dev->vc.intx_fd, -1);
	vu_dma_clear(&dev->vc.dma);
	if (dev->bar0)
		munmap(dev->bar0, VU_BAR0_SIZE);
	vu_rx_free(&dev->rx);
	if (dev->bar0fd >= 0)
		close(dev->bar0fd);
	if (dev->sock >= 0)
		close(dev->sock);
	free(dev);
}
