/*
 * Guest memory can vanish under its mapping: a client that shrinks the file
 * it shared makes the next access raise SIGBUS.  Accesses run guarded: the
 * handler puts a stand-in page where the memory was and lets the access
 * finish; the guard then sees the fault, marks the guest region lost (no
 * later access reaches it) and runs the caller's error path.
 *
 * No jump: a guard is two counter updates, not a sigsetjmp, which cost up
 * to a tenth of the reactor at millions of commands a second (every command
 * fetched, every data walk and every completion runs guarded).
 */
#ifndef NVMF_VU_GUARD_H
#define NVMF_VU_GUARD_H

#include <stdatomic.h>
#include <stdint.h>

/* Fault addresses a thread keeps until its guard looks at them; more faults mark every region lost. */
#define VU_GUARD_FAULTS_KEPT 8

struct vu_guard {
	unsigned depth;	 /* guarded accesses running on this thread (they nest) */
	unsigned faults; /* SIGBUS taken inside them */
	unsigned kept;	 /* addresses in addr[] */
	uintptr_t addr[VU_GUARD_FAULTS_KEPT];
};
/* This thread's guard state; the SIGBUS handler changes it. */
extern _Thread_local volatile struct vu_guard vu_guard;

/* Install the SIGBUS handler (once per process; other SIGBUS keep their default action). */
void vu_guard_install(void);

struct vu_dma;
/*
 * Called by VU_GUARDED after its access faulted: marks the regions of d that
 * hold the faulting addresses since (faults0, kept0) lost, then forgets those
 * faults (an enclosing guard does not see them).  A fault outside d's regions
 * is not guest memory: it aborts, as SIGBUS would have.
 */
void vu_dma_lost(struct vu_dma *d, unsigned faults0, unsigned kept0);

/* Run body on guest memory mapped in dma; on a fault there run on_fault instead of crashing.
 * body then ran to its end on the stand-in: it read zeros there and what it wrote there is
 * gone, so nothing it produced may be used. */
#define VU_GUARDED(dma, body, on_fault)                                                                            \
	do {                                                                                                       \
		unsigned vu_f0_ = vu_guard.faults, vu_k0_ = vu_guard.kept;                                         \
		vu_guard.depth++;                                                                                  \
		atomic_signal_fence(memory_order_seq_cst);                                                         \
		body;                                                                                              \
		atomic_signal_fence(memory_order_seq_cst);                                                         \
		vu_guard.depth--;                                                                                  \
		if (__builtin_expect(vu_guard.faults != vu_f0_, 0)) {                                              \
			vu_dma_lost((dma), vu_f0_, vu_k0_);                                                        \
			on_fault;                                                                                  \
		}                                                                                                  \
	} while (0)

#endif
