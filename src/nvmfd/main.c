/*
 * nvmfd: the NVMe over Fabrics target daemon.
 *
 *   nvmfd                       a 1 GiB RAM namespace in nqn.2024-01.io.nvmf:default on 127.0.0.1:4420
 *   nvmfd --listen ADDR:PORT --subsystem NQN --namespace ram:1G --allow-host HOSTNQN ...
 *   nvmfd --config FILE         an nvmetcli JSON file, or one SPDK's rpc.py save_config wrote
 *   nvmfd --rpc-socket PATH     the JSON-RPC socket (default /var/tmp/nvmfd.sock)
 *   nvmfd --max-connections N --max-connections-per-host N --tx-backlog BYTES --read-budget BYTES
 *         --commands-per-pass N --buffer-budget SIZE
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nvmf/nvme_admin_spec.h>

#include "acceptor.h"
#include "config.h"
#include "metrics.h"
#include "conn_limits.h"
#include "cpu_list.h"
#include "ctrl/target.h"
#include "resource_limits.h"
#include "reactor.h"
#include "rpc.h"

#define DEFAULT_NQN "nqn.2024-01.io.nvmf:default"
#define DEFAULT_NAMESPACE "ram:1G"
#define DEFAULT_LISTEN "127.0.0.1:4420"
#define MAX_REACTORS 256

/* An allowed host and its DH-HMAC-CHAP settings (NULL: none). */
struct flag_host {
	const char *nqn;
	const char *dhchap_key, *dhchap_ctrl_key, *dhchap_hash, *dhchap_dhgroup;
	const char *tls_key;
};

struct flag_subsystem {
	const char *nqn;
	const char **namespaces;
	unsigned nnamespaces;
	struct flag_host *hosts;
	unsigned nhosts;
};

struct options {
	const char **listens;
	enum nvmf_port_tls *listen_tls; /* --tls after each --listen */
	unsigned nlistens;
	struct flag_subsystem *subsystems;
	unsigned nsubsystems;
	const char *config;
	unsigned reactors;
	const char *reactor_cpus; /* --reactor-cpus LIST, or NULL */
	const char *rpc_socket; /* NULL: the default, where failing is not fatal */
	const char *metrics;	/* ADDR:PORT for Prometheus, or NULL */
	/* Several gateways of one subsystem: distinct controller ID ranges, this gateway's ANA state. */
	long cntlid_min, cntlid_max; /* 0: not given */
	int ana_state;		     /* 0: not given */
	long spin_us;		     /* -1: the reactor's default */
	bool vu_trapped;	     /* --vfio-user-doorbells trapped */
	/* Limit flags (name, value) in order; applied over the config file's. */
	const char *limit_names[16];
	const char *limit_values[16];
	unsigned nlimits;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: nvmfd [--listen ADDR:PORT|vfio-user:PATH [--tls required|allowed]]...\n"
		   "             [--subsystem NQN [--namespace FILE|ram:SIZE|null:SIZE]...\n"
		   "             [--allow-host NQN [--dhchap-key DHHC-1:.. [--dhchap-ctrl-key DHHC-1:..]\n"
		   "              [--dhchap-hash hmac(sha256),..] [--dhchap-dhgroup ffdhe2048,null,..]]\n"
		   "              [--tls-key NVMeTLSkey-1:..]]...]...\n"
		   "             [--config FILE] [--reactors N] [--rpc-socket PATH] [--metrics ADDR:PORT]\n"
		   "             [--buffer-budget SIZE] [--max-queue-size N] [--max-io-queues N] [--max-associations N]\n"
		   "             [--max-connections N] [--max-connections-per-host N] [--tx-backlog BYTES]\n"
		   "             [--read-budget BYTES] [--commands-per-pass N]\n"
		   "             [--cntlid-min N] [--cntlid-max N] [--ana-state optimized|non-optimized|inaccessible]\n"
		   "             [--reactor-cpus LIST] [--poll-spin-us N] [--vfio-user-doorbells mapped|trapped]\n"
		   "With no flags: a 1 GiB RAM namespace in " DEFAULT_NQN " on " DEFAULT_LISTEN ".\n"
		   "A subsystem with no --allow-host accepts any host.  The --dhchap-* flags apply to the\n"
		   "--allow-host before them: that host must pass DH-HMAC-CHAP on every queue.  --tls-key gives\n"
		   "that host a TLS PSK (interchange format); --tls makes the --listen before it TLS 1.3 only\n"
		   "(required) or TLS and plain TCP (allowed).\n"
		   "Limits (0: none; BYTES may end in K, M or G): --max-connections (default %d),\n"
		   "--max-connections-per-host (default %d), --tx-backlog: unsent output per connection\n"
		   "at which its input stops being read (default %d), --read-budget: bytes read per\n"
		   "connection per reactor pass (default %d), --commands-per-pass: PDUs handled per\n"
		   "connection per reactor pass (default %d).\n"
		   "Gateways of one subsystem (multipath): each takes its own controller ID range in\n"
		   "1..65519 (--cntlid-min/--cntlid-max, every subsystem) and reports its ANA state\n"
		   "(default optimized) for ANA group 1, which holds every namespace.\n"
		   "Namespaces: FILE, ram:SIZE, null:SIZE or rbd:POOL/IMAGE[@CEPH_CONF][:id=CLIENT].\n"
		   "--reactor-cpus: one reactor on each CPU of LIST (such as 0,2 or 0-3), pinned there;\n"
		   "--reactors, if given, must count as many.  Without it reactors run where the kernel\n"
		   "puts them.\n"
		   "--poll-spin-us: how long a reactor keeps polling after its last work before it sleeps\n"
		   "(default 300; 0 leaves the CPU to librbd's threads and Ceph daemons on small machines).\n"
		   "--vfio-user-doorbells: mapped (default) lets clients write doorbells to shared memory,\n"
		   "polled every 1-5 ms when idle; trapped makes them messages and offers shadow doorbells\n"
		   "(Doorbell Buffer Config), so an idle device sleeps and wakes on the next command; the\n"
		   "default of vfio-user listeners (a config port's param vfio_user_doorbells wins).\n",
		NVMFD_DEFAULT_MAX_CONNECTIONS, NVMFD_DEFAULT_MAX_CONNECTIONS_PER_HOST, NVMFD_DEFAULT_TX_BACKLOG,
		NVMFD_DEFAULT_READ_BUDGET, NVMFD_DEFAULT_COMMANDS_PER_PASS);
}

static void *grow(void *p, size_t n, size_t size)
{
	p = realloc(p, n * size);
	if (!p) {
		perror("nvmfd");
		exit(1);
	}
	return p;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},     {"subsystem", required_argument, NULL, 's'},
		{"namespace", required_argument, NULL, 'n'},  {"allow-host", required_argument, NULL, 'a'},
		{"config", required_argument, NULL, 'c'},     {"reactors", required_argument, NULL, 'r'},
		{"rpc-socket", required_argument, NULL, 'R'}, {"metrics", required_argument, NULL, 'M'},
		{"buffer-budget", required_argument, NULL, 'L'},
		{"max-queue-size", required_argument, NULL, 'L'},
		{"max-io-queues", required_argument, NULL, 'L'},
		{"max-associations", required_argument, NULL, 'L'},
		{"max-connections", required_argument, NULL, 'L'},
		{"max-connections-per-host", required_argument, NULL, 'L'},
		{"tx-backlog", required_argument, NULL, 'L'},
		{"read-budget", required_argument, NULL, 'L'},
		{"commands-per-pass", required_argument, NULL, 'L'},
		{"dhchap-key", required_argument, NULL, 'K'}, {"dhchap-ctrl-key", required_argument, NULL, 'C'},
		{"dhchap-hash", required_argument, NULL, 'H'}, {"dhchap-dhgroup", required_argument, NULL, 'G'},
		{"tls", required_argument, NULL, 'T'},	       {"tls-key", required_argument, NULL, 'P'},
		{"cntlid-min", required_argument, NULL, 'i'},
		{"cntlid-max", required_argument, NULL, 'I'},
		{"ana-state", required_argument, NULL, 'A'},
		{"poll-spin-us", required_argument, NULL, 'S'},
		{"reactor-cpus", required_argument, NULL, 'U'},
		{"vfio-user-doorbells", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, index;
	while ((c = getopt_long(argc, argv, "", longopts, &index)) != -1) {
		struct flag_subsystem *cur = o->nsubsystems ? &o->subsystems[o->nsubsystems - 1] : NULL;
		switch (c) {
		case 'l':
			o->listens = grow(o->listens, o->nlistens + 1, sizeof(*o->listens));
			o->listen_tls = grow(o->listen_tls, o->nlistens + 1, sizeof(*o->listen_tls));
			o->listen_tls[o->nlistens] = NVMF_PORT_TLS_NONE;
			o->listens[o->nlistens++] = optarg;
			break;
		case 'T':
			if (o->nlistens == 0 || (strcmp(optarg, "required") && strcmp(optarg, "allowed"))) {
				fprintf(stderr, "nvmfd: --tls required|allowed must follow a --listen\n");
				return -1;
			}
			o->listen_tls[o->nlistens - 1] = optarg[0] == 'r' ? NVMF_PORT_TLS_REQUIRED : NVMF_PORT_TLS_ALLOWED;
			break;
		case 's':
			o->subsystems = grow(o->subsystems, o->nsubsystems + 1, sizeof(*o->subsystems));
			o->subsystems[o->nsubsystems++] = (struct flag_subsystem){.nqn = optarg};
			break;
		case 'n':
		case 'a':
			if (!cur) {
				fprintf(stderr, "nvmfd: --%s must follow a --subsystem\n", c == 'n' ? "namespace" : "allow-host");
				return -1;
			}
			if (c == 'n') {
				cur->namespaces = grow(cur->namespaces, cur->nnamespaces + 1, sizeof(char *));
				cur->namespaces[cur->nnamespaces++] = optarg;
			} else {
				cur->hosts = grow(cur->hosts, cur->nhosts + 1, sizeof(*cur->hosts));
				cur->hosts[cur->nhosts++] = (struct flag_host){.nqn = optarg};
			}
			break;
		case 'K':
		case 'C':
		case 'H':
		case 'G':
		case 'P': {
			struct flag_host *h = cur && cur->nhosts ? &cur->hosts[cur->nhosts - 1] : NULL;
			if (!h) {
				fprintf(stderr, "nvmfd: the --dhchap-* and --tls-key flags must follow an --allow-host\n");
				return -1;
			}
			const char **field = c == 'K'	? &h->dhchap_key
					     : c == 'C' ? &h->dhchap_ctrl_key
					     : c == 'H' ? &h->dhchap_hash
					     : c == 'G' ? &h->dhchap_dhgroup
							: &h->tls_key;
			*field = optarg;
			break;
		}
		case 'c':
			o->config = optarg;
			break;
		case 'r': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > MAX_REACTORS) {
				fprintf(stderr, "nvmfd: --reactors wants 1..%d\n", MAX_REACTORS);
				return -1;
			}
			o->reactors = (unsigned)n;
			break;
		}
		case 'R':
			o->rpc_socket = optarg;
			break;
		case 'U':
			o->reactor_cpus = optarg;
			break;
		case 'i':
		case 'I': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 0xffef) {
				fprintf(stderr, "nvmfd: --%s wants 1..65519\n", longopts[index].name);
				return -1;
			}
			*(c == 'i' ? &o->cntlid_min : &o->cntlid_max) = n;
			break;
		}
		case 'S': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 1000000) {
				fprintf(stderr, "nvmfd: --poll-spin-us wants 0..1000000\n");
				return -1;
			}
			o->spin_us = n;
			break;
		}
		case 'D':
			if (doorbells_parse(optarg) < 0) {
				fprintf(stderr, "nvmfd: --vfio-user-doorbells wants mapped or trapped\n");
				return -1;
			}
			o->vu_trapped = doorbells_parse(optarg) == 1;
			break;
		case 'A':
			o->ana_state = nvmf_ana_state_parse(optarg);
			if (o->ana_state < 0 || o->ana_state == NVME_ANA_CHANGE) {
				fprintf(stderr, "nvmfd: --ana-state wants optimized, non-optimized or inaccessible\n");
				return -1;
			}
			break;
		case 'M':
			o->metrics = optarg;
			break;
		case 'L': {
			/* Checked once the config file's limits are in. */
			if (o->nlimits == sizeof(o->limit_names) / sizeof(o->limit_names[0])) {
				fprintf(stderr, "nvmfd: too many limit flags\n");
				return -1;
			}
			o->limit_names[o->nlimits] = longopts[index].name;
			o->limit_values[o->nlimits++] = optarg;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if ((o->cntlid_min || o->cntlid_max) &&
	    (o->cntlid_min ? o->cntlid_min : 1) > (o->cntlid_max ? o->cntlid_max : 0xffef)) {
		fprintf(stderr, "nvmfd: --cntlid-min is above --cntlid-max\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "nvmfd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int create_flag_subsystems(struct nvmf_tgt *tgt, struct options *o)
{
	char err[512];
	for (unsigned i = 0; i < o->nsubsystems; i++) {
		struct flag_subsystem *fs = &o->subsystems[i];
		struct nvmf_subsystem *ss = nvmf_subsystem_create(tgt, fs->nqn, err, sizeof(err));
		if (!ss) {
			fprintf(stderr, "nvmfd: %s\n", err);
			return -1;
		}
		nvmf_subsystem_set_allow_any_host(ss, fs->nhosts == 0);
		for (unsigned h = 0; h < fs->nhosts; h++) {
			const struct flag_host *fh = &fs->hosts[h];
			if (nvmf_subsystem_add_host(ss, fh->nqn) < 0) {
				fprintf(stderr, "nvmfd: bad host NQN '%s'\n", fh->nqn);
				return -1;
			}
			if ((fh->dhchap_key || fh->dhchap_ctrl_key || fh->dhchap_hash || fh->dhchap_dhgroup) &&
			    (!fh->dhchap_key || nvmf_subsystem_set_host_dhchap(ss, fh->nqn, fh->dhchap_key,
									       fh->dhchap_ctrl_key, fh->dhchap_hash,
									       fh->dhchap_dhgroup, err, sizeof(err)) < 0)) {
				fprintf(stderr, "nvmfd: host %s: %s\n", fh->nqn,
					fh->dhchap_key ? err : "--dhchap-* flags need --dhchap-key");
				return -1;
			}
			if (fh->tls_key && nvmf_subsystem_set_host_tls_key(ss, fh->nqn, fh->tls_key, err, sizeof(err)) < 0) {
				fprintf(stderr, "nvmfd: host %s: %s\n", fh->nqn, err);
				return -1;
			}
		}
		for (unsigned n = 0; n < fs->nnamespaces; n++) {
			uint32_t nsid = nvmf_subsystem_add_namespace(ss, 0, fs->namespaces[n], NULL, err, sizeof(err));
			if (!nsid) {
				fprintf(stderr, "nvmfd: %s: %s\n", fs->nqn, err);
				return -1;
			}
			printf("nvmfd: subsystem %s namespace %u: %s\n", fs->nqn, nsid, fs->namespaces[n]);
		}
	}
	return 0;
}

/* --cntlid-min/--cntlid-max: every subsystem whose file gave it no range of its own. */
static int apply_cntlid_range(struct nvmf_tgt *tgt, const struct options *o)
{
	if (!o->cntlid_min && !o->cntlid_max)
		return 0;
	for (struct nvmf_subsystem *ss = nvmf_tgt_next_subsystem(tgt, NULL); ss; ss = nvmf_tgt_next_subsystem(tgt, ss)) {
		struct nvmf_subsystem_info info;
		nvmf_subsystem_get_info(ss, &info);
		if (info.min_cntlid != 1 || info.max_cntlid != 0xffef)
			continue;
		if (nvmf_subsystem_set_limits(ss, info.max_namespaces, (uint16_t)(o->cntlid_min ? o->cntlid_min : 1),
					      (uint16_t)(o->cntlid_max ? o->cntlid_max : 0xffef)) < 0) {
			fprintf(stderr, "nvmfd: bad controller ID range\n");
			return -1;
		}
	}
	return 0;
}

/* An nvmetcli file, or the calls of an SPDK save_config file replayed. */
static int load_config(struct rpc_ctx *rpc, const char *path, char *err, size_t errlen)
{
	json_object *root = json_object_from_file(path);
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, json_util_get_last_err());
		return -1;
	}
	int rc;
	if (rpc_config_is_spdk(root)) {
		char why[512];
		rc = rpc_config_load(rpc, root, why, sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "%s: %.400s", path, why);
	} else {
		rc = config_load(path, rpc->tgt, rpc->acc, err, errlen);
	}
	json_object_put(root);
	return rc;
}

/* The first command-line listener, for the "connect with" hint. */
static struct nvmf_port_addr first_listener;

static int listen_flags(struct nvmf_tgt *tgt, struct acceptor *acc, struct options *o, uint16_t first_portid)
{
	char err[512];
	for (unsigned i = 0; i < o->nlistens; i++) {
		struct nvmf_port_addr pa;
		if (parse_listen_address(o->listens[i], &pa) < 0) {
			fprintf(stderr, "nvmfd: --listen wants ADDR:PORT, [V6ADDR]:PORT or vfio-user:PATH, not '%s'\n",
				o->listens[i]);
			return -1;
		}
		pa.tls = o->listen_tls[i];
		uint16_t portid = (uint16_t)(first_portid + i);
		if (acceptor_listen(acc, &pa, portid, err, sizeof(err)) < 0) {
			fprintf(stderr, "nvmfd: %s\n", err);
			return -1;
		}
		/* Command-line listeners expose every subsystem. */
		if (nvmf_tgt_add_port(tgt, portid, &pa, true) < 0) {
			fprintf(stderr, "nvmfd: port %u defined twice\n", portid);
			return -1;
		}
		if (i == 0)
			first_listener = pa;
		if (pa.trtype == NVMF_TRTYPE_VFIO_USER)
			printf("nvmfd: listening on vfio-user %s\n", pa.traddr);
		else
			printf("nvmfd: listening on tcp %s%s%s:%s%s\n", pa.adrfam == NVMF_ADRFAM_IPV6 ? "[" : "",
			       pa.traddr, pa.adrfam == NVMF_ADRFAM_IPV6 ? "]" : "", pa.trsvcid,
			       pa.tls == NVMF_PORT_TLS_REQUIRED	 ? " (TLS required)"
			       : pa.tls == NVMF_PORT_TLS_ALLOWED ? " (TLS allowed)"
								 : "");
	}
	return 0;
}

static void free_options(struct options *o, bool embedded)
{
	for (unsigned i = 0; i < o->nsubsystems; i++) {
		if (!embedded) {
			free(o->subsystems[i].namespaces);
			free(o->subsystems[i].hosts);
		}
	}
	free(o->subsystems);
	free(o->listens);
	free(o->listen_tls);
}

/* The config file's limits, then the flags'.  0, or -1 after a message. */
static int resolve_limits(const struct options *o, struct nvmfd_limits *l)
{
	char err[512];
	*l = nvmfd_limits_default();
	if (o->config && config_load_limits(o->config, l, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmfd: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < o->nlimits; i++) {
		if (nvmfd_limits_set(l, o->limit_names[i], o->limit_values[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "nvmfd: --%s\n", err);
			return -1;
		}
	}
	return 0;
}

/* Room for every connection allowed plus the daemon's own files, within the hard limit. */
static void raise_fd_limit(const struct nvmfd_limits *l)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = l->max_connections ? (rlim_t)l->max_connections + 256 : rl.rlim_max;
	if (want > rl.rlim_max)
		want = rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct options o = {.spin_us = -1};
	if (parse_options(argc, argv, &o) < 0)
		return 2;
	bool embedded = !o.config && o.nsubsystems == 0;
	if (embedded) {
		static const char *ns[] = {DEFAULT_NAMESPACE};
		o.subsystems = grow(NULL, 1, sizeof(*o.subsystems));
		o.subsystems[0] = (struct flag_subsystem){.nqn = DEFAULT_NQN, .namespaces = ns, .nnamespaces = 1};
		o.nsubsystems = 1;
	}
	if (o.nlistens == 0 && !o.config) {
		o.listens = grow(NULL, 1, sizeof(*o.listens));
		o.listen_tls = grow(NULL, 1, sizeof(*o.listen_tls));
		o.listens[0] = DEFAULT_LISTEN;
		o.listen_tls[0] = NVMF_PORT_TLS_NONE;
		o.nlistens = 1;
	}
	struct nvmfd_limits limits;
	if (resolve_limits(&o, &limits) < 0) {
		free_options(&o, embedded);
		return 2;
	}
	raise_fd_limit(&limits);
	int cpus[MAX_REACTORS];
	if (o.reactor_cpus) {
		char cerr[128];
		int n = cpu_list_parse(o.reactor_cpus, cpus, MAX_REACTORS, cerr, sizeof(cerr));
		if (n < 0 || (o.reactors && o.reactors != (unsigned)n)) {
			if (n < 0)
				fprintf(stderr, "nvmfd: --reactor-cpus: %s\n", cerr);
			else
				fprintf(stderr, "nvmfd: --reactors %u but --reactor-cpus lists %d CPU%s\n", o.reactors, n,
					n == 1 ? "" : "s");
			free_options(&o, embedded);
			return 2;
		}
		o.reactors = (unsigned)n;
	}
	if (o.reactors == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o.reactors = n < 1 ? 1 : n > MAX_REACTORS ? MAX_REACTORS : (unsigned)n;
	}

	/* Signals go to sigwait() in this thread only; a closed peer is an error return, not a signal. */
	/* A shell's background job inherits SIGINT ignored; an ignored signal never reaches sigwait(). */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int status = 1;
	struct reactor *reactors[MAX_REACTORS] = {0};
	struct acceptor *acc = NULL;
	struct rpc_server *server = NULL;
	struct metrics_server *metrics = NULL;
	struct rpc_ctx rpc = {0};
	struct bdev_registry *bdevs = NULL;
	struct nvmf_tgt *tgt = nvmf_tgt_create();
	struct conn_limits *admission = conn_limits_create(limits.max_connections, limits.max_connections_per_host);
	if (!tgt || !admission) {
		perror("nvmfd: target");
		return 1;
	}
	nvmf_tgt_set_buffer_budget(tgt, (size_t)limits.buffer_budget);
	const struct nvmf_tgt_limits tgt_limits = {
		.queue_entries = (uint32_t)limits.max_queue_size,
		.io_queues = (uint32_t)limits.max_io_queues,
		.associations = (uint32_t)limits.max_associations,
	};
	nvmf_tgt_set_limits(tgt, &tgt_limits); /* ranges checked by nvmfd_limits_set */
	const struct nvmf_qpair_limits qp_limits = {
		.read_budget = limits.read_budget,
		.max_pdus = limits.commands_per_pass,
		.tx_backlog = limits.tx_backlog,
	};
	for (unsigned i = 0; i < o.reactors; i++) {
		reactors[i] = reactor_create(tgt, i);
		if (reactors[i]) {
			reactor_configure(reactors[i], &qp_limits, admission);
			if (o.spin_us >= 0)
				reactor_set_spin(reactors[i], (uint64_t)o.spin_us * 1000);
			if (o.reactor_cpus)
				reactor_set_cpu(reactors[i], cpus[i]);
		}
		if (!reactors[i] || reactor_start(reactors[i]) < 0) {
			fprintf(stderr, "nvmfd: cannot start reactor %u\n", i);
			goto out;
		}
	}
	acc = acceptor_create(reactors, o.reactors, admission);
	if (!acc)
		goto out;
	/* The default of every vfio-user listener; a config file's port may say otherwise. */
	acceptor_set_vfio_user_doorbells(acc, o.vu_trapped);
	char err[512];
	rpc.tgt = tgt;
	rpc.acc = acc;
	rpc.bdevs = bdevs = bdev_registry_create();
	rpc.next_portid = 0x4000;
	if (o.ana_state) /* before any port, so that all start so; a config file's ana_groups win */
		nvmf_tgt_set_ana_state(tgt, 0, (uint8_t)o.ana_state);
	if (!bdevs || (o.config && load_config(&rpc, o.config, err, sizeof(err)) < 0)) {
		fprintf(stderr, "nvmfd: %s\n", bdevs ? err : "out of memory");
		goto out;
	}
	if (create_flag_subsystems(tgt, &o) < 0 || apply_cntlid_range(tgt, &o) < 0 ||
	    listen_flags(tgt, acc, &o, o.config ? 1000 : 1) < 0)
		goto out;
	if (acceptor_start(acc) < 0)
		goto out;
	rpc_adopt_namespaces(&rpc);
	server = rpc_server_start(o.rpc_socket ? o.rpc_socket : RPC_DEFAULT_SOCKET, &rpc, err, sizeof(err));
	if (!server && o.rpc_socket) {
		fprintf(stderr, "nvmfd: %s\n", err);
		goto out;
	}
	if (!server)
		fprintf(stderr, "nvmfd: no JSON-RPC: %s\n", err);
	else
		printf("nvmfd: JSON-RPC on %s\n", o.rpc_socket ? o.rpc_socket : RPC_DEFAULT_SOCKET);
	if (o.metrics) {
		struct nvmf_port_addr ma;
		if (parse_listen_address(o.metrics, &ma) < 0) {
			fprintf(stderr, "nvmfd: --metrics wants ADDR:PORT or [V6ADDR]:PORT, not '%s'\n", o.metrics);
			goto out;
		}
		metrics = metrics_start(tgt, &ma, err, sizeof(err));
		if (!metrics) {
			fprintf(stderr, "nvmfd: %s\n", err);
			goto out;
		}
		printf("nvmfd: metrics on http://%s%s%s:%s/metrics\n", ma.adrfam == NVMF_ADRFAM_IPV6 ? "[" : "", ma.traddr,
		       ma.adrfam == NVMF_ADRFAM_IPV6 ? "]" : "", ma.trsvcid);
	}
	printf("nvmfd: %u reactor%s%s%s; discovery: %s\n", o.reactors, o.reactors == 1 ? "" : "s",
	       o.reactor_cpus ? " on CPUs " : "", o.reactor_cpus ? o.reactor_cpus : "", NVME_DISCOVERY_NQN);
	nvmfd_limits_describe(&limits, err, sizeof(err));
	printf("nvmfd: limits: %s\n", err);
	if (embedded && first_listener.trtype == NVMF_TRTYPE_TCP) {
		printf("nvmfd: connect with: nvme connect -t tcp -a %s -s %s -n %s\n", first_listener.traddr,
		       first_listener.trsvcid, DEFAULT_NQN);
	}
	printf("nvmfd: ready\n");

	int sig = 0;
	sigwait(&sigs, &sig);
	printf("nvmfd: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = 0;
out:
	/* No more changes; stop accepting, then close every connection on its reactor. */
	rpc_server_stop(server);
	metrics_stop(metrics);
	acceptor_destroy(acc);
	for (unsigned i = 0; i < o.reactors; i++) {
		if (reactors[i])
			reactor_stop(reactors[i]);
	}
	for (unsigned i = 0; i < o.reactors; i++)
		reactor_destroy(reactors[i]);
	nvmf_tgt_destroy(tgt);
	bdev_registry_destroy(bdevs);
	conn_limits_destroy(admission);
	free_options(&o, embedded);
	return status;
}
