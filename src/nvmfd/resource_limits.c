/* nvmfd's resource budgets: defaults, parsing, description. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "resource_limits.h"

struct nvmfd_limits nvmfd_limits_default(void)
{
	return (struct nvmfd_limits){
		.max_connections = NVMFD_DEFAULT_MAX_CONNECTIONS,
		.max_connections_per_host = NVMFD_DEFAULT_MAX_CONNECTIONS_PER_HOST,
		.tx_backlog = NVMFD_DEFAULT_TX_BACKLOG,
		.read_budget = NVMFD_DEFAULT_READ_BUDGET,
		.commands_per_pass = NVMFD_DEFAULT_COMMANDS_PER_PASS,
	};
}

/* "N[K|M|G]" up to max: 0, or -1. */
static int parse_number(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (p == s)
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*p)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	default: return -1;
	}
	if (shift && (p[1] != '\0' || v > (max >> shift)))
		return -1;
	v <<= shift;
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int nvmfd_limits_set(struct nvmfd_limits *l, const char *name, const char *value, char *err, size_t errlen)
{
	static const char *const names[] = {"max-connections", "max-connections-per-host", "tx-backlog", "read-budget",
					    "commands-per-pass"};
	bool known = false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		known |= strcmp(name, names[i]) == 0;
	if (!known) {
		snprintf(err, errlen, "unknown limit '%s'", name);
		return -1;
	}
	uint64_t v;
	bool conns = strcmp(name, "max-connections") == 0 || strcmp(name, "max-connections-per-host") == 0 ||
		     strcmp(name, "commands-per-pass") == 0;
	bool budget = strcmp(name, "read-budget") == 0;
	uint64_t min = budget ? NVMFD_MIN_READ_BUDGET : strcmp(name, "tx-backlog") == 0 ? NVMFD_MIN_TX_BACKLOG : 1;
	uint64_t max = conns ? 1000000 : (uint64_t)1 << 30;
	if (parse_number(value, max, &v) < 0 || (v < min && (v != 0 || budget))) {
		snprintf(err, errlen, "%s wants %llu to %llu (K, M, G: 1024-based)%s, not '%s'", name,
			 (unsigned long long)min, (unsigned long long)max, budget ? "" : " or 0 for no limit", value);
		return -1;
	}
	if (strcmp(name, "max-connections") == 0)
		l->max_connections = (unsigned)v;
	else if (strcmp(name, "max-connections-per-host") == 0)
		l->max_connections_per_host = (unsigned)v;
	else if (strcmp(name, "tx-backlog") == 0)
		l->tx_backlog = (size_t)v;
	else if (strcmp(name, "commands-per-pass") == 0)
		l->commands_per_pass = (unsigned)v;
	else
		l->read_budget = (size_t)v;
	return 0;
}

static void describe_count(char *buf, size_t len, unsigned n)
{
	if (n)
		snprintf(buf, len, "%u", n);
	else
		snprintf(buf, len, "unlimited");
}

void nvmfd_limits_describe(const struct nvmfd_limits *l, char *buf, size_t len)
{
	char total[16], per_host[16], backlog[32], commands[16];
	describe_count(total, sizeof(total), l->max_connections);
	describe_count(per_host, sizeof(per_host), l->max_connections_per_host);
	describe_count(commands, sizeof(commands), l->commands_per_pass);
	if (l->tx_backlog)
		snprintf(backlog, sizeof(backlog), "%zu bytes", l->tx_backlog);
	else
		snprintf(backlog, sizeof(backlog), "unlimited");
	snprintf(buf, len,
		 "connections %s (per host %s), transmit backlog %s, read budget %zu bytes and %s commands per pass",
		 total, per_host, backlog, l->read_budget, commands);
}
