-- What failures look like, and how to tell them apart.
local octogen = require "octogen"

local base_url = os.getenv("OCTOGEN_BASE_URL")
local client = octogen.client { base_url = base_url }

-- API and network failures come back as nil, err: no pcall needed.
local page, err = client:search_products { catalog = "no-such-catalog" }
if not page then
    print("1. " .. tostring(err))
    if err:is("NotFoundError") then print("   -> check the catalog key against list_catalogs()") end
end

local bad = octogen.client { api_key = "octo_live_not_a_real_key", base_url = base_url }
local _, auth_err = bad:list_catalogs()
print("2. " .. auth_err.name .. " (" .. tostring(auth_err.status_code) .. "): " .. auth_err.message)

-- The server checks parameters too; its 422 detail lists each problem.
local _, val_err = client:lookup_product("not a url")
print("3. " .. tostring(val_err))

-- Nothing listens on port 9: a ConnectionError has no status_code.
local offline = octogen.client { api_key = "k", base_url = "http://127.0.0.1:9/v1", connect_timeout = 2 }
local _, net_err = offline:list_catalogs()
print("4. " .. tostring(net_err), "is a ConnectionError:", net_err:is("ConnectionError"))

-- Mistakes in the code itself raise at once, before anything is sent.
local ok, arg_err = pcall(client.search_products, client, { limit = 500 })
print("5. raised:", not ok, arg_err.name, arg_err.message)

local ok2, opt_err = pcall(octogen.client, { base_url = base_url, timout = 3 })
print("6. raised:", not ok2, opt_err.name, opt_err.message)
