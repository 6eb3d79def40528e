/*
 * names.c - Prometheus naming rules and label value checks.
 *
 *   metric name  [a-zA-Z_:][a-zA-Z0-9_:]*, 1..VT_MAX_NAME_LEN bytes
 *   label name   [a-zA-Z_][a-zA-Z0-9_]*, 1..VT_MAX_NAME_LEN bytes, not
 *                starting with "__" (reserved for Prometheus' own use)
 *   label value  any valid UTF-8 (no overlong forms, surrogates or code
 *                points past U+10FFFF), at most VT_MAX_LABEL_VALUE_LEN
 *                bytes
 *
 * "le" is refused on histogram families by the registry, which knows the
 * kind; these checks are kind-blind.
 */
#include "metrics/names.h"

#include <string.h>

#include "vitals/metrics.h"

static int is_alpha_(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

bool vt_metric_name_valid(const char *name)
{
	if (name == NULL)
		return 0;
	size_t n = strnlen(name, VT_MAX_NAME_LEN + 1);
	if (n == 0 || n > VT_MAX_NAME_LEN)
		return 0;
	if (!is_alpha_(name[0]) && name[0] != ':')
		return 0;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)name[i];
		if (!is_alpha_(c) && !is_digit(c) && c != ':')
			return 0;
	}
	return 1;
}

bool vt_label_name_valid(const char *name)
{
	if (name == NULL)
		return 0;
	size_t n = strnlen(name, VT_MAX_NAME_LEN + 1);
	if (n == 0 || n > VT_MAX_NAME_LEN)
		return 0;
	if (!is_alpha_(name[0]))
		return 0;
	if (name[0] == '_' && name[1] == '_')
		return 0;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)name[i];
		if (!is_alpha_(c) && !is_digit(c))
			return 0;
	}
	return 1;
}

int vt__label_value_valid(const char *v)
{
	if (v == NULL)
		return 0;
	size_t n = strnlen(v, VT_MAX_LABEL_VALUE_LEN + 1);
	if (n > VT_MAX_LABEL_VALUE_LEN)
		return 0;
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned cp, min;
		if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return 0; /* continuation byte or 0xf8..0xff */
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

uint64_t vt__hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t vt__hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}
