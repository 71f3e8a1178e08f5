/* nvmf smart-log and nvmf get-log. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_LOG_ID = CMD_OPT_BASE, OPT_LEN, OPT_NSID, OPT_LSP, OPT_OFFSET, OPT_RAW };

struct log_args {
	uint32_t log_id, len, nsid, lsp;
	uint64_t offset;
	bool have_id, have_len, raw;
};

static int log_opt(void *ctx, int opt, const char *arg)
{
	struct log_args *a = ctx;
	switch (opt) {
	case OPT_LOG_ID:
		a->have_id = true;
		return parse_u32(arg, &a->log_id) && a->log_id <= 0xff ? 0 : -1;
	case OPT_LEN:
		a->have_len = true;
		return parse_u32(arg, &a->len) && a->len ? 0 : -1;
	case OPT_NSID:
		return parse_u32(arg, &a->nsid) ? 0 : -1;
	case OPT_LSP:
		return parse_u32(arg, &a->lsp) && a->lsp <= 0x7f ? 0 : -1;
	case OPT_OFFSET:
		return parse_u64(arg, &a->offset) ? 0 : -1;
	case OPT_RAW:
		a->raw = true;
		return 0;
	default:
		return -1;
	}
}

static const struct option log_opts[] = {
	{"log-id", required_argument, NULL, OPT_LOG_ID},
	{"len", required_argument, NULL, OPT_LEN},
	{"log-len", required_argument, NULL, OPT_LEN},
	{"nsid", required_argument, NULL, OPT_NSID},
	{"lsp", required_argument, NULL, OPT_LSP},
	{"lpo", required_argument, NULL, OPT_OFFSET},
	{"raw-binary", no_argument, NULL, OPT_RAW},
	{NULL, 0, NULL, 0},
};

/* A little-endian 128-bit counter as a double (exact up to 2^53, as nvme-cli prints). */
static long double le128(const uint8_t b[16])
{
	long double v = 0;
	for (int i = 15; i >= 0; i--)
		v = v * 256 + b[i];
	return v;
}

static void hexdump(const uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += 16) {
		printf("%04zx:", off);
		for (size_t i = off; i < off + 16 && i < len; i++)
			printf(" %02x", p[i]);
		printf("\n");
	}
}

int cmd_smart_log(int argc, char **argv)
{
	struct cli cli = {0};
	struct log_args a = {.nsid = NVME_NSID_ALL};
	cli_parse(&cli, argc, argv, log_opts, NULL, log_opt, &a, "[--nsid N] [--json]");
	cli.opts.nr_io_queues = 0;
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	struct nvme_smart_log s;
	size_t got = 0;
	int rc = nvmf_host_get_log_page(c, NVME_LOG_SMART, a.nsid, 0, 0, &s, sizeof(s), &got);
	if (rc) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return 1;
	}
	unsigned temp = s.temperature[0] | s.temperature[1] << 8;
	struct {
		const char *name;
		long double v;
	} counters[] = {
		{"data_units_read", le128(s.data_units_read)},
		{"data_units_written", le128(s.data_units_written)},
		{"host_read_commands", le128(s.host_reads)},
		{"host_write_commands", le128(s.host_writes)},
		{"controller_busy_time", le128(s.ctrl_busy_time)},
		{"power_cycles", le128(s.power_cycles)},
		{"power_on_hours", le128(s.power_on_hours)},
		{"unsafe_shutdowns", le128(s.unsafe_shutdowns)},
		{"media_errors", le128(s.media_errors)},
		{"num_err_log_entries", le128(s.num_err_log_entries)},
	};
	size_t nc = sizeof(counters) / sizeof(counters[0]);
	if (cli.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "critical_warning", json_object_new_int(s.critical_warning));
		json_object_object_add(o, "temperature", json_object_new_int((int)temp));
		json_object_object_add(o, "avail_spare", json_object_new_int(s.avail_spare));
		json_object_object_add(o, "spare_thresh", json_object_new_int(s.spare_thresh));
		json_object_object_add(o, "percent_used", json_object_new_int(s.percent_used));
		for (size_t i = 0; i < nc; i++)
			json_object_object_add(o, counters[i].name, json_object_new_double((double)counters[i].v));
		json_object_object_add(o, "warning_temp_time", json_object_new_int64(s.warning_temp_time));
		json_object_object_add(o, "critical_comp_time", json_object_new_int64(s.critical_comp_time));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("Smart Log for NVME device:%s namespace-id:%x\n", cli.addr.subnqn, a.nsid);
		printf("critical_warning                        : %u\n", s.critical_warning);
		printf("temperature                             : %d C (%u K)\n", (int)temp - 273, temp);
		printf("available_spare                         : %u%%\n", s.avail_spare);
		printf("available_spare_threshold               : %u%%\n", s.spare_thresh);
		printf("percentage_used                         : %u%%\n", s.percent_used);
		for (size_t i = 0; i < nc; i++)
			printf("%-40s: %.0Lf\n", counters[i].name, counters[i].v);
		printf("%-40s: %u\n", "warning_temperature_time", s.warning_temp_time);
		printf("%-40s: %u\n", "critical_composite_temperature_time", s.critical_comp_time);
	}
	return cli_disconnect(&cli, c);
}

int cmd_get_log(int argc, char **argv)
{
	struct cli cli = {0};
	struct log_args a = {.nsid = NVME_NSID_ALL};
	cli_parse(&cli, argc, argv, log_opts, NULL, log_opt, &a,
		  "--log-id ID --len N [--nsid N] [--lsp N] [--lpo OFFSET] [--raw-binary] [--json]");
	if (!a.have_id || !a.have_len) {
		cli_error(&cli, "--log-id and --len are required");
		return 2;
	}
	if (a.len % 4) {
		cli_error(&cli, "--len must be a multiple of 4 (the log is read in dwords)");
		return 2;
	}
	cli.opts.nr_io_queues = 0;
	bool disc = a.log_id == NVME_LOG_DISCOVERY &&
		    (cli.addr.subnqn[0] == '\0' || !strcmp(cli.addr.subnqn, NVME_DISCOVERY_NQN));
	struct nvmf_host_ctrl *c = cli_connect(&cli, disc);
	uint8_t *buf = calloc(1, a.len);
	size_t got = 0;
	int rc = buf ? nvmf_host_get_log_page(c, (uint8_t)a.log_id, a.nsid, (uint8_t)a.lsp, a.offset, buf, a.len, &got)
		     : -12;
	if (rc) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		if (got)
			fprintf(stderr, "partial log: %zu of %u bytes received\n", got, a.len);
		free(buf);
		nvmf_host_disconnect(c);
		return 1;
	}
	if (a.raw) {
		fwrite(buf, 1, a.len, stdout);
	} else if (cli.json) {
		char *hex = malloc((size_t)a.len * 2 + 1);
		for (uint32_t i = 0; hex && i < a.len; i++)
			sprintf(hex + 2 * i, "%02x", buf[i]);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "log_id", json_object_new_int((int)a.log_id));
		json_object_object_add(o, "len", json_object_new_int64(a.len));
		json_object_object_add(o, "data", json_object_new_string(hex ? hex : ""));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		free(hex);
	} else {
		printf("Device:%s log-id:%u namespace-id:%#x\n", cli.addr.subnqn, a.log_id, a.nsid);
		hexdump(buf, a.len);
	}
	free(buf);
	return cli_disconnect(&cli, c);
}
