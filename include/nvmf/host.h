/*
 * The NVMe over Fabrics host library.
 *
 * A controller handle (struct nvmf_host_ctrl) is one association: an admin
 * queue plus N I/O queues, each its own TCP connection.  Connecting follows
 * the Linux host: admin Connect, Property Get CAP, Property Set CC.EN,
 * wait for CSTS.RDY, Identify Controller, Set Features Number of Queues,
 * then one Connect per I/O queue.
 *
 * Return values, everywhere below unless stated otherwise:
 *   0             success;
 *   negative      a local or transport error (-errno);
 *   positive      the controller answered with an NVMe status: the CQE
 *                 status field without its phase bit (NVME_STATUS() form,
 *                 with DNR/More); nvmf_host_status_str() names it.
 * nvmf_host_ctrl_error() then holds a sentence saying what failed.
 *
 * Threads: the admin queue belongs to the thread that connected (it makes
 * every admin and nvmf_host_ctrl_* call); each I/O queue pair belongs to the
 * thread that submits on it and polls it.  Different queue pairs may be
 * driven by different threads.
 *
 * Keep Alive: when KATO is non-zero, Keep Alive commands go out every
 * KATO/2 from nvmf_host_ctrl_process(), from every blocking admin call and
 * from blocking I/O calls made on the thread that connected; a user of the
 * asynchronous API must call nvmf_host_ctrl_process() now and then.
 */
#ifndef NVMF_HOST_H
#define NVMF_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/fabrics_spec.h>
#include <nvmf/nvme_admin_spec.h>
#include <nvmf/nvme_spec.h>

struct nvmf_host_ctrl;
struct nvmf_host_qpair;

/* ---- Addresses and host identity ---- */

/* A target address: transport, address, service and subsystem NQN. */
struct nvmf_host_addr {
	enum nvmf_trtype trtype;
	enum nvmf_adrfam adrfam;
	char traddr[256];
	char trsvcid[32];
	char subnqn[NVME_NQN_FIELD]; /* "" when not given */
};

/*
 * Parse a target address in either form:
 *   tcp://127.0.0.1:4420/nqn.2014-08.org.nvmexpress.discovery   ([v6addr] allowed, NQN optional)
 *   trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:NQN   (SPDK transport ID; also '=' separators)
 * The service defaults to 4420 and adrfam to what traddr looks like.
 * Returns 0, or -EINVAL with a message in err.
 */
int nvmf_host_parse_address(const char *s, struct nvmf_host_addr *addr, char *err, size_t errlen);
/* Format an address as a tcp:// URI. */
void nvmf_host_format_address(const struct nvmf_host_addr *addr, char *buf, size_t len);

/* "nqn.2014-08.org.nvmexpress:uuid:<uuid>" from a host ID. */
void nvmf_host_nqn_from_hostid(const uint8_t hostid[16], char *nqn, size_t len);
/* Parse a UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int nvmf_host_parse_uuid(const char *s, uint8_t out[16]);
void nvmf_host_format_uuid(const uint8_t id[16], char *buf, size_t len);

/* ---- Connecting ---- */

struct nvmf_host_opts {
	char hostnqn[NVME_NQN_FIELD];
	uint8_t hostid[16];
	uint16_t nr_io_queues; /* 0: admin queue only (discovery) */
	uint16_t admin_qsize;  /* entries (default 32, as Linux) */
	uint16_t io_qsize;     /* entries (default 128, capped by CAP.MQES + 1) */
	bool hdgst, ddgst;
	/* Ask the controller to disable SQ flow control (Connect CATTR): it may
	 * then end a read with a C2HData SUCCESS flag and no response capsule. */
	bool disable_sq_flow_control;
	uint32_t kato_ms;       /* 0: no keep alive */
	/* vfio-user: I/O queues without interrupts (the caller polls them). */
	bool polled_io_queues;
	/* vfio-user: bytes set aside for nvmf_host_io_buffer() (0: none). */
	size_t io_buffer_bytes;
	int timeout_ms;         /* per admin command and per connection step */
	/* Reconnect after a lost connection, as nvme-cli's --reconnect-delay and
	 * --ctrl-loss-tmo: retry every reconnect_delay_s until ctrl_loss_tmo_s
	 * has passed (0: never reconnect, fail at once). */
	int reconnect_delay_s;
	int ctrl_loss_tmo_s;
	/* DH-HMAC-CHAP, as nvme-cli's --dhchap-secret and --dhchap-ctrl-secret:
	 * "DHHC-1:0N:<base64>:", empty for none.  With a controller secret the
	 * controller must prove itself too (bidirectional), asked or not.
	 * hashes / dhgroups: what to offer, in order ("hmac(sha256),..." and
	 * "ffdhe2048,null,..."); empty: all. */
	char dhchap_secret[128];
	char dhchap_ctrl_secret[128];
	char dhchap_hashes[64];
	char dhchap_dhgroups[96];
	/* TLS 1.3 with a PSK (nvme-cli's --tls-key): the configured PSK in the
	 * interchange format "NVMeTLSkey-1:0N:<base64>:", empty for plain TCP.
	 * tls_identity: the PSK identity offered, 0 "NVMe0R0H NQNh NQNc" or 1
	 * "NVMe1R0H NQNh NQNc <PSK digest>". */
	char tls_key[128];
	int tls_identity;
	/* Derive the retained and TLS PSKs with TP 8011's HkdfLabel rather than as
	 * nvme-cli (and so the Linux keyring) does (lib/auth/tls_psk.h). */
	bool tls_tp8011;
};

/*
 * Defaults as nvme-cli: host NQN and ID from /etc/nvme/hostnqn and
 * /etc/nvme/hostid when present, else generated (a random UUID, and the
 * NQN derived from it; an ID matching the NQN's UUID when only the NQN file exists).
 * KATO 5 s, 1 I/O queue, no digests, 10 s timeout, no reconnect.
 */
void nvmf_host_opts_default(struct nvmf_host_opts *opts);

/*
 * Connect an association.  addr->subnqn must be set.  On success *ctrlp is
 * the controller.  On failure a message is written to err.
 */
int nvmf_host_connect(const struct nvmf_host_addr *addr, const struct nvmf_host_opts *opts,
		      struct nvmf_host_ctrl **ctrlp, char *err, size_t errlen);
/*
 * len bytes (4 KiB aligned) of memory that the controller's transport moves
 * I/O data to and from without a copy: on vfio-user, memory shared with the
 * device, out of opts.io_buffer_bytes; I/O data elsewhere goes through a
 * bounce buffer.  Valid until the controller is freed.  NULL when the
 * transport has no such memory (NVMe/TCP) or the room is used up: use any
 * memory then.  Not to be called while another thread uses ctrl.
 */
void *nvmf_host_io_buffer(struct nvmf_host_ctrl *ctrl, size_t len);

/*
 * Close the I/O queues (outstanding I/O completes with -ECONNABORTED), then
 * shut the controller down: CC.SHN normal, wait for CSTS.SHST complete.
 * Returns 0 when the shutdown completed; the admin queue stays open.
 */
int nvmf_host_shutdown(struct nvmf_host_ctrl *ctrl);
/* nvmf_host_shutdown() unless done, then close everything and free.  Returns as shutdown. */
int nvmf_host_disconnect(struct nvmf_host_ctrl *ctrl);

/*
 * Run DH-HMAC-CHAP again on a queue (NULL: the admin queue), from the
 * thread that owns it.  0, or a negative errno with the reason in
 * nvmf_host_ctrl_error (-EACCES: refused by either end).
 */
int nvmf_host_reauthenticate(struct nvmf_host_ctrl *ctrl, struct nvmf_host_qpair *qp);

/* What went wrong last (a sentence with the NVMe status in words). */
const char *nvmf_host_ctrl_error(const struct nvmf_host_ctrl *ctrl);
uint16_t nvmf_host_ctrl_cntlid(const struct nvmf_host_ctrl *ctrl);
const struct nvme_id_ctrl *nvmf_host_ctrl_identify_data(const struct nvmf_host_ctrl *ctrl);
uint64_t nvmf_host_ctrl_cap(const struct nvmf_host_ctrl *ctrl);
/* Largest data transfer per command (from MDTS; 0: no limit). */
uint32_t nvmf_host_ctrl_max_xfer(const struct nvmf_host_ctrl *ctrl);
const struct nvmf_host_addr *nvmf_host_ctrl_addr(const struct nvmf_host_ctrl *ctrl);
unsigned nvmf_host_ctrl_nr_io_queues(const struct nvmf_host_ctrl *ctrl);
/* The i-th I/O queue pair (0-based; queue ID i + 1). */
struct nvmf_host_qpair *nvmf_host_ctrl_io_qpair(struct nvmf_host_ctrl *ctrl, unsigned i);

/*
 * Service the admin queue without blocking: handle responses, send a Keep
 * Alive when due.  Returns 0, or a negative errno once the association failed.
 */
int nvmf_host_ctrl_process(struct nvmf_host_ctrl *ctrl);
/* The admin queue's file descriptor, and milliseconds until the next Keep Alive is due (-1: none). */
int nvmf_host_ctrl_fd(const struct nvmf_host_ctrl *ctrl);
int nvmf_host_ctrl_next_timeout_ms(const struct nvmf_host_ctrl *ctrl);
/* Keep Alive commands sent so far (tests). */
uint64_t nvmf_host_ctrl_keep_alives(const struct nvmf_host_ctrl *ctrl);

/*
 * Tear the association down and connect again with the same parameters,
 * retrying every reconnect_delay_s until ctrl_loss_tmo_s.  The I/O queue
 * pair handles stay valid; I/O that was outstanding when the connection
 * was lost is resubmitted.  Called by the library itself when a queue pair
 * fails and reconnecting is enabled.  It touches every queue pair, so
 * enable reconnecting only when one thread drives the whole controller.
 */
int nvmf_host_ctrl_reconnect(struct nvmf_host_ctrl *ctrl);
/* Reconnections done so far. */
unsigned nvmf_host_ctrl_reconnects(const struct nvmf_host_ctrl *ctrl);

/* ---- Admin commands (blocking) ---- */

int nvmf_host_property_get(struct nvmf_host_ctrl *ctrl, uint32_t offset, bool eight, uint64_t *value);
int nvmf_host_property_set(struct nvmf_host_ctrl *ctrl, uint32_t offset, bool eight, uint64_t value);
/* Identify with this CNS into buf (4096 bytes). */
int nvmf_host_identify(struct nvmf_host_ctrl *ctrl, uint8_t cns, uint32_t nsid, uint16_t cntid, void *buf);
/* Active namespace IDs (CNS 2, following pages as needed); *list malloc'd, free() it. */
int nvmf_host_active_namespaces(struct nvmf_host_ctrl *ctrl, uint32_t **list, size_t *count);
/* Get Log Page of len bytes at offset (split by the transfer limit); *got: bytes received, also on failure. */
int nvmf_host_get_log_page(struct nvmf_host_ctrl *ctrl, uint8_t lid, uint32_t nsid, uint8_t lsp, uint64_t offset,
			   void *buf, size_t len, size_t *got);
/* Get/Set Features; *result is completion DW0.  buf may be NULL. */
int nvmf_host_get_features(struct nvmf_host_ctrl *ctrl, uint8_t fid, uint8_t sel, uint32_t nsid, uint32_t cdw11,
			   void *buf, size_t len, uint32_t *result);
int nvmf_host_set_features(struct nvmf_host_ctrl *ctrl, uint8_t fid, uint32_t nsid, uint32_t cdw11, bool save,
			   void *buf, size_t len, uint32_t *result);
/*
 * Admin passthrough: send sqe (CID and data pointer are filled in) with an
 * optional buffer (send: host to controller).  *cqe gets the response.
 * *got (may be NULL) gets the bytes transferred, also on failure.
 */
int nvmf_host_admin_passthru(struct nvmf_host_ctrl *ctrl, const struct nvme_command *sqe, void *buf, size_t len,
			     bool send, struct nvme_completion *cqe, size_t *got);

/*
 * Read the whole discovery log: the header, then numrec entries; again when
 * the generation counter changed meanwhile.  *logp is malloc'd (header then
 * entries), free() it; *count is the number of entries.
 */
int nvmf_host_discover(struct nvmf_host_ctrl *ctrl, struct nvmf_discovery_log_header **logp, size_t *count);
static inline struct nvmf_discovery_log_entry *nvmf_host_discovery_entry(struct nvmf_discovery_log_header *log,
									  size_t i)
{
	return (struct nvmf_discovery_log_entry *)(log + 1) + i;
}

/* ---- I/O (asynchronous) ---- */

struct nvmf_host_completion {
	int error;          /* 0, or a negative errno when the command got no response */
	uint16_t status;    /* NVMe status (without phase), 0 on success */
	uint32_t cdw0;
	uint32_t cdw1;
	size_t transferred; /* data bytes moved, also when the command failed */
};

/* Runs once per submitted command, from nvmf_host_qpair_process() (or disconnect). */
typedef void (*nvmf_host_io_cb)(void *arg, const struct nvmf_host_completion *cpl);

/*
 * Queue a command.  Nothing is sent until nvmf_host_qpair_flush() or
 * nvmf_host_qpair_process(); submitting from a completion callback is fine.
 * Returns 0, -EBUSY when the queue is full, or another negative errno.
 * Buffers stay the caller's and must live until the callback.
 * len is the data length in bytes (nlb blocks of the namespace's format).
 */
int nvmf_host_read(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, size_t len,
		   nvmf_host_io_cb cb, void *arg);
int nvmf_host_write(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
		    size_t len, nvmf_host_io_cb cb, void *arg);
int nvmf_host_compare(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
		      size_t len, nvmf_host_io_cb cb, void *arg);
int nvmf_host_flush(struct nvmf_host_qpair *qp, uint32_t nsid, nvmf_host_io_cb cb, void *arg);
/* flags: CDW12 bits, e.g. NVME_WZ_DEALLOCATE. */
int nvmf_host_write_zeroes(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, uint32_t flags,
			   nvmf_host_io_cb cb, void *arg);
/* ranges must stay valid until the callback; attributes e.g. NVME_DSM_ATTR_DEALLOCATE. */
int nvmf_host_dsm(struct nvmf_host_qpair *qp, uint32_t nsid, const struct nvme_dsm_range *ranges, unsigned nr,
		  uint32_t attributes, nvmf_host_io_cb cb, void *arg);
/* I/O passthrough (CID and data pointer are filled in). */
int nvmf_host_io_submit(struct nvmf_host_qpair *qp, const struct nvme_command *sqe, void *buf, size_t len,
			bool send, nvmf_host_io_cb cb, void *arg);

/* Send queued commands: 0, -EAGAIN when some output waits for the socket, other negative errno. */
int nvmf_host_qpair_flush(struct nvmf_host_qpair *qp);
/*
 * Handle what arrived (running callbacks) and flush, without blocking.
 * Returns the number of commands completed, or a negative errno once the
 * queue pair failed (outstanding commands then complete with error < 0,
 * unless a reconnect is under way).
 */
int nvmf_host_qpair_process(struct nvmf_host_qpair *qp);
/* Poll this for POLLIN (and POLLOUT when nvmf_host_qpair_want_write). */
int nvmf_host_qpair_fd(const struct nvmf_host_qpair *qp);
bool nvmf_host_qpair_want_write(const struct nvmf_host_qpair *qp);
/* Block up to timeout_ms (-1: forever) for progress, then process. */
int nvmf_host_qpair_wait(struct nvmf_host_qpair *qp, int timeout_ms);
unsigned nvmf_host_qpair_outstanding(const struct nvmf_host_qpair *qp);
uint16_t nvmf_host_qpair_qid(const struct nvmf_host_qpair *qp);
/* Commands the queue can hold at once. */
unsigned nvmf_host_qpair_depth(const struct nvmf_host_qpair *qp);
const char *nvmf_host_qpair_error(const struct nvmf_host_qpair *qp);

/* ---- I/O (blocking) ---- */

/* Submit, flush and wait for the completion; return as above, *cpl (may be NULL) filled. */
int nvmf_host_read_sync(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf,
			size_t len, struct nvmf_host_completion *cpl);
int nvmf_host_write_sync(struct nvmf_host_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *buf,
			 size_t len, struct nvmf_host_completion *cpl);
int nvmf_host_io_sync(struct nvmf_host_qpair *qp, const struct nvme_command *sqe, void *buf, size_t len, bool send,
		      struct nvmf_host_completion *cpl);

/* ---- Namespaces ---- */

struct nvmf_host_ns_info {
	uint32_t nsid;
	uint64_t nsze;        /* blocks */
	uint64_t ncap, nuse;
	uint32_t block_size;  /* bytes */
	uint16_t ms;          /* metadata bytes per block */
};
/* Identify Namespace and decode the in-use format.  Returns as above; -ENOENT for an inactive namespace. */
int nvmf_host_ns_info(struct nvmf_host_ctrl *ctrl, uint32_t nsid, struct nvmf_host_ns_info *info);

/* ---- Status in words ---- */

/*
 * "LBA_RANGE: The command references an LBA that exceeds the size of the
 * namespace" for a status (the CQE status without phase).  fabrics: the
 * command was a Fabrics command (its command specific codes differ).
 */
const char *nvmf_host_status_str(uint16_t status, bool fabrics);
/* As above with the value appended, as nvme-cli prints it: "...namespace (0x80)". */
void nvmf_host_status_format(uint16_t status, bool fabrics, char *buf, size_t len);
/* A return value of this library in words: NVMe status or strerror. */
void nvmf_host_result_format(int rc, char *buf, size_t len);

#endif
