/* What both ends share: the preference lists and the failure names. */
#include <stdio.h>
#include <string.h>

#include "dhchap.h"

static const uint8_t default_hashes[] = {NVMF_AUTH_HASH_SHA256, NVMF_AUTH_HASH_SHA384, NVMF_AUTH_HASH_SHA512};
static const uint8_t default_groups[] = {NVMF_AUTH_DHGROUP_2048, NVMF_AUTH_DHGROUP_3072, NVMF_AUTH_DHGROUP_4096,
					 NVMF_AUTH_DHGROUP_6144, NVMF_AUTH_DHGROUP_8192, NVMF_AUTH_DHGROUP_NULL};

/* Split a comma list into IDs in order; false on an unknown name or a repeat. */
static bool parse_ordered(const char *list, bool hash, uint8_t *ids, uint8_t cap, uint8_t *n)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	uint8_t count = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		int id = hash ? nvmf_dhchap_hash_parse(t) : nvmf_dhchap_dhgroup_parse(t);
		if ((hash ? id == 0 : id < 0) || count == cap || memchr(ids, id, count))
			return false;
		ids[count++] = (uint8_t)id;
	}
	if (count == 0)
		return false;
	*n = count;
	return true;
}

bool nvmf_dhchap_keys_set_hashes(struct nvmf_dhchap_keys *k, const char *list)
{
	return parse_ordered(list, true, k->hashes, 3, &k->nhashes);
}

bool nvmf_dhchap_keys_set_dhgroups(struct nvmf_dhchap_keys *k, const char *list)
{
	return parse_ordered(list, false, k->dhgroups, 6, &k->ndhgroups);
}

void nvmf_dhchap_keys_lists(const struct nvmf_dhchap_keys *k, uint8_t hashes[3], unsigned *nh, uint8_t groups[6],
			    unsigned *ng)
{
	*nh = k->nhashes ? k->nhashes : 3;
	memcpy(hashes, k->nhashes ? k->hashes : default_hashes, *nh);
	*ng = k->ndhgroups ? k->ndhgroups : 6;
	memcpy(groups, k->ndhgroups ? k->dhgroups : default_groups, *ng);
}

const char *nvmf_dhchap_failure_name(uint8_t exp)
{
	switch (exp) {
	case NVMF_AUTH_FAIL_FAILED:
		return "authentication failed";
	case NVMF_AUTH_FAIL_PROTOCOL_UNUSABLE:
		return "authentication protocol not usable";
	case NVMF_AUTH_FAIL_CONCAT_MISMATCH:
		return "secure channel concatenation mismatch";
	case NVMF_AUTH_FAIL_HASH_UNUSABLE:
		return "hash function not usable";
	case NVMF_AUTH_FAIL_DHGROUP_UNUSABLE:
		return "DH group not usable";
	case NVMF_AUTH_FAIL_INCORRECT_PAYLOAD:
		return "incorrect payload";
	case NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE:
		return "incorrect protocol message";
	default:
		return "unknown reason";
	}
}
