/*
 * auth: the parsers of lib/auth on what a peer or a configuration hands
 * them.  Byte 0 (mod 5) picks one; the rest is:
 *   0 secret    text for nvmf_dhchap_secret_parse() ("DHHC-1:0N:<base64>:")
 *   1 psk       text for nvmf_tls_psk_parse() ("NVMeTLSkey-1:0N:<base64>:")
 *   2 identity  text for nvmf_tls_identity_parse() and nvmf_tls_derive_psk()
 *   3 tls       byte o, then the PSK identity (any bytes, at most 256: OpenSSL's
 *               client limit) that a TLS 1.3 client offers to nvmf_tls_server
 *               over memory BIOs, so the controller's PSK lookup parses it.
 *               o bits 0-1: the configured key (32 bytes hash 0, 48 hash 0,
 *               32 hash 1, 48 hash 2); bit 2 the lookup knows every host (else
 *               only HOSTNQN/SUBNQN); bit 3 the client derives with TP 8011's
 *               HkdfLabel (else nvme-cli's); bit 4 the client holds another key;
 *               bit 5 an unparsable identity offers SHA-384 (else SHA-256)
 *   4 dhchap    a controller transaction (nvmf_dhchap_ctrl) and a host one
 *               (nvmf_dhchap_host) with real keys, and the messages between them.
 *               Four parameter bytes:
 *                 p0 bits 0-2 controller's hashes (SHA-256/384/512; 0: defaults),
 *                    bit 3 the controller has a controller key, bit 4 the host has
 *                    one, bit 5 the host's secret is wrong, bit 6 the host's
 *                    controller key is wrong, bit 7 reverse the hash order
 *                 p1 bits 0-5 controller's DH groups (null, ffdhe2048...8192; 0: defaults),
 *                    bit 7 reverse the order
 *                 p2 bits 0-2 host's hashes, bits 3-4 the secret's transformation
 *                    hash, bits 5-6 its length (32, 48, 64, 32), bit 7 reverse
 *                 p3 bits 0-5 host's DH groups, bit 7 reverse
 *               then records, each a tag byte t:
 *                 t%8 0 Authentication Send of raw bytes: u16 LE length, bytes
 *                      (t bit 3: the host has no keys configured any more)
 *                 t%8 1 raw bytes to the host as Authentication Receive data: u16 LE length, bytes
 *                 t%8 2 the host starts a transaction: u16 LE T_ID; its AUTH_Negotiate is pending
 *                 t%8 3 Authentication Receive: t>>3 0 allocates 4096 bytes, else (t>>3)*12;
 *                      the controller's message is pending for the host
 *                 t%8 4 the host's pending message to the controller, mutated (below)
 *                      (t bit 3: no keys, as in 0)
 *                 t%8 5 the controller's pending message to the host, mutated; the host's
 *                      answer (Reply, Success2, Failure2) is pending for the controller
 *                 t%8 6,7 nothing
 *               Records stop after 24, or once Diffie-Hellman work adds up (DH_BUDGET).
 *               A mutation is a byte m: m&7 times (u16 LE offset, xor byte); m bit 3 a
 *               byte: cut that many bytes off the end; m bit 4 a byte n: append n input bytes.
 *
 * Invariants: no crash or leak; every failure is an AUTH_Failure1/2 of the
 * right form whose reason is one the message earns (a model of both state
 * machines says which); a Challenge or Reply is answered only when its
 * lengths match the chosen hash and group; the controller takes a Reply only
 * with the response and DH value the real host computed for that very
 * Challenge, the host takes a Success1 only with the controller's own;
 * accepted keys and identities are in the canonical form they are written in.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "auth/dhchap.h"
#include "auth/tls.h"
#include "auth/tls_psk.h"
#include "fuzz.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000a017"
#define SUBNQN "nqn.2024-01.io.nvmf:fuzz-auth"
#define MSG_MAX 8192 /* lib/ctrl's largest Authentication Send */
#define RECV_MAX 4096 /* lib/host's Authentication Receive allocation */
#define MAX_RECORDS 24
/* Diffie-Hellman work allowed per input, in ffdhe2048 shared-value computations
 * (one in ffdhe8192 costs 16): no input takes much more than half a second. */
#define DH_BUDGET 48

/* ---- Input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t get16(struct input *in)
{
	uint16_t lo = get8(in);
	return (uint16_t)(lo | get8(in) << 8);
}

/* The input's rest as a string (cut at a NUL); the caller frees it. */
static char *rest_text(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	FUZZ_CHECK(s);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* An exact-length copy, so reading past a message is caught. */
static uint8_t *exact_copy(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	FUZZ_CHECK(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

/* ---- Keys and identities as text ---- */

/* An accepted key must be written exactly as format() writes it (the trailing
 * ':' optional for DH-HMAC-CHAP secrets, as Linux allows). */
static void check_canonical(const char *text, const char *formatted, bool colon_optional)
{
	size_t n = strlen(formatted);
	bool same = strcmp(text, formatted) == 0 ||
		    (colon_optional && strlen(text) == n - 1 && strncmp(text, formatted, n - 1) == 0);
	if (!same && fuzz_verbose())
		fprintf(stderr, "accepted %s\n  written %s\n", text, formatted);
	FUZZ_CHECK(same);
}

static void fuzz_secret(const uint8_t *data, size_t len)
{
	char *text = rest_text(data, len);
	struct nvmf_dhchap_secret s, again;
	int rc = nvmf_dhchap_secret_parse(text, &s);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EBADMSG);
	if (fuzz_verbose())
		fprintf(stderr, "secret: %d\n", rc);
	if (rc == 0) {
		FUZZ_CHECK((s.len == 32 || s.len == 48 || s.len == 64) && s.hash_id <= 3);
		char out[160];
		FUZZ_CHECK(nvmf_dhchap_secret_format(&s, out, sizeof(out)) > 0);
		check_canonical(text, out, true);
		FUZZ_CHECK(nvmf_dhchap_secret_parse(out, &again) == 0 && again.len == s.len &&
			   again.hash_id == s.hash_id && memcmp(again.key, s.key, s.len) == 0);
		uint8_t t[64];
		int tl = nvmf_dhchap_secret_transform(&s, HOSTNQN, t);
		FUZZ_CHECK(tl == (s.hash_id ? (int)nvmf_dhchap_hash_len(s.hash_id) : (int)s.len));
	} else {
		FUZZ_CHECK(s.len == 0);
	}
	free(text);
}

static void fuzz_psk(const uint8_t *data, size_t len)
{
	char *text = rest_text(data, len);
	struct nvmf_tls_configured_psk k, again;
	int rc = nvmf_tls_psk_parse(text, &k);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EBADMSG);
	if (fuzz_verbose())
		fprintf(stderr, "psk: %d\n", rc);
	if (rc == 0) {
		/* Hash 1 goes with 32-byte keys, 2 with 48; 0 with either. */
		FUZZ_CHECK((k.len == 32 || k.len == 48) && k.hash <= 2);
		FUZZ_CHECK(k.hash == 0 || k.len == (k.hash == 1 ? 32u : 48u));
		char out[160];
		FUZZ_CHECK(nvmf_tls_psk_format(&k, out, sizeof(out)) > 0);
		check_canonical(text, out, false);
		FUZZ_CHECK(nvmf_tls_psk_parse(out, &again) == 0 && again.len == k.len && again.hash == k.hash &&
			   memcmp(again.key, k.key, k.len) == 0);
		uint8_t retained[NVMF_TLS_PSK_MAX];
		FUZZ_CHECK(nvmf_tls_retained_psk(&k, HOSTNQN, NVMF_TLS_KDF_NVME_CLI, retained) == 0);
	} else {
		FUZZ_CHECK(k.len == 0);
	}
	free(text);
}

/* The identity parts written back the way nvmf_tls_identity() writes them. */
static void check_identity_parts(const char *identity, const struct nvmf_tls_identity_parts *p)
{
	FUZZ_CHECK(p->version == 0 || p->version == 1);
	FUZZ_CHECK(p->cipher == 1 || p->cipher == 2);
	FUZZ_CHECK(p->hostnqn[0] && p->subnqn[0] && !strchr(p->hostnqn, ' ') && !strchr(p->subnqn, ' '));
	char back[NVMF_TLS_IDENTITY_MAX + 64];
	if (p->version == 0) {
		snprintf(back, sizeof(back), "NVMe0R%02u %s %s", p->cipher, p->hostnqn, p->subnqn);
	} else {
		FUZZ_CHECK(strlen(p->digest) == (p->cipher == 1 ? 44u : 64u));
		snprintf(back, sizeof(back), "NVMe1R%02u %s %s %s", p->cipher, p->hostnqn, p->subnqn, p->digest);
	}
	FUZZ_CHECK(strcmp(back, identity) == 0);
}

static void fuzz_identity(const uint8_t *data, size_t len)
{
	char *text = rest_text(data, len);
	struct nvmf_tls_identity_parts parts;
	int ok = nvmf_tls_identity_parse(text, &parts);
	FUZZ_CHECK(ok == 0 || ok == 1);
	static const uint8_t retained[48] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t psk[NVMF_TLS_PSK_MAX];
	size_t klen = parts.cipher == 2 ? 48 : 32;
	int rc = nvmf_tls_derive_psk(text, retained, klen, len & 1 ? NVMF_TLS_KDF_TP8011 : NVMF_TLS_KDF_NVME_CLI, psk);
	if (fuzz_verbose())
		fprintf(stderr, "identity: parsed %d, derived %d\n", ok, rc);
	if (!ok) {
		FUZZ_CHECK(rc == -1);
	} else {
		check_identity_parts(text, &parts);
		/* The HKDF context holds at most 255 bytes: only a long version 0 identity fails. */
		FUZZ_CHECK(rc == 0 || (parts.version == 0 && strlen(text) > 255));
	}
	free(text);
}

/* ---- TLS: the controller's PSK lookup on a received identity ---- */

struct tls_case {
	struct nvmf_tls_configured_psk key; /* the controller's */
	bool any_host;
	/* the client's offer */
	const uint8_t *identity;
	size_t idlen;
	uint8_t psk[NVMF_TLS_PSK_MAX];
	size_t psk_len;
	uint8_t cipher;
	int lookups;
};

static int tls_lookup(void *arg, const char *hostnqn, const char *subnqn, struct nvmf_tls_configured_psk *out)
{
	struct tls_case *t = arg;
	t->lookups++;
	FUZZ_CHECK(hostnqn[0] && subnqn[0]);
	if (!t->any_host && (strcmp(hostnqn, HOSTNQN) || strcmp(subnqn, SUBNQN)))
		return -1;
	*out = t->key;
	return 0;
}

static int client_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
			      SSL_SESSION **sess)
{
	struct tls_case *t = SSL_get_app_data(ssl);
	static const unsigned char aes128[] = {0x13, 0x01}, aes256[] = {0x13, 0x02};
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, t->cipher == 2 ? aes256 : aes128);
	*sess = NULL;
	if (md && c && md != SSL_CIPHER_get_handshake_digest(c))
		return 1;
	SSL_SESSION *s = SSL_SESSION_new();
	FUZZ_CHECK(s && c);
	FUZZ_CHECK(SSL_SESSION_set1_master_key(s, t->psk, t->psk_len) && SSL_SESSION_set_cipher(s, c) &&
		   SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION));
	*id = t->identity;
	*idlen = t->idlen;
	*sess = s;
	return 1;
}

/* Handshake both ends over a BIO pair until both are done or neither moves. */
static bool handshake(SSL *client, SSL *server)
{
	bool cdone = false, sdone = false;
	for (int round = 0; round < 16 && !(cdone && sdone); round++) {
		bool moved = false;
		if (!cdone) {
			int r = SSL_do_handshake(client);
			if (r == 1)
				cdone = moved = true;
			else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!sdone) {
			int r = SSL_do_handshake(server);
			if (r == 1)
				sdone = moved = true;
			else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!moved && BIO_ctrl_pending(SSL_get_rbio(client)) == 0 && BIO_ctrl_pending(SSL_get_rbio(server)) == 0 &&
		    round > 2)
			break;
	}
	return cdone && sdone;
}

static void fuzz_tls(const uint8_t *data, size_t len)
{
	struct input in = {data, len};
	uint8_t o = get8(&in);
	struct tls_case t = {0};
	static const struct {
		size_t len;
		uint8_t hash;
	} keys[] = {{32, 0}, {48, 0}, {32, 1}, {48, 2}};
	t.key.len = keys[o & 3].len;
	t.key.hash = keys[o & 3].hash;
	for (size_t i = 0; i < t.key.len; i++)
		t.key.key[i] = (uint8_t)(0x30 + i);
	t.any_host = o & 4;
	enum nvmf_tls_kdf kdf = o & 8 ? NVMF_TLS_KDF_TP8011 : NVMF_TLS_KDF_NVME_CLI;
	bool wrong_key = o & 16;
	t.identity = in.p;
	t.idlen = in.n > PSK_MAX_IDENTITY_LEN ? PSK_MAX_IDENTITY_LEN : in.n;

	/* The client's PSK: derived from its key as the identity says, when it parses. */
	char *idtext = rest_text(t.identity, t.idlen);
	bool nul_free = t.idlen > 0 && !memchr(t.identity, '\0', t.idlen);
	struct nvmf_tls_identity_parts parts;
	bool parsed = nul_free && nvmf_tls_identity_parse(idtext, &parts);
	struct nvmf_tls_configured_psk ck = t.key;
	if (wrong_key)
		ck.key[0] ^= 0x80;
	uint8_t retained[NVMF_TLS_PSK_MAX];
	t.cipher = parsed ? parts.cipher : (o & 32 ? 2 : 1);
	t.psk_len = t.cipher == 2 ? 48 : 32;
	memset(t.psk, 0x5a, sizeof(t.psk));
	bool derived = parsed && nvmf_tls_retained_psk(&ck, parts.hostnqn, kdf, retained) == 0 &&
		       nvmf_tls_derive_psk(idtext, retained, ck.len, kdf, t.psk) == 0;
	if (derived)
		t.psk_len = ck.len;
	/* The identity a host holding the controller's key would send (for completeness below). */
	bool proper = false;
	if (parsed && !wrong_key && (t.any_host || (!strcmp(parts.hostnqn, HOSTNQN) && !strcmp(parts.subnqn, SUBNQN))) &&
	    parts.cipher == nvmf_tls_psk_cipher(&t.key) && derived) {
		char expect[NVMF_TLS_IDENTITY_MAX];
		/* A version 1 digest names the derivation; nvme-cli's is tried first, and version 0 uses it. */
		bool kdf_known = kdf == NVMF_TLS_KDF_NVME_CLI || (parts.version == 1 && t.key.hash != 0);
		proper = kdf_known && nvmf_tls_identity(parts.version, parts.cipher, retained, ck.len, parts.hostnqn,
							parts.subnqn, expect, sizeof(expect)) > 0 &&
			 strcmp(expect, idtext) == 0;
	}
	OPENSSL_cleanse(retained, sizeof(retained));

	struct nvmf_tls_server *srv = nvmf_tls_server_new(tls_lookup, &t);
	FUZZ_CHECK(srv);
	SSL *server = nvmf_tls_server_ssl(srv);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	FUZZ_CHECK(server && cctx);
	FUZZ_CHECK(SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION) &&
		   SSL_CTX_set_ciphersuites(cctx, t.cipher == 2 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256"));
	SSL_CTX_set_psk_use_session_callback(cctx, client_use_session);
	SSL *client = SSL_new(cctx);
	FUZZ_CHECK(client);
	SSL_set_app_data(client, &t);
	BIO *cb = NULL, *sb = NULL;
	FUZZ_CHECK(BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
	SSL_set_bio(client, cb, cb);
	SSL_set_bio(server, sb, sb);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	bool ok = handshake(client, server);
	const char *failure = nvmf_tls_failure_of(server);
	if (fuzz_verbose())
		fprintf(stderr, "tls: parsed %d proper %d handshake %s (%s)\n", parsed, proper, ok ? "done" : "failed",
			failure ? failure : "-");
	if (ok) {
		/* Only a well-formed identity of a known host with its key's hash gets in. */
		const char *used = nvmf_tls_identity_of(server);
		FUZZ_CHECK(parsed && used && strcmp(used, idtext) == 0 && !wrong_key);
		check_identity_parts(used, &parts);
		FUZZ_CHECK(t.any_host || (!strcmp(parts.hostnqn, HOSTNQN) && !strcmp(parts.subnqn, SUBNQN)));
		FUZZ_CHECK(parts.cipher == nvmf_tls_psk_cipher(&t.key));
	} else {
		FUZZ_CHECK(!proper);
		/* The server saw the identity: one it could not use says why. */
		if (!parsed && t.idlen)
			FUZZ_CHECK(failure != NULL && t.lookups == 0);
	}
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(cctx);
	nvmf_tls_server_free(srv);
	free(idtext);
}

/* ---- DH-HMAC-CHAP ---- */

struct msg {
	uint8_t b[MSG_MAX];
	size_t len;
	bool set;
};

/* The controller as the spec describes it, to judge what the real one does. */
enum cstate { C_IDLE, C_CHALLENGE_DUE, C_WAIT_REPLY, C_SUCCESS1_DUE, C_WAIT_SUCCESS2, C_FAILURE_DUE };
enum hstate { H_WANT_CHALLENGE, H_WANT_SUCCESS1, H_DONE };

#define OUTCOME_OK 1u /* the next message is a Challenge / Success1 */
#define REASON(r) (1u << (r))

struct exchange {
	struct nvmf_dhchap_ctrl *ctrl;
	struct nvmf_dhchap_host *host;
	struct nvmf_dhchap_keys ckeys, hkeys;
	bool host_secret_right, host_ctrl_key_right;

	/* controller model */
	enum cstate cs;
	uint16_t c_tid;
	uint8_t c_hash, c_group, c_hl; /* of the Challenge sent */
	unsigned allowed;	      /* outcomes the next Authentication Receive may give */
	int want_hash, want_group;    /* what the Negotiate makes the controller choose (-1: any offered) */
	uint8_t neg_copy[MSG_MAX];    /* that Negotiate */
	bool c_bidir;
	unsigned chal_serial; /* counts Challenges */
	struct msg chal;      /* the last one */
	bool authenticated;

	/* host model */
	enum hstate hs;
	uint16_t h_tid;
	uint8_t h_hl;

	/* what travelled */
	struct msg to_ctrl, to_host;	   /* pending genuine messages */
	struct msg reply;		   /* the host's last Reply */
	unsigned reply_serial;		   /* the intact Challenge it answers (0: none) */
	struct msg s1;			   /* the controller's last Success1 */
	bool s1_proves;			   /* ... answering the host's own challenge with the right key */
	unsigned dh_cost;		   /* against DH_BUDGET */
};

/* What a shared value in group dhgid costs, in ffdhe2048 ones (modular exponentiation grows with the cube,
 * OpenSSL's short exponents make it nearer the square). */
static unsigned dh_cost(uint8_t dhgid)
{
	int size = nvmf_dhchap_dhgroup_size(dhgid);
	return size > 0 ? (unsigned)(size / 256) * (unsigned)(size / 256) : 0;
}

static void lists_from_mask(uint8_t mask, bool hash, uint8_t *ids, uint8_t *n)
{
	unsigned bits = hash ? 3 : 6;
	bool reverse = mask & 0x80;
	*n = 0;
	for (unsigned i = 0; i < bits; i++) {
		unsigned b = reverse ? bits - 1 - i : i;
		if (mask & (1u << b))
			ids[(*n)++] = (uint8_t)(hash ? b + 1 : b);
	}
}

static void make_secret(struct nvmf_dhchap_secret *s, uint8_t seed, size_t len, uint8_t hash_id)
{
	s->len = len;
	s->hash_id = hash_id;
	for (size_t i = 0; i < len; i++)
		s->key[i] = (uint8_t)(seed + 3 * i);
}

static bool in_list(const uint8_t *ids, unsigned n, uint8_t id)
{
	return memchr(ids, id, n) != NULL;
}

/* Outcomes a Negotiate earns (sets of reasons: which one the code names first is its choice). */
static unsigned negotiate_outcomes(struct exchange *x, const uint8_t *m, size_t len, bool keys)
{
	const struct nvmf_auth_negotiate *n = (const void *)m;
	unsigned out = 0;
	bool whole = len >= 8 + 64 && n->napd != 0 && len >= 8 + 64u * n->napd;
	if (!whole)
		out |= REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	if (len >= 8 && n->sc_c != NVMF_AUTH_SC_NONE)
		out |= REASON(NVMF_AUTH_FAIL_CONCAT_MISMATCH);
	if (!keys)
		out |= REASON(NVMF_AUTH_FAIL_FAILED);
	if (!whole)
		return out;
	uint8_t hashes[3], groups[6];
	unsigned nh, ng, ndhchap = 0;
	nvmf_dhchap_keys_lists(&x->ckeys, hashes, &nh, groups, &ng);
	unsigned per = 0; /* what the descriptors earn, each on its own */
	x->want_hash = x->want_group = -1;
	for (unsigned i = 0; i < n->napd; i++) {
		const struct nvmf_auth_dhchap_descriptor *d = &n->descr[i];
		if (d->authid != NVMF_AUTH_PROTOCOL_DHCHAP)
			continue;
		ndhchap++;
		unsigned r = 0;
		if (d->halen > NVMF_AUTH_MAX_HASH_IDS || d->dhlen > NVMF_AUTH_MAX_DH_IDS) {
			r = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		} else {
			/* The controller's preference decides among what the host offers. */
			int hash = -1, group = -1;
			for (unsigned k = 0; k < nh && hash < 0; k++)
				if (memchr(d->idlist, hashes[k], d->halen))
					hash = hashes[k];
			for (unsigned k = 0; k < ng && group < 0; k++)
				if (memchr(d->idlist + 30, groups[k], d->dhlen))
					group = groups[k];
			if (hash < 0)
				r |= REASON(NVMF_AUTH_FAIL_HASH_UNUSABLE);
			if (group < 0)
				r |= REASON(NVMF_AUTH_FAIL_DHGROUP_UNUSABLE);
			x->want_hash = hash;
			x->want_group = group;
		}
		per |= r ? r : OUTCOME_OK;
	}
	if (ndhchap == 0)
		return out | REASON(NVMF_AUTH_FAIL_PROTOCOL_UNUSABLE);
	if (out)
		return out;
	/* Several DH-HMAC-CHAP descriptors: any of them may be the one used. */
	if (ndhchap > 1)
		x->want_hash = x->want_group = -1;
	return per;
}

static bool is_msg(const uint8_t *m, size_t len, size_t min, uint8_t type, uint8_t id)
{
	return len >= min && m[0] == type && m[1] == id;
}

static uint16_t tid_of(const uint8_t *m)
{
	return (uint16_t)(m[4] | m[5] << 8);
}

/* Authentication Send with msg: check the event against the model and move it. */
static void ctrl_send(struct exchange *x, const uint8_t *m, size_t len, bool keys)
{
	uint8_t *copy = exact_copy(m, len);
	enum nvmf_dhchap_event ev = nvmf_dhchap_ctrl_send(x->ctrl, keys ? &x->ckeys : NULL, copy, len);
	free(copy);
	FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING || ev == NVMF_DHCHAP_FAILED || ev == NVMF_DHCHAP_SUCCEEDED);
	bool failure2 = is_msg(m, len, 6, NVMF_AUTH_COMMON_MESSAGES, NVMF_AUTH_MSG_FAILURE2);
	FUZZ_CHECK((ev == NVMF_DHCHAP_FAILED) == failure2);
	if (fuzz_verbose())
		fprintf(stderr, "ctrl send %zu bytes type %d id %d: event %d (model state %d)\n", len, len ? m[0] : -1,
			len > 1 ? m[1] : -1, ev, x->cs);
	if (len < 6) {
		x->cs = C_FAILURE_DUE;
		x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		return;
	}
	if (is_msg(m, len, 6, NVMF_AUTH_COMMON_MESSAGES, NVMF_AUTH_MSG_NEGOTIATE)) {
		x->c_tid = tid_of(m);
		x->allowed = negotiate_outcomes(x, m, len, keys);
		x->cs = x->allowed & OUTCOME_OK ? C_CHALLENGE_DUE : C_FAILURE_DUE;
		memcpy(x->neg_copy, m, len);
		x->c_bidir = false;
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		return;
	}
	if (failure2) {
		x->cs = C_IDLE;
		x->authenticated = false;
		FUZZ_CHECK(!nvmf_dhchap_ctrl_authenticated(x->ctrl) && !nvmf_dhchap_ctrl_in_progress(x->ctrl));
		return;
	}
	bool reply = is_msg(m, len, 2, NVMF_AUTH_DHCHAP_MESSAGES, NVMF_AUTH_MSG_REPLY) && x->cs == C_WAIT_REPLY;
	bool success2 = is_msg(m, len, 2, NVMF_AUTH_DHCHAP_MESSAGES, NVMF_AUTH_MSG_SUCCESS2) && x->cs == C_WAIT_SUCCESS2;
	if (!reply && !success2) {
		if (x->cs == C_IDLE)
			x->c_tid = tid_of(m);
		x->cs = C_FAILURE_DUE;
		x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		return;
	}
	if (tid_of(m) != x->c_tid) {
		x->cs = C_FAILURE_DUE;
		x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		return;
	}
	if (success2) {
		if (len < 16) {
			x->cs = C_FAILURE_DUE;
			x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
			FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
			return;
		}
		FUZZ_CHECK(ev == NVMF_DHCHAP_SUCCEEDED);
		x->cs = C_IDLE;
		x->authenticated = true;
		FUZZ_CHECK(nvmf_dhchap_ctrl_authenticated(x->ctrl) && !nvmf_dhchap_ctrl_in_progress(x->ctrl));
		return;
	}
	/* A Reply in its place: well formed for the chosen hash and group, and the real host's answer. */
	FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
	x->s1_proves = false;
	const struct nvmf_auth_reply *r = (const void *)m;
	int dhsize = nvmf_dhchap_dhgroup_size(x->c_group);
	x->cs = C_FAILURE_DUE;
	if (len < 16 || r->hl != x->c_hl || r->dhvlen != dhsize || len < 16 + 2u * r->hl + r->dhvlen) {
		x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		return;
	}
	x->dh_cost += dh_cost(x->c_group);
	const struct nvmf_auth_reply *g = (const void *)x->reply.b;
	size_t hl = x->c_hl;
	bool genuine = x->reply.set && x->reply_serial == x->chal_serial && x->reply.len == 16 + 2 * hl + (size_t)dhsize &&
		       memcmp(r->data, g->data, hl) == 0 && memcmp(r->data + 2 * hl, g->data + 2 * hl, (size_t)dhsize) == 0;
	bool same_dh = x->reply.set && x->reply.len == 16 + 2 * hl + (size_t)dhsize &&
		       memcmp(r->data + 2 * hl, g->data + 2 * hl, (size_t)dhsize) == 0;
	x->allowed = REASON(NVMF_AUTH_FAIL_FAILED);
	if (dhsize > 0 && !same_dh)
		x->allowed |= REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD); /* not a usable public value */
	if (!genuine || !x->host_secret_right)
		return;
	x->c_bidir = r->cvalid && r->seqnum != 0;
	if (x->c_bidir && (x->ckeys.ctrl.len == 0 || memcmp(r->data + hl, x->chal.b + 16, hl) == 0))
		return;
	x->allowed = OUTCOME_OK;
	x->cs = C_SUCCESS1_DUE;
	/* The controller's answer proves itself to the host only for the host's own challenge. */
	x->s1_proves = x->c_bidir && r->cvalid == g->cvalid && r->seqnum == g->seqnum &&
		       memcmp(r->data + hl, g->data + hl, hl) == 0 && x->host_ctrl_key_right;
}

static void check_failure_msg(const uint8_t *m, uint8_t id, uint16_t tid, unsigned allowed)
{
	const struct nvmf_auth_failure_msg *f = (const void *)m;
	FUZZ_CHECK(f->auth_type == NVMF_AUTH_COMMON_MESSAGES && f->auth_id == id && f->t_id == tid);
	FUZZ_CHECK(f->rescode == NVMF_AUTH_RC_FAILED);
	FUZZ_CHECK(f->rescode_exp >= NVMF_AUTH_FAIL_FAILED && f->rescode_exp <= NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	if (!(allowed & REASON(f->rescode_exp)) && fuzz_verbose())
		fprintf(stderr, "reason %u, allowed %#x\n", f->rescode_exp, allowed);
	FUZZ_CHECK(allowed & REASON(f->rescode_exp));
}

/* Authentication Receive of al bytes. */
static void ctrl_receive(struct exchange *x, size_t al)
{
	uint8_t *buf = malloc(al);
	FUZZ_CHECK(buf);
	enum nvmf_dhchap_event ev;
	size_t n = nvmf_dhchap_ctrl_receive(x->ctrl, buf, al, &ev);
	if (fuzz_verbose())
		fprintf(stderr, "ctrl receive %zu: %zu bytes, event %d (model state %d)\n", al, n, ev, x->cs);
	FUZZ_CHECK(n <= al);
	if (x->cs == C_IDLE || x->cs == C_WAIT_REPLY || x->cs == C_WAIT_SUCCESS2) {
		/* Nothing to say: that is a protocol error. */
		x->cs = C_FAILURE_DUE;
		x->allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	}
	/* Too small an allocation fails the command and keeps the message. */
	size_t need = 8;
	if (x->cs == C_SUCCESS1_DUE)
		need = 16 + (x->c_bidir ? x->c_hl : 0u);
	else if (x->cs == C_CHALLENGE_DUE && x->want_hash > 0 && x->want_group >= 0)
		need = 16 + nvmf_dhchap_hash_len((uint8_t)x->want_hash) + (size_t)nvmf_dhchap_dhgroup_size((uint8_t)x->want_group);
	else if (x->cs == C_CHALLENGE_DUE)
		need = n ? 0 : al + 1; /* several descriptors: not known */
	FUZZ_CHECK((n == 0) == (al < need));
	if (n == 0) {
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		free(buf);
		return;
	}
	x->to_host.len = n;
	x->to_host.set = true;
	memcpy(x->to_host.b, buf, n);
	if (x->cs == C_FAILURE_DUE) {
		FUZZ_CHECK(n == sizeof(struct nvmf_auth_failure_msg) && ev == NVMF_DHCHAP_FAILED);
		check_failure_msg(buf, NVMF_AUTH_MSG_FAILURE1, x->c_tid, x->allowed);
		FUZZ_CHECK(!nvmf_dhchap_ctrl_authenticated(x->ctrl) && !nvmf_dhchap_ctrl_in_progress(x->ctrl));
		x->authenticated = false;
		x->cs = C_IDLE;
	} else if (x->cs == C_CHALLENGE_DUE) {
		/* Failure1 where the model allows a choice between success and failure (several descriptors). */
		if (buf[1] == NVMF_AUTH_MSG_FAILURE1) {
			FUZZ_CHECK(n == sizeof(struct nvmf_auth_failure_msg) && ev == NVMF_DHCHAP_FAILED);
			check_failure_msg(buf, NVMF_AUTH_MSG_FAILURE1, x->c_tid, x->allowed);
			x->authenticated = false;
			x->cs = C_IDLE;
			free(buf);
			return;
		}
		FUZZ_CHECK(x->allowed & OUTCOME_OK);
		const struct nvmf_auth_challenge *c = (const void *)buf;
		int dhsize = nvmf_dhchap_dhgroup_size(c->dhgid);
		FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
		FUZZ_CHECK(c->auth_type == NVMF_AUTH_DHCHAP_MESSAGES && c->auth_id == NVMF_AUTH_MSG_CHALLENGE);
		FUZZ_CHECK(c->t_id == x->c_tid && c->seqnum != 0 && c->hl == nvmf_dhchap_hash_len(c->hashid));
		FUZZ_CHECK(dhsize >= 0 && c->dhvlen == dhsize && n == 16 + c->hl + (size_t)dhsize);
		/* Chosen from the host's offer, the controller's preference first. */
		uint8_t hashes[3], groups[6];
		unsigned nh, ng;
		nvmf_dhchap_keys_lists(&x->ckeys, hashes, &nh, groups, &ng);
		FUZZ_CHECK(in_list(hashes, nh, c->hashid) && in_list(groups, ng, c->dhgid));
		const struct nvmf_auth_negotiate *neg = (const void *)x->neg_copy;
		bool offered_h = false, offered_g = false;
		for (unsigned i = 0; i < neg->napd; i++) {
			const struct nvmf_auth_dhchap_descriptor *d = &neg->descr[i];
			if (d->authid != NVMF_AUTH_PROTOCOL_DHCHAP || d->halen > 30 || d->dhlen > 30)
				continue;
			offered_h |= memchr(d->idlist, c->hashid, d->halen) != NULL;
			offered_g |= memchr(d->idlist + 30, c->dhgid, d->dhlen) != NULL;
		}
		FUZZ_CHECK(offered_h && offered_g);
		FUZZ_CHECK(x->want_hash < 0 || (x->want_hash == c->hashid && x->want_group == c->dhgid));
		x->c_hash = c->hashid;
		x->c_group = c->dhgid;
		x->c_hl = c->hl;
		x->chal_serial++;
		x->chal = x->to_host;
		x->cs = C_WAIT_REPLY;
		uint8_t h, g;
		nvmf_dhchap_ctrl_params(x->ctrl, &h, &g);
		FUZZ_CHECK(h == c->hashid && g == c->dhgid);
	} else if (x->cs == C_SUCCESS1_DUE) {
		const struct nvmf_auth_success1 *s = (const void *)buf;
		FUZZ_CHECK(s->auth_type == NVMF_AUTH_DHCHAP_MESSAGES && s->auth_id == NVMF_AUTH_MSG_SUCCESS1);
		FUZZ_CHECK(s->t_id == x->c_tid && s->hl == x->c_hl && s->rvalid == x->c_bidir);
		FUZZ_CHECK(n == 16 + (x->c_bidir ? x->c_hl : 0u));
		x->s1 = x->to_host;
		if (x->c_bidir) {
			FUZZ_CHECK(ev == NVMF_DHCHAP_PENDING);
			x->cs = C_WAIT_SUCCESS2;
		} else {
			FUZZ_CHECK(ev == NVMF_DHCHAP_SUCCEEDED && nvmf_dhchap_ctrl_authenticated(x->ctrl));
			x->authenticated = true;
			x->cs = C_IDLE;
			x->s1_proves = false;
		}
	}
	free(buf);
}

/* The host takes msg: check its answer against the model. */
static void host_step(struct exchange *x, const uint8_t *m, size_t len, bool intact_challenge)
{
	uint8_t *copy = exact_copy(m, len);
	uint8_t *out = malloc(MSG_MAX);
	FUZZ_CHECK(out);
	size_t outlen = 12345;
	enum nvmf_dhchap_event ev = nvmf_dhchap_host_step(x->host, copy, len, out, MSG_MAX, &outlen);
	free(copy);
	if (fuzz_verbose())
		fprintf(stderr, "host step %zu bytes: event %d, %zu out (model state %d): %s\n", len, ev, outlen, x->hs,
			nvmf_dhchap_host_failure(x->host));
	FUZZ_CHECK(outlen <= MSG_MAX);
	enum hstate was = x->hs;
	x->hs = H_DONE;
	if (is_msg(m, len, 8, NVMF_AUTH_COMMON_MESSAGES, NVMF_AUTH_MSG_FAILURE1)) {
		FUZZ_CHECK(ev == NVMF_DHCHAP_FAILED && outlen == 0);
		free(out);
		return;
	}
	unsigned allowed = 0;
	const struct nvmf_auth_challenge *c = (const void *)m;
	uint8_t hashes[3], groups[6];
	unsigned nh, ng;
	nvmf_dhchap_keys_lists(&x->hkeys, hashes, &nh, groups, &ng);
	if (len < 16 || m[0] != NVMF_AUTH_DHCHAP_MESSAGES)
		allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	else if (tid_of(m) != x->h_tid)
		allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	else if (was == H_WANT_CHALLENGE && m[1] == NVMF_AUTH_MSG_CHALLENGE) {
		int dhsize = nvmf_dhchap_dhgroup_size(c->dhgid);
		if (!in_list(hashes, nh, c->hashid) || c->hl != nvmf_dhchap_hash_len(c->hashid))
			allowed |= REASON(NVMF_AUTH_FAIL_HASH_UNUSABLE);
		if (!in_list(groups, ng, c->dhgid))
			allowed |= REASON(NVMF_AUTH_FAIL_DHGROUP_UNUSABLE);
		if (dhsize < 0 || c->dhvlen != dhsize || len < 16u + c->hl + c->dhvlen || c->seqnum == 0)
			allowed |= REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		if (!allowed) {
			allowed = OUTCOME_OK | (dhsize > 0 ? REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD) : 0);
			x->dh_cost += dh_cost(c->dhgid);
		}
	} else if (was == H_WANT_SUCCESS1 && m[1] == NVMF_AUTH_MSG_SUCCESS1) {
		const struct nvmf_auth_success1 *s = (const void *)m;
		if (x->hkeys.ctrl.len == 0)
			allowed = OUTCOME_OK;
		else if (!s->rvalid || s->hl != x->h_hl || len < 16u + x->h_hl)
			allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
		else
			allowed = OUTCOME_OK | REASON(NVMF_AUTH_FAIL_FAILED);
	} else {
		allowed = REASON(NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE);
	}

	if (ev == NVMF_DHCHAP_FAILED) {
		FUZZ_CHECK(outlen == sizeof(struct nvmf_auth_failure_msg));
		check_failure_msg(out, NVMF_AUTH_MSG_FAILURE2, x->h_tid, allowed);
	} else if (ev == NVMF_DHCHAP_PENDING) {
		/* A Reply to a Challenge that is well formed for what the host offered. */
		FUZZ_CHECK(was == H_WANT_CHALLENGE && (allowed & OUTCOME_OK));
		int dhsize = nvmf_dhchap_dhgroup_size(c->dhgid);
		const struct nvmf_auth_reply *r = (const void *)out;
		FUZZ_CHECK(outlen == 16 + 2u * c->hl + (size_t)dhsize);
		FUZZ_CHECK(r->auth_type == NVMF_AUTH_DHCHAP_MESSAGES && r->auth_id == NVMF_AUTH_MSG_REPLY);
		FUZZ_CHECK(r->t_id == x->h_tid && r->hl == c->hl && r->dhvlen == dhsize);
		bool bidir = x->hkeys.ctrl.len > 0;
		FUZZ_CHECK(r->cvalid == bidir && (r->seqnum != 0) == bidir);
		x->hs = H_WANT_SUCCESS1;
		x->h_hl = c->hl;
		x->reply.len = outlen;
		x->reply.set = true;
		memcpy(x->reply.b, out, outlen);
		x->reply_serial = intact_challenge ? x->chal_serial : 0;
	} else {
		FUZZ_CHECK(ev == NVMF_DHCHAP_SUCCEEDED);
		FUZZ_CHECK(was == H_WANT_SUCCESS1 && (allowed & OUTCOME_OK));
		if (x->hkeys.ctrl.len == 0) {
			FUZZ_CHECK(outlen == 0);
		} else {
			/* Only the controller's own answer to our challenge proves it. */
			const struct nvmf_auth_success1 *s = (const void *)m;
			FUZZ_CHECK(x->s1_proves && x->s1.set && memcmp(s->rval, x->s1.b + 16, x->h_hl) == 0);
			const struct nvmf_auth_success2 *s2 = (const void *)out;
			FUZZ_CHECK(outlen == sizeof(*s2) && s2->auth_type == NVMF_AUTH_DHCHAP_MESSAGES &&
				   s2->auth_id == NVMF_AUTH_MSG_SUCCESS2 && s2->t_id == x->h_tid);
		}
	}
	x->to_ctrl.len = outlen;
	x->to_ctrl.set = outlen > 0;
	memcpy(x->to_ctrl.b, out, outlen);
	free(out);
}

/* The pending message as the input mutates it. */
static void mutate(struct input *in, const struct msg *src, struct msg *dst)
{
	*dst = *src;
	uint8_t m = get8(in);
	for (unsigned i = 0; i < (m & 7u); i++) {
		uint16_t off = get16(in);
		uint8_t v = get8(in);
		if (dst->len)
			dst->b[off % dst->len] ^= v;
	}
	if (m & 8) {
		uint8_t cut = get8(in);
		dst->len -= cut < dst->len ? cut : dst->len;
	}
	if (m & 16) {
		uint8_t add = get8(in);
		for (unsigned i = 0; i < add && dst->len < MSG_MAX; i++)
			dst->b[dst->len++] = get8(in);
	}
}

/* A delivered Challenge the host must answer as the controller expects: every byte
 * the response covers as sent (reserved fields may change). */
static bool challenge_intact(const struct exchange *x, const struct msg *d)
{
	const struct msg *c = &x->chal;
	if (x->cs != C_WAIT_REPLY || d->len < c->len)
		return false;
	for (size_t i = 0; i < c->len; i++)
		if (d->b[i] != c->b[i] && i != 2 && i != 3 && i != 7)
			return false;
	return true;
}

static void fuzz_dhchap(const uint8_t *data, size_t len)
{
	struct input in = {data, len};
	uint8_t p0 = get8(&in), p1 = get8(&in), p2 = get8(&in), p3 = get8(&in);
	struct exchange *x = calloc(1, sizeof(*x));
	FUZZ_CHECK(x);
	static const size_t lens[] = {32, 48, 64, 32};
	size_t klen = lens[(p2 >> 5) & 3];
	uint8_t transform = (p2 >> 3) & 3;
	make_secret(&x->ckeys.host, 0x11, klen, transform);
	if (p0 & 8)
		make_secret(&x->ckeys.ctrl, 0x77, 48, 0);
	lists_from_mask((uint8_t)((p0 & 7) | (p0 & 0x80)), true, x->ckeys.hashes, &x->ckeys.nhashes);
	lists_from_mask(p1, false, x->ckeys.dhgroups, &x->ckeys.ndhgroups);
	x->hkeys.host = x->ckeys.host;
	x->host_secret_right = !(p0 & 32);
	if (!x->host_secret_right)
		x->hkeys.host.key[1] ^= 1;
	if (p0 & 16) {
		make_secret(&x->hkeys.ctrl, 0x77, 48, 0);
		x->host_ctrl_key_right = !(p0 & 64) && (p0 & 8);
		if (p0 & 64)
			x->hkeys.ctrl.key[2] ^= 1;
	}
	lists_from_mask(p2, true, x->hkeys.hashes, &x->hkeys.nhashes);
	lists_from_mask(p3, false, x->hkeys.dhgroups, &x->hkeys.ndhgroups);
	x->ctrl = nvmf_dhchap_ctrl_new(HOSTNQN, SUBNQN);
	x->host = nvmf_dhchap_host_new(HOSTNQN, SUBNQN, &x->hkeys);
	FUZZ_CHECK(x->ctrl && x->host);
	struct msg *d = malloc(sizeof(*d));
	FUZZ_CHECK(d);

	for (unsigned rec = 0; rec < MAX_RECORDS && in.n && x->dh_cost < DH_BUDGET; rec++) {
		uint8_t t = get8(&in);
		switch (t & 7) {
		case 0:
		case 1: {
			size_t n = get16(&in) % (MSG_MAX + 1);
			n = n < in.n ? n : in.n;
			if ((t & 7) == 0) {
				ctrl_send(x, in.p, n, !(t & 8));
			} else {
				host_step(x, in.p, n, false);
			}
			in.p += n;
			in.n -= n;
			break;
		}
		case 2: {
			uint16_t tid = get16(&in);
			size_t n = nvmf_dhchap_host_negotiate(x->host, tid, x->to_ctrl.b, MSG_MAX);
			FUZZ_CHECK(n == 8 + 64);
			x->to_ctrl.len = n;
			x->to_ctrl.set = true;
			x->hs = H_WANT_CHALLENGE;
			x->h_tid = tid;
			break;
		}
		case 3:
			ctrl_receive(x, t >> 3 ? (size_t)(t >> 3) * 12 : RECV_MAX);
			break;
		case 4:
			if (!x->to_ctrl.set)
				break;
			mutate(&in, &x->to_ctrl, d);
			ctrl_send(x, d->b, d->len, !(t & 8));
			break;
		case 5:
			if (!x->to_host.set)
				break;
			mutate(&in, &x->to_host, d);
			host_step(x, d->b, d->len, challenge_intact(x, d));
			break;
		default:
			break;
		}
		/* A failed transaction (re-authentication too) leaves the queue unauthenticated at once. */
		if (x->cs == C_FAILURE_DUE)
			x->authenticated = false;
		FUZZ_CHECK(nvmf_dhchap_ctrl_authenticated(x->ctrl) == x->authenticated);
		FUZZ_CHECK(nvmf_dhchap_ctrl_in_progress(x->ctrl) == (x->cs != C_IDLE));
	}
	if (fuzz_verbose())
		fprintf(stderr, "dhchap: controller %s\n", x->authenticated ? "authenticated" : "not authenticated");
	free(d);
	nvmf_dhchap_ctrl_free(x->ctrl);
	nvmf_dhchap_host_free(x->host);
	free(x);
}

int fuzz_one(const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_secret(data + 1, len - 1);
		break;
	case 1:
		fuzz_psk(data + 1, len - 1);
		break;
	case 2:
		fuzz_identity(data + 1, len - 1);
		break;
	case 3:
		fuzz_tls(data + 1, len - 1);
		break;
	default:
		fuzz_dhchap(data + 1, len - 1);
		break;
	}
	return 0;
}
