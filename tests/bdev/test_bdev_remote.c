/*
 * Requests completed on other threads (as librbd completes them): every one
 * reaches its callback, on the polling thread, with its result, and the
 * context's descriptor wakes a poller that sleeps on it for each batch.
 *
 * Several threads complete requests at once, in bursts and one by one, while
 * the test's thread sleeps in poll() on nvmf_bdev_io_ctx_fd() and only then
 * calls nvmf_bdev_io_ctx_poll(): a completion whose wake-up was lost shows as
 * a poll() that times out with requests still outstanding.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bdev/bdev_internal.h"
#include "../host/check.h"

#define THREADS 4
#define ROUNDS 400
#define PER_ROUND 64 /* requests per round, dealt out to the threads */
#define WAKE_TIMEOUT_MS 5000

struct job {
	struct nvmf_bdev_req *reqs[PER_ROUND];
	int n;
	bool one_by_one; /* sleep a little between completions, so the poller catches some alone */
};

struct worker {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job job;
	bool has_job, stop;
	unsigned seed;
};

static pthread_t main_thread;
static unsigned completed, wrong_thread, wrong_result;
static bool seen[ROUNDS * PER_ROUND];

static bool remote_complete(struct nvmf_bdev_req *req, int res)
{
	req->result = res;
	return true;
}

static const struct nvmf_bdev_ops remote_ops = {.kind = "remote-test", .complete = remote_complete};

static void done_cb(void *arg, int result)
{
	uintptr_t id = (uintptr_t)arg;
	if (!pthread_equal(pthread_self(), main_thread))
		wrong_thread++;
	/* Each request's result is its number, negated (an errno's shape). */
	if (result != -(int)(id % 1000) || seen[id])
		wrong_result++;
	seen[id] = true;
	completed++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->has_job && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		struct job job = w->job;
		w->has_job = false;
		pthread_mutex_unlock(&w->lock);
		for (int i = 0; i < job.n; i++) {
			struct nvmf_bdev_req *r = job.reqs[i];
			uintptr_t id = (uintptr_t)r->arg;
			if (job.one_by_one) {
				struct timespec ts = {0, (long)(rand_r(&w->seed) % 20000)};
				nanosleep(&ts, NULL);
			}
			nvmf_bdev_req_complete_remote(r, -(int)(id % 1000));
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int main(void)
{
	main_thread = pthread_self();
	struct nvmf_bdev_io_ctx *ctx = nvmf_bdev_io_ctx_create(0);
	CHECK(ctx != NULL, "I/O context created");
	if (!ctx)
		return 1;
	struct nvmf_bdev b;
	memset(&b, 0, sizeof(b));
	b.ops = &remote_ops;

	struct worker w[THREADS];
	for (int t = 0; t < THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		pthread_mutex_init(&w[t].lock, NULL);
		pthread_cond_init(&w[t].cond, NULL);
		w[t].seed = 1234u + (unsigned)t;
		pthread_create(&w[t].th, NULL, worker_main, &w[t]);
	}

	unsigned timeouts = 0, new_failed = 0;
	for (int round = 0; round < ROUNDS && !timeouts; round++) {
		struct job jobs[THREADS];
		memset(jobs, 0, sizeof(jobs));
		for (int i = 0; i < PER_ROUND; i++) {
			uintptr_t id = (uintptr_t)(round * PER_ROUND + i);
			struct nvmf_bdev_req *r = nvmf_bdev_req_new(ctx, &b, NULL, 0, done_cb, (void *)id);
			if (!r) {
				new_failed++;
				continue;
			}
			nvmf_bdev_req_begin_remote(ctx, r);
			struct job *j = &jobs[i % THREADS];
			j->reqs[j->n++] = r;
		}
		for (int t = 0; t < THREADS; t++) {
			jobs[t].one_by_one = (round + t) % 2 == 1;
			pthread_mutex_lock(&w[t].lock);
			w[t].job = jobs[t];
			w[t].has_job = true;
			pthread_cond_signal(&w[t].cond);
			pthread_mutex_unlock(&w[t].lock);
		}
		/* Sleep on the descriptor only: never poll the context without being woken. */
		unsigned target = (unsigned)(round + 1) * PER_ROUND - new_failed;
		while (completed < target) {
			struct pollfd pfd = {.fd = nvmf_bdev_io_ctx_fd(ctx), .events = POLLIN};
			int n = poll(&pfd, 1, WAKE_TIMEOUT_MS);
			if (n == 0) {
				timeouts++;
				break;
			}
			nvmf_bdev_io_ctx_poll(ctx);
		}
	}
	CHECK(new_failed == 0, "every request allocated (%u failed)", new_failed);
	CHECK(timeouts == 0, "no wake-up lost: every poll() on the descriptor was woken (%u timed out after %d ms)",
	      timeouts, WAKE_TIMEOUT_MS);
	CHECK(completed == ROUNDS * PER_ROUND, "%u of %u requests completed", completed, ROUNDS * PER_ROUND);
	CHECK(wrong_thread == 0, "every callback ran on the polling thread (%u did not)", wrong_thread);
	CHECK(wrong_result == 0, "every callback had its own request's result, once (%u did not)", wrong_result);
	CHECK(nvmf_bdev_io_ctx_inflight(ctx) == 0, "nothing in flight at the end (%u)", nvmf_bdev_io_ctx_inflight(ctx));

	for (int t = 0; t < THREADS; t++) {
		pthread_mutex_lock(&w[t].lock);
		w[t].stop = true;
		pthread_cond_signal(&w[t].cond);
		pthread_mutex_unlock(&w[t].lock);
		pthread_join(w[t].th, NULL);
	}
	if (!timeouts)
		nvmf_bdev_io_ctx_destroy(ctx); /* with a lost wake-up, requests are still out: leave them */
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
