/*
 * nvmetcli JSON:
 *   {"hosts":[{"nqn":..,"dhchap":{"key":"DHHC-1:..","ctrl_key":"DHHC-1:..","hash":"hmac(sha256)","dhgroup":"ffdhe2048"},
 *              "tls_key":"NVMeTLSkey-1:01:..:"}],
 *    "ports":[{"portid":1,"addr":{"trtype":"tcp","adrfam":"ipv4","traddr":..,"trsvcid":..,
 *                                 "tsas":"tls1.3","treq":"required"|"not required"},"subsystems":[nqn..]}],
 *    "subsystems":[{"nqn":..,"allowed_hosts":[..],"attr":{"allow_any_host":"1","serial":..,"model":..},
 *                   "namespaces":[{"nsid":1,"enable":1,"device":{"path":..,"nguid":..,"uuid":..}}]}]}
 * with attr cntlid_min/cntlid_max, and per port "ana_groups":[{"grpid":1,"ana":{"state":..}}];
 * device.path may be any namespace spec (FILE, ram:SIZE, rbd:POOL/IMAGE@CONF...).
 * Unknown keys are ignored, as nvmetcli writes many we do not use.
 * nvmfd's own resource budgets: {"limits":{"max_connections":1024,...}}, one key per limit
 * flag (resource_limits.c has the list; unknown keys there are errors).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "acceptor.h"
#include "config.h"
#include "ctrl/target.h"
#include "resource_limits.h"

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

static json_object *get_array(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* nvmetcli writes booleans and numbers as strings ("1") or as numbers. */
static bool truthy(json_object *o, const char *key, bool dflt)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v))
		return dflt;
	if (json_object_is_type(v, json_type_string))
		return strcmp(json_object_get_string(v), "0") != 0 && strcmp(json_object_get_string(v), "false") != 0;
	return json_object_get_boolean(v);
}

static int load_namespace(struct nvmf_subsystem *ss, json_object *jns, char *err, size_t errlen)
{
	if (!truthy(jns, "enable", true))
		return 0;
	json_object *dev = NULL, *v;
	json_object_object_get_ex(jns, "device", &dev);
	const char *path = get_string(dev, "path");
	if (!path || !*path) {
		snprintf(err, errlen, "%s: namespace without device.path", nvmf_subsystem_nqn(ss));
		return -1;
	}
	uint32_t nsid = 0;
	if (json_object_object_get_ex(jns, "nsid", &v))
		nsid = (uint32_t)json_object_get_int64(v);
	struct nvmf_ns_opts opts = {0};
	const char *nguid = get_string(dev, "nguid");
	const char *uuid = get_string(dev, "uuid");
	/* nvmetcli writes all-zero NGUIDs for "unset". */
	if (nguid && nvmf_parse_hex_id(nguid, opts.nguid)) {
		for (int i = 0; i < 16; i++)
			opts.has_nguid |= opts.nguid[i] != 0;
	}
	if (uuid && nvmf_parse_hex_id(uuid, opts.uuid))
		opts.has_uuid = true;
	char why[256];
	if (!nvmf_subsystem_add_namespace(ss, nsid, path, &opts, why, sizeof(why))) {
		snprintf(err, errlen, "%s nsid %u: %s", nvmf_subsystem_nqn(ss), nsid, why);
		return -1;
	}
	return 0;
}

/* The top-level host entry's DH-HMAC-CHAP keys apply where a subsystem allows that host (as nvmet). */
static int load_host_keys(struct nvmf_subsystem *ss, json_object *root, const char *hnqn, char *err, size_t errlen)
{
	json_object *hosts = get_array(root, "hosts"), *entry = NULL, *dh = NULL;
	for (size_t i = 0; hosts && i < json_object_array_length(hosts) && !entry; i++) {
		json_object *h = json_object_array_get_idx(hosts, i);
		const char *n = get_string(h, "nqn");
		if (n && strcmp(n, hnqn) == 0)
			entry = h;
	}
	if (entry)
		json_object_object_get_ex(entry, "dhchap", &dh);
	const char *key = get_string(dh, "key"), *tls_key = get_string(entry, "tls_key");
	char why[256];
	if (key && *key &&
	    nvmf_subsystem_set_host_dhchap(ss, hnqn, key, get_string(dh, "ctrl_key"), get_string(dh, "hash"),
					   get_string(dh, "dhgroup"), why, sizeof(why)) < 0) {
		snprintf(err, errlen, "host %s: %s", hnqn, why);
		return -1;
	}
	if (tls_key && *tls_key && nvmf_subsystem_set_host_tls_key(ss, hnqn, tls_key, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "host %s: %s", hnqn, why);
		return -1;
	}
	return 0;
}

static int load_subsystem(struct nvmf_tgt *tgt, json_object *root, json_object *js, char *err, size_t errlen)
{
	const char *nqn = get_string(js, "nqn");
	if (!nqn) {
		snprintf(err, errlen, "subsystem without nqn");
		return -1;
	}
	struct nvmf_subsystem *ss = nvmf_subsystem_create(tgt, nqn, err, errlen);
	if (!ss)
		return -1;
	json_object *attr = NULL;
	json_object_object_get_ex(js, "attr", &attr);
	nvmf_subsystem_set_allow_any_host(ss, truthy(attr, "allow_any_host", false));
	const char *serial = get_string(attr, "serial");
	if (serial && nvmf_subsystem_set_serial(ss, serial) < 0) {
		snprintf(err, errlen, "%s: bad serial '%s'", nqn, serial);
		return -1;
	}
	const char *model = get_string(attr, "model");
	if (model && nvmf_subsystem_set_model(ss, model) < 0) {
		snprintf(err, errlen, "%s: bad model '%s'", nqn, model);
		return -1;
	}
	/* Several gateways of one subsystem: distinct controller ID ranges (nvmetcli's names). */
	json_object *cmin = NULL, *cmax = NULL;
	json_object_object_get_ex(attr, "cntlid_min", &cmin);
	json_object_object_get_ex(attr, "cntlid_max", &cmax);
	if (cmin || cmax) {
		int64_t lo = cmin ? json_object_get_int64(cmin) : 1, hi = cmax ? json_object_get_int64(cmax) : 0xffef;
		if (lo < 1 || hi > 0xffef || lo > hi || nvmf_subsystem_set_limits(ss, 0, (uint16_t)lo, (uint16_t)hi) < 0) {
			snprintf(err, errlen, "%s: cntlid_min/cntlid_max want 1 <= min <= max <= 65519", nqn);
			return -1;
		}
	}
	json_object *hosts = get_array(js, "allowed_hosts");
	for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i);
		/* Entries are NQN strings (nvmetcli) or {"nqn": ...}. */
		const char *hnqn = json_object_is_type(h, json_type_string) ? json_object_get_string(h)
									  : get_string(h, "nqn");
		if (!hnqn || nvmf_subsystem_add_host(ss, hnqn) < 0) {
			snprintf(err, errlen, "%s: bad allowed host", nqn);
			return -1;
		}
		if (load_host_keys(ss, root, hnqn, err, errlen) < 0)
			return -1;
	}
	json_object *nss = get_array(js, "namespaces");
	for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
		if (load_namespace(ss, json_object_array_get_idx(nss, i), err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int load_port(struct nvmf_tgt *tgt, struct acceptor *acc, json_object *jp, char *err, size_t errlen)
{
	json_object *addr = NULL, *v;
	json_object_object_get_ex(jp, "addr", &addr);
	const char *trtype = get_string(addr, "trtype");
	const char *adrfam = get_string(addr, "adrfam");
	const char *traddr = get_string(addr, "traddr");
	const char *trsvcid = get_string(addr, "trsvcid");
	uint16_t portid = 0;
	if (json_object_object_get_ex(jp, "portid", &v))
		portid = (uint16_t)json_object_get_int(v);
	bool vfio_user = trtype && (!strcasecmp(trtype, "vfio-user") || !strcasecmp(trtype, "vfiouser"));
	if (!trtype || (strcmp(trtype, "tcp") != 0 && !vfio_user)) {
		snprintf(err, errlen, "port %u: only trtype tcp and vfio-user are supported", portid);
		return -1;
	}
	struct nvmf_port_addr pa = {.trtype = NVMF_TRTYPE_TCP, .adrfam = NVMF_ADRFAM_IPV4};
	if (vfio_user) {
		/* traddr: the Unix socket QEMU's vfio-user-pci connects to. */
		if (!traddr || !*traddr || strlen(traddr) >= 108) {
			snprintf(err, errlen, "port %u: vfio-user wants traddr, a socket path of 1..107 bytes", portid);
			return -1;
		}
		pa.trtype = NVMF_TRTYPE_VFIO_USER;
		pa.adrfam = 0;
		trsvcid = "";
	} else if (adrfam && strcmp(adrfam, "ipv6") == 0) {
		pa.adrfam = NVMF_ADRFAM_IPV6;
	}
	snprintf(pa.traddr, sizeof(pa.traddr), "%s", traddr ? traddr : "0.0.0.0");
	/* nvmet's TLS port: tsas "tls1.3"; treq "required" makes it TLS only. */
	const char *tsas = get_string(addr, "tsas"), *treq = get_string(addr, "treq");
	if (tsas && strcmp(tsas, "tls1.3") == 0)
		pa.tls = treq && strcmp(treq, "required") == 0 ? NVMF_PORT_TLS_REQUIRED : NVMF_PORT_TLS_ALLOWED;
	else if (tsas && *tsas && strcmp(tsas, "none") != 0) {
		snprintf(err, errlen, "port %u: unknown tsas '%s' (tls1.3 or none)", portid, tsas);
		return -1;
	}
	snprintf(pa.trsvcid, sizeof(pa.trsvcid), "%s", trsvcid ? trsvcid : "4420");
	/* "param": {"vfio_user_doorbells": "mapped"|"trapped"}; absent: the command line's. */
	json_object *param = NULL;
	json_object_object_get_ex(jp, "param", &param);
	const char *doorbells = get_string(param, "vfio_user_doorbells");
	bool trapped = acceptor_vfio_user_doorbells(acc);
	if (doorbells) {
		if (!vfio_user || doorbells_parse(doorbells) < 0) {
			snprintf(err, errlen, "port %u: vfio_user_doorbells wants mapped or trapped, on a vfio-user port",
				 portid);
			return -1;
		}
		trapped = doorbells_parse(doorbells) == 1;
	}
	if ((vfio_user ? acceptor_listen_vfio_user(acc, &pa, portid, trapped, err, errlen)
		       : acceptor_listen(acc, &pa, portid, err, errlen)) < 0)
		return -1;
	if (nvmf_tgt_add_port(tgt, portid, &pa, false) < 0) {
		snprintf(err, errlen, "port %u defined twice", portid);
		return -1;
	}
	/* nvmetcli: "ana_groups": [{"grpid": 1, "ana": {"state": "optimized"}}]; group 1 is ours. */
	json_object *groups = get_array(jp, "ana_groups");
	for (size_t i = 0; groups && i < json_object_array_length(groups); i++) {
		json_object *g = json_object_array_get_idx(groups, i), *ana = NULL;
		if (json_object_object_get_ex(g, "grpid", &v) && json_object_get_int(v) != NVMF_ANA_GROUP)
			continue;
		json_object_object_get_ex(g, "ana", &ana);
		const char *state = get_string(ana, "state");
		int s = nvmf_ana_state_parse(state);
		if (s < 0) {
			snprintf(err, errlen, "port %u: ANA state '%s': want optimized, non-optimized, inaccessible or change",
				 portid, state ? state : "(none)");
			return -1;
		}
		nvmf_tgt_set_ana_state(tgt, portid, (uint8_t)s);
	}
	json_object *subs = get_array(jp, "subsystems");
	for (size_t i = 0; subs && i < json_object_array_length(subs); i++) {
		const char *nqn = json_object_get_string(json_object_array_get_idx(subs, i));
		if (!nqn || !nvmf_tgt_find_subsystem(tgt, nqn)) {
			snprintf(err, errlen, "port %u names unknown subsystem %s", portid, nqn ? nqn : "(null)");
			return -1;
		}
		nvmf_tgt_port_link(tgt, portid, nqn);
	}
	if (vfio_user)
		printf("nvmfd: listening on vfio-user %s (port %u, %s doorbells)\n", pa.traddr, portid,
		       doorbells_name(trapped));
	else
		printf("nvmfd: listening on tcp %s%s%s:%s (port %u)\n", pa.adrfam == NVMF_ADRFAM_IPV6 ? "[" : "", pa.traddr,
	       pa.adrfam == NVMF_ADRFAM_IPV6 ? "]" : "", pa.trsvcid, portid);
	return 0;
}

/* Apply a parsed file; takes the reference to root. */
static int config_apply(json_object *root, const char *name, struct nvmf_tgt *tgt, struct acceptor *acc, char *err,
			size_t errlen)
{
	int rc = 0;
	char why[512] = "";
	json_object *subs = get_array(root, "subsystems");
	for (size_t i = 0; rc == 0 && subs && i < json_object_array_length(subs); i++)
		rc = load_subsystem(tgt, root, json_object_array_get_idx(subs, i), why, sizeof(why));
	json_object *ports = get_array(root, "ports");
	for (size_t i = 0; rc == 0 && ports && i < json_object_array_length(ports); i++)
		rc = load_port(tgt, acc, json_object_array_get_idx(ports, i), why, sizeof(why));
	if (rc)
		snprintf(err, errlen, "%s: %s", name, why);
	json_object_put(root);
	return rc;
}

int config_load(const char *path, struct nvmf_tgt *tgt, struct acceptor *acc, char *err, size_t errlen)
{
	json_object *root = json_object_from_file(path);
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, json_util_get_last_err());
		return -1;
	}
	return config_apply(root, path, tgt, acc, err, errlen);
}

int config_load_buffer(const char *text, size_t len, const char *name, struct nvmf_tgt *tgt, struct acceptor *acc,
		       char *err, size_t errlen)
{
	if (len > INT_MAX) {
		snprintf(err, errlen, "%s: too large", name);
		return -1;
	}
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success) {
		snprintf(err, errlen, "%s: %s", name,
			 jerr == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(jerr));
		json_object_put(root);
		json_tokener_free(tok);
		return -1;
	}
	json_tokener_free(tok);
	return config_apply(root, name, tgt, acc, err, errlen);
}

int config_load_limits(const char *path, struct nvmfd_limits *l, char *err, size_t errlen)
{
	json_object *root = json_object_from_file(path);
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, json_util_get_last_err());
		return -1;
	}
	json_object *jl;
	int rc = 0;
	if (json_object_object_get_ex(root, "limits", &jl)) {
		if (!json_object_is_type(jl, json_type_object)) {
			snprintf(err, errlen, "%s: limits must be an object", path);
			json_object_put(root);
			return -1;
		}
		json_object_object_foreach(jl, key, val)
		{
			if (rc)
				break;
			/* The keys are the flags' names with underscores. */
			char name[64], why[256];
			snprintf(name, sizeof(name), "%s", key);
			for (char *c = name; *c; c++)
				*c = *c == '_' ? '-' : *c;
			if (nvmfd_limits_set(l, name, json_object_get_string(val), why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%s: limits.%s: %s", path, key, why);
				rc = -1;
			}
		}
	}
	json_object_put(root);
	return rc;
}
