-- wrk: POSTs BODY to PREFIX<n>, n cycling over ROUTINES ids (default 1000). The pings use
-- PREFIX=/ping/r and a short body; Pushgateway gets the same load shape with
-- PREFIX=/metrics/job/r and one metric, as a job reporting its last success would.
-- The requests are formatted once per thread, not once per request: the load generator
-- shares the two cores with the server it measures, so its own CPU would count against it.
local routines = tonumber(os.getenv("ROUTINES") or "1000")
local prefix = os.getenv("PREFIX") or "/ping/r"
local requests = {}
local n = 0
init = function()
  wrk.method = "POST"
  wrk.body = (os.getenv("BODY") or "ok"):gsub("\\n", "\n")
  for i = 0, routines - 1 do
    requests[i] = wrk.format(nil, prefix .. i)
  end
end
request = function()
  n = n + 1
  return requests[n % routines]
end
