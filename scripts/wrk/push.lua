-- wrk: the same load shape for Pushgateway: POSTs one metric to /metrics/job/r<n>, n cycling
-- over ROUTINES jobs (default 1000), as a job reporting its last success would.
local routines = tonumber(os.getenv("ROUTINES") or "1000")
local n = 0
wrk.method = "POST"
wrk.body = "job_last_success_timestamp_seconds 1.7e9\n"
request = function()
  n = n + 1
  return wrk.format(nil, "/metrics/job/r" .. (n % routines))
end
