-- wrk: the same load shape for Pushgateway: POSTs one metric to /metrics/job/r<n>, n cycling
-- over ROUTINES jobs (default 1000), as a job reporting its last success would. Formatted
-- once per thread, as scripts/wrk/ping.lua does.
local routines = tonumber(os.getenv("ROUTINES") or "1000")
local requests = {}
local n = 0
init = function()
  wrk.method = "POST"
  wrk.body = "job_last_success_timestamp_seconds 1.7e9\n"
  for i = 0, routines - 1 do
    requests[i] = wrk.format(nil, "/metrics/job/r" .. i)
  end
end
request = function()
  n = n + 1
  return requests[n % routines]
end
