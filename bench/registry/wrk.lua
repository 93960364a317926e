-- wrk script for the registry benchmark: method and headers from the
-- environment, and one machine-readable result line from done().
--   WRK_METHOD  GET (default) or HEAD
--   WRK_ACCEPT  Accept header value, if set
local method = os.getenv("WRK_METHOD") or "GET"
local accept = os.getenv("WRK_ACCEPT")

wrk.method = method
if accept and accept ~= "" then
  wrk.headers["Accept"] = accept
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "wrk_result rate=%.2f requests=%d secs=%.3f lat_mean_ms=%.3f lat_p50_ms=%.3f lat_p99_ms=%.3f " ..
    "bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests / secs, summary.requests, secs, latency.mean / 1e3,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
end
