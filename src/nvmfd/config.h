/* The JSON configuration, in the layout Linux's nvmetcli saves. */
#ifndef NVMFD_CONFIG_H
#define NVMFD_CONFIG_H

#include <stddef.h>

struct nvmf_tgt;
struct acceptor;

/* Create the file's subsystems and namespaces, then listen on its ports.
 * Returns 0, or -1 with a message in err. */
int config_load(const char *path, struct nvmf_tgt *tgt, struct acceptor *acc, char *err, size_t errlen);
/* The same for a file's text in memory (len bytes, no NUL needed); name is for messages. */
int config_load_buffer(const char *text, size_t len, const char *name, struct nvmf_tgt *tgt, struct acceptor *acc,
		       char *err, size_t errlen);

struct nvmfd_limits;

/* Apply the file's "limits" object (keys: max_connections, max_connections_per_host,
 * tx_backlog, read_budget, commands_per_pass) onto l.  Returns 0, or -1 with a message in err. */
int config_load_limits(const char *path, struct nvmfd_limits *l, char *err, size_t errlen);

#endif
