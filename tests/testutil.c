/*
 * testutil.c - the CUnit runner and helpers shared by every test program.
 */
#include "testutil.h"

#include "vitals/encode.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int vt_test_starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- check results ---------------------------------------------------- */

const vt_component *vt_test_run_one(vt_health *h, const char *name,
				    vt_health_snapshot **snap, double *ms)
{
	vt_health_filter f = {.name = name};
	double t0 = vt_test_now_ms();
	vt_err rv = vt_health_run(h, &f, VT_RUN_FRESH, snap);
	if (ms != NULL)
		*ms = vt_test_now_ms() - t0;
	CU_ASSERT_FATAL(rv == VT_OK);
	CU_ASSERT_FATAL((*snap)->ncomponents == 1);
	return &(*snap)->components[0];
}

const vt_component *vt_test_component(const vt_health_snapshot *s,
				      const char *name)
{
	for (size_t i = 0; i < s->ncomponents; i++)
		if (strcmp(s->components[i].name, name) == 0)
			return &s->components[i];
	return NULL;
}

const vt_detail *vt_test_detail(const vt_component *c, const char *key)
{
	for (size_t i = 0; i < c->ndetails; i++)
		if (strcmp(c->details[i].key, key) == 0)
			return &c->details[i];
	return NULL;
}

const char *vt_test_detail_str(const vt_component *c, const char *key)
{
	const vt_detail *d = vt_test_detail(c, key);
	return d != NULL && d->kind == VT_DETAIL_STR ? d->str : NULL;
}

void vt_test_assert_no_secret(const char *text, const char *const *secrets)
{
	for (size_t i = 0; secrets[i] != NULL; i++) {
		if (strstr(text, secrets[i]) != NULL)
			fprintf(stderr, "secret '%s' shown in: %s\n",
				secrets[i], text);
		CU_ASSERT_PTR_NULL(strstr(text, secrets[i]));
	}
}

void vt_test_assert_snapshot_no_secret(const vt_health_snapshot *s,
				       const char *const *secrets)
{
	char *json = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(vt_json_health(s, &json, &len), VT_OK);
	vt_test_assert_no_secret(json, secrets);
	free(json);
	for (size_t i = 0; i < s->ncomponents; i++)
		if (s->components[i].error != NULL)
			vt_test_assert_no_secret(s->components[i].error,
						 secrets);
}

int vt_test_process_dead(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	const char *rp = strrchr(buf, ')');
	return rp != NULL && (rp[2] == 'Z' || rp[2] == 'X');
}

/* ---- output capture --------------------------------------------------- */

void vt_test_capture_begin(vt_test_capture *cap)
{
	fflush(stdout);
	fflush(stderr);
	char path[] = "/tmp/vt-test-out-XXXXXX";
	cap->fd = mkstemp(path);
	CU_ASSERT_FATAL(cap->fd >= 0);
	unlink(path);
	cap->saved_out = dup(1);
	cap->saved_err = dup(2);
	dup2(cap->fd, 1);
	dup2(cap->fd, 2);
}

void vt_test_capture_end_silent(vt_test_capture *cap)
{
	fflush(stdout);
	fflush(stderr);
	dup2(cap->saved_out, 1);
	dup2(cap->saved_err, 2);
	close(cap->saved_out);
	close(cap->saved_err);
	char text[4096];
	ssize_t n = pread(cap->fd, text, sizeof(text) - 1, 0);
	close(cap->fd);
	if (n > 0) {
		text[n] = '\0';
		fprintf(stderr, "the check printed: %s\n", text);
	}
	CU_ASSERT_EQUAL(n, 0);
}

const vt_family_snap *vt_test_family(const vt_metrics_snapshot *s,
				     const char *name)
{
	for (size_t i = 0; i < s->nfamilies; i++)
		if (strcmp(s->families[i].name, name) == 0)
			return &s->families[i];
	return NULL;
}

void vt_test_gate_init(vt_test_gate *g)
{
	pthread_mutex_init(&g->mtx, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->open = false;
	atomic_init(&g->calls, 0);
	atomic_init(&g->returned, 0);
}

void vt_test_gate_open(vt_test_gate *g)
{
	pthread_mutex_lock(&g->mtx);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mtx);
}

void vt_test_gate_fini(vt_test_gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mtx);
}

void vt_test_gate_check(vt_check_result *r, void *arg)
{
	vt_test_gate *g = arg;
	atomic_fetch_add(&g->calls, 1);
	pthread_mutex_lock(&g->mtx);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mtx);
	pthread_mutex_unlock(&g->mtx);
	vt_result_detail_str(r, "late", "yes");
	atomic_fetch_add(&g->returned, 1);
}

int vt_test_gate_wait_returned(vt_test_gate *g, int n)
{
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&g->returned) < n && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	return atomic_load(&g->returned) >= n;
}
