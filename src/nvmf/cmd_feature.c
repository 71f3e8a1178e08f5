/* nvmf get-feature / set-feature. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

enum { OPT_FID = CMD_OPT_BASE, OPT_VALUE, OPT_SEL, OPT_NSID, OPT_CDW11, OPT_SAVE };

struct feat_args {
	uint32_t fid, value, sel, nsid, cdw11;
	bool have_fid, have_value, save;
};

static int feat_opt(void *ctx, int opt, const char *arg)
{
	struct feat_args *a = ctx;
	switch (opt) {
	case OPT_FID:
	case 'f':
		a->have_fid = true;
		return parse_u32(arg, &a->fid) && a->fid <= 0xff ? 0 : -1;
	case OPT_VALUE:
	case 'v':
		a->have_value = true;
		return parse_u32(arg, &a->value) ? 0 : -1;
	case OPT_SEL:
	case 's':
		return parse_u32(arg, &a->sel) && a->sel <= 3 ? 0 : -1;
	case OPT_NSID:
		return parse_u32(arg, &a->nsid) ? 0 : -1;
	case OPT_CDW11:
		return parse_u32(arg, &a->cdw11) ? 0 : -1;
	case OPT_SAVE:
		a->save = true;
		return 0;
	default:
		return -1;
	}
}

static const struct option feat_opts[] = {
	{"feature-id", required_argument, NULL, OPT_FID},
	{"value", required_argument, NULL, OPT_VALUE},
	{"sel", required_argument, NULL, OPT_SEL},
	{"nsid", required_argument, NULL, OPT_NSID},
	{"cdw11", required_argument, NULL, OPT_CDW11},
	{"save", no_argument, NULL, OPT_SAVE},
	{NULL, 0, NULL, 0},
};

static const char *feature_name(uint8_t fid)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		return "Arbitration";
	case NVME_FEAT_POWER_MGMT:
		return "Power Management";
	case NVME_FEAT_TEMP_THRESH:
		return "Temperature Threshold";
	case NVME_FEAT_ERR_RECOVERY:
		return "Error Recovery";
	case NVME_FEAT_VOLATILE_WC:
		return "Volatile Write Cache";
	case NVME_FEAT_NUM_QUEUES:
		return "Number of Queues";
	case NVME_FEAT_IRQ_COALESCE:
		return "Interrupt Coalescing";
	case NVME_FEAT_IRQ_CONFIG:
		return "Interrupt Vector Configuration";
	case NVME_FEAT_WRITE_ATOMIC:
		return "Write Atomicity Normal";
	case NVME_FEAT_ASYNC_EVENT:
		return "Async Event Configuration";
	case NVME_FEAT_AUTO_PST:
		return "Autonomous Power State Transition";
	case NVME_FEAT_TIMESTAMP:
		return "Timestamp";
	case NVME_FEAT_KATO:
		return "Keep Alive Timer";
	case NVME_FEAT_HOST_ID:
		return "Host Identifier";
	case NVME_FEAT_RESV_MASK:
		return "Reservation Notification Mask";
	case NVME_FEAT_RESV_PERSIST:
		return "Reservation Persistence";
	default:
		return "Unknown";
	}
}

static const char *sel_name(uint32_t sel)
{
	static const char *names[] = {"Current", "Default", "Saved", "Supported capabilities"};
	return names[sel & 3];
}

int cmd_get_feature(int argc, char **argv)
{
	struct cli cli = {0};
	struct feat_args a = {0};
	cli_parse(&cli, argc, argv, feat_opts, "f:s:", feat_opt, &a, "--feature-id F [--sel S] [--nsid N] [--cdw11 V]");
	if (!a.have_fid) {
		cli_error(&cli, "--feature-id is required");
		return 2;
	}
	cli.opts.nr_io_queues = 0;
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	uint32_t result = 0;
	int rc = nvmf_host_get_features(c, (uint8_t)a.fid, (uint8_t)a.sel, a.nsid, a.cdw11, NULL, 0, &result);
	if (rc) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return 1;
	}
	if (cli.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "feature_id", json_object_new_int((int)a.fid));
		json_object_object_add(o, "name", json_object_new_string(feature_name((uint8_t)a.fid)));
		json_object_object_add(o, "sel", json_object_new_int((int)a.sel));
		json_object_object_add(o, "value", json_object_new_int64(result));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("get-feature:0x%02x (%s), %s value:0x%08x\n", a.fid, feature_name((uint8_t)a.fid), sel_name(a.sel),
		       result);
	}
	return cli_disconnect(&cli, c);
}

int cmd_set_feature(int argc, char **argv)
{
	struct cli cli = {0};
	struct feat_args a = {0};
	cli_parse(&cli, argc, argv, feat_opts, "f:v:", feat_opt, &a, "--feature-id F --value V [--nsid N] [--save]");
	if (!a.have_fid || !a.have_value) {
		cli_error(&cli, "--feature-id and --value are required");
		return 2;
	}
	cli.opts.nr_io_queues = 0;
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	uint32_t result = 0;
	int rc = nvmf_host_set_features(c, (uint8_t)a.fid, a.nsid, a.value, a.save, NULL, 0, &result);
	if (rc) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return 1;
	}
	if (cli.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "feature_id", json_object_new_int((int)a.fid));
		json_object_object_add(o, "value", json_object_new_int64(a.value));
		json_object_object_add(o, "result", json_object_new_int64(result));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("set-feature:0x%02x (%s), value:0x%08x, cdw12:0, save:%d\n", a.fid, feature_name((uint8_t)a.fid),
		       a.value, a.save);
	}
	return cli_disconnect(&cli, c);
}
