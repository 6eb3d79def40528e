/*
 * reload_report.c - vt_reload_report (vitals/reload.h): four growable
 * lists of strings, what a reload changed.
 */
#include <stdlib.h>
#include <string.h>

#include "vitals/reload.h"

vt_err vt_reload_report_note(vt_reload_report *r, vt_reload_what what,
			     const char *text)
{
	if (r == NULL || text == NULL)
		return VT_EINVAL;
	char ***list;
	size_t *n;
	switch (what) {
	case VT_RELOAD_ADDED:
		list = &r->added, n = &r->nadded;
		break;
	case VT_RELOAD_REMOVED:
		list = &r->removed, n = &r->nremoved;
		break;
	case VT_RELOAD_CHANGED:
		list = &r->changed, n = &r->nchanged;
		break;
	case VT_RELOAD_IGNORED:
		list = &r->ignored, n = &r->nignored;
		break;
	default:
		return VT_EINVAL;
	}
	char *copy = strdup(text);
	char **grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (copy == NULL || grown == NULL) {
		free(copy);
		if (grown != NULL)
			*list = grown;
		return VT_ENOMEM;
	}
	grown[(*n)++] = copy;
	*list = grown;
	return VT_OK;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void vt_reload_report_fini(vt_reload_report *r)
{
	if (r == NULL)
		return;
	free_list(r->added, r->nadded);
	free_list(r->removed, r->nremoved);
	free_list(r->changed, r->nchanged);
	free_list(r->ignored, r->nignored);
	memset(r, 0, sizeof(*r));
}
