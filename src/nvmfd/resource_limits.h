/*
 * nvmfd's resource budgets against hosts that misbehave.  Set by flags and
 * by the JSON config's "limits" object (the flags' names with underscores);
 * see README.md.  The defaults suit a server facing hosts it does not trust.
 */
#ifndef NVMFD_RESOURCE_LIMITS_H
#define NVMFD_RESOURCE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define NVMFD_DEFAULT_MAX_CONNECTIONS 1024
#define NVMFD_DEFAULT_MAX_CONNECTIONS_PER_HOST 128
/*
 * Output queued for one connection is mostly references to memory bounded
 * elsewhere (a RAM namespace, or data buffers under the buffer budget), and
 * one sendmsg() takes as much of it as fits: 4 MiB lets 32 reads of 128 KiB
 * go out together (256 KiB held 128 KiB reads at 0.65x of their rate).
 */
#define NVMFD_DEFAULT_TX_BACKLOG (4 * 1024 * 1024)
#define NVMFD_DEFAULT_READ_BUDGET (64 * 1024)
#define NVMFD_DEFAULT_COMMANDS_PER_PASS 128

struct nvmfd_limits {
	/* Connections open at once, all hosts together; more are closed at accept. */
	uint64_t max_connections;
	/* Connections open at once from one host address. */
	uint64_t max_connections_per_host;
	/* Per connection: unsent output (bytes plus bookkeeping) at which its input stops being read. */
	uint64_t tx_backlog;
	/* Per connection: bytes read in one reactor pass. */
	uint64_t read_budget;
	/* Per connection: PDUs (commands, write data) handled in one reactor pass; 0: no limit. */
	uint64_t commands_per_pass;
	/* Request data buffers of the whole process (a queue may hold a quarter). */
	uint64_t buffer_budget;
	/* Per queue: entries a host may ask for (CAP.MQES + 1). */
	uint64_t max_queue_size;
	/* Per controller: I/O queues granted. */
	uint64_t max_io_queues;
	/* Per subsystem: controllers (associations) at once. */
	uint64_t max_associations;
};

struct nvmfd_limits nvmfd_limits_default(void);
/*
 * Set the limit named (a flag's name, e.g. "max-connections") from "N" or
 * "N[K|M|G]" (1024-based).  0, or -1 with a message in err naming the range.
 */
int nvmfd_limits_set(struct nvmfd_limits *l, const char *name, const char *value, char *err, size_t errlen);
/* Whether name is one of the limits (a flag of nvmfd). */
int nvmfd_limits_known(const char *name);
/* One line describing the limits in force, for the log. */
void nvmfd_limits_describe(const struct nvmfd_limits *l, char *buf, size_t len);

#endif
