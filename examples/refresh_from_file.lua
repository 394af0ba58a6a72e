-- Ask for every product URL in a file (one per line) to be refreshed.
--   lua5.4 examples/refresh_from_file.lua examples/urls.txt [catalog]
-- Any number of lines: the client sends batches of 500 and merges them.
local octogen = require "octogen"

local path, catalog = arg[1] or "examples/urls.txt", arg[2]
local targets = {}
for line in io.lines(path) do
    line = line:match("^%s*(.-)%s*$")
    if line ~= "" and not line:match("^#") then
        targets[#targets + 1] = catalog and { url = line, catalog = catalog } or line
    end
end

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }
local res, err = client:refresh_products(targets)
-- With nothing accepted the call fails, but err.result still says why each
-- target was refused.
local failed = res == nil
res = res or err.result
if not res then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
end
print(("submitted %d, accepted %d, rejected %d"):format(res.submitted, #res.accepted, #res.rejected))
for _, r in ipairs(res.rejected) do
    local t = r.target
    print(("  rejected %s: %s (%s)"):format(type(t) == "table" and (t.url or t.uuid) or t, r.code, r.message))
end
for _, e in ipairs(res.errors) do print("  batch error: " .. tostring(e)) end
os.exit(failed and 1 or 0)
