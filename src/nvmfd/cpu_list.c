/* CPU list parsing for --reactor-cpus. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu_list.h"

/* A CPU number at *p, advanced past it; -1 if there is none or it is out of range. */
static long cpu_number(const char **p)
{
	if (**p < '0' || **p > '9')
		return -1;
	char *end;
	errno = 0;
	long n = strtol(*p, &end, 10);
	if (errno || n >= CPU_SETSIZE)
		return -1;
	*p = end;
	return n;
}

int cpu_list_parse(const char *s, int *cpus, unsigned max, char *err, size_t errlen)
{
	cpu_set_t allowed, seen;
	CPU_ZERO(&seen);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		snprintf(err, errlen, "cannot read this process's CPUs: %m");
		return -1;
	}
	unsigned n = 0;
	const char *p = s;
	for (;;) {
		long lo = cpu_number(&p), hi = lo;
		if (lo >= 0 && *p == '-') {
			p++;
			hi = cpu_number(&p);
		}
		if (lo < 0 || hi < lo || (*p != ',' && *p != '\0')) {
			snprintf(err, errlen, "'%s' is not a CPU list (such as 0,2 or 0-3)", s);
			return -1;
		}
		for (long c = lo; c <= hi; c++) {
			if (!CPU_ISSET((int)c, &allowed)) {
				snprintf(err, errlen, "CPU %ld is not one this process may run on", c);
				return -1;
			}
			if (CPU_ISSET((int)c, &seen)) {
				snprintf(err, errlen, "CPU %ld is listed twice", c);
				return -1;
			}
			if (n == max) {
				snprintf(err, errlen, "more than %u CPUs", max);
				return -1;
			}
			CPU_SET((int)c, &seen);
			cpus[n++] = (int)c;
		}
		if (*p == '\0')
			return (int)n;
		p++;
	}
}
