/*
 * protobuf.c - snapshots and RPC messages to and from protobuf bytes,
 * with the protobuf-c code generated from proto/. See protobuf.h.
 *
 * Encoding builds the generated structs over the snapshot without
 * copying it: one calloc'd block holds every struct and pointer array,
 * the strings and number arrays are the snapshot's own (cast to the
 * non-const pointers protobuf-c declares; packing only reads them). A
 * string that is not valid UTF-8 is replaced by a cleaned copy kept in a
 * scratch list for the duration of the pack. Then one get_packed_size,
 * one malloc, one pack.
 *
 * Decoding unpacks with protobuf-c, checks what the library's types
 * cannot hold (enums out of range, le arrays that do not fit together),
 * measures, and copies into one block carved by a bump allocator with
 * max_align_t rounding, so the measure pass and the copy pass agree; a
 * health snapshot is freed with one free(), a metrics snapshot's block
 * comes from the metrics module so that vt_metrics_snapshot_free frees
 * it like any other. The unpacked message is freed next to where it was
 * unpacked.
 */
#include "encode/protobuf.h"

#include <math.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "metrics/snapshot.h"
#include "vitals/v1/health.pb-c.h"
#include "vitals/v1/history.pb-c.h"
#include "vitals/v1/metrics.pb-c.h"
#include "vitals/v1/rpc.pb-c.h"

#include "encode/textfmt.h"

/* ---- gRPC codes -------------------------------------------------------- */

uint32_t vt__grpc_code(vt_err err)
{
	switch (err) {
	case VT_OK:
		return VT__GRPC_OK;
	case VT_EINVAL:
	case VT_EPROTO:
	case VT_ETOOBIG:
		return VT__GRPC_INVALID_ARGUMENT;
	case VT_ENOENT:
		return VT__GRPC_NOT_FOUND;
	case VT_ECLOSED:
	case VT_EUNAVAIL:
	case VT_EFULL:
	case VT_ETIMEDOUT:
		return VT__GRPC_UNAVAILABLE;
	case VT_EAUTH:
		return VT__GRPC_UNAUTHENTICATED;
	default:
		return VT__GRPC_INTERNAL;
	}
}

vt_err vt__grpc_err(uint32_t code)
{
	switch (code) {
	case VT__GRPC_OK:
		return VT_OK;
	case VT__GRPC_INVALID_ARGUMENT:
		return VT_EINVAL;
	case VT__GRPC_NOT_FOUND:
		return VT_ENOENT;
	case VT__GRPC_INTERNAL:
		return VT_EINTERNAL;
	case VT__GRPC_UNAVAILABLE:
		return VT_EUNAVAIL;
	case VT__GRPC_UNAUTHENTICATED:
		return VT_EAUTH;
	default:
		return VT_EPROTO;
	}
}

int vt__grpc_serving(vt_status st)
{
	return st == VT_UNHEALTHY ? VT__NOT_SERVING : VT__SERVING;
}

/* ---- UTF-8 ------------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != 0 && *p < 0x80)
		p++;
	if (*p == 0)
		return true;
	const unsigned char *end = p + strlen((const char *)p);
	while (p < end) {
		size_t n = vt__utf8_seq(p, end);
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/* Copies s into dst (room for cap bytes with the NUL), invalid bytes as
 * U+FFFD, stopping before a sequence that would not fit. Returns the
 * length written. */
static size_t utf8_clean(char *dst, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s);
	size_t o = 0;
	while (p < end) {
		size_t n = vt__utf8_seq(p, end);
		const unsigned char *src = p;
		size_t w = n;
		if (n == 0) {
			src = (const unsigned char *)"\xef\xbf\xbd";
			w = 3;
			n = 1;
		}
		if (o + w + 1 > cap)
			break;
		memcpy(dst + o, src, w);
		o += w;
		p += n;
	}
	dst[o] = '\0';
	return o;
}

/* Cleaned copies made while one message is built, freed after packing. */
typedef struct scratch {
	char **v;
	size_t n, cap;
	bool oom;
} scratch;

static void scratch_fini(scratch *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->v[i]);
	free(sc->v);
}

/* s as protobuf-c wants it: never NULL, always valid UTF-8. */
static char *str_out(scratch *sc, const char *s)
{
	if (s == NULL)
		return (char *)"";
	if (utf8_valid(s))
		return (char *)s;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 8;
		char **v = realloc(sc->v, cap * sizeof(*v));
		if (v == NULL) {
			sc->oom = true;
			return (char *)"";
		}
		sc->v = v;
		sc->cap = cap;
	}
	size_t cap = strlen(s) * 3 + 1;
	char *d = malloc(cap);
	if (d == NULL) {
		sc->oom = true;
		return (char *)"";
	}
	utf8_clean(d, cap, s);
	sc->v[sc->n++] = d;
	return d;
}

/* ---- packing and one-block decoding ------------------------------------ */

static vt_err pack_msg(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > VT__PB_MAX_OUT)
		return VT_ETOOBIG;
	uint8_t *b = malloc(n > 0 ? n : 1);
	if (b == NULL)
		return VT_ENOMEM;
	size_t w = protobuf_c_message_pack(m, b);
	if (w != n) {
		free(b);
		return VT_EINTERNAL;
	}
	*out = b;
	*len = n;
	return VT_OK;
}

/* Finishes an encoder: packs m unless building failed. */
static vt_err pack_built(const ProtobufCMessage *m, scratch *sc, uint8_t **out,
			 size_t *len)
{
	vt_err err = sc->oom ? VT_ENOMEM : pack_msg(m, out, len);
	scratch_fini(sc);
	return err;
}

typedef struct bump {
	char *base;
	size_t off, cap;
} bump;

static size_t rnd(size_t n)
{
	const size_t a = alignof(max_align_t);
	return (n + a - 1) / a * a;
}

static size_t str_size(const char *s)
{
	return rnd(strlen(s) + 1);
}

static void *take(bump *b, size_t n)
{
	void *p = b->base + b->off;
	b->off += rnd(n);
	return p;
}

static const char *take_str(bump *b, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = take(b, n);
	memcpy(p, s, n);
	return p;
}

static bool status_ok(int st)
{
	return st >= VT_HEALTHY && st <= VT_UNHEALTHY;
}

static bool kind_ok(int k)
{
	return k >= VT_COUNTER && k <= VT_HISTOGRAM;
}

/* ---- health ------------------------------------------------------------ */

static vt_err component_check(const vt_component *c, size_t *nd, size_t *nt)
{
	if (c->name == NULL || !status_ok((int)c->status) ||
	    (c->ntags > 0 && c->tags == NULL) ||
	    (c->ndetails > 0 && c->details == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < c->ntags; i++)
		if (c->tags[i] == NULL)
			return VT_EINVAL;
	for (size_t i = 0; i < c->ndetails; i++) {
		const vt_detail *d = &c->details[i];
		if (d->key == NULL ||
		    (d->kind != VT_DETAIL_STR && d->kind != VT_DETAIL_NUM &&
		     d->kind != VT_DETAIL_BOOL) ||
		    (d->kind == VT_DETAIL_STR && d->str == NULL))
			return VT_EINVAL;
	}
	*nd += c->ndetails;
	*nt += c->ntags;
	return VT_OK;
}

vt_err vt__pb_health_encode(const vt_health_snapshot *s, uint8_t **out,
			    size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    !status_ok((int)s->status) ||
	    (s->ncomponents > 0 && s->components == NULL))
		return VT_EINVAL;
	size_t n = s->ncomponents, nd = 0, nt = 0;
	for (size_t i = 0; i < n; i++) {
		vt_err err = component_check(&s->components[i], &nd, &nt);
		if (err != VT_OK)
			return err;
	}
	size_t size = n * (sizeof(Vitals__V1__Component) + sizeof(void *)) +
		      nd * (sizeof(Vitals__V1__Detail) + sizeof(void *)) +
		      nt * sizeof(char *);
	char *blk = calloc(1, size > 0 ? size : 1);
	if (blk == NULL)
		return VT_ENOMEM;
	Vitals__V1__Component *comps = (Vitals__V1__Component *)blk;
	Vitals__V1__Detail *dets = (Vitals__V1__Detail *)(comps + n);
	Vitals__V1__Component **cptr = (Vitals__V1__Component **)(dets + nd);
	Vitals__V1__Detail **dptr = (Vitals__V1__Detail **)(cptr + n);
	char **tptr = (char **)(dptr + nd);

	scratch sc = {0};
	for (size_t i = 0; i < n; i++) {
		const vt_component *c = &s->components[i];
		Vitals__V1__Component *pc = &comps[i];
		vitals__v1__component__init(pc);
		pc->name = str_out(&sc, c->name);
		pc->status = (Vitals__V1__Status)c->status;
		pc->critical = c->critical;
		pc->n_tags = c->ntags;
		pc->tags = c->ntags > 0 ? tptr : NULL;
		for (size_t t = 0; t < c->ntags; t++)
			*tptr++ = str_out(&sc, c->tags[t]);
		pc->n_details = c->ndetails;
		pc->details = c->ndetails > 0 ? dptr : NULL;
		for (size_t k = 0; k < c->ndetails; k++) {
			const vt_detail *d = &c->details[k];
			Vitals__V1__Detail *pd = dets++;
			vitals__v1__detail__init(pd);
			pd->key = str_out(&sc, d->key);
			switch (d->kind) {
			case VT_DETAIL_STR:
				pd->value_case = VITALS__V1__DETAIL__VALUE_STR;
				pd->str = str_out(&sc, d->str);
				break;
			case VT_DETAIL_NUM:
				pd->value_case = VITALS__V1__DETAIL__VALUE_NUM;
				pd->num = d->num;
				break;
			case VT_DETAIL_BOOL:
				pd->value_case = VITALS__V1__DETAIL__VALUE_FLAG;
				pd->flag = d->b;
				break;
			}
			*dptr++ = pd;
		}
		pc->error = str_out(&sc, c->error);
		pc->last_check_time = c->last_check_time;
		pc->duration_ms = c->duration_ms;
		pc->consecutive_failures = c->consecutive_failures;
		pc->last_status_change = c->last_status_change;
		pc->stale = c->stale;
		pc->maintenance = c->maintenance;
		if (c->has_uptime) {
			/* read only while packing */
			pc->n_uptime = 4;
			pc->uptime = (double *)c->uptime;
		}
		cptr[i] = pc;
	}
	Vitals__V1__HealthCheckResponse r =
	    VITALS__V1__HEALTH_CHECK_RESPONSE__INIT;
	r.status = (Vitals__V1__Status)s->status;
	r.timestamp = s->timestamp;
	r.n_components = n;
	r.components = n > 0 ? cptr : NULL;
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(blk);
	return err;
}

static size_t pb_component_size(const Vitals__V1__Component *c)
{
	size_t size = str_size(c->name);
	size += rnd(c->n_tags * sizeof(char *));
	for (size_t i = 0; i < c->n_tags; i++)
		size += str_size(c->tags[i]);
	size += rnd(c->n_details * sizeof(vt_detail));
	for (size_t i = 0; i < c->n_details; i++) {
		const Vitals__V1__Detail *d = c->details[i];
		size += str_size(d->key);
		if (d->value_case == VITALS__V1__DETAIL__VALUE_STR)
			size += str_size(d->str);
	}
	if (c->error[0] != '\0')
		size += str_size(c->error);
	return size;
}

static void pb_component_copy(bump *b, const Vitals__V1__Component *c,
			      vt_component *o)
{
	memset(o, 0, sizeof(*o));
	o->name = take_str(b, c->name);
	o->status = (vt_status)c->status;
	o->critical = c->critical;
	if (c->n_tags > 0) {
		const char **tags = take(b, c->n_tags * sizeof(char *));
		for (size_t i = 0; i < c->n_tags; i++)
			tags[i] = take_str(b, c->tags[i]);
		o->tags = tags;
		o->ntags = c->n_tags;
	}
	if (c->n_details > 0) {
		vt_detail *d = take(b, c->n_details * sizeof(vt_detail));
		for (size_t i = 0; i < c->n_details; i++) {
			const Vitals__V1__Detail *pd = c->details[i];
			memset(&d[i], 0, sizeof(d[i]));
			d[i].key = take_str(b, pd->key);
			switch (pd->value_case) {
			case VITALS__V1__DETAIL__VALUE_NUM:
				d[i].kind = VT_DETAIL_NUM;
				d[i].num = pd->num;
				break;
			case VITALS__V1__DETAIL__VALUE_FLAG:
				d[i].kind = VT_DETAIL_BOOL;
				d[i].b = pd->flag;
				break;
			case VITALS__V1__DETAIL__VALUE_STR:
				d[i].kind = VT_DETAIL_STR;
				d[i].str = take_str(b, pd->str);
				break;
			default:
				/* A value kind this build does not know: kept
				 * as an empty string, not dropped. */
				d[i].kind = VT_DETAIL_STR;
				d[i].str = "";
				break;
			}
		}
		o->details = d;
		o->ndetails = c->n_details;
	}
	if (c->error[0] != '\0')
		o->error = take_str(b, c->error);
	o->last_check_time = c->last_check_time;
	o->duration_ms = c->duration_ms;
	o->consecutive_failures = c->consecutive_failures;
	o->last_status_change = c->last_status_change;
	o->stale = c->stale;
	o->maintenance = c->maintenance;
	if (c->n_uptime == 4) {
		o->has_uptime = true;
		memcpy(o->uptime, c->uptime, sizeof(o->uptime));
	}
}

vt_err vt__pb_health_decode(const uint8_t *data, size_t len,
			    vt_health_snapshot **out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__HealthCheckResponse *r =
	    vitals__v1__health_check_response__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	vt_err err = VT_OK;
	size_t n = r->n_components;
	size_t size =
	    rnd(sizeof(vt_health_snapshot)) + rnd(n * sizeof(vt_component));
	if (!status_ok((int)r->status))
		err = VT_EPROTO;
	for (size_t i = 0; err == VT_OK && i < n; i++) {
		if (!status_ok((int)r->components[i]->status))
			err = VT_EPROTO;
		size += pb_component_size(r->components[i]);
	}
	bump b = {NULL, 0, size};
	if (err == VT_OK && (b.base = malloc(size)) == NULL)
		err = VT_ENOMEM;
	if (err != VT_OK) {
		vitals__v1__health_check_response__free_unpacked(r, NULL);
		return err;
	}
	vt_health_snapshot *s = take(&b, sizeof(*s));
	vt_component *comps = take(&b, n * sizeof(vt_component));
	for (size_t i = 0; i < n; i++)
		pb_component_copy(&b, r->components[i], &comps[i]);
	s->status = (vt_status)r->status;
	s->timestamp = r->timestamp;
	s->ncomponents = n;
	s->components = n > 0 ? comps : NULL;
	vitals__v1__health_check_response__free_unpacked(r, NULL);
	*out = s;
	return VT_OK;
}

void vt__pb_health_free(vt_health_snapshot *s)
{
	free(s);
}

/* ---- metrics ----------------------------------------------------------- */

static vt_err family_check(const vt_family_snap *f, size_t *nl, size_t *nh)
{
	if (f->name == NULL || !kind_ok((int)f->kind) ||
	    (f->nseries > 0 && f->series == NULL))
		return VT_EINVAL;
	for (size_t i = 0; i < f->nseries; i++) {
		const vt_series_snap *s = &f->series[i];
		if (s->nlabels > 0 && s->labels == NULL)
			return VT_EINVAL;
		for (size_t k = 0; k < s->nlabels; k++)
			if (s->labels[k].name == NULL ||
			    s->labels[k].value == NULL)
				return VT_EINVAL;
		*nl += s->nlabels;
		if (f->kind != VT_HISTOGRAM)
			continue;
		const vt_hist_summary *h = &s->hist;
		if (h->nbounds > VT_MAX_LE_BOUNDS ||
		    (h->nbounds > 0 && h->le_bounds == NULL) ||
		    h->le_cumulative == NULL)
			return VT_EINVAL;
		(*nh)++;
	}
	return VT_OK;
}

vt_err vt__pb_metrics_encode(const vt_metrics_snapshot *s, uint8_t **out,
			     size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->nfamilies > 0 && s->families == NULL))
		return VT_EINVAL;
	size_t nf = s->nfamilies, ns = 0, nl = 0, nh = 0;
	for (size_t i = 0; i < nf; i++) {
		vt_err err = family_check(&s->families[i], &nl, &nh);
		if (err != VT_OK)
			return err;
		ns += s->families[i].nseries;
	}
	size_t size = nf * (sizeof(Vitals__V1__Family) + sizeof(void *)) +
		      ns * (sizeof(Vitals__V1__Series) + sizeof(void *)) +
		      nl * (sizeof(Vitals__V1__Label) + sizeof(void *)) +
		      nh * sizeof(Vitals__V1__HistogramSummary);
	char *blk = calloc(1, size > 0 ? size : 1);
	if (blk == NULL)
		return VT_ENOMEM;
	Vitals__V1__Family *fams = (Vitals__V1__Family *)blk;
	Vitals__V1__Series *sers = (Vitals__V1__Series *)(fams + nf);
	Vitals__V1__Label *labs = (Vitals__V1__Label *)(sers + ns);
	Vitals__V1__HistogramSummary *hists =
	    (Vitals__V1__HistogramSummary *)(labs + nl);
	Vitals__V1__Family **fptr = (Vitals__V1__Family **)(hists + nh);
	Vitals__V1__Series **sptr = (Vitals__V1__Series **)(fptr + nf);
	Vitals__V1__Label **lptr = (Vitals__V1__Label **)(sptr + ns);

	scratch sc = {0};
	for (size_t i = 0; i < nf; i++) {
		const vt_family_snap *f = &s->families[i];
		Vitals__V1__Family *pf = &fams[i];
		vitals__v1__family__init(pf);
		pf->name = str_out(&sc, f->name);
		pf->help = str_out(&sc, f->help);
		pf->kind = (Vitals__V1__MetricKind)f->kind;
		pf->n_series = f->nseries;
		pf->series = f->nseries > 0 ? sptr : NULL;
		for (size_t j = 0; j < f->nseries; j++) {
			const vt_series_snap *ss = &f->series[j];
			Vitals__V1__Series *ps = sers++;
			vitals__v1__series__init(ps);
			ps->n_labels = ss->nlabels;
			ps->labels = ss->nlabels > 0 ? lptr : NULL;
			for (size_t k = 0; k < ss->nlabels; k++) {
				Vitals__V1__Label *pl = labs++;
				vitals__v1__label__init(pl);
				pl->name = str_out(&sc, ss->labels[k].name);
				pl->value = str_out(&sc, ss->labels[k].value);
				*lptr++ = pl;
			}
			if (f->kind == VT_HISTOGRAM) {
				const vt_hist_summary *h = &ss->hist;
				Vitals__V1__HistogramSummary *ph = hists++;
				vitals__v1__histogram_summary__init(ph);
				ph->count = h->count;
				ph->sum = h->sum;
				ph->min = h->min;
				ph->max = h->max;
				ph->p50 = h->p50;
				ph->p90 = h->p90;
				ph->p95 = h->p95;
				ph->p99 = h->p99;
				ph->p999 = h->p999;
				ph->n_le_bounds = h->nbounds;
				ph->le_bounds = (double *)h->le_bounds;
				ph->n_le_cumulative = h->nbounds + 1;
				ph->le_cumulative =
				    (uint64_t *)h->le_cumulative;
				ps->histogram = ph;
			} else {
				ps->value = ss->value;
			}
			*sptr++ = ps;
		}
		fptr[i] = pf;
	}
	Vitals__V1__MetricsGetResponse r =
	    VITALS__V1__METRICS_GET_RESPONSE__INIT;
	r.n_families = nf;
	r.families = nf > 0 ? fptr : NULL;
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(blk);
	return err;
}

/* Checks a decoded histogram summary: le bounds finite and increasing,
 * one more cumulative count than bounds, counts not decreasing, the last
 * one the total. */
static bool pb_hist_ok(const Vitals__V1__HistogramSummary *h)
{
	if (h == NULL || h->n_le_bounds > VT_MAX_LE_BOUNDS ||
	    h->n_le_cumulative != h->n_le_bounds + 1)
		return false;
	for (size_t i = 0; i < h->n_le_bounds; i++)
		if (!isfinite(h->le_bounds[i]) ||
		    (i > 0 && !(h->le_bounds[i] > h->le_bounds[i - 1])))
			return false;
	for (size_t i = 1; i < h->n_le_cumulative; i++)
		if (h->le_cumulative[i] < h->le_cumulative[i - 1])
			return false;
	return h->le_cumulative[h->n_le_bounds] == h->count;
}

static vt_err pb_family_size(const Vitals__V1__Family *f, size_t *size)
{
	if (!kind_ok((int)f->kind))
		return VT_EPROTO;
	size_t sz = str_size(f->name) + str_size(f->help) +
		    rnd(f->n_series * sizeof(vt_series_snap));
	for (size_t i = 0; i < f->n_series; i++) {
		const Vitals__V1__Series *s = f->series[i];
		sz += rnd(s->n_labels * sizeof(vt_label));
		for (size_t k = 0; k < s->n_labels; k++)
			sz += str_size(s->labels[k]->name) +
			      str_size(s->labels[k]->value);
		if (f->kind != VITALS__V1__METRIC_KIND__METRIC_KIND_HISTOGRAM)
			continue;
		const Vitals__V1__HistogramSummary *h = s->histogram;
		if (!pb_hist_ok(h))
			return VT_EPROTO;
		sz += rnd(h->n_le_bounds * sizeof(double)) +
		      rnd(h->n_le_cumulative * sizeof(uint64_t));
	}
	*size += sz;
	return VT_OK;
}

static void pb_family_copy(bump *b, const Vitals__V1__Family *f,
			   vt_family_snap *o)
{
	o->name = take_str(b, f->name);
	o->help = take_str(b, f->help);
	o->kind = (vt_metric_kind)f->kind;
	o->nseries = f->n_series;
	vt_series_snap *ss = take(b, f->n_series * sizeof(vt_series_snap));
	o->series = f->n_series > 0 ? ss : NULL;
	for (size_t i = 0; i < f->n_series; i++) {
		const Vitals__V1__Series *s = f->series[i];
		vt_series_snap *d = &ss[i];
		memset(d, 0, sizeof(*d));
		if (s->n_labels > 0) {
			vt_label *l = take(b, s->n_labels * sizeof(vt_label));
			for (size_t k = 0; k < s->n_labels; k++) {
				l[k].name = take_str(b, s->labels[k]->name);
				l[k].value = take_str(b, s->labels[k]->value);
			}
			d->labels = l;
			d->nlabels = s->n_labels;
		}
		if (o->kind != VT_HISTOGRAM) {
			d->value = s->value;
			d->hist.min = d->hist.max = NAN;
			d->hist.p50 = d->hist.p90 = d->hist.p95 = NAN;
			d->hist.p99 = d->hist.p999 = NAN;
			continue;
		}
		const Vitals__V1__HistogramSummary *h = s->histogram;
		vt_hist_summary *hs = &d->hist;
		hs->count = h->count;
		hs->sum = h->sum;
		hs->min = h->min;
		hs->max = h->max;
		hs->p50 = h->p50;
		hs->p90 = h->p90;
		hs->p95 = h->p95;
		hs->p99 = h->p99;
		hs->p999 = h->p999;
		hs->nbounds = h->n_le_bounds;
		double *lb = take(b, h->n_le_bounds * sizeof(double));
		if (h->n_le_bounds > 0)
			memcpy(lb, h->le_bounds,
			       h->n_le_bounds * sizeof(double));
		uint64_t *cum = take(b, h->n_le_cumulative * sizeof(uint64_t));
		memcpy(cum, h->le_cumulative,
		       h->n_le_cumulative * sizeof(uint64_t));
		hs->le_bounds = h->n_le_bounds > 0 ? lb : NULL;
		hs->le_cumulative = cum;
		d->buckets = NULL;
	}
}

vt_err vt__pb_metrics_decode(const uint8_t *data, size_t len,
			     vt_metrics_snapshot **out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__MetricsGetResponse *r =
	    vitals__v1__metrics_get_response__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	size_t nf = r->n_families;
	size_t size = rnd(nf * sizeof(vt_family_snap));
	vt_err err = VT_OK;
	for (size_t i = 0; err == VT_OK && i < nf; i++)
		err = pb_family_size(r->families[i], &size);
	bump b = {NULL, 0, size};
	vt_metrics_snapshot *s = NULL;
	/* One block that vt_metrics_snapshot_free frees, as it frees a
	 * registry's snapshot. */
	if (err == VT_OK &&
	    (s = vt__metrics_snapshot_block(size, (void **)&b.base)) == NULL)
		err = VT_ENOMEM;
	if (err != VT_OK) {
		vitals__v1__metrics_get_response__free_unpacked(r, NULL);
		return err;
	}
	vt_family_snap *fams = take(&b, nf * sizeof(vt_family_snap));
	for (size_t i = 0; i < nf; i++)
		pb_family_copy(&b, r->families[i], &fams[i]);
	s->nfamilies = nf;
	s->families = nf > 0 ? fams : NULL;
	vitals__v1__metrics_get_response__free_unpacked(r, NULL);
	*out = s;
	return VT_OK;
}

void vt__pb_metrics_free(vt_metrics_snapshot *s)
{
	vt_metrics_snapshot_free(s);
}

/* ---- requests ---------------------------------------------------------- */

static const char *nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

vt_err vt__pb_health_req_encode(const vt_health_filter *filter,
				vt_run_mode mode, uint8_t **out, size_t *len)
{
	if (out == NULL || len == NULL ||
	    (mode != VT_RUN_FRESH && mode != VT_RUN_CACHED))
		return VT_EINVAL;
	Vitals__V1__HealthCheckRequest r =
	    VITALS__V1__HEALTH_CHECK_REQUEST__INIT;
	scratch sc = {0};
	char **ex = NULL;
	if (filter != NULL) {
		if (filter->nexclude > 0 && filter->exclude == NULL)
			return VT_EINVAL;
		if (filter->nexclude > 0 &&
		    (ex = malloc(filter->nexclude * sizeof(*ex))) == NULL)
			return VT_ENOMEM;
		for (size_t i = 0; i < filter->nexclude; i++) {
			if (filter->exclude[i] == NULL) {
				free(ex);
				scratch_fini(&sc);
				return VT_EINVAL;
			}
			ex[i] = str_out(&sc, filter->exclude[i]);
		}
		r.name = str_out(&sc, filter->name);
		r.tag = str_out(&sc, filter->tag);
		r.n_exclude = filter->nexclude;
		r.exclude = ex;
	}
	r.cached = mode == VT_RUN_CACHED;
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(ex);
	return err;
}

vt_err vt__pb_health_req_decode(const uint8_t *data, size_t len,
				vt__pb_health_req *out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__HealthCheckRequest *r =
	    vitals__v1__health_check_request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	memset(out, 0, sizeof(*out));
	out->filter.name = nonempty(r->name);
	out->filter.tag = nonempty(r->tag);
	out->filter.exclude = (const char *const *)r->exclude;
	out->filter.nexclude = r->n_exclude;
	out->mode = r->cached ? VT_RUN_CACHED : VT_RUN_FRESH;
	out->msg = r;
	return VT_OK;
}

void vt__pb_health_req_fini(vt__pb_health_req *r)
{
	if (r != NULL && r->msg != NULL) {
		vitals__v1__health_check_request__free_unpacked(r->msg, NULL);
		r->msg = NULL;
	}
}

vt_err vt__pb_metrics_req_encode(const vt_metrics_filter *filter, uint8_t **out,
				 size_t *len)
{
	if (out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__MetricsGetRequest r = VITALS__V1__METRICS_GET_REQUEST__INIT;
	scratch sc = {0};
	Vitals__V1__Label *labs = NULL;
	Vitals__V1__Label **lptr = NULL;
	if (filter != NULL) {
		size_t n = filter->nlabels;
		if (n > 0 && filter->labels == NULL)
			return VT_EINVAL;
		for (size_t i = 0; i < n; i++)
			if (filter->labels[i].name == NULL ||
			    filter->labels[i].value == NULL)
				return VT_EINVAL;
		if (n > 0) {
			labs = calloc(n, sizeof(*labs) + sizeof(*lptr));
			if (labs == NULL)
				return VT_ENOMEM;
			lptr = (Vitals__V1__Label **)(labs + n);
		}
		for (size_t i = 0; i < n; i++) {
			vitals__v1__label__init(&labs[i]);
			labs[i].name = str_out(&sc, filter->labels[i].name);
			labs[i].value = str_out(&sc, filter->labels[i].value);
			lptr[i] = &labs[i];
		}
		r.name = str_out(&sc, filter->name);
		r.name_prefix = str_out(&sc, filter->name_prefix);
		r.n_labels = n;
		r.labels = lptr;
	}
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(labs);
	return err;
}

vt_err vt__pb_metrics_req_decode(const uint8_t *data, size_t len,
				 vt__pb_metrics_req *out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__MetricsGetRequest *r =
	    vitals__v1__metrics_get_request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	vt_label *l = NULL;
	if (r->n_labels > 0) {
		if ((l = malloc(r->n_labels * sizeof(*l))) == NULL) {
			vitals__v1__metrics_get_request__free_unpacked(r, NULL);
			return VT_ENOMEM;
		}
		for (size_t i = 0; i < r->n_labels; i++) {
			l[i].name = r->labels[i]->name;
			l[i].value = r->labels[i]->value;
		}
	}
	memset(out, 0, sizeof(*out));
	out->filter.name = nonempty(r->name);
	out->filter.name_prefix = nonempty(r->name_prefix);
	out->filter.labels = l;
	out->filter.nlabels = r->n_labels;
	out->msg = r;
	out->labels = l;
	return VT_OK;
}

void vt__pb_metrics_req_fini(vt__pb_metrics_req *r)
{
	if (r == NULL)
		return;
	if (r->msg != NULL)
		vitals__v1__metrics_get_request__free_unpacked(r->msg, NULL);
	free(r->labels);
	r->msg = NULL;
	r->labels = NULL;
}

/* ---- vitals.v1.Health/History ------------------------------------------ */

vt_err vt__pb_history_req_encode(const char *name, double since, uint32_t limit,
				 uint8_t **out, size_t *len)
{
	if (out == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__HistoryRequest r = VITALS__V1__HISTORY_REQUEST__INIT;
	scratch sc = {0};
	r.name = str_out(&sc, name);
	r.since = since;
	r.limit = limit;
	return pack_built(&r.base, &sc, out, len);
}

vt_err vt__pb_history_req_decode(const uint8_t *data, size_t len,
				 vt__pb_history_req *out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__HistoryRequest *r =
	    vitals__v1__history_request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	out->name = nonempty(r->name);
	out->since = r->since;
	out->limit = r->limit;
	out->msg = r;
	return VT_OK;
}

void vt__pb_history_req_fini(vt__pb_history_req *r)
{
	if (r != NULL && r->msg != NULL) {
		vitals__v1__history_request__free_unpacked(r->msg, NULL);
		r->msg = NULL;
	}
}

vt_err vt__pb_history_encode(const char *name, const vt_history_result *rs,
			     size_t n, uint8_t **out, size_t *len)
{
	if (out == NULL || len == NULL || (rs == NULL && n > 0))
		return VT_EINVAL;
	Vitals__V1__HistoryResponse r = VITALS__V1__HISTORY_RESPONSE__INIT;
	Vitals__V1__HistoryResult *items = NULL;
	Vitals__V1__HistoryResult **ptrs = NULL;
	if (n > 0 && ((items = calloc(n, sizeof(*items))) == NULL ||
		      (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		free(items);
		return VT_ENOMEM;
	}
	scratch sc = {0};
	for (size_t i = 0; i < n; i++) {
		vitals__v1__history_result__init(&items[i]);
		items[i].time = rs[i].time;
		items[i].status = (Vitals__V1__Status)rs[i].status;
		items[i].duration_ms = rs[i].duration_ms;
		items[i].error = str_out(&sc, rs[i].error);
		items[i].maintenance = rs[i].maintenance;
		ptrs[i] = &items[i];
	}
	r.name = str_out(&sc, name);
	r.n_results = n;
	r.results = ptrs;
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(ptrs);
	free(items);
	return err;
}

vt_err vt__pb_history_decode(const uint8_t *data, size_t len,
			     vt_history_result **out, size_t *n)
{
	if ((data == NULL && len > 0) || out == NULL || n == NULL)
		return VT_EINVAL;
	Vitals__V1__HistoryResponse *r =
	    vitals__v1__history_response__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	size_t size = rnd(r->n_results * sizeof(vt_history_result)) + 1;
	for (size_t i = 0; i < r->n_results; i++) {
		if (!status_ok(r->results[i]->status)) {
			vitals__v1__history_response__free_unpacked(r, NULL);
			return VT_EPROTO;
		}
		size += str_size(r->results[i]->error);
	}
	bump b = {.base = malloc(size), .cap = size};
	if (b.base == NULL) {
		vitals__v1__history_response__free_unpacked(r, NULL);
		return VT_ENOMEM;
	}
	vt_history_result *rs =
	    take(&b, r->n_results * sizeof(vt_history_result));
	for (size_t i = 0; i < r->n_results; i++) {
		const Vitals__V1__HistoryResult *x = r->results[i];
		rs[i] = (vt_history_result){
		    .time = x->time,
		    .status = (vt_status)x->status,
		    .duration_ms = x->duration_ms,
		    .error =
			x->error[0] != '\0' ? take_str(&b, x->error) : NULL,
		    .maintenance = x->maintenance};
	}
	*out = rs;
	*n = r->n_results;
	vitals__v1__history_response__free_unpacked(r, NULL);
	return VT_OK;
}

/* ---- grpc.health.v1 ---------------------------------------------------- */

vt_err vt__pb_grpc_check_req_encode(const char *service, uint8_t **out,
				    size_t *len)
{
	if (out == NULL || len == NULL)
		return VT_EINVAL;
	Grpc__Health__V1__HealthCheckRequest r =
	    GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	scratch sc = {0};
	r.service = str_out(&sc, service);
	return pack_built(&r.base, &sc, out, len);
}

vt_err vt__pb_grpc_check_req_decode(const uint8_t *data, size_t len,
				    char **service)
{
	if ((data == NULL && len > 0) || service == NULL)
		return VT_EINVAL;
	Grpc__Health__V1__HealthCheckRequest *r =
	    grpc__health__v1__health_check_request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	size_t n = strlen(r->service) + 1;
	char *s = malloc(n);
	if (s != NULL)
		memcpy(s, r->service, n);
	grpc__health__v1__health_check_request__free_unpacked(r, NULL);
	if (s == NULL)
		return VT_ENOMEM;
	*service = s;
	return VT_OK;
}

vt_err vt__pb_grpc_check_resp_encode(int serving, uint8_t **out, size_t *len)
{
	if (out == NULL || len == NULL)
		return VT_EINVAL;
	Grpc__Health__V1__HealthCheckResponse r =
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	r.status =
	    (Grpc__Health__V1__HealthCheckResponse__ServingStatus)serving;
	return pack_msg(&r.base, out, len);
}

vt_err vt__pb_grpc_check_resp_decode(const uint8_t *data, size_t len,
				     int *serving)
{
	if ((data == NULL && len > 0) || serving == NULL)
		return VT_EINVAL;
	Grpc__Health__V1__HealthCheckResponse *r =
	    grpc__health__v1__health_check_response__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	int st = (int)r->status;
	grpc__health__v1__health_check_response__free_unpacked(r, NULL);
	if (st < 0 || st > 3)
		return VT_EPROTO;
	*serving = st;
	return VT_OK;
}

vt_err vt__pb_grpc_list_resp_encode(const vt_health_snapshot *s, uint8_t **out,
				    size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->ncomponents > 0 && s->components == NULL))
		return VT_EINVAL;
	size_t n = s->ncomponents + 1;
	for (size_t i = 0; i < s->ncomponents; i++)
		if (s->components[i].name == NULL)
			return VT_EINVAL;
	typedef Grpc__Health__V1__HealthListResponse__StatusesEntry entry;
	typedef Grpc__Health__V1__HealthCheckResponse value;
	char *blk = calloc(n, sizeof(entry) + sizeof(value) + sizeof(void *));
	if (blk == NULL)
		return VT_ENOMEM;
	entry *ents = (entry *)blk;
	value *vals = (value *)(ents + n);
	entry **eptr = (entry **)(vals + n);
	scratch sc = {0};
	for (size_t i = 0; i < n; i++) {
		grpc__health__v1__health_list_response__statuses_entry__init(
		    &ents[i]);
		grpc__health__v1__health_check_response__init(&vals[i]);
		vt_status st = i == 0 ? s->status : s->components[i - 1].status;
		ents[i].key = i == 0 ? (char *)""
				     : str_out(&sc, s->components[i - 1].name);
		vals[i].status =
		    (Grpc__Health__V1__HealthCheckResponse__ServingStatus)
			vt__grpc_serving(st);
		ents[i].value = &vals[i];
		eptr[i] = &ents[i];
	}
	Grpc__Health__V1__HealthListResponse r =
	    GRPC__HEALTH__V1__HEALTH_LIST_RESPONSE__INIT;
	r.n_statuses = n;
	r.statuses = eptr;
	vt_err err = pack_built(&r.base, &sc, out, len);
	free(blk);
	return err;
}

vt_err vt__pb_grpc_list_req_check(const uint8_t *data, size_t len)
{
	if (data == NULL && len > 0)
		return VT_EINVAL;
	Grpc__Health__V1__HealthListRequest *r =
	    grpc__health__v1__health_list_request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	grpc__health__v1__health_list_request__free_unpacked(r, NULL);
	return VT_OK;
}

/* ---- the envelope ------------------------------------------------------ */

vt_err vt__pb_request_encode(const char *method, const uint8_t *payload,
			     size_t plen, const char *token, uint8_t **out,
			     size_t *len)
{
	if (method == NULL || (payload == NULL && plen > 0) || out == NULL ||
	    len == NULL)
		return VT_EINVAL;
	Vitals__V1__Request r = VITALS__V1__REQUEST__INIT;
	scratch sc = {0};
	r.method = str_out(&sc, method);
	r.payload.data = (uint8_t *)payload;
	r.payload.len = plen;
	r.token = str_out(&sc, token);
	return pack_built(&r.base, &sc, out, len);
}

vt_err vt__pb_request_decode(const uint8_t *data, size_t len,
			     vt__pb_request *out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__Request *r = vitals__v1__request__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	out->method = r->method;
	out->payload = r->payload.data;
	out->plen = r->payload.len;
	out->token = r->token != NULL ? r->token : "";
	out->msg = r;
	return VT_OK;
}

void vt__pb_request_fini(vt__pb_request *r)
{
	if (r != NULL && r->msg != NULL) {
		vitals__v1__request__free_unpacked(r->msg, NULL);
		r->msg = NULL;
	}
}

/* Most bytes of a Response's message text. */
#define RESP_MSG_MAX 1024

/* Builds the generated Response of r, its message cleaned into buf. */
static void response_build(const vt__pb_response *r, Vitals__V1__Response *pr,
			   char buf[RESP_MSG_MAX + 1])
{
	vitals__v1__response__init(pr);
	pr->code = r->code;
	utf8_clean(buf, RESP_MSG_MAX + 1, r->message != NULL ? r->message : "");
	pr->message = buf;
	pr->payload.data = (uint8_t *)r->payload;
	pr->payload.len = r->payload != NULL ? r->plen : 0;
}

size_t vt__pb_response_size(const vt__pb_response *r)
{
	Vitals__V1__Response pr;
	char buf[RESP_MSG_MAX + 1];
	response_build(r, &pr, buf);
	return vitals__v1__response__get_packed_size(&pr);
}

vt_err vt__pb_response_pack(const vt__pb_response *r, uint8_t *dst, size_t cap,
			    size_t *len)
{
	if (r == NULL || dst == NULL || len == NULL)
		return VT_EINVAL;
	Vitals__V1__Response pr;
	char buf[RESP_MSG_MAX + 1];
	response_build(r, &pr, buf);
	size_t n = vitals__v1__response__get_packed_size(&pr);
	if (n > cap)
		return VT_ETOOBIG;
	*len = vitals__v1__response__pack(&pr, dst);
	return VT_OK;
}

vt_err vt__pb_response_decode(const uint8_t *data, size_t len,
			      vt__pb_response *out)
{
	if ((data == NULL && len > 0) || out == NULL)
		return VT_EINVAL;
	Vitals__V1__Response *r = vitals__v1__response__unpack(NULL, len, data);
	if (r == NULL)
		return VT_EPROTO;
	out->code = r->code;
	out->message = r->message;
	out->payload = r->payload.data;
	out->plen = r->payload.len;
	out->msg = r;
	return VT_OK;
}

void vt__pb_response_fini(vt__pb_response *r)
{
	if (r != NULL && r->msg != NULL) {
		vitals__v1__response__free_unpacked(r->msg, NULL);
		r->msg = NULL;
	}
}
