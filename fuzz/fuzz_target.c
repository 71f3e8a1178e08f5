/* The target the controller-core harnesses start from (see fuzz.h). */
#include "ctrl/target.h"
#include "fuzz.h"

struct nvmf_tgt *fuzz_target_create(const char *subnqn, struct nvmf_subsystem **ss)
{
	struct nvmf_tgt *tgt = nvmf_tgt_create();
	FUZZ_CHECK(tgt);
	char err[256];
	*ss = nvmf_subsystem_create(tgt, subnqn, err, sizeof(err));
	FUZZ_CHECK(*ss);
	nvmf_subsystem_set_allow_any_host(*ss, true);
	FUZZ_CHECK(nvmf_subsystem_add_namespace(*ss, 1, "ram:1M", NULL, err, sizeof(err)) == 1);
	return tgt;
}
