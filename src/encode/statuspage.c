/*
 * statuspage.c - the status page (GET / and /status): one self-contained
 * HTML document from a health snapshot and each check's history summary.
 *
 * No external assets: inline CSS (light and dark by prefers-color-scheme,
 * one column on a narrow screen), inline SVG charts, a meta refresh every
 * 30 s. Status is always a word beside its colour. Each check has a
 * 24-segment bar (one per hour; the title attribute, shown on hover,
 * gives the hour, worst status, counts and the hour's last error),
 * uptime for 24 h / 7 d / 30 d, a chart of mean and max response time per
 * hour, and its last error. Callers without the token (withhold) get
 * statuses, bars and uptime, never an error text or timing.
 *
 * Stable hooks for tests and scrapers: each check is
 * <section class="check" data-check="NAME" data-status="healthy">, with
 * .status, .uptime-24h/.uptime-7d/.uptime-30d and .error inside.
 */
#include "encode/statuspage.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "encode/textfmt.h"

#define LIT	   VT__TW_LIT
#define PAGE_LIMIT ((size_t)16 << 20)

static void html(vt__tw *w, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			LIT(w, "&lt;");
			break;
		case '>':
			LIT(w, "&gt;");
			break;
		case '&':
			LIT(w, "&amp;");
			break;
		case '"':
			LIT(w, "&quot;");
			break;
		case '\'':
			LIT(w, "&#39;");
			break;
		default:
			vt__tw_put(w, s, 1);
		}
	}
}

static void printfw(vt__tw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void printfw(vt__tw *w, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		vt__tw_put(w, tmp,
			   (size_t)n < sizeof(tmp) ? (size_t)n
						   : sizeof(tmp) - 1);
}

static void utc(char *dst, size_t n, double t, const char *fmt)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(dst, n, fmt, &tm);
}

static const char css[] =
    ":root{--bg:#f6f7f9;--fg:#1d2330;--card:#fff;--mute:#667085;"
    "--line:#e3e6ea;--ok:#1f9d55;--warn:#c77c02;--bad:#d03b3b;"
    "--none:#cfd4da;--maint:#5b7fd6}"
    "@media(prefers-color-scheme:dark){:root{--bg:#11151c;--fg:#e6e9ef;"
    "--card:#1a2029;--mute:#98a2b3;--line:#2a313c;--ok:#37c47a;"
    "--warn:#e5a532;--bad:#f06363;--none:#3a424e;--maint:#7f9cf0}}"
    "*{box-sizing:border-box}body{margin:0;background:var(--bg);"
    "color:var(--fg);font:15px/1.45 system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif}main{max-width:980px;margin:0 auto;padding:20px}"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:12px;"
    "justify-content:space-between;margin-bottom:16px}"
    "h1{font-size:22px;margin:0}.overall{font-size:17px;font-weight:600;"
    "padding:8px 14px;border-radius:8px;color:#fff}"
    ".healthy{background:var(--ok)}.degraded{background:var(--warn)}"
    ".unhealthy{background:var(--bad)}.check{background:var(--card);"
    "border:1px solid var(--line);border-radius:10px;padding:14px 16px;"
    "margin-bottom:12px}.row{display:flex;flex-wrap:wrap;gap:8px 16px;"
    "align-items:center;justify-content:space-between}"
    ".left{display:flex;gap:10px;align-items:center;flex-wrap:wrap}"
    ".name{font-weight:600;font-size:16px;word-break:break-all}"
    ".status{font-size:13px;font-weight:600;color:#fff;padding:2px 10px;"
    "border-radius:99px;text-transform:uppercase;letter-spacing:.03em}"
    ".up{display:flex;gap:14px;font-size:13px;color:var(--mute)}"
    ".up b{color:var(--fg);font-variant-numeric:tabular-nums}"
    ".bar{display:flex;gap:2px;margin:10px 0 4px;height:26px}"
    ".bar span{flex:1;border-radius:3px;background:var(--none)}"
    ".bar span:hover{outline:2px solid var(--fg)}"
    ".bar .s0{background:var(--ok)}.bar .s1{background:var(--warn)}"
    ".bar .s2{background:var(--bad)}.bar .sm{background:var(--maint)}"
    ".axis{display:flex;justify-content:space-between;font-size:11px;"
    "color:var(--mute)}.chart{width:100%;height:56px;margin-top:6px}"
    ".chart .avg{fill:none;stroke:var(--maint);stroke-width:1.5}"
    ".chart .dot{fill:var(--maint)}.chart "
    ".max{fill:none;stroke:var(--mute);stroke-width:1;"
    "stroke-dasharray:3 3}.meta{font-size:12px;color:var(--mute);"
    "margin-top:6px}.error{font-size:13px;color:var(--bad);margin-top:6px;"
    "word-break:break-word}.maint{font-size:12px;color:#fff;"
    "background:var(--maint);padding:2px 8px;border-radius:99px}"
    "footer{font-size:12px;color:var(--mute);margin-top:18px}"
    "@media(max-width:600px){main{padding:12px}.up{width:100%;"
    "justify-content:space-between}.bar{height:22px;gap:1px}}";

static void uptime_cell(vt__tw *w, const char *cls, const char *label, double v)
{
	printfw(w, "<span>%s <b class=\"%s\">", label, cls);
	if (v >= 0)
		printfw(w, "%.2f%%", floor(v * 10000.0) / 100.0);
	else
		LIT(w, "&ndash;");
	LIT(w, "</b></span>");
}

/* The worst status of a segment (-1 none, 3 only maintenance). */
static int seg_class(const vt_history_segment *s)
{
	if (s->n == 0)
		return -1;
	if (s->n_unhealthy > 0)
		return 2;
	if (s->n_degraded > 0)
		return 1;
	return s->n_maint == s->n ? 3 : 0;
}

static void bar(vt__tw *w, const vt_history_summary *sum, bool withhold)
{
	static const char *const words[] = {"healthy", "degraded", "unhealthy",
					    "maintenance"};
	LIT(w, "<div class=\"bar\">");
	for (int i = 0; i < VT_HISTORY_BAR; i++) {
		const vt_history_segment *s = &sum->bar[i];
		int k = seg_class(s);
		char from[32], to[32];
		utc(from, sizeof(from), s->start, "%b %d %H:%M");
		utc(to, sizeof(to), s->start + 3600, "%H:%M UTC");
		printfw(w, "<span class=\"%s\" title=\"%s&ndash;%s: ",
			k < 0 ? "sn"
			      : (const char *[]){"s0", "s1", "s2", "sm"}[k],
			from, to);
		if (k < 0) {
			LIT(w, "no data\"></span>");
			continue;
		}
		printfw(w, "%s, %u results (%u degraded, %u unhealthy",
			words[k], s->n, s->n_degraded, s->n_unhealthy);
		if (s->n_maint > 0)
			printfw(w, ", %u in maintenance", s->n_maint);
		LIT(w, ")");
		if (!withhold && s->error[0] != '\0') {
			LIT(w, "&#10;last error: ");
			html(w, s->error);
		}
		LIT(w, "\"></span>");
	}
	LIT(w, "</div><div class=\"axis\"><span>24 h ago</span>"
	       "<span>now</span></div>");
}

/* Mean (solid) and max (dashed) response time per hour, inline SVG. */
static void chart(vt__tw *w, const vt_history_summary *sum)
{
	double top = 0;
	for (int i = 0; i < VT_HISTORY_BAR; i++)
		if (sum->bar[i].n > 0 && sum->bar[i].max_ms > top)
			top = sum->bar[i].max_ms;
	if (top <= 0)
		return;
	LIT(w, "<svg class=\"chart\" viewBox=\"0 0 240 56\" "
	       "preserveAspectRatio=\"none\" role=\"img\"><title>response "
	       "time per hour</title>");
	const char *cls[] = {"avg", "max"};
	for (int line = 0; line < 2; line++) {
		printfw(w,
			"<polyline class=\"%s\" "
			"vector-effect=\"non-scaling-stroke\" points=\"",
			cls[line]);
		for (int i = 0; i < VT_HISTORY_BAR; i++) {
			const vt_history_segment *s = &sum->bar[i];
			if (s->n == 0)
				continue;
			double v = line == 0 ? s->avg_ms : s->max_ms;
			printfw(w, "%.1f,%.1f ", i * 240.0 / 23.0,
				52.0 - v / top * 48.0);
		}
		LIT(w, "\"/>");
	}
	for (int i = 0; i < VT_HISTORY_BAR; i++)
		if (sum->bar[i].n > 0)
			printfw(w,
				"<circle class=\"dot\" cx=\"%.1f\" "
				"cy=\"%.1f\" r=\"1.6\"/>",
				i * 240.0 / 23.0,
				52.0 - sum->bar[i].avg_ms / top * 48.0);
	LIT(w, "</svg>");
	printfw(w,
		"<div class=\"meta\">response time: max %.1f ms in 24 h "
		"(solid: mean per hour, dashed: max)</div>",
		top);
}

static void check_section(vt__tw *w, const vt_component *c,
			  const vt_history_summary *sum, bool withhold)
{
	const char *st = vt_status_name(c->status);
	LIT(w, "<section class=\"check\" data-check=\"");
	html(w, c->name);
	printfw(w,
		"\" data-status=\"%s\"><div class=\"row\"><span "
		"class=\"left\"><span class=\"name\">",
		st);
	html(w, c->name);
	printfw(w, "</span><span class=\"status %s\">%s</span>", st, st);
	if (c->maintenance)
		LIT(w, "<span class=\"maint\">maintenance</span>");
	LIT(w, "</span><span class=\"up\">");
	uptime_cell(w, "uptime-24h", "24 h", sum != NULL ? sum->uptime[1] : -1);
	uptime_cell(w, "uptime-7d", "7 d", sum != NULL ? sum->uptime[2] : -1);
	uptime_cell(w, "uptime-30d", "30 d", sum != NULL ? sum->uptime[3] : -1);
	LIT(w, "</span></div>");
	if (sum != NULL) {
		bar(w, sum, withhold);
		if (!withhold)
			chart(w, sum);
	}
	if (c->last_check_time > 0) {
		char when[40];
		utc(when, sizeof(when), c->last_check_time,
		    "%Y-%m-%d %H:%M:%S UTC");
		printfw(w, "<div class=\"meta\">last check %s", when);
		if (!withhold)
			printfw(w, " &middot; %.1f ms", c->duration_ms);
		LIT(w, "</div>");
	}
	if (c->error != NULL) {
		LIT(w, "<div class=\"error\">last error: ");
		html(w, c->error);
		LIT(w, "</div>");
	}
	LIT(w, "</section>");
}

vt_err vt__statuspage_html(const vt_health_snapshot *s,
			   const vt_history_summary *sums, bool withhold,
			   char **out, size_t *len)
{
	if (s == NULL || out == NULL || len == NULL ||
	    (s->ncomponents > 0 && s->components == NULL))
		return VT_EINVAL;
	vt_buf b;
	vt__tw w;
	vt__buf_init(&b, PAGE_LIMIT);
	vt__tw_init(&w, &b);
	const char *st = vt_status_name(s->status);
	LIT(&w,
	    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width,"
	    "initial-scale=1\"><meta http-equiv=\"refresh\" content=\"30\">"
	    "<meta name=\"color-scheme\" content=\"light dark\">");
	printfw(&w, "<title>vitals: %s</title><style>", st);
	vt__tw_puts(&w, css);
	LIT(&w, "</style></head><body><main><header><h1>Service status</h1>");
	printfw(&w,
		"<span class=\"overall %s\" id=\"overall\">%s</span>"
		"</header>",
		st,
		s->status == VT_HEALTHY	   ? "All systems healthy"
		: s->status == VT_DEGRADED ? "Degraded"
					   : "Unhealthy");
	for (size_t i = 0; i < s->ncomponents; i++)
		check_section(&w, &s->components[i],
			      sums != NULL ? &sums[i] : NULL, withhold);
	char when[40];
	utc(when, sizeof(when), s->timestamp, "%Y-%m-%d %H:%M:%S UTC");
	printfw(&w,
		"<footer>%zu checks &middot; updated %s &middot; "
		"refreshes every 30 s &middot; bars: one segment per "
		"hour, hover for details</footer></main></body></html>\n",
		s->ncomponents, when);
	vt__tw_flush(&w);
	return vt__buf_take(&b, out, len);
}
