/* nvmf: a command-line NVMe over Fabrics host.  Subcommand dispatch and shared options. */
#include <json-c/json.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_HOSTNQN = CLI_OPT_BASE,
	OPT_HOSTID,
	OPT_HDGST,
	OPT_DDGST,
	OPT_JSON,
	OPT_NR_IO_QUEUES,
	OPT_QUEUE_SIZE,
	OPT_KATO,
	OPT_RECONNECT_DELAY,
	OPT_CTRL_LOSS_TMO,
	OPT_TIMEOUT,
	OPT_HELP,
	OPT_DISABLE_SQFC,
	OPT_POLLED,
	OPT_DHCHAP_SECRET,
	OPT_DHCHAP_CTRL_SECRET,
	OPT_DHCHAP_HASH,
	OPT_DHCHAP_DHGROUP,
	OPT_TLS,
	OPT_TLS_KEY,
	OPT_TLS_IDENTITY,
	OPT_TLS_KDF,
};

static const struct option common_opts[] = {
	{"hostnqn", required_argument, NULL, OPT_HOSTNQN},
	{"hostid", required_argument, NULL, OPT_HOSTID},
	{"hdgst", no_argument, NULL, OPT_HDGST},
	{"ddgst", no_argument, NULL, OPT_DDGST},
	{"disable-sqfc", no_argument, NULL, OPT_DISABLE_SQFC},
	{"polled", no_argument, NULL, OPT_POLLED},
	{"json", no_argument, NULL, OPT_JSON},
	{"nr-io-queues", required_argument, NULL, OPT_NR_IO_QUEUES},
	{"queue-size", required_argument, NULL, OPT_QUEUE_SIZE},
	{"keep-alive-tmo", required_argument, NULL, OPT_KATO},
	{"reconnect-delay", required_argument, NULL, OPT_RECONNECT_DELAY},
	{"ctrl-loss-tmo", required_argument, NULL, OPT_CTRL_LOSS_TMO},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, OPT_HELP},
	{"dhchap-secret", required_argument, NULL, OPT_DHCHAP_SECRET},
	{"dhchap-ctrl-secret", required_argument, NULL, OPT_DHCHAP_CTRL_SECRET},
	{"dhchap-hash", required_argument, NULL, OPT_DHCHAP_HASH},
	{"dhchap-dhgroup", required_argument, NULL, OPT_DHCHAP_DHGROUP},
	{"tls", no_argument, NULL, OPT_TLS},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-identity", required_argument, NULL, OPT_TLS_IDENTITY},
	{"tls-kdf", required_argument, NULL, OPT_TLS_KDF},
};

static const char common_usage[] =
	"ADDR: tcp://HOST:PORT/SUBNQN, 'trtype:tcp adrfam:ipv4 traddr:HOST trsvcid:PORT subnqn:NQN' or vfio-user:PATH\n"
	"common options: --hostnqn NQN --hostid UUID --hdgst --ddgst --disable-sqfc --json --nr-io-queues N\n"
	"  --queue-size N --keep-alive-tmo SEC --reconnect-delay SEC --ctrl-loss-tmo SEC --timeout MS\n"
	"  --polled (vfio-user: I/O queues without interrupts)\n"
	"  --dhchap-secret DHHC-1:.. --dhchap-ctrl-secret DHHC-1:.. (DH-HMAC-CHAP, as nvme-cli)\n"
	"  --dhchap-hash hmac(sha256),.. --dhchap-dhgroup ffdhe2048,null,.. (what to offer, in order)\n"
	"  --tls --tls-key NVMeTLSkey-1:.. (TLS 1.3 with that PSK) --tls-identity 0|1 (PSK identity form)\n"
	"  --tls-kdf nvme-cli|tp8011 (how the PSKs are derived: as nvme-cli and the Linux keyring, the default,\n"
	"  or with TP 8011's HkdfLabel)\n";

void cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "nvmf %s: ", cli->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return false;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

bool parse_u32(const char *s, uint32_t *v)
{
	uint64_t x;
	if (!parse_u64(s, &x) || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

static void usage_exit(const struct cli *cli, const char *usage, int code)
{
	fprintf(code ? stderr : stdout, "usage: nvmf %s ADDR %s\n%s", cli->cmd, usage ? usage : "", common_usage);
	exit(code);
}

void cli_parse(struct cli *cli, int argc, char **argv, const struct option *extra, const char *shorts,
	       cli_opt_handler handler, void *ctx, const char *usage)
{
	size_t ncommon = sizeof(common_opts) / sizeof(common_opts[0]), nextra = 0;
	while (extra && extra[nextra].name)
		nextra++;
	struct option *all = calloc(ncommon + nextra + 1, sizeof(*all));
	if (!all)
		exit(1);
	memcpy(all, common_opts, sizeof(common_opts));
	if (nextra)
		memcpy(all + ncommon, extra, nextra * sizeof(*all));

	cli->cmd = argv[0];
	nvmf_host_opts_default(&cli->opts);
	int c;
	uint32_t v;
	bool want_tls = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts ? shorts : "", all, NULL)) != -1) {
		switch (c) {
		case OPT_HOSTNQN:
			if (strlen(optarg) > NVME_NQN_MAX) {
				cli_error(cli, "host NQN too long");
				exit(2);
			}
			strcpy(cli->opts.hostnqn, optarg);
			break;
		case OPT_HOSTID:
			if (nvmf_host_parse_uuid(optarg, cli->opts.hostid)) {
				cli_error(cli, "invalid host ID '%s' (want a UUID)", optarg);
				exit(2);
			}
			break;
		case OPT_HDGST:
			cli->opts.hdgst = true;
			break;
		case OPT_DDGST:
			cli->opts.ddgst = true;
			break;
		case OPT_DISABLE_SQFC:
			cli->opts.disable_sq_flow_control = true;
			break;
		case OPT_POLLED:
			cli->opts.polled_io_queues = true;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_NR_IO_QUEUES:
		case OPT_QUEUE_SIZE:
		case OPT_KATO:
		case OPT_RECONNECT_DELAY:
		case OPT_CTRL_LOSS_TMO:
		case OPT_TIMEOUT:
			if (!parse_u32(optarg, &v) || v > 0x7fffffff) {
				cli_error(cli, "invalid value '%s'", optarg);
				exit(2);
			}
			if (c == OPT_NR_IO_QUEUES)
				cli->opts.nr_io_queues = (uint16_t)(v > 1024 ? 1024 : v);
			else if (c == OPT_QUEUE_SIZE)
				cli->opts.io_qsize = (uint16_t)(v > 65535 ? 65535 : v);
			else if (c == OPT_KATO)
				cli->opts.kato_ms = v * 1000;
			else if (c == OPT_RECONNECT_DELAY)
				cli->opts.reconnect_delay_s = (int)v;
			else if (c == OPT_CTRL_LOSS_TMO)
				cli->opts.ctrl_loss_tmo_s = (int)v;
			else
				cli->opts.timeout_ms = (int)v;
			break;
		case OPT_DHCHAP_SECRET:
		case OPT_DHCHAP_CTRL_SECRET:
		case OPT_DHCHAP_HASH:
		case OPT_DHCHAP_DHGROUP: {
			char *dst = c == OPT_DHCHAP_SECRET	    ? cli->opts.dhchap_secret
				    : c == OPT_DHCHAP_CTRL_SECRET ? cli->opts.dhchap_ctrl_secret
				    : c == OPT_DHCHAP_HASH	    ? cli->opts.dhchap_hashes
								    : cli->opts.dhchap_dhgroups;
			size_t cap = c == OPT_DHCHAP_SECRET	 ? sizeof(cli->opts.dhchap_secret)
				     : c == OPT_DHCHAP_CTRL_SECRET ? sizeof(cli->opts.dhchap_ctrl_secret)
				     : c == OPT_DHCHAP_HASH	 ? sizeof(cli->opts.dhchap_hashes)
								 : sizeof(cli->opts.dhchap_dhgroups);
			if (strlen(optarg) >= cap) {
				cli_error(cli, "DH-HMAC-CHAP option too long"); /* never echo a secret */
				exit(2);
			}
			strcpy(dst, optarg);
			break;
		}
		case OPT_TLS:
			want_tls = true;
			break;
		case OPT_TLS_KEY:
			if (strlen(optarg) >= sizeof(cli->opts.tls_key)) {
				cli_error(cli, "TLS key too long");
				exit(2);
			}
			strcpy(cli->opts.tls_key, optarg);
			break;
		case OPT_TLS_IDENTITY:
			if (strcmp(optarg, "0") && strcmp(optarg, "1")) {
				cli_error(cli, "--tls-identity wants 0 or 1");
				exit(2);
			}
			cli->opts.tls_identity = optarg[0] - '0';
			break;
		case OPT_TLS_KDF:
			if (strcmp(optarg, "nvme-cli") && strcmp(optarg, "tp8011")) {
				cli_error(cli, "--tls-kdf wants nvme-cli or tp8011");
				exit(2);
			}
			cli->opts.tls_tp8011 = optarg[0] == 't';
			break;
		case OPT_HELP:
			usage_exit(cli, usage, 0);
			break;
		case '?':
			usage_exit(cli, usage, 2);
			break;
		default:
			if (!handler || handler(ctx, c, optarg) != 0) {
				cli_error(cli, "invalid value '%s' for option", optarg ? optarg : "");
				exit(2);
			}
		}
	}
	free(all);
	if (want_tls && !cli->opts.tls_key[0]) {
		cli_error(cli, "--tls needs --tls-key (there is no keyring here)");
		exit(2);
	}
	/* A given host NQN without an ID (or the reverse) keeps the other's default, as nvme-cli. */

	if (optind >= argc) {
		cli_error(cli, "missing target address");
		usage_exit(cli, usage, 2);
	}
	size_t len = 0;
	for (int i = optind; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *joined = calloc(1, len + 1);
	if (!joined)
		exit(1);
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			strcat(joined, " ");
		strcat(joined, argv[i]);
	}
	char err[256];
	if (nvmf_host_parse_address(joined, &cli->addr, err, sizeof(err))) {
		cli_error(cli, "%s", err);
		free(joined);
		exit(2);
	}
	free(joined);
	cli->have_addr = true;
}

/* The first NVM subsystem the discovery controller lists. */
static int first_subsystem(struct cli *cli, char *nqn, size_t len)
{
	struct cli disc = *cli;
	strcpy(disc.addr.subnqn, NVME_DISCOVERY_NQN);
	struct nvmf_host_ctrl *c = cli_connect(&disc, true);
	struct nvmf_discovery_log_header *log;
	size_t n;
	int rc = nvmf_host_discover(c, &log, &n);
	if (rc) {
		cli_error(cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return -1;
	}
	rc = -1;
	for (size_t i = 0; i < n; i++) {
		struct nvmf_discovery_log_entry *e = nvmf_host_discovery_entry(log, i);
		if (e->subtype == NVMF_SUBTYPE_NVME) {
			snprintf(nqn, len, "%.*s", NVME_NQN_FIELD - 1, e->subnqn);
			rc = 0;
			break;
		}
	}
	free(log);
	nvmf_host_disconnect(c);
	if (rc)
		cli_error(cli, "no subsystem NQN given and discovery lists no NVM subsystem");
	return rc;
}

struct nvmf_host_ctrl *cli_connect(struct cli *cli, bool discovery)
{
	struct nvmf_host_opts opts = cli->opts;
	if (cli->addr.trtype == NVMF_TRTYPE_VFIO_USER) {
		/* A PCIe function: one NVM controller, no discovery. */
		if (discovery)
			opts.nr_io_queues = 0;
	} else if (discovery) {
		if (cli->addr.subnqn[0] == '\0')
			strcpy(cli->addr.subnqn, NVME_DISCOVERY_NQN);
		opts.nr_io_queues = 0;
		opts.kato_ms = 0; /* a one-shot discovery controller, as nvme-cli */
	} else if (cli->addr.subnqn[0] == '\0') {
		if (first_subsystem(cli, cli->addr.subnqn, sizeof(cli->addr.subnqn)))
			exit(1);
	}
	struct nvmf_host_ctrl *c;
	char err[1024];
	int rc = nvmf_host_connect(&cli->addr, &opts, &c, err, sizeof(err));
	if (rc) {
		cli_error(cli, "%s", err);
		exit(1);
	}
	return c;
}

int cli_disconnect(struct cli *cli, struct nvmf_host_ctrl *ctrl)
{
	int rc = nvmf_host_shutdown(ctrl);
	if (rc)
		cli_error(cli, "disconnect: %s", nvmf_host_ctrl_error(ctrl));
	nvmf_host_disconnect(ctrl);
	return rc ? 1 : 0;
}

int cli_finish(struct cli *cli, struct nvmf_host_ctrl *ctrl, struct json_object *root, int rc)
{
	if (root) {
		if (rc == 0)
			printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	}
	if (rc) {
		cli_error(cli, "%s", nvmf_host_ctrl_error(ctrl));
		nvmf_host_disconnect(ctrl);
		return 1;
	}
	return cli_disconnect(cli, ctrl);
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{"discover", cmd_discover, "read the discovery log"},
	{"identify", cmd_identify, "the controller and every namespace"},
	{"list", cmd_list, "namespaces with size and block size"},
	{"read", cmd_read, "read blocks (--nsid N --lba L --count C [-o FILE])"},
	{"write", cmd_write, "write blocks (--nsid N --lba L [-i FILE])"},
	{"smart-log", cmd_smart_log, "SMART / health information"},
	{"get-log", cmd_get_log, "any log page (--log-id ID --len N)"},
	{"get-feature", cmd_get_feature, "--feature-id F"},
	{"set-feature", cmd_set_feature, "--feature-id F --value V"},
	{"perf", cmd_perf, "load generator (see nvmf perf --help)"},
	{"rpc", cmd_rpc, "call a method of nvmfd's JSON-RPC socket (see nvmf rpc --help)"},
};

int main(int argc, char **argv)
{
	/* A closed stdout pipe is an error to report, not a reason to skip the clean disconnect. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		printf("usage: nvmf COMMAND ADDR [options]\n\ncommands:\n");
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			printf("  %-12s %s\n", commands[i].name, commands[i].help);
		printf("\n%s", common_usage);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "nvmf: unknown command '%s' (try nvmf --help)\n", argv[1]);
	return 2;
}
