/*
 * process.c - the process' own metrics under Prometheus' standard names,
 * read from /proc at scrape time (as client_golang's process collector):
 *
 *   process_cpu_seconds_total      counter  user + system CPU time
 *   process_resident_memory_bytes  gauge    RSS
 *   process_virtual_memory_bytes   gauge    virtual size
 *   process_open_fds               gauge    entries of /proc/self/fd
 *   process_max_fds                gauge    soft RLIMIT_NOFILE
 *   process_start_time_seconds     gauge    Unix time the process started
 *   process_threads                gauge    threads
 *
 * vt_metrics_process_update sets them in a registry just before it is
 * read. The counter only adds: it is raised to the CPU time read now
 * (its current value comes from a one-family snapshot), under one mutex
 * so that two scrapes at once do not both add the same difference.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vitals/metrics.h"

/* What one read of /proc/self finds; NaN where it could not be read. */
typedef struct proc_stat {
	double cpu, rss, vsize, threads, start, open_fds, max_fds;
} proc_stat;

static pthread_mutex_t cpu_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Reads the whole small file path into buf (NUL-terminated); false on
 * error. */
static bool read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0;
}

/* The boot time from /proc/stat's "btime"; NaN when absent. */
static double boot_time(void)
{
	static char buf[16384]; /* under cpu_mtx */
	if (!read_small("/proc/stat", buf, sizeof(buf)))
		return NAN;
	const char *p = strstr(buf, "\nbtime ");
	if (p == NULL)
		return NAN;
	char *end;
	double v = strtod(p + 7, &end);
	return end == p + 7 ? NAN : v;
}

/* Fields 14 (utime), 15 (stime), 20 (num_threads), 22 (starttime),
 * 23 (vsize) and 24 (rss) of /proc/self/stat, counted after the command
 * name's closing parenthesis (the name may hold spaces). */
static void read_stat(proc_stat *ps)
{
	char buf[2048];
	if (!read_small("/proc/self/stat", buf, sizeof(buf)))
		return;
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return;
	double f[25] = {0};
	int field = 3;
	for (p++; field <= 24; field++) {
		char *end;
		f[field] = strtod(p, &end);
		if (end == p) { /* the state letter, field 3 */
			while (*p == ' ')
				p++;
			while (*p != ' ' && *p != '\0')
				p++;
			if (*p == '\0')
				return;
			continue;
		}
		p = end;
	}
	double tick = (double)sysconf(_SC_CLK_TCK);
	double page = (double)sysconf(_SC_PAGESIZE);
	if (tick <= 0 || page <= 0)
		return;
	ps->cpu = (f[14] + f[15]) / tick;
	ps->threads = f[20];
	ps->start = boot_time() + f[22] / tick;
	ps->vsize = f[23];
	ps->rss = f[24] * page;
}

static void read_fds(proc_stat *ps)
{
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		double n = 0;
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		ps->open_fds = n - 1; /* not the one opendir holds */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ps->max_fds = rl.rlim_cur == RLIM_INFINITY
				  ? INFINITY
				  : (double)rl.rlim_cur;
}

static vt_err set_gauge(vt_metrics *m, const char *name, const char *help,
			double v)
{
	if (isnan(v))
		return VT_OK; /* unreadable here: leave it out or as it was */
	vt_gauge *g;
	vt_err rv = vt_metrics_gauge(m, name, help, &g);
	return rv != VT_OK ? rv : vt_gauge_set(g, v);
}

/* Raises the CPU counter of m to cpu. Locks: cpu_mtx (held by caller). */
static vt_err set_cpu(vt_metrics *m, double cpu)
{
	static const char name[] = "process_cpu_seconds_total";
	vt_counter *c;
	vt_err rv = vt_metrics_counter(
	    m, name, "Total user and system CPU time spent in seconds.", &c);
	if (rv != VT_OK || isnan(cpu))
		return rv;
	vt_metrics_filter flt = {.name = name};
	vt_metrics_snapshot *s = NULL;
	if ((rv = vt_metrics_snapshot_take(m, &flt, &s)) != VT_OK)
		return rv;
	double now = 0;
	if (s->nfamilies == 1 && s->families[0].nseries == 1)
		now = s->families[0].series[0].value;
	vt_metrics_snapshot_free(s);
	return cpu > now ? vt_counter_add(c, cpu - now) : VT_OK;
}

/* Sets the process_* metrics of m (see the top) from /proc/self.
 * Metrics that cannot be read here are left as they were. Errors of
 * registration (e.g. VT_EKIND when one of the names is taken by another
 * kind) are returned after the others are set. Thread-safe. */
vt_err vt_metrics_process_update(vt_metrics *m)
{
	if (m == NULL)
		return VT_EINVAL;
	proc_stat ps = {NAN, NAN, NAN, NAN, NAN, NAN, NAN};
	pthread_mutex_lock(&cpu_mtx);
	read_stat(&ps);
	read_fds(&ps);
	vt_err rv = set_cpu(m, ps.cpu);
	pthread_mutex_unlock(&cpu_mtx);
	struct {
		const char *name, *help;
		double v;
	} g[] = {
	    {"process_resident_memory_bytes", "Resident memory size in bytes.",
	     ps.rss},
	    {"process_virtual_memory_bytes", "Virtual memory size in bytes.",
	     ps.vsize},
	    {"process_open_fds", "Number of open file descriptors.",
	     ps.open_fds},
	    {"process_max_fds", "Maximum number of open file descriptors.",
	     ps.max_fds},
	    {"process_start_time_seconds",
	     "Start time of the process since unix epoch in seconds.",
	     ps.start},
	    {"process_threads", "Number of OS threads in the process.",
	     ps.threads},
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		vt_err r = set_gauge(m, g[i].name, g[i].help, g[i].v);
		if (rv == VT_OK)
			rv = r;
	}
	return rv;
}
