/*
 * testutil.h - what every CUnit test program shares: a runner, clocks
 * and small file helpers.
 */
#ifndef VITALS_TESTUTIL_H
#define VITALS_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

typedef struct vt_test {
	const char *name;
	void (*fn)(void);
} vt_test;

/* Runs tests[] (terminated by {NULL, NULL}) as one suite; returns the
 * process exit code (0 = all passed). */
int vt_test_main(const char *suite, const vt_test *tests);

/* Monotonic milliseconds. */
double vt_test_now_ms(void);
void vt_test_sleep_ms(int ms);

/* Reads a whole file into a malloc'd NUL-terminated string; NULL on error. */
char *vt_test_read_file(const char *path, size_t *len);

/* Compares text with the golden file VT_TEST_GOLDEN_DIR/name. When the
 * environment has VT_UPDATE_GOLDEN=1 the file is rewritten instead.
 * Prints a diff hint on mismatch. Returns 1 when equal. */
int vt_test_golden(const char *name, const char *text, size_t len);

#endif
