/*
 * Print the TLS PSK derivations of fixed inputs, both HKDF info encodings
 * (tls_psk_check.py recomputes every value with Python's own hmac and
 * compares); check the interchange format against keys nvme-cli 2.3's
 * gen-tls-key wrote, and the identities and TLS PSKs against what nvme-cli
 * 2.13 (libnvme 1.13) `check-tls-key --insert` put in a keyring.
 */
#include <stdbool.h>
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
	/* nvme-cli 2.13: check-tls-key --keydata K256 --hostnqn HOSTNQN --subsysnqn SUBNQN --identity 0|1
	 * --insert --keytype user; the key descriptions and payloads (keyctl rdescribe / pipe). */
	{
		static const char *want_id1 = "NVMe1R01 " HOSTNQN " " SUBNQN " gtNvoM1B+/JWatVHh6DnSlrHxQ+udxPWWEbtfAutZJs=";
		static const uint8_t want_psk0[32] = {0x54, 0x18, 0x33, 0x25, 0xeb, 0x74, 0x42, 0xf8, 0x46, 0xe4, 0xab,
						      0xac, 0x84, 0x0b, 0x3e, 0xf8, 0x9a, 0xc8, 0xdb, 0x9a, 0xe4, 0x9e,
						      0xf9, 0x5b, 0xcd, 0x0c, 0x38, 0x8d, 0x1e, 0x47, 0x4b, 0x7b};
		static const uint8_t want_psk1[32] = {0x95, 0x8a, 0x0d, 0xaa, 0x86, 0x76, 0xef, 0x58, 0x29, 0xb4, 0x32,
						      0x29, 0x9d, 0x1b, 0xa0, 0x72, 0x96, 0x98, 0x0a, 0x18, 0x91, 0x2e,
						      0x3c, 0x75, 0x32, 0xbd, 0x19, 0xc7, 0x61, 0xfe, 0xc1, 0xed};
		struct nvmf_tls_configured_psk k;
		uint8_t retained[48], psk[48];
		char id[NVMF_TLS_IDENTITY_MAX];
		bool ok = nvmf_tls_psk_parse(cli[0], &k) == 0 &&
			  nvmf_tls_retained_psk(&k, HOSTNQN, NVMF_TLS_KDF_NVME_CLI, retained) == 0;
		ok = ok && nvmf_tls_identity(0, 1, retained, 32, HOSTNQN, SUBNQN, id, sizeof(id)) > 0 &&
		     nvmf_tls_derive_psk(id, retained, 32, NVMF_TLS_KDF_NVME_CLI, psk) == 0 && !memcmp(psk, want_psk0, 32);
		printf("%s nvme-cli 2.13 identity 0 PSK\n", ok ? "ok" : "FAIL");
		bad |= !ok;
		ok = nvmf_tls_identity(1, 1, retained, 32, HOSTNQN, SUBNQN, id, sizeof(id)) > 0 && !strcmp(id, want_id1) &&
		     nvmf_tls_derive_psk(id, retained, 32, NVMF_TLS_KDF_NVME_CLI, psk) == 0 && !memcmp(psk, want_psk1, 32);
		printf("%s nvme-cli 2.13 identity 1 (digest) and PSK\n", ok ? "ok" : "FAIL");
		bad |= !ok;
	}
	for (int kdf = 0; kdf <= 1; kdf++)
	for (uint8_t hash = 0; hash <= 2; hash++) {
		struct nvmf_tls_configured_psk k = {.len = hash == 2 ? 48 : 32, .hash = hash};
		for (size_t i = 0; i < k.len; i++)
			k.key[i] = (uint8_t)(0x40 + i);
		uint8_t retained[48], psk[48];
		char id[NVMF_TLS_IDENTITY_MAX], digest[80];
		uint8_t cipher = nvmf_tls_psk_cipher(&k);
		printf("case hash=%u len=%zu cipher=%u kdf=%d\n", hash, k.len, cipher, kdf);
		hex("configured", k.key, k.len);
		if (nvmf_tls_retained_psk(&k, HOSTNQN, (enum nvmf_tls_kdf)kdf, retained) ||
		    nvmf_tls_psk_digest(cipher, retained, k.len, HOSTNQN, SUBNQN, digest, sizeof(digest))) {
			printf("FAIL derive\n");
			return 1;
		}
		hex("retained", retained, k.len);
		printf("digest %s\n", digest);
		for (int v = 0; v <= 1; v++) {
			struct nvmf_tls_identity_parts parts;
			if (nvmf_tls_identity(v, cipher, retained, k.len, HOSTNQN, SUBNQN, id, sizeof(id)) < 0 ||
			    nvmf_tls_derive_psk(id, retained, k.len, (enum nvmf_tls_kdf)kdf, psk) ||
			    !nvmf_tls_identity_parse(id, &parts) ||
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
