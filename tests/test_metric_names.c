/*
 * test_metric_names.c - what the registry refuses: bad metric and label
 * names, bad label values, names reused with another kind or other
 * labels, Prometheus exposition clashes, bad le bounds and bad values.
 * Each refusal is an error return and leaves nothing registered or
 * recorded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vitals/metrics.h"

static void test_name_rules(void)
{
	static const char *good[] = {
	    "a", "_", ":", "a:b", "http_requests_total", "A9_:z", "__name"};
	static const char *bad[] = {"",	   "9a", "a-b", "a b", "a.b", "é",
				    "a\n", "-",	 "a{",	"a\"", "a/b"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CU_ASSERT(vt_metric_name_valid(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT(!vt_metric_name_valid(bad[i]));
	CU_ASSERT(!vt_metric_name_valid(NULL));

	static const char *lgood[] = {"a", "_a", "method", "A9_z", "le"};
	static const char *lbad[] = {"",   "9",	  "a:b", "__reserved",
				     "__", "a-b", "é",	 "a b"};
	for (size_t i = 0; i < sizeof lgood / sizeof lgood[0]; i++)
		CU_ASSERT(vt_label_name_valid(lgood[i]));
	for (size_t i = 0; i < sizeof lbad / sizeof lbad[0]; i++)
		CU_ASSERT(!vt_label_name_valid(lbad[i]));
	CU_ASSERT(!vt_label_name_valid(NULL));

	char name[VT_MAX_NAME_LEN + 2];
	memset(name, 'a', sizeof name);
	name[VT_MAX_NAME_LEN] = '\0';
	CU_ASSERT(vt_metric_name_valid(name));
	CU_ASSERT(vt_label_name_valid(name));
	name[VT_MAX_NAME_LEN] = 'a';
	name[VT_MAX_NAME_LEN + 1] = '\0';
	CU_ASSERT(!vt_metric_name_valid(name));
	CU_ASSERT(!vt_label_name_valid(name));
}

/* Takes a snapshot and checks it has exactly nfam families and nothing
 * recorded in any of them. */
static void check_nothing_recorded(vt_metrics *m, size_t nfam)
{
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT(s->nfamilies == nfam);
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		for (size_t j = 0; j < f->nseries; j++) {
			CU_ASSERT(f->series[j].value == 0);
			CU_ASSERT(f->series[j].hist.count == 0);
		}
	}
	vt_metrics_snapshot_free(s);
}

static void test_bad_registrations(void)
{
	vt_metrics *m;
	vt_family *f;
	vt_counter *c;
	vt_gauge *g;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);

	char longname[VT_MAX_NAME_LEN + 2];
	memset(longname, 'x', sizeof longname);
	longname[VT_MAX_NAME_LEN + 1] = '\0';
	const char *badnames[] = {"",		"1abc",	  "a-b",
				  "with space", longname, NULL};
	for (size_t i = 0; i < sizeof badnames / sizeof badnames[0]; i++) {
		CU_ASSERT(vt_metrics_counter(m, badnames[i], NULL, &c) ==
			  VT_EINVAL);
		CU_ASSERT(vt_metrics_gauge(m, badnames[i], NULL, &g) ==
			  VT_EINVAL);
		CU_ASSERT(vt_metrics_histogram(m, badnames[i], NULL, &h) ==
			  VT_EINVAL);
		CU_ASSERT(vt_metrics_increment(m, badnames[i]) == VT_EINVAL);
		CU_ASSERT(vt_metrics_set_gauge(m, badnames[i], 1) == VT_EINVAL);
		CU_ASSERT(vt_metrics_observe(m, badnames[i], 1) == VT_EINVAL);
	}

	const char *reserved[] = {"__reserved"};
	const char *digit[] = {"1x"};
	const char *dash[] = {"a-b"};
	const char *empty[] = {""};
	const char *le[] = {"le"};
	const char *dup[] = {"a", "a"};
	const char *nul[] = {NULL};
	const char *const *badlabels[] = {reserved, digit, dash, empty, nul};
	for (size_t i = 0; i < sizeof badlabels / sizeof badlabels[0]; i++) {
		CU_ASSERT(vt_metrics_counter_family(m, "c_total", NULL,
						    badlabels[i], 1,
						    &f) == VT_EINVAL);
		CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL,
						      badlabels[i], 1, NULL, 0,
						      &f) == VT_EINVAL);
	}
	CU_ASSERT(vt_metrics_counter_family(m, "c_total", NULL, dup, 2, &f) ==
		  VT_EINVAL);
	CU_ASSERT(vt_metrics_counter_family(m, "c_total", NULL, NULL, 1, &f) ==
		  VT_EINVAL);
	/* "le" is Prometheus' own label on histograms only. */
	CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, le, 1, NULL, 0,
					      &f) == VT_EINVAL);
	vt_label lel = {"le", "1"};
	CU_ASSERT(vt_metrics_histogram_observe(m, "h", 1, &lel, 1) ==
		  VT_EINVAL);
	const char *many[VT_MAX_LABELS + 1];
	char names[VT_MAX_LABELS + 1][16];
	for (int i = 0; i <= VT_MAX_LABELS; i++) {
		snprintf(names[i], sizeof names[i], "l%d", i);
		many[i] = names[i];
	}
	CU_ASSERT(vt_metrics_counter_family(m, "c_total", NULL, many,
					    VT_MAX_LABELS + 1,
					    &f) == VT_EINVAL);
	CU_ASSERT(vt_metrics_counter(NULL, "x", NULL, &c) == VT_EINVAL);
	CU_ASSERT(vt_metrics_counter(m, "x", NULL, NULL) == VT_EINVAL);
	check_nothing_recorded(m, 0);

	/* Accepted: "le" on a counter, the most labels, the longest name. */
	CU_ASSERT(vt_metrics_counter_family(m, "c_total", NULL, le, 1, &f) ==
		  VT_OK);
	CU_ASSERT(vt_metrics_gauge_family(m, "g", NULL, many, VT_MAX_LABELS,
					  &f) == VT_OK);
	longname[VT_MAX_NAME_LEN] = '\0';
	CU_ASSERT(vt_metrics_gauge(m, longname, NULL, &g) == VT_OK);
	check_nothing_recorded(m, 3);
	vt_metrics_free(m);
}

static void test_bad_bounds(void)
{
	vt_metrics *m;
	vt_family *f;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const double dec[] = {1, 0.5};
	const double eq[] = {1, 1};
	const double nan[] = {0.1, NAN};
	const double inf[] = {0.1, INFINITY};
	const double *bad[] = {dec, eq, nan, inf};
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, NULL, 0,
						      bad[i], 2,
						      &f) == VT_EINVAL);
	double toomany[VT_MAX_LE_BOUNDS + 1];
	for (int i = 0; i <= VT_MAX_LE_BOUNDS; i++)
		toomany[i] = i;
	CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, NULL, 0, toomany,
					      VT_MAX_LE_BOUNDS + 1,
					      &f) == VT_EINVAL);
	CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, NULL, 0, toomany,
					      VT_MAX_LE_BOUNDS, &f) == VT_OK);
	/* Same name, other bounds: refused; same bounds: the same family. */
	vt_family *f2;
	CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, NULL, 0, dec + 1, 1,
					      &f2) == VT_EEXIST);
	CU_ASSERT(vt_metrics_histogram_family(m, "h", NULL, NULL, 0, toomany,
					      VT_MAX_LE_BOUNDS, &f2) == VT_OK);
	CU_ASSERT(f2 == f);
	check_nothing_recorded(m, 1);
	vt_metrics_free(m);
}

static void test_label_values(void)
{
	vt_metrics *m;
	vt_family *f;
	vt_counter *c;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	const char *ln[] = {"v"};
	CU_ASSERT_FATAL(
	    vt_metrics_counter_family(m, "c_total", NULL, ln, 1, &f) == VT_OK);
	static const char *badv[] = {
	    "\xff",		/* never in UTF-8 */
	    "\xc0\xaf",		/* overlong "/" */
	    "\xe0\x80\xaf",	/* overlong */
	    "\xed\xa0\x80",	/* surrogate */
	    "\xf4\x90\x80\x80", /* past U+10FFFF */
	    "ok\xc3",		/* truncated */
	    "\x80",		/* lone continuation */
	    "\xe2\x82",		/* truncated 3-byte */
	};
	for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
		const char *vals[] = {badv[i]};
		CU_ASSERT(vt_family_series(f, vals, 1, &c) == VT_EINVAL);
		vt_label l = {"v", badv[i]};
		CU_ASSERT(vt_metrics_counter_add(m, "c_total", 1, &l, 1) ==
			  VT_EINVAL);
	}
	char *big = malloc(VT_MAX_LABEL_VALUE_LEN + 2);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'v', VT_MAX_LABEL_VALUE_LEN + 1);
	big[VT_MAX_LABEL_VALUE_LEN + 1] = '\0';
	const char *vals[] = {big};
	CU_ASSERT(vt_family_series(f, vals, 1, &c) == VT_EINVAL);
	const char *none[] = {NULL};
	CU_ASSERT(vt_family_series(f, none, 1, &c) == VT_EINVAL);
	CU_ASSERT(vt_family_series(f, vals, 0, &c) == VT_EINVAL);
	CU_ASSERT(vt_family_series(f, NULL, 1, &c) == VT_EINVAL);
	check_nothing_recorded(m, 1);

	/* Accepted: any valid UTF-8 up to the limit, empty, quotes. */
	big[VT_MAX_LABEL_VALUE_LEN] = '\0';
	static const char *goodv[] = {"", "a\"b\\c\nd", "caf\xc3\xa9",
				      "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	for (size_t i = 0; i < sizeof goodv / sizeof goodv[0]; i++) {
		const char *v[] = {goodv[i]};
		CU_ASSERT(vt_family_series(f, v, 1, &c) == VT_OK);
	}
	CU_ASSERT(vt_family_series(f, vals, 1, &c) == VT_OK);
	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT(s->families[0].nseries == 6);
	vt_metrics_snapshot_free(s);
	free(big);
	vt_metrics_free(m);
}

static void test_kind_and_label_clash(void)
{
	vt_metrics *m;
	vt_family *f, *f2;
	vt_counter *c, *c2;
	vt_gauge *g;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m, "jobs_total", "Jobs.", &c) ==
			VT_OK);
	CU_ASSERT(vt_metrics_gauge(m, "jobs_total", NULL, &g) == VT_EKIND);
	CU_ASSERT(vt_metrics_histogram(m, "jobs_total", NULL, &h) == VT_EKIND);
	CU_ASSERT(vt_metrics_set_gauge(m, "jobs_total", 3) == VT_EKIND);
	CU_ASSERT(vt_metrics_observe(m, "jobs_total", 3) == VT_EKIND);
	/* Same shape: the same series; help kept from the first call. */
	CU_ASSERT(vt_metrics_counter(m, "jobs_total", "Other.", &c2) == VT_OK);
	CU_ASSERT(c2 == c);

	const char *ab[] = {"a", "b"}, *ba[] = {"b", "a"}, *a[] = {"a"};
	CU_ASSERT_FATAL(
	    vt_metrics_counter_family(m, "l_total", NULL, ab, 2, &f) == VT_OK);
	CU_ASSERT(vt_metrics_counter_family(m, "l_total", NULL, ab, 2, &f2) ==
		  VT_OK);
	CU_ASSERT(f2 == f);
	CU_ASSERT(vt_metrics_counter_family(m, "l_total", NULL, ba, 2, &f2) ==
		  VT_EEXIST);
	CU_ASSERT(vt_metrics_counter_family(m, "l_total", NULL, a, 1, &f2) ==
		  VT_EEXIST);
	CU_ASSERT(vt_metrics_counter(m, "l_total", NULL, &c2) == VT_EEXIST);
	CU_ASSERT(vt_metrics_gauge_family(m, "l_total", NULL, ab, 2, &f2) ==
		  VT_EKIND);
	CU_ASSERT(vt_metrics_counter_family(m, "jobs_total", NULL, a, 1, &f2) ==
		  VT_EEXIST);

	/* Prometheus exposes counter x as x_total and histogram h as
	 * h_bucket, h_sum, h_count: those names must stay unique. */
	CU_ASSERT(vt_metrics_counter(m, "jobs", NULL, &c2) == VT_EEXIST);
	CU_ASSERT(vt_metrics_increment(m, "jobs") == VT_EEXIST);
	CU_ASSERT(vt_metrics_counter(m, "reqs", NULL, &c2) == VT_OK);
	CU_ASSERT(vt_metrics_counter(m, "reqs_total", NULL, &c2) == VT_EEXIST);
	CU_ASSERT(vt_metrics_gauge(m, "reqs_total", NULL, &g) == VT_EKIND);
	CU_ASSERT(vt_metrics_histogram(m, "lat", NULL, &h) == VT_OK);
	CU_ASSERT(vt_metrics_gauge(m, "lat_count", NULL, &g) == VT_EKIND);
	CU_ASSERT(vt_metrics_gauge(m, "lat_sum", NULL, &g) == VT_EKIND);
	CU_ASSERT(vt_metrics_gauge(m, "lat_bucket", NULL, &g) == VT_EKIND);
	CU_ASSERT(vt_metrics_gauge(m, "dur_count", NULL, &g) == VT_OK);
	CU_ASSERT(vt_metrics_histogram(m, "dur", NULL, &h) == VT_EKIND);
	CU_ASSERT(vt_metrics_histogram(m, "x", NULL, &h) == VT_OK);
	CU_ASSERT(vt_metrics_histogram(m, "x_count", NULL, &h) == VT_EEXIST);
	/* Not clashes. */
	CU_ASSERT(vt_metrics_gauge(m, "jobs_totals", NULL, &g) == VT_OK);
	CU_ASSERT(vt_metrics_gauge(m, "lat_counts", NULL, &g) == VT_OK);
	CU_ASSERT(vt_metrics_gauge(m, "reqs_sum", NULL, &g) == VT_OK);

	vt_metrics_snapshot *s;
	CU_ASSERT_FATAL(vt_metrics_snapshot_take(m, NULL, &s) == VT_OK);
	CU_ASSERT(s->nfamilies == 9);
	for (size_t i = 0; i < s->nfamilies; i++)
		if (strcmp(s->families[i].name, "jobs_total") == 0)
			CU_ASSERT(strcmp(s->families[i].help, "Jobs.") == 0);
	vt_metrics_snapshot_free(s);
	check_nothing_recorded(m, 9);
	vt_metrics_free(m);
}

static void test_bad_values(void)
{
	vt_metrics *m;
	vt_counter *c;
	vt_gauge *g;
	vt_histogram *h;
	CU_ASSERT_FATAL(vt_metrics_alloc(&m) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_counter(m, "c", NULL, &c) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_gauge(m, "g", NULL, &g) == VT_OK);
	CU_ASSERT_FATAL(vt_metrics_histogram(m, "h", NULL, &h) == VT_OK);
	CU_ASSERT(vt_counter_add(c, -1) == VT_EINVAL);
	CU_ASSERT(vt_counter_add(c, -1e-300) == VT_EINVAL);
	CU_ASSERT(vt_counter_add(c, NAN) == VT_EINVAL);
	CU_ASSERT(vt_counter_add(c, -INFINITY) == VT_EINVAL);
	CU_ASSERT(vt_gauge_set(g, NAN) == VT_EINVAL);
	CU_ASSERT(vt_gauge_add(g, NAN) == VT_EINVAL);
	CU_ASSERT(vt_gauge_sub(g, NAN) == VT_EINVAL);
	CU_ASSERT(vt_histogram_observe(h, NAN) == VT_EINVAL);
	/* Handles of another kind. */
	CU_ASSERT(vt_counter_inc(g) == VT_EINVAL);
	CU_ASSERT(vt_counter_add(h, 1) == VT_EINVAL);
	CU_ASSERT(vt_gauge_set(c, 1) == VT_EINVAL);
	CU_ASSERT(vt_gauge_add(h, 1) == VT_EINVAL);
	CU_ASSERT(vt_histogram_observe(c, 1) == VT_EINVAL);
	CU_ASSERT(vt_histogram_observe(g, 1) == VT_EINVAL);
	CU_ASSERT(vt_counter_inc(NULL) == VT_EINVAL);
	CU_ASSERT(vt_histogram_observe(NULL, 1) == VT_EINVAL);
	/* By name: a bad value registers nothing. */
	CU_ASSERT(vt_metrics_counter_add(m, "neg_total", -1, NULL, 0) ==
		  VT_EINVAL);
	CU_ASSERT(vt_metrics_counter_add(m, "nan_total", NAN, NULL, 0) ==
		  VT_EINVAL);
	CU_ASSERT(vt_metrics_set_gauge(m, "nan_gauge", NAN) == VT_EINVAL);
	CU_ASSERT(vt_metrics_gauge_add(m, "nan_gauge", NAN, NULL, 0) ==
		  VT_EINVAL);
	CU_ASSERT(vt_metrics_observe(m, "nan_hist", NAN) == VT_EINVAL);
	CU_ASSERT(vt_metrics_counter_add(m, "c", -1, NULL, 0) == VT_EINVAL);
	check_nothing_recorded(m, 3);
	/* Zero is a valid add. */
	CU_ASSERT(vt_counter_add(c, 0) == VT_OK);
	check_nothing_recorded(m, 3);
	vt_metrics_free(m);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"name rules", test_name_rules},
	    {"bad registrations", test_bad_registrations},
	    {"bad le bounds", test_bad_bounds},
	    {"label values", test_label_values},
	    {"kind, label and exposition clashes", test_kind_and_label_clash},
	    {"bad values", test_bad_values},
	    {NULL, NULL},
	};
	return vt_test_main("metric names", tests);
}
