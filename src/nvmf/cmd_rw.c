/* nvmf read / nvmf write: blocks to and from a file or stdin/stdout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_NSID = CMD_OPT_BASE, OPT_LBA, OPT_COUNT };

struct rw_args {
	uint32_t nsid;
	uint64_t lba;
	uint32_t count;
	bool have_count;
	const char *file;
};

static int rw_opt(void *ctx, int opt, const char *arg)
{
	struct rw_args *a = ctx;
	switch (opt) {
	case OPT_NSID:
		return parse_u32(arg, &a->nsid) && a->nsid ? 0 : -1;
	case OPT_LBA:
	case 's':
		return parse_u64(arg, &a->lba) ? 0 : -1;
	case OPT_COUNT:
	case 'c':
		a->have_count = true;
		return parse_u32(arg, &a->count) && a->count ? 0 : -1;
	case 'o':
	case 'i':
		a->file = arg;
		return 0;
	default:
		return -1;
	}
}

static const struct option rw_opts[] = {
	{"nsid", required_argument, NULL, OPT_NSID},
	{"lba", required_argument, NULL, OPT_LBA},
	{"start-block", required_argument, NULL, 's'},
	{"count", required_argument, NULL, OPT_COUNT},
	{"output", required_argument, NULL, 'o'},
	{"input", required_argument, NULL, 'i'},
	{NULL, 0, NULL, 0},
};

/* Blocks per command: the transfer limit and the 16-bit NLB field. */
static uint32_t chunk_blocks(struct nvmf_host_ctrl *c, uint32_t bs)
{
	uint32_t max = nvmf_host_ctrl_max_xfer(c);
	uint32_t n = max ? max / bs : 65536;
	if (n == 0)
		n = 1;
	return n > 65536 ? 65536 : n;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int setup(struct cli *cli, struct rw_args *a, int argc, char **argv, const char *shorts, bool writing,
		 struct nvmf_host_ctrl **cp, struct nvmf_host_ns_info *info)
{
	cli_parse(cli, argc, argv, rw_opts, shorts, rw_opt, a,
		  writing ? "--nsid N --lba L [--count C] [-i FILE]" : "--nsid N --lba L --count C [-o FILE]");
	if (!a->nsid) {
		cli_error(cli, "--nsid is required");
		return 2;
	}
	if (!writing && !a->have_count) {
		cli_error(cli, "--count is required");
		return 2;
	}
	cli->opts.nr_io_queues = 1;
	*cp = cli_connect(cli, false);
	int rc = nvmf_host_ns_info(*cp, a->nsid, info);
	if (rc) {
		cli_error(cli, "%s", nvmf_host_ctrl_error(*cp));
		nvmf_host_disconnect(*cp);
		return 1;
	}
	return 0;
}

static void io_error(struct cli *cli, const char *op, const struct rw_args *a, uint64_t lba, uint32_t nlb,
		     size_t done_bytes, size_t total, int rc, const struct nvmf_host_completion *cpl,
		     struct nvmf_host_qpair *qp)
{
	char why[512];
	if (rc > 0)
		nvmf_host_status_format((uint16_t)rc, false, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", nvmf_host_qpair_error(qp)[0] ? nvmf_host_qpair_error(qp) : strerror(-rc));
	cli_error(cli, "%s nsid %u lba %llu count %u failed: %s; %zu of %zu bytes done (%zu bytes of the failed command moved)",
		  op, a->nsid, (unsigned long long)lba, nlb, why, done_bytes, total, cpl->transferred);
}

int cmd_read(int argc, char **argv)
{
	struct cli cli = {0};
	struct rw_args a = {0};
	struct nvmf_host_ctrl *c;
	struct nvmf_host_ns_info info;
	int rc = setup(&cli, &a, argc, argv, "s:c:o:", false, &c, &info);
	if (rc)
		return rc;
	int fd = STDOUT_FILENO;
	if (a.file && strcmp(a.file, "-")) {
		fd = open(a.file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			cli_error(&cli, "cannot open %s: %s", a.file, strerror(errno));
			nvmf_host_disconnect(c);
			return 1;
		}
	}
	struct nvmf_host_qpair *qp = nvmf_host_ctrl_io_qpair(c, 0);
	uint32_t per = chunk_blocks(c, info.block_size);
	size_t total = (size_t)a.count * info.block_size, done = 0;
	void *buf = malloc((size_t)per * info.block_size);
	int status = 0;
	for (uint32_t left = a.count; left && buf;) {
		uint32_t nlb = left < per ? left : per;
		uint64_t lba = a.lba + (a.count - left);
		struct nvmf_host_completion cpl = {0};
		rc = nvmf_host_read_sync(qp, a.nsid, lba, nlb, buf, (size_t)nlb * info.block_size, &cpl);
		if (rc) {
			/* Keep what arrived: write the partial data out too. */
			write_all(fd, buf, cpl.transferred);
			io_error(&cli, "read", &a, lba, nlb, done + cpl.transferred, total, rc, &cpl, qp);
			status = 1;
			break;
		}
		if (!write_all(fd, buf, (size_t)nlb * info.block_size)) {
			cli_error(&cli, "writing output: %s", strerror(errno));
			status = 1;
			break;
		}
		done += (size_t)nlb * info.block_size;
		left -= nlb;
	}
	free(buf);
	if (fd != STDOUT_FILENO)
		close(fd);
	if (status == 0)
		fprintf(stderr, "read: %zu bytes (%u blocks of %u) from nsid %u lba %llu\n", done, a.count,
			info.block_size, a.nsid, (unsigned long long)a.lba);
	return cli_disconnect(&cli, c) | status;
}

int cmd_write(int argc, char **argv)
{
	struct cli cli = {0};
	struct rw_args a = {0};
	struct nvmf_host_ctrl *c;
	struct nvmf_host_ns_info info;
	int rc = setup(&cli, &a, argc, argv, "s:c:i:", true, &c, &info);
	if (rc)
		return rc;
	int fd = STDIN_FILENO;
	if (a.file && strcmp(a.file, "-")) {
		fd = open(a.file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_error(&cli, "cannot open %s: %s", a.file, strerror(errno));
			nvmf_host_disconnect(c);
			return 1;
		}
	}
	/* Read all input; the last block is padded with zeros. */
	size_t cap = 1 << 20, len = 0;
	char *data = malloc(cap);
	for (ssize_t n; data;) {
		if (len == cap) {
			char *grown = realloc(data, cap *= 2);
			if (!grown) {
				free(data);
				data = NULL;
				break;
			}
			data = grown;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error(&cli, "reading input: %s", strerror(errno));
			free(data);
			data = NULL;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (!data) {
		nvmf_host_disconnect(c);
		return 1;
	}
	uint32_t bs = info.block_size;
	uint32_t blocks = (uint32_t)((len + bs - 1) / bs);
	if (a.have_count)
		blocks = a.count;
	if (blocks == 0) {
		cli_error(&cli, "no data to write");
		free(data);
		nvmf_host_disconnect(c);
		return 1;
	}
	size_t total = (size_t)blocks * bs;
	if (total > cap) {
		char *grown = realloc(data, total);
		if (!grown) {
			free(data);
			nvmf_host_disconnect(c);
			return 1;
		}
		data = grown;
	}
	if (total > len)
		memset(data + len, 0, total - len);
	struct nvmf_host_qpair *qp = nvmf_host_ctrl_io_qpair(c, 0);
	uint32_t per = chunk_blocks(c, bs);
	size_t done = 0;
	int status = 0;
	for (uint32_t left = blocks; left;) {
		uint32_t nlb = left < per ? left : per;
		uint64_t lba = a.lba + (blocks - left);
		struct nvmf_host_completion cpl = {0};
		rc = nvmf_host_write_sync(qp, a.nsid, lba, nlb, data + done, (size_t)nlb * bs, &cpl);
		if (rc) {
			io_error(&cli, "write", &a, lba, nlb, done + cpl.transferred, total, rc, &cpl, qp);
			status = 1;
			break;
		}
		done += (size_t)nlb * bs;
		left -= nlb;
	}
	free(data);
	if (status == 0)
		fprintf(stderr, "write: %zu bytes (%u blocks of %u) to nsid %u lba %llu\n", done, blocks, bs, a.nsid,
			(unsigned long long)a.lba);
	return cli_disconnect(&cli, c) | status;
}
