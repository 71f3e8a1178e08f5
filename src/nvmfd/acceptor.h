/*
 * The acceptor: listening sockets on a thread of their own.  Accepted
 * sockets go to the reactors round robin; the transport handshake and
 * Connect happen there, so a stalled peer never holds up the acceptor.
 * Connections over the admission limits are closed at once; out of file
 * descriptors, it sheds one pending connection and pauses listening
 * briefly instead of spinning.  Its messages are rate-limited.
 */
#ifndef NVMFD_ACCEPTOR_H
#define NVMFD_ACCEPTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrl/target.h"

struct reactor;
struct acceptor;

struct conn_limits;

/* admission: the connection counts to enforce (NULL: none). NULL on failure. */
struct acceptor *acceptor_create(struct reactor **reactors, unsigned nreactors, struct conn_limits *admission);
/*
 * Listen on addr (traddr, trsvcid; port "0" picks a free port, written back
 * into addr->trsvcid).  Returns 0 or a negative errno with a message in err.
 */
int acceptor_listen(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, char *err, size_t errlen);
/*
 * The same for a vfio-user socket whose devices trap their doorbells (BAR0's
 * doorbell page not mmappable, shadow doorbells offered) or map them.
 * acceptor_listen uses the acceptor's default (acceptor_set_vfio_user_doorbells).
 */
int acceptor_listen_vfio_user(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, bool trapped,
			      char *err, size_t errlen);
/* The doorbell mode of vfio-user listeners made from now on (false: mapped, the
 * default); those already listening keep theirs.  Safe from any thread. */
void acceptor_set_vfio_user_doorbells(struct acceptor *a, bool trapped);
bool acceptor_vfio_user_doorbells(struct acceptor *a);
/* The doorbell mode of portid's listener: 1 trapped, 0 mapped, -ENOENT when no vfio-user
 * listener has that port. */
int acceptor_listener_doorbells(struct acceptor *a, uint16_t portid);
/* "mapped" 0, "trapped" 1, anything else -1; and the name of a mode. */
int doorbells_parse(const char *s);
const char *doorbells_name(bool trapped);
/* Close the listening socket of portid (also while running).  0 or -ENOENT. */
int acceptor_unlisten(struct acceptor *a, uint16_t portid);
int acceptor_start(struct acceptor *a);
void acceptor_destroy(struct acceptor *a);

/* Split "ADDR:PORT" or "[V6ADDR]:PORT" into addr.  0, or -EINVAL. */
int parse_listen_address(const char *s, struct nvmf_port_addr *addr);

#endif
