/*
 * fuzz_cron.c - libFuzzer target for schedules: a cron expression and a
 * time zone name -> cron_parse, tz_load, cron_next and cron_last_in.
 *
 * Input layout: "EXPR\nZONE\n" followed by 8 bytes (little endian) of a
 * start time; missing parts default to "UTC" and 2026-03-08T00:00:00Z.
 * The start time is folded into the years 1970-2200 so that the ten-year
 * search of cron_next stays meaningful.  When ZONE is "Fuzz/Zone" the
 * bytes after the start time are the zone's TZif file (TZDIR points to a
 * private folder), so the TZif parser is fuzzed too.
 *
 * Checks beyond crashes: the next fire is strictly after the start, and
 * is within the stated ten years (a little more for time zone offsets);
 * the last fire in (start, next] is next itself.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "cron.h"
#include "fuzz_common.h"
#include "tz.h"

static char *dir, *zone_file; /* kept (reachable) until exit */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *sub;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("cron");
	sub = xasprintf("%s/Fuzz", dir);
	mkdir(sub, 0755);
	zone_file = xasprintf("%s/Zone", sub);
	setenv("TZDIR", dir, 1);
	free(sub);
	return 0;
}

#define YEAR_S (366LL * 86400)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size), *nl, *zone = NULL;
	size_t used;
	struct cron *c = NULL;
	struct tz *tz = NULL;
	struct rc_err err;
	int64_t start = 1772928000, next, last;
	uint64_t raw = 0;

	nl = memchr(in, '\n', size);
	if (nl) {
		*nl = '\0';
		zone = nl + 1;
		nl = memchr(zone, '\n', size - (size_t)(zone - in));
		if (nl) {
			*nl = '\0';
			used = (size_t)(nl + 1 - in);
			if (size - used >= 8) {
				memcpy(&raw, data + used, 8);
				start = (int64_t)(raw % (230ULL * 365 * 86400));
				used += 8;
			}
			if (!strcmp(zone, "Fuzz/Zone")) {
				int fd = open(zone_file,
					      O_WRONLY | O_CREAT | O_TRUNC |
						      O_CLOEXEC,
					      0644);

				if (fd < 0 ||
				    write_all(fd, data + used, size - used) < 0)
					abort();
				close(fd);
			}
		}
	}
	if (!zone || !*zone)
		zone = "UTC";
	if (cron_parse(in, &c, &err) < 0 || tz_load(zone, &tz, &err) < 0)
		goto out;
	(void)cron_is_fixed_time(c);
	if (cron_next(c, tz, start, &next, &err) == 0) {
		int r;

		if (next <= start || next > start + 11 * YEAR_S) {
			fprintf(stderr, "next %lld for start %lld\n",
				(long long)next, (long long)start);
			abort();
		}
		r = cron_last_in(c, tz, start, next, &last, &err);
		if (r != 0 || last != next) {
			fprintf(stderr, "last_in(%lld, %lld] = %d %lld\n",
				(long long)start, (long long)next, r,
				(long long)last);
			abort();
		}
	}
out:
	tz_free(tz);
	cron_free(c);
	free(in);
	return 0;
}
