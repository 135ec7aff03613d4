-- wrk: GETs blackbox_exporter's /probe?module=http_2xx&target=TARGET, as Prometheus scraping
-- one probe target does. With DELAY_MS, each connection waits that long before each request,
-- which paces the whole run at about connections * 1000 / (DELAY_MS + latency) per second.
local path = "/probe?module=http_2xx&target=" .. os.getenv("TARGET")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
request = function()
  return wrk.format("GET", path)
end
if delay_ms > 0 then
  delay = function()
    return delay_ms
  end
end
