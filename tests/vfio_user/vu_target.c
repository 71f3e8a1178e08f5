/* Tests: nvmfd serving vfio-user sockets in a directory of its own. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vu_test.h"

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

int vu_target_start(const char *nvmfd, struct vu_target *t, const char *extra_flag, const char *extra_value)
{
	memset(t, 0, sizeof(*t));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(t->dir, sizeof(t->dir), "%s/nvmf-vu-XXXXXX", tmp);
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->sock, sizeof(t->sock), "%s/ctrl0.sock", t->dir);
	snprintf(t->sock2, sizeof(t->sock2), "%s/ctrl1.sock", t->dir);
	char l1[320], l2[320], rpc[320];
	snprintf(l1, sizeof(l1), "vfio-user:%s", t->sock);
	snprintf(l2, sizeof(l2), "vfio-user:%s", t->sock2);
	snprintf(rpc, sizeof(rpc), "%s/rpc.sock", t->dir);
	int pfd[2];
	if (pipe(pfd))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execl(nvmfd, nvmfd, "--listen", l1, "--listen", l2, "--listen", "127.0.0.1:0", "--subsystem", VU_TEST_NQN,
		      "--namespace", "ram:64M", "--rpc-socket", rpc, extra_flag, extra_value, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	t->pid = pid;
	FILE *f = fdopen(pfd[0], "r");
	char line[512];
	bool ready = false;
	while (!ready && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "listening on tcp 127.0.0.1:");
		if (p)
			t->tcp_port = atoi(p + strlen("listening on tcp 127.0.0.1:"));
		ready = strstr(line, "ready") != NULL;
	}
	pthread_t th;
	if (pthread_create(&th, NULL, drain, f) == 0)
		pthread_detach(th);
	else
		fclose(f);
	if (!ready || !t->tcp_port) {
		fprintf(stderr, "nvmfd did not start\n");
		vu_target_stop(t);
		return -1;
	}
	return 0;
}

bool vu_target_rpc(struct vu_target *t, const char *request)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[320];
	snprintf(path, sizeof(path), "%s/rpc.sock", t->dir);
	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	char reply[4096];
	size_t got = 0;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		  write(fd, request, strlen(request)) == (ssize_t)strlen(request);
	/* One answer: read until its braces balance (no string here holds a brace). */
	int depth = 0;
	bool started = false;
	while (ok && got < sizeof(reply) - 1 && !(started && depth == 0)) {
		ssize_t n = read(fd, reply + got, 1);
		if (n <= 0)
			break;
		depth += reply[got] == '{' ? 1 : reply[got] == '}' ? -1 : 0;
		started = started || reply[got] == '{';
		got++;
	}
	reply[got] = 0;
	close(fd);
	return ok && strstr(reply, "\"result\"") != NULL;
}

bool vu_target_alive(struct vu_target *t)
{
	return t->pid > 0 && waitpid(t->pid, NULL, WNOHANG) == 0;
}

int vu_target_stop(struct vu_target *t)
{
	int st = -1;
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		int ws;
		if (waitpid(t->pid, &ws, 0) == t->pid && WIFEXITED(ws))
			st = WEXITSTATUS(ws);
		t->pid = 0;
	}
	unlink(t->sock);
	unlink(t->sock2);
	char rpc[320];
	snprintf(rpc, sizeof(rpc), "%s/rpc.sock", t->dir);
	unlink(rpc);
	rmdir(t->dir);
	return st;
}
