/*
 * config: nvmfd's JSON configuration loader (src/nvmfd/config.c) on any
 * text.  The input is the file's text.  Listening and namespace backends are
 * replaced at link time (--wrap): no socket is opened, and a namespace on
 * any path becomes a null device (a "ram:" or "null:" size is kept), so the
 * fuzzer can neither bind ports nor open files.
 * Invariants: no crash or leak; a failed load says why.
 */
#include <string.h>

#include "ctrl/target.h"
#include "fuzz.h"
#include "nvmfd/config.h"

struct acceptor;

uint32_t __wrap_nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
					     const struct nvmf_ns_opts *opts, char *err, size_t errlen);
uint32_t __real_nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
					     const struct nvmf_ns_opts *opts, char *err, size_t errlen);

uint32_t __wrap_nvmf_subsystem_add_namespace(struct nvmf_subsystem *ss, uint32_t nsid, const char *spec,
					     const struct nvmf_ns_opts *opts, char *err, size_t errlen)
{
	char null_spec[64] = "null:1M";
	if (strncmp(spec, "ram:", 4) == 0 || strncmp(spec, "null:", 5) == 0)
		snprintf(null_spec, sizeof(null_spec), "null:%s", strchr(spec, ':') + 1);
	return __real_nvmf_subsystem_add_namespace(ss, nsid, null_spec, opts, err, errlen);
}

int fuzz_one(const uint8_t *data, size_t len)
{
	struct nvmf_tgt *tgt = nvmf_tgt_create();
	FUZZ_CHECK(tgt);
	char err[1024] = "";
	int rc = config_load_buffer((const char *)data, len, "fuzz.json", tgt, NULL, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == 0 || err[0]);
	if (fuzz_verbose())
		fprintf(stderr, "config: %s\n", rc ? err : "loaded");
	nvmf_tgt_destroy(tgt);
	return 0;
}
