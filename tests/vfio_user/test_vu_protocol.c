/*
 * The vfio-user server against raw clients: the messages of the
 * specification and their error replies, and bad input of every kind
 * (malformed, oversized, truncated, wrong descriptors, bad DMA maps, a
 * client gone mid-message).  nvmfd must answer as the specification says
 * and keep serving everyone else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nvmf/host.h>
#include <nvmf/vfio_user_spec.h>

#include "vfio_user/vu_msg.h"
#include "vu_test.h"

static struct vu_target tgt;
static struct vu_rx rx;
static uint16_t msg_id;

static int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct timeval tv = {.tv_sec = 20};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send a command and read the reply.  Returns 0 (success reply), the errno of an error reply, or -1. */
static int call(int fd, uint16_t cmd, const void *p, size_t len, const int *fds, unsigned nfds)
{
	struct vfio_user_header h = {.msg_id = ++msg_id, .cmd = cmd};
	if (vu_send(fd, &h, p, len, NULL, 0, fds, nfds, 5000) < 0)
		return -1;
	vu_rx_reset(&rx);
	if (vu_rx_read(fd, &rx) != 1)
		return -1;
	const struct vfio_user_header *r = vu_rx_hdr(&rx);
	if (r->msg_id != h.msg_id || r->cmd != cmd || (r->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY)
		return -1;
	return (r->flags & VFIO_USER_F_ERROR) ? (int)r->error_no : 0;
}

static const uint8_t *payload(size_t *len)
{
	*len = vu_rx_hdr(&rx)->msg_size - sizeof(struct vfio_user_header);
	return rx.buf + sizeof(struct vfio_user_header);
}

static int version(int fd, uint16_t major, const char *json)
{
	uint8_t buf[512];
	struct vfio_user_version v = {.major = major, .minor = 1};
	memcpy(buf, &v, sizeof(v));
	size_t n = sizeof(v);
	if (json) {
		memcpy(buf + n, json, strlen(json) + 1);
		n += strlen(json) + 1;
	}
	return call(fd, VFIO_USER_VERSION, buf, n, NULL, 0);
}

static int open_session(void)
{
	int fd = dial(tgt.sock);
	if (fd >= 0 && version(fd, 0, "{\"capabilities\":{\"max_msg_fds\":8,\"pgsizes\":4096}}") != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The connection was closed by the server. */
static bool closed_by_server(int fd)
{
	char b;
	return recv(fd, &b, 1, 0) == 0;
}

static int region_read(int fd, uint32_t region, uint64_t off, void *buf, uint32_t count)
{
	struct vfio_user_region_access a = {.offset = off, .region = region, .count = count};
	int rc = call(fd, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0);
	size_t len;
	const uint8_t *p = payload(&len);
	if (rc == 0 && len == sizeof(a) + count)
		memcpy(buf, p + sizeof(a), count);
	else if (rc == 0)
		rc = -1;
	return rc;
}

static void test_version(void)
{
	int fd = dial(tgt.sock);
	CHECK(fd >= 0, "connect to the vfio-user socket");
	struct vfio_user_device_info di = {.argsz = sizeof(di)};
	CHECK(call(fd, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0) == EINVAL,
	      "a command before VERSION: EINVAL");
	CHECK(version(fd, 1, NULL) == ENOTSUP, "major version 1: ENOTSUP");
	CHECK(version(fd, 0, "{\"capabilities\":") == EINVAL, "malformed JSON: EINVAL");
	uint8_t nonul[8] = {0, 0, 1, 0, '{', '}', 'x', 'y'};
	CHECK(call(fd, VFIO_USER_VERSION, nonul, sizeof(nonul), NULL, 0) == EINVAL, "version data without NUL: EINVAL");
	CHECK(version(fd, 0, "{\"capabilities\":{\"pgsizes\":8192}}") == EINVAL, "no 4 KiB pages: EINVAL");
	int rc = version(fd, 0, "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,\"migration\":{\"pgsize\":4096}}}");
	size_t len;
	const uint8_t *p = payload(&len);
	struct vfio_user_version v = {0};
	if (len >= sizeof(v))
		memcpy(&v, p, sizeof(v));
	const char *json = len > sizeof(v) ? (const char *)p + sizeof(v) : "";
	CHECK(rc == 0 && v.major == 0 && v.minor == 1, "version 0.1 negotiated");
	CHECK(strstr(json, "\"max_msg_fds\"") && strstr(json, "\"max_data_xfer_size\"") && !strstr(json, "migration"),
	      "capabilities: max_msg_fds and max_data_xfer_size, migration absent (%s)", json);
	CHECK(version(fd, 0, NULL) == EINVAL, "a second VERSION: EINVAL");
	close(fd);
}

static void test_device(void)
{
	int fd = open_session();
	CHECK(fd >= 0, "session");
	struct vfio_user_device_info di = {.argsz = sizeof(di)};
	int rc = call(fd, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0);
	size_t len;
	const uint8_t *p = payload(&len);
	if (rc == 0 && len == sizeof(di))
		memcpy(&di, p, sizeof(di));
	CHECK(rc == 0 && di.flags == (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET) && di.num_regions == 9 &&
		      di.num_irqs == 5,
	      "device info: PCI, reset, 9 regions, 5 interrupt types");
	/* BAR0 region info: first too small for the capability, then whole. */
	struct vfio_user_region_info ri = {.argsz = sizeof(ri), .index = 0};
	rc = call(fd, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0);
	p = payload(&len);
	memcpy(&ri, p, sizeof(ri));
	CHECK(rc == 0 && len == sizeof(ri) && ri.argsz > sizeof(ri) && rx.nfds == 0 && ri.size == 0x4000,
	      "BAR0 info with a small argsz: the size needed (%u), no descriptor", ri.argsz);
	ri = (struct vfio_user_region_info){.argsz = 512, .index = 0};
	rc = call(fd, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0);
	p = payload(&len);
	memcpy(&ri, p, sizeof(ri));
	struct vfio_region_info_cap_sparse_mmap cap = {0};
	struct vfio_region_sparse_mmap_area area = {0};
	if (rc == 0 && ri.cap_offset + sizeof(cap) + sizeof(area) <= len) {
		memcpy(&cap, p + ri.cap_offset, sizeof(cap));
		memcpy(&area, p + ri.cap_offset + sizeof(cap), sizeof(area));
	}
	CHECK(rc == 0 && (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) && (ri.flags & VFIO_REGION_INFO_FLAG_CAPS) &&
		      rx.nfds == 1 && cap.header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && cap.nr_areas == 1 &&
		      area.offset == 0x1000 && area.size == 0x1000,
	      "BAR0: doorbells at 0x1000 mmappable (sparse area), with a descriptor");
	if (rx.nfds == 1) {
		void *m = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, rx.fds[0], (off_t)(ri.offset + 0x1000));
		CHECK(m != MAP_FAILED, "the doorbell page maps");
		if (m != MAP_FAILED)
			munmap(m, 0x1000);
	}
	ri = (struct vfio_user_region_info){.argsz = sizeof(ri), .index = 7};
	rc = call(fd, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0);
	memcpy(&ri, payload(&len), sizeof(ri));
	CHECK(rc == 0 && ri.size == 4096 && !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP), "config space: 4 KiB, by message");
	ri = (struct vfio_user_region_info){.argsz = sizeof(ri), .index = 9};
	CHECK(call(fd, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0) == EINVAL, "region 9: EINVAL");
	ri.argsz = 8;
	ri.index = 0;
	CHECK(call(fd, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0) == EINVAL, "argsz below the structure: EINVAL");

	/* Config space: NVMe class code and the capability chain. */
	uint8_t cfg[256];
	CHECK(region_read(fd, 7, 0, cfg, sizeof(cfg)) == 0, "read config space");
	CHECK(cfg[0x09] == 0x02 && cfg[0x0a] == 0x08 && cfg[0x0b] == 0x01, "class code 010802");
	bool pm = false, msix = false, pcie_flr = false, msi = false;
	unsigned msi_at = 0;
	for (unsigned c = cfg[0x34], n = 0; c && c < 0xff && n < 16; c = cfg[c + 1], n++) {
		pm |= cfg[c] == 0x01;
		if (cfg[c] == 0x05) {
			msi = (cfg[c + 2] | cfg[c + 3] << 8) == 0x0080; /* 64-bit, one message, off */
			msi_at = c;
		}
		if (cfg[c] == 0x11)
			msix = (cfg[c + 2] | cfg[c + 3] << 8) + 1 == 65 && (cfg[c + 4] & 7) == 4 && (cfg[c + 8] & 7) == 5;
		if (cfg[c] == 0x10)
			pcie_flr = cfg[c + 7] & 0x10;
	}
	CHECK(pm && msix && pcie_flr, "capabilities: power management, MSI-X (65 vectors, BAR4/BAR5), PCIe with FLR");
	CHECK(msi, "capability: MSI, 64-bit, one message");
	if (msi_at) {
		/* The guest sets address and data and turns MSI on; Multiple Message Enable stays 0 (one message). */
		struct vfio_user_region_access ma = {.offset = msi_at + 2, .region = 7, .count = 14};
		uint8_t mw[sizeof(ma) + 14] = {0}, got[14];
		memcpy(mw, &ma, sizeof(ma));
		uint8_t vals[14] = {0x71, 0x00, 0x07, 0x10, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x41, 0x40, 0, 0};
		memcpy(mw + sizeof(ma), vals, sizeof(vals));
		rc = call(fd, VFIO_USER_REGION_WRITE, mw, sizeof(mw), NULL, 0);
		CHECK(rc == 0 && region_read(fd, 7, msi_at + 2, got, sizeof(got)) == 0 && got[0] == 0x81 && got[1] == 0 &&
			      got[2] == 0x04 && got[3] == 0x10 && got[4] == 0xe0 && got[5] == 0xfe && got[10] == 0x41 &&
			      got[11] == 0x40,
		      "MSI: enable, address (dword aligned) and data are writable, the message count is not");
		vals[0] = 0x00;
		memcpy(mw + sizeof(ma), vals, 1);
		ma.count = 1;
		memcpy(mw, &ma, sizeof(ma));
		call(fd, VFIO_USER_REGION_WRITE, mw, sizeof(ma) + 1, NULL, 0);
	}
	/* A BAR sizes as PCI says: all ones written, the size mask read back. */
	uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff}, bar[4];
	struct vfio_user_region_access wa = {.offset = 0x20, .region = 7, .count = 4};
	uint8_t w[sizeof(wa) + 4];
	memcpy(w, &wa, sizeof(wa));
	memcpy(w + sizeof(wa), ones, 4);
	rc = call(fd, VFIO_USER_REGION_WRITE, w, sizeof(w), NULL, 0);
	CHECK(rc == 0 && region_read(fd, 7, 0x20, bar, 4) == 0 && bar[0] == 0 && bar[1] == 0xf0 && bar[2] == 0xff,
	      "BAR4 sizing reads back 4 KiB (rc %d, %02x %02x %02x %02x)", rc, bar[0], bar[1], bar[2], bar[3]);
	/* Read-only config bytes stay. */
	wa.offset = 0x08;
	memcpy(w, &wa, sizeof(wa));
	call(fd, VFIO_USER_REGION_WRITE, w, sizeof(w), NULL, 0);
	CHECK(region_read(fd, 7, 0, cfg, 16) == 0 && cfg[0x0b] == 0x01 && cfg[0x09] == 0x02, "class code is read-only");

	/* Interrupts. */
	struct vfio_user_irq_info ii = {.argsz = sizeof(ii), .index = 2};
	rc = call(fd, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0);
	memcpy(&ii, payload(&len), sizeof(ii));
	CHECK(rc == 0 && ii.count == 65 && (ii.flags & VFIO_IRQ_INFO_EVENTFD), "MSI-X: 65 vectors by eventfd");
	ii = (struct vfio_user_irq_info){.argsz = sizeof(ii), .index = 0};
	rc = call(fd, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0);
	memcpy(&ii, payload(&len), sizeof(ii));
	CHECK(rc == 0 && ii.count == 1 && (ii.flags & VFIO_IRQ_INFO_MASKABLE), "INTx: one, maskable");
	ii.index = 5;
	CHECK(call(fd, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0) == EINVAL, "interrupt type 5: EINVAL");
	int efd[3] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
	struct vfio_user_irq_set is = {.argsz = sizeof(is), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				       .index = 2, .start = 0, .count = 2};
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), efd, 2) == 0, "MSI-X vectors 0-1 get eventfds");
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), efd, 3) == EINVAL, "three eventfds for two vectors: EINVAL");
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), efd, 1) == EINVAL, "one eventfd for two vectors: EINVAL");
	is.argsz = sizeof(is) + 4;
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), efd, 2) == EINVAL, "argsz other than the message: EINVAL");
	is.argsz = sizeof(is);
	is.start = 64;
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), efd, 2) == EINVAL, "vectors past the last: EINVAL");
	is = (struct vfio_user_irq_set){.argsz = sizeof(is), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					.index = 2, .start = 1, .count = 1};
	uint64_t v = 0;
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), NULL, 0) == 0 && read(efd[1], &v, 8) == 8 && v == 1,
	      "a trigger by message signals the vector's eventfd");
	is.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), NULL, 0) == EINVAL, "two data types at once: EINVAL");
	is = (struct vfio_user_irq_set){.argsz = sizeof(is), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					.index = 2};
	CHECK(call(fd, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is), NULL, 0) == 0, "start 0 count 0: every vector off");
	for (int i = 0; i < 3; i++)
		close(efd[i]);
	close(fd);
}

static void test_dma(void)
{
	int fd = open_session();
	int mfd = memfd_create("t", MFD_CLOEXEC);
	if (ftruncate(mfd, 1 << 20) < 0)
		CHECK(0, "memfd");
	struct vfio_user_dma_map m = {.argsz = sizeof(m), .flags = 3, .offset = 0, .addr = 0x100000, .size = 0x10000};
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == 0, "DMA map 64 KiB with its descriptor");
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EEXIST, "the same region again: EEXIST");
	m.addr = 0x108000;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EEXIST, "an overlapping region: EEXIST");
	m.addr = 0x200800;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EINVAL, "an unaligned address: EINVAL");
	m.addr = 0x200000;
	m.size = 0;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EINVAL, "zero length: EINVAL");
	m.size = 0x1000;
	m.offset = 0x800;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EINVAL, "an unaligned file offset: EINVAL");
	m.offset = 0;
	int two[2] = {mfd, mfd};
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), two, 2) == EINVAL, "two descriptors for one region: EINVAL");
	m.addr = ~0ull - 0xfff;
	m.size = 0x2000;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == EINVAL, "a region wrapping the address space: EINVAL");
	m = (struct vfio_user_dma_map){.argsz = sizeof(m), .flags = 3, .addr = 0x300000, .size = 0x1000};
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, 16, &mfd, 1) == EINVAL, "a truncated DMA map: EINVAL");
	m.size = 64ull << 30;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) != 0, "a region past the end of its file: refused");
	struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .addr = 0x100000, .size = 0x8000};
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0) == ENOENT, "unmap part of a region: ENOENT");
	u.size = 0x10000;
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), two, 2) == EINVAL, "an unmap with two descriptors: EINVAL");
	/* SPDK's initiator sends the region's descriptor with its unmap. */
	int rc = call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), &mfd, 1);
	size_t len;
	struct vfio_user_dma_unmap back = {0};
	memcpy(&back, payload(&len), sizeof(back));
	CHECK(rc == 0 && len == sizeof(u) && back.addr == u.addr && back.size == u.size, "an unmap with the region's descriptor (as SPDK sends it) answers with the entry");
	u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0) == ENOTSUP, "dirty page tracking: ENOTSUP");
	u = (struct vfio_user_dma_unmap){.argsz = sizeof(u), .flags = VFIO_DMA_UNMAP_FLAG_ALL};
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0) == 0, "unmap all");
	/* A client cannot spend the process's mappings: 64 regions per device. */
	int mapped = 0;
	for (int i = 0; i < 64; i++) {
		m = (struct vfio_user_dma_map){.argsz = sizeof(m), .flags = 3, .offset = 0, .addr = 0x100000 + 0x2000ull * i, .size = 0x1000};
		mapped += call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == 0;
	}
	CHECK(mapped == 64, "64 regions mapped");
	m.addr += 0x2000;
	CHECK(call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == ENOSPC, "the 65th region: ENOSPC");
	u = (struct vfio_user_dma_unmap){.argsz = sizeof(u), .addr = 0x100000, .size = 0x1000};
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0) == 0 &&
		      call(fd, VFIO_USER_DMA_MAP, &m, sizeof(m), &mfd, 1) == 0,
	      "after one is unmapped, a region can be mapped again");
	u = (struct vfio_user_dma_unmap){.argsz = sizeof(u), .flags = VFIO_DMA_UNMAP_FLAG_ALL};
	CHECK(call(fd, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0) == 0, "unmap all 64");
	close(mfd);
	close(fd);
}

static void test_malformed(void)
{
	int fd = open_session();
	struct vfio_user_region_access a = {.offset = 0, .region = 7, .count = 4};
	CHECK(call(fd, VFIO_USER_REGION_READ, &a, 8, NULL, 0) == EINVAL, "a truncated region read: EINVAL");
	a.offset = 4094;
	CHECK(call(fd, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0) == EINVAL, "a read across the region's end: EINVAL");
	a = (struct vfio_user_region_access){.offset = 0, .region = 7, .count = 0};
	CHECK(call(fd, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0) == EINVAL, "a zero-length read: EINVAL");
	a = (struct vfio_user_region_access){.offset = 0, .region = 1, .count = 4};
	CHECK(call(fd, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0) == EINVAL, "a read of an absent BAR: EINVAL");
	a = (struct vfio_user_region_access){.offset = 0, .region = 7, .count = 8};
	uint8_t w[sizeof(a) + 4];
	memcpy(w, &a, sizeof(a));
	CHECK(call(fd, VFIO_USER_REGION_WRITE, w, sizeof(w), NULL, 0) == EINVAL, "a write shorter than its count: EINVAL");
	a.count = 2u << 20;
	CHECK(call(fd, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0) == EINVAL, "a read above max_data_xfer_size: EINVAL");
	int efd = eventfd(0, EFD_CLOEXEC);
	struct vfio_user_device_info di = {.argsz = sizeof(di)};
	CHECK(call(fd, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), &efd, 1) == EINVAL, "a descriptor nobody asked for: EINVAL");
	int many[VU_MAX_FDS + 1];
	for (int i = 0; i <= VU_MAX_FDS; i++)
		many[i] = efd;
	struct vfio_user_header h = {.msg_id = 77, .cmd = VFIO_USER_DEVICE_GET_INFO};
	struct msghdr mh = {0};
	(void)mh;
	/* More descriptors than max_msg_fds: sent by hand (vu_send refuses them). */
	{
		char cbuf[CMSG_SPACE(sizeof(int) * (VU_MAX_FDS + 1))];
		h.msg_size = sizeof(h) + sizeof(di);
		struct iovec iov[2] = {{&h, sizeof(h)}, {&di, sizeof(di)}};
		struct msghdr m2 = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m2);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (VU_MAX_FDS + 1));
		memcpy(CMSG_DATA(c), many, sizeof(many));
		bool sent = sendmsg(fd, &m2, 0) == (ssize_t)h.msg_size;
		vu_rx_reset(&rx);
		bool got = vu_rx_read(fd, &rx) == 1;
		CHECK(sent && got && (vu_rx_hdr(&rx)->flags & VFIO_USER_F_ERROR) && vu_rx_hdr(&rx)->error_no == EINVAL,
		      "more descriptors than max_msg_fds: EINVAL");
	}
	close(efd);
	CHECK(call(fd, 99, NULL, 0, NULL, 0) == ENOTSUP, "an unknown command: ENOTSUP");
	CHECK(call(fd, VFIO_USER_DEVICE_FEATURE, "\x08\0\0\0\0\0\0\0", 8, NULL, 0) == ENOTSUP,
	      "device features (migration): ENOTSUP");
	/* A reply where a command belongs. */
	h = (struct vfio_user_header){.msg_id = 5, .cmd = VFIO_USER_DEVICE_GET_INFO, .flags = VFIO_USER_F_TYPE_REPLY};
	vu_send(fd, &h, &di, sizeof(di), NULL, 0, NULL, 0, 1000);
	vu_rx_reset(&rx);
	CHECK(vu_rx_read(fd, &rx) == 1 && vu_rx_hdr(&rx)->error_no == EINVAL, "a reply sent as a command: EINVAL");
	/* no_reply: nothing comes back, the next command is answered. */
	h = (struct vfio_user_header){.msg_id = 6, .cmd = VFIO_USER_DEVICE_GET_INFO, .flags = VFIO_USER_F_NO_REPLY};
	vu_send(fd, &h, &di, sizeof(di), NULL, 0, NULL, 0, 1000);
	CHECK(call(fd, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0) == 0 && vu_rx_hdr(&rx)->msg_id == msg_id,
	      "no_reply is honoured");
	/* Oversized: the error reply, then the end (the next message cannot be found). */
	h = (struct vfio_user_header){.msg_id = 7, .cmd = VFIO_USER_REGION_WRITE, .msg_size = 64u << 20};
	bool sent = send(fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h);
	vu_rx_reset(&rx);
	CHECK(sent && vu_rx_read(fd, &rx) == 1 && vu_rx_hdr(&rx)->msg_id == 7 && vu_rx_hdr(&rx)->error_no == EINVAL,
	      "a 64 MiB message: EINVAL");
	CHECK(closed_by_server(fd), "... and the connection ends");
	close(fd);
	fd = open_session();
	h = (struct vfio_user_header){.msg_id = 8, .cmd = VFIO_USER_DEVICE_GET_INFO, .msg_size = 8};
	sent = send(fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h);
	vu_rx_reset(&rx);
	CHECK(sent && vu_rx_read(fd, &rx) == 1 && vu_rx_hdr(&rx)->error_no == EINVAL, "a size below the header: EINVAL");
	CHECK(closed_by_server(fd), "... and the connection ends");
	close(fd);
	/* Truncated: half a message, then gone. */
	fd = open_session();
	h = (struct vfio_user_header){.msg_id = 9, .cmd = VFIO_USER_REGION_WRITE, .msg_size = 200};
	sent = send(fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h) && send(fd, "abcd", 4, MSG_NOSIGNAL) == 4;
	close(fd);
	CHECK(sent, "half a message, then the client goes");
	/* Garbage right after connecting. */
	fd = dial(tgt.sock);
	char junk[64];
	memset(junk, 0xa5, sizeof(junk));
	if (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
		CHECK(0, "send");
	char b[256];
	while (recv(fd, b, sizeof(b), 0) > 0)
		;
	CHECK(true, "random bytes: the server answers or ends, and does not hang");
	close(fd);
}

/* Everything still works for a well-behaved host, over vfio-user and over TCP. */
static void check_alive(const char *when)
{
	CHECK(vu_target_alive(&tgt), "nvmfd runs %s", when);
	for (int k = 0; k < 2; k++) {
		struct nvmf_host_addr addr = {0};
		char err[512], uri[400];
		if (k == 0)
			snprintf(uri, sizeof(uri), "vfio-user:%s", tgt.sock2);
		else
			snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d/%s", tgt.tcp_port, VU_TEST_NQN);
		nvmf_host_parse_address(uri, &addr, err, sizeof(err));
		struct nvmf_host_opts o;
		nvmf_host_opts_default(&o);
		o.kato_ms = 0;
		o.io_buffer_bytes = 16384;
		struct nvmf_host_ctrl *c = NULL;
		int rc = nvmf_host_connect(&addr, &o, &c, err, sizeof(err));
		static uint8_t out[4096], in[4096];
		memset(out, k + 1, sizeof(out));
		if (rc == 0)
			rc = nvmf_host_write_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 64, 8, out, sizeof(out), NULL);
		if (rc == 0)
			rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 64, 8, in, sizeof(in), NULL);
		CHECK(rc == 0 && memcmp(in, out, sizeof(in)) == 0, "a %s host writes and reads %s (%s)",
		      k ? "TCP" : "vfio-user", when, rc ? err : "");
		/* Buffers in the memory shared with the device: the data moves without a bounce copy. */
		uint8_t *sa = c ? nvmf_host_io_buffer(c, 8192) : NULL, *sb = c ? nvmf_host_io_buffer(c, 8192) : NULL;
		if (k == 1) {
			CHECK(!sa && !sb, "a TCP host has no shared I/O buffers");
		} else if (sa && sb && ((uintptr_t)sa & 4095) == 0 && ((uintptr_t)sb & 4095) == 0) {
			memset(sa, 0x5c, 8192);
			memset(sb, 0, 8192);
			rc = nvmf_host_write_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 128, 16, sa, 8192, NULL);
			if (rc == 0)
				rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 128, 16, sb, 8192, NULL);
			static uint8_t bounced[8192];
			if (rc == 0)
				rc = nvmf_host_read_sync(nvmf_host_ctrl_io_qpair(c, 0), 1, 128, 16, bounced, 8192, NULL);
			CHECK(rc == 0 && memcmp(sa, sb, 8192) == 0 && memcmp(sa, bounced, 8192) == 0,
			      "a vfio-user host writes from and reads into shared buffers %s", when);
		} else {
			CHECK(0, "a vfio-user host gets two page-aligned shared buffers");
		}
		if (c)
			nvmf_host_disconnect(c);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || access(argv[1], X_OK) != 0) {
		printf("nvmfd not built: skip\n");
		return 77;
	}
	if (vu_target_start(argv[1], &tgt, NULL, NULL) < 0)
		return 1;
	vu_rx_init(&rx, 4u << 20);
	check_alive("at the start");
	test_version();
	test_device();
	test_dma();
	test_malformed();
	check_alive("after the bad input");
	vu_rx_free(&rx);
	CHECK(vu_target_stop(&tgt) == 0, "nvmfd stops cleanly");
	printf("%s: %d failure(s)\n", argv[0], failures);
	return failures ? 1 : 0;
}
