-- A coverage URL list: the product pages you want Octogen to keep fresh.
-- add_url_list_urls takes any number of URLs and sends them 1,000 a
-- request; every URL comes back exactly once, accepted or rejected, in
-- the order given, whatever happens to each request.
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }

local list, err = client:create_url_list("demo " .. os.time())
if not list then
    io.stderr:write(tostring(err), "\n")
    os.exit(err.code == "url_list_limit_exceeded" and 2 or 1)
end
print(("created %s (%s)"):format(list.url_list_id, list.status))

-- 2,500 product pages, a few of them not URLs at all.
local urls = {}
for i = 1, 2500 do
    urls[i] = i % 1000 == 0 and ("not a url #" .. i) or ("https://tidepool.example/products/item-%d?utm_source=mail"):format(i)
end
local res, aerr = client:add_url_list_urls(list.url_list_id, urls, {
    on_batch = function(done, total) print(("  sent %d of %d"):format(done, total)) end,
})
if not res then
    io.stderr:write(tostring(aerr), "\n")
    os.exit(1)
end
print(("submitted %d: %d accepted, %d rejected, in %d requests; the list holds %d"):format(
    res.submitted, #res.accepted, #res.rejected, res.batches, res.url_count))
print(("first accepted: %s -> %s"):format(res.accepted[1].url, res.accepted[1].normalized_url))
for _, r in ipairs(res.rejected) do print(("rejected: %s (%s)"):format(r.url, r.code)) end

local check = assert(client:check_url_list_urls(list.url_list_id, { urls[7], "https://tidepool.example/other" }))
for _, r in ipairs(check.results) do print(("contains %s: %s"):format(r.url, tostring(r.present))) end

-- The list, in the order URLs were added, 100 a page.
local n = 0
for _ in client:items("list_url_list_urls", list.url_list_id, { limit = 100 }) do n = n + 1 end
print(("walked %d URLs"):format(n))

local gone = assert(client:delete_url_list(list.url_list_id))
print(("deleted: %s"):format(gone.status))
