-- luacheck configuration: `luacheck .` from the repository root.
std = "max"
max_line_length = 140
-- types/ holds lua-language-server stubs: empty bodies, long descriptions.
exclude_files = { "build/", "doc/", "octogen/", "types/" }

files["spec/"] = { std = "+busted" }
-- The mock runs inside nginx: ngx is its global.
files["spec/support/mock/"] = { std = "+ngx_lua" }
files["examples/openresty/"] = { std = "+ngx_lua" }
-- ngx.run_worker_thread (lua-nginx-module 0.10.22) is newer than
-- luacheck's ngx_lua std: 143 is "undefined field of a global".
files["lua/octogen/resty.lua"] = { std = "+ngx_lua", ignore = { "143" } }
files["lua/octogen/worker.lua"] = { std = "+ngx_lua" }
-- wrk's Lua scripts set wrk's own globals.
files["bench/peers/wrk.lua"] = { globals = { "wrk", "init", "request", "response", "done" } }
