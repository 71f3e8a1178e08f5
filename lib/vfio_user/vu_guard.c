/* SIGBUS in guest memory: a stand-in page, and the guard told (see vu_guard.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "vu_guard.h"

_Thread_local volatile struct vu_guard vu_guard;

/*
 * Anonymous memory over the page that faulted, at the smallest size its
 * mapping can be split at: 4 KiB, or a hugetlbfs mapping's own page size
 * (splitting one elsewhere fails with EINVAL, and only that tries the next).
 */
static bool stand_in(uintptr_t addr)
{
	static const uintptr_t sizes[] = {4096, 2u << 20, 1u << 30};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *base = (void *)(addr & ~(sizes[i] - 1));
		if (mmap(base, sizes[i], PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0) != MAP_FAILED)
			return true;
		if (errno != EINVAL)
			return false;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	int saved = errno;
	if (vu_guard.depth && stand_in((uintptr_t)si->si_addr)) {
		unsigned k = vu_guard.kept;
		if (k < VU_GUARD_FAULTS_KEPT) {
			vu_guard.addr[k] = (uintptr_t)si->si_addr;
			vu_guard.kept = k + 1;
		}
		vu_guard.faults++;
		errno = saved;
		return; /* the access runs again, on the stand-in */
	}
	/* Not an access of ours, or no stand-in: the default action. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

void vu_guard_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install);
}
