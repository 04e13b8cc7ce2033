-- wrk script: every request is a batch of N pipelined GETs of the URL's
-- path (N = the first script argument, default 16).
--   wrk -t1 -c128 -d10s -s tests/bench/http_pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil)
  end
  req = table.concat(r)
end

request = function()
  return req
end
