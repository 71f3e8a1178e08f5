/* Tests: run nvmfd on 127.0.0.1 and learn its port. */
#ifndef NVMF_TEST_SPAWN_NVMFD_H
#define NVMF_TEST_SPAWN_NVMFD_H

#include <sys/types.h>

struct nvmfd_proc {
	pid_t pid;
	int port;
};

/* Start nvmfd (binary path) serving subnqn with a 64 MiB RAM namespace on port (0: ephemeral).
 * Waits for "ready".  Returns 0, or -1 (message on stderr). */
int nvmfd_start(const char *path, const char *subnqn, int port, struct nvmfd_proc *p);
/* SIGTERM (or SIGKILL when hard) and reap. */
void nvmfd_stop(struct nvmfd_proc *p, int hard);

#endif
