--- me and list_catalogs: who the client's key is and what it may read
-- (contract sections 11.8 and 2).
local client = require "octogen.client"
local operation = require "octogen.operation"

local format, tostring, type = string.format, tostring, type

operation.define("me", function(_, level, call_opts)
    local call = operation.call_options(call_opts, "me", nil, level)
    return { expect = "object", call = call }
end)

operation.define("list_catalogs", function(_, level, call_opts)
    local call = operation.call_options(call_opts, "list_catalogs", nil, level)
    return { expect = "array", call = call, finish = function(result, meta)
        if type(result) ~= "table" then
            -- A 2xx with no body (204): no list in it. (The C core returns
            -- that as an APIError itself; this keeps `true` from reaching
            -- the caller.)
            return nil, client.bad_shape(meta, format(
                "Octogen API answered GET /catalogs with HTTP %s and no catalog list", tostring(meta.status)))
        end
        return result, meta
    end }
end)

return {}
