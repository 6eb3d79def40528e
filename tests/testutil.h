/*
 * testutil.h - what every CUnit test program shares: a runner, clocks,
 * small file helpers, reading a check's result, and capturing what a
 * check prints.
 */
#ifndef VITALS_TESTUTIL_H
#define VITALS_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "vitals/health.h"
#include "vitals/metrics.h"

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

/* Whether s (may be NULL) starts with prefix. */
int vt_test_starts_with(const char *s, const char *prefix);

/* ---- check results ---------------------------------------------------- */

/* Runs check name on h fresh, asserting (fatally) that it ran and is one
 * component; returns it (inside *snap, which the caller frees) and, when
 * ms is not NULL, how long the run took. */
const vt_component *vt_test_run_one(vt_health *h, const char *name,
				    vt_health_snapshot **snap, double *ms);

/* The component named name in s; NULL when s has none. */
const vt_component *vt_test_component(const vt_health_snapshot *s,
				      const char *name);

/* c's detail named key; NULL when it has none. */
const vt_detail *vt_test_detail(const vt_component *c, const char *key);

/* The string value of c's detail key; NULL when missing or no string. */
const char *vt_test_detail_str(const vt_component *c, const char *key);

/* Asserts that no string of secrets (NULL-terminated) occurs in text,
 * naming any that does. */
void vt_test_assert_no_secret(const char *text, const char *const *secrets);

/* Asserts that the JSON of snapshot s, and every component's error,
 * holds no string of secrets (NULL-terminated). */
void vt_test_assert_snapshot_no_secret(const vt_health_snapshot *s,
				       const char *const *secrets);

/* Whether process pid is gone, or dead and waiting to be reaped. */
int vt_test_process_dead(long pid);

/* ---- a check that blocks -------------------------------------------- */

/* vt_test_gate_check, registered with &gate as its argument, counts its
 * call, blocks until the test opens the gate, adds detail late=yes and
 * counts its return: a hung dependency the test can release. */
typedef struct vt_test_gate {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool open;
	atomic_int calls;
	atomic_int returned;
} vt_test_gate;

void vt_test_gate_init(vt_test_gate *g);
void vt_test_gate_open(vt_test_gate *g);
void vt_test_gate_fini(vt_test_gate *g);
void vt_test_gate_check(vt_check_result *r, void *arg);

/* Waits (up to 5 s) until n callbacks returned; 1 if they did. */
int vt_test_gate_wait_returned(vt_test_gate *g, int n);

/* ---- metrics snapshots ---------------------------------------------- */

/* The family named name in s; NULL when s has none. */
const vt_family_snap *vt_test_family(const vt_metrics_snapshot *s,
				     const char *name);

/* ---- output capture --------------------------------------------------- */

/* What this process writes to stdout and stderr between begin and end
 * goes to an unlinked temporary file instead. */
typedef struct vt_test_capture {
	int saved_out, saved_err;
	int fd; /* the output */
} vt_test_capture;

void vt_test_capture_begin(vt_test_capture *cap);

/* Restores stdout and stderr and asserts that nothing was written,
 * showing what was. */
void vt_test_capture_end_silent(vt_test_capture *cap);

#endif
