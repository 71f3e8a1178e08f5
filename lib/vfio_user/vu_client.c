/* A vfio-user client session: version, shared memory, BAR0 registers and doorbells, MSI-X eventfds. */
#include <errno.h>
#include <linux/memfd.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vu_host.h"
#include "vu_internal.h"
#include "vu_msg.h"

#define VU_CLIENT_TIMEOUT_MS 10000
#define VU_CLIENT_IOVA 0x100000000ull /* where the shared memory sits in the device's view */

struct vu_client {
	int sock;
	uint16_t next_id;
	struct vu_rx rx;
	int memfd;
	uint8_t *mem;
	size_t mem_len, mem_used;
	volatile uint32_t *doorbells; /* NULL: trapped, written by message */
	void *db_map;
	size_t db_len;
	/* Shadow doorbells and EventIdx entries (Doorbell Buffer Config), once set up. */
	volatile uint32_t *shadow, *eventidx;
	uint64_t shadow_iova, eventidx_iova;
	bool shadow_on; /* the device took them: I/O queues made from now on ring there */
	uint32_t class_code;
	/* One message and its reply at a time: queues on several threads ring trapped doorbells. */
	pthread_mutex_t lock;
};

/* Send a command and wait for its reply; the payload lands in rx.  0, or a negative errno (-EREMOTEIO: error reply, errno in *err_no). */
static int call(struct vu_client *c, uint16_t cmd, const void *p1, size_t l1, const void *p2, size_t l2, const int *fds,
		unsigned nfds, uint32_t *err_no)
{
	struct vfio_user_header h = {.msg_id = c->next_id++, .cmd = cmd, .flags = VFIO_USER_F_TYPE_COMMAND};
	int rc = vu_send(c->sock, &h, p1, l1, p2, l2, fds, nfds, VU_CLIENT_TIMEOUT_MS);
	if (rc < 0)
		return rc;
	vu_rx_reset(&c->rx);
	rc = vu_rx_read(c->sock, &c->rx);
	if (rc <= 0)
		return rc < 0 ? rc : -ETIMEDOUT;
	const struct vfio_user_header *r = vu_rx_hdr(&c->rx);
	if (r->msg_id != h.msg_id || r->cmd != cmd || (r->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY)
		return -EPROTO;
	if (r->flags & VFIO_USER_F_ERROR) {
		if (err_no)
			*err_no = r->error_no;
		return -EREMOTEIO;
	}
	return 0;
}

int vu_client_call(struct vu_client *c, uint16_t cmd, const void *p, size_t len, const int *fds, unsigned nfds,
		   void *reply_buf, size_t *reply_size, uint32_t *err_no)
{
	pthread_mutex_lock(&c->lock);
	int rc = call(c, cmd, p, len, NULL, 0, fds, nfds, err_no);
	if (rc == 0 && reply_buf && reply_size) {
		size_t n = vu_rx_hdr(&c->rx)->msg_size - sizeof(struct vfio_user_header);
		if (n > *reply_size)
			n = *reply_size;
		memcpy(reply_buf, c->rx.buf + sizeof(struct vfio_user_header), n);
		*reply_size = n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int vu_client_memfd(const struct vu_client *c)
{
	return c->memfd;
}

void vu_client_memory(const struct vu_client *c, uint64_t *iova, uint64_t *len)
{
	*iova = VU_CLIENT_IOVA;
	*len = c->mem_len;
}

static size_t reply_len(const struct vu_client *c)
{
	return vu_rx_hdr(&c->rx)->msg_size - sizeof(struct vfio_user_header);
}

static const uint8_t *reply_data(const struct vu_client *c)
{
	return c->rx.buf + sizeof(struct vfio_user_header);
}

static int region_rw(struct vu_client *c, uint32_t region, uint64_t off, void *buf, uint32_t len, bool write)
{
	struct vfio_user_region_access a = {.offset = off, .region = region, .count = len};
	pthread_mutex_lock(&c->lock);
	int rc = call(c, write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, &a, sizeof(a), write ? buf : NULL,
		      write ? len : 0, NULL, 0, NULL);
	if (rc == 0 && !write) {
		if (reply_len(c) != sizeof(a) + len)
			rc = -EPROTO;
		else
			memcpy(buf, reply_data(c) + sizeof(a), len);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int vu_client_reg_read(struct vu_client *c, uint32_t off, unsigned len, uint64_t *v)
{
	*v = 0;
	return region_rw(c, VFIO_PCI_BAR0_REGION_INDEX, off, v, len, false);
}

int vu_client_reg_write(struct vu_client *c, uint32_t off, unsigned len, uint64_t v)
{
	return region_rw(c, VFIO_PCI_BAR0_REGION_INDEX, off, &v, len, true);
}

void *vu_client_alloc(struct vu_client *c, size_t len, uint64_t *iova)
{
	len = (len + VU_PAGE - 1) & ~(size_t)(VU_PAGE - 1);
	if (len > c->mem_len - c->mem_used)
		return NULL;
	void *p = c->mem + c->mem_used;
	*iova = VU_CLIENT_IOVA + c->mem_used;
	c->mem_used += len;
	return p;
}

bool vu_client_iova_of(const struct vu_client *c, const void *p, size_t len, uint64_t *iova)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)c->mem;
	if (!c->mem || a < base || a - base > c->mem_len || len > c->mem_len - (a - base))
		return false;
	*iova = VU_CLIENT_IOVA + (a - base);
	return true;
}

int vu_client_set_msix(struct vu_client *c, unsigned vector, int efd)
{
	struct vfio_user_irq_set s = {.argsz = sizeof(s),
				      .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				      .index = VFIO_PCI_MSIX_IRQ_INDEX,
				      .start = vector,
				      .count = 1};
	pthread_mutex_lock(&c->lock);
	int rc = call(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), NULL, 0, efd >= 0 ? &efd : NULL, efd >= 0, NULL);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int vu_client_ring(struct vu_client *c, unsigned i, uint32_t value)
{
	if (c->doorbells) {
		__atomic_store_n(&c->doorbells[i], value, __ATOMIC_RELEASE);
		return 0;
	}
	/* A posted write (no reply): the queue does not wait a round trip for the device. */
	struct vfio_user_region_access a = {.offset = VU_DOORBELL_OFF + 4ull * i, .region = VFIO_PCI_BAR0_REGION_INDEX,
					     .count = 4};
	pthread_mutex_lock(&c->lock);
	struct vfio_user_header h = {.msg_id = c->next_id++, .cmd = VFIO_USER_REGION_WRITE,
				     .flags = VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY};
	int rc = vu_send(c->sock, &h, &a, sizeof(a), &value, 4, NULL, 0, VU_CLIENT_TIMEOUT_MS);
	pthread_mutex_unlock(&c->lock);
	return rc < 0 ? rc : 0;
}

int vu_client_shadow_buffers(struct vu_client *c, uint64_t *shadow_iova, uint64_t *eventidx_iova)
{
	if (!c->shadow) {
		uint64_t a, b;
		void *s = vu_client_alloc(c, VU_PAGE, &a), *e = vu_client_alloc(c, VU_PAGE, &b);
		if (!s || !e)
			return -ENOMEM;
		c->shadow = s;
		c->eventidx = e;
		c->shadow_iova = a;
		c->eventidx_iova = b;
	}
	/* A controller reset forgets queues: every doorbell starts again at 0. */
	for (unsigned i = 0; i < VU_PAGE / 4; i++)
		c->shadow[i] = c->eventidx[i] = 0;
	*shadow_iova = c->shadow_iova;
	*eventidx_iova = c->eventidx_iova;
	return 0;
}

void vu_client_use_shadow(struct vu_client *c, bool on)
{
	c->shadow_on = on;
}

bool vu_client_shadow(const struct vu_client *c, volatile uint32_t **shadow, volatile uint32_t **eventidx)
{
	*shadow = c->shadow_on ? c->shadow : NULL;
	*eventidx = c->shadow_on ? c->eventidx : NULL;
	return c->shadow_on;
}

uint32_t vu_client_class(const struct vu_client *c)
{
	return c->class_code;
}

static int fail(struct vu_client *c, int rc, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "vfio-user: %s: %s", what, strerror(-rc));
	vu_client_close(c);
	return rc;
}

/* The doorbell page of BAR0, mmapped as its sparse area says; none offered: trapped doorbells. */
static int map_doorbells(struct vu_client *c)
{
	struct vfio_user_region_info ri = {.argsz = 256, .index = VFIO_PCI_BAR0_REGION_INDEX};
	int rc = call(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0, NULL, 0, NULL);
	if (rc < 0)
		return rc;
	size_t len = reply_len(c);
	if (len < sizeof(ri))
		return -EPROTO;
	memcpy(&ri, reply_data(c), sizeof(ri));
	if (ri.size < VU_DOORBELL_OFF + VU_PAGE)
		return -ENOTSUP;
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || c->rx.nfds != 1)
		return 0; /* trapped: doorbells go by message */
	uint64_t area_off = VU_DOORBELL_OFF, area_len = VU_PAGE;
	if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.cap_offset >= sizeof(ri) &&
	    ri.cap_offset + sizeof(struct vfio_region_info_cap_sparse_mmap) + sizeof(struct vfio_region_sparse_mmap_area) <= len) {
		struct vfio_region_info_cap_sparse_mmap cap;
		struct vfio_region_sparse_mmap_area area;
		memcpy(&cap, reply_data(c) + ri.cap_offset, sizeof(cap));
		memcpy(&area, reply_data(c) + ri.cap_offset + sizeof(cap), sizeof(area));
		if (cap.header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && cap.nr_areas >= 1) {
			area_off = area.offset;
			area_len = area.size;
		}
	}
	if (area_off > VU_DOORBELL_OFF || area_off + area_len < VU_DOORBELL_OFF + VU_PAGE)
		return -ENOTSUP;
	void *m = mmap(NULL, area_len, PROT_READ | PROT_WRITE, MAP_SHARED, c->rx.fds[0], (off_t)(ri.offset + area_off));
	if (m == MAP_FAILED)
		return -errno;
	c->db_map = m;
	c->db_len = area_len;
	c->doorbells = (volatile uint32_t *)((uint8_t *)m + (VU_DOORBELL_OFF - area_off));
	return 0;
}

/*
 * The memory the device may reach, in c->memfd: on 2 MiB huge pages where the
 * system has them free, so that the device's copies to and from it miss the
 * TLB less (SPDK's initiator shares huge pages too); else on 4 KiB pages.
 * Returns the mapping (c->mem_len set) or NULL with errno.
 */
static void *share_memory(struct vu_client *c, size_t bytes)
{
	const size_t huge = 2u << 20;
	c->memfd = memfd_create("nvmf-vfio-user-host", MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
	if (c->memfd >= 0) {
		c->mem_len = (bytes + huge - 1) & ~(huge - 1);
		void *m = MAP_FAILED;
		if (ftruncate(c->memfd, (off_t)c->mem_len) == 0)
			m = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, c->memfd, 0);
		if (m != MAP_FAILED)
			return m;
		close(c->memfd);
	}
	c->memfd = memfd_create("nvmf-vfio-user-host", MFD_CLOEXEC);
	c->mem_len = (bytes + VU_PAGE - 1) & ~(size_t)(VU_PAGE - 1);
	if (c->memfd < 0 || ftruncate(c->memfd, (off_t)c->mem_len) < 0)
		return NULL;
	void *m = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	return m == MAP_FAILED ? NULL : m;
}

int vu_client_open(const char *path, size_t mem_bytes, struct vu_client **out, char *err, size_t errlen)
{
	*out = NULL;
	struct vu_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = c->memfd = -1;
	pthread_mutex_init(&c->lock, NULL);
	if (vu_rx_init(&c->rx, 64 * 1024) < 0)
		return fail(c, -ENOMEM, err, errlen, "memory");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(c, -ENAMETOOLONG, err, errlen, path);
	strcpy(sa.sun_path, path);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail(c, -errno, err, errlen, path);
	struct timeval tv = {.tv_sec = VU_CLIENT_TIMEOUT_MS / 1000};
	setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	struct vfio_user_version v = {.major = VFIO_USER_MAJOR, .minor = VFIO_USER_MINOR};
	static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,\"pgsizes\":4096}}";
	int rc = call(c, VFIO_USER_VERSION, &v, sizeof(v), caps, sizeof(caps), NULL, 0, NULL);
	if (rc < 0)
		return fail(c, rc, err, errlen, "version negotiation");
	if (reply_len(c) < sizeof(v))
		return fail(c, -EPROTO, err, errlen, "version reply");
	memcpy(&v, reply_data(c), sizeof(v));
	if (v.major != VFIO_USER_MAJOR)
		return fail(c, -EPROTO, err, errlen, "version major");

	struct vfio_user_device_info di = {.argsz = sizeof(di)};
	rc = call(c, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0, NULL, 0, NULL);
	if (rc < 0 || reply_len(c) < sizeof(di))
		return fail(c, rc < 0 ? rc : -EPROTO, err, errlen, "device info");
	memcpy(&di, reply_data(c), sizeof(di));
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return fail(c, -ENOTSUP, err, errlen, "not a PCI device");
	uint8_t cls[4];
	if ((rc = region_rw(c, VFIO_PCI_CONFIG_REGION_INDEX, 8, cls, 4, false)) < 0)
		return fail(c, rc, err, errlen, "config space");
	c->class_code = (uint32_t)cls[3] << 16 | (uint32_t)cls[2] << 8 | cls[1];
	if ((rc = map_doorbells(c)) < 0)
		return fail(c, rc, err, errlen, "BAR0 doorbells");

	void *m = share_memory(c, mem_bytes);
	if (!m)
		return fail(c, -errno, err, errlen, "memory");
	c->mem = m;
	struct vfio_user_dma_map dm = {.argsz = sizeof(dm),
				       .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
				       .offset = 0,
				       .addr = VU_CLIENT_IOVA,
				       .size = c->mem_len};
	if ((rc = call(c, VFIO_USER_DMA_MAP, &dm, sizeof(dm), NULL, 0, &c->memfd, 1, NULL)) < 0)
		return fail(c, rc, err, errlen, "DMA map");
	*out = c;
	return 0;
}

volatile uint32_t *vu_client_doorbells(struct vu_client *c)
{
	return c->doorbells;
}

void vu_client_close(struct vu_client *c)
{
	if (!c)
		return;
	if (c->db_map)
		munmap(c->db_map, c->db_len);
	if (c->mem)
		munmap(c->mem, c->mem_len);
	if (c->memfd >= 0)
		close(c->memfd);
	if (c->sock >= 0)
		close(c->sock);
	vu_rx_free(&c->rx);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
