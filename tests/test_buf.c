/*
 * test_buf.c - the capped growable buffer (src/core/buf.c) every encoder
 * writes into: appends keep every byte in order and NUL-terminated
 * across growth; the cap holds to the byte; a failure leaves the
 * contents as they were and is sticky until taken; take hands over
 * exactly what was written and leaves an empty buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "testutil.h"

static void test_append_and_take(void)
{
	vt_buf b;
	vt__buf_init(&b, 1 << 20);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(vt__buf_append(&b, "ab", 2), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "cd"), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_append(&b, "", 0), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_printf(&b, "-%d-%s", 42, "x"), VT_OK);
	CU_ASSERT_EQUAL(b.len, 9);
	CU_ASSERT_STRING_EQUAL(b.data, "abcd-42-x");

	/* Bytes, NULs included, are kept as given. */
	CU_ASSERT_EQUAL(vt__buf_append(&b, "\0z", 2), VT_OK);
	char *out = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(vt__buf_take(&b, &out, &len), VT_OK);
	CU_ASSERT_EQUAL(len, 11);
	CU_ASSERT_EQUAL(memcmp(out, "abcd-42-x\0z", 12), 0);
	free(out);

	/* Taken: the buffer is empty and usable again. */
	CU_ASSERT_PTR_NULL(b.data);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "again"), VT_OK);
	CU_ASSERT_EQUAL_FATAL(vt__buf_take(&b, &out, NULL), VT_OK);
	CU_ASSERT_STRING_EQUAL(out, "again");
	free(out);
	vt__buf_fini(&b);
}

/* Nothing written: take gives "" (a string the caller frees). */
static void test_take_empty(void)
{
	vt_buf b;
	vt__buf_init(&b, 0);
	char *out = NULL;
	size_t len = 99;
	CU_ASSERT_EQUAL_FATAL(vt__buf_take(&b, &out, &len), VT_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	free(out);
	vt__buf_fini(&b);
	vt__buf_fini(&b); /* twice is harmless */
}

/* Growth far past the first allocation keeps every byte in order. */
static void test_growth(void)
{
	vt_buf b;
	vt__buf_init(&b, 1 << 24);
	for (int i = 0; i < 100000; i++)
		CU_ASSERT_EQUAL_FATAL(vt__buf_printf(&b, "%05d,", i % 100000),
				      VT_OK);
	CU_ASSERT_EQUAL_FATAL(b.len, 600000);
	CU_ASSERT_EQUAL(b.data[b.len], '\0');
	for (int i = 0; i < 100000; i += 9973) {
		char want[8];
		snprintf(want, sizeof(want), "%05d,", i);
		CU_ASSERT_EQUAL(memcmp(b.data + (size_t)i * 6, want, 6), 0);
	}
	/* printf output longer than its stack buffer. */
	char big[1000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(vt__buf_printf(&b, "<%s>", big), VT_OK);
	CU_ASSERT_EQUAL(b.len, 600000 + 1001);
	CU_ASSERT_EQUAL(b.data[600000], '<');
	CU_ASSERT_EQUAL(b.data[600000 + 999], 'q');
	CU_ASSERT_STRING_EQUAL(b.data + 600000 + 1000, ">");
	vt__buf_fini(&b);
}

/* The cap: exactly limit bytes fit; one more fails with VT_ETOOBIG,
 * the contents untouched, and every later call fails the same way. */
static void test_cap_is_sticky(void)
{
	vt_buf b;
	vt__buf_init(&b, 10);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "0123456789"), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_append(&b, "", 0), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "x"), VT_ETOOBIG);
	CU_ASSERT_EQUAL(b.len, 10);
	CU_ASSERT_STRING_EQUAL(b.data, "0123456789");
	/* Sticky: even what would fit is refused now. */
	CU_ASSERT_EQUAL(vt__buf_append(&b, "", 0), VT_ETOOBIG);
	CU_ASSERT_EQUAL(vt__buf_printf(&b, "%d", 1), VT_ETOOBIG);
	char *out = (char *)"untouched";
	size_t len = 7;
	CU_ASSERT_EQUAL(vt__buf_take(&b, &out, &len), VT_ETOOBIG);
	CU_ASSERT_STRING_EQUAL(out, "untouched");
	CU_ASSERT_EQUAL(len, 7);
	/* take reset it: usable again, with the same cap. */
	CU_ASSERT_EQUAL(b.err, VT_OK);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "0123456789a"), VT_ETOOBIG);
	CU_ASSERT_EQUAL(b.len, 0);
	vt__buf_fini(&b);

	/* A printf past the cap, and a length that would overflow. */
	vt__buf_init(&b, 300);
	char big[400];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "head"), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_printf(&b, "%s", big), VT_ETOOBIG);
	CU_ASSERT_STRING_EQUAL(b.data, "head");
	vt__buf_fini(&b);
	vt__buf_init(&b, 100);
	CU_ASSERT_EQUAL(vt__buf_puts(&b, "ab"), VT_OK);
	CU_ASSERT_EQUAL(vt__buf_append(&b, "x", SIZE_MAX), VT_ETOOBIG);
	CU_ASSERT_STRING_EQUAL(b.data, "ab");
	vt__buf_fini(&b);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"append and take", test_append_and_take},
	    {"take empty", test_take_empty},
	    {"growth", test_growth},
	    {"cap is sticky", test_cap_is_sticky},
	    {NULL, NULL},
	};
	return vt_test_main("buf", tests);
}
