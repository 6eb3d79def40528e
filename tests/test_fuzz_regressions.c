/*
 * test_fuzz_regressions.c - replays every input under
 * tests/fuzz/regressions/<target>/ (each one crashed or broke an
 * invariant once) and the seed corpora tests/fuzz/corpus/<target>/
 * through the fuzz targets' own entry functions, compiled here without
 * libFuzzer, so that they run in every build (plain, ASan, TSan). An
 * input that fails aborts with the file named and the invariant that
 * broke.
 *
 * The targets are included as source, each with its LLVMFuzzerTestOneInput
 * left out (VT_FUZZ_NO_ENTRY). vitalsd's config loader is not part of
 * libvitals: it is compiled in here too (src/daemon/config.c), so this
 * program needs nothing but what tests/CMakeLists.txt gives every unit
 * test; were vitalsd_config linked as well, its copy would simply not be
 * pulled from the archive.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* What the harnesses print before a broken invariant. */
static char fz_replaying[1100];
#define VT_FUZZ_CONTEXT fz_replaying
#define VT_FUZZ_NO_ENTRY

#include "daemon/config.c"
#include "fuzz/fuzz_config.c"
#include "fuzz/fuzz_gateway.c"
#include "fuzz/fuzz_names.c"
#include "fuzz/fuzz_rpc.c"
#include "fuzz/fuzz_url.c"

#define FUZZ_DIR VT_TEST_GOLDEN_DIR "/../fuzz"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn on every file of FUZZ_DIR/sub/target, in name order; returns
 * how many there were (0 when the directory does not exist). */
static size_t replay_dir(const char *sub, const char *target,
			 int (*fn)(const uint8_t *, size_t))
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s/%s", FUZZ_DIR, sub, target);
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char **grown = realloc(names, (n + 1) * sizeof(*names));
		CU_ASSERT_PTR_NOT_NULL_FATAL(grown);
		names = grown;
		names[n] = strdup(e->d_name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(names[n]);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		size_t len = 0;
		char *data = vt_test_read_file(path, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(data);
		snprintf(fz_replaying, sizeof(fz_replaying),
			 "replaying %s: ", path);
		CU_ASSERT_EQUAL(fn((const uint8_t *)data, len), 0);
		free(data);
		free(names[i]);
	}
	free(names);
	return n;
}

/* The regressions of target, then its corpus (which must not be
 * empty). */
static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
	size_t r = replay_dir("regressions", target, fn);
	size_t c = replay_dir("corpus", target, fn);
	printf("\n    %s: %zu regression inputs, %zu corpus inputs ", target, r,
	       c);
	CU_ASSERT(c > 0);
}

static void test_rpc(void)
{
	replay("fuzz_rpc", vt_fuzz_rpc);
}

static void test_gateway(void)
{
	replay("fuzz_gateway", vt_fuzz_gateway);
}

static void test_config(void)
{
	replay("fuzz_config", vt_fuzz_config);
}

static void test_names(void)
{
	replay("fuzz_names", vt_fuzz_names);
}

static void test_url(void)
{
	replay("fuzz_url", vt_fuzz_url);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"fuzz_rpc: RPC requests", test_rpc},
	    {"fuzz_gateway: HTTP requests", test_gateway},
	    {"fuzz_config: config files", test_config},
	    {"fuzz_names: metric names, labels, encoders", test_names},
	    {"fuzz_url: URL parsing and redaction", test_url},
	    {NULL, NULL},
	};
	return vt_test_main("fuzz_regressions", tests);
}
