-- wrk script of serving.py: every request POSTs the same JSON body.
--
-- The body is read once per Lua environment from the file named by
-- SERVING_BODY_FILE. done() prints one line, "SERVING_RESULT {json}", with
-- the exact counts and latency percentiles (microseconds); serving.py reads
-- it beside wrk's own --latency report.

local path = os.getenv("SERVING_BODY_FILE")
if path == nil or path == "" then
   error("SERVING_BODY_FILE is not set")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'SERVING_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p99.9": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
