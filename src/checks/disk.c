/*
 * disk.c - the disk check: free space of the file system holding a path.
 *
 * A run calls statvfs(path) and reports free_pct = f_bavail / f_blocks
 * (space available to unprivileged users, as df shows it), free_bytes
 * and total_bytes. At or below unhealthy_free_pct the run is UNHEALTHY,
 * else at or below degraded_free_pct DEGRADED (a threshold of 0 is off).
 * A path that does not exist (or cannot be reached) is UNHEALTHY with
 * the reason; a file system that reports no size (a pseudo file system
 * such as /proc) is UNHEALTHY too, since nothing can be judged.
 *
 * statvfs() cannot be bounded by the deadline: on a hung network file
 * system it blocks, and the registry then reports the run as "timeout
 * after N ms" and discards the late result. errno becomes text in
 * vt__errno_text (core/err.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/err.h"
#include "vitals/checks.h"

typedef struct disk_check {
	/* immutable after registration */
	char *path;
	double degraded_free_pct;
	double unhealthy_free_pct;
} disk_check;

static void disk_check_free(void *arg)
{
	disk_check *c = arg;
	if (c == NULL)
		return;
	free(c->path);
	free(c);
}

static void disk_run(vt_check_result *r, void *arg)
{
	disk_check *c = arg;
	vt_result_detail_str(r, "path", c->path);
	struct statvfs sv;
	if (statvfs(c->path, &sv) != 0) {
		int err = errno;
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "%s: %s", c->path, vt__errno_text(err));
		return;
	}
	if (sv.f_blocks == 0) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "%s: file system reports a size of 0",
				c->path);
		return;
	}
	double unit = (double)(sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize);
	double total = (double)sv.f_blocks * unit;
	double avail = (double)sv.f_bavail * unit;
	double pct = 100.0 * (double)sv.f_bavail / (double)sv.f_blocks;
	vt_result_detail_num(r, "free_pct", pct);
	vt_result_detail_num(r, "free_bytes", avail);
	vt_result_detail_num(r, "total_bytes", total);
	if (c->unhealthy_free_pct > 0 && pct <= c->unhealthy_free_pct) {
		vt_result_status(r, VT_UNHEALTHY);
		vt_result_error(r, "%s: %.1f%% free, at or below %g%%", c->path,
				pct, c->unhealthy_free_pct);
	} else if (c->degraded_free_pct > 0 && pct <= c->degraded_free_pct) {
		vt_result_status(r, VT_DEGRADED);
		vt_result_error(r, "%s: %.1f%% free, at or below %g%%", c->path,
				pct, c->degraded_free_pct);
	}
}

static int pct_valid(double p)
{
	return isfinite(p) && p >= 0 && p <= 100;
}

/* Registers a disk check (see checks.h). VT_EINVAL for an empty path, a
 * threshold outside 0..100, or both thresholds set with the unhealthy one
 * above the degraded one. The path need not exist yet (a mount may come
 * later); a run reports it missing. VT_ENOMEM; the registry's errors.
 * Nothing is registered on error. Thread-safe. */
vt_err vt_check_disk_add(vt_health *h, const char *name, const vt_disk_opts *o,
			 const vt_check_opts *co)
{
	if (h == NULL || o == NULL || o->path == NULL || o->path[0] == '\0')
		return VT_EINVAL;
	if (!pct_valid(o->degraded_free_pct) ||
	    !pct_valid(o->unhealthy_free_pct))
		return VT_EINVAL;
	if (o->degraded_free_pct > 0 && o->unhealthy_free_pct > 0 &&
	    o->unhealthy_free_pct > o->degraded_free_pct)
		return VT_EINVAL;
	vt_check_opts opts = VT_CHECK_OPTS_DEFAULT;
	if (co != NULL)
		opts = *co;
	opts.free_arg = disk_check_free;

	disk_check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VT_ENOMEM;
	size_t n = strlen(o->path) + 1;
	if ((c->path = malloc(n)) == NULL) {
		free(c);
		return VT_ENOMEM;
	}
	memcpy(c->path, o->path, n);
	c->degraded_free_pct = o->degraded_free_pct;
	c->unhealthy_free_pct = o->unhealthy_free_pct;
	vt_err rv = vt_health_add(h, name, disk_run, c, &opts);
	if (rv != VT_OK)
		disk_check_free(c);
	return rv;
}
