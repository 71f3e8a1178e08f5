/* nvmfd's resource budgets: one table of names, ranges and defaults. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ctrl/target.h"
#include "resource_limits.h"
#include "util/size.h"

static const struct limit {
	const char *name; /* the flag; the config key is the same with underscores */
	size_t offset;
	uint64_t min, max;
	bool zero_unlimited; /* 0 is accepted and means no limit */
} limits[] = {
	{"max-connections", offsetof(struct nvmfd_limits, max_connections), 1, 1000000, true},
	{"max-connections-per-host", offsetof(struct nvmfd_limits, max_connections_per_host), 1, 1000000, true},
	{"tx-backlog", offsetof(struct nvmfd_limits, tx_backlog), 4096, 1u << 30, true},
	{"read-budget", offsetof(struct nvmfd_limits, read_budget), 4096, 1u << 30, false},
	{"commands-per-pass", offsetof(struct nvmfd_limits, commands_per_pass), 1, 1000000, true},
	{"buffer-budget", offsetof(struct nvmfd_limits, buffer_budget), NVMF_MIN_BUFFER_BUDGET, (uint64_t)1 << 40, false},
	{"max-queue-size", offsetof(struct nvmfd_limits, max_queue_size), 2, NVMF_MAX_QUEUE_ENTRIES, false},
	{"max-io-queues", offsetof(struct nvmfd_limits, max_io_queues), 1, NVMF_MAX_IO_QUEUES, false},
	{"max-associations", offsetof(struct nvmfd_limits, max_associations), 1, 65519, false},
};

struct nvmfd_limits nvmfd_limits_default(void)
{
	return (struct nvmfd_limits){
		.max_connections = NVMFD_DEFAULT_MAX_CONNECTIONS,
		.max_connections_per_host = NVMFD_DEFAULT_MAX_CONNECTIONS_PER_HOST,
		.tx_backlog = NVMFD_DEFAULT_TX_BACKLOG,
		.read_budget = NVMFD_DEFAULT_READ_BUDGET,
		.commands_per_pass = NVMFD_DEFAULT_COMMANDS_PER_PASS,
		.buffer_budget = NVMF_DEFAULT_BUFFER_BUDGET,
		.max_queue_size = NVMF_MAX_QUEUE_ENTRIES,
		.max_io_queues = NVMF_MAX_IO_QUEUES,
		.max_associations = NVMF_DEFAULT_ASSOCIATIONS,
	};
}

static const struct limit *find(const char *name)
{
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (strcmp(limits[i].name, name) == 0)
			return &limits[i];
	return NULL;
}

int nvmfd_limits_known(const char *name)
{
	return find(name) != NULL;
}

int nvmfd_limits_set(struct nvmfd_limits *l, const char *name, const char *value, char *err, size_t errlen)
{
	const struct limit *d = find(name);
	if (!d) {
		snprintf(err, errlen, "unknown limit '%s'", name);
		return -1;
	}
	uint64_t v;
	if (nvmf_parse_size(value, &v) < 0 || v > d->max || (v < d->min && !(v == 0 && d->zero_unlimited))) {
		snprintf(err, errlen, "%s wants %llu to %llu (K, M, G: 1024-based)%s, not '%s'", name,
			 (unsigned long long)d->min, (unsigned long long)d->max, d->zero_unlimited ? " or 0 for no limit" : "",
			 value);
		return -1;
	}
	*(uint64_t *)((char *)l + d->offset) = v;
	return 0;
}

void nvmfd_limits_describe(const struct nvmfd_limits *l, char *buf, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]) && n < len; i++) {
		uint64_t v = *(const uint64_t *)((const char *)l + limits[i].offset);
		int w = v == 0 && limits[i].zero_unlimited
				? snprintf(buf + n, len - n, "%s%s unlimited", i ? ", " : "", limits[i].name)
				: snprintf(buf + n, len - n, "%s%s %llu", i ? ", " : "", limits[i].name, (unsigned long long)v);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}
