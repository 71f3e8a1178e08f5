/*
 * Link-time stand-ins (--wrap) shared by the harnesses that run nvmfd's own
 * code (config, rpc): a listener opens no socket, so the fuzzer binds no port.
 */
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
