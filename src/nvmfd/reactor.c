/* A reactor thread: epoll over its queue pairs, bdev completions and messages. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "conn_limits.h"
#include "ctrl/target.h"
#include "reactor.h"
#include "vfio_user/vfio_user.h"
#include "util/clock.h"

#define REACTOR_MAX_EVENTS 64
#define REACTOR_IO_DEPTH 1024
/* Keep spinning this long after the last piece of work, then sleep. */
#define REACTOR_SPIN_NS 300000
/* Longest sleep: timers (keep alive) need a look this often. */
#define REACTOR_SLEEP_MS 100
#define REACTOR_TIMER_MS 100
#define REACTOR_BUSY_EPOLL_NS 10000 /* see poll_once */

/* A queue pair's connection, or a vfio-user device (which runs its own queues). */
struct reactor_conn {
	struct nvmf_conn *conn;
	struct nvmf_vu_dev *dev;
	struct reactor *r;
	uint32_t events; /* epoll interest: EPOLLIN and/or EPOLLOUT */
	bool dead;
	uint64_t next_look_ns; /* an idle vfio-user device: when to look at its doorbells next */
	struct sockaddr_storage peer;
	struct reactor_conn *next;
};

struct message {
	void (*fn)(void *);
	void *arg;
	struct message *next;
};

struct reactor {
	struct nvmf_tgt *tgt;
	unsigned index;
	uint64_t spin_ns;
	int cpu; /* -1: not pinned */
	pthread_t thread;
	bool started;
	int epfd;
	int msgfd;
	struct nvmf_bdev_io_ctx *io;
	pthread_mutex_t msg_lock;
	struct message *msgs, *msgs_tail;
	atomic_bool stopping;
	struct reactor_conn *conns;
	unsigned nconns;
	uint64_t next_timer_ms;
	uint64_t last_epoll_ns; /* the turn clock of the last epoll_wait */
	/* Epoll tags for the two non-connection fds. */
	int msg_tag, io_tag;
	struct nvmf_qpair_limits qp_limits;
	struct conn_limits *admission;
};

struct reactor *reactor_create(struct nvmf_tgt *tgt, unsigned index)
{
	struct reactor *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->tgt = tgt;
	r->index = index;
	r->spin_ns = REACTOR_SPIN_NS;
	r->cpu = -1;
	pthread_mutex_init(&r->msg_lock, NULL);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->msgfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->io = nvmf_bdev_io_ctx_create(REACTOR_IO_DEPTH);
	if (r->epfd < 0 || r->msgfd < 0 || !r->io) {
		reactor_destroy(r);
		return NULL;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->msg_tag};
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->msgfd, &ev);
	ev.data.ptr = &r->io_tag;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, nvmf_bdev_io_ctx_fd(r->io), &ev);
	return r;
}

void reactor_set_spin(struct reactor *r, uint64_t spin_ns)
{
	r->spin_ns = spin_ns;
}

void reactor_set_cpu(struct reactor *r, int cpu)
{
	r->cpu = cpu;
}

void reactor_configure(struct reactor *r, const struct nvmf_qpair_limits *limits, struct conn_limits *admission)
{
	r->qp_limits = *limits;
	r->admission = admission;
}

/* A connection from peer has closed: its place is free again. */
static void release_peer(struct reactor *r, const struct sockaddr_storage *peer)
{
	if (r->admission)
		conn_limits_release(r->admission, peer);
}

void reactor_post(void *reactor, void (*fn)(void *arg), void *arg)
{
	struct reactor *r = reactor;
	struct message *m = malloc(sizeof(*m));
	if (!m) {
		/* Messages carry teardown work: losing one would leak a controller. */
		perror("nvmfd: reactor message");
		abort();
	}
	m->fn = fn;
	m->arg = arg;
	m->next = NULL;
	pthread_mutex_lock(&r->msg_lock);
	if (r->msgs_tail)
		r->msgs_tail->next = m;
	else
		r->msgs = m;
	r->msgs_tail = m;
	pthread_mutex_unlock(&r->msg_lock);
	uint64_t one = 1;
	ssize_t n = write(r->msgfd, &one, sizeof(one));
	(void)n;
}

static int run_messages(struct reactor *r)
{
	uint64_t v;
	ssize_t n = read(r->msgfd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&r->msg_lock);
	struct message *m = r->msgs;
	r->msgs = r->msgs_tail = NULL;
	pthread_mutex_unlock(&r->msg_lock);
	int count = 0;
	while (m) {
		struct message *next = m->next;
		m->fn(m->arg);
		free(m);
		m = next;
		count++;
	}
	return count;
}

static void on_close(void *thread, struct nvmf_conn *conn)
{
	struct reactor *r = thread;
	for (struct reactor_conn *rc = r->conns; rc; rc = rc->next) {
		if (rc->conn == conn && !rc->dev && !rc->dead) {
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, nvmf_conn_fd(conn), NULL);
			/* Freed by reap(): later events of this batch may still name it. */
			rc->dead = true;
			return;
		}
	}
}

static void reap(struct reactor *r)
{
	for (struct reactor_conn **p = &r->conns; *p;) {
		struct reactor_conn *rc = *p;
		if (rc->dead) {
			*p = rc->next;
			if (rc->dev) {
				nvmf_vu_dev_destroy(rc->dev);
			} else {
				nvmf_conn_put(rc->conn);
				release_peer(r, &rc->peer);
			}
			free(rc);
			r->nconns--;
		} else {
			p = &rc->next;
		}
	}
}

/* Watch for input only while the connection takes it, for output only while some waits. */
static void update_interest(struct reactor_conn *rc)
{
	if (rc->dead || rc->dev)
		return;
	uint32_t want = (nvmf_conn_want_read(rc->conn) ? EPOLLIN : 0) | (nvmf_conn_want_write(rc->conn) ? EPOLLOUT : 0);
	if (want == rc->events)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = rc};
	if (epoll_ctl(rc->r->epfd, EPOLL_CTL_MOD, nvmf_conn_fd(rc->conn), &ev) == 0)
		rc->events = want;
}

static int serve(struct reactor_conn *rc)
{
	int work = nvmf_conn_process(rc->conn);
	update_interest(rc);
	return work;
}

struct new_socket {
	struct reactor *r;
	int fd;
	uint16_t portid;
	struct sockaddr_storage peer;
	bool trapped_doorbells; /* vfio-user */
};

static void add_socket_msg(void *arg)
{
	struct new_socket *ns = arg;
	struct reactor *r = ns->r;
	struct nvmf_conn_env env = {
		.thread = r,
		.post = reactor_post,
		.on_close = on_close,
		.io = r->io,
		.limits = r->qp_limits,
	};
	struct reactor_conn *rc = calloc(1, sizeof(*rc));
	if (!rc || atomic_load(&r->stopping)) {
		close(ns->fd);
		release_peer(r, &ns->peer);
		free(rc);
		free(ns);
		return;
	}
	rc->r = r;
	rc->peer = ns->peer;
	rc->conn = nvmf_conn_create(r->tgt, ns->fd, ns->portid, &env);
	free(ns);
	if (!rc->conn) {
		perror("nvmfd: queue pair");
		release_peer(r, &rc->peer);
		free(rc);
		return;
	}
	rc->events = EPOLLIN;
	struct epoll_event ev = {.events = rc->events, .data.ptr = rc};
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, nvmf_conn_fd(rc->conn), &ev) < 0) {
		perror("nvmfd: epoll");
		nvmf_conn_close(rc->conn); /* on_close finds nothing: not yet listed */
		nvmf_conn_put(rc->conn);
		release_peer(r, &rc->peer);
		free(rc);
		return;
	}
	rc->next = r->conns;
	r->conns = rc;
	r->nconns++;
	/* The ICReq may already be waiting. */
	serve(rc);
}

/* Run a vfio-user device; once it has ended, forget it. */
static int process_dev(struct reactor_conn *rc, bool messages)
{
	int work = messages ? nvmf_vu_dev_process(rc->dev) : nvmf_vu_dev_poll(rc->dev);
	if (nvmf_vu_dev_done(rc->dev)) {
		epoll_ctl(rc->r->epfd, EPOLL_CTL_DEL, nvmf_vu_dev_fd(rc->dev), NULL);
		rc->dead = true;
	}
	return work;
}

static void add_vfio_user_msg(void *arg)
{
	struct new_socket *ns = arg;
	struct reactor *r = ns->r;
	struct nvmf_conn_env env = {.thread = r, .post = reactor_post, .on_close = on_close, .io = r->io};
	struct reactor_conn *rc = calloc(1, sizeof(*rc));
	if (!rc || atomic_load(&r->stopping)) {
		close(ns->fd);
		free(rc);
		free(ns);
		return;
	}
	rc->r = r;
	rc->dev = nvmf_vu_dev_create(r->tgt, ns->fd, ns->portid, &env, ns->trapped_doorbells);
	free(ns);
	if (!rc->dev) {
		perror("nvmfd: vfio-user device");
		free(rc);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = rc};
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, nvmf_vu_dev_fd(rc->dev), &ev);
	rc->next = r->conns;
	r->conns = rc;
	r->nconns++;
	process_dev(rc, true);
}

void reactor_add_vfio_user(struct reactor *r, int fd, uint16_t portid, bool trapped_doorbells)
{
	struct new_socket *ns = malloc(sizeof(*ns));
	if (!ns) {
		close(fd);
		return;
	}
	ns->r = r;
	ns->fd = fd;
	ns->portid = portid;
	ns->trapped_doorbells = trapped_doorbells;
	reactor_post(r, add_vfio_user_msg, ns);
}

void reactor_add_socket(struct reactor *r, int fd, uint16_t portid, const struct sockaddr_storage *peer)
{
	struct new_socket *ns = malloc(sizeof(*ns));
	if (!ns) {
		close(fd);
		release_peer(r, peer);
		return;
	}
	ns->r = r;
	ns->fd = fd;
	ns->portid = portid;
	ns->peer = *peer;
	reactor_post(r, add_socket_msg, ns);
}

/* When an idle device wants its next look at the doorbells (UINT64_MAX: never). */
static uint64_t next_look(const struct nvmf_vu_dev *dev, uint64_t now_ns)
{
	int ms = nvmf_vu_dev_idle_poll_ms(dev, now_ns);
	return ms < 0 ? UINT64_MAX : now_ns + (uint64_t)ms * 1000000ull;
}

/*
 * A vfio-user device with mapped doorbells polls them: no fd says when the
 * client rings one.  True when one spins (looked at every turn); *look_ms: the soonest
 * look an idle one wants, which bounds the reactor's sleep (-1: none).
 */
static bool devices_state(struct reactor *r, uint64_t now_ns, int *look_ms)
{
	bool busy = false;
	*look_ms = -1;
	for (struct reactor_conn *rc = r->conns; rc; rc = rc->next) {
		if (!rc->dev || rc->dead)
			continue;
		if (nvmf_vu_dev_busy(rc->dev)) {
			busy = true;
			continue;
		}
		if (!rc->next_look_ns)
			rc->next_look_ns = next_look(rc->dev, now_ns);
		if (rc->next_look_ns == UINT64_MAX)
			continue; /* trapped doorbells: a message wakes it */
		int ms = rc->next_look_ns > now_ns ? (int)((rc->next_look_ns - now_ns + 999999) / 1000000) : 0;
		if (*look_ms < 0 || ms < *look_ms)
			*look_ms = ms;
	}
	return busy;
}

static int poll_once(struct reactor *r, int timeout_ms, uint64_t now_ns)
{
	uint64_t now_ms = now_ns / 1000000u;
	struct epoll_event events[REACTOR_MAX_EVENTS];
	int look_ms;
	bool devs_busy = devices_state(r, now_ns, &look_ms);
	/* A turn that took longer than the spin time must not put a spinning device to sleep. */
	if (timeout_ms && devs_busy)
		timeout_ms = 0;
	if (look_ms >= 0 && timeout_ms > look_ms)
		timeout_ms = look_ms;
	/* While devices spin, their doorbells need no system call: the descriptors (messages,
	 * other connections) are looked at every REACTOR_BUSY_EPOLL_NS, not every turn. */
	int n = 0;
	if (!devs_busy || timeout_ms || now_ns - r->last_epoll_ns >= REACTOR_BUSY_EPOLL_NS) {
		n = epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, timeout_ms);
		r->last_epoll_ns = now_ns;
	}
	int work = 0;
	bool io_ready = false, msg_ready = false;
	for (int i = 0; i < n; i++) {
		void *tag = events[i].data.ptr;
		if (tag == &r->msg_tag) {
			msg_ready = true;
		} else if (tag == &r->io_tag) {
			io_ready = true;
		} else {
			struct reactor_conn *rc = tag;
			if (rc->dead)
				continue;
			work += rc->dev ? process_dev(rc, true) : serve(rc);
		}
	}
	uint64_t turn_ns = timeout_ms ? nvmf_clock_ns() : now_ns; /* a sleep may have lasted */
	int done = 0;
	if (io_ready || nvmf_bdev_io_ctx_inflight(r->io))
		done += nvmf_bdev_io_ctx_poll(r->io);
	if (msg_ready)
		done += run_messages(r);
	work += done;
	/* Output from completions, and commands parked on an LBA range (released by any
	 * reactor, so looked at every pass: a flag check, no system call).  A connection
	 * already waiting for POLLOUT is left to its event: its peer is not reading, and
	 * trying again every pass would only cost system calls. */
	for (struct reactor_conn *rc = r->conns; rc; rc = rc->next) {
		if (rc->dead)
			continue;
		if (rc->dev) {
			/* Doorbells are memory: polled while I/O flows.  Busy counts as work: the
			 * reactor must not sleep while the device spins (its timer is off). */
			if (nvmf_vu_dev_busy(rc->dev) || nvmf_vu_dev_done(rc->dev)) {
				work += process_dev(rc, false) + 1;
				rc->next_look_ns = 0;
			} else if (turn_ns >= rc->next_look_ns) {
				/* Idle: a look at the doorbells when its time has come. */
				work += process_dev(rc, false);
				rc->next_look_ns = next_look(rc->dev, turn_ns);
			}
			continue;
		}
		/* Input was read when epoll said so: output alone needs no read (it would find nothing). */
		bool new_output = !(rc->events & EPOLLOUT) && nvmf_conn_want_write(rc->conn);
		if (new_output || nvmf_conn_has_deferred(rc->conn)) {
			work += nvmf_conn_send(rc->conn);
			update_interest(rc);
		}
	}
	/* A sleeping wait may have lasted: read the clock again only then. */
	uint64_t now = timeout_ms ? nvmf_now_ms() : now_ms;
	if (now >= r->next_timer_ms) {
		/* The turn's clock predates what this turn created: timers get a fresh one. */
		now = nvmf_now_ms();
		r->next_timer_ms = now + REACTOR_TIMER_MS;
		for (struct reactor_conn *rc = r->conns; rc; rc = rc->next) {
			if (rc->dead || rc->dev)
				continue;
			/* Output stuck behind a peer that does not read: a termination request gives up on it after a while. */
			if (rc->events & EPOLLOUT)
				serve(rc);
			if (!rc->dead)
				nvmf_conn_timer(rc->conn, now);
		}
	}
	reap(r);
	return work;
}

static void *reactor_main(void *arg)
{
	struct reactor *r = arg;
	uint64_t last_work = nvmf_clock_ns();
	/* One clock read per turn: the turn's start stands for its work and its timers. */
	while (!atomic_load(&r->stopping)) {
		uint64_t now = nvmf_clock_ns();
		bool spinning = now - last_work < r->spin_ns;
		int work = poll_once(r, spinning ? 0 : REACTOR_SLEEP_MS, now);
		if (work > 0)
			last_work = spinning ? now : nvmf_clock_ns();
	}
	/* Close everything and wait for in-flight bdev I/O to drain. */
	for (struct reactor_conn *rc = r->conns; rc; rc = rc->next) {
		if (rc->dead)
			continue;
		if (rc->dev)
			nvmf_vu_dev_close(rc->dev);
		else
			nvmf_conn_close(rc->conn);
	}
	while (r->conns)
		poll_once(r, 10, 0);
	run_messages(r);
	return NULL;
}

int reactor_start(struct reactor *r)
{
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);
	if (rc)
		return -rc;
	if (r->cpu >= 0) {
		/* Pinned from its first instruction: a polling thread that the scheduler moves
		 * between CPUs finds its caches cold and wakes other threads across CPUs. */
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(r->cpu, &set);
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (!rc)
		rc = pthread_create(&r->thread, &attr, reactor_main, r);
	pthread_attr_destroy(&attr);
	if (rc)
		return -rc;
	r->started = true;
	char name[16];
	snprintf(name, sizeof(name), "reactor%u", r->index);
	pthread_setname_np(r->thread, name);
	return 0;
}

void reactor_stop(struct reactor *r)
{
	if (!r->started)
		return;
	atomic_store(&r->stopping, true);
	uint64_t one = 1;
	ssize_t n = write(r->msgfd, &one, sizeof(one));
	(void)n;
	pthread_join(r->thread, NULL);
	r->started = false;
}

void reactor_destroy(struct reactor *r)
{
	if (!r)
		return;
	reactor_stop(r);
	/* Late teardown messages still hold references: run them, every reactor has stopped. */
	run_messages(r);
	if (r->io)
		nvmf_bdev_io_ctx_destroy(r->io);
	if (r->msgfd >= 0)
		close(r->msgfd);
	if (r->epfd >= 0)
		close(r->epfd);
	pthread_mutex_destroy(&r->msg_lock);
	free(r);
}
