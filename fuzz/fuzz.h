/*
 * Shared pieces of the fuzz harnesses.  Each harness defines fuzz_one();
 * driver.c runs it under AFL++ (persistent mode) or replays files.
 */
#ifndef NVMF_FUZZ_H
#define NVMF_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Run one input.  Returns 0; a broken invariant aborts (AFL++ counts a crash). */
int fuzz_one(const uint8_t *data, size_t len);

/* An invariant of the code under test: abort when it does not hold. */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* FUZZ_VERBOSE set in the environment: harnesses say how far each input got. */
bool fuzz_verbose(void);

/* Chunk sizes derived from the input itself (a hash of all of it seeds them),
 * so a saved input replays with the same splits. */
struct fuzz_splitter {
	uint64_t state;
};
void fuzz_split_init(struct fuzz_splitter *s, const uint8_t *data, size_t len);
/* The next chunk: 1..left bytes (left > 0); mostly small, sometimes large. */
size_t fuzz_split_next(struct fuzz_splitter *s, size_t left);

/* A connected AF_UNIX stream pair: fds[0] for the code under test, fds[1]
 * (non-blocking) for the harness.  Returns 0 or -1. */
int fuzz_socketpair(int fds[2]);
/* Write all of buf to the non-blocking fd; whenever the socket is full, run
 * pump(arg) (which should let the other end read).  False if the peer is gone
 * or nothing moves. */
bool fuzz_write_all(int fd, const void *buf, size_t len, void (*pump)(void *arg), void *arg);
/* Read and drop whatever is waiting on the non-blocking fd.  Returns bytes read. */
size_t fuzz_drain(int fd);
/* Bytes waiting to be read on fd. */
size_t fuzz_pending(int fd);

/* A stand-in for a reactor's thread: fuzz_post (a struct nvmf_conn_env .post)
 * queues work the core hands to "its thread"; fuzz_run_posted runs what is
 * queued, also what that work posts, and returns how many ran. */
void fuzz_post(void *thread, void (*fn)(void *arg), void *arg);
int fuzz_run_posted(void);
/* Whether posted work waits to run. */
bool fuzz_posted_pending(void);

/*
 * Harnesses on the controller core (fuzz_target.c): a target with subsystem
 * subnqn open to any host and a 1 MiB RAM namespace 1.  Returns the target;
 * *ss is the subsystem, for more namespaces and ports.
 */
struct nvmf_tgt;
struct nvmf_subsystem;
struct nvmf_tgt *fuzz_target_create(const char *subnqn, struct nvmf_subsystem **ss);

#endif
