-- wrk script: GET /api/v1/runs/{id} with a bearer token.
-- Usage: wrk -s get_run.lua URL -- TOKEN RUN_ID[,RUN_ID...]
-- Cycles through the given run ids (runs that exist, some of them still
-- changing state while the load runs).
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" ..
   package.path
require "report"

local ids = {}
local i = 0

function init(args)
   wrk.headers["Authorization"] = "Bearer " .. args[1]
   for id in string.gmatch(args[2], "[^,]+") do
      ids[#ids + 1] = id
   end
end

function request()
   i = i % #ids + 1
   return wrk.format("GET", "/api/v1/runs/" .. ids[i])
end

done = report
