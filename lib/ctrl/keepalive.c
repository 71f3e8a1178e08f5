/*
 * Keep alive: an association whose host sends nothing for KATO is torn
 * down (its queues closed, its controller ID freed).  Any command counts as
 * a sign of life, so a busy host needs no Keep Alive commands.
 */
#include "ctrl_internal.h"
#include "util/clock.h"

void nvmf_ctrl_touch(struct nvmf_controller *ctrl)
{
	atomic_store_explicit(&ctrl->last_seen_ms, nvmf_clock_ms(), memory_order_relaxed);
}

void nvmf_ctrl_keepalive_check(struct nvmf_controller *ctrl, uint64_t now_ms)
{
	uint32_t kato = ctrl->kato_ms;
	if (kato == 0 || ctrl->dead)
		return;
	uint64_t last = atomic_load_explicit(&ctrl->last_seen_ms, memory_order_relaxed);
	if (now_ms > last && now_ms - last > kato)
		nvmf_ctrl_destroy(ctrl, "keep alive timeout");
}
