/* Input-derived chunking and socket plumbing for the harnesses. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

bool fuzz_verbose(void)
{
	static int v = -1;
	if (v < 0)
		v = getenv("FUZZ_VERBOSE") != NULL;
	return v;
}

void fuzz_split_init(struct fuzz_splitter *s, const uint8_t *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	s->state = h | 1;
}

static uint32_t next_rand(struct fuzz_splitter *s)
{
	/* xorshift64* */
	s->state ^= s->state >> 12;
	s->state ^= s->state << 25;
	s->state ^= s->state >> 27;
	return (uint32_t)((s->state * 0x2545f4914f6cdd1dull) >> 32);
}

size_t fuzz_split_next(struct fuzz_splitter *s, size_t left)
{
	uint32_t r = next_rand(s);
	size_t n;
	switch (r & 3) {
	case 0: /* a few bytes: headers cut anywhere */
		n = 1 + (r >> 8) % 8;
		break;
	case 1:
		n = 1 + (r >> 8) % 200;
		break;
	case 2:
		n = 1 + (r >> 8) % 5000;
		break;
	default: /* the rest at once (up to what a socket holds) */
		n = 65536;
		break;
	}
	return n < left ? n : left;
}

int fuzz_socketpair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -1;
	int fl = fcntl(fds[1], F_GETFL);
	if (fl < 0 || fcntl(fds[1], F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

bool fuzz_write_all(int fd, const void *buf, size_t len, void (*pump)(void *arg), void *arg)
{
	const uint8_t *p = buf;
	int stuck = 0;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			stuck = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return false;
		if (++stuck > 64)
			return false;
		pump(arg);
	}
	return true;
}

size_t fuzz_drain(int fd)
{
	static uint8_t junk[256 * 1024];
	size_t total = 0;

	for (;;) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n <= 0)
			return total;
		total += (size_t)n;
	}
}

size_t fuzz_pending(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

struct posted {
	void (*fn)(void *);
	void *arg;
	struct posted *next;
};

static struct posted *posted_head, **posted_tail = &posted_head;

void fuzz_post(void *thread, void (*fn)(void *arg), void *arg)
{
	(void)thread;
	struct posted *p = malloc(sizeof(*p));
	FUZZ_CHECK(p);
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	*posted_tail = p;
	posted_tail = &p->next;
}

int fuzz_run_posted(void)
{
	int n = 0;
	while (posted_head) {
		struct posted *p = posted_head;
		posted_head = p->next;
		if (!posted_head)
			posted_tail = &posted_head;
		p->fn(p->arg);
		free(p);
		n++;
	}
	return n;
}

bool fuzz_posted_pending(void)
{
	return posted_head != NULL;
}
