/* CHECK_EQ for the unit tests: a mismatch is counted in `failures` and printed with its place. */
#ifndef NVMF_TESTS_UNIT_CHECK_EQ_H
#define NVMF_TESTS_UNIT_CHECK_EQ_H

#include <stdio.h>

static int failures;

#define CHECK_EQ(a, b)                                                                                     \
	do {                                                                                               \
		unsigned long long a_ = (a), b_ = (b);                                                     \
		if (a_ != b_) {                                                                            \
			failures++;                                                                        \
			fprintf(stderr, "FAIL %s:%d: %s = %llu (0x%llx), want %llu (0x%llx)\n", __FILE__, __LINE__, \
				#a, a_, a_, b_, b_);                                                       \
		}                                                                                          \
	} while (0)

#endif
