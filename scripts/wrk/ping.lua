-- wrk: POSTs /ping/r<n>, n cycling over ROUTINES ids (default 1000), a short body each.
local routines = tonumber(os.getenv("ROUTINES") or "1000")
local n = 0
wrk.method = "POST"
wrk.body = "ok"
request = function()
  n = n + 1
  return wrk.format(nil, "/ping/r" .. (n % routines))
end
