/*
 * vfio_user: the vfio-user server (lib/vfio_user: nvmf_vu_dev) behind one end
 * of a socket pair, on a real controller core (a RAM namespace).  The
 * harness plays the client and its guest: messages (with a memfd or
 * eventfds passed by SCM_RIGHTS), register and config space accesses, guest
 * memory shared through DMA_MAP, and an NVMe driver that puts commands in
 * the submission queues it set up there, rings the doorbells and reaps the
 * completion queues.  Every message is written in input-derived pieces with
 * the device run between them; the replies are read and checked.
 *
 * Input: byte 0 is options: bit 0 the guest reaps completions after every
 * record; bit 1 the client closes its socket at the end (else the target
 * closes the device); bit 2 the device traps its doorbells (Doorbell Buffer
 * Config offered: SQEs can point shadow doorbells anywhere in guest memory).  Then records, each a tag byte t; t & 7 is the type:
 *   0 message: cmd, flags (the header's low byte), 2-byte LE length L, L
 *     payload bytes; id and size filled in.  t bits 3-4: fds passed (0..3),
 *     the memfd first when t bit 5, else eventfds only
 *   1 raw: 2-byte LE length, that many bytes as they are; t bit 3 passes the memfd
 *   2 region write: 2-byte LE offset, n = (byte & 7) + 1, n bytes of data
 *   3 region read: 2-byte LE offset, 2-byte LE count
 *     (2, 3: t bits 3-4 pick the region: BAR0, config space, BAR4, BAR5)
 *   4 submit: queue id byte (mod 65), a 64-byte SQE put at that SQ's tail in
 *     guest memory; the tail doorbell is rung unless t bit 3
 *   5 DMA map: 2-byte LE IOVA page, memfd page, page count, flags byte;
 *     the memfd goes along unless t bit 3
 *   6 DMA unmap: 2-byte LE IOVA page, page count; t bit 3: unmap all; t bit 4
 *     instead resizes the memfd to page count % 65 pages (mappings past its
 *     end then fault when touched)
 *   7 t bits 3-5: 0 a turn without input, 1 reap completions, 2 device
 *     reset, 3 version with capabilities, 4 MSI-X eventfds for vectors
 *     0..n-1 (n = byte % 4 + 1), 5 enable: ASQ page, ACQ page, queue size
 *     bytes into AQA/ASQ/ACQ then CC.EN, 6 CC.EN 0, 7 function level reset
 * Invariants: replies are well-formed; nothing crashes, leaks (memory, fds,
 * threads) or hangs; the device ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/nvme_spec.h>
#include <nvmf/vfio_user_spec.h>

#include "bdev/bdev.h"
#include "ctrl/target.h"
#include "fuzz.h"
#include "vfio_user/vfio_user.h"
#include "vfio_user/vu_msg.h"

#define SUBNQN "nqn.2024-01.io.nvmf:fuzz-vu"
#define PORTID 7
#define GUEST_PAGES 64u
#define PAGE 4096u
#define GUEST_SIZE (GUEST_PAGES * PAGE)
#define NQ 65 /* queue ids 0..64 */
#define MAX_MAPS 16
#define REPLY_BUF (1u << 18)
#define DOORBELLS 0x1000u

static void on_close(void *thread, struct nvmf_conn *conn)
{
	/* The device's queues report to the device, never here. */
	(void)thread;
	(void)conn;
	FUZZ_CHECK(0);
}

/* The guest's view of one queue. */
struct gqueue {
	bool live;
	uint64_t iova;
	uint16_t size, pos; /* SQ: tail; CQ: head */
	bool phase;
};

struct gmap {
	uint64_t iova, len, off; /* off: within the memfd */
};

/* The client, its guest and what came back. */
static struct client {
	struct nvmf_vu_dev *dev;
	int sock;     /* the device's end (it owns it) */
	int peer;     /* ours; -1 once closed */
	int memfd;
	uint8_t *mem; /* the memfd, mapped here too */
	uint64_t memsize; /* its size now (GUEST_SIZE at most) */
	struct fuzz_splitter split;
	uint16_t msg_id;
	/* The reply to the message we wait for. */
	uint16_t want_id;
	bool want_got;
	uint32_t want_err;
	/* Guest registers as written, its queues and its maps. */
	uint32_t aqa, cc;
	uint64_t asq, acq;
	struct gqueue sq[NQ], cq[NQ];
	struct gmap maps[MAX_MAPS];
	unsigned nmaps;
	/* Reply stream. */
	size_t rlen;
	unsigned nmsg, nreply, nerror, ncqe, nfds_back; /* for FUZZ_VERBOSE */
} cl;
static uint8_t reply_buf[REPLY_BUF];

static void parse_replies(void)
{
	size_t pos = 0;
	while (cl.rlen - pos >= sizeof(struct vfio_user_header)) {
		struct vfio_user_header h;
		memcpy(&h, reply_buf + pos, sizeof(h));
		/* The server sends whole, well-formed replies only. */
		FUZZ_CHECK(h.msg_size >= sizeof(h) && h.msg_size <= REPLY_BUF);
		FUZZ_CHECK((h.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY);
		FUZZ_CHECK(!(h.flags & VFIO_USER_F_ERROR) || (h.error_no != 0 && h.msg_size == sizeof(h)));
		if (cl.rlen - pos < h.msg_size)
			break;
		cl.nreply++;
		if (h.flags & VFIO_USER_F_ERROR) {
			cl.nerror++;
			if (fuzz_verbose())
				fprintf(stderr, "vfio_user: cmd %u id %u: error %u\n", h.cmd, h.msg_id, h.error_no);
		}
		if (h.msg_id == cl.want_id) {
			cl.want_got = true;
			cl.want_err = h.flags & VFIO_USER_F_ERROR ? h.error_no : 0;
		}
		pos += h.msg_size;
	}
	memmove(reply_buf, reply_buf + pos, cl.rlen - pos);
	cl.rlen -= pos;
}

static void read_replies(void)
{
	if (cl.peer < 0)
		return;
	for (;;) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = {.iov_base = reply_buf + cl.rlen, .iov_len = REPLY_BUF - cl.rlen};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
		ssize_t n = recvmsg(cl.peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		/* The BAR0 memfd of a region info reply: not used here. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				close(fd);
				cl.nfds_back++;
			}
		}
		cl.rlen += (size_t)n;
		parse_replies();
	}
}

static struct nvmf_bdev_io_ctx *io;

/* One turn of the "reactor": the device, posted work, bdev completions, replies. */
static void turn(void)
{
	for (int round = 0; round < 16; round++) {
		int work = nvmf_vu_dev_process(cl.dev);
		work += fuzz_run_posted();
		if (nvmf_bdev_io_ctx_inflight(io))
			work += nvmf_bdev_io_ctx_poll(io) + 1;
		read_replies();
		if (!nvmf_vu_dev_done(cl.dev) && fuzz_pending(cl.sock))
			work++;
		if (!work)
			break;
	}
}

static bool ended(void)
{
	return cl.peer < 0 || nvmf_vu_dev_done(cl.dev);
}

/* Write buf in input-derived pieces, fds with the first; the device runs between pieces. */
static void send_pieces(const uint8_t *buf, size_t len, const int *fds, unsigned nfds)
{
	int stuck = 0;
	while (len && !ended()) {
		size_t n = fuzz_split_next(&cl.split, len);
		union {
			char b[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		vu_msg_attach_fds(&mh, cbuf.b, fds, nfds);
		ssize_t w = sendmsg(cl.peer, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			nfds = 0;
			stuck = 0;
		} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			return; /* the device closed its end */
		} else if (++stuck > 64) {
			return; /* it reads no more */
		}
		turn();
	}
}

/* A message: header filled in, payload, fds.  Returns its id. */
static uint16_t send_msg(uint16_t cmd, uint32_t flags, const void *p, size_t len, const int *fds, unsigned nfds)
{
	static uint8_t buf[sizeof(struct vfio_user_header) + 65536];
	struct vfio_user_header h = {.msg_id = ++cl.msg_id, .cmd = cmd, .msg_size = (uint32_t)(sizeof(h) + len),
				     .flags = flags};
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), p, len);
	cl.want_id = h.msg_id;
	cl.want_got = false;
	cl.nmsg++;
	send_pieces(buf, sizeof(h) + len, fds, nfds);
	turn();
	return h.msg_id;
}

/* The message got a reply without an error. */
static bool succeeded(void)
{
	return cl.want_got && cl.want_err == 0;
}

/* ---- The guest ---- */

static void *guest_ptr(uint64_t iova, uint64_t len)
{
	for (unsigned i = 0; i < cl.nmaps; i++) {
		const struct gmap *m = &cl.maps[i];
		if (iova >= m->iova && iova - m->iova < m->len && len <= m->len - (iova - m->iova) &&
		    m->off + (iova - m->iova) + len <= cl.memsize)
			return cl.mem + m->off + (iova - m->iova);
	}
	return NULL;
}

static void forget_queues(void)
{
	memset(cl.sq, 0, sizeof(cl.sq));
	memset(cl.cq, 0, sizeof(cl.cq));
}

static void region_write(uint32_t region, uint64_t off, const void *data, uint32_t count);

static void doorbell(unsigned index, uint32_t value)
{
	region_write(VFIO_PCI_BAR0_REGION_INDEX, DOORBELLS + 4 * index, &value, 4);
}

/* What a driver learns from its own register writes. */
static void snoop_bar0(uint64_t off, const uint8_t *data, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		uint64_t a = off + i;
		uint8_t v = data[i];
		unsigned sh = (unsigned)(a & 3) * 8;
		if (a >= NVME_REG_AQA && a < NVME_REG_AQA + 4) {
			cl.aqa = (cl.aqa & ~(0xffu << sh)) | (uint32_t)v << sh;
		} else if (a >= NVME_REG_ASQ && a < NVME_REG_ASQ + 8) {
			sh = (unsigned)(a - NVME_REG_ASQ) * 8;
			cl.asq = (cl.asq & ~(0xffull << sh)) | (uint64_t)v << sh;
		} else if (a >= NVME_REG_ACQ && a < NVME_REG_ACQ + 8) {
			sh = (unsigned)(a - NVME_REG_ACQ) * 8;
			cl.acq = (cl.acq & ~(0xffull << sh)) | (uint64_t)v << sh;
		} else if (a == NVME_REG_CC) {
			bool was = cl.cc & NVME_CC_EN, on = v & NVME_CC_EN;
			cl.cc = (cl.cc & ~0xffu) | v;
			if (on && !was) {
				forget_queues();
				cl.sq[0] = (struct gqueue){.live = true, .iova = cl.asq & ~0xfffull,
							   .size = (uint16_t)((cl.aqa & 0xfff) + 1)};
				cl.cq[0] = (struct gqueue){.live = true, .iova = cl.acq & ~0xfffull,
							   .size = (uint16_t)(((cl.aqa >> 16) & 0xfff) + 1), .phase = true};
			} else if (!on && was) {
				forget_queues();
			}
		}
	}
}

static void region_write(uint32_t region, uint64_t off, const void *data, uint32_t count)
{
	uint8_t buf[sizeof(struct vfio_user_region_access) + 8];
	struct vfio_user_region_access a = {.offset = off, .region = region, .count = count};
	FUZZ_CHECK(count <= 8);
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, count);
	send_msg(VFIO_USER_REGION_WRITE, 0, buf, sizeof(a) + count, NULL, 0);
	if (region == VFIO_PCI_BAR0_REGION_INDEX && off < DOORBELLS)
		snoop_bar0(off, data, count);
	/* Initiate Function Level Reset (PCIe device control, bit 15). */
	if (region == VFIO_PCI_CONFIG_REGION_INDEX && off <= 0x69 && off + count > 0x69 &&
	    (((const uint8_t *)data)[0x69 - off] & 0x80)) {
		cl.cc = 0;
		forget_queues();
	}
}

static void reg_write(uint32_t off, uint64_t v, uint32_t len)
{
	region_write(VFIO_PCI_BAR0_REGION_INDEX, off, &v, len);
}

/* Consume the completions the controller posted and tell it (CQ head doorbells). */
static void reap(void)
{
	for (unsigned q = 0; q < NQ; q++) {
		struct gqueue *cq = &cl.cq[q];
		if (!cq->live || cq->size < 2)
			continue;
		unsigned n = 0;
		for (; n < cq->size; n++) {
			const void *slot = guest_ptr(cq->iova + (uint64_t)cq->pos * 16, 16);
			struct nvme_completion e;
			if (!slot)
				break;
			/* The device posts on this thread: a plain copy sees whole entries. */
			memcpy(&e, slot, sizeof(e));
			if ((bool)(e.status & 1) != cq->phase)
				break;
			if (fuzz_verbose() && (e.status >> 1))
				fprintf(stderr, "vfio_user: sq %u cid %u status 0x%x\n", e.sqid, e.cid, e.status >> 1);
			cl.ncqe++;
			if (++cq->pos == cq->size) {
				cq->pos = 0;
				cq->phase = !cq->phase;
			}
		}
		if (n)
			doorbell(2 * q + 1, cq->pos);
	}
}

/* The driver's bookkeeping of queue management commands it sends. */
static void snoop_admin(const struct nvme_command *c)
{
	uint16_t qid = (uint16_t)c->cdw10, size = (uint16_t)((c->cdw10 >> 16) + 1);
	if (qid == 0 || qid >= NQ)
		return;
	switch (c->opc) {
	case NVME_OPC_CREATE_IO_CQ:
		cl.cq[qid] = (struct gqueue){.live = true, .iova = c->dptr.prp.prp1, .size = size, .phase = true};
		break;
	case NVME_OPC_CREATE_IO_SQ:
		cl.sq[qid] = (struct gqueue){.live = true, .iova = c->dptr.prp.prp1, .size = size};
		break;
	case NVME_OPC_DELETE_IO_SQ:
		cl.sq[qid].live = false;
		break;
	case NVME_OPC_DELETE_IO_CQ:
		cl.cq[qid].live = false;
		break;
	default:
		break;
	}
}

static void submit(unsigned qid, const struct nvme_command *sqe, bool ring)
{
	struct gqueue *sq = &cl.sq[qid];
	if (!sq->live || sq->size < 2)
		return;
	void *slot = guest_ptr(sq->iova + (uint64_t)sq->pos * 64, 64);
	if (slot)
		memcpy(slot, sqe, 64);
	if (qid == 0)
		snoop_admin(sqe);
	sq->pos = (uint16_t)((sq->pos + 1) % sq->size);
	if (ring)
		doorbell(2 * qid, sq->pos);
}

/* ---- Messages the records make ---- */

static int make_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	return fd;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] != cl.memfd)
			close(fds[i]);
}

static void dma_map(uint64_t iova, uint64_t off, uint64_t len, uint32_t flags, bool with_fd)
{
	struct vfio_user_dma_map m = {.argsz = sizeof(m), .flags = flags, .offset = off, .addr = iova, .size = len};
	send_msg(VFIO_USER_DMA_MAP, 0, &m, sizeof(m), &cl.memfd, with_fd);
	if (succeeded() && with_fd && cl.nmaps < MAX_MAPS)
		cl.maps[cl.nmaps++] = (struct gmap){.iova = iova, .len = len, .off = off};
}

static void dma_unmap(uint64_t iova, uint64_t len, bool all)
{
	struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .flags = all ? VFIO_DMA_UNMAP_FLAG_ALL : 0,
					.addr = iova, .size = len};
	send_msg(VFIO_USER_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
	if (!succeeded())
		return;
	for (unsigned i = 0; i < cl.nmaps;) {
		if (all || (cl.maps[i].iova == iova && cl.maps[i].len == len))
			cl.maps[i] = cl.maps[--cl.nmaps];
		else
			i++;
	}
}

static void version(void)
{
	static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
				   "\"pgsizes\":4096,\"migration\":{\"pgsize\":4096}}}";
	uint8_t buf[sizeof(struct vfio_user_version) + sizeof(caps)];
	struct vfio_user_version v = {.major = VFIO_USER_MAJOR, .minor = VFIO_USER_MINOR};
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), caps, sizeof(caps));
	send_msg(VFIO_USER_VERSION, 0, buf, sizeof(buf), NULL, 0);
}

static void msix_eventfds(unsigned n)
{
	uint8_t buf[sizeof(struct vfio_user_irq_set)];
	struct vfio_user_irq_set s = {.argsz = sizeof(s),
				      .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				      .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = n};
	int fds[4];
	for (unsigned i = 0; i < n; i++)
		fds[i] = make_eventfd();
	memcpy(buf, &s, sizeof(s));
	send_msg(VFIO_USER_DEVICE_SET_IRQS, 0, buf, sizeof(buf), fds, n);
	close_fds(fds, n);
}

static void enable(uint8_t asq_page, uint8_t acq_page, uint8_t qsize)
{
	uint32_t q = (uint32_t)(qsize - 1) & 0xfff;
	reg_write(NVME_REG_AQA, q | q << 16, 4);
	reg_write(NVME_REG_ASQ, (uint64_t)asq_page * PAGE, 8);
	reg_write(NVME_REG_ACQ, (uint64_t)acq_page * PAGE, 8);
	reg_write(NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT, 4);
}

static const uint32_t regions[4] = {VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX,
				    VFIO_PCI_BAR4_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX};

/* Input bytes: take n (false when fewer are left). */
struct input {
	const uint8_t *p;
	size_t left;
};

static bool take(struct input *in, void *out, size_t n)
{
	if (in->left < n) {
		in->left = 0;
		return false;
	}
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

static uint16_t take16(struct input *in)
{
	uint8_t b[2] = {0, 0};
	take(in, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint8_t take8(struct input *in)
{
	uint8_t b = 0;
	take(in, &b, 1);
	return b;
}

static void other(uint8_t t, struct input *in)
{
	switch ((t >> 3) & 7) {
	case 0:
		turn();
		break;
	case 1:
		reap();
		break;
	case 2:
		send_msg(VFIO_USER_DEVICE_RESET, 0, NULL, 0, NULL, 0);
		cl.cc = 0;
		forget_queues();
		break;
	case 3:
		version();
		break;
	case 4:
		msix_eventfds(take8(in) % 4 + 1);
		break;
	case 5: {
		uint8_t b[3];
		if (take(in, b, 3))
			enable(b[0], b[1], b[2]);
		break;
	}
	case 6:
		reg_write(NVME_REG_CC, cl.cc & ~NVME_CC_EN, 4);
		break;
	default: {
		uint16_t flr = 0x8000 | 0x2810;
		region_write(VFIO_PCI_CONFIG_REGION_INDEX, 0x68, &flr, 2);
		break;
	}
	}
}

static void record(uint8_t t, struct input *in, bool auto_reap)
{
	switch (t & 7) {
	case 0: {
		uint8_t cmd = take8(in), flags = take8(in);
		uint16_t len = take16(in);
		if (len > in->left)
			len = (uint16_t)in->left;
		unsigned nfds = (t >> 3) & 3;
		int fds[3];
		for (unsigned i = 0; i < nfds; i++)
			fds[i] = i == 0 && (t & 0x20) ? cl.memfd : make_eventfd();
		send_msg(cmd, flags, in->p, len, fds, nfds);
		close_fds(fds, nfds);
		in->p += len;
		in->left -= len;
		break;
	}
	case 1: {
		uint16_t len = take16(in);
		if (len > in->left)
			len = (uint16_t)in->left;
		send_pieces(in->p, len, &cl.memfd, (t & 8) ? 1 : 0);
		turn();
		in->p += len;
		in->left -= len;
		break;
	}
	case 2: {
		uint16_t off = take16(in);
		uint8_t data[8] = {0};
		uint32_t n = (take8(in) & 7) + 1;
		take(in, data, n);
		region_write(regions[(t >> 3) & 3], off, data, n);
		break;
	}
	case 3: {
		uint16_t off = take16(in), count = take16(in);
		struct vfio_user_region_access a = {.offset = off, .region = regions[(t >> 3) & 3], .count = count};
		send_msg(VFIO_USER_REGION_READ, 0, &a, sizeof(a), NULL, 0);
		break;
	}
	case 4: {
		unsigned qid = take8(in) % NQ;
		struct nvme_command sqe;
		if (take(in, &sqe, sizeof(sqe)))
			submit(qid, &sqe, !(t & 8));
		break;
	}
	case 5: {
		uint16_t iova = take16(in);
		uint8_t off = take8(in), pages = take8(in), flags = take8(in);
		dma_map((uint64_t)iova * PAGE, (uint64_t)off * PAGE, (uint64_t)pages * PAGE, flags, !(t & 8));
		break;
	}
	case 6: {
		uint16_t iova = take16(in);
		uint8_t pages = take8(in);
		if (t & 0x10) {
			cl.memsize = (uint64_t)(pages % (GUEST_PAGES + 1)) * PAGE;
			FUZZ_CHECK(ftruncate(cl.memfd, (off_t)cl.memsize) == 0);
		} else {
			dma_unmap((uint64_t)iova * PAGE, (uint64_t)pages * PAGE, t & 8);
		}
		break;
	}
	default:
		other(t, in);
		break;
	}
	if (auto_reap && !ended())
		reap();
}

static struct nvmf_tgt *make_target(void)
{
	struct nvmf_subsystem *ss;
	struct nvmf_tgt *tgt = fuzz_target_create(SUBNQN, &ss);
	struct nvmf_port_addr pa = {.trtype = NVMF_TRTYPE_VFIO_USER};
	snprintf(pa.traddr, sizeof(pa.traddr), "fuzz.sock");
	FUZZ_CHECK(nvmf_tgt_add_port(tgt, PORTID, &pa, true) == 0);
	return tgt;
}

/* Entries of a /proc directory (open descriptors, threads). */
static unsigned count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	FUZZ_CHECK(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int fuzz_one(const uint8_t *data, size_t len)
{
	if (!io) {
		io = nvmf_bdev_io_ctx_create(64);
		FUZZ_CHECK(io);
	}
	if (len < 1)
		return 0;
	const unsigned fds_before = count_entries("/proc/self/fd"), threads_before = count_entries("/proc/self/task");
	const uint8_t opts = data[0];
	struct nvmf_tgt *tgt = make_target();
	memset(&cl, 0, sizeof(cl));
	fuzz_split_init(&cl.split, data, len);
	int fds[2];
	FUZZ_CHECK(fuzz_socketpair(fds) == 0);
	/* The device's end as the acceptor hands it over (non-blocking); room for
	 * the replies of a whole process call (32 reads of 16 KiB). */
	FUZZ_CHECK(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) == 0);
	int sndbuf = 1 << 20;
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	cl.sock = fds[0];
	cl.peer = fds[1];
	cl.memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	cl.memsize = GUEST_SIZE;
	FUZZ_CHECK(cl.memfd >= 0 && ftruncate(cl.memfd, GUEST_SIZE) == 0);
	cl.mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, cl.memfd, 0);
	FUZZ_CHECK(cl.mem != MAP_FAILED);

	struct nvmf_conn_env env = {.thread = NULL, .post = fuzz_post, .on_close = on_close, .io = io};
	cl.dev = nvmf_vu_dev_create(tgt, fds[0], PORTID, &env, opts & 4);
	FUZZ_CHECK(cl.dev);
	turn();

	struct input in = {.p = data + 1, .left = len - 1};
	while (in.left && !ended())
		record(take8(&in), &in, opts & 1);
	turn();
	if (fuzz_verbose())
		fprintf(stderr, "vfio_user: %u messages, %u replies (%u errors), %u fds back, %u completions, %s\n",
			cl.nmsg, cl.nreply, cl.nerror, cl.nfds_back, cl.ncqe,
			nvmf_vu_dev_done(cl.dev) ? "device ended" : "device live");

	/* The client leaves (or the target closes the device); let in-flight work finish, then free. */
	if (opts & 2) {
		close(cl.peer);
		cl.peer = -1;
	} else {
		nvmf_vu_dev_close(cl.dev);
	}
	for (int spin = 0;; spin++) {
		FUZZ_CHECK(spin < 1000); /* a device that never ends */
		if (nvmf_vu_dev_done(cl.dev) && !fuzz_posted_pending() && !nvmf_bdev_io_ctx_inflight(io))
			break;
		nvmf_vu_dev_process(cl.dev);
		fuzz_run_posted();
		nvmf_bdev_io_ctx_poll(io);
		read_replies();
	}
	nvmf_vu_dev_destroy(cl.dev);
	if (cl.peer >= 0)
		close(cl.peer);
	munmap(cl.mem, GUEST_SIZE);
	close(cl.memfd);
	nvmf_tgt_destroy(tgt);
	FUZZ_CHECK(count_entries("/proc/self/fd") == fds_before);
	FUZZ_CHECK(count_entries("/proc/self/task") == threads_before);
	return 0;
}
