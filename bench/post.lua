-- wrk script for bench/ingest: POST the 1 KB Alertmanager fixture as JSON.
--
-- The body comes from the BENCH_BODY_FILE environment variable (bench/ingest sets it to
-- tests/fixtures/alertmanager/firing.json, or to a PagerDuty or Opsgenie body of about the same
-- size with --dialect). No per-request Lua hook is defined (no request()
-- or response()), so wrk sends one prebuilt request and counts status codes natively; done()
-- prints one machine-readable line that bench/ingest parses:
--   WRK_RESULT {"requests":..,"duration_us":..,"non2xx3xx":..,"p50_us":..,...}
-- "non2xx3xx" is wrk's own count of responses with status > 399 (the api never answers 1xx/3xx),
-- so 2xx responses = requests - non2xx3xx.

local path = os.getenv("BENCH_BODY_FILE") or "tests/fixtures/alertmanager/firing.json"
local f = assert(io.open(path, "rb"), "cannot open body file " .. path)
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
-- BENCH_AUTH, when set, is sent as the Authorization header (the Opsgenie dialect's GenieKey).
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx3xx":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
