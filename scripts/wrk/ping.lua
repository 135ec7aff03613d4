-- wrk: POSTs /ping/r<n>, n cycling over ROUTINES ids (default 1000), a short body each.
-- The requests are formatted once per thread, not once per request: the load generator
-- shares the two cores with the daemon, so its own CPU would count against the daemon's.
local routines = tonumber(os.getenv("ROUTINES") or "1000")
local requests = {}
local n = 0
init = function()
  wrk.method = "POST"
  wrk.body = "ok"
  for i = 0, routines - 1 do
    requests[i] = wrk.format(nil, "/ping/r" .. i)
  end
end
request = function()
  n = n + 1
  return requests[n % routines]
end
