/* Tests: run nvmfd and read its port from its log line. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn_nvmfd.h"

static void *drain(void *arg)
{
	FILE *f = arg;
	char line[512];
	while (fgets(line, sizeof(line), f))
		if (getenv("NVMFD_VERBOSE"))
			fputs(line, stderr);
	fclose(f);
	return NULL;
}

int nvmfd_start(const char *path, const char *subnqn, int port, struct nvmfd_proc *p)
{
	int pfd[2];
	if (pipe(pfd))
		return -1;
	char listen[64];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execl(path, path, "--listen", listen, "--subsystem", subnqn, "--namespace", "ram:64M", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	FILE *f = fdopen(pfd[0], "r");
	char line[512];
	p->pid = pid;
	p->port = 0;
	bool ready = false;
	while (!ready && fgets(line, sizeof(line), f)) {
		const char *l = strstr(line, "listening on tcp 127.0.0.1:");
		if (l)
			p->port = atoi(l + strlen("listening on tcp 127.0.0.1:"));
		ready = strstr(line, "ready") != NULL;
	}
	/* Keep draining its output so it never blocks on a full pipe. */
	pthread_t th;
	if (pthread_create(&th, NULL, drain, f) == 0)
		pthread_detach(th);
	else
		fclose(f);
	if (!ready || !p->port) {
		fprintf(stderr, "nvmfd did not start\n");
		nvmfd_stop(p, 1);
		return -1;
	}
	return 0;
}

void nvmfd_stop(struct nvmfd_proc *p, int hard)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, hard ? SIGKILL : SIGTERM);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}
