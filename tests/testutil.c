/*
 * testutil.c - the CUnit runner and helpers shared by every test program.
 */
#include "testutil.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vt_test_main(const char *suite, const vt_test *tests)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite(suite, NULL, NULL);
	if (s == NULL)
		goto fail;
	for (const vt_test *t = tests; t->name != NULL; t++)
		if (CU_add_test(s, t->name, t->fn) == NULL)
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed =
	    CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
fail:
	CU_cleanup_registry();
	return 2;
}

double vt_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void vt_test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

char *vt_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		n += fread(buf + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		char *bigger = realloc(buf, cap * 2);
		if (bigger == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(f);
	if (buf == NULL)
		return NULL;
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int vt_test_golden(const char *name, const char *text, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", VT_TEST_GOLDEN_DIR, name);
	const char *update = getenv("VT_UPDATE_GOLDEN");
	if (update != NULL && strcmp(update, "1") == 0) {
		FILE *f = fopen(path, "wb");
		if (f == NULL)
			return 0;
		int ok = fwrite(text, 1, len, f) == len;
		return fclose(f) == 0 && ok;
	}
	size_t glen = 0;
	char *golden = vt_test_read_file(path, &glen);
	if (golden == NULL) {
		fprintf(stderr, "golden %s: cannot read\n", path);
		return 0;
	}
	int same = glen == len && memcmp(golden, text, len) == 0;
	if (!same) {
		size_t i = 0;
		while (i < len && i < glen && golden[i] == text[i])
			i++;
		fprintf(stderr,
			"golden %s differs at byte %zu\n--- expected\n%s\n"
			"--- got\n%.*s\n",
			path, i, golden, (int)len, text);
	}
	free(golden);
	return same;
}
