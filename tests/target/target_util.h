/*
 * Helpers for the target tests: run nvmfd on an ephemeral port and talk to
 * it through the transport layer's blocking host API.
 */
#ifndef TARGET_UTIL_H
#define TARGET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include <nvmf/fabrics_spec.h>
#include <nvmf/nvme_admin_spec.h>
#include <nvmf/nvme_spec.h>
#include <nvmf/transport.h>

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

/* Compare an NVMe status (phase bit ignored, DNR ignored) with sct/sc. */
#define CHECK_STATUS(st, sct, sc)                                                                              \
	do {                                                                                                   \
		uint16_t st_ = (uint16_t)(st);                                                                 \
		if (NVME_STATUS_GET_SCT(st_) != (sct) || NVME_STATUS_GET_SC(st_) != (sc)) {                    \
			fprintf(stderr, "%s:%d: status sct %#x sc %#x, want sct %#x sc %#x\n", __FILE__, __LINE__, \
				NVME_STATUS_GET_SCT(st_), NVME_STATUS_GET_SC(st_), (unsigned)(sct), (unsigned)(sc)); \
			exit(1);                                                                               \
		}                                                                                              \
	} while (0)

#define TEST_TIMEOUT_MS 5000
#define TEST_NQN "nqn.2024-01.io.nvmf:test"
#define TEST_NQN_RESTRICTED "nqn.2024-01.io.nvmf:restricted"
#define TEST_HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define TEST_HOSTNQN2 "nqn.2014-08.org.nvmexpress:uuid:66666666-7777-8888-9999-000000000000"
#define TEST_ALLOWED_HOSTNQN "nqn.2024-01.io.nvmf:allowed-host"

struct target {
	pid_t pid;
	char port[16];
};

/* Start nvmfd (path) with args (NULL terminated) plus --listen 127.0.0.1:0; wait until ready. */
void target_start(struct target *t, const char *nvmfd, const char *const *args);
/* The same; stderr_fd >= 0 becomes nvmfd's stderr, nofile > 0 its RLIMIT_NOFILE (soft and hard). */
void target_start_ex(struct target *t, const char *nvmfd, const char *const *args, int stderr_fd, long nofile);
/* SIGTERM it; check a clean exit. */
void target_stop(struct target *t);
/* nvmfd (path) with args (at most 12) plus --listen 127.0.0.1:0 must refuse to start: exit status 2. */
void target_check_refused(const char *nvmfd, const char *const *args);

/* A thread of a process, as /proc shows it. */
struct target_thread {
	pid_t tid;
	char comm[16]; /* its name, without the newline */
};
/* The threads of process pid, at most max of them into out: how many were written. */
int target_threads(pid_t pid, struct target_thread *out, int max);

/* Connect to 127.0.0.1:port from tcp_source_addr (NULL: the kernel's choice); hosts use it too. */
int tcp_connect(const char *port);
extern const char *tcp_source_addr;

struct host {
	struct nvmf_association *na;
	struct nvmf_qpair *admin;
	struct nvmf_qpair *io;
	uint16_t cntlid;
	const char *hostnqn;
	uint8_t hostid[16];
	const char *port;
	const char *subnqn;
};

/* Hosts created from now on keep SQ flow control (false: they disable it in Connect). */
extern bool host_sq_flow_control;
/* Hosts created from now on ask for header and data digests. */
extern bool host_digests;

/* Connect the admin queue: 0, a negative errno, or a positive NVMe status (cqe filled). */
int host_connect_admin(struct host *h, const char *port, const char *subnqn, const char *hostnqn, uint32_t kato_ms,
		       uint16_t qsize, struct nvme_completion *cqe);
/* Enable the controller (CC.EN), wait for CSTS.RDY. */
void host_enable(struct host *h);
/* Connect I/O queue qid naming cntlid: 0, negative errno or positive status. */
int host_connect_io(struct host *h, uint16_t qid, uint16_t cntlid, uint16_t qsize, struct nvmf_qpair **qp,
		    struct nvme_completion *cqe);
/* Admin + enable + Set Features queues + one I/O queue; everything must work. */
void host_setup(struct host *h, const char *port, const char *subnqn, const char *hostnqn);
void host_close(struct host *h);

/* Run a command; returns the status without the phase bit (DNR kept); cqe optional. */
uint16_t exec(struct nvmf_qpair *qp, const struct nvme_command *cmd, void *data, size_t len, bool send,
	      struct nvme_completion *cqe);
uint16_t prop_get(struct nvmf_qpair *qp, uint32_t offset, bool eight, uint64_t *value);
uint16_t prop_set(struct nvmf_qpair *qp, uint32_t offset, bool eight, uint64_t value);
uint16_t identify(struct nvmf_qpair *qp, uint8_t cns, uint32_t nsid, void *buf);
uint16_t get_log(struct nvmf_qpair *qp, uint8_t lid, uint64_t offset, void *buf, size_t len);
uint16_t rw(struct nvmf_qpair *qp, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, size_t len,
	    uint32_t cdw12_flags);

/* Blocking raw socket I/O for hand-made PDUs; any failure fails the test. */
void raw_write(int fd, const void *buf, size_t len);
void raw_read(int fd, void *buf, size_t len);

/* A command capsule with icd_len bytes of in-capsule data, as it is (no SGL filled in). */
void raw_send_capsule(int fd, const struct nvme_command *sqe, const void *icd, uint32_t icd_len);
/* The next response on fd; C2HData and R2T PDUs before it are skipped. */
struct nvme_completion raw_read_response(int fd);

void fill_pattern(void *buf, size_t len, unsigned seed);
void sleep_ms(int ms);

#endif
