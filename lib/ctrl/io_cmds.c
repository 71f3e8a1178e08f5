/*
 * NVM I/O commands: Read, Write, Flush, Write Zeroes, Dataset Management,
 * Compare, Verify and fused Compare and Write.  Handlers check the command
 * and hand the request to the services of request.c (data transfer,
 * backend submission, response); a step never touches the request after
 * handing it on.
 */
#include <string.h>

#include "ctrl_internal.h"

static uint64_t cmd_slba(const struct nvme_command *c)
{
	return (uint64_t)c->cdw11 << 32 | c->cdw10;
}

static uint32_t cmd_nlb(const struct nvme_command *c)
{
	return (c->cdw12 & 0xffff) + 1;
}

static uint64_t req_offset(const struct nvmf_request *req)
{
	return cmd_slba(&req->cmd) * req->ns->block_size;
}

/* Reference the command's namespace into req->ns: 0, or the status to answer with. */
static uint16_t take_namespace(struct nvmf_request *req)
{
	uint32_t nsid = req->cmd.nsid;
	if (nsid == 0 || nsid == NVME_NSID_ALL)
		return NVMF_ST_INVALID_NS;
	req->ns = nvmf_subsystem_get_ns(req->conn->ctrl->ss, nsid);
	return req->ns ? 0 : NVMF_ST_INVALID_NS;
}

/*
 * Checks for commands with an LBA range: the namespace (referenced into
 * req->ns), the range, and for data commands MDTS and the SGL length
 * (req->len set).  0, or the status to answer with.
 */
static uint16_t check_lba_command(struct nvmf_request *req, bool has_data)
{
	uint16_t st = take_namespace(req);
	if (st)
		return st;
	uint64_t slba = cmd_slba(&req->cmd);
	uint64_t nlb = cmd_nlb(&req->cmd);
	if (slba >= req->ns->nblocks || nlb > req->ns->nblocks - slba)
		return NVMF_ST_LBA_OUT_OF_RANGE;
	if (!has_data)
		return 0;
	uint64_t bytes = nlb * req->ns->block_size;
	if (bytes > NVMF_CTRL_MAX_XFER)
		return NVMF_ST_INVALID_FIELD;
	if (nvmf_capsule_data_len(req->nc) < bytes)
		return NVMF_ST_SGL_LENGTH_INVALID;
	req->len = (size_t)bytes;
	return 0;
}

static void count_io(struct nvmf_request *req, bool write)
{
	struct nvmf_smart_counters *s = &req->conn->ctrl->smart;
	atomic_fetch_add_explicit(write ? &s->write_cmds : &s->read_cmds, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(write ? &s->blocks512_written : &s->blocks512_read, req->len / 512,
				  memory_order_relaxed);
	nvmf_ns_count_io(req->ns, write, req->len);
}

/* With the volatile write cache turned off every write is write-through. */
static bool write_fua(const struct nvmf_request *req, const struct nvme_command *cmd)
{
	return (cmd->cdw12 & NVME_RW_FUA) || !req->conn->ctrl->vwc_enabled;
}

/* ---- Read ---- */

static int submit_read(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	return nvmf_bdev_readv(req->conn->env.io, req->ns->bdev, &req->iov, 1, req_offset(req), cb, arg);
}

static void read_done(struct nvmf_request *req, int rc)
{
	if (rc) {
		nvmf_request_complete(req, nvmf_media_status(rc, false), 0);
		return;
	}
	count_io(req, false);
	nvmf_request_send_data(req, req->buf, req->len);
}

static void read_with_buffer(struct nvmf_request *req)
{
	if (nvmf_request_alloc_buf(req, req->len, read_with_buffer))
		nvmf_request_submit(req, submit_read, read_done);
}

static enum nvmf_exec do_read(struct nvmf_request *req)
{
	uint16_t st = check_lba_command(req, true);
	if (st)
		return nvmf_req_status(req, st);
	/* Data that already sits in memory (RAM) goes out as it is, with no copy; null has none to move. */
	bool none = nvmf_bdev_holds_no_data(req->ns->bdev);
	const void *mem = none ? NULL : nvmf_bdev_memory(req->ns->bdev, req_offset(req), req->len);
	if (mem || none) {
		count_io(req, false);
		nvmf_request_send_data(req, mem, req->len);
		return NVMF_EXEC_ASYNC;
	}
	read_with_buffer(req);
	return NVMF_EXEC_ASYNC;
}

/* ---- Write ---- */

static int submit_write(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	return nvmf_bdev_writev(req->conn->env.io, req->ns->bdev, &req->iov, 1, req_offset(req),
				write_fua(req, &req->cmd), cb, arg);
}

static void write_done(struct nvmf_request *req, int rc)
{
	if (rc == 0)
		count_io(req, true);
	nvmf_request_complete(req, nvmf_media_status(rc, true), 0);
}

static void write_with_data(struct nvmf_request *req)
{
	/* Fused Compare and Write holds its range exclusively: wait for it. */
	if (!nvmf_request_lock_range(req, cmd_slba(&req->cmd), cmd_nlb(&req->cmd), false)) {
		nvmf_request_defer(req, NVMF_REQ_WAIT_RANGE, write_with_data);
		return;
	}
	nvmf_request_submit(req, submit_write, write_done);
}

/* The data is where it belongs: in place, or dropped by a namespace that holds none (null). */
static void write_stored(struct nvmf_request *req)
{
	write_done(req, 0);
}

/*
 * A write to a namespace in memory (RAM) over a transport that copies at once
 * (vfio-user) lands in place: one copy, from the host's buffer to the
 * namespace, as SPDK's malloc bdev does.  The range lock keeps it from a
 * Compare and Write; a bad data pointer partway leaves the range partly
 * written, as a failed write may.
 */
static void write_in_place(struct nvmf_request *req)
{
	if (!nvmf_request_lock_range(req, cmd_slba(&req->cmd), cmd_nlb(&req->cmd), false)) {
		nvmf_request_defer(req, NVMF_REQ_WAIT_RANGE, write_in_place);
		return;
	}
	void *dst = nvmf_bdev_memory_for_write(req->ns->bdev, req_offset(req), req->len);
	if (!dst) { /* checked before; a NULL here would be taken as "move nothing" */
		nvmf_request_complete(req, NVMF_ST_INTERNAL, 0);
		return;
	}
	nvmf_request_receive_into_storage(req, dst, req->len, write_stored);
}

static enum nvmf_exec do_write(struct nvmf_request *req)
{
	uint16_t st = check_lba_command(req, true);
	if (st)
		return nvmf_req_status(req, st);
	if (nvmf_bdev_holds_no_data(req->ns->bdev))
		nvmf_request_discard_data(req, req->len, write_stored);
	else if (nvmf_controller_copies_at_once(req->nc) &&
		 nvmf_bdev_memory_for_write(req->ns->bdev, req_offset(req), req->len))
		write_in_place(req);
	else
		nvmf_request_receive_iov(req, req->len, write_with_data);
	return NVMF_EXEC_ASYNC;
}

/* ---- Flush ---- */

static int submit_flush(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	return nvmf_bdev_flush(req->conn->env.io, req->ns->bdev, cb, arg);
}

static void status_done(struct nvmf_request *req, int rc)
{
	nvmf_request_complete(req, nvmf_media_status(rc, true), 0);
}

static enum nvmf_exec do_flush(struct nvmf_request *req)
{
	uint16_t st = take_namespace(req);
	if (st)
		return nvmf_req_status(req, st);
	nvmf_request_submit(req, submit_flush, status_done);
	return NVMF_EXEC_ASYNC;
}

/* ---- Write Zeroes ---- */

static int submit_write_zeroes(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	return nvmf_bdev_write_zeroes(req->conn->env.io, req->ns->bdev, req_offset(req),
				      (uint64_t)cmd_nlb(&req->cmd) * req->ns->block_size, cb, arg);
}

/* Backends zero without a write-through mode: FUA (or the cache turned off) is a flush after. */
static void write_zeroes_done(struct nvmf_request *req, int rc)
{
	if (rc == 0 && write_fua(req, &req->cmd) && nvmf_bdev_volatile_cache(req->ns->bdev)) {
		nvmf_request_submit(req, submit_flush, status_done);
		return;
	}
	status_done(req, rc);
}

static void write_zeroes_locked(struct nvmf_request *req)
{
	if (!nvmf_request_lock_range(req, cmd_slba(&req->cmd), cmd_nlb(&req->cmd), false)) {
		nvmf_request_defer(req, NVMF_REQ_WAIT_RANGE, write_zeroes_locked);
		return;
	}
	nvmf_request_submit(req, submit_write_zeroes, write_zeroes_done);
}

static enum nvmf_exec do_write_zeroes(struct nvmf_request *req)
{
	uint16_t st = check_lba_command(req, false);
	if (st)
		return nvmf_req_status(req, st);
	write_zeroes_locked(req);
	return NVMF_EXEC_ASYNC;
}

/* ---- Dataset Management ---- */

/* Deallocate the ranges one after another; cqe.cdw1 holds the next one (reset before the answer). */
static void dsm_next(struct nvmf_request *req);

static int submit_deallocate(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	const struct nvme_dsm_range *r = (const struct nvme_dsm_range *)req->buf + req->cqe.cdw1;
	uint32_t bs = req->ns->block_size;
	return nvmf_bdev_deallocate(req->conn->env.io, req->ns->bdev, r->slba * bs, (uint64_t)r->nlb * bs, cb, arg);
}

static void dsm_range_done(struct nvmf_request *req, int rc)
{
	if (rc) {
		req->cqe.cdw1 = 0;
		nvmf_request_complete(req, nvmf_media_status(rc, true), 0);
		return;
	}
	req->cqe.cdw1++;
	dsm_next(req);
}

static void dsm_next(struct nvmf_request *req)
{
	const struct nvme_dsm_range *ranges = req->buf;
	uint32_t nr = (req->cmd.cdw10 & 0xff) + 1;
	uint32_t i = req->cqe.cdw1;
	while (i < nr && ranges[i].nlb == 0)
		i++;
	if (i >= nr) {
		req->cqe.cdw1 = 0;
		nvmf_request_complete(req, NVMF_ST_SUCCESS, 0);
		return;
	}
	req->cqe.cdw1 = i;
	nvmf_request_submit(req, submit_deallocate, dsm_range_done);
}

static void dsm_with_ranges(struct nvmf_request *req)
{
	const struct nvme_dsm_range *ranges = req->buf;
	uint32_t nr = (req->cmd.cdw10 & 0xff) + 1;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t slba = ranges[i].slba, nlb = ranges[i].nlb;
		if (nlb && (slba >= req->ns->nblocks || nlb > req->ns->nblocks - slba)) {
			nvmf_request_complete(req, NVMF_ST_LBA_OUT_OF_RANGE, 0);
			return;
		}
	}
	/* Deallocation is advisory: without backend support there is nothing to do. */
	if (!(req->cmd.cdw11 & NVME_DSM_ATTR_DEALLOCATE) || !nvmf_bdev_supports_deallocate(req->ns->bdev)) {
		nvmf_request_complete(req, NVMF_ST_SUCCESS, 0);
		return;
	}
	req->cqe.cdw1 = 0;
	dsm_next(req);
}

static enum nvmf_exec do_dsm(struct nvmf_request *req)
{
	uint16_t st = take_namespace(req);
	if (st)
		return nvmf_req_status(req, st);
	size_t len = ((req->cmd.cdw10 & 0xff) + 1) * sizeof(struct nvme_dsm_range);
	if (nvmf_capsule_data_len(req->nc) < len)
		return nvmf_req_status(req, NVMF_ST_SGL_LENGTH_INVALID);
	nvmf_request_receive_data(req, len, dsm_with_ranges);
	return NVMF_EXEC_ASYNC;
}

/* ---- Compare ---- */

static int submit_read_media(struct nvmf_request *req, nvmf_bdev_cb cb, void *arg)
{
	struct iovec iov = {req->buf2, req->len};
	return nvmf_bdev_readv(req->conn->env.io, req->ns->bdev, &iov, 1, req_offset(req), cb, arg);
}

static void compare_read_done(struct nvmf_request *req, int rc)
{
	uint16_t st = nvmf_media_status(rc, false);
	if (rc == 0 && memcmp(req->buf, req->buf2, req->len) != 0)
		st = NVMF_ST_COMPARE_FAILURE;
	nvmf_request_complete(req, st, 0);
}

static void compare_with_data(struct nvmf_request *req)
{
	if (nvmf_request_alloc_buf2(req, req->len, compare_with_data))
		nvmf_request_submit(req, submit_read_media, compare_read_done);
}

static enum nvmf_exec do_compare(struct nvmf_request *req)
{
	uint16_t st = check_lba_command(req, true);
	if (st)
		return nvmf_req_status(req, st);
	nvmf_request_receive_data(req, req->len, compare_with_data);
	return NVMF_EXEC_ASYNC;
}

/* ---- Fused Compare and Write ---- */

/*
 * The first request drives the pair: it holds the range exclusively from
 * before the media is read until the write is done.  Each links the other
 * as its fused partner, so that answering one with an error answers the
 * other with Aborted - Failed Fused; on success the second is answered
 * just before the first.
 */
static void fused_finish(struct nvmf_request *first, uint16_t first_st, uint16_t second_st)
{
	struct nvmf_request *second = first->fused_partner;
	first->fused_partner = NULL;
	second->fused_partner = NULL;
	nvmf_request_complete(second, second_st, 0);
	nvmf_request_complete(first, first_st, 0);
}

static int submit_fused_write(struct nvmf_request *first, nvmf_bdev_cb cb, void *arg)
{
	struct nvmf_request *second = first->fused_partner;
	return nvmf_bdev_writev(first->conn->env.io, first->ns->bdev, &second->iov, 1, req_offset(first),
				write_fua(first, &second->cmd), cb, arg);
}

static void fused_write_done(struct nvmf_request *first, int rc)
{
	if (rc == 0)
		count_io(first, true);
	fused_finish(first, rc ? NVMF_ST_ABORTED_FAILED_FUSED : NVMF_ST_SUCCESS, nvmf_media_status(rc, true));
}

static void fused_read_done(struct nvmf_request *first, int rc)
{
	if (rc) {
		fused_finish(first, nvmf_media_status(rc, false), NVMF_ST_ABORTED_FAILED_FUSED);
		return;
	}
	if (memcmp(first->buf, first->buf2, first->len) != 0) {
		fused_finish(first, NVMF_ST_COMPARE_FAILURE, NVMF_ST_ABORTED_FAILED_FUSED);
		return;
	}
	nvmf_request_submit(first, submit_fused_write, fused_write_done);
}

/* A backend with an atomic compare and write of its own (RBD: it holds across gateways). */
static int submit_backend_caw(struct nvmf_request *first, nvmf_bdev_cb cb, void *arg)
{
	struct nvmf_request *second = first->fused_partner;
	return nvmf_bdev_compare_and_write(first->conn->env.io, first->ns->bdev, first->buf, second->iov.iov_base,
					   req_offset(first), first->len, write_fua(first, &second->cmd), cb, arg);
}

static void backend_caw_done(struct nvmf_request *first, int rc)
{
	if (rc == -EILSEQ) {
		fused_finish(first, NVMF_ST_COMPARE_FAILURE, NVMF_ST_ABORTED_FAILED_FUSED);
		return;
	}
	if (rc == 0)
		count_io(first, true);
	fused_finish(first, rc ? nvmf_media_status(rc, false) : NVMF_ST_SUCCESS,
		     rc ? NVMF_ST_ABORTED_FAILED_FUSED : NVMF_ST_SUCCESS);
}

static void fused_lock_and_read(struct nvmf_request *first)
{
	if (!nvmf_request_lock_range(first, cmd_slba(&first->cmd), cmd_nlb(&first->cmd), true)) {
		nvmf_request_defer(first, NVMF_REQ_WAIT_RANGE, fused_lock_and_read);
		return;
	}
	struct nvmf_request *second = first->fused_partner;
	if (second->iov.iov_len == first->len &&
	    nvmf_bdev_can_compare_and_write(first->ns->bdev, req_offset(first), first->len)) {
		nvmf_request_submit(first, submit_backend_caw, backend_caw_done);
		return;
	}
	if (nvmf_request_alloc_buf2(first, first->len, fused_lock_and_read))
		nvmf_request_submit(first, submit_read_media, fused_read_done);
}

static void fused_second_data(struct nvmf_request *second)
{
	struct nvmf_request *first = second->fused_partner;
	nvmf_request_hold(second);
	fused_lock_and_read(first);
}

static void fused_first_data(struct nvmf_request *first)
{
	struct nvmf_request *second = first->fused_partner;
	nvmf_request_hold(first);
	nvmf_request_receive_data(second, first->len, fused_second_data);
}

/* This path's ANA state as a status: inaccessible or changing paths send the host elsewhere; 0 to go on. */
static uint16_t ana_status(const struct nvmf_request *req)
{
	uint8_t ana = atomic_load_explicit(&req->conn->ctrl->ana_state, memory_order_relaxed);
	if (ana == NVME_ANA_INACCESSIBLE)
		return NVMF_ST_ANA_INACCESSIBLE;
	if (ana == NVME_ANA_CHANGE)
		return NVMF_ST_ANA_TRANSITION;
	return 0;
}

void nvmf_io_execute_fused(struct nvmf_request *first, struct nvmf_request *second)
{
	first->state = NVMF_REQ_EXECUTING;
	uint16_t ana = ana_status(first);
	if (ana) {
		nvmf_request_complete(first, ana, 0);
		nvmf_request_complete(second, NVMF_ST_ABORTED_FAILED_FUSED, 0);
		return;
	}
	if (first->cmd.opc != NVME_OPC_COMPARE || second->cmd.opc != NVME_OPC_WRITE ||
	    first->cmd.nsid != second->cmd.nsid || cmd_slba(&first->cmd) != cmd_slba(&second->cmd) ||
	    cmd_nlb(&first->cmd) != cmd_nlb(&second->cmd)) {
		nvmf_request_complete(first, NVMF_ST_INVALID_FIELD, 0);
		nvmf_request_complete(second, NVMF_ST_ABORTED_FAILED_FUSED, 0);
		return;
	}
	/* Validate both before moving any data; from here a failure of either answers both. */
	first->fused_partner = second;
	second->fused_partner = first;
	uint16_t st = check_lba_command(second, true);
	if (!st)
		st = check_lba_command(first, true);
	if (st) {
		second->fused_partner = NULL;
		first->fused_partner = NULL;
		nvmf_request_complete(first, st, 0);
		nvmf_request_complete(second, NVMF_ST_ABORTED_FAILED_FUSED, 0);
		return;
	}
	nvmf_request_receive_data(first, first->len, fused_first_data);
}

/* ---- Verify ---- */

static enum nvmf_exec do_verify(struct nvmf_request *req)
{
	/* No end-to-end protection and no media errors to find: a range check. */
	return nvmf_req_status(req, check_lba_command(req, false));
}

enum nvmf_exec nvmf_io_execute(struct nvmf_request *req)
{
	uint16_t ana = ana_status(req);
	if (ana)
		return nvmf_req_status(req, ana);
	switch (req->cmd.opc) {
	case NVME_OPC_READ:
		return do_read(req);
	case NVME_OPC_WRITE:
		return do_write(req);
	case NVME_OPC_FLUSH:
		return do_flush(req);
	case NVME_OPC_WRITE_ZEROES:
		return do_write_zeroes(req);
	case NVME_OPC_DATASET_MANAGEMENT:
		return do_dsm(req);
	case NVME_OPC_COMPARE:
		return do_compare(req);
	case NVME_OPC_VERIFY:
		return do_verify(req);
	default:
		return nvmf_req_status(req, NVMF_ST_INVALID_OPCODE);
	}
}
