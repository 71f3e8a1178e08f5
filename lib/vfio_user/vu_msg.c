/* vfio-user message framing over a Unix stream socket, with SCM_RIGHTS descriptors. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vu_msg.h"

int vu_rx_init(struct vu_rx *rx, size_t max)
{
	memset(rx, 0, sizeof(*rx));
	rx->buf = malloc(max);
	if (!rx->buf)
		return -ENOMEM;
	rx->cap = max;
	return 0;
}

void vu_rx_reset(struct vu_rx *rx)
{
	for (unsigned i = 0; i < rx->nfds; i++)
		if (rx->fds[i] >= 0)
			close(rx->fds[i]);
	rx->nfds = 0;
	rx->have = 0;
	rx->too_many_fds = false;
}

void vu_rx_free(struct vu_rx *rx)
{
	vu_rx_reset(rx);
	free(rx->buf);
	rx->buf = NULL;
}

/* Keep the descriptors of a control message; those beyond our limit are closed. */
static void take_fds(struct vu_rx *rx, struct msghdr *mh)
{
	if (mh->msg_flags & MSG_CTRUNC)
		rx->too_many_fds = true;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *fds = (const int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, fds + i, sizeof(f));
			if (rx->nfds < VU_MAX_FDS) {
				rx->fds[rx->nfds++] = f;
			} else {
				close(f);
				rx->too_many_fds = true;
			}
		}
	}
}

int vu_rx_read(int fd, struct vu_rx *rx)
{
	for (;;) {
		size_t want = sizeof(struct vfio_user_header);
		if (rx->have >= want) {
			uint32_t size = vu_rx_hdr(rx)->msg_size;
			if (size < want)
				return -EBADMSG;
			if (size > rx->cap)
				return -EMSGSIZE;
			want = size;
		}
		if (rx->have == want)
			return 1;
		union {
			char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = {.iov_base = rx->buf + rx->have, .iov_len = want - rx->have};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		take_fds(rx, &mh);
		if (n == 0)
			return -ECONNRESET;
		rx->have += (size_t)n;
	}
}

void vu_msg_attach_fds(struct msghdr *mh, void *cbuf, const int *fds, unsigned nfds)
{
	if (!nfds)
		return;
	mh->msg_control = cbuf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
}

int vu_send(int fd, struct vfio_user_header *hdr, const void *p1, size_t l1, const void *p2, size_t l2,
	    const int *fds, unsigned nfds, int timeout_ms)
{
	if (nfds > VU_MAX_FDS)
		return -EINVAL;
	hdr->msg_size = (uint32_t)(sizeof(*hdr) + l1 + l2);
	struct iovec iov[3] = {
		{.iov_base = hdr, .iov_len = sizeof(*hdr)},
		{.iov_base = (void *)p1, .iov_len = l1},
		{.iov_base = (void *)p2, .iov_len = l2},
	};
	union {
		char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
	vu_msg_attach_fds(&mh, cbuf.b, fds, nfds);
	size_t left = hdr->msg_size;
	while (left) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int r = poll(&p, 1, timeout_ms);
			if (r == 0)
				return -ETIMEDOUT;
			if (r < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		left -= (size_t)n;
		/* Descriptors went with the first bytes. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			size_t step = (size_t)n < mh.msg_iov->iov_len ? (size_t)n : mh.msg_iov->iov_len;
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + step;
			mh.msg_iov->iov_len -= step;
			n -= (ssize_t)step;
			if (mh.msg_iov->iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}
