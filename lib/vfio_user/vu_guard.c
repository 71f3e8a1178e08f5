/* SIGBUS in guest memory: back to the guarded access (see vu_guard.h). */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "vu_guard.h"

_Thread_local sigjmp_buf *vu_guard_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	(void)uctx;
	if (vu_guard_jmp)
		siglongjmp(*vu_guard_jmp, 1);
	/* Not an access of ours: the default action. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* Not blocked in the handler: siglongjmp leaves it, and the next fault must land too. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

void vu_guard_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install);
}
