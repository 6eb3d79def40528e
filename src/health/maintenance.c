/*
 * maintenance.c - windows and silences: which checks are under planned
 * maintenance at a given time.
 *
 * A window is a start time, a duration and a repeat (none, daily,
 * weekly); it covers the checks it names and those carrying its tags,
 * or every check when it names neither. A silence covers one check, or
 * all, until a wall time; expired silences are dropped as they are met.
 * Both lists are short (a config's worth), so lookups are linear scans
 * under one leaf mutex.
 */
#include "health/maintenance.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "health/check.h"
#include "health/registry.h"

#define DAY_S  86400.0
#define WEEK_S (7 * DAY_S)

vt_err vt__maint_init(vt__maint *m)
{
	memset(m, 0, sizeof(*m));
	return pthread_mutex_init(&m->mtx, NULL) == 0 ? VT_OK : VT_EIO;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void vt__maint_fini(vt__maint *m)
{
	for (size_t i = 0; i < m->nwindows; i++) {
		free_strv(m->windows[i].checks, m->windows[i].nchecks);
		free_strv(m->windows[i].tags, m->windows[i].ntags);
	}
	free(m->windows);
	for (size_t i = 0; i < m->nsilences; i++)
		free(m->silences[i].name);
	free(m->silences);
	pthread_mutex_destroy(&m->mtx);
}

bool vt__window_covers(double start, int64_t duration_ms, vt_repeat every,
		       double now)
{
	if (duration_ms <= 0 || now < start)
		return false;
	double off = now - start;
	if (every == VT_REPEAT_DAILY)
		off = fmod(off, DAY_S);
	else if (every == VT_REPEAT_WEEKLY)
		off = fmod(off, WEEK_S);
	return off * 1000.0 < (double)duration_ms;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/* Reads exactly n digits at *p into *v and advances. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return false;
		x = x * 10 + (ch - '0');
	}
	*p += n;
	*v = x;
	return true;
}

static bool lit(const char **p, char ch)
{
	if (**p != ch)
		return false;
	(*p)++;
	return true;
}

vt_err vt__maint_parse_time(const char *s, double *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, mo, d, hh, mm, ss, oh = 0, om = 0, sign = 0;
	const char *p = s;
	if (s == NULL || !digits(&p, 4, &y) || !lit(&p, '-') ||
	    !digits(&p, 2, &mo) || !lit(&p, '-') || !digits(&p, 2, &d) ||
	    !(lit(&p, 'T') || lit(&p, ' ')) || !digits(&p, 2, &hh) ||
	    !lit(&p, ':') || !digits(&p, 2, &mm) || !lit(&p, ':') ||
	    !digits(&p, 2, &ss))
		return VT_EINVAL;
	if (lit(&p, 'Z')) {
		sign = 0;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(&p, 2, &oh) || !lit(&p, ':') || !digits(&p, 2, &om))
			return VT_EINVAL;
	} else {
		return VT_EINVAL;
	}
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || hh > 23 || mm > 59 || ss > 59 ||
	    oh > 23 || om > 59)
		return VT_EINVAL;
	long long t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL +
		      hh * 3600LL + mm * 60LL + ss;
	t -= sign * (oh * 3600LL + om * 60LL);
	*out = (double)t;
	return VT_OK;
}

vt_err vt__maint_parse_repeat(const char *s, vt_repeat *out)
{
	if (s == NULL)
		return VT_EINVAL;
	if (strcmp(s, "none") == 0)
		*out = VT_REPEAT_NONE;
	else if (strcmp(s, "daily") == 0)
		*out = VT_REPEAT_DAILY;
	else if (strcmp(s, "weekly") == 0)
		*out = VT_REPEAT_WEEKLY;
	else
		return VT_EINVAL;
	return VT_OK;
}

/* Copies n valid names of v into *out. */
static vt_err copy_names(const char *const *v, size_t n, char ***out)
{
	*out = NULL;
	if (n == 0)
		return VT_OK;
	if (v == NULL)
		return VT_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!vt_check_name_valid(v[i]))
			return VT_EINVAL;
	char **c = calloc(n, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((c[i] = strdup(v[i])) == NULL) {
			free_strv(c, i);
			return VT_ENOMEM;
		}
	}
	*out = c;
	return VT_OK;
}

vt_err vt__maint_add(vt__maint *m, const vt_maintenance_window *w)
{
	if (w == NULL || w->duration_ms <= 0 || !isfinite(w->start) ||
	    (w->every != VT_REPEAT_NONE && w->every != VT_REPEAT_DAILY &&
	     w->every != VT_REPEAT_WEEKLY) ||
	    (w->every == VT_REPEAT_DAILY && w->duration_ms > DAY_S * 1000) ||
	    (w->every == VT_REPEAT_WEEKLY && w->duration_ms > WEEK_S * 1000))
		return VT_EINVAL;
	vt__window nw = {.start = w->start,
			 .duration_ms = w->duration_ms,
			 .every = w->every,
			 .nchecks = w->nchecks,
			 .ntags = w->ntags};
	vt_err rv = copy_names(w->checks, w->nchecks, &nw.checks);
	if (rv == VT_OK && (rv = copy_names(w->tags, w->ntags, &nw.tags)))
		free_strv(nw.checks, nw.nchecks);
	if (rv != VT_OK)
		return rv;
	pthread_mutex_lock(&m->mtx);
	vt__window *a =
	    realloc(m->windows, (m->nwindows + 1) * sizeof(*m->windows));
	if (a != NULL) {
		m->windows = a;
		m->windows[m->nwindows++] = nw;
	}
	pthread_mutex_unlock(&m->mtx);
	if (a == NULL) {
		free_strv(nw.checks, nw.nchecks);
		free_strv(nw.tags, nw.ntags);
		return VT_ENOMEM;
	}
	return VT_OK;
}

static bool same_target(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

vt_err vt__maint_silence(vt__maint *m, const char *name, double until)
{
	char *copy = NULL;
	if (name != NULL && (copy = strdup(name)) == NULL)
		return VT_ENOMEM;
	vt_err rv = VT_OK;
	pthread_mutex_lock(&m->mtx);
	size_t i = 0;
	while (i < m->nsilences && !same_target(m->silences[i].name, name))
		i++;
	if (i < m->nsilences) {
		m->silences[i].until = until;
		free(copy);
	} else {
		vt__silence *a = realloc(m->silences, (m->nsilences + 1) *
							  sizeof(*m->silences));
		if (a == NULL) {
			free(copy);
			rv = VT_ENOMEM;
		} else {
			m->silences = a;
			m->silences[m->nsilences++] =
			    (vt__silence){.name = copy, .until = until};
		}
	}
	pthread_mutex_unlock(&m->mtx);
	return rv;
}

/* Removes silence i. Locks: caller holds m->mtx. */
static void drop_silence(vt__maint *m, size_t i)
{
	free(m->silences[i].name);
	m->silences[i] = m->silences[--m->nsilences];
}

vt_err vt__maint_unsilence(vt__maint *m, const char *name)
{
	vt_err rv = VT_ENOENT;
	double now = vt__wall_s();
	pthread_mutex_lock(&m->mtx);
	for (size_t i = 0; i < m->nsilences;) {
		if (name == NULL || same_target(m->silences[i].name, name)) {
			if (m->silences[i].until > now)
				rv = VT_OK;
			drop_silence(m, i);
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&m->mtx);
	return name == NULL ? VT_OK : rv;
}

static bool in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* True if window w applies to the check (name, tags). */
static bool window_selects(const vt__window *w, const char *name,
			   const char *const *tags, size_t ntags)
{
	if (w->nchecks == 0 && w->ntags == 0)
		return true;
	if (in_list(w->checks, w->nchecks, name))
		return true;
	for (size_t i = 0; i < ntags; i++)
		if (in_list(w->tags, w->ntags, tags[i]))
			return true;
	return false;
}

/* Locks: caller holds m->mtx. */
static bool active_locked(vt__maint *m, const char *name,
			  const char *const *tags, size_t ntags, double now)
{
	for (size_t i = 0; i < m->nsilences;) {
		const vt__silence *s = &m->silences[i];
		if (s->until <= now) {
			drop_silence(m, i);
			continue;
		}
		if (s->name == NULL || strcmp(s->name, name) == 0)
			return true;
		i++;
	}
	for (size_t i = 0; i < m->nwindows; i++) {
		const vt__window *w = &m->windows[i];
		if (window_selects(w, name, tags, ntags) &&
		    vt__window_covers(w->start, w->duration_ms, w->every, now))
			return true;
	}
	return false;
}

bool vt__maint_active(vt__maint *m, const char *name, const char *const *tags,
		      size_t ntags, double now)
{
	pthread_mutex_lock(&m->mtx);
	bool on = active_locked(m, name, tags, ntags, now);
	pthread_mutex_unlock(&m->mtx);
	return on;
}

void vt__maint_mark(vt__maint *m, vt_health_snapshot *s, double now)
{
	pthread_mutex_lock(&m->mtx);
	if (m->nwindows > 0 || m->nsilences > 0) {
		vt_component *c = (vt_component *)s->components;
		for (size_t i = 0; i < s->ncomponents; i++)
			c[i].maintenance = active_locked(
			    m, c[i].name, c[i].tags, c[i].ntags, now);
	}
	pthread_mutex_unlock(&m->mtx);
}

/* ---- the registry's calls (vitals/health.h) ---------------------- */

vt_err vt_health_add_maintenance(vt_health *h, const vt_maintenance_window *w)
{
	if (h == NULL)
		return VT_EINVAL;
	return vt__maint_add(&h->maint, w);
}

/* Bumps the registry's epoch after a change, so that cached answers
 * show it. Locks: takes h->mtx (the epoch's writers hold it). */
static void bump(vt_health *h)
{
	pthread_mutex_lock(&h->mtx);
	atomic_fetch_add(&h->epoch, 1);
	pthread_mutex_unlock(&h->mtx);
}

static vt_err exists(vt_health *h, vt__check *c, void *ctx)
{
	(void)h;
	(void)c;
	(void)ctx;
	return VT_OK;
}

vt_err vt_health_silence(vt_health *h, const char *name, int64_t duration_ms)
{
	if (h == NULL || duration_ms <= 0)
		return VT_EINVAL;
	if (name != NULL) {
		vt_err rv = vt__health_visit(h, name, exists, NULL);
		if (rv != VT_OK)
			return rv;
	}
	vt_err rv = vt__maint_silence(
	    &h->maint, name, vt__wall_s() + (double)duration_ms / 1000.0);
	bump(h);
	return rv;
}

vt_err vt_health_unsilence(vt_health *h, const char *name)
{
	if (h == NULL)
		return VT_EINVAL;
	if (name != NULL) {
		vt_err rv = vt__health_visit(h, name, exists, NULL);
		if (rv != VT_OK)
			return rv;
	}
	(void)vt__maint_unsilence(&h->maint, name); /* none: fine too */
	bump(h);
	return VT_OK;
}

bool vt_health_in_maintenance(vt_health *h, const char *name,
			      const char *const *tags, size_t ntags)
{
	if (h == NULL || name == NULL)
		return false;
	return vt__maint_active(&h->maint, name, tags, ntags, vt__wall_s());
}
