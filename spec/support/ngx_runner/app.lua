-- Handlers of the cosocket runner's nginx (spec/support/ngx_runner/
-- nginx.conf) besides /run: the init_worker_by_lua phase.
local cjson = require "cjson"

local M = {}

--- init_worker_by_lua: install the transport probe, then make a call in
--- a phase without cosockets, which must raise an error naming the phase
--- and the fix; what happened goes into the shared dict for
--- /init_worker.
function M.init_worker()
    require("spec.support.ngx_runner.probe").install()
    local report = { phase = ngx.get_phase() }
    local ok, a, b = pcall(function()
        local octogen = require "octogen"
        -- nothing listens on port 9: a call that does run fails at once
        local c = octogen.client { api_key = "octo_test_key", base_url = "http://127.0.0.1:9/v1", max_retries = 0 }
        return c:list_catalogs()
    end)
    report.raised = not ok
    if ok then
        report.returned = { tostring(a), tostring(b) }
    else
        report.name = type(a) == "table" and a.name or nil
        report.message = type(a) == "table" and a.message or tostring(a)
        report.text = tostring(a)
    end
    ngx.shared.runner:set("init_worker", cjson.encode(report))
end

--- GET /init_worker: the report init_worker left.
function M.init_worker_report()
    ngx.header["Content-Type"] = "application/json"
    ngx.say(ngx.shared.runner:get("init_worker") or "null")
end

return M
