/*
 * Guest memory can vanish under its mapping: a client that shrinks the file
 * it shared makes the next access raise SIGBUS.  Accesses run guarded: the
 * fault ends the access (the caller reports an error) instead of nvmfd.
 */
#ifndef NVMF_VU_GUARD_H
#define NVMF_VU_GUARD_H

#include <setjmp.h>

/* Install the SIGBUS handler (once per process; other SIGBUS keep their default action). */
void vu_guard_install(void);
/* The current thread's landing point while a guarded access runs. */
extern _Thread_local sigjmp_buf *vu_guard_jmp;

/* Run body; on a fault in guest memory run on_fault instead of crashing. */
#define VU_GUARDED(body, on_fault)                                                                                 \
	do {                                                                                                       \
		sigjmp_buf vu_jb_;                                                                                 \
		sigjmp_buf *volatile vu_prev_ = vu_guard_jmp;                                                      \
		if (sigsetjmp(vu_jb_, 0) == 0) {                                                                   \
			vu_guard_jmp = &vu_jb_;                                                                    \
			body;                                                                                      \
			vu_guard_jmp = vu_prev_;                                                                   \
		} else {                                                                                           \
			vu_guard_jmp = vu_prev_;                                                                   \
			on_fault;                                                                                  \
		}                                                                                                  \
	} while (0)

#endif
