/*
 * DH-HMAC-CHAP transactions (NVMe Base 2.0, 8.13.5), one per queue: the
 * controller's and the host's state machines.  They turn received message
 * bytes into the next message; moving the bytes (Authentication Send and
 * Receive) is the caller's job.
 */
#ifndef NVMF_AUTH_DHCHAP_H
#define NVMF_AUTH_DHCHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmf/fabrics_spec.h>

#include "dhchap_crypto.h"

/* What a host must prove, and which hashes and groups it may use, in order of preference. */
struct nvmf_dhchap_keys {
	struct nvmf_dhchap_secret host; /* the host's secret (required) */
	struct nvmf_dhchap_secret ctrl; /* the controller's, for bidirectional (len 0: none) */
	uint8_t hashes[3];
	uint8_t nhashes;   /* 0: SHA-256, SHA-384, SHA-512 */
	uint8_t dhgroups[6];
	uint8_t ndhgroups; /* 0: ffdhe2048 ... ffdhe8192, then null */
};

/* Fill the preference lists from "hmac(sha256),sha384" / "ffdhe2048,null"; false on an unknown name. */
bool nvmf_dhchap_keys_set_hashes(struct nvmf_dhchap_keys *k, const char *list);
bool nvmf_dhchap_keys_set_dhgroups(struct nvmf_dhchap_keys *k, const char *list);
/* The effective lists (defaults filled in). */
void nvmf_dhchap_keys_lists(const struct nvmf_dhchap_keys *k, uint8_t hashes[3], unsigned *nh, uint8_t groups[6],
			    unsigned *ng);

/* How a transaction stands after a message. */
enum nvmf_dhchap_event {
	NVMF_DHCHAP_PENDING,	   /* more messages to come */
	NVMF_DHCHAP_SUCCEEDED,	   /* the queue is authenticated */
	NVMF_DHCHAP_FAILED,	   /* ended in AUTH_Failure1/2: not authenticated */
};

/* ---- Controller ---- */

struct nvmf_dhchap_ctrl;

struct nvmf_dhchap_ctrl *nvmf_dhchap_ctrl_new(const char *hostnqn, const char *subnqn);
void nvmf_dhchap_ctrl_free(struct nvmf_dhchap_ctrl *c);
/*
 * An AUTH message from Authentication Send.  keys: the host's keys as
 * configured now (read by AUTH_Negotiate; NULL when the host has none
 * any more).  Errors are answered by the next Authentication Receive
 * (AUTH_Failure1), so this only reports where the transaction stands.
 */
enum nvmf_dhchap_event nvmf_dhchap_ctrl_send(struct nvmf_dhchap_ctrl *c, const struct nvmf_dhchap_keys *keys,
					     const void *msg, size_t len);
/*
 * The message for Authentication Receive, into buf of al bytes (zero
 * filled).  Returns its length, or 0 when al is too small for it (the
 * command then fails with Invalid Field and the message stays pending).
 */
size_t nvmf_dhchap_ctrl_receive(struct nvmf_dhchap_ctrl *c, void *buf, size_t al, enum nvmf_dhchap_event *ev);
/* The queue passed (and has not since failed) authentication. */
bool nvmf_dhchap_ctrl_authenticated(const struct nvmf_dhchap_ctrl *c);
/* A transaction is under way (for the timeout). */
bool nvmf_dhchap_ctrl_in_progress(const struct nvmf_dhchap_ctrl *c);
/* Why the last transaction failed, in words (no secret in it). */
const char *nvmf_dhchap_ctrl_failure(const struct nvmf_dhchap_ctrl *c);
/* The hash and group the last transaction used. */
void nvmf_dhchap_ctrl_params(const struct nvmf_dhchap_ctrl *c, uint8_t *hash_id, uint8_t *dhgid);

/* ---- Host ---- */

struct nvmf_dhchap_host;

/* keys->ctrl set: bidirectional (the controller must prove itself too). */
struct nvmf_dhchap_host *nvmf_dhchap_host_new(const char *hostnqn, const char *subnqn,
					      const struct nvmf_dhchap_keys *keys);
void nvmf_dhchap_host_free(struct nvmf_dhchap_host *h);
/* AUTH_Negotiate for transaction t_id into buf; returns its length. */
size_t nvmf_dhchap_host_negotiate(struct nvmf_dhchap_host *h, uint16_t t_id, void *buf, size_t cap);
/*
 * Take what Authentication Receive returned and write the next message
 * (Reply, Success2 or Failure2) into out.  Returns the event: PENDING with
 * *outlen bytes to send; SUCCEEDED with *outlen 0 or a Success2 to send;
 * FAILED with *outlen 0 (the controller sent Failure1) or a Failure2 to send.
 */
enum nvmf_dhchap_event nvmf_dhchap_host_step(struct nvmf_dhchap_host *h, const void *msg, size_t len, void *out,
					     size_t cap, size_t *outlen);
/* Why it failed, in words. */
const char *nvmf_dhchap_host_failure(const struct nvmf_dhchap_host *h);
/* Name of an AUTH_Failure reason code explanation. */
const char *nvmf_dhchap_failure_name(uint8_t rescode_exp);

#endif
