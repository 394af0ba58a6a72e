-- make demo's OpenResty step: examples/openresty/nginx.conf in Debian's
-- nginx (one worker, loopback, a private prefix), pointed at the running
-- mock (OCTOGEN_BASE_URL, OCTO_API_KEY), asked for a few searches at once,
-- then stopped by its pid. The handler (examples/openresty/handler.lua) is
-- one module-level octogen.client talking over nginx cosockets.
local openresty = require "spec.support.openresty"

local base_url, key = os.getenv("OCTOGEN_BASE_URL"), os.getenv("OCTO_API_KEY")
assert(base_url and key, "run through make demo (it starts the mock and sets OCTOGEN_BASE_URL)")

local app = openresty.start { base_url = base_url, api_key = key }
local ok, err = pcall(function()
    print("nginx with examples/openresty/nginx.conf at " .. app.url)
    local status, body = app:get("/products?catalog=warrenlotas&q=hoodie&limit=3")
    print("GET /products?catalog=warrenlotas&q=hoodie&limit=3 -> " .. tostring(status))
    print(body)
    -- Eight requests at once: the worker serves them together, each
    -- handler's coroutine yielding while the API answers.
    local paths = {}
    for i = 1, 8 do paths[i] = "/products?catalog=warrenlotas&q=hoodie&limit=" .. i end
    local wall, answers = openresty.send_all(app.port, paths):collect(10)
    local good = 0
    for _, a in ipairs(answers) do if a.status == 200 then good = good + 1 end end
    print(("8 concurrent requests: %d answered 200 in %.0f ms"):format(good, wall * 1000))
    status, body = app:get("/products?limit=1000")
    print("GET /products?limit=1000 -> " .. tostring(status) .. " " .. body)
end)
app:stop()
if not ok then error(err, 0) end
