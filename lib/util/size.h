/* Sizes as people write them: "SIZE[K|M|G|T]", powers of 1024. */
#ifndef NVMF_UTIL_SIZE_H
#define NVMF_UTIL_SIZE_H

#include <stdint.h>

/* Parse s into *out bytes: 0, -EINVAL (not a size) or -ERANGE (over 64 bits). Zero is allowed. */
int nvmf_parse_size(const char *s, uint64_t *out);

#endif
