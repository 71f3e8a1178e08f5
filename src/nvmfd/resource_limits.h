/*
 * nvmfd's resource budgets against hosts that misbehave.  Set by flags and
 * by the JSON config's "limits" object; see README.md.  The defaults suit a
 * server facing hosts it does not trust.
 */
#ifndef NVMFD_RESOURCE_LIMITS_H
#define NVMFD_RESOURCE_LIMITS_H

#include <stddef.h>

#define NVMFD_DEFAULT_MAX_CONNECTIONS 1024
#define NVMFD_DEFAULT_MAX_CONNECTIONS_PER_HOST 128
#define NVMFD_DEFAULT_TX_BACKLOG (256 * 1024)
#define NVMFD_DEFAULT_READ_BUDGET (64 * 1024)
#define NVMFD_DEFAULT_COMMANDS_PER_PASS 128

struct nvmfd_limits {
	/* Connections open at once, all hosts together; more are closed at accept. */
	unsigned max_connections;
	/* Connections open at once from one host address. */
	unsigned max_connections_per_host;
	/* Per connection: unsent output (bytes plus bookkeeping) at which its input stops being read. */
	size_t tx_backlog;
	/* Per connection: bytes read in one reactor pass. */
	size_t read_budget;
	/* Per connection: PDUs (commands, write data) handled in one reactor pass; 0: no limit. */
	unsigned commands_per_pass;
};

/* Bounds on the values accepted. */
#define NVMFD_MIN_READ_BUDGET 4096
#define NVMFD_MIN_TX_BACKLOG 4096

struct nvmfd_limits nvmfd_limits_default(void);
/*
 * Set the limit named (a flag's name: "max-connections", "max-connections-per-host",
 * "tx-backlog", "read-budget", "commands-per-pass") from "N" or "N[K|M|G]" (1024-based).
 * All but read-budget take 0 for "no limit".  0, or -1 with a message in err.
 */
int nvmfd_limits_set(struct nvmfd_limits *l, const char *name, const char *value, char *err, size_t errlen);
/* One line describing the limits in force, for the log. */
void nvmfd_limits_describe(const struct nvmfd_limits *l, char *buf, size_t len);

#endif
