/*
 * NVM I/O commands: Read, Write, Flush, Write Zeroes, Dataset Management,
 * Compare, Verify and fused Compare and Write.  Bdev callbacks may run
 * before the submitting call returns (RAM), so every step ends by handing
 * the request on and never touches it afterwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_internal.h"

#define ST(sct, sc) (NVME_STATUS(sct, sc) | NVME_STATUS_DNR)
#define ST_INVALID_FIELD ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD)
#define ST_INTERNAL NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL_DEVICE_ERROR)
#define ST_ABORTED NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION)

static uint64_t cmd_slba(const struct nvme_command *c)
{
	return (uint64_t)c->cdw11 << 32 | c->cdw10;
}

static uint32_t cmd_nlb(const struct nvme_command *c)
{
	return (c->cdw12 & 0xffff) + 1;
}

/* Finish a bdev step: answer, then let the connection finish closing if it waits on us. */
static void bdev_step_done(struct nvmf_request *req, uint16_t status)
{
	struct nvmf_conn *conn = req->conn;
	nvmf_request_complete(req, status, 0);
	nvmf_conn_track_bdev(conn, false);
}

/* A submission failed synchronously (the callback will not run). */
static void bdev_submit_failed(struct nvmf_request *req)
{
	bdev_step_done(req, ST_INTERNAL);
}

static uint16_t media_status(int rc, bool write)
{
	if (rc == 0)
		return NVME_SC_SUCCESS;
	return NVME_STATUS(NVME_SCT_MEDIA_ERROR, write ? NVME_SC_WRITE_FAULT : NVME_SC_UNRECOVERED_READ_ERROR);
}

/*
 * Common checks for commands with an LBA range: namespace (referenced into
 * req->ns), range, and for data commands MDTS and the SGL length.
 */
static bool check_lba_command(struct nvmf_request *req, bool has_data)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t nsid = req->cmd.nsid;
	req->ns = nsid == 0 || nsid == NVME_NSID_ALL ? NULL : nvmf_subsystem_get_ns(ctrl->ss, nsid);
	if (!req->ns) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NAMESPACE_OR_FORMAT), 0);
		return false;
	}
	uint64_t slba = cmd_slba(&req->cmd);
	uint64_t nlb = cmd_nlb(&req->cmd);
	if (slba >= req->ns->nblocks || nlb > req->ns->nblocks - slba) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE), 0);
		return false;
	}
	if (!has_data)
		return true;
	uint64_t bytes = nlb * req->ns->block_size;
	if (bytes > NVMF_CTRL_MAX_XFER) {
		nvmf_request_complete(req, ST_INVALID_FIELD, 0);
		return false;
	}
	if (nvmf_capsule_data_len(req->nc) < bytes) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID), 0);
		return false;
	}
	req->len = (size_t)bytes;
	return true;
}

static uint64_t req_offset(const struct nvmf_request *req)
{
	return cmd_slba(&req->cmd) * req->ns->block_size;
}

/* ---- Read ---- */

/*
 * The data of every read of a backend whose reads are all zeros (null):
 * never written, so its pages all map the kernel's one zero page, which
 * stays in cache however many reads are in flight.
 */
static uint8_t zero_data[NVMF_CTRL_MAX_XFER];

static void read_finish(struct nvmf_request *req, const void *data)
{
	struct nvmf_conn *conn = req->conn;
	struct nvmf_smart_counters *s = &conn->ctrl->smart;
	atomic_fetch_add_explicit(&s->read_cmds, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->blocks512_read, req->len / 512, memory_order_relaxed);
	nvmf_ns_count_io(req->ns, false, req->len);
	nvmf_request_send(req, data, req->len);
	nvmf_conn_track_bdev(conn, false);
}

static void read_done(void *arg, int rc)
{
	struct nvmf_request *req = arg;
	if (rc || req->conn->closing) {
		bdev_step_done(req, rc ? media_status(rc, false) : ST_ABORTED);
		return;
	}
	read_finish(req, req->buf);
}

static void do_read(struct nvmf_request *req)
{
	if (!check_lba_command(req, true))
		return;
	if (nvmf_bdev_reads_zeros(req->ns->bdev)) {
		/* Nothing to read and no buffer to fill (nor one to leave stale data in). */
		nvmf_conn_track_bdev(req->conn, true);
		read_finish(req, zero_data);
		return;
	}
	if (nvmf_request_buf(req, req->len) < 0) {
		nvmf_request_complete(req, ST_INTERNAL, 0);
		return;
	}
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_readv(req->conn->env.io, req->ns->bdev, &req->iov, 1, req_offset(req), read_done, req) < 0)
		bdev_submit_failed(req);
}

/* ---- Write ---- */

static void write_done(void *arg, int rc)
{
	struct nvmf_request *req = arg;
	struct nvmf_conn *conn = req->conn;
	if (rc == 0 && !conn->closing) {
		struct nvmf_smart_counters *s = &conn->ctrl->smart;
		atomic_fetch_add_explicit(&s->write_cmds, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->blocks512_written, req->len / 512, memory_order_relaxed);
		nvmf_ns_count_io(req->ns, true, req->len);
	}
	bdev_step_done(req, media_status(rc, true));
}

static void write_submit(struct nvmf_request *req)
{
	/* Fused Compare and Write holds its range exclusively: wait for it. */
	if (!nvmf_ns_range_acquire(req->ns, &req->range, cmd_slba(&req->cmd), cmd_nlb(&req->cmd), false)) {
		nvmf_request_defer(req, write_submit);
		return;
	}
	req->range_held = true;
	/* With the volatile write cache turned off every write is write-through. */
	bool fua = (req->cmd.cdw12 & NVME_RW_FUA) || !req->conn->ctrl->vwc_enabled;
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_writev(req->conn->env.io, req->ns->bdev, &req->iov, 1, req_offset(req), fua, write_done, req) < 0)
		bdev_submit_failed(req);
}

static void do_write(struct nvmf_request *req)
{
	if (!check_lba_command(req, true))
		return;
	nvmf_request_receive_buf(req, req->len, write_submit);
}

/* ---- Flush ---- */

static void flush_done(void *arg, int rc)
{
	bdev_step_done(arg, media_status(rc, true));
}

static void do_flush(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t nsid = req->cmd.nsid;
	req->ns = nsid == 0 || nsid == NVME_NSID_ALL ? NULL : nvmf_subsystem_get_ns(ctrl->ss, nsid);
	if (!req->ns) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NAMESPACE_OR_FORMAT), 0);
		return;
	}
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_flush(req->conn->env.io, req->ns->bdev, flush_done, req) < 0)
		bdev_submit_failed(req);
}

/* ---- Write Zeroes ---- */

static void write_zeroes_submit(struct nvmf_request *req)
{
	uint64_t nlb = cmd_nlb(&req->cmd);
	if (!nvmf_ns_range_acquire(req->ns, &req->range, cmd_slba(&req->cmd), nlb, false)) {
		nvmf_request_defer(req, write_zeroes_submit);
		return;
	}
	req->range_held = true;
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_write_zeroes(req->conn->env.io, req->ns->bdev, req_offset(req), nlb * req->ns->block_size,
				   flush_done, req) < 0)
		bdev_submit_failed(req);
}

static void do_write_zeroes(struct nvmf_request *req)
{
	if (check_lba_command(req, false))
		write_zeroes_submit(req);
}

/* ---- Dataset Management ---- */

/* Deallocate the ranges one after another; req->len counts those done. */
static void dsm_next(struct nvmf_request *req);

static void dsm_range_done(void *arg, int rc)
{
	struct nvmf_request *req = arg;
	struct nvmf_conn *conn = req->conn;
	if (rc || conn->closing) {
		bdev_step_done(req, rc ? media_status(rc, true) : ST_ABORTED);
		return;
	}
	req->cqe.cdw1++; /* ranges done (cdw1 is reset before the answer) */
	dsm_next(req);
	nvmf_conn_track_bdev(conn, false);
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
		nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
		return;
	}
	req->cqe.cdw1 = i;
	uint32_t bs = req->ns->block_size;
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_deallocate(req->conn->env.io, req->ns->bdev, ranges[i].slba * bs, (uint64_t)ranges[i].nlb * bs,
				 dsm_range_done, req) < 0)
		bdev_submit_failed(req);
}

static void dsm_with_ranges(struct nvmf_request *req)
{
	const struct nvme_dsm_range *ranges = req->buf;
	uint32_t nr = (req->cmd.cdw10 & 0xff) + 1;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t slba = ranges[i].slba, nlb = ranges[i].nlb;
		if (nlb && (slba >= req->ns->nblocks || nlb > req->ns->nblocks - slba)) {
			nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE), 0);
			return;
		}
	}
	/* Deallocation is advisory: without backend support there is nothing to do. */
	if (!(req->cmd.cdw11 & NVME_DSM_ATTR_DEALLOCATE) || !nvmf_bdev_supports_deallocate(req->ns->bdev)) {
		nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
		return;
	}
	req->cqe.cdw1 = 0;
	dsm_next(req);
}

static void do_dsm(struct nvmf_request *req)
{
	struct nvmf_controller *ctrl = req->conn->ctrl;
	uint32_t nsid = req->cmd.nsid;
	req->ns = nsid == 0 || nsid == NVME_NSID_ALL ? NULL : nvmf_subsystem_get_ns(ctrl->ss, nsid);
	if (!req->ns) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NAMESPACE_OR_FORMAT), 0);
		return;
	}
	size_t len = ((req->cmd.cdw10 & 0xff) + 1) * sizeof(struct nvme_dsm_range);
	if (nvmf_capsule_data_len(req->nc) < len) {
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LENGTH_INVALID), 0);
		return;
	}
	nvmf_request_receive_buf(req, len, dsm_with_ranges);
}

/* ---- Compare ---- */

static void compare_read_done(void *arg, int rc)
{
	struct nvmf_request *req = arg;
	uint16_t st = media_status(rc, false);
	if (rc == 0 && memcmp(req->buf, req->buf2, req->len) != 0)
		st = ST(NVME_SCT_MEDIA_ERROR, NVME_SC_COMPARE_FAILURE);
	bdev_step_done(req, st);
}

static void compare_with_data(struct nvmf_request *req)
{
	if (nvmf_request_buf2(req, req->len) < 0) {
		nvmf_request_complete(req, ST_INTERNAL, 0);
		return;
	}
	struct iovec iov = {req->buf2, req->len};
	nvmf_conn_track_bdev(req->conn, true);
	if (nvmf_bdev_readv(req->conn->env.io, req->ns->bdev, &iov, 1, req_offset(req), compare_read_done, req) < 0)
		bdev_submit_failed(req);
}

static void do_compare(struct nvmf_request *req)
{
	if (!check_lba_command(req, true))
		return;
	nvmf_request_receive_buf(req, req->len, compare_with_data);
}

/* ---- Fused Compare and Write ---- */

/*
 * The first request drives the pair: it holds the range exclusively from
 * before the media is read until the write is done; the second request
 * is answered just before the first.
 */
static void fused_finish(struct nvmf_request *first, uint16_t first_st, uint16_t second_st)
{
	struct nvmf_request *second = first->fused_second;
	first->fused_second = NULL;
	nvmf_request_complete(first, first_st, 0);
	nvmf_request_complete(second, second_st, 0);
}

static void fused_write_done(void *arg, int rc)
{
	struct nvmf_request *first = arg;
	struct nvmf_conn *conn = first->conn;
	if (rc == 0 && !conn->closing) {
		struct nvmf_smart_counters *s = &conn->ctrl->smart;
		atomic_fetch_add_explicit(&s->write_cmds, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->blocks512_written, first->len / 512, memory_order_relaxed);
		nvmf_ns_count_io(first->ns, true, first->len);
	}
	uint16_t st = media_status(rc, true);
	fused_finish(first, rc ? NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED) : NVME_SC_SUCCESS, st);
	nvmf_conn_track_bdev(conn, false);
}

static void fused_read_done(void *arg, int rc)
{
	struct nvmf_request *first = arg;
	struct nvmf_request *second = first->fused_second;
	struct nvmf_conn *conn = first->conn;
	uint16_t failed_fused = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED);

	if (rc || conn->closing) {
		fused_finish(first, rc ? media_status(rc, false) : ST_ABORTED, failed_fused);
		nvmf_conn_track_bdev(conn, false);
		return;
	}
	if (memcmp(first->buf, first->buf2, first->len) != 0) {
		fused_finish(first, ST(NVME_SCT_MEDIA_ERROR, NVME_SC_COMPARE_FAILURE), failed_fused);
		nvmf_conn_track_bdev(conn, false);
		return;
	}
	bool fua = (second->cmd.cdw12 & NVME_RW_FUA) || !conn->ctrl->vwc_enabled;
	nvmf_conn_track_bdev(conn, true);
	if (nvmf_bdev_writev(conn->env.io, first->ns->bdev, &second->iov, 1, req_offset(first), fua, fused_write_done,
			     first) < 0) {
		fused_finish(first, failed_fused, ST_INTERNAL);
		nvmf_conn_track_bdev(conn, false);
	}
	nvmf_conn_track_bdev(conn, false);
}

static void fused_lock_and_read(struct nvmf_request *first)
{
	if (!nvmf_ns_range_acquire(first->ns, &first->range, cmd_slba(&first->cmd), cmd_nlb(&first->cmd), true)) {
		nvmf_request_defer(first, fused_lock_and_read);
		return;
	}
	first->range_held = true;
	if (nvmf_request_buf2(first, first->len) < 0) {
		fused_finish(first, ST_INTERNAL, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED));
		return;
	}
	struct iovec iov = {first->buf2, first->len};
	nvmf_conn_track_bdev(first->conn, true);
	if (nvmf_bdev_readv(first->conn->env.io, first->ns->bdev, &iov, 1, req_offset(first), fused_read_done, first) <
	    0) {
		struct nvmf_conn *conn = first->conn;
		fused_finish(first, ST_INTERNAL, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED));
		nvmf_conn_track_bdev(conn, false);
	}
}

static void fused_second_data(struct nvmf_request *second)
{
	struct nvmf_request *first = second->fused_second; /* back link while receiving */
	second->fused_second = NULL;
	fused_lock_and_read(first);
}

static void fused_first_data(struct nvmf_request *first)
{
	struct nvmf_request *second = first->fused_second;
	second->fused_second = first;
	nvmf_request_receive_buf(second, first->len, fused_second_data);
}

void nvmf_io_execute_fused(struct nvmf_request *first, struct nvmf_request *second)
{
	uint16_t failed_fused = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_FAILED_FUSED);
	if (first->cmd.opc != NVME_OPC_COMPARE || second->cmd.opc != NVME_OPC_WRITE ||
	    first->cmd.nsid != second->cmd.nsid || cmd_slba(&first->cmd) != cmd_slba(&second->cmd) ||
	    cmd_nlb(&first->cmd) != cmd_nlb(&second->cmd)) {
		nvmf_request_complete(first, ST_INVALID_FIELD, 0);
		nvmf_request_complete(second, failed_fused, 0);
		return;
	}
	/* Validate both before moving any data; a failure answers both. */
	first->fused_second = second;
	if (!check_lba_command(second, true)) {
		first->fused_second = NULL;
		nvmf_request_complete(first, failed_fused, 0);
		return;
	}
	nvmf_ns_put(second->ns);
	second->ns = NULL;
	/* A failure of first answers second too (the fused link, see nvmf_request_complete). */
	if (!check_lba_command(first, true))
		return;
	nvmf_request_receive_buf(first, first->len, fused_first_data);
}

/* ---- Verify ---- */

static void do_verify(struct nvmf_request *req)
{
	/* No end-to-end protection and no media errors to find: a range check. */
	if (check_lba_command(req, false))
		nvmf_request_complete(req, NVME_SC_SUCCESS, 0);
}

void nvmf_io_execute(struct nvmf_request *req)
{
	switch (req->cmd.opc) {
	case NVME_OPC_READ:
		do_read(req);
		return;
	case NVME_OPC_WRITE:
		do_write(req);
		return;
	case NVME_OPC_FLUSH:
		do_flush(req);
		return;
	case NVME_OPC_WRITE_ZEROES:
		do_write_zeroes(req);
		return;
	case NVME_OPC_DATASET_MANAGEMENT:
		do_dsm(req);
		return;
	case NVME_OPC_COMPARE:
		do_compare(req);
		return;
	case NVME_OPC_VERIFY:
		do_verify(req);
		return;
	default:
		nvmf_request_complete(req, ST(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE), 0);
		return;
	}
}
