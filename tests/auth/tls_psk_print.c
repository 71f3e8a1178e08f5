/*
 * Print the TLS PSK derivations of fixed inputs (and check the interchange
 * format against keys nvme-cli 2.3's gen-tls-key wrote); tls_psk_check.py
 * recomputes every value with Python's own hmac and compares.
 */
#include <stdio.h>
#include <string.h>

#include "auth/tls_psk.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"
#define SUBNQN "nqn.2024-01.io.nvmf:tls"

static void hex(const char *what, const uint8_t *b, size_t n)
{
	printf("%s ", what);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void)
{
	/* nvme gen-tls-key -m 1 / -m 2 */
	static const char *cli[] = {"NVMeTLSkey-1:01:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:",
				    "NVMeTLSkey-1:02:5uQIUzSA3cfuvENFJyCKkWFwikq3YV1gUG/qAsP5ALEWGx7jCSu95YBBMWN7WRpDqnvikg==:"};
	int bad = 0;
	for (int i = 0; i < 2; i++) {
		struct nvmf_tls_configured_psk k;
		char back[128];
		if (nvmf_tls_psk_parse(cli[i], &k) || k.hash != i + 1 || k.len != (i ? 48u : 32u) ||
		    nvmf_tls_psk_format(&k, back, sizeof(back)) < 0 || strcmp(back, cli[i])) {
			printf("FAIL interchange %d\n", i);
			bad = 1;
		}
		char broken[128];
		snprintf(broken, sizeof(broken), "%s", cli[i]);
		broken[20] = broken[20] == 'A' ? 'B' : 'A';
		if (nvmf_tls_psk_parse(broken, &k) == 0) {
			printf("FAIL crc %d\n", i);
			bad = 1;
		}
	}
	if (nvmf_tls_psk_parse("NVMeTLSkey-1:03:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:", &(struct nvmf_tls_configured_psk){0}) == 0 ||
	    nvmf_tls_psk_parse("NVMeTLSkey-1:02:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:", &(struct nvmf_tls_configured_psk){0}) == 0) {
		printf("FAIL bad hash accepted\n");
		bad = 1;
	}
	for (uint8_t hash = 0; hash <= 2; hash++) {
		struct nvmf_tls_configured_psk k = {.len = hash == 2 ? 48 : 32, .hash = hash};
		for (size_t i = 0; i < k.len; i++)
			k.key[i] = (uint8_t)(0x40 + i);
		uint8_t retained[48], psk[48];
		char id[NVMF_TLS_IDENTITY_MAX], digest[80];
		uint8_t cipher = nvmf_tls_psk_cipher(&k);
		printf("case hash=%u len=%zu cipher=%u\n", hash, k.len, cipher);
		hex("configured", k.key, k.len);
		if (nvmf_tls_retained_psk(&k, HOSTNQN, retained) ||
		    nvmf_tls_psk_digest(cipher, retained, k.len, HOSTNQN, SUBNQN, digest, sizeof(digest))) {
			printf("FAIL derive\n");
			return 1;
		}
		hex("retained", retained, k.len);
		printf("digest %s\n", digest);
		for (int v = 0; v <= 1; v++) {
			struct nvmf_tls_identity_parts parts;
			if (nvmf_tls_identity(v, cipher, retained, k.len, HOSTNQN, SUBNQN, id, sizeof(id)) < 0 ||
			    nvmf_tls_derive_psk(id, retained, k.len, psk) || !nvmf_tls_identity_parse(id, &parts) ||
			    parts.version != v || strcmp(parts.hostnqn, HOSTNQN) || strcmp(parts.subnqn, SUBNQN)) {
				printf("FAIL identity %d\n", v);
				return 1;
			}
			printf("identity%d %s\n", v, id);
			hex(v ? "psk1" : "psk0", psk, k.len);
		}
	}
	struct nvmf_tls_identity_parts parts;
	static const char *bad_ids[] = {"NVMe0R03 a b", "NVMe2R01 a b", "NVMe0R01 a", "NVMe0R01 a b c", "NVMe1R01 a b short",
					"NVMe0G01 a b", ""};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		if (nvmf_tls_identity_parse(bad_ids[i], &parts)) {
			printf("FAIL identity '%s' accepted\n", bad_ids[i]);
			bad = 1;
		}
	printf("hostnqn %s\nsubnqn %s\n", HOSTNQN, SUBNQN);
	return bad;
}
