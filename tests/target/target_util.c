/* Helpers for the target tests. */
#include "target_util.h"

#include <nvmf/tcp_spec.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static pid_t running_target;

/* A failed CHECK exits: take the daemon down with us. */
static void kill_target(void)
{
	if (running_target > 0)
		kill(running_target, SIGKILL);
}

void target_start(struct target *t, const char *nvmfd, const char *const *args)
{
	target_start_ex(t, nvmfd, args, -1, 0);
}

void target_start_ex(struct target *t, const char *nvmfd, const char *const *args, int stderr_fd, long nofile)
{
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	const char *argv[64];
	int n = 0;
	argv[n++] = nvmfd;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	t->pid = fork();
	CHECK(t->pid >= 0);
	if (t->pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		if (stderr_fd >= 0)
			dup2(stderr_fd, STDERR_FILENO);
		if (nofile > 0) {
			struct rlimit rl = {.rlim_cur = (rlim_t)nofile, .rlim_max = (rlim_t)nofile};
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
				perror("setrlimit");
				_exit(127);
			}
		}
		execv(nvmfd, (char *const *)argv);
		perror("exec nvmfd");
		_exit(127);
	}
	running_target = t->pid;
	atexit(kill_target);
	close(pipefd[1]);
	FILE *out = fdopen(pipefd[0], "r");
	CHECK(out);
	char line[512];
	t->port[0] = '\0';
	bool ready = false;
	while (!ready && fgets(line, sizeof(line), out)) {
		fputs(line, stderr);
		const char *p = strstr(line, "listening on tcp 127.0.0.1:");
		if (p && !t->port[0]) {
			p += strlen("listening on tcp 127.0.0.1:");
			size_t k = strspn(p, "0123456789");
			CHECK(k > 0 && k < sizeof(t->port));
			memcpy(t->port, p, k);
			t->port[k] = '\0';
		}
		ready = strstr(line, "nvmfd: ready") != NULL;
	}
	CHECK(ready && t->port[0]);
	/* Later stdout writes fail with EPIPE (nvmfd ignores SIGPIPE); its stderr stays ours. */
	fclose(out);
}

void target_stop(struct target *t)
{
	CHECK(kill(t->pid, SIGTERM) == 0);
	int status = 0;
	CHECK(waitpid(t->pid, &status, 0) == t->pid);
	running_target = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void target_check_refused(const char *nvmfd, const char *const *args)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		const char *argv[16] = {nvmfd, "--listen", "127.0.0.1:0"};
		for (int i = 0; args[i] && i < 12; i++)
			argv[3 + i] = args[i];
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execv(nvmfd, (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

int target_threads(pid_t pid, struct target_thread *out, int max)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	CHECK(d);
	int n = 0;
	for (struct dirent *e; n < max && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char path[384];
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* the thread has just ended */
		struct target_thread *t = &out[n];
		bool named = fgets(t->comm, sizeof(t->comm), f) != NULL;
		fclose(f);
		if (!named)
			continue;
		t->comm[strcspn(t->comm, "\n")] = '\0';
		t->tid = (pid_t)atoi(e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

const char *tcp_source_addr;

int tcp_connect(const char *port)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	CHECK(getaddrinfo("127.0.0.1", port, &hints, &ai) == 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (tcp_source_addr) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		CHECK(inet_pton(AF_INET, tcp_source_addr, &src.sin_addr) == 1);
		CHECK(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
	}
	CHECK(connect(fd, ai->ai_addr, ai->ai_addrlen) == 0);
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

bool host_sq_flow_control = true;
bool host_digests;

static struct nvmf_association *host_assoc(void)
{
	struct nvmf_association_params p = {
		.sq_flow_control = host_sq_flow_control,
		.header_digests = host_digests,
		.data_digests = host_digests,
		.maxr2t = 0,
	};
	struct nvmf_association *na = nvmf_association_create(NVMF_TRTYPE_TCP, false, &p);
	CHECK(na);
	return na;
}

int host_connect_admin(struct host *h, const char *port, const char *subnqn, const char *hostnqn, uint32_t kato_ms,
		       uint16_t qsize, struct nvme_completion *cqe)
{
	if (!h->na)
		h->na = host_assoc();
	h->port = port;
	h->subnqn = subnqn;
	h->hostnqn = hostnqn;
	/* A host ID tied to the NQN so that two hosts differ. */
	memset(h->hostid, 0, 16);
	memcpy(h->hostid, hostnqn + strlen(hostnqn) - 12, 12);
	struct nvmf_connect_params cp = {
		.qid = 0,
		.qsize = qsize,
		.cntlid = NVMF_CNTLID_DYNAMIC,
		.subnqn = subnqn,
		.hostnqn = hostnqn,
		.kato_ms = kato_ms,
		.timeout_ms = TEST_TIMEOUT_MS,
	};
	memcpy(cp.hostid, h->hostid, 16);
	return nvmf_connect(h->na, tcp_connect(port), &cp, &h->admin, &h->cntlid, cqe);
}

int host_connect_io(struct host *h, uint16_t qid, uint16_t cntlid, uint16_t qsize, struct nvmf_qpair **qp,
		    struct nvme_completion *cqe)
{
	struct nvmf_connect_params cp = {
		.qid = qid,
		.qsize = qsize,
		.cntlid = cntlid,
		.subnqn = h->subnqn,
		.hostnqn = h->hostnqn,
		.timeout_ms = TEST_TIMEOUT_MS,
	};
	memcpy(cp.hostid, h->hostid, 16);
	uint16_t got = 0;
	return nvmf_connect(h->na, tcp_connect(h->port), &cp, qp, &got, cqe);
}

uint16_t exec(struct nvmf_qpair *qp, const struct nvme_command *cmd, void *data, size_t len, bool send,
	      struct nvme_completion *cqe)
{
	struct nvme_completion c;
	int rc = nvmf_host_execute(qp, cmd, data, len, send, &c, TEST_TIMEOUT_MS);
	if (rc < 0) {
		fprintf(stderr, "command opc %#x: transport error %d\n", cmd->opc, rc);
		exit(1);
	}
	if (cqe)
		*cqe = c;
	return c.status & 0xfffe;
}

uint16_t prop_get(struct nvmf_qpair *qp, uint32_t offset, bool eight, uint64_t *value)
{
	struct nvmf_property_get_command pg = {
		.opc = NVME_OPC_FABRICS,
		.fctype = NVMF_FCTYPE_PROPERTY_GET,
		.attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4,
		.offset = offset,
	};
	struct nvme_command cmd;
	memcpy(&cmd, &pg, sizeof(cmd));
	struct nvme_completion c;
	uint16_t st = exec(qp, &cmd, NULL, 0, false, &c);
	if (value)
		*value = (uint64_t)c.cdw1 << 32 | c.cdw0;
	return st;
}

uint16_t prop_set(struct nvmf_qpair *qp, uint32_t offset, bool eight, uint64_t value)
{
	struct nvmf_property_set_command ps = {
		.opc = NVME_OPC_FABRICS,
		.fctype = NVMF_FCTYPE_PROPERTY_SET,
		.attrib = eight ? NVMF_PROP_SIZE_8 : NVMF_PROP_SIZE_4,
		.offset = offset,
		.value = value,
	};
	struct nvme_command cmd;
	memcpy(&cmd, &ps, sizeof(cmd));
	return exec(qp, &cmd, NULL, 0, false, NULL);
}

void host_enable(struct host *h)
{
	uint32_t cc = NVME_CC_EN | (6u << NVME_CC_IOSQES_SHIFT) | (4u << NVME_CC_IOCQES_SHIFT);
	CHECK(prop_set(h->admin, NVME_REG_CC, false, cc) == 0);
	uint64_t csts = 0;
	for (int i = 0; i < 100 && !(csts & NVME_CSTS_RDY); i++) {
		CHECK(prop_get(h->admin, NVME_REG_CSTS, false, &csts) == 0);
		if (!(csts & NVME_CSTS_RDY))
			sleep_ms(10);
	}
	CHECK(csts & NVME_CSTS_RDY);
}

void host_setup(struct host *h, const char *port, const char *subnqn, const char *hostnqn)
{
	memset(h, 0, sizeof(*h));
	int rc = host_connect_admin(h, port, subnqn, hostnqn, 0, 32, NULL);
	if (rc)
		fprintf(stderr, "admin connect to port %s: %d (%s)\n", port, rc, rc < 0 ? strerror(-rc) : "NVMe status");
	CHECK(rc == 0);
	host_enable(h);
	struct nvme_command sf = {.opc = NVME_OPC_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = 0x00030003};
	CHECK(exec(h->admin, &sf, NULL, 0, false, NULL) == 0);
	CHECK(host_connect_io(h, 1, h->cntlid, 128, &h->io, NULL) == 0);
	nvmf_association_set_ioccsz(h->na, 8192);
}

void host_close(struct host *h)
{
	if (h->io)
		nvmf_qpair_free(h->io);
	if (h->admin)
		nvmf_qpair_free(h->admin);
	if (h->na)
		nvmf_association_free(h->na);
	memset(h, 0, sizeof(*h));
}

uint16_t identify(struct nvmf_qpair *qp, uint8_t cns, uint32_t nsid, void *buf)
{
	struct nvme_command cmd = {.opc = NVME_OPC_IDENTIFY, .nsid = nsid, .cdw10 = cns};
	return exec(qp, &cmd, buf, NVME_IDENTIFY_DATA_SIZE, false, NULL);
}

uint16_t get_log(struct nvmf_qpair *qp, uint8_t lid, uint64_t offset, void *buf, size_t len)
{
	uint32_t numd = (uint32_t)(len / 4 - 1);
	struct nvme_command cmd = {
		.opc = NVME_OPC_GET_LOG_PAGE,
		.nsid = NVME_NSID_ALL,
		.cdw10 = lid | (numd & 0xffff) << 16,
		.cdw11 = numd >> 16,
		.cdw12 = (uint32_t)offset,
		.cdw13 = (uint32_t)(offset >> 32),
	};
	return exec(qp, &cmd, buf, len, false, NULL);
}

uint16_t rw(struct nvmf_qpair *qp, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, size_t len,
	    uint32_t cdw12_flags)
{
	struct nvme_command cmd = {
		.opc = opc,
		.nsid = nsid,
		.cdw10 = (uint32_t)slba,
		.cdw11 = (uint32_t)(slba >> 32),
		.cdw12 = ((nlb - 1) & 0xffff) | cdw12_flags,
	};
	bool send = opc == NVME_OPC_WRITE || opc == NVME_OPC_COMPARE;
	return exec(qp, &cmd, buf, len, send, NULL);
}

void fill_pattern(void *buf, size_t len, unsigned seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

void raw_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void raw_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		CHECK(poll(&pfd, 1, TEST_TIMEOUT_MS) == 1);
		ssize_t n = read(fd, p, len);
		CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void raw_send_capsule(int fd, const struct nvme_command *sqe, const void *icd, uint32_t icd_len)
{
	struct nvme_tcp_capsule_cmd cmd = {
		.ch = {.pdu_type = NVME_TCP_PDU_CAPSULE_CMD,
		       .hlen = sizeof(cmd),
		       .pdo = icd_len ? sizeof(cmd) : 0,
		       .plen = (uint32_t)sizeof(cmd) + icd_len},
		.sqe = *sqe,
	};
	raw_write(fd, &cmd, sizeof(cmd));
	if (icd_len)
		raw_write(fd, icd, icd_len);
}

struct nvme_completion raw_read_response(int fd)
{
	for (;;) {
		struct nvme_tcp_common_header ch;
		raw_read(fd, &ch, sizeof(ch));
		static uint8_t rest[256 * 1024];
		CHECK(ch.plen >= sizeof(ch) && ch.plen - sizeof(ch) <= sizeof(rest));
		raw_read(fd, rest, ch.plen - sizeof(ch));
		if (ch.pdu_type == NVME_TCP_PDU_CAPSULE_RESP) {
			struct nvme_completion c;
			memcpy(&c, rest, sizeof(c));
			return c;
		}
		CHECK(ch.pdu_type == NVME_TCP_PDU_C2H_DATA || ch.pdu_type == NVME_TCP_PDU_R2T);
	}
}
