/* The nvmf command: options shared by the subcommands. */
#ifndef NVMF_CLI_H
#define NVMF_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <nvmf/host.h>

struct cli {
	const char *cmd;
	struct nvmf_host_addr addr;
	bool have_addr;
	struct nvmf_host_opts opts;
	bool json;
	bool verbose;
};

/* Long-only option codes of the common options start here; commands use their own above 0x200. */
#define CLI_OPT_BASE 0x100
#define CMD_OPT_BASE 0x200

/*
 * Parse argv: the common options, the command's own (extra/shorts, passed to
 * handler, which returns 0 or -1 for a bad value), and the address as the
 * remaining words (joined by spaces for the SPDK form).  Exits on error.
 */
typedef int (*cli_opt_handler)(void *ctx, int opt, const char *arg);
void cli_parse(struct cli *cli, int argc, char **argv, const struct option *extra, const char *shorts,
	       cli_opt_handler handler, void *ctx, const char *usage);

/* Connect for I/O (subnqn: given, or the first NVM subsystem from discovery) or for discovery. Exits on failure. */
struct nvmf_host_ctrl *cli_connect(struct cli *cli, bool discovery);
/* Disconnect; returns the exit status contribution (0, or 1 when the shutdown failed). */
int cli_disconnect(struct cli *cli, struct nvmf_host_ctrl *ctrl);
struct json_object;
/*
 * End a command: print root as JSON (when not NULL and rc is 0) and free it;
 * on rc != 0 report the controller's error, close, return 1; else cli_disconnect().
 */
int cli_finish(struct cli *cli, struct nvmf_host_ctrl *ctrl, struct json_object *root, int rc);
/* Print "nvmf CMD: message" to stderr. */
void cli_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool parse_u64(const char *s, uint64_t *v);
bool parse_u32(const char *s, uint32_t *v);

int cmd_discover(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_smart_log(int argc, char **argv);
int cmd_get_log(int argc, char **argv);
int cmd_get_feature(int argc, char **argv);
int cmd_set_feature(int argc, char **argv);
int cmd_perf(int argc, char **argv);
int cmd_rpc(int argc, char **argv);

#endif
