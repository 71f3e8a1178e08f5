/* nvmf discover: print the discovery log as nvme-cli does. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *trtype_str(uint8_t t)
{
	switch (t) {
	case NVMF_TRTYPE_RDMA:
		return "rdma";
	case NVMF_TRTYPE_FC:
		return "fc";
	case NVMF_TRTYPE_TCP:
		return "tcp";
	case NVMF_TRTYPE_INTRA_HOST:
		return "loop";
	default:
		return "unrecognized";
	}
}

static const char *adrfam_str(uint8_t a)
{
	switch (a) {
	case NVMF_ADRFAM_IPV4:
		return "ipv4";
	case NVMF_ADRFAM_IPV6:
		return "ipv6";
	case NVMF_ADRFAM_IB:
		return "infiniband";
	case NVMF_ADRFAM_FC:
		return "fibre-channel";
	case NVMF_ADRFAM_INTRA_HOST:
		return "intra-host";
	default:
		return "unrecognized";
	}
}

static const char *subtype_str(uint8_t s)
{
	switch (s) {
	case NVMF_SUBTYPE_DISCOVERY_REFERRAL:
		return "discovery subsystem referral";
	case NVMF_SUBTYPE_NVME:
		return "nvme subsystem";
	case NVMF_SUBTYPE_DISCOVERY_CURRENT:
		return "current discovery subsystem";
	default:
		return "unrecognized";
	}
}

static const char *treq_str(uint8_t t)
{
	switch (t & 0x3) {
	case NVMF_TREQ_SECURE_CHANNEL_REQUIRED:
		return "required";
	case NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED:
		return "not required";
	default:
		return "not specified";
	}
}

/* Fixed-width fields are space or NUL padded. */
static void field(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t n = strnlen(in, inlen);
	while (n && in[n - 1] == ' ')
		n--;
	snprintf(out, outlen, "%.*s", (int)n, in);
}

int cmd_discover(int argc, char **argv)
{
	struct cli cli = {0};
	cli_parse(&cli, argc, argv, NULL, NULL, NULL, NULL, "");
	struct nvmf_host_ctrl *c = cli_connect(&cli, true);
	struct nvmf_discovery_log_header *log;
	size_t n;
	int rc = nvmf_host_discover(c, &log, &n);
	if (rc) {
		cli_error(&cli, "%s", nvmf_host_ctrl_error(c));
		nvmf_host_disconnect(c);
		return 1;
	}
	json_object *root = cli.json ? json_object_new_object() : NULL, *arr = NULL;
	if (root) {
		json_object_object_add(root, "genctr", json_object_new_uint64(log->genctr));
		json_object_object_add(root, "records", arr = json_object_new_array());
	} else {
		printf("\nDiscovery Log Number of Records %zu, Generation counter %llu\n", n,
		       (unsigned long long)log->genctr);
	}
	for (size_t i = 0; i < n; i++) {
		struct nvmf_discovery_log_entry *e = nvmf_host_discovery_entry(log, i);
		char svc[33], nqn[NVME_NQN_FIELD + 1], addr[257];
		field(svc, sizeof(svc), e->trsvcid, sizeof(e->trsvcid));
		field(nqn, sizeof(nqn), e->subnqn, sizeof(e->subnqn));
		field(addr, sizeof(addr), e->traddr, sizeof(e->traddr));
		if (root) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "trtype", json_object_new_string(trtype_str(e->trtype)));
			json_object_object_add(o, "adrfam", json_object_new_string(adrfam_str(e->adrfam)));
			json_object_object_add(o, "subtype", json_object_new_string(subtype_str(e->subtype)));
			json_object_object_add(o, "treq", json_object_new_string(treq_str(e->treq)));
			json_object_object_add(o, "portid", json_object_new_int(e->portid));
			json_object_object_add(o, "trsvcid", json_object_new_string(svc));
			json_object_object_add(o, "subnqn", json_object_new_string(nqn));
			json_object_object_add(o, "traddr", json_object_new_string(addr));
			json_object_object_add(o, "eflags", json_object_new_int(e->eflags));
			json_object_object_add(o, "sectype",
					       json_object_new_string(e->tsas[0] == NVMF_TCP_SECTYPE_NONE ? "none" : e->tsas[0] == NVMF_TCP_SECTYPE_TLS13 ? "tls13" : "tls"));
			json_object_array_add(arr, o);
			continue;
		}
		printf("=====Discovery Log Entry %zu======\n", i);
		printf("trtype:  %s\n", trtype_str(e->trtype));
		printf("adrfam:  %s\n", adrfam_str(e->adrfam));
		printf("subtype: %s\n", subtype_str(e->subtype));
		printf("treq:    %s%s\n", treq_str(e->treq),
		       e->treq & NVMF_TREQ_DISABLE_SQ_FC ? ", sq flow control disable supported" : "");
		printf("portid:  %u\n", e->portid);
		printf("trsvcid: %s\n", svc);
		printf("subnqn:  %s\n", nqn);
		printf("traddr:  %s\n", addr);
		printf("eflags:  %s\n", e->eflags & NVMF_EFLAGS_EPCSD ? "explicit discovery connections" : "none");
		printf("sectype: %s\n", e->tsas[0] == NVMF_TCP_SECTYPE_NONE ? "none" : e->tsas[0] == NVMF_TCP_SECTYPE_TLS13 ? "tls13" : "tls");
	}
	if (root) {
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	}
	free(log);
	return cli_disconnect(&cli, c);
}
