/* Connection admission by count: in all and per host address. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conn_limits.h"

/* Hosts with open connections: a short list, scanned; it never holds more than max_total entries. */
struct host_count {
	struct in6_addr addr;
	unsigned n;
};

struct conn_limits {
	pthread_mutex_t lock;
	unsigned max_total, max_per_host;
	unsigned open;
	struct host_count *hosts;
	unsigned nhosts, cap;
};

struct conn_limits *conn_limits_create(unsigned max_total, unsigned max_per_host)
{
	struct conn_limits *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	pthread_mutex_init(&cl->lock, NULL);
	cl->max_total = max_total;
	cl->max_per_host = max_per_host;
	return cl;
}

void conn_limits_destroy(struct conn_limits *cl)
{
	if (!cl)
		return;
	pthread_mutex_destroy(&cl->lock);
	free(cl->hosts);
	free(cl);
}

/* IPv4 addresses as IPv4-mapped IPv6, so one host counts once whichever socket it came on. */
static struct in6_addr host_key(const struct sockaddr_storage *peer)
{
	struct in6_addr a = {0};
	if (peer->ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)peer)->sin6_addr;
	} else if (peer->ss_family == AF_INET) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &((const struct sockaddr_in *)peer)->sin_addr, 4);
	}
	return a;
}

static struct host_count *find_host(struct conn_limits *cl, const struct in6_addr *a)
{
	for (unsigned i = 0; i < cl->nhosts; i++) {
		if (memcmp(&cl->hosts[i].addr, a, sizeof(*a)) == 0)
			return &cl->hosts[i];
	}
	return NULL;
}

enum admission conn_limits_acquire(struct conn_limits *cl, const struct sockaddr_storage *peer)
{
	struct in6_addr a = host_key(peer);
	enum admission why = ADMITTED;
	pthread_mutex_lock(&cl->lock);
	struct host_count *h = find_host(cl, &a);
	if (cl->max_total && cl->open >= cl->max_total) {
		why = REFUSED_TOTAL;
	} else if (cl->max_per_host && h && h->n >= cl->max_per_host) {
		why = REFUSED_PER_HOST;
	} else if (!h && cl->nhosts == cl->cap) {
		unsigned cap = cl->cap ? cl->cap * 2 : 16;
		struct host_count *hosts = realloc(cl->hosts, cap * sizeof(*hosts));
		if (hosts) {
			cl->hosts = hosts;
			cl->cap = cap;
		} else {
			why = REFUSED_NOMEM;
		}
	}
	if (why == ADMITTED) {
		if (!h) {
			h = &cl->hosts[cl->nhosts++];
			*h = (struct host_count){.addr = a};
		}
		h->n++;
		cl->open++;
	}
	pthread_mutex_unlock(&cl->lock);
	return why;
}

const char *conn_limits_reason(enum admission a)
{
	switch (a) {
	case ADMITTED:
		return "admitted";
	case REFUSED_TOTAL:
		return "connection limit reached";
	case REFUSED_PER_HOST:
		return "connection limit per host reached";
	case REFUSED_NOMEM:
		break;
	}
	return "out of memory";
}

void conn_limits_release(struct conn_limits *cl, const struct sockaddr_storage *peer)
{
	struct in6_addr a = host_key(peer);
	pthread_mutex_lock(&cl->lock);
	struct host_count *h = find_host(cl, &a);
	if (h) {
		cl->open--;
		if (--h->n == 0)
			*h = cl->hosts[--cl->nhosts];
	}
	pthread_mutex_unlock(&cl->lock);
}
