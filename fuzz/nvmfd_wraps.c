/*
 * Link-time stand-ins (--wrap) shared by the harnesses that run nvmfd's own
 * code (config, rpc): a listener opens no socket, so the fuzzer binds no port.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctrl/target.h"
#include "fuzz.h"

struct acceptor;

int __wrap_acceptor_listen(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, char *err, size_t errlen);

int __wrap_acceptor_listen(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, char *err, size_t errlen)
{
	(void)a, (void)portid;
	FUZZ_CHECK(addr && memchr(addr->traddr, 0, sizeof(addr->traddr)) && memchr(addr->trsvcid, 0, sizeof(addr->trsvcid)));
	if (!addr->traddr[0]) {
		snprintf(err, errlen, "empty address");
		return -22;
	}
	return 0;
}

int __wrap_acceptor_listen_vfio_user(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, bool trapped,
				     char *err, size_t errlen);
bool __wrap_acceptor_vfio_user_doorbells(struct acceptor *a);
void __wrap_acceptor_set_vfio_user_doorbells(struct acceptor *a, bool trapped);
int __wrap_acceptor_listener_doorbells(struct acceptor *a, uint16_t portid);

/* The acceptor's doorbell default, kept here: the harnesses have no acceptor. */
static bool vu_trapped;

int __wrap_acceptor_listen_vfio_user(struct acceptor *a, struct nvmf_port_addr *addr, uint16_t portid, bool trapped,
				     char *err, size_t errlen)
{
	(void)trapped;
	return __wrap_acceptor_listen(a, addr, portid, err, errlen);
}

bool __wrap_acceptor_vfio_user_doorbells(struct acceptor *a)
{
	(void)a;
	return vu_trapped;
}

void __wrap_acceptor_set_vfio_user_doorbells(struct acceptor *a, bool trapped)
{
	(void)a;
	vu_trapped = trapped;
}

int __wrap_acceptor_listener_doorbells(struct acceptor *a, uint16_t portid)
{
	(void)a, (void)portid;
	return -2; /* no listener: none is opened here */
}
