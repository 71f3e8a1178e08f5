/* Helpers shared by the bdev tests: checks, completion records, waiting on the context. */
#ifndef NVMF_TESTS_BDEV_TEST_H
#define NVMF_TESTS_BDEV_TEST_H

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "bdev/bdev.h"

#define SKIP_CODE 77 /* meson's "skipped" exit status */

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c)) {                                                                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                          \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

struct done {
	int called;
	int result;
};

static inline void done_cb(void *arg, int result)
{
	struct done *d = arg;
	d->called++;
	d->result = result;
}

/* Poll until nothing is in flight, sleeping on the eventfd (a lost wakeup shows as a 60 s stall). */
static inline void wait_idle(struct nvmf_bdev_io_ctx *ctx)
{
	for (;;) {
		CHECK(nvmf_bdev_io_ctx_poll(ctx) >= 0);
		if (nvmf_bdev_io_ctx_inflight(ctx) == 0)
			return;
		struct pollfd p = {.fd = nvmf_bdev_io_ctx_fd(ctx), .events = POLLIN};
		int r = poll(&p, 1, 60000);
		if (r != 1)
			fprintf(stderr, "no completion signalled within 60 s (%u in flight)\n",
				nvmf_bdev_io_ctx_inflight(ctx));
		CHECK(r == 1);
	}
}

#endif
