/*
 * sse.c - Server-Sent Event streams: the live output and state of one run
 * (GET /api/v1/runs/{id}/events) and the state changes of all runs
 * (GET /api/v1/runs/events).
 *
 * Each stream is an MHD callback response.  MHD gives every connection its
 * own thread, so the callback blocks (in events_wait) until there is
 * something to send, at most SSE_KEEPALIVE_MS, after which it sends a
 * comment line so that proxies and clients see the connection alive.
 *
 * One run's stream:
 *   retry: 2000
 *   event: state    data: the run's JSON, first on connect, then on every
 *                   state change (no id, so Last-Event-ID stays the log
 *                   offset)
 *   event: log      id: file offset just past the chunk; data: the chunk,
 *                   one "data:" line per line of it, so a client joining
 *                   the data lines with "\n" (as EventSource does) gets the
 *                   text back exactly
 *   event: end      data: the final run JSON; then the stream closes.
 * A client that reconnects with Last-Event-ID (or ?offset=N) resumes at
 * that byte.  Chunks end on UTF-8 character boundaries and never inside
 * something that may be a secret; secrets are masked ("****"); a carriage
 * return becomes a line break (a CR before LF is dropped).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "events.h"
#include "secrets.h"
#include "web.h"

#define SSE_KEEPALIVE_MS 15000
#define SSE_BLOCK (32 * 1024)
#define SSE_READ_MAX (16 * 1024)

struct run_stream {
	struct app *app;
	struct events_tail *tail;
	char id[RUN_ID_LEN + 1];
	int64_t offset;	    /* next log byte to send */
	int64_t final_size; /* log size once the run ended, else -1 */
	uint64_t seq;	    /* last state change seen */
	bool terminal;
	bool ended;
	struct buf out; /* formatted, not yet handed to MHD */
	size_t out_pos;
	char *chunk; /* SSE_READ_MAX bytes */
};

struct all_stream {
	struct app *app;
	uint64_t seq;
	bool ended;
	struct buf out;
	size_t out_pos;
};

/* Copy pending output to MHD; 0 when there is none. */
static ssize_t drain(struct buf *out, size_t *pos, char *dst, size_t max)
{
	size_t n = out->len - *pos;

	if (n == 0) {
		out->len = 0;
		*pos = 0;
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(dst, out->data + *pos, n);
	*pos += n;
	return (ssize_t)n;
}

/* "data: " lines of a JSON text (which holds no newline). */
static void put_event(struct buf *out, const char *event, const char *id,
		      const char *json)
{
	buf_appendf(out, "event: %s\n", event);
	if (id)
		buf_appendf(out, "id: %s\n", id);
	buf_appendf(out, "data: %s\n\n", json);
}

/* Length of data[0..n) without an unfinished UTF-8 character at its
 * end. */
static size_t utf8_whole(const char *data, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = (unsigned char)data[n - back];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue; /* continuation byte: look further back */
		if (c >= 0xF0)
			need = 4;
		else if (c >= 0xE0)
			need = 3;
		else if (c >= 0xC0)
			need = 2;
		else
			need = 1;
		return need > back ? n - back : n;
	}
	return n;
}

/* Append one log event for text (already masked) ending at offset. */
static void put_log(struct buf *out, const char *text, size_t len,
		    int64_t offset)
{
	buf_appendf(out, "event: log\nid: %" PRId64 "\ndata: ", offset);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\r') {
			/* take_log never cuts between a CR and its LF. */
			if (i + 1 < len && text[i + 1] == '\n')
				continue;
			c = '\n';
		}
		if (c == '\n')
			buf_appends(out, "\ndata: ");
		else
			buf_append(out, &c, 1);
	}
	buf_appends(out, "\n\n");
}

static json_t *load_run_json(struct app *app, const char *id, bool *terminal)
{
	struct run r;
	struct rc_err err;
	json_t *j;

	if (store_run_get(app->store, id, &r, &err) != 0)
		return NULL;
	j = api_run_json(&r);
	*terminal = run_state_terminal(r.state);
	store_run_clear(&r);
	return j;
}

static void put_run_json(struct run_stream *s, const char *event)
{
	bool terminal = false;
	json_t *j = load_run_json(s->app, s->id, &terminal);
	char *text, *masked;

	if (!j)
		return;
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	masked = secrets_mask_str(s->app->secrets, text);
	put_event(&s->out, event, NULL, masked);
	free(masked);
	free(text);
	json_decref(j);
	if (terminal)
		s->terminal = true;
}

/* Queue state events of this run that happened since the last look. */
static void take_states(struct run_stream *s)
{
	char *json = NULL;
	bool term = false;
	int r;

	while ((r = events_state_next(s->app->events, &s->seq, s->id, &json,
				      &term, NULL)) != 0) {
		if (r < 0) {
			/* Changes were missed: say where the run is now. */
			put_run_json(s, "state");
			continue;
		}
		put_event(&s->out, "state", NULL, json);
		free(json);
		json = NULL;
		if (term)
			s->terminal = true;
	}
}

/* Queue the next log chunk.  Returns true when something was queued;
 * *need is set to the offset beyond which new bytes are needed. */
static bool take_log(struct run_stream *s, int64_t *need)
{
	ssize_t n;
	size_t whole, used;
	bool final;
	struct buf masked;

	*need = s->offset;
	if (s->terminal && s->final_size < 0)
		s->final_size = events_tail_size(s->tail);
	n = events_tail_read(s->tail, s->offset, s->chunk, SSE_READ_MAX,
			     s->terminal);
	if (n <= 0)
		return false;
	final = s->terminal && s->offset + n >= s->final_size;
	whole = final ? (size_t)n : utf8_whole(s->chunk, (size_t)n);
	if (!final && whole > 0 && s->chunk[whole - 1] == '\r')
		whole--; /* an LF may follow: wait for the next byte */
	buf_init(&masked, 0);
	used = secrets_mask(s->app->secrets, s->chunk, whole, final, &masked);
	if (used == 0) {
		buf_free(&masked);
		*need = s->offset + n; /* all of it may start a secret */
		return false;
	}
	s->offset += (int64_t)used;
	put_log(&s->out, masked.data ? masked.data : "", masked.len, s->offset);
	buf_free(&masked);
	return true;
}

/* Fill s->out with the next events, waiting for them if needed. */
static void produce(struct run_stream *s)
{
	struct events *ev = s->app->events;
	int64_t need;

	take_states(s);
	if (take_log(s, &need))
		return;
	if (s->terminal && s->offset >= s->final_size) {
		put_run_json(s, "end");
		s->ended = true;
		return;
	}
	if (s->out.len)
		return;
	if (events_stopping(ev)) {
		s->ended = true;
		return;
	}
	if (!events_wait(ev, s->tail, s->seq, need, SSE_KEEPALIVE_MS))
		buf_appends(&s->out, ": keepalive\n\n");
}

static ssize_t run_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct run_stream *s = cls;

	(void)pos;
	for (;;) {
		ssize_t n = drain(&s->out, &s->out_pos, buf, max);

		if (n > 0)
			return n;
		if (s->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		produce(s);
	}
}

static void run_stream_free(void *cls)
{
	struct run_stream *s = cls;

	events_tail_put(s->tail);
	buf_free(&s->out);
	free(s->chunk);
	free(s);
}

static void queue_stream(struct http_req *req, MHD_ContentReaderCallback fn,
			 void *cls, MHD_ContentReaderFreeCallback free_fn)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, SSE_BLOCK, fn, cls, free_fn);

	MHD_add_response_header(resp, "Content-Type",
				"text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	http_queue(req, 200, resp);
}

/* Where a client resumes: Last-Event-ID, else ?offset=, else 0.  -1 and a
 * queued 400 when it is not a byte offset. */
static int resume_offset(struct http_req *req, int64_t *out)
{
	const char *v = http_header(req, "Last-Event-ID");

	*out = 0;
	if (!v || !*v)
		v = http_query(req, "offset");
	if (!v || !*v)
		return 0;
	if (parse_int64(v, 0, INT64_MAX, out) < 0) {
		http_error(req, 400, "bad_request",
			   "Last-Event-ID (or offset) must be a byte offset "
			   "from an earlier log event, not \"%.40s\"",
			   v);
		return -1;
	}
	return 0;
}

void sse_h_run_events(struct http_req *req)
{
	struct run_stream *s;
	struct run r;
	struct rc_err err;
	int64_t offset;
	int g;

	if (resume_offset(req, &offset) < 0)
		return;
	g = store_run_get(req->app->store, req->params[0], &r, &err);
	if (g < 0) {
		http_error(req, 500, "internal", "reading run: %s", err.msg);
		return;
	}
	if (g == 1) {
		http_error(req, 404, "not_found", "no run \"%s\"",
			   req->params[0]);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->app = req->app;
	memcpy(s->id, r.id, sizeof(s->id));
	store_run_clear(&r);
	/* Take the state position before reading the run: a change made in
	 * between is then sent twice rather than lost. */
	s->seq = events_state_head(req->app->events);
	s->offset = offset;
	s->final_size = -1;
	s->chunk = xmalloc(SSE_READ_MAX);
	s->tail = events_tail_get(req->app->events, s->id);
	buf_init(&s->out, 0);
	buf_appends(&s->out, "retry: 2000\n\n");
	put_run_json(s, "state");
	queue_stream(req, run_stream_read, s, run_stream_free);
}

/* --- all runs --- */

static ssize_t all_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct all_stream *s = cls;
	struct events *ev = s->app->events;

	(void)pos;
	for (;;) {
		ssize_t n = drain(&s->out, &s->out_pos, buf, max);
		char *json = NULL, id[32];
		bool term;
		int r;

		if (n > 0)
			return n;
		if (s->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		while ((r = events_state_next(ev, &s->seq, NULL, &json, &term,
					      NULL)) != 0) {
			snprintf(id, sizeof(id), "%" PRIu64, s->seq);
			if (r < 0) {
				put_event(&s->out, "resync", id, "{}");
				continue;
			}
			put_event(&s->out, "run", id, json);
			free(json);
			json = NULL;
			if (s->out.len > SSE_BLOCK)
				break;
		}
		if (s->out.len)
			continue;
		if (events_stopping(ev)) {
			s->ended = true;
			continue;
		}
		if (!events_wait(ev, NULL, s->seq, 0, SSE_KEEPALIVE_MS))
			buf_appends(&s->out, ": keepalive\n\n");
	}
}

static void all_stream_free(void *cls)
{
	struct all_stream *s = cls;

	buf_free(&s->out);
	free(s);
}

void sse_h_all_events(struct http_req *req)
{
	struct all_stream *s;
	const char *v = http_header(req, "Last-Event-ID");
	int64_t last;

	s = xcalloc(1, sizeof(*s));
	s->app = req->app;
	buf_init(&s->out, 0);
	s->seq = events_state_head(req->app->events);
	if (v && *v && parse_int64(v, 0, INT64_MAX, &last) == 0 &&
	    (uint64_t)last <= s->seq)
		s->seq = (uint64_t)last;
	buf_appends(&s->out, "retry: 2000\n\n");
	/* A first event at once, so that a client knows it is connected. */
	buf_appendf(&s->out, "event: hello\nid: %" PRIu64 "\ndata: {}\n\n",
		    s->seq);
	queue_stream(req, all_stream_read, s, all_stream_free);
}
