/*
 * vfio-user messages on a Unix stream socket: one whole message at a time,
 * with the file descriptors passed alongside it (SCM_RIGHTS).  Used by the
 * server (non-blocking socket, a message may arrive in pieces) and by the
 * client (blocking calls).
 */
#ifndef NVMF_VU_MSG_H
#define NVMF_VU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <nvmf/vfio_user_spec.h>

/* File descriptors accepted with one message (our max_msg_fds). */
#define VU_MAX_FDS 16 /* QEMU refuses a peer offering more than 16 */

struct vu_rx {
	uint8_t *buf; /* header then payload */
	size_t cap;   /* largest message accepted */
	size_t have;
	int fds[VU_MAX_FDS];
	unsigned nfds;
	bool too_many_fds; /* the sender passed more than VU_MAX_FDS (they were closed) */
};

/* Buffer for messages of up to max bytes.  0 or -ENOMEM. */
int vu_rx_init(struct vu_rx *rx, size_t max);
void vu_rx_free(struct vu_rx *rx);
/*
 * Read towards the next message.  Returns 1 when a whole message is in
 * rx->buf (header then payload), 0 when more must arrive (non-blocking
 * socket), -ECONNRESET when the peer closed, -EMSGSIZE when the header
 * announces a message larger than the buffer, -EBADMSG when it announces
 * one smaller than a header, another negative errno on failure.
 */
int vu_rx_read(int fd, struct vu_rx *rx);
/* Close the descriptors nobody took (fd slots set to -1 were taken) and start over. */
void vu_rx_reset(struct vu_rx *rx);
static inline const struct vfio_user_header *vu_rx_hdr(const struct vu_rx *rx)
{
	return (const void *)rx->buf;
}

/*
 * Send a message: the header (msg_size filled in here) and up to two
 * payload pieces, with fds.  Waits for a full socket up to timeout_ms.
 * 0 or a negative errno.
 */
/*
 * Pass nfds descriptors with mh (SCM_RIGHTS in cbuf, which holds
 * CMSG_SPACE(sizeof(int) * nfds) bytes aligned for a struct cmsghdr);
 * with none, mh carries no control data.
 */
void vu_msg_attach_fds(struct msghdr *mh, void *cbuf, const int *fds, unsigned nfds);
int vu_send(int fd, struct vfio_user_header *hdr, const void *p1, size_t l1, const void *p2, size_t l2,
	    const int *fds, unsigned nfds, int timeout_ms);

#endif
