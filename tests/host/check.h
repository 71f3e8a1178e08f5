/* Tests: a TAP-like check that counts failures and goes on. */
#ifndef NVMF_TEST_CHECK_H
#define NVMF_TEST_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                                                             \
	do {                                                                                                         \
		if (cond) {                                                                                          \
			printf("ok - ");                                                                             \
		} else {                                                                                             \
			printf("FAIL (%s:%d) - ", __FILE__, __LINE__);                                               \
			failures++;                                                                                  \
		}                                                                                                    \
		printf(__VA_ARGS__);                                                                                 \
		printf("\n");                                                                                        \
	} while (0)

#endif
