/*
 * Counters for Prometheus: a small HTTP server (--metrics ADDR:PORT) whose
 * GET /metrics answers in the Prometheus text exposition format, on a
 * thread of its own.
 */
#ifndef NVMFD_METRICS_H
#define NVMFD_METRICS_H

#include <stddef.h>

#include "ctrl/target.h"

struct nvmf_tgt;
struct metrics_server;

/* Listen on addr (port "0": a free one, written back into addr->trsvcid).  NULL with err. */
struct metrics_server *metrics_start(struct nvmf_tgt *tgt, struct nvmf_port_addr *addr, char *err, size_t errlen);
void metrics_stop(struct metrics_server *m);

/* The exposition text (malloc'd, NUL-terminated); NULL on ENOMEM. */
char *metrics_render(struct nvmf_tgt *tgt);

#endif
