/*
 * engine.c - vt_notify: the notifiers, and the watcher thread that
 * turns a registry's results into messages in the outbox.
 *
 * The watcher wakes every poll_ms. When the registry's epoch moved (a
 * result was recorded), or at least once a second (staleness and
 * maintenance windows change with time alone), it reads the cached
 * snapshot - running nothing - and takes each component whose
 * last_check_time moved (or that just went stale) as a new result. A
 * component under maintenance is skipped. Each notifier that selects the
 * check feeds the result to its rules (rules.c); a message that is due
 * passes the notifier's rate limit or is held back for the next summary,
 * is rendered (telegram.c / webhook.c), committed to the outbox with a
 * fresh delivery id, and its sender is woken. Reminders are looked at on
 * every wake. Alert states are saved with every message, so a restart
 * resumes them.
 *
 * A result recorded before vt_notify_start (one restored from the
 * history after a restart) is not news: the saved alert states say what
 * was last told about it, and feeding it again would repeat a message
 * (or, when the history lags the outbox at a kill -9, announce an
 * outage that was already resolved). Only later results are fed.
 *
 * Two results of one check recorded within one poll_ms count as one:
 * thresholds count results seen, which with poll_ms below the checks'
 * intervals is every result.
 *
 * Locks: n->mtx guards the stop flag; everything else belongs to the
 * watcher thread once started (see notify_int.h for the order).
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "checks/httpreq.h"
#include "core/thread_name.h"
#include "health/check.h"
#include "health/registry.h"
#include "notify/notify_int.h"

#define DEFAULT_POLL_MS	   200
#define FORCED_LOOK_NS	   1000000000LL
#define DEFAULT_API_URL	   "https://api.telegram.org"
#define MAX_NOTIFIERS	   64
#define DEFAULT_RATE_LIMIT 20

/* What the watcher knows of one check. */
typedef struct track {
	char *name;
	double last_time; /* last_check_time of the last result seen */
	bool stale;
	bool maintenance;   /* as of the last look */
	vt__rule_state *st; /* [nnotifiers] */
} track;

struct vt_notify {
	vt_health *h;	/* immutable */
	vt__outbox *ob; /* immutable; thread-safe */
	int poll_ms;
	vt_notify_log_fn log;
	void *log_arg;
	vt__notifier *nfs[MAX_NOTIFIERS]; /* immutable after start */
	size_t nnfs;

	pthread_mutex_t mtx;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	bool stop;	   /* protected by mtx */
	bool started;
	pthread_t watcher;

	/* watcher thread only */
	track *tracks;
	size_t ntracks, cap;
	uint64_t epoch;
	int64_t last_look_ns;
	double start_wall; /* wall clock at vt_notify_start */
};

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static vt_err copy_strv(const char *const *v, size_t n, char ***out)
{
	*out = NULL;
	if (n == 0)
		return VT_OK;
	if (v == NULL)
		return VT_EINVAL;
	char **c = calloc(n, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == NULL || (c[i] = strdup(v[i])) == NULL) {
			free_strv(c, i);
			return v[i] == NULL ? VT_EINVAL : VT_ENOMEM;
		}
	}
	*out = c;
	return VT_OK;
}

static void notifier_free(vt__notifier *nf)
{
	if (nf == NULL)
		return;
	free(nf->name);
	free(nf->token);
	free(nf->chat_id);
	free(nf->api_url);
	free(nf->url);
	free(nf->secret);
	free_strv(nf->headers, nf->nheaders);
	free_strv(nf->checks, nf->nchecks);
	free_strv(nf->tags, nf->ntags);
	vt__rate_fini(&nf->rate);
	for (size_t i = 0; i < nf->nheld; i++)
		free(nf->held[i].check);
	free(nf->held);
	free(nf);
}

vt_err vt_notify_alloc(vt_notify **out, const vt_notify_opts *opts)
{
	if (out == NULL || opts == NULL || opts->health == NULL ||
	    opts->poll_ms < 0)
		return VT_EINVAL;
	vt_notify *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return VT_ENOMEM;
	char err[512];
	vt_err rv = vt__outbox_open(&n->ob, opts->state_path, err, sizeof(err));
	if (rv != VT_OK) {
		if (opts->log != NULL)
			opts->log(err, opts->log_arg);
		free(n);
		return rv;
	}
	n->h = opts->health;
	n->poll_ms = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
	n->log = opts->log;
	n->log_arg = opts->log_arg;
	pthread_mutex_init(&n->mtx, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &a);
	pthread_condattr_destroy(&a);
	*out = n;
	return VT_OK;
}

static bool header_valid(const char *s)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL || colon == s)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			return false;
	return true;
}

/* VT_OK if o is usable. */
static vt_err opts_check(const vt_notifier_opts *o)
{
	if (!vt_check_name_valid(o->name) || o->failure_threshold < 0 ||
	    o->success_threshold < 0 || o->remind_ms < 0 || o->rate_limit < 0 ||
	    o->rate_window_ms < 0 || o->timeout_ms < 0 || o->retry_min_ms < 0 ||
	    o->retry_max_ms < 0 ||
	    (o->on & ~(VT_ON_UNHEALTHY | VT_ON_DEGRADED | VT_ON_RESOLVED)))
		return VT_EINVAL;
	if (o->type == VT_NOTIFIER_TELEGRAM) {
		if (o->token == NULL || o->token[0] == '\0' ||
		    strpbrk(o->token, "/?#@ \r\n") != NULL ||
		    o->chat_id == NULL || o->chat_id[0] == '\0')
			return VT_EINVAL;
		if (o->api_url != NULL && vt__http_url_check(o->api_url))
			return VT_EINVAL;
	} else if (o->type == VT_NOTIFIER_WEBHOOK) {
		if (o->url == NULL || vt__http_url_check(o->url) != VT_OK ||
		    (o->secret != NULL && o->secret[0] == '\0'))
			return VT_EINVAL;
		for (size_t i = 0; i < o->nheaders; i++)
			if (o->headers == NULL || !header_valid(o->headers[i]))
				return VT_EINVAL;
	} else {
		return VT_EINVAL;
	}
	for (size_t i = 0; i < o->nchecks; i++)
		if (o->checks == NULL || !vt_check_name_valid(o->checks[i]))
			return VT_EINVAL;
	for (size_t i = 0; i < o->ntags; i++)
		if (o->tags == NULL || !vt_check_name_valid(o->tags[i]))
			return VT_EINVAL;
	return VT_OK;
}

static char *dup_opt(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

/* A copy of o with defaults filled in, in *out. */
static vt_err notifier_make(vt_notify *n, const vt_notifier_opts *o,
			    vt__notifier **out)
{
	vt__notifier *nf = calloc(1, sizeof(*nf));
	if (nf == NULL)
		return VT_ENOMEM;
	bool oom = false;
	nf->name = dup_opt(o->name, &oom);
	nf->type = o->type;
	nf->token = dup_opt(o->token, &oom);
	nf->chat_id = dup_opt(o->chat_id, &oom);
	nf->url = dup_opt(o->url, &oom);
	nf->secret = dup_opt(o->secret, &oom);
	if (o->type == VT_NOTIFIER_TELEGRAM) {
		const char *api =
		    o->api_url != NULL ? o->api_url : DEFAULT_API_URL;
		size_t len = strlen(api);
		while (len > 0 && api[len - 1] == '/')
			len--; /* "{api_url}/bot..." with one slash */
		if ((nf->api_url = strndup(api, len)) == NULL)
			oom = true;
	}
	vt_err rv = VT_OK;
	nf->nheaders = o->nheaders;
	nf->nchecks = o->nchecks;
	nf->ntags = o->ntags;
	if (oom || (rv = copy_strv(o->headers, o->nheaders, &nf->headers)) ||
	    (rv = copy_strv(o->checks, o->nchecks, &nf->checks)) ||
	    (rv = copy_strv(o->tags, o->ntags, &nf->tags)))
		goto fail;
	nf->rule.on = o->on != 0 ? o->on : VT_ON_UNHEALTHY | VT_ON_RESOLVED;
	nf->rule.failure_threshold =
	    o->failure_threshold > 0 ? o->failure_threshold : 1;
	nf->rule.success_threshold =
	    o->success_threshold > 0 ? o->success_threshold : 1;
	nf->rule.remind_ms = o->remind_ms;
	nf->rate_limit = o->rate_limit > 0 ? o->rate_limit : DEFAULT_RATE_LIMIT;
	nf->rate_window_ms = o->rate_window_ms > 0 ? o->rate_window_ms : 60000;
	nf->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	nf->retry_min_ms = o->retry_min_ms > 0 ? o->retry_min_ms : 1000;
	nf->retry_max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : 300000;
	if ((rv = vt__rate_init(&nf->rate, nf->rate_limit,
				(double)nf->rate_window_ms / 1000.0)))
		goto fail;
	nf->ob = n->ob;
	nf->log = n->log;
	nf->log_arg = n->log_arg;
	*out = nf;
	return VT_OK;
fail:
	notifier_free(nf);
	return oom ? VT_ENOMEM : rv;
}

vt_err vt_notify_add(vt_notify *n, const vt_notifier_opts *o)
{
	if (n == NULL || o == NULL || n->started)
		return VT_EINVAL;
	vt_err rv = opts_check(o);
	if (rv != VT_OK)
		return rv;
	for (size_t i = 0; i < n->nnfs; i++)
		if (strcmp(n->nfs[i]->name, o->name) == 0)
			return VT_EEXIST;
	if (n->nnfs == MAX_NOTIFIERS)
		return VT_EFULL;
	vt__notifier *nf;
	if ((rv = notifier_make(n, o, &nf)) != VT_OK)
		return rv;
	n->nfs[n->nnfs++] = nf;
	return VT_OK;
}

/* True if nf selects component c. */
static bool selects(const vt__notifier *nf, const vt_component *c)
{
	if (nf->nchecks == 0 && nf->ntags == 0)
		return true;
	for (size_t i = 0; i < nf->nchecks; i++)
		if (strcmp(nf->checks[i], c->name) == 0)
			return true;
	for (size_t i = 0; i < nf->ntags; i++)
		for (size_t j = 0; j < c->ntags; j++)
			if (strcmp(nf->tags[i], c->tags[j]) == 0)
				return true;
	return false;
}

/* A fresh delivery id: 32 random hex digits. */
static void new_id(char out[33])
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof(r)) != 1) {
		/* Unique enough for one process: time and a counter. */
		static _Atomic uint64_t ctr;
		uint64_t a = (uint64_t)vt__mono_ns(), b = ctr++;
		memcpy(r, &a, 8);
		memcpy(r + 8, &b, 8);
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static const char *kind_name(vt__alert_kind k)
{
	return k == VT__ALERT_TRIGGERED	 ? "triggered"
	       : k == VT__ALERT_RESOLVED ? "resolved"
					 : "reminder";
}

/* Commits payload to nf's outbox and wakes its sender. */
static void enqueue(vt__notifier *nf, const char *id, const char *check,
		    const char *kind, char *payload)
{
	if (payload == NULL) {
		vt__notifier_log(nf, "%s message for %s: out of memory", kind,
				 check != NULL ? check : "-");
		return;
	}
	vt_err rv = vt__outbox_put(nf->ob, nf->name, id, check, kind, payload);
	free(payload);
	if (rv != VT_OK)
		vt__notifier_log(nf, "%s message for %s lost: %s", kind,
				 check != NULL ? check : "-", vt_strerror(rv));
	else
		vt__sender_wake(&nf->sender);
}

/* Sends the summary of held-back messages if the rate limit allows. */
static void flush_held(vt__notifier *nf, double now)
{
	if (nf->nheld == 0 || !vt__rate_take(&nf->rate, now))
		return;
	char id[33];
	new_id(id);
	char *payload =
	    nf->type == VT_NOTIFIER_TELEGRAM
		? vt__telegram_summary(nf->held, nf->nheld, nf->rate_limit,
				       (double)nf->rate_window_ms / 1000.0)
		: vt__webhook_summary(nf->held, nf->nheld, id, now);
	enqueue(nf, id, NULL, "summary", payload);
	for (size_t i = 0; i < nf->nheld; i++)
		free(nf->held[i].check);
	free(nf->held);
	nf->held = NULL;
	nf->nheld = 0;
}

/* Counts a message about check that the rate limit held back. */
static void hold(vt__notifier *nf, const char *check, vt_status st)
{
	for (size_t i = 0; i < nf->nheld; i++) {
		if (strcmp(nf->held[i].check, check) == 0) {
			nf->held[i].count++;
			nf->held[i].status = st;
			return;
		}
	}
	vt__held *a = realloc(nf->held, (nf->nheld + 1) * sizeof(*a));
	char *c = strdup(check);
	if (a == NULL || c == NULL) {
		free(c);
		if (a != NULL)
			nf->held = a;
		return;
	}
	nf->held = a;
	nf->held[nf->nheld++] =
	    (vt__held){.check = c, .count = 1, .status = st};
}

/* Emits alert al of check (error may be NULL) through nf. */
static void emit(vt__notifier *nf, const char *check, const char *error,
		 const vt__alert *al)
{
	flush_held(nf, al->time);
	if (!vt__rate_take(&nf->rate, al->time)) {
		hold(nf, check, al->status);
		return;
	}
	vt__msg m = {.kind = al->kind,
		     .check = check,
		     .status = al->status,
		     .previous = al->previous,
		     .error = al->kind == VT__ALERT_RESOLVED ? NULL : error,
		     .time = al->time,
		     .since = al->since};
	char id[33];
	new_id(id);
	char *payload = nf->type == VT_NOTIFIER_TELEGRAM
			    ? vt__telegram_text(&m)
			    : vt__webhook_body(&m, id);
	enqueue(nf, id, check, kind_name(al->kind), payload);
}

/* The track of check name, created (with saved states) if new; *created
 * tells which. */
static track *track_of(vt_notify *n, const char *name, bool *created)
{
	*created = false;
	for (size_t i = 0; i < n->ntracks; i++)
		if (strcmp(n->tracks[i].name, name) == 0)
			return &n->tracks[i];
	if (n->ntracks == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;
		track *a = realloc(n->tracks, cap * sizeof(*a));
		if (a == NULL)
			return NULL;
		n->tracks = a;
		n->cap = cap;
	}
	track t = {.name = strdup(name)};
	t.st = calloc(n->nnfs > 0 ? n->nnfs : 1, sizeof(*t.st));
	if (t.name == NULL || t.st == NULL) {
		free(t.name);
		free(t.st);
		return NULL;
	}
	for (size_t i = 0; i < n->nnfs; i++) {
		t.st[i] = (vt__rule_state)VT__RULE_STATE_INIT;
		vt__outbox_load_state(n->ob, n->nfs[i]->name, name, &t.st[i]);
	}
	n->tracks[n->ntracks] = t;
	*created = true;
	return &n->tracks[n->ntracks++];
}

/* Feeds component c, a new result, to every notifier selecting it. */
static void feed(vt_notify *n, track *t, const vt_component *c, double now)
{
	for (size_t i = 0; i < n->nnfs; i++) {
		vt__notifier *nf = n->nfs[i];
		if (!selects(nf, c))
			continue;
		int before = t->st[i].alerted;
		vt__alert al;
		bool due =
		    vt__rule_result(&nf->rule, &t->st[i], c->status, now, &al);
		if (due)
			emit(nf, c->name, c->error, &al);
		if (due || t->st[i].alerted != before)
			vt__outbox_save_state(n->ob, nf->name, c->name,
					      &t->st[i]);
	}
}

/* Reads the cache and feeds new results. */
static void look(vt_notify *n, double now)
{
	vt_health_snapshot *s = NULL;
	if (vt_health_run(n->h, NULL, VT_RUN_CACHED, &s) != VT_OK)
		return;
	for (size_t i = 0; i < s->ncomponents; i++) {
		const vt_component *c = &s->components[i];
		if (c->last_check_time == 0)
			continue; /* never ran: "no result yet" is no news */
		bool created;
		track *t = track_of(n, c->name, &created);
		if (t == NULL)
			continue;
		bool restored = created && c->last_check_time < n->start_wall;
		bool fresh = !restored && (c->last_check_time != t->last_time ||
					   (c->stale && !t->stale));
		t->last_time = c->last_check_time;
		t->stale = c->stale;
		t->maintenance = c->maintenance;
		if (fresh && !c->maintenance)
			feed(n, t, c, now);
	}
	vt_health_snapshot_free(s);
}

/* Reminders and summaries due at now. */
static void tick(vt_notify *n, double now)
{
	for (size_t i = 0; i < n->nnfs; i++) {
		vt__notifier *nf = n->nfs[i];
		for (size_t j = 0; j < n->ntracks; j++) {
			track *t = &n->tracks[j];
			vt__alert al;
			if (t->maintenance ||
			    !vt__rule_tick(&nf->rule, &t->st[i], now, &al))
				continue;
			emit(nf, t->name, NULL, &al);
			vt__outbox_save_state(n->ob, nf->name, t->name,
					      &t->st[i]);
		}
		flush_held(nf, now);
	}
}

static void *watcher_main(void *arg)
{
	vt_notify *n = arg;
	vt__thread_name_self("vt-alerts");
	pthread_mutex_lock(&n->mtx);
	while (!n->stop) {
		pthread_mutex_unlock(&n->mtx);
		int64_t mono = vt__mono_ns();
		uint64_t ep = vt__health_epoch(n->h);
		double now = vt__wall_s();
		if (ep != n->epoch ||
		    mono - n->last_look_ns >= FORCED_LOOK_NS) {
			n->epoch = ep;
			n->last_look_ns = mono;
			look(n, now);
		}
		tick(n, now);
		pthread_mutex_lock(&n->mtx);
		struct timespec ts =
		    vt__mono_ts(vt__mono_ns() + (int64_t)n->poll_ms * 1000000);
		if (!n->stop)
			pthread_cond_timedwait(&n->cv, &n->mtx, &ts);
	}
	pthread_mutex_unlock(&n->mtx);
	return NULL;
}

vt_err vt_notify_start(vt_notify *n)
{
	if (n == NULL || n->started)
		return VT_EINVAL;
	size_t i = 0;
	vt_err rv = VT_OK;
	for (; i < n->nnfs; i++)
		if ((rv = vt__sender_start(&n->nfs[i]->sender, n->nfs[i])))
			goto fail;
	n->epoch = vt__health_epoch(n->h) - 1; /* look at once */
	n->start_wall = vt__wall_s();
	if (pthread_create(&n->watcher, NULL, watcher_main, n) != 0) {
		rv = VT_EIO;
		goto fail;
	}
	n->started = true;
	return VT_OK;
fail:
	while (i-- > 0)
		vt__sender_stop(&n->nfs[i]->sender);
	return rv;
}

void vt_notify_free(vt_notify *n)
{
	if (n == NULL)
		return;
	if (n->started) {
		pthread_mutex_lock(&n->mtx);
		n->stop = true;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mtx);
		pthread_join(n->watcher, NULL);
	}
	for (size_t i = 0; i < n->nnfs; i++) {
		vt__sender_stop(&n->nfs[i]->sender);
		notifier_free(n->nfs[i]);
	}
	for (size_t i = 0; i < n->ntracks; i++) {
		free(n->tracks[i].name);
		free(n->tracks[i].st);
	}
	free(n->tracks);
	vt__outbox_close(n->ob);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mtx);
	free(n);
}

size_t vt_notify_pending(vt_notify *n)
{
	return n != NULL ? vt__outbox_count(n->ob, NULL) : 0;
}
