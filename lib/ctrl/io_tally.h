/*
 * The latencies of one queue's answered I/O commands, per controller and per
 * namespace.  They are gathered here without atomics and folded into the
 * shared histograms (read by the management API and metrics) at the end of
 * each pass of the queue, not once per command, which saves the shared
 * atomics and a clock read per command (4 % more IOPS over vfio-user at
 * QD32).  Command and byte counts stay exact per command.
 *
 * Latency is therefore measured at a pass's granularity: a command arrives
 * when the pass that took it first read the clock, and is answered when the
 * pass that answered it folds; a histogram may show an answered command a
 * pass (microseconds) later.  An answer outside a pass (a backend's
 * callback) is folded at once.  Runs on the queue's thread only.
 */
#ifndef NVMF_CTRL_IO_TALLY_H
#define NVMF_CTRL_IO_TALLY_H

#include <stdbool.h>
#include <stdint.h>

struct nvmf_conn;
struct nvmf_namespace;

#define NVMF_TALLY_MAX 256

struct nvmf_io_tally {
	bool in_pass;
	uint64_t pass_ns; /* the clock, read at the pass's first command; 0 until then */
	/* The namespace of the commands gathered (referenced), or NULL for none. */
	struct nvmf_namespace *ns;
	unsigned n;
	uint64_t arrived[NVMF_TALLY_MAX];
};

/* A pass of the queue begins / ends (the end folds). */
void nvmf_tally_pass_begin(struct nvmf_conn *conn);
void nvmf_tally_pass_end(struct nvmf_conn *conn);
/* The arrival time to stamp on an I/O command taken now. */
uint64_t nvmf_tally_arrival(struct nvmf_conn *conn);
/* Gather an answered I/O command that arrived at arrived_ns, on ns (NULL: none). */
void nvmf_tally_answer(struct nvmf_conn *conn, struct nvmf_namespace *ns, uint64_t arrived_ns);
/* Fold what is gathered into the shared histograms now (before the queue leaves its controller). */
void nvmf_tally_fold(struct nvmf_conn *conn);

#endif
