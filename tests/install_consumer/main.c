/* Uses the installed headers and library: counts to 3 and prints JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vitals/encode.h>
#include <vitals/metrics.h>

int main(void)
{
	vt_metrics *m;
	vt_metrics_snapshot *s;
	char *json;
	size_t len;
	if (vt_metrics_alloc(&m) != VT_OK)
		return 1;
	for (int i = 0; i < 3; i++)
		vt_metrics_increment(m, "consumer_runs_total");
	if (vt_metrics_snapshot_take(m, NULL, &s) != VT_OK ||
	    vt_json_metrics(s, &json, &len) != VT_OK)
		return 1;
	int ok = strcmp(json, "{\"consumer_runs_total\":{\"type\":\"counter\","
			      "\"value\":3}}") == 0;
	printf("%s\n", json);
	free(json);
	vt_metrics_snapshot_free(s);
	vt_metrics_free(m);
	return ok ? 0 : 1;
}
