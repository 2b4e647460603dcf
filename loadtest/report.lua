-- Shared by the wrk scripts: print one machine-readable line at the end
-- ("LOADTEST {json}") with the counts and latency percentiles, which
-- loadtest.py parses.  wrk counts any HTTP status >= 400 in errors.status.
function report(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'LOADTEST {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
