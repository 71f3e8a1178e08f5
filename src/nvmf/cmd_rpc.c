/*
 * nvmf rpc: call a method of nvmfd's JSON-RPC socket.
 *
 *   nvmf rpc METHOD [-s PATH] [--json] [--params JSON] [--NAME VALUE]...
 *
 * --NAME VALUE sets parameter NAME (dashes become underscores; "a.b" sets
 * member b of object a).  A VALUE that is JSON (a number, true, false, an
 * object, an array, a "quoted string") is sent as such; anything else as a string.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"

#define RPC_DEFAULT_SOCKET "/var/tmp/nvmfd.sock"

static const char usage_text[] =
	"usage: nvmf rpc METHOD [-s|--socket PATH] [--json] [--params JSON] [--NAME VALUE]...\n"
	"  Calls METHOD on nvmfd's JSON-RPC socket (default " RPC_DEFAULT_SOCKET ").\n"
	"  --NAME VALUE: a parameter; dashes become underscores, a.b sets member b of object a.\n"
	"  VALUE is sent as JSON when it is JSON (42, true, {...}, [...]), else as a string;\n"
	"  quote a string that looks like JSON: --serial-number '\"12345\"'.\n"
	"  nvmf rpc rpc_get_methods lists the methods.\n"
	"examples:\n"
	"  nvmf rpc bdev_malloc_create --num-blocks 2048 --block-size 512 --name Malloc0\n"
	"  nvmf rpc nvmf_create_subsystem --nqn nqn.2024-01.io.example:a --allow-any-host true\n"
	"  nvmf rpc nvmf_subsystem_add_ns --nqn nqn.2024-01.io.example:a --namespace.bdev-name Malloc0\n"
	"  nvmf rpc nvmf_subsystem_add_listener --nqn nqn.2024-01.io.example:a --listen-address.trtype tcp \\\n"
	"      --listen-address.traddr 127.0.0.1 --listen-address.trsvcid 4420\n";

static json_object *parse_value(const char *s)
{
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	size_t len = strlen(s);
	json_object *v = json_tokener_parse_ex(tok, s, -1); /* -1: the NUL ends a number */
	bool whole = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	/* Words, addresses ("127.0.0.1") and "null" are strings. */
	if (!whole || !v || json_object_is_type(v, json_type_double)) {
		json_object_put(v);
		return json_object_new_string(s);
	}
	return v;
}

/* params[path] = value, path "a.b-c" meaning params.a.b_c.  0, or -1 on a clash. */
static int set_param(json_object *params, const char *path, json_object *value)
{
	char key[256];
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);
	if (len == 0 || len >= sizeof(key)) {
		json_object_put(value);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		key[i] = path[i] == '-' ? '_' : path[i];
	key[len] = '\0';
	if (!dot) {
		json_object_object_add(params, key, value);
		return 0;
	}
	json_object *sub;
	if (!json_object_object_get_ex(params, key, &sub)) {
		sub = json_object_new_object();
		json_object_object_add(params, key, sub);
	} else if (!json_object_is_type(sub, json_type_object)) {
		json_object_put(value);
		return -1;
	}
	return set_param(sub, dot + 1, value);
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Send the request, read one JSON value back.  NULL with a message on stderr. */
static json_object *call(const char *path, json_object *req)
{
	int fd = connect_socket(path);
	if (fd < 0) {
		fprintf(stderr, "nvmf rpc: %s: %s (is nvmfd running with --rpc-socket %s?)\n", path, strerror(errno), path);
		return NULL;
	}
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "nvmf rpc: send: %s\n", strerror(errno));
			close(fd);
			return NULL;
		}
		off += (size_t)n;
	}
	json_tokener *tok = json_tokener_new();
	json_object *resp = NULL;
	char buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "nvmf rpc: the connection closed before a response\n");
			break;
		}
		resp = json_tokener_parse_ex(tok, buf, (int)n);
		enum json_tokener_error e = json_tokener_get_error(tok);
		if (resp || e != json_tokener_continue) {
			if (!resp)
				fprintf(stderr, "nvmf rpc: bad response: %s\n", json_tokener_error_desc(e));
			break;
		}
	}
	json_tokener_free(tok);
	close(fd);
	return resp;
}

/* ---- Human-readable output ---- */

static void print_scalar(json_object *v)
{
	if (!v)
		printf("null");
	else if (json_object_is_type(v, json_type_string))
		printf("%s", json_object_get_string(v));
	else
		printf("%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

static bool scalar_array(json_object *a)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (json_object_is_type(e, json_type_object) || json_object_is_type(e, json_type_array))
			return false;
	}
	return true;
}

static void print_value(json_object *v, const char *prefix, int indent);

static void print_object(json_object *o, const char *prefix, int indent)
{
	json_object_object_foreach(o, key, val) {
		char name[512];
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (val && json_object_is_type(val, json_type_object)) {
			print_object(val, name, indent);
		} else if (val && json_object_is_type(val, json_type_array) && !scalar_array(val)) {
			printf("%*s%s:\n", indent, "", name);
			print_value(val, "", indent + 2);
		} else {
			printf("%*s%s: ", indent, "", name);
			print_value(val, "", 0);
		}
	}
}

static void print_value(json_object *v, const char *prefix, int indent)
{
	if (v && json_object_is_type(v, json_type_object)) {
		print_object(v, prefix, indent);
	} else if (v && json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		if (scalar_array(v)) {
			for (size_t i = 0; i < n; i++) {
				if (i)
					printf(", ");
				print_scalar(json_object_array_get_idx(v, i));
			}
			printf("\n");
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (i)
				printf("\n");
			print_value(json_object_array_get_idx(v, i), prefix, indent);
		}
	} else {
		print_scalar(v);
		printf("\n");
	}
}

int cmd_rpc(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *method = argv[1];
	const char *path = RPC_DEFAULT_SOCKET;
	bool as_json = false;
	json_object *params = json_object_new_object();
	int status = 2;
	json_object *req = NULL, *resp = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (!strcmp(a, "--json")) {
			as_json = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			status = 0;
			goto out;
		} else if ((!strcmp(a, "-s") || !strcmp(a, "--socket")) && has_value) {
			path = argv[++i];
		} else if (!strcmp(a, "--params") && has_value) {
			json_object *p = json_tokener_parse(argv[++i]);
			if (!p || !json_object_is_type(p, json_type_object)) {
				fprintf(stderr, "nvmf rpc: --params wants a JSON object\n");
				json_object_put(p);
				goto out;
			}
			json_object_object_foreach(p, k, v) json_object_object_add(params, k, json_object_get(v));
			json_object_put(p);
		} else if (!strncmp(a, "--", 2) && a[2]) {
			const char *eq = strchr(a, '=');
			char name[256];
			const char *value;
			if (eq) {
				snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
				value = eq + 1;
			} else if (has_value) {
				snprintf(name, sizeof(name), "%s", a + 2);
				value = argv[++i];
			} else {
				fprintf(stderr, "nvmf rpc: %s wants a value\n", a);
				goto out;
			}
			if (set_param(params, name, parse_value(value)) < 0) {
				fprintf(stderr, "nvmf rpc: bad parameter name '%s'\n", name);
				goto out;
			}
		} else {
			fprintf(stderr, "nvmf rpc: unexpected '%s'\n%s", a, usage_text);
			goto out;
		}
	}
	req = json_object_new_object();
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "id", json_object_new_int(1));
	if (json_object_object_length(params))
		json_object_object_add(req, "params", json_object_get(params));
	resp = call(path, req);
	status = 1;
	if (!resp)
		goto out;
	json_object *result, *error;
	if (json_object_object_get_ex(resp, "error", &error)) {
		json_object *code = json_object_object_get(error, "code");
		json_object *msg = json_object_object_get(error, "message");
		json_object *data = json_object_object_get(error, "data");
		if (as_json)
			printf("%s\n", json_object_to_json_string_ext(error, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		fprintf(stderr, "nvmf rpc: %s: %s (%d)%s%s\n", method, msg ? json_object_get_string(msg) : "error",
			code ? json_object_get_int(code) : 0, data ? ": " : "", data ? json_object_get_string(data) : "");
		goto out;
	}
	if (!json_object_object_get_ex(resp, "result", &result)) {
		fprintf(stderr, "nvmf rpc: a response without result or error\n");
		goto out;
	}
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (json_object_is_type(result, json_type_boolean) && json_object_get_boolean(result))
		printf("ok\n");
	else
		print_value(result, "", 0);
	status = 0;
out:
	json_object_put(params);
	json_object_put(req);
	json_object_put(resp);
	return status;
}
