/*
 * test_metrics.c - unit tests for metrics.c and the log cut of
 * retention.c: label escaping, counters and histograms fed through the
 * runs listener exactly as runs.c feeds them, the exposition's shape, and
 * the head-and-tail cut of an oversized log file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "retention.h"
#include "util.h"

static void test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	metrics_escape_label(&b, "a\"b\\c\nd");
	assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
	buf_free(&b);
}

static struct run mkrun(const char *aut, enum run_state st)
{
	struct run r;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "r0000000000000001");
	r.automation = (char *)aut;
	r.state = st;
	r.created_at = 1000;
	r.started_at = 1500;
	r.finished_at = 4000;
	r.has_usage = true;
	r.cpu_usec = 250000;
	r.peak_memory = 1 << 20;
	return r;
}

static void test_counters_and_histograms(void **state)
{
	struct metrics *m = metrics_new();
	struct run r = mkrun("we\"ird", RUN_RUNNING);
	char *text;

	(void)state;
	metrics_on_run(m, &r);
	r.state = RUN_FAILED;
	metrics_on_run(m, &r);
	metrics_on_run(m, &r);
	r.peak_memory = 100;
	metrics_on_run(m, &r);
	metrics_http_request(m, "/api/v1/runs/{id}", 200);
	metrics_http_request(m, NULL, 404);
	metrics_http_request(m, NULL, 0); /* never answered: not counted */
	text = metrics_render(m, 3, 2, NULL);
	assert_non_null(strstr(text, "# TYPE runcell_runs_started_total "
				     "counter\n"));
	assert_non_null(strstr(text, "runcell_runs_started_total{automation="
				     "\"we\\\"ird\"} 1\n"));
	assert_non_null(strstr(text, "runcell_runs_finished_total{automation="
				     "\"we\\\"ird\",state=\"failed\"} 3\n"));
	assert_non_null(strstr(text, "runcell_runs_queued 3\n"));
	assert_non_null(strstr(text, "runcell_runs_running 2\n"));
	/* Three durations of 2.5 s: le=1 holds none, le=5 all three. */
	assert_non_null(strstr(text, "runcell_run_duration_seconds_bucket"
				     "{le=\"1\"} 0\n"));
	assert_non_null(strstr(text, "runcell_run_duration_seconds_bucket"
				     "{le=\"5\"} 3\n"));
	assert_non_null(strstr(text, "runcell_run_duration_seconds_bucket"
				     "{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "runcell_run_duration_seconds_count 3\n"));
	assert_non_null(strstr(text, "runcell_request_to_start_seconds_count "
				     "1\n"));
	assert_non_null(strstr(text, "runcell_run_cpu_seconds_total{automation"
				     "=\"we\\\"ird\"} 0.75\n"));
	/* The largest peak is kept. */
	assert_non_null(strstr(text, "runcell_run_peak_memory_bytes{automation"
				     "=\"we\\\"ird\"} 1048576\n"));
	assert_non_null(strstr(text,
			       "runcell_http_requests_total{route="
			       "\"/api/v1/runs/{id}\",status=\"200\"} 1\n"));
	assert_non_null(strstr(text, "runcell_http_requests_total{route="
				     "\"unmatched\",status=\"404\"} 1\n"));
	assert_null(strstr(text, "status=\"0\""));
	free(text);
	metrics_free(m);
}

static void write_log(const char *path, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
}

static void test_trim_log(void **state)
{
	char dir[] = "/tmp/runcell-test-metrics-XXXXXX";
	char *path, *data = NULL;
	struct rc_err err;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/r.log", dir);
	assert_int_equal(retention_trim_log(path, 100, &err), 0); /* none */
	write_log(path, 100);
	assert_int_equal(retention_trim_log(path, 100, &err), 0);
	write_log(path, 1000);
	assert_int_equal(retention_trim_log(path, 100, &err), 1);
	assert_int_equal(read_file(path, 1 << 20, &data, &len, &err), 0);
	/* 50 head bytes, the marker, the last 50 bytes (1000 % 26 = 12). */
	assert_memory_equal(data, "abcdefghij", 10);
	assert_non_null(strstr(data, "\n[runcell: 900 bytes cut]\n"));
	assert_int_equal(len, 100 + strlen("\n[runcell: 900 bytes cut]\n"));
	assert_int_equal(data[len - 1], 'a' + (999 % 26));
	free(data);
	unlink(path);
	rmdir(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_counters_and_histograms),
		cmocka_unit_test(test_trim_log),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
