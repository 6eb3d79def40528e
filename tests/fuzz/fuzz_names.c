/*
 * fuzz_names.c - libFuzzer target for metric and label names and label
 * values: the input is a short program of registrations, series and
 * recordings (by handle and by name) on a fresh vt_metrics, then a
 * snapshot encoded as JSON and as Prometheus text.
 *
 * One operation per line, fields separated by '|'; in a field, \n, \|,
 * \\ and \xNN stand for a newline, '|', '\' and any byte:
 *   C|name|help|label...            counter family
 *   G|name|help|label...            gauge family
 *   H|name|help|b1,b2,...|label...  histogram family (no bounds: default)
 *   S|family#|value|lvalue...       series of the #th family registered
 *                                   here: counter add, gauge set and add,
 *                                   histogram observe of value
 *   i|name                          vt_metrics_increment
 *   a|name|value|lname=lvalue...    vt_metrics_counter_add
 *   s|name|value                    vt_metrics_set_gauge
 *   g|name|value|lname=lvalue...    vt_metrics_gauge_add
 *   t|name|value|lname=lvalue...    vt_metrics_gauge_set
 *   o|name|value                    vt_metrics_observe
 *   O|name|value|lname=lvalue...    vt_metrics_histogram_observe
 *   F|name|prefix|lname=lvalue...   a filtered snapshot, checked
 *   R|name||lname=lvalue...         vt_metrics_remove_series
 *   X|name                          vt_metrics_remove_family
 *   M|name|prefix|lname=lvalue...   vt_metrics_remove_matching
 * Values are read by strtod ("1e300", "-0", "inf", "nan", "0x1p-1074").
 *
 * Checks: a call that succeeds had valid names, label names and label
 * values, and no bad value is recorded; a name keeps its first kind;
 * snapshots are sorted, self-consistent (histogram counts, bounds,
 * quantiles within min..max) and honour the filter; the JSON has one
 * unique key per series of the kind recorded; the Prometheus text passes
 * the line checker (names, escapes, no series or family twice) with the
 * number of families and samples the snapshot implies. A removal that
 * succeeds leaves nothing it selected in the next snapshot, and a
 * removed family's name is free for any kind.
 */
#include "fuzz.h"
#include "metrics/names.h"
#include "vitals/encode.h"

#define FZ_NM_OPS    64
#define FZ_NM_FIELDS (VT_MAX_LABELS + 4)

/* Splits line into at most FZ_NM_FIELDS unescaped fields, in place. */
static size_t fz_nm_fields(char *line, char **f)
{
	size_t n = 0;
	char *d = line;
	f[n++] = d;
	for (char *s = line; *s != '\0'; s++) {
		if (*s == '|' && n < FZ_NM_FIELDS) {
			*d++ = '\0';
			f[n++] = d;
		} else if (*s == '\\' && s[1] == 'n') {
			*d++ = '\n';
			s++;
		} else if (*s == '\\' && (s[1] == '|' || s[1] == '\\')) {
			*d++ = *++s;
		} else if (*s == '\\' && s[1] == 'x' && s[2] != '\0' &&
			   s[3] != '\0') {
			char hex[3] = {s[2], s[3], '\0'};
			*d++ = (char)strtol(hex, NULL, 16);
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
	return n;
}

static double fz_nm_num(const char *s)
{
	return strtod(s, NULL);
}

/* Labels "lname=lvalue" of fields f[0..n). */
static size_t fz_nm_labels(char **f, size_t n, vt_label *l)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < VT_MAX_LABELS; i++) {
		char *eq = strchr(f[i], '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		l[k].name = f[i];
		l[k].value = eq + 1;
		k++;
	}
	return k;
}

/* What a successful call promises of its names and values. */
static void fz_nm_ok(const char *name, const vt_label *l, size_t n)
{
	VT_FUZZ_CHECK(vt_metric_name_valid(name));
	for (size_t i = 0; i < n; i++) {
		VT_FUZZ_CHECK(vt_label_name_valid(l[i].name));
		VT_FUZZ_CHECK(vt__label_value_valid(l[i].value));
		for (size_t j = 0; j < i; j++)
			VT_FUZZ_CHECK(strcmp(l[i].name, l[j].name) != 0);
	}
}

/* The kinds that names got, to check a name keeps its first one. */
typedef struct fz_nm_kinds {
	char *name[FZ_NM_OPS];
	vt_metric_kind kind[FZ_NM_OPS];
	size_t n;
} fz_nm_kinds;

static void fz_nm_kind(fz_nm_kinds *k, const char *name, vt_metric_kind kind)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], name) == 0) {
			VT_FUZZ_CHECK(k->kind[i] == kind);
			return;
		}
	VT_FUZZ_CHECK(k->n < FZ_NM_OPS);
	k->name[k->n] = strdup(name);
	VT_FUZZ_CHECK(k->name[k->n] != NULL);
	k->kind[k->n++] = kind;
}

/* Forgets the kinds of the names filter flt selects (removed). */
static void fz_nm_forget(fz_nm_kinds *k, const vt_metrics_filter *flt)
{
	for (size_t i = k->n; i-- > 0;) {
		const char *nm = k->name[i];
		if (flt->name != NULL && strcmp(nm, flt->name) != 0)
			continue;
		if (flt->name_prefix != NULL &&
		    strncmp(nm, flt->name_prefix, strlen(flt->name_prefix)) !=
			0)
			continue;
		free(k->name[i]);
		memmove(&k->name[i], &k->name[i + 1],
			(k->n - i - 1) * sizeof(k->name[0]));
		memmove(&k->kind[i], &k->kind[i + 1],
			(k->n - i - 1) * sizeof(k->kind[0]));
		k->n--;
	}
}

/* Series that filter flt selects in m now. */
static size_t fz_nm_count(vt_metrics *m, const vt_metrics_filter *flt)
{
	vt_metrics_snapshot *s = NULL;
	VT_FUZZ_CHECK(vt_metrics_snapshot_take(m, flt, &s) == VT_OK);
	size_t n = 0;
	for (size_t i = 0; i < s->nfamilies; i++)
		n += s->families[i].nseries;
	vt_metrics_snapshot_free(s);
	return n;
}

/* One removal: R, X or M. */
static vt_err fz_nm_remove(vt_metrics *m, char kind, char **f, size_t n,
			   fz_nm_kinds *kinds)
{
	const char *name = n > 1 ? f[1] : "";
	vt_label l[VT_MAX_LABELS];
	size_t nl = n > 3 ? fz_nm_labels(f + 3, n - 3, l) : 0;
	vt_metrics_filter flt = {.name = name, .labels = l, .nlabels = nl};
	vt_err rv;
	if (kind == 'X') {
		flt.nlabels = 0;
		rv = vt_metrics_remove_family(m, name);
	} else if (kind == 'R') {
		rv = vt_metrics_remove_series(m, name, l, nl);
	} else {
		flt.name = name[0] != '\0' ? name : NULL;
		flt.name_prefix = n > 2 && f[2][0] != '\0' ? f[2] : NULL;
		size_t removed = 0;
		rv = vt_metrics_remove_matching(m, &flt, &removed);
		VT_FUZZ_CHECK(rv != VT_OK || flt.name != NULL ||
			      flt.name_prefix != NULL || nl > 0);
	}
	if (rv != VT_OK)
		return rv;
	/* Gone: the series (all the family's, without labels). */
	VT_FUZZ_CHECK(fz_nm_count(m, &flt) == 0);
	if (nl == 0)
		fz_nm_forget(kinds, &flt);
	return VT_OK;
}

static void fz_nm_series(const vt_family_snap *f, const vt_series_snap *s)
{
	for (size_t l = 0; l < s->nlabels; l++) {
		VT_FUZZ_CHECK(vt_label_name_valid(s->labels[l].name));
		VT_FUZZ_CHECK(vt__label_value_valid(s->labels[l].value));
	}
	if (f->kind == VT_COUNTER)
		VT_FUZZ_CHECK(s->value >= 0); /* never negative, never NaN */
	if (f->kind != VT_HISTOGRAM)
		return;
	const vt_hist_summary *h = &s->hist;
	VT_FUZZ_CHECK(h->nbounds <= VT_MAX_LE_BOUNDS);
	VT_FUZZ_CHECK(h->le_cumulative[h->nbounds] == h->count);
	for (size_t b = 0; b < h->nbounds; b++) {
		VT_FUZZ_CHECK(isfinite(h->le_bounds[b]));
		VT_FUZZ_CHECK(b == 0 || h->le_bounds[b] > h->le_bounds[b - 1]);
		VT_FUZZ_CHECK(h->le_cumulative[b] <= h->le_cumulative[b + 1]);
	}
	if (h->count == 0) {
		VT_FUZZ_CHECK(isnan(h->min) && isnan(h->max) && isnan(h->p50));
		return;
	}
	VT_FUZZ_CHECK(h->min <= h->max);
	const double ps[] = {h->p50, h->p90, h->p95, h->p99, h->p999};
	for (size_t i = 0; i < 5; i++) {
		VT_FUZZ_CHECK(ps[i] >= h->min && ps[i] <= h->max);
		VT_FUZZ_CHECK(i == 0 || ps[i] >= ps[i - 1]);
	}
	double q = vt_series_quantile(s, 0.5);
	VT_FUZZ_CHECK(q >= h->min && q <= h->max);
}

/* A snapshot, its JSON and its Prometheus text. */
static void fz_nm_snapshot(vt_metrics *m, const vt_metrics_filter *flt,
			   const fz_nm_kinds *kinds)
{
	vt_metrics_snapshot *s = NULL;
	VT_FUZZ_CHECK(vt_metrics_snapshot_take(m, flt, &s) == VT_OK);
	size_t fams = 0, series = 0, samples = 0;
	for (size_t i = 0; i < s->nfamilies; i++) {
		const vt_family_snap *f = &s->families[i];
		VT_FUZZ_CHECK(vt_metric_name_valid(f->name));
		VT_FUZZ_CHECK(i == 0 ||
			      strcmp(s->families[i - 1].name, f->name) < 0);
		VT_FUZZ_CHECK(f->kind >= VT_COUNTER && f->kind <= VT_HISTOGRAM);
		for (size_t k = 0; k < kinds->n; k++)
			if (strcmp(kinds->name[k], f->name) == 0)
				VT_FUZZ_CHECK(kinds->kind[k] == f->kind);
		if (flt != NULL && flt->name != NULL)
			VT_FUZZ_CHECK(strcmp(f->name, flt->name) == 0);
		if (flt != NULL && flt->name_prefix != NULL)
			VT_FUZZ_CHECK(strncmp(f->name, flt->name_prefix,
					      strlen(flt->name_prefix)) == 0);
		for (size_t j = 0; j < f->nseries; j++) {
			const vt_series_snap *ss = &f->series[j];
			VT_FUZZ_CHECK(ss->nlabels == f->series[0].nlabels);
			fz_nm_series(f, ss);
			for (size_t k = 0; flt != NULL && k < flt->nlabels;
			     k++) {
				bool carried = false;
				for (size_t l = 0; l < ss->nlabels; l++)
					carried |=
					    strcmp(ss->labels[l].name,
						   flt->labels[k].name) == 0 &&
					    strcmp(ss->labels[l].value,
						   flt->labels[k].value) == 0;
				VT_FUZZ_CHECK(carried);
			}
			samples +=
			    f->kind == VT_HISTOGRAM ? ss->hist.nbounds + 3 : 1;
		}
		fams += f->nseries > 0;
		series += f->nseries;
	}

	char *out = NULL;
	size_t len = 0;
	VT_FUZZ_CHECK(vt_json_metrics(s, &out, &len) == VT_OK);
	cJSON *j = fz_json(out, len);
	VT_FUZZ_CHECK(cJSON_IsObject(j));
	VT_FUZZ_CHECK((size_t)cJSON_GetArraySize(j) == series);
	char **keys = NULL;
	size_t nkeys = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
		VT_FUZZ_CHECK(cJSON_IsString(t));
		fz_push(&keys, &nkeys, e->string, strlen(e->string));
	}
	fz_unique_free(keys, nkeys);
	cJSON_Delete(j);
	free(out);

	VT_FUZZ_CHECK(vt_prom_metrics(s, &out, &len) == VT_OK);
	fz_prom_stats st = fz_check_prom(out, len);
	VT_FUZZ_CHECK(st.families == fams && st.samples == samples);
	free(out);
	vt_metrics_snapshot_free(s);
}

static int vt_fuzz_names(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	VT_FUZZ_CHECK(text != NULL);
	vt_metrics *m = NULL;
	VT_FUZZ_CHECK(vt_metrics_alloc(&m) == VT_OK);
	vt_family *fams[FZ_NM_OPS];
	size_t nfams = 0;
	fz_nm_kinds kinds = {.n = 0};
	char *line = text;
	for (int op = 0; op < FZ_NM_OPS && line != NULL; op++) {
		char *next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		char *f[FZ_NM_FIELDS];
		size_t n = fz_nm_fields(line, f);
		line = next;
		char kind = f[0][0];
		const char *name = n > 1 ? f[1] : "";
		double v = n > 2 ? fz_nm_num(f[2]) : 1;
		vt_label l[VT_MAX_LABELS];
		size_t nl = n > 3 ? fz_nm_labels(f + 3, n - 3, l) : 0;
		vt_err rv = VT_OK;
		vt_metric_kind mk = VT_COUNTER;
		switch (kind) {
		case 'C':
		case 'G':
		case 'H': {
			const char *help = n > 2 ? f[2] : NULL;
			size_t first = kind == 'H' ? 4 : 3;
			const char *ln[FZ_NM_FIELDS];
			size_t nln = n > first ? n - first : 0;
			for (size_t i = 0; i < nln; i++)
				ln[i] = f[first + i];
			vt_family *fam = NULL;
			if (kind == 'C') {
				rv = vt_metrics_counter_family(m, name, help,
							       ln, nln, &fam);
			} else if (kind == 'G') {
				mk = VT_GAUGE;
				rv = vt_metrics_gauge_family(m, name, help, ln,
							     nln, &fam);
			} else {
				mk = VT_HISTOGRAM;
				double b[VT_MAX_LE_BOUNDS + 2];
				size_t nb = 0;
				for (char *p = n > 3 ? f[3] : "";
				     *p != '\0' && nb < VT_MAX_LE_BOUNDS + 2;) {
					char *end;
					b[nb++] = strtod(p, &end);
					p = *end == ',' ? end + 1 : "";
				}
				rv = vt_metrics_histogram_family(
				    m, name, help, ln, nln, nb > 0 ? b : NULL,
				    nb, &fam);
			}
			if (rv == VT_OK) {
				vt_label lab[FZ_NM_FIELDS];
				for (size_t i = 0; i < nln; i++)
					lab[i] = (vt_label){ln[i], ""};
				fz_nm_ok(name, lab, nln);
				VT_FUZZ_CHECK(nln <= VT_MAX_LABELS);
				for (size_t i = 0;
				     i < nln && mk == VT_HISTOGRAM; i++)
					VT_FUZZ_CHECK(strcmp(ln[i], "le") != 0);
				fz_nm_kind(&kinds, name, mk);
				fams[nfams++] = fam;
			}
			break;
		}
		case 'S': {
			if (nfams == 0)
				break;
			vt_family *fam = fams[strtoul(name, NULL, 10) % nfams];
			const char *vals[FZ_NM_FIELDS];
			size_t nv = n > 3 ? n - 3 : 0;
			for (size_t i = 0; i < nv; i++)
				vals[i] = f[3 + i];
			struct vt_series *s = NULL;
			if (vt_family_series(fam, vals, nv, &s) != VT_OK)
				break;
			for (size_t i = 0; i < nv; i++)
				VT_FUZZ_CHECK(vt__label_value_valid(vals[i]));
			/* Every kind of handle call; the wrong kinds and bad
			 * values are refused. */
			vt_err c = vt_counter_add(s, v);
			vt_err g = vt_gauge_set(s, v);
			vt_gauge_add(s, v);
			vt_err h = vt_histogram_observe(s, v);
			VT_FUZZ_CHECK(
			    (c == VT_OK) + (g == VT_OK) + (h == VT_OK) <= 1);
			if (!(v >= 0))
				VT_FUZZ_CHECK(c != VT_OK);
			if (isnan(v))
				VT_FUZZ_CHECK(g != VT_OK && h != VT_OK);
			break;
		}
		case 'i':
			rv = vt_metrics_increment(m, name);
			nl = 0;
			break;
		case 'a':
			rv = vt_metrics_counter_add(m, name, v, l, nl);
			VT_FUZZ_CHECK(rv != VT_OK || v >= 0);
			break;
		case 's':
			mk = VT_GAUGE;
			rv = vt_metrics_set_gauge(m, name, v);
			nl = 0;
			break;
		case 'g':
			mk = VT_GAUGE;
			rv = vt_metrics_gauge_add(m, name, v, l, nl);
			break;
		case 't':
			mk = VT_GAUGE;
			rv = vt_metrics_gauge_set(m, name, v, l, nl);
			break;
		case 'o':
			mk = VT_HISTOGRAM;
			rv = vt_metrics_observe(m, name, v);
			nl = 0;
			break;
		case 'O':
			mk = VT_HISTOGRAM;
			rv = vt_metrics_histogram_observe(m, name, v, l, nl);
			break;
		case 'F': {
			vt_label fl[VT_MAX_LABELS];
			size_t nfl = n > 3 ? fz_nm_labels(f + 3, n - 3, fl) : 0;
			vt_metrics_filter flt = {
			    .name = name[0] != '\0' ? name : NULL,
			    .name_prefix =
				n > 2 && f[2][0] != '\0' ? f[2] : NULL,
			    .labels = fl,
			    .nlabels = nfl};
			fz_nm_snapshot(m, &flt, &kinds);
			break;
		}
		case 'R':
		case 'X':
		case 'M':
			rv = fz_nm_remove(m, kind, f, n, &kinds);
			break;
		default:
			break;
		}
		VT_FUZZ_CHECK(rv >= VT_OK && rv <= VT_EINTERNAL);
		if (rv == VT_OK && kind != '\0' &&
		    strchr("iasgtoO", kind) != NULL) {
			fz_nm_ok(name, l, nl);
			VT_FUZZ_CHECK(kind == 'i' || !isnan(v));
			fz_nm_kind(&kinds, name, mk);
		}
	}
	fz_nm_snapshot(m, NULL, &kinds);
	for (size_t i = 0; i < kinds.n; i++)
		free(kinds.name[i]);
	vt_metrics_free(m);
	free(text);
	return 0;
}

#ifndef VT_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vt_fuzz_names(data, size);
}
#endif
