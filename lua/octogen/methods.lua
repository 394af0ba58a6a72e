--- octogen.methods: the methods of a client that talk to the API, in one
-- place. Everything else derives from this list: client:start/all (which
-- methods may be started), client:pages/items (which walk cursors), the
-- request each method sends (octogen.operation builds the path from
-- `path`), the conformance spec (every operation of the API contract has a
-- method here or is reached through request()), and the generated
-- documentation: types/octogen.d.lua's Client class and the README's
-- method reference (tools/docgen.lua, `make doc`; a spec fails when the
-- committed files differ from what this list generates).
--
-- Each entry:
--   name       the method's name on the client
--   operation  the API's operationId (nil: not an API operation)
--   http, path the HTTP method and path template under base_url; {x} is
--              a path parameter, percent-encoded when filled in
--   args       the method's parameters: { name, type, doc }; a type
--              ending in "?" is optional. Every method also takes the
--              per-call options (max_retries, retry, timeout, sleep) in
--              its last table.
--   returns    the annotated type of its first result (nil, err on failure)
--   startable  true when client:start(name, ...) and client:all{...} take it
--   cursor     the index of the params table for a cursor-paged method:
--              client:pages(name, ...) / client:items(name, ...) walk it
--   items      for a cursor-paged method, the field of a page that holds
--              its items (always "items" today)
--   keyless    true when the API serves it without a key (the keyless
--              trial, octogen.client{allow_keyless = true})
--   retired    why a seed method may answer 404 today
--   summary    one line for the reference
--   cache      true when its answers may be kept by the cache option (an
--              idempotent read)
--   paged      true for pages/items themselves (iterators)
local M = {
    { name = "search_products", cache = true, operation = "searchProducts", http = "POST", path = "/products/search",
      args = { { "params", "octogen.SearchParams", "q, catalog, facets, price_min/max, limit, cursor, text_search_query" } },
      returns = "octogen.SearchPage", startable = true, cursor = 1, items = "items", keyless = true,
      summary = "Search products by keyword, facets and price; one page (see pages/items)." },
    { name = "lookup_product", cache = true, operation = "lookupProduct", http = "POST", path = "/products/lookup",
      args = { { "url", "string", "the product page URL" },
               { "opts", "octogen.LookupOptions?", "resolution_mode, on_demand_cache_policy, match_mode" } },
      returns = "octogen.LookupResponse", startable = true, keyless = true,
      summary = "Look a product up by its page URL (index, then on-demand extraction)." },
    { name = "more_like_this", cache = true, operation = "moreLikeThisProducts", http = "POST", path = "/products/more-like-this",
      args = { { "source", "string|octogen.ProductSource", "a product URL, {url = ...} or {uuid = ...}" },
               { "params", "octogen.MoreLikeThisParams?",
                 "catalog, cursor, limit (1..100, default 12), include_facets, exclude_facets, " ..
                 "price_preference, debug" } },
      returns = "octogen.MoreLikeThisPage", startable = true, cursor = 2, items = "items",
      summary = "Products similar to one product." },
    { name = "resolve_product_from_html", operation = "resolveProductFromHtml", http = "POST",
      path = "/products/resolve-from-html",
      args = { { "html", "string", "the page's serialized DOM (1 byte to 5 MiB)" },
               { "url", "string?", "the page URL the DOM was captured from (left out when nil)" } },
      returns = "octogen.LookupResponse", startable = true,
      summary = "Extract a product from HTML you already have (no fetch, no index)." },
    { name = "list_domains", cache = true, operation = "listDomains", http = "GET", path = "/domains",
      args = { { "opts", "octogen.ListDomainsOptions?", "if_none_match: an ETag from an earlier answer" } },
      returns = "octogen.DomainList", startable = true, keyless = true,
      summary = "The shops Octogen covers: {domains, etag, max_age_seconds, not_modified}." },
    { name = "domain_coverage", operation = "listDomains", http = "GET", path = "/domains",
      args = { { "previous", "octogen.DomainCoverage?", "an earlier coverage object, revalidated by its ETag" } },
      returns = "octogen.DomainCoverage", startable = true, keyless = true,
      summary = "A coverage object (covers, catalogs_for, is_stale); the same object back on a 304." },
    { name = "me", cache = true, operation = "getMe", http = "GET", path = "/me",
      args = {},
      returns = "octogen.Me", startable = true,
      summary = "The organization, key, quotas and rate limit behind the client's key." },
    { name = "start_voyage", operation = "startVoyage", http = "POST", path = "/voyage",
      args = { { "domain", "string", "a domain or a URL of the shop to crawl" } },
      returns = "octogen.VoyageStart", startable = true,
      summary = "Start (202, created = true) or join (200, created = false) a crawl of a shop." },
    { name = "list_voyages", cache = true, operation = "listVoyages", http = "GET", path = "/voyage",
      args = { { "params", "octogen.ListVoyagesParams?", "status, cursor, limit (1..100)" } },
      returns = "octogen.VoyagePage", startable = true, cursor = 1, items = "items",
      summary = "Your voyages, newest first, with the voyage quotas." },
    { name = "get_voyage", cache = true, operation = "getVoyage", http = "GET", path = "/voyage/{task_id}",
      args = { { "task_id", "string", "the voyage's task id" } },
      returns = "octogen.VoyageTask", startable = true,
      summary = "One voyage: status, phase, progress and, once live, its catalog." },
    { name = "create_url_list", operation = "createUrlList", http = "POST", path = "/coverage/url-lists",
      args = { { "name", "string", "1 to 80 characters, unique among your live lists" } },
      returns = "octogen.UrlList", startable = true,
      summary = "Create a coverage URL list (201; status provisioning)." },
    { name = "list_url_lists", cache = true, operation = "listUrlLists", http = "GET", path = "/coverage/url-lists",
      args = { { "params", "octogen.PageParams?", "cursor, limit (1..100)" } },
      returns = "octogen.UrlListPage", startable = true, cursor = 1, items = "items",
      summary = "Your coverage URL lists, newest first." },
    { name = "get_url_list", cache = true, operation = "getUrlList", http = "GET", path = "/coverage/url-lists/{urlListId}",
      args = { { "id", "string", "the list's urlListId" } },
      returns = "octogen.UrlList", startable = true,
      summary = "One coverage URL list." },
    { name = "delete_url_list", operation = "deleteUrlList", http = "DELETE",
      path = "/coverage/url-lists/{urlListId}",
      args = { { "id", "string", "the list's urlListId" } },
      returns = "octogen.UrlList", startable = true,
      summary = "Delete a list (202; status delete_pending; idempotent)." },
    { name = "add_url_list_urls", operation = "addUrlListUrls", http = "POST",
      path = "/coverage/url-lists/{urlListId}/urls",
      args = { { "id", "string", "the list's urlListId" },
               { "urls", "string[]", "any number; sent 1,000 a request" },
               { "opts", "octogen.UrlListBatchOptions?", "on_batch(done, total) and the per-call options" } },
      returns = "octogen.UrlListMutation", startable = true, batch = 1000,
      summary = "Add URLs to a list, 1,000 a request, every URL accounted for once." },
    { name = "remove_url_list_urls", operation = "removeUrlListUrls", http = "POST",
      path = "/coverage/url-lists/{urlListId}/urls/remove",
      args = { { "id", "string", "the list's urlListId" },
               { "urls", "string[]", "any number; sent 1,000 a request" },
               { "opts", "octogen.UrlListBatchOptions?", "on_batch(done, total) and the per-call options" } },
      returns = "octogen.UrlListMutation", startable = true, batch = 1000,
      summary = "Remove URLs from a list, 1,000 a request." },
    { name = "check_url_list_urls", operation = "checkUrlListUrls", http = "POST",
      path = "/coverage/url-lists/{urlListId}/urls/contains",
      args = { { "id", "string", "the list's urlListId" },
               { "urls", "string[]", "any number; sent 1,000 a request" },
               { "opts", "octogen.UrlListBatchOptions?", "on_batch(done, total) and the per-call options" } },
      returns = "octogen.UrlListCheck", startable = true, batch = 1000,
      summary = "Which URLs a list holds, 1,000 a request, results in input order." },
    { name = "list_url_list_urls", cache = true, operation = "listUrlListUrls", http = "GET",
      path = "/coverage/url-lists/{urlListId}/urls",
      args = { { "id", "string", "the list's urlListId" },
               { "params", "octogen.PageParams?", "cursor, limit (1..100)" } },
      returns = "octogen.UrlListUrlPage", startable = true, cursor = 2, items = "items",
      summary = "The URLs of a list, in the order they were added." },
    { name = "list_catalogs", cache = true, operation = "listCatalogs", http = "GET", path = "/catalogs",
      args = {},
      returns = "octogen.Catalog[]", startable = true,
      retired = "retired for Developer (catalog_partner) organizations on 2026-07-09: they get 404",
      summary = "The catalogs your key may search (older organizations only)." },
    { name = "refresh_products", operation = "refreshProducts", http = "POST", path = "/products/refresh",
      args = { { "targets", "octogen.RefreshTarget[]", "products by url or uuid (500 a request)" },
               { "opts", "octogen.RefreshOptions?", "catalog, priority" } },
      returns = "octogen.RefreshResult", startable = true,
      retired = "removed upstream (OCT-4122): servers without it answer 404 Not Found",
      summary = "Ask for products to be re-crawled (where the server still has the route)." },
    { name = "pages", paged = true,
      args = { { "method_or_params", "string|octogen.SearchParams", "a cursor-paged method's name, or search params" },
               { "...", "any", "that method's arguments" } },
      returns = "octogen.PageIterator",
      summary = "Iterate the pages of a cursor-paged method (search when given params)." },
    { name = "items", paged = true,
      args = { { "method_or_params", "string|octogen.SearchParams", "a cursor-paged method's name, or search params" },
               { "...", "any", "that method's arguments" } },
      returns = "octogen.ItemIterator",
      summary = "Iterate the items of every page of a cursor-paged method." },
    { name = "request", startable = true,
      args = { { "method", "string", "GET, POST, ..." }, { "path", "string", "relative to base_url" },
               { "body", "table|string?", "encoded as JSON unless a string" },
               { "opts", "octogen.RequestOptions?", "query, headers and the per-call options" } },
      returns = "any",
      summary = "Any other request to the API, with the client's key, retries and errors." },
}

--- name -> entry.
local by_name = {}
for _, m in ipairs(M) do by_name[m.name] = m end
M.by_name = by_name

--- The names of the methods client:start() takes, sorted (for messages).
local startable, cursor, cacheable = {}, {}, {}
for _, m in ipairs(M) do
    if m.startable then startable[#startable + 1] = m.name end
    if m.cursor then cursor[#cursor + 1] = m.name end
    if m.cache then cacheable[#cacheable + 1] = m.name end
end
table.sort(startable)
table.sort(cursor)
table.sort(cacheable)
--- The names of the methods whose answers the cache option may keep.
M.cacheable = cacheable
M.startable = startable
--- The names of the cursor-paged methods, sorted.
M.cursor_paged = cursor

return M
