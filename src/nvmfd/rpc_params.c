/* Method parameters: decoded against a table, the way SPDK's strict object decoder does. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rpc.h"

json_object *rpc_fail(struct rpc_error *err, int code, const char *message, const char *fmt, ...)
{
	err->code = code;
	snprintf(err->message, sizeof(err->message), "%s", message);
	err->data[0] = '\0';
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->data, sizeof(err->data), fmt, ap);
		va_end(ap);
	}
	return NULL;
}

static bool type_ok(json_object *v, enum rpc_ptype t)
{
	switch (t) {
	case RPC_STRING: return json_object_is_type(v, json_type_string);
	case RPC_INT: return json_object_is_type(v, json_type_int);
	case RPC_BOOL: return json_object_is_type(v, json_type_boolean);
	case RPC_OBJECT: return json_object_is_type(v, json_type_object);
	case RPC_ARRAY: return json_object_is_type(v, json_type_array);
	}
	return false;
}

static const char *type_name(enum rpc_ptype t)
{
	static const char *names[] = {"a string", "an integer", "a boolean", "an object", "an array"};
	return names[t];
}

static bool at_default(json_object *v, const struct rpc_param *p)
{
	switch (p->type) {
	case RPC_BOOL: return !json_object_get_boolean(v);
	case RPC_INT: return json_object_get_int64(v) == p->def;
	case RPC_STRING: return p->def_str && strcmp(json_object_get_string(v), p->def_str) == 0;
	default: return false;
	}
}

int rpc_decode(json_object *obj, const struct rpc_param *spec, unsigned n, json_object **out, struct rpc_error *err)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = NULL;
	if (obj && !json_object_is_type(obj, json_type_object)) {
		rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "parameters must be an object");
		return -1;
	}
	if (obj) {
		json_object_object_foreach(obj, key, val) {
			unsigned i = 0;
			while (i < n && strcmp(spec[i].name, key) != 0)
				i++;
			if (i == n) {
				rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "unknown parameter '%s'", key);
				return -1;
			}
			/* rpc.py drops None values, but a hand-written null means "absent". */
			if (json_object_is_type(val, json_type_null))
				continue;
			bool number_ok = (spec[i].flags & RPC_NUMBER_OK) && json_object_is_type(val, json_type_int);
			if (!type_ok(val, spec[i].type) && !number_ok) {
				rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "'%s' must be %s", key,
					 type_name(spec[i].type));
				return -1;
			}
			if ((spec[i].flags & RPC_DEFAULT_ONLY) && !at_default(val, &spec[i])) {
				char uses[48] = "";
				if (spec[i].type == RPC_INT)
					snprintf(uses, sizeof(uses), " (it uses %lld)", (long long)spec[i].def);
				rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters",
					 "'%s' = %s is not supported by nvmfd%s", key,
					 json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN), uses);
				return -1;
			}
			out[i] = val;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if ((spec[i].flags & RPC_REQUIRED) && !out[i]) {
			rpc_fail(err, RPC_INVALID_PARAMS, "Invalid parameters", "missing parameter '%s'", spec[i].name);
			return -1;
		}
	}
	return 0;
}

const char *rpc_str(json_object *v, const char *dflt)
{
	return v ? json_object_get_string(v) : dflt;
}

int64_t rpc_int(json_object *v, int64_t dflt)
{
	return v ? json_object_get_int64(v) : dflt;
}

bool rpc_bool(json_object *v, bool dflt)
{
	return v ? json_object_get_boolean(v) : dflt;
}

void rpc_format_uuid(const uint8_t id[16], char out[37])
{
	static const int dash[16] = {[4] = 1, [6] = 1, [8] = 1, [10] = 1};
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (dash[i])
			*p++ = '-';
		p += sprintf(p, "%02x", id[i]);
	}
}

void rpc_format_hex(const uint8_t *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", bytes[i]);
	out[2 * n] = '\0';
}

bool rpc_parse_uuid(const char *s, uint8_t out[16])
{
	/* 8-4-4-4-12 hex digits exactly. */
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash != (s[i] == '-'))
			return false;
	}
	return rpc_parse_hex(s, out, 16);
}

bool rpc_parse_hex(const char *s, uint8_t *out, size_t n)
{
	size_t k = 0;
	for (; *s; s++) {
		if (*s == '-')
			continue;
		char c = *s;
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0 || k >= 2 * n)
			return false;
		if (k % 2 == 0)
			out[k / 2] = (uint8_t)(v << 4);
		else
			out[k / 2] |= (uint8_t)v;
		k++;
	}
	return k == 2 * n;
}
