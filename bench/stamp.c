/*
 * stamp.c - the trivial program the launch benchmark starts.  Built
 * static (no dynamic loader) so that what is measured is the launch.
 *
 *   stamp            write CLOCK_REALTIME in ns and a newline to stdout, exit 0
 *   stamp sleep N    the same, then sleep N seconds (the concurrency part)
 *
 * The timestamp is the first thing the program does: no stdio, one
 * clock_gettime (vDSO) and one write(2).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	char buf[32];
	unsigned long long ns;
	int i = (int)sizeof(buf) - 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (unsigned long long)ts.tv_sec * 1000000000ULL +
	     (unsigned long long)ts.tv_nsec;
	buf[i] = '\n';
	do {
		buf[--i] = (char)('0' + ns % 10);
		ns /= 10;
	} while (ns && i > 0);
	if (write(1, buf + i, sizeof(buf) - (size_t)i) < 0)
		return 1;
	if (argc > 2 && !strcmp(argv[1], "sleep")) {
		struct timespec d = { .tv_sec = strtol(argv[2], NULL, 10) };

		while (nanosleep(&d, &d) < 0)
			;
	}
	return 0;
}
