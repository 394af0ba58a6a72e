-- luacheck configuration: `luacheck .` from the repository root.
std = "max"
max_line_length = 140
-- types/ holds lua-language-server stubs: empty bodies, long descriptions.
exclude_files = { "build/", "doc/", "octogen/", "types/" }

files["spec/"] = { std = "+busted" }
-- The mock runs inside nginx: ngx is its global.
files["spec/support/mock/"] = { std = "+ngx_lua" }
files["examples/openresty/"] = { std = "+ngx_lua" }
-- The runner that runs the specs inside nginx, and the OpenResty bench.
files["spec/support/ngx_runner/"] = { std = "+busted+ngx_lua" }
files["bench/openresty/"] = { std = "+ngx_lua" }
-- wrk's Lua scripts set wrk's own globals.
files["bench/peers/wrk.lua"] = { globals = { "wrk", "init", "request", "response", "done" } }
