/* Listening sockets and the accept loop. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "reactor.h"

#define ACCEPTOR_MAX_LISTENERS 32

struct listener {
	int fd;
	uint16_t portid;
};

struct acceptor {
	struct reactor **reactors;
	unsigned nreactors;
	unsigned next;
	struct listener listeners[ACCEPTOR_MAX_LISTENERS];
	unsigned nlisteners;
	int stopfd;
	pthread_t thread;
	bool started;
	/* Listeners change at run time (RPC): the thread rebuilds its poll set each turn. */
	pthread_mutex_t lock;
	pthread_cond_t turned; /* signalled each time the poll set was rebuilt */
	uint64_t turns;
	int wakefd;
};

int parse_listen_address(const char *s, struct nvmf_port_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->trtype = NVMF_TRTYPE_TCP;
	const char *colon;
	size_t hostlen;
	const char *host = s;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		host = s + 1;
		hostlen = (size_t)(end - host);
		colon = end + 1;
		addr->adrfam = NVMF_ADRFAM_IPV6;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hostlen = (size_t)(colon - s);
		addr->adrfam = memchr(s, ':', hostlen) ? NVMF_ADRFAM_IPV6 : NVMF_ADRFAM_IPV4;
	}
	const char *port = colon + 1;
	if (hostlen == 0 || hostlen >= sizeof(addr->traddr) || !*port || strlen(port) >= sizeof(addr->trsvcid))
		return -EINVAL;
	for (const char *p = port; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
	}
	if (atoi(port) > 65535)
		return -EINVAL;
	memcpy(addr->traddr, host, hostlen);
	strcpy(addr->trsvcid, port);
	return 0;
}

struct acceptor *acceptor_create(struct reactor **reactors, unsigned nreactors)
{
	struct acceptor *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->reactors = reactors;
	a->nreactors = nreactors;
	a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stopfd < 0 || a->wakefd < 0) {
		if (a->stopfd >= 0)
			close(a->stopfd);
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->turned, NULL);
	return a;
}

int acceptor_listen(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, char *err, size_t errlen)
{
	if (a->nlisteners >= ACCEPTOR_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners");
		return -ENOSPC;
	}
	struct addrinfo hints = {.ai_family = addr->adrfam == NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(addr->traddr, addr->trsvcid, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s:%s: %s", addr->traddr, addr->trsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		snprintf(err, errlen, "listen on %s:%s: %s", addr->traddr, addr->trsvcid, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	/* Port 0: report the port the kernel chose. */
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
							 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%u", port);
	}
	pthread_mutex_lock(&a->lock);
	if (a->nlisteners >= ACCEPTOR_MAX_LISTENERS) {
		pthread_mutex_unlock(&a->lock);
		close(fd);
		snprintf(err, errlen, "too many listeners");
		return -ENOSPC;
	}
	a->listeners[a->nlisteners].fd = fd;
	a->listeners[a->nlisteners].portid = portid;
	a->nlisteners++;
	pthread_mutex_unlock(&a->lock);
	uint64_t wake = 1;
	ssize_t n = write(a->wakefd, &wake, sizeof(wake));
	(void)n;
	return 0;
}

int acceptor_unlisten(struct acceptor *a, uint16_t portid)
{
	pthread_mutex_lock(&a->lock);
	int fd = -1;
	for (unsigned i = 0; i < a->nlisteners; i++) {
		if (a->listeners[i].portid == portid) {
			fd = a->listeners[i].fd;
			a->listeners[i] = a->listeners[--a->nlisteners];
			break;
		}
	}
	if (fd >= 0 && a->started) {
		/* The thread may be polling fd: close it once the poll set was rebuilt without it. */
		uint64_t one = 1, seen = a->turns;
		ssize_t n = write(a->wakefd, &one, sizeof(one));
		(void)n;
		while (a->turns == seen)
			pthread_cond_wait(&a->turned, &a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	if (fd < 0)
		return -ENOENT;
	close(fd);
	return 0;
}

static void accept_all(struct acceptor *a, struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				perror("nvmfd: accept");
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct reactor *r = a->reactors[a->next++ % a->nreactors];
		reactor_add_socket(r, fd, l->portid);
	}
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	struct pollfd pfds[ACCEPTOR_MAX_LISTENERS + 2];
	for (;;) {
		pthread_mutex_lock(&a->lock);
		unsigned n = 0;
		for (; n < a->nlisteners; n++)
			pfds[n] = (struct pollfd){.fd = a->listeners[n].fd, .events = POLLIN};
		a->turns++;
		pthread_cond_broadcast(&a->turned);
		pthread_mutex_unlock(&a->lock);
		pfds[n] = (struct pollfd){.fd = a->stopfd, .events = POLLIN};
		pfds[n + 1] = (struct pollfd){.fd = a->wakefd, .events = POLLIN};
		if (poll(pfds, n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("nvmfd: poll");
			return NULL;
		}
		if (pfds[n].revents)
			return NULL;
		if (pfds[n + 1].revents) {
			uint64_t v;
			ssize_t r = read(a->wakefd, &v, sizeof(v));
			(void)r;
		}
		/* Under the lock: a listener removed meanwhile is not in the list any more. */
		pthread_mutex_lock(&a->lock);
		for (unsigned i = 0; i < n; i++) {
			for (unsigned j = 0; pfds[i].revents && j < a->nlisteners; j++) {
				if (a->listeners[j].fd == pfds[i].fd)
					accept_all(a, &a->listeners[j]);
			}
		}
		pthread_mutex_unlock(&a->lock);
	}
}

int acceptor_start(struct acceptor *a)
{
	int rc = pthread_create(&a->thread, NULL, acceptor_main, a);
	if (rc)
		return -rc;
	pthread_setname_np(a->thread, "acceptor");
	a->started = true;
	return 0;
}

void acceptor_destroy(struct acceptor *a)
{
	if (!a)
		return;
	if (a->started) {
		uint64_t one = 1;
		ssize_t n = write(a->stopfd, &one, sizeof(one));
		(void)n;
		pthread_join(a->thread, NULL);
	}
	for (unsigned i = 0; i < a->nlisteners; i++)
		close(a->listeners[i].fd);
	close(a->stopfd);
	close(a->wakefd);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->turned);
	free(a);
}
