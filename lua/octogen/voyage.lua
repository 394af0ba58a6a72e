--- Voyages: crawls of a shop that make it a catalog (contract 11.9).
local errors = require "octogen.errors"
local operation = require "octogen.operation"

local format = string.format
local type = type

local MAX_DOMAIN = 2048

operation.define("start_voyage", function(_, level, domain, call_opts)
    if type(domain) ~= "string" or not domain:find("%S") then
        errors.invalid(format("domain must be a non-empty string, got %s",
            type(domain) == "string" and "a blank string" or type(domain)), level)
    end
    if #domain > MAX_DOMAIN then
        errors.invalid(format("domain must be at most %d characters, got %d", MAX_DOMAIN, #domain), level)
    end
    local call = operation.call_options(call_opts, "start_voyage", nil, level)
    -- Sent as given: the server normalizes it and echoes the result.
    return { body = { domain = domain }, expect = "object", call = call,
             finish = function(task, meta)
                 -- 202: a new voyage (it used quota); 200: joined a running
                 -- one, or the shop is already a live catalog.
                 return { task = task, created = meta.status == 202 }, meta
             end }
end)

operation.define("list_voyages", function(_, level, params)
    local q, call, p = operation.page_query(params, "list_voyages", level, { status = true })
    q.status = operation.check_string("status", p.status, level, true)
    return { query = q, expect = "object items:array", call = call, finish = operation.page("voyage list") }
end)

operation.define("get_voyage", function(_, level, task_id, call_opts)
    local id, why = operation.path_param("task_id", task_id)
    if not id then errors.invalid(why, level) end
    local call = operation.call_options(call_opts, "get_voyage", nil, level)
    return { params = { task_id = id }, expect = "object", call = call }
end)

return {}
