-- wrk script: GET /healthz (no token).  Usage: wrk -s healthz.lua URL
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" ..
   package.path
require "report"

wrk.path = "/healthz"
done = report
