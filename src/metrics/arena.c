/*
 * arena.c - bump allocation in zeroed blocks (see arena.h). A request
 * larger than half the next block gets a block of its own, so the slack
 * at the end of a block stays small.
 */
#include "metrics/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vt__ablock {
	vt__ablock *next;
	size_t size;
	char data[];
};

static char *align_up(char *p, size_t align)
{
	uintptr_t u = (uintptr_t)p;
	return (char *)((u + align - 1) & ~(uintptr_t)(align - 1));
}

void vt__arena_init(vt__arena *a, size_t first, size_t max)
{
	memset(a, 0, sizeof *a);
	a->next_size = first;
	a->max_size = max < first ? first : max;
}

void *vt__arena_alloc(vt__arena *a, size_t size, size_t align)
{
	char *p = a->cur != NULL ? align_up(a->cur, align) : NULL;
	if (p != NULL && p <= a->end && size <= (size_t)(a->end - p)) {
		a->used += (size_t)(p - a->cur) + size;
		a->cur = p + size;
		return p;
	}
	/* A new block: room for size at any alignment up to 64. */
	int own = size > a->next_size / 2; /* big request: a block of its own */
	size_t bsize = (own ? size : a->next_size) + 64;
	vt__ablock *b = calloc(1, sizeof *b + bsize);
	if (b == NULL)
		return NULL;
	b->size = bsize;
	p = align_up(b->data, align);
	a->used += size;
	if (own && a->blocks != NULL) {
		/* Keep the current block's free space for later requests. */
		b->next = a->blocks->next;
		a->blocks->next = b;
		return p;
	}
	b->next = a->blocks;
	a->blocks = b;
	a->cur = p + size;
	a->end = b->data + bsize;
	if (!own && a->next_size < a->max_size)
		a->next_size *= 2;
	return p;
}

char *vt__arena_strdup(vt__arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = vt__arena_alloc(a, n, 1);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void vt__arena_fini(vt__arena *a)
{
	vt__ablock *b = a->blocks;
	while (b != NULL) {
		vt__ablock *next = b->next;
		free(b);
		b = next;
	}
	a->blocks = NULL;
	a->cur = a->end = NULL;
}
