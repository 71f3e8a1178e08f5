/* Target addresses (URI and SPDK transport ID) and the host's identity. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <nvmf/host.h>

#define DEFAULT_TRSVCID "4420"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int copy_field(char *dst, size_t dstlen, const char *src, size_t n, const char *what, char *err,
		      size_t errlen)
{
	if (n == 0)
		return fail(err, errlen, "empty %s", what);
	if (n >= dstlen)
		return fail(err, errlen, "%s too long (%zu bytes, at most %zu)", what, n, dstlen - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int check_port(const char *s, char *err, size_t errlen)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0 || v > 65535)
		return fail(err, errlen, "invalid port '%s'", s);
	return 0;
}

static enum nvmf_adrfam guess_adrfam(const char *traddr)
{
	return strchr(traddr, ':') ? NVMF_ADRFAM_IPV6 : NVMF_ADRFAM_IPV4;
}

static int parse_uri(const char *s, struct nvmf_host_addr *a, char *err, size_t errlen)
{
	const char *p = s + strlen("tcp://");
	const char *host, *host_end, *port = NULL, *port_end = NULL;

	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			return fail(err, errlen, "unterminated '[' in address '%s'", s);
		p = host_end + 1;
	} else {
		host = p;
		host_end = p + strcspn(p, ":/");
		p = host_end;
	}
	if (*p == ':') {
		port = p + 1;
		port_end = port + strcspn(port, "/");
		p = port_end;
	}
	if (*p != '\0' && *p != '/')
		return fail(err, errlen, "unexpected '%c' in address '%s'", *p, s);
	int rc = copy_field(a->traddr, sizeof(a->traddr), host, (size_t)(host_end - host), "traddr", err, errlen);
	if (rc)
		return rc;
	if (port) {
		rc = copy_field(a->trsvcid, sizeof(a->trsvcid), port, (size_t)(port_end - port), "port", err, errlen);
		if (rc)
			return rc;
	}
	if (*p == '/' && p[1] != '\0') {
		size_t n = strlen(p + 1);
		if (p[n] == '/') /* a trailing slash */
			n--;
		if (n > NVME_NQN_MAX)
			return fail(err, errlen, "subsystem NQN too long (%zu bytes, at most %d)", n, NVME_NQN_MAX);
		rc = copy_field(a->subnqn, sizeof(a->subnqn), p + 1, n, "subnqn", err, errlen);
		if (rc)
			return rc;
	}
	a->adrfam = guess_adrfam(a->traddr);
	return 0;
}

/* SPDK transport ID: "key:value" (or key=value) pairs separated by blanks. */
static int parse_trid(const char *s, struct nvmf_host_addr *a, char *err, size_t errlen)
{
	bool have_adrfam = false, have_trtype = false;
	const char *p = s;

	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *key = p;
		size_t klen = strcspn(p, ":= \t");
		if (key[klen] != ':' && key[klen] != '=')
			return fail(err, errlen, "expected key:value in '%s'", s);
		const char *val = key + klen + 1;
		size_t vlen = strcspn(val, " \t");
		p = val + vlen;
		char k[16];
		if (klen >= sizeof(k))
			return fail(err, errlen, "unknown key '%.*s'", (int)klen, key);
		memcpy(k, key, klen);
		k[klen] = '\0';
		int rc = 0;
		if (!strcasecmp(k, "trtype")) {
			if (vlen == 8 && !strncasecmp(val, "vfiouser", 8))
				a->trtype = NVMF_TRTYPE_VFIO_USER;
			else if (vlen != 3 || strncasecmp(val, "tcp", 3))
				return fail(err, errlen, "unsupported trtype '%.*s' (tcp or vfiouser)", (int)vlen, val);
			have_trtype = true;
		} else if (!strcasecmp(k, "adrfam")) {
			if (vlen == 4 && !strncasecmp(val, "ipv4", 4))
				a->adrfam = NVMF_ADRFAM_IPV4;
			else if (vlen == 4 && !strncasecmp(val, "ipv6", 4))
				a->adrfam = NVMF_ADRFAM_IPV6;
			else
				return fail(err, errlen, "unsupported adrfam '%.*s'", (int)vlen, val);
			have_adrfam = true;
		} else if (!strcasecmp(k, "traddr")) {
			rc = copy_field(a->traddr, sizeof(a->traddr), val, vlen, "traddr", err, errlen);
		} else if (!strcasecmp(k, "trsvcid")) {
			rc = copy_field(a->trsvcid, sizeof(a->trsvcid), val, vlen, "trsvcid", err, errlen);
		} else if (!strcasecmp(k, "subnqn")) {
			if (vlen > NVME_NQN_MAX)
				return fail(err, errlen, "subnqn too long (%zu bytes, at most %d)", vlen, NVME_NQN_MAX);
			rc = copy_field(a->subnqn, sizeof(a->subnqn), val, vlen, "subnqn", err, errlen);
		} else if (!strcasecmp(k, "hostnqn") || !strcasecmp(k, "hostaddr") || !strcasecmp(k, "hostsvcid") ||
			   !strcasecmp(k, "priority") || !strcasecmp(k, "ns")) {
			/* accepted by SPDK, not needed here */
		} else {
			return fail(err, errlen, "unknown key '%s' in transport ID", k);
		}
		if (rc)
			return rc;
	}
	if (!have_trtype)
		return fail(err, errlen, "transport ID without trtype");
	if (a->traddr[0] == '\0')
		return fail(err, errlen, "transport ID without traddr");
	if (!have_adrfam)
		a->adrfam = guess_adrfam(a->traddr);
	return 0;
}

int nvmf_host_parse_address(const char *s, struct nvmf_host_addr *addr, char *err, size_t errlen)
{
	memset(addr, 0, sizeof(*addr));
	addr->trtype = NVMF_TRTYPE_TCP;
	int rc;
	if (!s || !*s)
		return fail(err, errlen, "empty address");
	if (!strncasecmp(s, "vfio-user:", 10)) {
		/* vfio-user:PATH: the device's socket; it serves one subsystem. */
		addr->trtype = NVMF_TRTYPE_VFIO_USER;
		return copy_field(addr->traddr, sizeof(addr->traddr), s + 10, strlen(s + 10), "path", err, errlen) ?:
		       (addr->traddr[0] ? 0 : fail(err, errlen, "vfio-user: without a socket path"));
	}
	if (!strncasecmp(s, "tcp://", 6))
		rc = parse_uri(s, addr, err, errlen);
	else if (strcasestr(s, "traddr"))
		rc = parse_trid(s, addr, err, errlen);
	else
		return fail(err, errlen, "unrecognised address '%s' (want tcp://HOST:PORT/NQN or 'trtype:tcp traddr:...')", s);
	if (rc)
		return rc;
	if (addr->trtype == NVMF_TRTYPE_VFIO_USER)
		return 0;
	if (addr->trsvcid[0] == '\0')
		strcpy(addr->trsvcid, DEFAULT_TRSVCID);
	return check_port(addr->trsvcid, err, errlen);
}

void nvmf_host_format_address(const struct nvmf_host_addr *a, char *buf, size_t len)
{
	bool v6 = a->adrfam == NVMF_ADRFAM_IPV6;
	if (a->trtype == NVMF_TRTYPE_VFIO_USER) {
		snprintf(buf, len, "vfio-user:%s", a->traddr);
		return;
	}
	snprintf(buf, len, "tcp://%s%s%s:%s/%s", v6 ? "[" : "", a->traddr, v6 ? "]" : "", a->trsvcid, a->subnqn);
}

void nvmf_host_format_uuid(const uint8_t id[16], char *buf, size_t len)
{
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2],
		 id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
}

int nvmf_host_parse_uuid(const char *s, uint8_t out[16])
{
	static const int dash_at[] = {8, 13, 18, 23};
	size_t n = 0;
	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36;) {
		bool dash = false;
		for (size_t d = 0; d < 4; d++)
			dash |= (int)i == dash_at[d];
		if (dash) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
			return -EINVAL;
		char hex[3] = {s[i], s[i + 1], 0};
		out[n++] = (uint8_t)strtoul(hex, NULL, 16);
		i += 2;
	}
	return 0;
}

void nvmf_host_nqn_from_hostid(const uint8_t hostid[16], char *nqn, size_t len)
{
	char u[40];
	nvmf_host_format_uuid(hostid, u, sizeof(u));
	snprintf(nqn, len, "nqn.2014-08.org.nvmexpress:uuid:%s", u);
}

/* First line of a small file, trimmed; false when absent or empty. */
static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return false;
	buf[strcspn(buf, "\r\n")] = '\0';
	size_t n = strlen(buf);
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return n > 0;
}

static void random_uuid(uint8_t id[16])
{
	if (getrandom(id, 16, 0) != 16) {
		for (int i = 0; i < 16; i++)
			id[i] = (uint8_t)rand();
	}
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void nvmf_host_opts_default(struct nvmf_host_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nr_io_queues = 1;
	o->admin_qsize = 32;
	o->io_qsize = 128;
	o->kato_ms = 5000;
	o->timeout_ms = 10000;

	char line[NVME_NQN_FIELD + 8];
	bool have_id = false, have_nqn = false;
	if (read_line("/etc/nvme/hostid", line, sizeof(line)) && nvmf_host_parse_uuid(line, o->hostid) == 0)
		have_id = true;
	if (read_line("/etc/nvme/hostnqn", line, sizeof(line)) && strlen(line) <= NVME_NQN_MAX) {
		strcpy(o->hostnqn, line);
		have_nqn = true;
	}
	if (!have_id) {
		/* As nvme-cli: take the UUID out of a uuid-style host NQN. */
		const char *u = have_nqn ? strstr(o->hostnqn, ":uuid:") : NULL;
		if (!u || nvmf_host_parse_uuid(u + 6, o->hostid) != 0)
			random_uuid(o->hostid);
	}
	if (!have_nqn)
		nvmf_host_nqn_from_hostid(o->hostid, o->hostnqn, sizeof(o->hostnqn));
}
