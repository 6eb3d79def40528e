/*
 * abi_offsets.c - prints, as JSON, the size and field offsets of every
 * public structure the Python package mirrors with ctypes, so that
 * test_abi.py can compare them with python/vitals/_lib.py. A header
 * change that moves a field fails that test instead of corrupting calls.
 */
#include <stddef.h>
#include <stdio.h>

#include "vitals/checks.h"
#include "vitals/health.h"
#include "vitals/metrics.h"
#include "vitals/server.h"

#define S(T)	printf("%s\"%s\":{\"size\":%zu", first++ ? "," : "", #T, sizeof(T))
#define F(T, f) printf(",\"%s\":%zu", #f, offsetof(T, f))
#define E()	printf("}")

int main(void)
{
	int first = 0;
	printf("{");
	S(vt_label);
	F(vt_label, name);
	F(vt_label, value);
	E();
	S(vt_metrics_filter);
	F(vt_metrics_filter, name);
	F(vt_metrics_filter, name_prefix);
	F(vt_metrics_filter, labels);
	F(vt_metrics_filter, nlabels);
	E();
	S(vt_check_opts);
	F(vt_check_opts, timeout_ms);
	F(vt_check_opts, interval_ms);
	F(vt_check_opts, degraded_ms);
	F(vt_check_opts, critical);
	F(vt_check_opts, tags);
	F(vt_check_opts, ntags);
	F(vt_check_opts, failures_before_unhealthy);
	F(vt_check_opts, successes_before_healthy);
	F(vt_check_opts, free_arg);
	E();
	S(vt_health_opts);
	F(vt_health_opts, workers);
	F(vt_health_opts, queue_cap);
	F(vt_health_opts, metrics);
	E();
	S(vt_health_filter);
	F(vt_health_filter, name);
	F(vt_health_filter, tag);
	F(vt_health_filter, exclude);
	F(vt_health_filter, nexclude);
	E();
	S(vt_redis_opts);
	F(vt_redis_opts, url);
	F(vt_redis_opts, connect_timeout_ms);
	F(vt_redis_opts, command_timeout_ms);
	E();
	S(vt_rabbitmq_opts);
	F(vt_rabbitmq_opts, url);
	F(vt_rabbitmq_opts, queue);
	F(vt_rabbitmq_opts, degraded_above);
	F(vt_rabbitmq_opts, connect_timeout_ms);
	E();
	S(vt_http_opts);
	F(vt_http_opts, url);
	F(vt_http_opts, method);
	F(vt_http_opts, expect_status);
	F(vt_http_opts, insecure);
	E();
	S(vt_dmarket_opts);
	F(vt_dmarket_opts, base_url);
	F(vt_dmarket_opts, public_key);
	F(vt_dmarket_opts, secret_key);
	E();
	S(vt_tcp_opts);
	F(vt_tcp_opts, address);
	E();
	S(vt_disk_opts);
	F(vt_disk_opts, path);
	F(vt_disk_opts, degraded_free_pct);
	F(vt_disk_opts, unhealthy_free_pct);
	E();
	S(vt_exec_opts);
	F(vt_exec_opts, argv);
	E();
	S(vt_server_opts);
	F(vt_server_opts, health);
	F(vt_server_opts, metrics);
	F(vt_server_opts, http_addr);
	F(vt_server_opts, rpc_url);
	F(vt_server_opts, pub_url);
	F(vt_server_opts, degraded_http_code);
	F(vt_server_opts, live_tag);
	F(vt_server_opts, ready_tag);
	F(vt_server_opts, rpc_contexts);
	F(vt_server_opts, max_request_bytes);
	F(vt_server_opts, token);
	F(vt_server_opts, max_connections);
	F(vt_server_opts, http_max_per_address);
	F(vt_server_opts, http_header_timeout_ms);
	F(vt_server_opts, http_idle_timeout_ms);
	F(vt_server_opts, history);
	F(vt_server_opts, process_metrics);
	F(vt_server_opts, tls_cert);
	F(vt_server_opts, tls_key);
	F(vt_server_opts, tls_ca);
	F(vt_server_opts, reload);
	F(vt_server_opts, reload_arg);
	E();
	printf("}\n");
	return 0;
}
