-- Which shops does Octogen cover? GET /domains answers without a key (the
-- keyless trial), carries an ETag, and may be kept for its max-age: a
-- coverage object answers "is this URL covered, by which catalogs" locally
-- and is revalidated cheaply (a 304 hands back the very same object).
local octogen = require "octogen"

-- allow_keyless: with no key configured, no Authorization header is sent
-- (search, lookup and domains only); a key, when there is one, is used.
local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL"), allow_keyless = true }

local coverage, err = client:domain_coverage()
if not coverage then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
end
print(("%d covered hosts, ETag %s, fresh for %s s"):format(#coverage.hosts, tostring(coverage.etag),
    tostring(coverage.max_age_seconds)))

for _, url in ipairs {
    "https://www.tidepool.example/products/trail-shell?color=red",
    "HTTPS://WARRENLOTAS.COM/collections/hoodies",
    "https://not-a-shop.example/",
} do
    local catalogs = coverage:catalogs_for(url)
    print(("%-62s %s"):format(url, coverage:covers(url) and ("covered by " .. table.concat(catalogs, ", "))
        or "not covered"))
end
print("normalize_host: " .. tostring(octogen.normalize_host "  https://WWW.Macys.COM:443/shop?x=1 "))

-- Later (a cache expiring, a worker's timer): revalidate with the ETag.
if coverage:is_stale(os.time() + 600) then
    local again, meta = client:domain_coverage(coverage)
    assert(again, meta)
    print(("revalidated: HTTP %d, same object: %s"):format(meta.status, tostring(again == coverage)))
end
