/* Listening sockets and the accept loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acceptor.h"
#include "conn_limits.h"
#include "reactor.h"
#include "util/clock.h"

#define ACCEPTOR_MAX_LISTENERS 32
/* Out of file descriptors: stop listening this long (pending hosts wait in the backlog). */
#define ACCEPTOR_PAUSE_MS 100
/* Accepts per listener per wake-up, so one flooded port cannot hold up the others. */
#define ACCEPTOR_BATCH 64
#define LOG_INTERVAL_MS 1000

/* A message printed at most once per LOG_INTERVAL_MS, with a count of those held back. */
struct ratelog {
	uint64_t last_ms;
	unsigned held;
};

struct listener {
	int fd;
	uint16_t portid;
	bool vfio_user; /* a Unix socket: each client is one vfio-user device */
	bool trapped;	/* vfio-user: its devices trap their doorbells */
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
	struct conn_limits *admission;
	/* Spent to accept-and-close one connection when out of descriptors. */
	int reserve_fd;
	uint64_t paused_until_ms;
	struct ratelog fd_log, error_log;
	struct ratelog refusal_log[ADMISSION_REFUSALS + 1];
	/* Listeners change at run time (RPC): the thread rebuilds its poll set each turn. */
	pthread_mutex_t lock;
	pthread_cond_t turned; /* signalled each time the poll set was rebuilt */
	uint64_t turns;
	int wakefd;
	atomic_bool vu_trapped; /* the doorbell mode of new vfio-user listeners */
};

static void ratelog(struct ratelog *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ratelog(struct ratelog *rl, const char *fmt, ...)
{
	uint64_t now = nvmf_clock_ms();
	if (rl->last_ms && now - rl->last_ms < LOG_INTERVAL_MS) {
		rl->held++;
		return;
	}
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->held)
		fprintf(stderr, "nvmfd: %s (and %u more like it)\n", msg, rl->held);
	else
		fprintf(stderr, "nvmfd: %s\n", msg);
	rl->last_ms = now;
	rl->held = 0;
}

static const char *peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
						  : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

int parse_listen_address(const char *s, struct nvmf_port_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (strncmp(s, "vfio-user:", 10) == 0) {
		const char *path = s + 10;
		if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -EINVAL;
		addr->trtype = NVMF_TRTYPE_VFIO_USER;
		memcpy(addr->traddr, path, strlen(path) + 1);
		return 0;
	}
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

struct acceptor *acceptor_create(struct reactor **reactors, unsigned nreactors, struct conn_limits *admission)
{
	struct acceptor *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->reactors = reactors;
	a->nreactors = nreactors;
	a->admission = admission;
	a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	a->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stopfd < 0 || a->reserve_fd < 0 || a->wakefd < 0) {
		if (a->stopfd >= 0)
			close(a->stopfd);
		if (a->reserve_fd >= 0)
			close(a->reserve_fd);
		if (a->wakefd >= 0)
			close(a->wakefd);
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->turned, NULL);
	return a;
}

/* Close a listening socket; a vfio-user socket's file goes with it. */
static void close_listener(int fd, bool vfio_user)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	if (vfio_user && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 && sl > sizeof(sa.sun_family) && sa.sun_path[0])
		unlink(sa.sun_path);
	close(fd);
}

static int add_listener(struct acceptor *a, int fd, uint16_t portid, bool vfio_user, bool trapped, char *err,
			size_t errlen)
{
	pthread_mutex_lock(&a->lock);
	if (a->nlisteners >= ACCEPTOR_MAX_LISTENERS) {
		pthread_mutex_unlock(&a->lock);
		close(fd);
		snprintf(err, errlen, "too many listeners");
		return -ENOSPC;
	}
	a->listeners[a->nlisteners].fd = fd;
	a->listeners[a->nlisteners].portid = portid;
	a->listeners[a->nlisteners].vfio_user = vfio_user;
	a->listeners[a->nlisteners].trapped = trapped;
	a->nlisteners++;
	pthread_mutex_unlock(&a->lock);
	uint64_t wake = 1;
	ssize_t n = write(a->wakefd, &wake, sizeof(wake));
	(void)n;
	return 0;
}

/* A vfio-user socket: a stale socket file left by an earlier run is replaced, anything else is not. */
static int listen_unix(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, bool trapped, char *err,
		       size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(addr->traddr) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "vfio-user socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, addr->traddr, strlen(addr->traddr) + 1);
	struct stat st;
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "vfio-user socket %s: exists and is not a socket", sa.sun_path);
			return -EEXIST;
		}
		unlink(sa.sun_path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		snprintf(err, errlen, "listen on vfio-user socket %s: %s", sa.sun_path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return add_listener(a, fd, portid, true, trapped, err, errlen);
}

int acceptor_listen(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, char *err, size_t errlen)
{
	if (addr->trtype == NVMF_TRTYPE_VFIO_USER)
		return listen_unix(a, addr, portid, atomic_load(&a->vu_trapped), err, errlen);
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
	return add_listener(a, fd, portid, false, false, err, errlen);
}

int acceptor_listen_vfio_user(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, bool trapped,
			      char *err, size_t errlen)
{
	if (addr->trtype != NVMF_TRTYPE_VFIO_USER) {
		snprintf(err, errlen, "%s: not a vfio-user address", addr->traddr);
		return -EINVAL;
	}
	return listen_unix(a, addr, portid, trapped, err, errlen);
}

int doorbells_parse(const char *s)
{
	return !s ? -1 : strcmp(s, "trapped") == 0 ? 1 : strcmp(s, "mapped") == 0 ? 0 : -1;
}

const char *doorbells_name(bool trapped)
{
	return trapped ? "trapped" : "mapped";
}

void acceptor_set_vfio_user_doorbells(struct acceptor *a, bool trapped)
{
	atomic_store(&a->vu_trapped, trapped);
}

bool acceptor_vfio_user_doorbells(struct acceptor *a)
{
	return atomic_load(&a->vu_trapped);
}

int acceptor_listener_doorbells(struct acceptor *a, uint16_t portid)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->nlisteners; i++) {
		if (a->listeners[i].portid == portid && a->listeners[i].vfio_user)
			rc = a->listeners[i].trapped;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int acceptor_unlisten(struct acceptor *a, uint16_t portid)
{
	pthread_mutex_lock(&a->lock);
	int fd = -1;
	bool vfio_user = false;
	for (unsigned i = 0; i < a->nlisteners; i++) {
		if (a->listeners[i].portid == portid) {
			fd = a->listeners[i].fd;
			vfio_user = a->listeners[i].vfio_user;
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
	close_listener(fd, vfio_user);
	return 0;
}


/* Out of descriptors: free the reserve to take one pending connection off the
 * backlog and close it (the host sees a reset, not a hang), then pause. */
static void out_of_fds(struct acceptor *a, struct listener *l, int error)
{
	ratelog(&a->fd_log, "accept: %s: shedding connections, listening paused", strerror(error));
	if (a->reserve_fd >= 0) {
		close(a->reserve_fd);
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	a->paused_until_ms = nvmf_clock_ms() + ACCEPTOR_PAUSE_MS;
}

static void accept_some(struct acceptor *a, struct listener *l)
{
	for (int i = 0; i < ACCEPTOR_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			int e = errno;
			if (e == EINTR || e == ECONNABORTED)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			if (e == EMFILE || e == ENFILE) {
				out_of_fds(a, l, e);
			} else {
				/* ENOBUFS, ENOMEM, ...: the listener stays readable; do not spin on it. */
				ratelog(&a->error_log, "accept: %s", strerror(e));
				a->paused_until_ms = nvmf_clock_ms() + ACCEPTOR_PAUSE_MS;
			}
			return;
		}
		if (l->vfio_user) {
			/* One client per controller socket, on the machine: no host address to count. */
			reactor_add_vfio_user(a->reactors[a->next++ % a->nreactors], fd, l->portid, l->trapped);
			continue;
		}
		enum admission adm = a->admission ? conn_limits_acquire(a->admission, &peer) : ADMITTED;
		if (adm != ADMITTED) {
			char name[INET6_ADDRSTRLEN];
			ratelog(&a->refusal_log[adm], "connection from %s closed: %s", peer_name(&peer, name, sizeof(name)),
				conn_limits_reason(adm));
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct reactor *r = a->reactors[a->next++ % a->nreactors];
		reactor_add_socket(r, fd, l->portid, &peer);
	}
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	struct pollfd pfds[ACCEPTOR_MAX_LISTENERS + 2];
	for (;;) {
		/* While paused only the stop and wake events are watched. */
		uint64_t now = nvmf_clock_ms();
		bool paused = now < a->paused_until_ms;
		unsigned n = 0;
		pthread_mutex_lock(&a->lock);
		for (; !paused && n < a->nlisteners; n++)
			pfds[n] = (struct pollfd){.fd = a->listeners[n].fd, .events = POLLIN};
		a->turns++;
		pthread_cond_broadcast(&a->turned);
		pthread_mutex_unlock(&a->lock);
		pfds[n] = (struct pollfd){.fd = a->stopfd, .events = POLLIN};
		pfds[n + 1] = (struct pollfd){.fd = a->wakefd, .events = POLLIN};
		if (poll(pfds, n + 2, paused ? (int)(a->paused_until_ms - now) : -1) < 0) {
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
		for (unsigned i = 0; i < n && nvmf_clock_ms() >= a->paused_until_ms; i++) {
			for (unsigned j = 0; pfds[i].revents && j < a->nlisteners; j++) {
				if (a->listeners[j].fd == pfds[i].fd)
					accept_some(a, &a->listeners[j]);
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
		close_listener(a->listeners[i].fd, a->listeners[i].vfio_user);
	close(a->stopfd);
	close(a->wakefd);
	if (a->reserve_fd >= 0)
		close(a->reserve_fd);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->turned);
	free(a);
}
