--- me: who the client's key is (contract section 11.8).
local operation = require "octogen.operation"

operation.define("me", function(_, level, call_opts)
    local call = operation.call_options(call_opts, "me", nil, level)
    return { expect = "object", call = call }
end)

return {}
