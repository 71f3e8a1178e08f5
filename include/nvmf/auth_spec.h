/*
 * NVMe in-band authentication: DH-HMAC-CHAP messages carried by
 * Authentication Send / Receive (NVMe Base 2.0, 8.13; TP 8006).
 * Multi-byte fields are little endian.
 */
#ifndef NVMF_AUTH_SPEC_H
#define NVMF_AUTH_SPEC_H

#include <assert.h>
#include <stdint.h>

/* Authentication Send/Receive: SECP, SPSP0 and SPSP1 for DH-HMAC-CHAP. */
#define NVMF_AUTH_SECP_DHCHAP 0xe9
#define NVMF_AUTH_SPSP 0x01

/* Connect response DW0: authentication requirements (AUTHREQ). */
#define NVMF_CONNECT_AUTHREQ_ATR (1u << 17)  /* authentication transaction required */
#define NVMF_CONNECT_AUTHREQ_ASCR (1u << 18) /* ... and a secure channel */

/* Message classes (AUTH-TYPE) and identifiers (AUTH-ID). */
#define NVMF_AUTH_COMMON_MESSAGES 0x00
#define NVMF_AUTH_DHCHAP_MESSAGES 0x01

enum nvmf_auth_msg_id {
	NVMF_AUTH_MSG_NEGOTIATE = 0x00,
	NVMF_AUTH_MSG_CHALLENGE = 0x01,
	NVMF_AUTH_MSG_REPLY = 0x02,
	NVMF_AUTH_MSG_SUCCESS1 = 0x03,
	NVMF_AUTH_MSG_SUCCESS2 = 0x04,
	NVMF_AUTH_MSG_FAILURE2 = 0xf0,
	NVMF_AUTH_MSG_FAILURE1 = 0xf1,
};

/* Hash function identifiers. */
enum nvmf_auth_hash {
	NVMF_AUTH_HASH_SHA256 = 0x01,
	NVMF_AUTH_HASH_SHA384 = 0x02,
	NVMF_AUTH_HASH_SHA512 = 0x03,
};

/* Diffie-Hellman group identifiers. */
enum nvmf_auth_dhgroup {
	NVMF_AUTH_DHGROUP_NULL = 0x00,
	NVMF_AUTH_DHGROUP_2048 = 0x01,
	NVMF_AUTH_DHGROUP_3072 = 0x02,
	NVMF_AUTH_DHGROUP_4096 = 0x03,
	NVMF_AUTH_DHGROUP_6144 = 0x04,
	NVMF_AUTH_DHGROUP_8192 = 0x05,
};

/* Secure channel concatenation (SC_C) in Negotiate. */
#define NVMF_AUTH_SC_NONE 0x00

/* AUTH_Failure reason code and explanations. */
#define NVMF_AUTH_RC_FAILED 0x01
enum nvmf_auth_failure {
	NVMF_AUTH_FAIL_FAILED = 0x01,
	NVMF_AUTH_FAIL_PROTOCOL_UNUSABLE = 0x02,
	NVMF_AUTH_FAIL_CONCAT_MISMATCH = 0x03,
	NVMF_AUTH_FAIL_HASH_UNUSABLE = 0x04,
	NVMF_AUTH_FAIL_DHGROUP_UNUSABLE = 0x05,
	NVMF_AUTH_FAIL_INCORRECT_PAYLOAD = 0x06,
	NVMF_AUTH_FAIL_INCORRECT_PROTOCOL_MESSAGE = 0x07,
};

#define NVMF_AUTH_PROTOCOL_DHCHAP 0x01
#define NVMF_AUTH_MAX_HASH_IDS 30
#define NVMF_AUTH_MAX_DH_IDS 30
#define NVMF_AUTH_MAX_DIGEST 64
#define NVMF_AUTH_MAX_DH_VALUE 1024 /* ffdhe8192 */

/* One protocol descriptor of AUTH_Negotiate. */
struct nvmf_auth_dhchap_descriptor {
	uint8_t authid;
	uint8_t reserved;
	uint8_t halen;
	uint8_t dhlen;
	uint8_t idlist[60]; /* hash IDs from 0, DH group IDs from 30 */
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_dhchap_descriptor) == 64, "protocol descriptor is 64 bytes");

struct nvmf_auth_negotiate {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved;
	uint16_t t_id;
	uint8_t sc_c;
	uint8_t napd;
	struct nvmf_auth_dhchap_descriptor descr[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_negotiate) == 8, "AUTH_Negotiate header is 8 bytes");

/* Followed by hl bytes of challenge, then dhvlen bytes of DH value. */
struct nvmf_auth_challenge {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved1;
	uint16_t t_id;
	uint8_t hl;
	uint8_t reserved2;
	uint8_t hashid;
	uint8_t dhgid;
	uint16_t dhvlen;
	uint32_t seqnum;
	uint8_t data[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_challenge) == 16, "DH-HMAC-CHAP_Challenge header is 16 bytes");

/* Followed by hl bytes of response, hl bytes of challenge, dhvlen bytes of DH value. */
struct nvmf_auth_reply {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved1;
	uint16_t t_id;
	uint8_t hl;
	uint8_t reserved2;
	uint8_t cvalid;
	uint8_t reserved3;
	uint16_t dhvlen;
	uint32_t seqnum;
	uint8_t data[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_reply) == 16, "DH-HMAC-CHAP_Reply header is 16 bytes");

/* Followed by hl bytes of the controller's response when rvalid. */
struct nvmf_auth_success1 {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved1;
	uint16_t t_id;
	uint8_t hl;
	uint8_t reserved2;
	uint8_t rvalid;
	uint8_t reserved3[7];
	uint8_t rval[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_success1) == 16, "DH-HMAC-CHAP_Success1 header is 16 bytes");

struct nvmf_auth_success2 {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved1;
	uint16_t t_id;
	uint8_t reserved2[10];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_success2) == 16, "DH-HMAC-CHAP_Success2 is 16 bytes");

/* AUTH_Failure1 (controller) and AUTH_Failure2 (host). */
struct nvmf_auth_failure_msg {
	uint8_t auth_type;
	uint8_t auth_id;
	uint16_t reserved1;
	uint16_t t_id;
	uint8_t rescode;
	uint8_t rescode_exp;
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_failure_msg) == 8, "AUTH_Failure is 8 bytes");

#endif
