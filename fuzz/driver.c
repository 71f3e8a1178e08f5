/*
 * The main() every harness links.  Built with afl-cc it is an AFL++
 * persistent-mode loop over shared-memory test cases; built with the normal
 * compiler it replays files: each argument is a file, or a directory whose
 * files (except *.pending, README*, dot files) run in name order.  The replay
 * fails when an input aborts (ASan, UBSan, an invariant) or when no input was
 * found at all.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifdef __AFL_HAVE_MANUAL_CONTROL

__AFL_FUZZ_INIT();

int main(void)
{
	__AFL_INIT();
	const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(10000))
		fuzz_one(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
	return 0;
}

#else

static unsigned nrun;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf)
			abort();
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	fclose(f);
	/* A copy of exactly len bytes, so reading past the input is caught. */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	fuzz_one(exact, len);
	free(exact);
	nrun++;
	return 0;
}

static bool skipped(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || strncmp(name, "README", 6) == 0 || (n > 8 && strcmp(name + n - 8, ".pending") == 0);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	struct dirent **names;
	int n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0 && !skipped(names[i]->d_name)) {
			char child[4096];
			snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
			if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
				rc = run_file(child);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		/* A missing directory (no regressions yet) is fine; a broken file is not. */
		struct stat st;
		if (stat(argv[i], &st) < 0 && errno == ENOENT)
			continue;
		if (run_path(argv[i]) < 0)
			return 1;
	}
	printf("%u inputs replayed\n", nrun);
	return nrun ? 0 : 1;
}

#endif
