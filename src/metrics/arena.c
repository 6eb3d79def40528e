/*
 * arena.c - bump allocation in blocks (see arena.h). A request larger
 * than half the next block gets a block of its own, so the slack at the
 * end of a block stays small. Fresh blocks come zeroed from calloc;
 * blocks kept by a reset are zeroed piece by piece as they are handed
 * out again, which touches only memory the caller is about to write.
 */
#include "metrics/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vt__ablock {
	vt__ablock *next;
	size_t size; /* of data */
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
	a->first_size = first;
	a->next_size = first;
	a->max_size = max < first ? first : max;
}

/* A kept block of at least size bytes, unlinked from a->spare; NULL when
 * none is large enough. */
static vt__ablock *spare_take(vt__arena *a, size_t size)
{
	for (vt__ablock **pp = &a->spare; *pp != NULL; pp = &(*pp)->next) {
		vt__ablock *b = *pp;
		if (b->size >= size) {
			*pp = b->next;
			return b;
		}
	}
	return NULL;
}

void *vt__arena_alloc(vt__arena *a, size_t size, size_t align)
{
	char *p = a->cur != NULL ? align_up(a->cur, align) : NULL;
	if (p != NULL && p <= a->end && size <= (size_t)(a->end - p)) {
		a->used += (size_t)(p - a->cur) + size;
		a->cur = p + size;
		if (a->dirty)
			memset(p, 0, size);
		return p;
	}
	/* A new block: room for size at any alignment up to 64. */
	int own = size > a->next_size / 2; /* big request: a block of its own */
	size_t bsize = (own ? size : a->next_size) + 64;
	int dirty = 1;
	vt__ablock *b = spare_take(a, bsize);
	if (b == NULL) {
		if ((b = calloc(1, sizeof *b + bsize)) == NULL)
			return NULL;
		b->size = bsize;
		dirty = 0;
	}
	p = align_up(b->data, align);
	if (dirty)
		memset(p, 0, size);
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
	a->end = b->data + b->size;
	a->dirty = dirty;
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

static void blocks_free(vt__ablock *b)
{
	while (b != NULL) {
		vt__ablock *next = b->next;
		free(b);
		b = next;
	}
}

void vt__arena_reset(vt__arena *a)
{
	blocks_free(a->spare);
	/* Oldest first, so the next round meets its blocks in the order
	 * and sizes this one asked for them. */
	vt__ablock *spare = NULL;
	for (vt__ablock *b = a->blocks, *next; b != NULL; b = next) {
		next = b->next;
		b->next = spare;
		spare = b;
	}
	a->spare = spare;
	a->blocks = NULL;
	a->cur = a->end = NULL;
	a->dirty = 0;
	a->next_size = a->first_size;
	a->used = 0;
}

void vt__arena_fini(vt__arena *a)
{
	blocks_free(a->blocks);
	blocks_free(a->spare);
	a->blocks = a->spare = NULL;
	a->cur = a->end = NULL;
}
