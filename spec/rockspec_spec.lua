-- Both rockspecs install every module of the Lua layer: a module missing
-- from one would load in the checkout and fail in an installed rock.
local sh = require "spec.support.sh"

local function listed(path)
    local text = sh.read_file(path)
    local mods = {}
    for name, file in text:gmatch('%["(octogen[%w%._]*)"%]%s*=%s*"(lua/[^"]+)"') do mods[file] = name end
    return mods
end

describe("rockspecs", function()
    local files = {}
    local p = assert(io.popen("find lua/octogen -name '*.lua' | sort"))
    for line in p:lines() do files[#files + 1] = line end
    p:close()

    for _, spec in ipairs { "rockspec/octogen-scm-1.rockspec", "rockspec/octogen-0.1.0-1.rockspec" } do
        it(spec .. " lists every module under lua/octogen, under its require name", function()
            local mods, wrong = listed(spec), {}
            assert.is_true(#files > 30)
            for _, f in ipairs(files) do
                local want = f:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
                if mods[f] ~= want then wrong[#wrong + 1] = f .. " -> " .. tostring(mods[f]) end
            end
            assert.same({}, wrong)
        end)
    end
end)
