/*
 * names.h - validation of metric names, label names and label values,
 * and the string hash the registry's lookup tables use.
 */
#ifndef VT_METRICS_NAMES_H
#define VT_METRICS_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* 1 when v is valid UTF-8 of at most VT_MAX_LABEL_VALUE_LEN bytes. */
int vt__label_value_valid(const char *v);

/* Starting value of a hash chain. */
#define VT__HASH_SEED UINT64_C(0xcbf29ce484222325)

/* Extends hash h over n bytes at p (FNV-1a). */
uint64_t vt__hash_bytes(uint64_t h, const void *p, size_t n);

/* Final mix of a hash chain, so the low bits index a table well. */
uint64_t vt__hash_final(uint64_t h);

#endif
