/* vfio-user tests: nvmfd with vfio-user and TCP listeners in a temporary directory, and checks. */
#ifndef NVMF_VU_TEST_H
#define NVMF_VU_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

static int failures __attribute__((unused));
#define CHECK(cond, ...)                                                                                             \
	do {                                                                                                         \
		if (cond) {                                                                                          \
			printf("ok - ");                                                                             \
		} else {                                                                                             \
			printf("FAIL (%s:%d) - ", __FILE__, __LINE__);                                               \
			failures++;                                                                                  \
		}                                                                                                    \
		printf(__VA_ARGS__);                                                                                 \
		printf("\n");                                                                                        \
		fflush(stdout);                                                                                      \
	} while (0)

#define VU_TEST_NQN "nqn.2024-01.io.nvmf:vfiouser-test"

struct vu_target {
	pid_t pid;
	char dir[256];
	char sock[300];  /* the vfio-user socket */
	char sock2[300]; /* a second device (its own controller) */
	int tcp_port;
};

/* Start nvmfd (path) with two vfio-user sockets and a TCP listener on one 64 MiB RAM namespace,
 * and one more flag with its value (NULL, NULL: none).  0 or -1. */
int vu_target_start(const char *nvmfd, struct vu_target *t, const char *extra_flag, const char *extra_value);
/* The process still runs. */
bool vu_target_alive(struct vu_target *t);
/* One JSON-RPC request (a whole object) to nvmfd's RPC socket: true when the answer has a "result". */
bool vu_target_rpc(struct vu_target *t, const char *request);
/* SIGTERM, reap, remove the directory; returns the exit status (-1 when killed). */
int vu_target_stop(struct vu_target *t);

#endif
