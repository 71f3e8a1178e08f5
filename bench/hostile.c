/*
 * hostile: misbehaving hosts for bench/hostile-bench.sh.
 *
 *   hostile blocked PORT SUBNQN COUNT   COUNT hosts (admin + one I/O queue each) that queue reads
 *                                       of 6 MiB in all and never read: their queues stay blocked
 *   hostile flood PORT SUBNQN           one host streaming Keep Alives as fast as nvmfd takes
 *                                       them (reading the responses)
 *
 * Prints "ready" once the hosts are in place, then holds them until SIGINT or SIGTERM.
 * Connects to 127.0.0.1.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nvmf/tcp_spec.h>

#include "target_util.h"

#define COMMAND_LEN sizeof(struct nvme_tcp_capsule_cmd)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void build_command(uint8_t *pdu, const struct nvme_command *sqe, uint16_t cid)
{
	struct nvme_tcp_capsule_cmd c = {
		.ch = {.pdu_type = NVME_TCP_PDU_CAPSULE_CMD, .hlen = COMMAND_LEN, .plen = htole32(COMMAND_LEN)},
		.sqe = *sqe,
	};
	c.sqe.cid = cid;
	c.sqe.flags = NVME_CMD_PSDT_SGL;
	c.sqe.dptr.sgl.type = NVME_SGL_TRANSPORT;
	c.sqe.dptr.sgl.length = sqe->dptr.sgl.length;
	memcpy(pdu, &c, sizeof(c));
}

/* Queue reads whose data the sockets cannot hold, then never read. */
static void blocked(const char *port, const char *subnqn, int count)
{
	enum { READS = 48, XFER = 128 * 1024 };
	struct host *hosts = calloc((size_t)count, sizeof(*hosts));
	CHECK(hosts);
	for (int i = 0; i < count; i++) {
		host_setup(&hosts[i], port, subnqn, TEST_HOSTNQN);
		int fd = nvmf_qpair_fd(hosts[i].io);
		int small = 4096;
		CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
		struct nvme_command rd = {.opc = NVME_OPC_READ, .nsid = 1, .cdw12 = XFER / 512 - 1};
		rd.dptr.sgl.length = htole32(XFER);
		uint8_t pdus[READS * COMMAND_LEN];
		for (int c = 0; c < READS; c++)
			build_command(pdus + c * COMMAND_LEN, &rd, (uint16_t)c);
		CHECK(write(fd, pdus, sizeof(pdus)) == (ssize_t)sizeof(pdus));
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	for (int i = 0; i < count; i++)
		host_close(&hosts[i]);
	free(hosts);
}

static void flood(const char *port, const char *subnqn)
{
	struct host h;
	CHECK(host_connect_admin(&h, port, subnqn, TEST_HOSTNQN2, 0, 32, NULL) == 0);
	host_enable(&h);
	int fd = nvmf_qpair_fd(h.admin);
	enum { BATCH = 1024 };
	static uint8_t stream[BATCH * COMMAND_LEN], rbuf[1 << 16];
	const struct nvme_command ka = {.opc = NVME_OPC_KEEP_ALIVE};
	for (int i = 0; i < BATCH; i++)
		build_command(stream + i * COMMAND_LEN, &ka, (uint16_t)i);
	size_t off = 0;
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
		if (poll(&pfd, 1, 100) < 0)
			continue;
		if (pfd.revents & POLLOUT) {
			ssize_t n = write(fd, stream + off, sizeof(stream) - off);
			if (n > 0)
				off = (off + (size_t)n) % sizeof(stream);
		}
		if (pfd.revents & POLLIN) {
			ssize_t n = read(fd, rbuf, sizeof(rbuf));
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
		}
	}
	host_close(&h);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (argc == 5 && strcmp(argv[1], "blocked") == 0) {
		blocked(argv[2], argv[3], atoi(argv[4]));
	} else if (argc == 4 && strcmp(argv[1], "flood") == 0) {
		flood(argv[2], argv[3]);
	} else {
		fprintf(stderr, "usage: hostile blocked PORT SUBNQN COUNT | hostile flood PORT SUBNQN\n");
		return 2;
	}
	return 0;
}
