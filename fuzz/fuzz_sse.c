/*
 * fuzz_sse.c - libFuzzer target for a run's live stream (src/sse.c): the
 * log-offset bookkeeping, UTF-8 and secret-aware chunking, and the SSE
 * framing of GET /api/v1/runs/{id}/events.
 *
 * src/sse.c is included so that its static stream functions are driven
 * directly, exactly as libmicrohttpd calls them (run_stream_read with a
 * buffer of any size until END_OF_STREAM).  The events module (events.c,
 * left out of this program) is replaced by a scripted one: the log "file"
 * is the fuzz input, it becomes visible a few bytes at a time on each
 * events_wait, and once it is all visible the run ends with a terminal
 * state change.  The run itself is a real row in a real SQLite store, and
 * the secrets table is the fixture's.
 *
 * Input: byte 0 = MHD's buffer size (0 = SSE_BLOCK), byte 1 = growth per
 * wait, bytes 2-3 = the resume offset (Last-Event-ID), the rest = the log.
 *
 * Checks: the stream ends (with "event: end"); log event ids are offsets
 * that only grow and end at the log's size; joining the data lines of the
 * log events gives back the log from the resume offset exactly as a
 * client must see it - secrets masked and carriage returns as line breaks
 * - whatever the chunking; no data line holds a CR or LF.
 */
#include "sse.c"

#include "fuzz_common.h"

/* ---- a scripted events module ---- */

struct events {
	uint64_t head;
	bool pending_end; /* the terminal change is due */
};

struct events_tail {
	const char *log;
	size_t size;	/* the whole log */
	size_t visible; /* what the tailer has seen so far */
	size_t step;	/* growth per wait */
	unsigned waits;
};

static struct events fake_ev;
static struct events_tail fake_tail;

bool events_stopping(struct events *ev)
{
	(void)ev;
	return false;
}

uint64_t events_state_head(struct events *ev)
{
	return ev->head;
}

int events_state_next(struct events *ev, uint64_t *after, const char *run_id,
		      char **json, bool *terminal,
		      char run_id_out[RUN_ID_LEN + 1])
{
	(void)run_id;
	(void)run_id_out;
	if (!ev->pending_end || *after >= ev->head)
		return 0;
	*after = ev->head;
	*json = xstrdup("{\"state\":\"succeeded\"}");
	*terminal = true;
	return 1;
}

bool events_wait(struct events *ev, struct events_tail *t, uint64_t after,
		 int64_t offset, int timeout_ms)
{
	(void)after;
	(void)offset;
	(void)timeout_ms;
	t->waits++;
	if (t->visible < t->size) {
		t->visible += t->step;
		if (t->visible > t->size)
			t->visible = t->size;
		return true;
	}
	if (!ev->pending_end) {
		ev->pending_end = true;
		ev->head++;
		return true;
	}
	return false; /* a keepalive */
}

struct events_tail *events_tail_get(struct events *ev, const char *run_id)
{
	(void)ev;
	(void)run_id;
	return &fake_tail;
}

void events_tail_put(struct events_tail *t)
{
	(void)t;
}

ssize_t events_tail_read(struct events_tail *t, int64_t offset, char *buf,
			 size_t max, bool direct)
{
	size_t avail = direct ? t->size : t->visible, n;

	if (offset < 0)
		abort(); /* sse.c asked for a negative offset */
	if ((uint64_t)offset >= avail)
		return 0;
	n = avail - (size_t)offset;
	if (n > max)
		n = max;
	memcpy(buf, t->log + offset, n);
	return (ssize_t)n;
}

int64_t events_tail_size(struct events_tail *t)
{
	return (int64_t)t->size;
}

/* ---- the service around it ---- */

static struct app app;
static char *dir; /* kept (reachable) until exit */
static struct config *cfg;
#define RUN_ID "r00000000000000f2"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rc_err err;
	struct run r;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("sse");
	cfg = fuzz_fixture_load(dir);
	if (mkdir_p(cfg->server.data_dir, 0700, &err) < 0 ||
	    store_open(cfg->server.store_url, &app.store, &err) < 0 ||
	    secrets_load(cfg, &app.secrets, &err) < 0)
		goto fail;
	memset(&r, 0, sizeof(r));
	memcpy(r.id, RUN_ID, sizeof(r.id));
	r.automation = "fuzz";
	r.user = "fuzz";
	r.executor = "process";
	r.state = RUN_SUCCEEDED;
	r.created_at = time_now_ms();
	if (store_run_insert(app.store, &r, &err) < 0)
		goto fail;
	app.cfg = cfg;
	app.events = &fake_ev;
	return 0;
fail:
	fprintf(stderr, "fuzz_sse: %s\n", err.msg);
	abort();
}

/* What a client must read: the masked log with CRs as line breaks. */
static void expected_text(const char *log, size_t len, struct buf *out)
{
	struct buf masked;

	buf_init(&masked, 0);
	secrets_mask(app.secrets, log, len, true, &masked);
	for (size_t i = 0; i < masked.len; i++) {
		char c = masked.data[i];

		if (c == '\r') {
			if (i + 1 < masked.len && masked.data[i + 1] == '\n')
				continue;
			c = '\n';
		}
		buf_append(out, &c, 1);
	}
	buf_free(&masked);
}

/* Parse the SSE text; append the joined data of log events to text. */
static void parse_stream(const char *s, size_t len, int64_t from, int64_t size,
			 struct buf *text)
{
	const char *end = s + len;
	int64_t last_id = from;
	bool ended = false, first_log = true;

	while (s < end) {
		const char *blk = memmem(s, (size_t)(end - s), "\n\n", 2);
		const char *p = s;
		char event[32] = "";
		bool is_log;
		struct buf data;
		int64_t id = -1;
		int lines = 0;

		if (!blk) {
			fprintf(stderr, "fuzz_sse: unterminated event\n");
			abort();
		}
		if (ended) {
			fprintf(stderr, "fuzz_sse: output after end\n");
			abort();
		}
		buf_init(&data, 0);
		while (p < blk + 1) {
			const char *nl = memchr(p, '\n', (size_t)(blk + 1 - p));
			size_t n = (size_t)(nl - p);

			if (memchr(p, '\r', n)) {
				fprintf(stderr, "fuzz_sse: CR in a line\n");
				abort();
			}
			if (n >= 7 && !memcmp(p, "event: ", 7))
				snprintf(event, sizeof(event), "%.*s",
					 (int)(n - 7), p + 7);
			else if (n >= 4 && !memcmp(p, "id: ", 4))
				id = strtoll(p + 4, NULL, 10);
			else if (n >= 5 && !memcmp(p, "data:", 5)) {
				size_t skip = n > 5 && p[5] == ' ' ? 6 : 5;

				if (lines++)
					buf_append(&data, "\n", 1);
				buf_append(&data, p + skip, n - skip);
			}
			p = nl + 1;
		}
		is_log = !strcmp(event, "log");
		if (is_log) {
			if (id <= last_id && !(first_log && id == last_id)) {
				fprintf(stderr,
					"fuzz_sse: id %lld after %lld\n",
					(long long)id, (long long)last_id);
				abort();
			}
			last_id = id;
			first_log = false;
			buf_append(text, data.data ? data.data : "", data.len);
		}
		if (!strcmp(event, "end"))
			ended = true;
		buf_free(&data);
		s = blk + 2;
	}
	if (!ended) {
		fprintf(stderr, "fuzz_sse: no end event\n");
		abort();
	}
	if (from < size && last_id != size) {
		fprintf(stderr, "fuzz_sse: last id %lld, log size %lld\n",
			(long long)last_id, (long long)size);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_stream *s;
	struct buf out, got, want;
	size_t max, log_len;
	int64_t from;
	char *mhd;

	if (size < 4)
		return 0;
	max = data[0] ? data[0] : SSE_BLOCK;
	log_len = size - 4;
	from = (int64_t)((data[2] | data[3] << 8) % (log_len + 17));
	memset(&fake_ev, 0, sizeof(fake_ev));
	fake_tail = (struct events_tail){
		.log = (const char *)data + 4,
		.size = log_len,
		.step = 1 + (size_t)data[1] * data[1],
	};
	/* As sse_h_run_events sets a stream up. */
	s = xcalloc(1, sizeof(*s));
	s->app = &app;
	memcpy(s->id, RUN_ID, sizeof(s->id));
	s->seq = events_state_head(app.events);
	s->offset = from;
	s->final_size = -1;
	s->chunk = xmalloc(SSE_READ_MAX);
	s->tail = events_tail_get(app.events, s->id);
	buf_init(&s->out, 0);
	buf_appends(&s->out, "retry: 2000\n\n");
	put_run_json(s, "state");

	buf_init(&out, 0);
	mhd = xmalloc(max);
	for (;;) {
		ssize_t n = run_stream_read(s, out.len, mhd, max);

		if (n == MHD_CONTENT_READER_END_OF_STREAM)
			break;
		if (n <= 0 || (size_t)n > max) {
			fprintf(stderr, "fuzz_sse: read returned %zd\n", n);
			abort();
		}
		buf_append(&out, mhd, (size_t)n);
		/* Each wait shows more of the log or ends the run, so a
		 * stream that keeps waiting, or writes far more than the log
		 * could explain, is stuck. */
		if (fake_tail.waits > log_len + 100 ||
		    out.len > 64 * log_len + 65536) {
			fprintf(stderr, "fuzz_sse: the stream does not end\n");
			abort();
		}
	}
	free(mhd);
	run_stream_free(s);

	buf_init(&got, 0);
	buf_init(&want, 0);
	parse_stream(out.data ? out.data : "", out.len, from, (int64_t)log_len,
		     &got);
	if ((size_t)from < log_len)
		expected_text((const char *)data + 4 + from,
			      log_len - (size_t)from, &want);
	if (got.len != want.len ||
	    (got.len && memcmp(got.data, want.data, got.len))) {
		fprintf(stderr,
			"fuzz_sse: the client would read\n%.*s\n"
			"-- instead of --\n%.*s\n",
			(int)got.len, got.data ? got.data : "", (int)want.len,
			want.data ? want.data : "");
		abort();
	}
	buf_free(&want);
	buf_free(&got);
	buf_free(&out);
	return 0;
}
