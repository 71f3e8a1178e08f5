/* CPU lists as taskset -c and /sys/devices/system/cpu spell them: "0", "0,2", "0-3,8". */
#ifndef NVMFD_CPU_LIST_H
#define NVMFD_CPU_LIST_H

#include <stddef.h>

/*
 * Parse s into cpus (in the order written, at most max, no CPU twice), each
 * one this process may run on (sched_getaffinity).  Returns how many, or -1
 * with the reason in err.
 */
int cpu_list_parse(const char *s, int *cpus, unsigned max, char *err, size_t errlen);

#endif
