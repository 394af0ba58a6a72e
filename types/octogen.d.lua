---@meta octogen
-- LuaCATS annotations for octogen-lua, for lua-language-server (LuaLS).
--
-- This file is never loaded at run time: it only describes what
-- `require "octogen"` returns, so that an editor completes
-- `octogen.client{`, `page.items[1].`, `err.` and the rest. Point LuaLS at
-- this directory (`"workspace.library": ["/path/to/octogen-lua/types"]` in
-- .luarc.json). types/octogen/auth.d.lua does the same for
-- `require "octogen.auth"`.
--
-- The annotations live here, not in lua/octogen/*.lua, because LDoc 1.4.6
-- lists every parameter twice when LDoc tags and LuaLS annotations share a
-- comment block. spec/annotations_spec.lua checks this file against the
-- API contract, the client's option table and its method table.
--
-- The region between "-- BEGIN GENERATED (tools/docgen.lua)" and
-- "-- END GENERATED" (the option classes, the client's API methods and the
-- StartableMethod / PagedMethod aliases) is written by `make doc` from
-- lua/octogen/methods.lua and lua/octogen/options.lua: edit those, not the
-- region (spec/docs_spec.lua fails when the two differ). Everything else
-- here is written by hand.
--
-- Field names are the ones the client returns: the API's camelCase keys
-- in snake_case (productUrl -> product_url, a run of capitals is one word),
-- keys without capitals unchanged, and a JSON null member absent (so every
-- field the server may leave out or send as null is marked optional).

---------------------------------------------------------------------------
-- The module

---@class octogen
---@field VERSION string The library's version, e.g. "0.1.0".
---@field DEFAULT_BASE_URL string "https://api.octogen.ai/v1", the base_url used when none is given.
---@field DEFAULT_MAX_RETRIES integer 2: the max_retries used when none is given.
---@field USER_AGENT string The User-Agent every request sends, e.g. "octogen-lua/0.1.0 (Lua 5.4; libcurl/7.88.1)"; the user_agent option is appended to it.
---@field null lightuserdata A JSON null kept in its place inside an array (null members are dropped); `request` bodies encode it as null.
---@field error_classes table<octogen.ErrorName, octogen.ErrorName> Each error class and its parent class (OctogenError, the root, is not a key).
---@field auth octogen.auth Token providers for the api_key option.
local octogen = {}

--- The host of a URL or bare host as GET /domains lists it, or nil
--- (section 11.7): "scheme://..." gives the URL's host; a bare
--- "host[:port]" or "[v6]:port" its host; lower-cased, trailing dots and
--- one leading "www." stripped. No IDN conversion.
---
---     octogen.normalize_host("https://WWW.Macys.com:443/x") --> "macys.com"
---@param url_or_host any
---@return string|nil
function octogen.normalize_host(url_or_host) end

--- Creates a client. Raises MissingAPIKeyError when no key is given or
--- found in $OCTO_API_KEY / $OCTOGEN_PLATFORM_API_KEY, and
--- InvalidArgumentError for an unknown option or a value of the wrong type.
---@param opts? octogen.ClientOptions
---@return octogen.Client
---@nodiscard
function octogen.client(opts) end

--- Marks a table as a JSON array, so that an empty one encodes as `[]`
--- (for bodies sent with `client:request`). Returns the same table.
---@generic T: table
---@param t T
---@return T
function octogen.array(t) end

--- True when `v` is an octogen error object.
---@param v any
---@return boolean
---@return_cast v octogen.Error
function octogen.is_error(v) end

---------------------------------------------------------------------------
-- Options

-- octogen.ClientOptions and octogen.CallOptions are generated from
-- lua/octogen/options.lua: see the generated region under "The client".

--- "auto": nginx cosockets when called inside nginx (ngx.get_phase exists),
--- else libcurl, decided at each call. "curl": always libcurl (inside an
--- nginx handler it blocks the worker for each call). "ngx": always nginx
--- cosockets (proxy and HTTP/2 are libcurl features and are refused). In an
--- nginx phase without cosockets (init, init_worker, log, header and body
--- filters...) a call raises an InvalidArgumentError naming the phase; run
--- it from ngx.timer.at(0, ...).
---@alias octogen.Transport "auto"|"curl"|"ngx"

--- A function the client calls for a bearer token: before a request when it
--- holds no valid token, and once more with `refused = true` after a 401.
--- Returns the token and, optionally, its lifetime in seconds (the token is
--- then reused until a minute before it ends; without one it is asked for
--- on every request), or nil and an error.
---@alias octogen.TokenProvider fun(refused: boolean): string|nil, number|octogen.Error|string|nil

--- What `on_request` receives. The Authorization header shows as "Bearer [REDACTED]".
---@class octogen.RequestInfo
---@field method string
---@field url string
---@field headers table<string, string>
---@field attempt integer 1 for the first try.

--- What `on_response` receives.
---@class octogen.ResponseInfo
---@field method string
---@field url string
---@field attempt integer
---@field status? integer HTTP status; nil for a network failure.
---@field elapsed? number Seconds, on success.
---@field request_id? string
---@field error? octogen.Error Set when the attempt failed.

--- Backoff between retries. Every field is optional; the defaults are shown.
---@class octogen.RetryPolicy
---@field base_delay? number Seconds before the first retry; doubles each time (default 1).
---@field max_delay? number Cap on one wait, in seconds (default 30).
---@field jitter? number Each wait is reduced by a random fraction up to this, 0..1 (default 0.5).
---@field max_retry_after? number A longer Retry-After is not waited for: the error is returned (default 60).

---------------------------------------------------------------------------
-- Method parameters

--- Base facet names (any other string is an attribute facet, sent bare
--- like "fit" or qualified like "attribute_facets.fit").
---@alias octogen.FacetName
---| "brand_name"
---| "brand_slug"
---| "raw_brand_name"
---| "product_type"
---| "gender"          # male, female, unisex
---| "age_groups"      # infant, toddler, kids, adult
---| "color"
---| "color_family"    # Black Blue Brown Gray Green Orange Pink Purple Red White Yellow
---| "is_activewear"
---| "category_path.depth_0"
---| "category_path.depth_1"
---| "category_path.depth_2"
---| "category_path.depth_3"
---| "category_path.depth_4"
---| "category_path.depth_5"
---| "category_path.depth_6"
---| string

--- One facet in the API's list form. Facets AND across names and OR
--- within one name's values.
---@class octogen.Facet
---@field name octogen.FacetName
---@field values string|string[] A single string is a one-value list.

--- The map shorthand for facets: `{ color_family = {"Black", "Gray"}, gender = "male" }`,
--- sent in name order. Keys such as "category_path.depth_0" and attribute
--- facets go in brackets.
---@class octogen.FacetMap
---@field brand_name? string|string[]
---@field brand_slug? string|string[]
---@field raw_brand_name? string|string[]
---@field product_type? string|string[]
---@field gender? string|string[]
---@field age_groups? string|string[]
---@field color? string|string[]
---@field color_family? string|string[]
---@field is_activewear? string|string[]
---@field [string] string|string[]

--- A pre-built semantic query, sent as given (keys are snake_case on the wire).
---@class octogen.TextSearchQuery
---@field text string Required.
---@field search_id? string
---@field limit? integer
---@field ranking_text? string
---@field retrieval_embedding_columns? ("embedding"|"style_embedding"|"tags_embedding"|"attributes_embedding")[]
---@field ranking_embedding_columns? ("embedding"|"style_embedding"|"tags_embedding"|"attributes_embedding")[]
---@field facets? { name: string, values: string[] }[] List form only: the map shorthand is not converted here.
---@field exclusion_facets? { name: string, values: string[] }[]
---@field price_min? number
---@field price_max? number
---@field [string] any

--- Parameters of `search_products`. An unknown name raises.
---@class octogen.SearchParams
---@field catalog? string A catalog key; passed through when given (the server decides whether it is required).
---@field q? string Free-text keywords; omit to browse.
---@field facets? octogen.Facet[]|octogen.FacetMap List form `{ {name = "color_family", values = {"Black"}} }` or map shorthand `{ color_family = "Black" }`.
---@field price_min? number Inclusive: current_price >= price_min.
---@field price_max? number Inclusive: current_price <= price_max.
---@field cursor? string The previous page's next_cursor, unchanged.
---@field limit? integer Page size, 1..100 (the server's default is 50).
---@field text_search_query? octogen.TextSearchQuery

--- Parameters of `pages` and `items`: the search's, plus max_pages.
---@class octogen.PagesParams: octogen.SearchParams
---@field max_pages? integer Stop after this many pages (at least 1).

--- Options of `lookup_product`, beside the per-call options. Only the ones
--- given are sent (as resolutionMode, onDemandCachePolicy, matchMode).
---@class octogen.LookupOptions: octogen.CallOptions
---@field resolution_mode? "auto"|"index_only"|"on_demand_only" Server default "auto": the index, then on-demand resolution on a miss.
---@field on_demand_cache_policy? "prefer_cache"|"refresh" Server default "prefer_cache"; "refresh" with "index_only" raises.
---@field match_mode? "strict"|"loose" Server default "loose".

--- A refresh target: exactly one of url and uuid, optionally a catalog.
---@class octogen.RefreshTarget
---@field url? string
---@field uuid? string
---@field catalog? string

--- What `refresh_products` takes for each target: a URL string is short for `{url = ...}`.
---@alias octogen.RefreshTargetInput string|octogen.RefreshTarget

--- Options of `refresh_products`, beside the per-call options.
---@class octogen.RefreshOptions: octogen.CallOptions
---@field batch_size? integer Targets per request, 1..500 (default 500).
---@field concurrency? integer Batches sent at once (default 1).

--- One call for `client:all`: the method name, then its arguments. Set `n`
--- when an argument in the middle is nil.
---@class octogen.Call
---@field [1] octogen.StartableMethod
---@field [integer] any
---@field n? integer

--- One result of `client:all`: `{result, meta}` or `{nil, err}`.
---@class octogen.CallResult
---@field [1] any
---@field [2] octogen.Meta|octogen.Error

---@class octogen.AllOptions
---@field concurrency? integer Calls in flight at once (default 8).

---------------------------------------------------------------------------
-- The client

--- What `pages` returns, for a generic `for`: each page and its meta (a
--- search page, or the page class of the method named).
---@alias octogen.PageIterator fun(): octogen.SearchPage|table, octogen.Meta

--- What `items` returns, for a generic `for`: each item and its page's meta.
---@alias octogen.ItemIterator fun(): octogen.ProductListItem|table, octogen.Meta

-- BEGIN GENERATED (tools/docgen.lua)
-- Do not edit: tools/docgen.lua writes this region from lua/octogen/methods.lua
-- and lua/octogen/options.lua (`make doc`); spec/docs_spec.lua fails when it drifts.

--- Options of `octogen.client{...}`. An unknown name raises an
--- InvalidArgumentError naming it.
---@class octogen.ClientOptions
---@field api_key? string|octogen.TokenProvider the API key, or a function(refused) -> token [, expires_in] (octogen.auth.client_credentials) (default: $OCTO_API_KEY, then $OCTOGEN_PLATFORM_API_KEY).
---@field allow_keyless? boolean with no key, send no Authorization header (the keyless trial: search, lookup, domains) (default: false).
---@field base_url? string the API's base URL; a trailing slash is fine (default: https://api.octogen.ai/v1).
---@field timeout? number seconds a request may take in all (default: 30).
---@field connect_timeout? number seconds to connect (default: 10).
---@field headers? table<string, string|number> extra headers sent on every request.
---@field user_agent? string appended to octogen-lua's own User-Agent.
---@field max_response_bytes? number larger bodies are refused (ResponseTooLargeError) (default: 64 MiB).
---@field max_retries? integer retries of a transient failure (see Retries) (default: 2).
---@field retry? octogen.RetryPolicy the backoff policy (default: {base_delay = 1, max_delay = 30, jitter = 0.5, max_retry_after = 60}).
---@field sleep? fun(seconds: number) function(seconds) used to wait between attempts (default: blocking (ngx.sleep in nginx)).
---@field on_request? fun(info: octogen.RequestInfo) function(info) before every attempt.
---@field on_response? fun(info: octogen.ResponseInfo) function(info) after every attempt.
---@field proxy? string a proxy libcurl understands (not under the cosocket transport).
---@field ca_file? string CA bundle file for TLS (libcurl) (default: the system's).
---@field ca_path? string CA directory for TLS (libcurl) (default: the system's).
---@field insecure? boolean turns TLS verification off; tostring(client) says so (default: false).
---@field allow_insecure_http? boolean permit http:// to a host that is not loopback (default: false).
---@field transport? octogen.Transport "auto" (cosockets inside nginx, else libcurl), "curl" or "ngx" (default: "auto").
---@field store? table where pauses, the rate-limit bucket and the cache are shared: ngx.shared.DICT, {shared_dict = name} or {redis = {host =, port =, ...}} (default: in-process).
---@field rate_limit? table {per_second = N [, burst = M]}, or "auto" (learned from X-RateLimit-Limit): a token bucket in the store.
---@field cache? table {method = seconds or "max-age", stale_ttl =, negative_ttl =, lock_ttl =}: cached reads, in the store.
---@field on_store_error? function function(info) when the store fails (calls go on without it).
---@field namespace? string the store's key prefix for this key's organization (needed with a token provider and a shared store) (default: a hash of the API key).

--- Per-call options: the last table of every method (an `opts` argument
--- takes them beside its own fields, its class deriving from this one).
---@class octogen.CallOptions
---@field max_retries? integer retries for this call (default: the client's).
---@field retry? octogen.RetryPolicy backoff policy fields for this call (default: the client's).
---@field timeout? number seconds this call's requests may take (default: the client's).
---@field sleep? fun(seconds: number) how this call waits between attempts (default: the client's).

--- The methods `client:start` and `client:all` can run.
---@alias octogen.StartableMethod "search_products"|"lookup_product"|"more_like_this"|"resolve_product_from_html"|"list_domains"|"domain_coverage"|"me"|"start_voyage"|"list_voyages"|"get_voyage"|"create_url_list"|"list_url_lists"|"get_url_list"|"delete_url_list"|"add_url_list_urls"|"remove_url_list_urls"|"check_url_list_urls"|"list_url_list_urls"|"list_catalogs"|"refresh_products"|"request"

--- The cursor-paged methods `client:pages` and `client:items` take by name.
---@alias octogen.PagedMethod "search_products"|"more_like_this"|"list_voyages"|"list_url_lists"|"list_url_list_urls"

--- The API methods of a client (lua/octogen/methods.lua lists them).
--- Each returns its result and an `octogen.Meta` on success, and
--- `nil, err` on any API or network failure. Mistakes in the call itself
--- raise an InvalidArgumentError before anything is sent.
---@class octogen.ClientMethods
local Methods = {}

--- Search products by keyword, facets and price; one page (see pages/items).
--- POST /products/search (operationId searchProducts, keyless).
--- Cursor-paged: `client:pages("search_products", ...)`, `client:items("search_products", ...)`.
---@param params octogen.SearchParams q, catalog, facets, price_min/max, limit, cursor, text_search_query
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.SearchPage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:search_products(params, call_opts) end

--- Look a product up by its page URL (index, then on-demand extraction).
--- POST /products/lookup (operationId lookupProduct, keyless).
---@param url string the product page URL
---@param opts? octogen.LookupOptions resolution_mode, on_demand_cache_policy, match_mode
---@return octogen.LookupResponse|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:lookup_product(url, opts) end

--- Products similar to one product.
--- POST /products/more-like-this (operationId moreLikeThisProducts).
--- Cursor-paged: `client:pages("more_like_this", ...)`, `client:items("more_like_this", ...)`.
---@param source string|octogen.ProductSource a product URL, {url = ...} or {uuid = ...}
---@param params? octogen.MoreLikeThisParams catalog, cursor, limit (1..100, default 12), include_facets, exclude_facets, price_preference, debug
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.MoreLikeThisPage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:more_like_this(source, params, call_opts) end

--- Extract a product from HTML you already have (no fetch, no index).
--- POST /products/resolve-from-html (operationId resolveProductFromHtml).
---@param html string the page's serialized DOM (1 byte to 5 MiB)
---@param url? string the page URL the DOM was captured from (left out when nil)
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.LookupResponse|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:resolve_product_from_html(html, url, call_opts) end

--- The shops Octogen covers: {domains, etag, max_age_seconds, not_modified}.
--- GET /domains (operationId listDomains, keyless).
---@param opts? octogen.ListDomainsOptions if_none_match: an ETag from an earlier answer
---@return octogen.DomainList|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_domains(opts) end

--- A coverage object (covers, catalogs_for, is_stale); the same object back on a 304.
--- GET /domains (operationId listDomains, keyless).
---@param previous? octogen.DomainCoverage an earlier coverage object, revalidated by its ETag
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.DomainCoverage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:domain_coverage(previous, call_opts) end

--- The organization, key, quotas and rate limit behind the client's key.
--- GET /me (operationId getMe).
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.Me|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:me(call_opts) end

--- Start (202, created = true) or join (200, created = false) a crawl of a shop.
--- POST /voyage (operationId startVoyage).
---@param domain string a domain or a URL of the shop to crawl
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.VoyageStart|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:start_voyage(domain, call_opts) end

--- Your voyages, newest first, with the voyage quotas.
--- GET /voyage (operationId listVoyages).
--- Cursor-paged: `client:pages("list_voyages", ...)`, `client:items("list_voyages", ...)`.
---@param params? octogen.ListVoyagesParams status, cursor, limit (1..100)
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.VoyagePage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_voyages(params, call_opts) end

--- One voyage: status, phase, progress and, once live, its catalog.
--- GET /voyage/{task_id} (operationId getVoyage).
---@param task_id string the voyage's task id
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.VoyageTask|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:get_voyage(task_id, call_opts) end

--- Create a coverage URL list (201; status provisioning).
--- POST /coverage/url-lists (operationId createUrlList).
---@param name string 1 to 80 characters, unique among your live lists
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.UrlList|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:create_url_list(name, call_opts) end

--- Your coverage URL lists, newest first.
--- GET /coverage/url-lists (operationId listUrlLists).
--- Cursor-paged: `client:pages("list_url_lists", ...)`, `client:items("list_url_lists", ...)`.
---@param params? octogen.PageParams cursor, limit (1..100)
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.UrlListPage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_url_lists(params, call_opts) end

--- One coverage URL list.
--- GET /coverage/url-lists/{urlListId} (operationId getUrlList).
---@param id string the list's urlListId
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.UrlList|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:get_url_list(id, call_opts) end

--- Delete a list (202; status delete_pending; idempotent).
--- DELETE /coverage/url-lists/{urlListId} (operationId deleteUrlList).
---@param id string the list's urlListId
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.UrlList|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:delete_url_list(id, call_opts) end

--- Add URLs to a list, 1,000 a request, every URL accounted for once.
--- POST /coverage/url-lists/{urlListId}/urls (operationId addUrlListUrls).
---@param id string the list's urlListId
---@param urls string[] any number; sent 1,000 a request
---@param opts? octogen.UrlListBatchOptions on_batch(done, total) and the per-call options
---@return octogen.UrlListMutation|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:add_url_list_urls(id, urls, opts) end

--- Remove URLs from a list, 1,000 a request.
--- POST /coverage/url-lists/{urlListId}/urls/remove (operationId removeUrlListUrls).
---@param id string the list's urlListId
---@param urls string[] any number; sent 1,000 a request
---@param opts? octogen.UrlListBatchOptions on_batch(done, total) and the per-call options
---@return octogen.UrlListMutation|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:remove_url_list_urls(id, urls, opts) end

--- Which URLs a list holds, 1,000 a request, results in input order.
--- POST /coverage/url-lists/{urlListId}/urls/contains (operationId checkUrlListUrls).
---@param id string the list's urlListId
---@param urls string[] any number; sent 1,000 a request
---@param opts? octogen.UrlListBatchOptions on_batch(done, total) and the per-call options
---@return octogen.UrlListCheck|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:check_url_list_urls(id, urls, opts) end

--- The URLs of a list, in the order they were added.
--- GET /coverage/url-lists/{urlListId}/urls (operationId listUrlListUrls).
--- Cursor-paged: `client:pages("list_url_list_urls", ...)`, `client:items("list_url_list_urls", ...)`.
---@param id string the list's urlListId
---@param params? octogen.PageParams cursor, limit (1..100)
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.UrlListUrlPage|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_url_list_urls(id, params, call_opts) end

--- The catalogs your key may search (older organizations only).
--- GET /catalogs (operationId listCatalogs).
--- Retired: retired for Developer (catalog_partner) organizations on 2026-07-09: they get 404.
---@param call_opts? octogen.CallOptions per-call options (max_retries, retry, timeout, sleep)
---@return octogen.Catalog[]|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_catalogs(call_opts) end

--- Ask for products to be re-crawled (where the server still has the route).
--- POST /products/refresh (operationId refreshProducts).
--- Retired: removed upstream (OCT-4122): servers without it answer 404 Not Found.
---@param targets octogen.RefreshTarget[] products by url or uuid (500 a request)
---@param opts? octogen.RefreshOptions catalog, priority
---@return octogen.RefreshResult|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:refresh_products(targets, opts) end

--- Iterate the pages of a cursor-paged method (search when given params).
---@param method_or_params string|octogen.SearchParams a cursor-paged method's name, or search params
---@param ... any that method's arguments
---@return octogen.PageIterator
function Methods:pages(method_or_params, ...) end

--- Iterate the items of every page of a cursor-paged method.
---@param method_or_params string|octogen.SearchParams a cursor-paged method's name, or search params
---@param ... any that method's arguments
---@return octogen.ItemIterator
function Methods:items(method_or_params, ...) end

--- Any other request to the API, with the client's key, retries and errors.
---@param method string GET, POST, ...
---@param path string relative to base_url
---@param body? table|string encoded as JSON unless a string
---@param opts? octogen.RequestOptions query, headers and the per-call options
---@return any|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:request(method, path, body, opts) end
-- END GENERATED

--- A client of `octogen.client()`: libcurl handles and their keep-alive
--- connections, or (inside nginx) nginx's cosocket pool, which it holds no
--- socket of between calls; usable with `<close>` on Lua 5.4.
---@class octogen.Client: octogen.ClientMethods
local Client = {}

--- The base URL requests go to, without trailing slash.
---@return string
function Client:base_url() end

--- Frees the connection. Harmless when called twice; a closed client
--- raises "octogen.client is closed" when used.
function Client:close() end

---@return boolean
function Client:is_closed() end

--- Starts a call without waiting: the arguments are checked at once, the
--- network work happens in `poll` (inside nginx, on an nginx light thread,
--- ngx.thread.spawn).
---
---     local req = client:start("search_products", { q = "jacket" })
---@param name octogen.StartableMethod
---@param ... any The method's arguments.
---@return octogen.Request
function Client:start(name, ...) end

--- Advances every started call; waits at most `seconds` (default 0: never)
--- for the network or a retry's backoff. Returns how many are still pending.
---@param seconds? number
---@return integer pending
function Client:poll(seconds) end

--- How many started calls have not finished (without polling).
---@return integer
function Client:pending() end

--- Runs a list of calls, at most `opts.concurrency` (default 8) at a time;
--- the results come back in the order of the calls.
---
---     local results = client:all({ {"search_products", {q = "hoodie"}}, {"lookup_product", url} })
---@param calls octogen.Call[]
---@param opts? octogen.AllOptions
---@return octogen.CallResult[]
function Client:all(calls, opts) end

--- A call started with `client:start`.
---@class octogen.Request
local Request = {}

--- True once the call has finished.
---@return boolean
function Request:done() end

--- The call's outcome, exactly as the blocking call returns it (result,
--- meta or nil, err); polls the client (inside nginx, ngx.thread.wait)
--- until it has finished.
---@return any result
---@return octogen.Meta|octogen.Error|any meta_or_err
function Request:result() end

---------------------------------------------------------------------------
-- Meta and errors

--- The second value of every successful call.
---@class octogen.Meta
---@field status integer HTTP status.
---@field headers table<string, string> Response headers, lower-case names; a repeated header is joined with ", ".
---@field request_id? string The X-Request-Id header.
---@field attempts integer Tries made (1 when no retry was needed).
---@field elapsed number Seconds the last attempt took.
---@field rate_limit octogen.RateLimit From the X-RateLimit-* headers (empty when none was sent).
---@field not_modified? boolean True for a 304 Not Modified (`request` with If-None-Match; `list_domains`).

---@class octogen.RateLimit
---@field limit? integer Requests per minute (X-RateLimit-Limit).
---@field remaining? integer Tokens left now (X-RateLimit-Remaining).
---@field reset? integer Unix time when the bucket is full again (X-RateLimit-Reset).

--- Error classes; `err:is(name)` follows this hierarchy:
--- OctogenError > {MissingAPIKeyError, InvalidArgumentError, ConnectionError > TimeoutError,
--- APIError > {AuthenticationError, ForbiddenError, NotFoundError, ValidationError, RateLimitError, ServerError}}.
---@alias octogen.ErrorName
---| "OctogenError"          # the root
---| "MissingAPIKeyError"    # raised by octogen.client, never returned
---| "InvalidArgumentError"  # raised for a mistake in a call, never returned
---| "ConnectionError"       # DNS, refused, reset, TLS; curl_code set
---| "TimeoutError"          # a ConnectionError
---| "APIError"              # any non-2xx; a 2xx that is not the JSON expected
---| "AuthenticationError"   # 401
---| "ForbiddenError"        # 403
---| "NotFoundError"         # 404
---| "ValidationError"       # 422 (detail is a list of octogen.ValidationIssue)
---| "RateLimitError"        # 429
---| "ServerError"           # 5xx

--- An error: returned as `nil, err` for API and network failures, raised
--- for mistakes in a call. `tostring(err)` is one line.
---@class octogen.Error
---@field name octogen.ErrorName
---@field message string
---@field status_code? integer HTTP status; nil for network failures.
---@field detail? string|octogen.ValidationIssue[]|octogen.RefreshResponse|table The body's `detail` decoded, the whole decoded body when it has none, or the raw text when it is not JSON.
---@field body? string The raw response body.
---@field headers? table<string, string> Response headers, lower-case names.
---@field request_id? string The X-Request-Id header, else the body's requestId.
---@field method? string
---@field url? string
---@field attempts? integer Tries made.
---@field cursor? string Set by `pages`/`items`: the cursor of the page that failed (resume with params.cursor = err.cursor).
---@field result? octogen.RefreshResult Set by `refresh_products` when nothing was accepted, or when a whole-request error ended the call.
---@field curl_code? integer libcurl's CURLcode, for network failures.
---@field tls? boolean True for a TLS failure.
---@field retryable? boolean false for failures that cannot change (TLS verification).
---@field code? string The API's code: a bare-string detail matching ^[a-z][a-z0-9_]{2,63}$ ("product_not_found"), or detail.code ("voyage_quota_exceeded").
---@field retry_after? integer Seconds, when the server sent Retry-After.
---@field rate_limit? octogen.RateLimit From the X-RateLimit-* headers of the failed response.
local Error = {}

--- True when the error is of class `name` or of a class below it.
---@param name octogen.ErrorName
---@return boolean
function Error:is(name) end

--- Raises this error (for code that prefers exceptions to `nil, err`).
---@param level? integer As error()'s level.
function Error:raise(level) end

--- One entry of a 422's detail.
---@class octogen.ValidationIssue
---@field loc (string|integer)[] Where, e.g. {"body", "limit"}.
---@field msg string
---@field type string e.g. "less_than_equal", "missing".
---@field input? any
---@field ctx? table

---------------------------------------------------------------------------
-- Results (GET /catalogs)

--- One catalog of `list_catalogs` (MerchantCatalogSummary).
---@class octogen.Catalog
---@field catalog string The catalog key; pass it to search's `catalog`.
---@field display_name string
---@field source_base_url? string Merchant site base URL.
---@field product_count integer Active indexed products.
---@field last_indexed_at? string ISO-8601 UTC time of the last completed index run.

---------------------------------------------------------------------------
-- Results (POST /products/search)

--- One page of `search_products` (MerchantProductListPage).
---@class octogen.SearchPage
---@field items octogen.ProductListItem[] At most `limit` items; {} when the server sent none.
---@field next_cursor? string Pass back as `cursor` for the next page; nil on the last page.

--- A search result (MerchantProductListItem). Fields the server adds that
--- are not listed here are kept too (index them with a string).
---@class octogen.ProductListItem
---@field uuid string Stable product id; de-duplicate across pages with it.
---@field catalog_key? string The item's catalog (cross-catalog searches).
---@field product_url string Canonical product page; can be passed to lookup_product.
---@field title? string
---@field brand? octogen.Brand
---@field current_price? number No currency on list items.
---@field original_price? number nil when no discount applies.
---@field image_url? string Primary image.
---@field images? (string|octogen.Image)[] Every image URL (objects in the newest API version).
---@field primary_image? octogen.Image Newest API version only.
---@field rating? octogen.Rating
---@field is_active? boolean
---@field display_match_score? integer 0..100, for display only.
---@field raw_score? number Search-engine score, for debugging.
---@field updated_at? string ISO-8601 time of the last index update.

---@class octogen.Brand
---@field name string
---@field slug? string The same value as the brand_slug facet.
---@field url? string
---@field description? string

---@class octogen.Rating
---@field average? number
---@field count? integer

--- An image object (newest API version; older ones send URL strings).
---@class octogen.Image
---@field url string
---@field cdn_url? string
---@field width? integer
---@field height? integer
---@field mime_type? string
---@field size_bytes? integer

---------------------------------------------------------------------------
-- Results (POST /products/lookup)

--- The answer of `lookup_product` (MerchantProductUrlLookupResponse).
---@class octogen.LookupResponse
---@field request_id? string
---@field source "indexed"|"on_demand"
---@field catalog_key? string nil for on-demand results.
---@field catalog_display_name? string
---@field source_base_url? string
---@field product octogen.ProductView
---@field requested_url? string The URL submitted, unchanged.
---@field normalized_url? string Stable re-lookup URL for indexed results.
---@field resolved_url? string Final URL after redirects (on-demand results).
---@field canonical_url? string The page's declared canonical URL (on-demand results).
---@field resolution? octogen.Resolution How an on-demand result was resolved.
---@field cache_status? "hit"|"miss"|"refresh"
---@field warnings? string[] Non-fatal notes, e.g. "missing_brand".
---@field matched_via? string Debug: "exact", "normalized_exact", "loose", ...

---@class octogen.Resolution
---@field completeness "complete"|"partial"
---@field method "json_ld"|"open_graph"|"html_meta"|"resolved_url"
---@field rendered? boolean
---@field missing_fields? string[]

--- A full product record (MerchantProductView): every list-item field, and
--- more. For on-demand results any field may be absent, and uuid,
--- catalog_key and is_active are.
---@class octogen.ProductView: octogen.ProductListItem
---@field uuid? string nil for on-demand results.
---@field is_active? boolean nil for on-demand results.
---@field currency? string e.g. "USD".
---@field description? string
---@field in_stock? boolean
---@field sizes? string[]
---@field tags? string[]
---@field categories? octogen.Category[]
---@field breadcrumbs? octogen.Breadcrumb[]
---@field colors? octogen.Color[]
---@field variants? octogen.Variant[]
---@field details? octogen.Details
---@field audience? octogen.Audience
---@field identifiers? octogen.Identifiers
---@field promotions? octogen.Promotion[]
---@field reviews? octogen.Review[]
---@field videos? octogen.Video[]
---@field enrichment? octogen.Enrichment Keys as the server sends them (snake_case already).

---@class octogen.Category
---@field name string
---@field url? string

---@class octogen.Breadcrumb
---@field name string
---@field url? string

---@class octogen.Color
---@field label string
---@field hex_code? string e.g. "#2b4c7e".
---@field swatch_url? string

---@class octogen.Variant
---@field sku? string
---@field product_url? string
---@field size? string
---@field image_url? string
---@field in_stock? boolean
---@field color? octogen.Color

---@class octogen.Details
---@field materials? string[]
---@field fit? string[]
---@field patterns? string[]
---@field dimensions? string

---@class octogen.Audience
---@field genders? string[]
---@field age_groups? string[]

---@class octogen.Identifiers
---@field product_id? string
---@field gtin? string
---@field product_group_id? string

---@class octogen.Promotion
---@field description? string
---@field code? string
---@field promotion_id? string

---@class octogen.Review
---@field author? string
---@field body? string
---@field rating? number
---@field published_at? string ISO-8601.

---@class octogen.Video
---@field url? string
---@field thumbnail_url? string
---@field name? string

--- ProductEnrichment. Its keys are snake_case on the wire and arrive
--- unchanged: the product type is `type` (the Python SDK renames it
--- product_type).
---@class octogen.Enrichment
---@field type? string Product type, e.g. "hoodie".
---@field type_synonyms? string[]
---@field tags? string[]
---@field styles? string[]
---@field image_with_single_product? boolean
---@field gender? string "male", "female", "unisex".
---@field is_activewear? boolean
---@field age_groups? string[]
---@field color? string[]
---@field color_family? string[]
---@field category_path? string[] Category names from the top level down.
---@field attributes? table<string, string[]> Attribute name -> values.
---@field attribute_handles? table<string, string[]>
---@field structured_attributes? octogen.EnrichmentAttribute[]
---@field brand_id? string
---@field canonical_brand? octogen.CanonicalBrand
---@field summary? string
---@field [string] any

---@class octogen.EnrichmentAttribute
---@field handle string
---@field name string
---@field values? octogen.EnrichmentAttributeValue[]

---@class octogen.EnrichmentAttributeValue
---@field name string
---@field handle string

---@class octogen.CanonicalBrand
---@field brand_uuid string
---@field brand_name string
---@field brand_slug? string
---@field brand_synonyms? string[]
---@field brand_enrichment? octogen.BrandEnrichment

---@class octogen.BrandEnrichment
---@field brand_quality_score? number
---@field facet_origin_country? string
---@field facet_price_tier? string
---@field facet_target_audience? string
---@field facet_style_identity? string[]
---@field facet_sustainability? string[]
---@field facet_brand_ethics? string[]
---@field facet_brand_inclusivity? string[]
---@field facet_brand_cultural_anchors? string[]
---@field facet_key_people_names? string[]
---@field facet_key_people_nationalities? string[]
---@field facet_brand_hype_cycle_stage? string[]
---@field domain? string
---@field founded_year? integer
---@field brand_description? string
---@field brand_positioning? string
---@field [string] any

---------------------------------------------------------------------------
-- Results (POST /products/refresh)

--- The merged result of `refresh_products`: every target given is in
--- `accepted` or `rejected` (#accepted + #rejected == submitted).
---@class octogen.RefreshResult
---@field submitted integer How many targets were given.
---@field accepted octogen.RefreshAccepted[] In batch order.
---@field rejected octogen.RefreshRejection[] In input order.
---@field request_ids string[] One per batch the server answered.
---@field workflow_ids string[] One per batch that launched a workflow.
---@field errors octogen.Error[] One per batch that failed as a whole.

--- A resolved target.
---@class octogen.RefreshAccepted
---@field catalog string
---@field url string

--- A target that was not accepted.
---@class octogen.RefreshRejection
---@field target octogen.RefreshTargetInput|any Exactly what was passed (the server's echo when it matched nothing sent).
---@field code string "invalid_target" or "batch_failed" (client side), "ambiguous_url", "product_not_found", ... (server).
---@field message string

--- One POST /products/refresh answer as the server sends it
--- (ProgrammaticProductRefreshResponse): what `client:request` returns for
--- that path, and `err.detail` of a refresh 400.
---@class octogen.RefreshResponse
---@field request_id string
---@field submitted integer Targets received.
---@field workflow_id? string
---@field workflow_error? string A launch error that does not undo acceptance.
---@field workflow_status? "pending"|"launching"|"launched"|"retry_pending"
---@field workflow_attempts? integer
---@field accepted octogen.RefreshAccepted[]
---@field rejected octogen.RefreshServerRejection[]

---@class octogen.RefreshServerRejection
---@field target octogen.RefreshTarget The target as sent.
---@field code string "ambiguous_url", "product_not_found", ...
---@field message string

---------------------------------------------------------------------------
-- Parameters of the newer methods (section 11 of the API contract)

--- What `more_like_this` starts from: exactly one of url and uuid (a URL
--- string is short for `{url = ...}`).
---@class octogen.ProductSource
---@field url? string A product page URL.
---@field uuid? string A product uuid (an item's `uuid`).

--- Parameters of `more_like_this`. Only the ones given are sent.
---@class octogen.MoreLikeThisParams
---@field catalog? string Restrict the results to one catalog (sent as `catalogs = {catalog}`); the source may be in any catalog.
---@field catalogs? string[] Restrict the results to these catalogs (1..100).
---@field cursor? string The previous page's next_cursor, unchanged.
---@field limit? integer Page size, 1..100 (the server's default is 12).
---@field include_facets? octogen.Facet[]|octogen.FacetMap Added after the facets the server generates from the source.
---@field exclude_facets? octogen.Facet[]|octogen.FacetMap
---@field price_preference? "lower"|"any"|"higher" Server default "any".
---@field debug? boolean Adds `effective_query` to the answer.

--- Options of `list_domains`, beside the per-call options.
---@class octogen.ListDomainsOptions: octogen.CallOptions
---@field if_none_match? string An ETag from an earlier answer: an unchanged set answers 304 (`not_modified = true`, no domains).

--- Parameters of `list_voyages`.
---@class octogen.ListVoyagesParams
---@field status? octogen.VoyageStatus Only voyages in this status.
---@field cursor? string The previous page's next_cursor, unchanged.
---@field limit? integer Page size, 1..100 (the server's default is 50).

--- Parameters of the other cursor-paged list methods.
---@class octogen.PageParams
---@field cursor? string The previous page's next_cursor, unchanged.
---@field limit? integer Page size, 1..100 (the server's default is 50).

--- Options of the URL-list methods that send URLs 1,000 a request
--- (add, remove, check), beside the per-call options.
---@class octogen.UrlListBatchOptions: octogen.CallOptions
---@field on_batch? fun(done: integer, total: integer) Called after each batch: URLs done so far, URLs given.

--- Options of `client:request`, beside the per-call options.
---@class octogen.RequestOptions: octogen.CallOptions
---@field query? table<string, string|number|boolean> The query string: keys sorted, values percent-encoded, booleans as true/false.
---@field headers? table<string, string|number> Headers for this call only, checked like the client's; a same-named client header is replaced (If-None-Match is allowed: a 304 returns `true, meta` with `meta.not_modified`).

---------------------------------------------------------------------------
-- Results (POST /products/more-like-this)

--- One page of `more_like_this`.
---@class octogen.MoreLikeThisPage
---@field items octogen.ProductListItem[]
---@field next_cursor? string Pass back as `cursor` for the next page; nil on the last page.
---@field source? octogen.MoreLikeThisSource The product the results are like.
---@field source_image? { hash: string } For image sources.
---@field resolution? "image_query_generation"|"cached_image_query" For image sources only.
---@field effective_query? table With `debug`: the query the server ran (text, limit, catalogs, facets, ...).

---@class octogen.MoreLikeThisSource
---@field catalog_key string
---@field product_url string
---@field uuid string
---@field title? string

---------------------------------------------------------------------------
-- Results (GET /domains)

--- What `list_domains` returns.
---@class octogen.DomainList
---@field domains? octogen.DomainEntry[] One per (host, catalog) pair, sorted by host then catalog; nil on a 304.
---@field etag? string The ETag header: pass it back as `if_none_match`.
---@field max_age_seconds? integer From Cache-Control max-age.
---@field not_modified boolean True on a 304 (nothing changed since `if_none_match`).

--- One /domains entry.
---@class octogen.DomainEntry
---@field host string
---@field catalog string The catalog key; pass it to search's `catalog`.
---@field catalog_display_name string

--- What `domain_coverage` returns (lua/octogen/coverage.lua). `entries`
--- and `hosts` are copies: changing them changes no answer.
---@class octogen.DomainCoverage
---@field etag? string The ETag it was fetched with; `domain_coverage(previous)` revalidates with it.
---@field max_age_seconds? integer
---@field retrieved_at number Epoch seconds of the last fetch or 304 revalidation.
---@field entries octogen.DomainEntry[] A copy of /domains' entries.
---@field hosts string[] The covered hosts: normalized (octogen.normalize_host), unique, sorted.
local DomainCoverage = {}

--- True when the normalized host of `url_or_host` is covered; nonsense is not.
---@param url_or_host string
---@return boolean
function DomainCoverage:covers(url_or_host) end

--- The catalogs covering `url_or_host`'s host, first-seen order, no duplicates; {} when none.
---@param url_or_host string
---@return string[]
function DomainCoverage:catalogs_for(url_or_host) end

--- True with no max-age, or once `now - retrieved_at >= max_age_seconds`.
---@param now? number Epoch seconds (default: now).
---@return boolean
function DomainCoverage:is_stale(now) end

---------------------------------------------------------------------------
-- Results (GET /me)

--- What `me` returns. A super-admin key gets only `principal` (and rate_limit).
---@class octogen.Me
---@field principal "api_key"|"super_admin"
---@field organization? octogen.MeOrganization
---@field key? octogen.MeKey
---@field quotas? { voyage?: octogen.VoyageQuotas }
---@field rate_limit? octogen.MeRateLimit nil when the limiter is off.

---@class octogen.MeOrganization
---@field id string A UUID.
---@field name string
---@field slug string
---@field type "merchant"|"catalog_partner" Only catalog_partner ("Developer") organizations may use /v1.

---@class octogen.MeKey
---@field id string The key's middle segment.
---@field prefix? string A loggable prefix such as "octo_live_3f9c1a2b4d".
---@field source? "ui"|"coding_agent"|"id_jag" Absent while the server does not know.

---@class octogen.MeRateLimit
---@field limit integer Requests per minute.
---@field remaining integer
---@field reset_at string RFC 3339 UTC time when the bucket is full again.

---------------------------------------------------------------------------
-- Results (voyages)

---@alias octogen.VoyageStatus "queued"|"running"|"in_review"|"completed"|"failed"|"cancelled"

--- What `start_voyage` returns.
---@class octogen.VoyageStart
---@field task octogen.VoyageTask
---@field created boolean True for a new voyage (202, uses quota), false when joined (200).

--- A voyage (a crawl of one shop; hours to days: poll every 5 minutes or less often).
---@class octogen.VoyageTask
---@field task_id string
---@field domain string As the server normalized it (lower case, no scheme, path, port or www.).
---@field status octogen.VoyageStatus
---@field phase "discovering_site"|"sampling_products"|"building_extraction"|"in_review"|"publishing_catalog"|"complete"|"failed"
---@field phase_label string
---@field progress_percent number 0..100.
---@field created_at? string
---@field updated_at? string
---@field completed_at? string
---@field error? { code: string, message: string }
---@field result? octogen.VoyageResult Set once the catalog is live.

---@class octogen.VoyageResult
---@field catalog string The new catalog's key.
---@field product_count? integer
---@field endpoints? { lookup: string, search: string }

--- One page of `list_voyages`, newest first.
---@class octogen.VoyagePage
---@field items octogen.VoyageTask[]
---@field next_cursor? string
---@field quotas? octogen.VoyageQuotas

--- Voyage quotas; every leaf may be absent.
---@class octogen.VoyageQuotas
---@field concurrent? { limit?: integer, used?: integer }
---@field monthly? { limit?: integer, used?: integer, period_start?: string, resets_at?: string }

---------------------------------------------------------------------------
-- Results (coverage URL lists)

--- A coverage URL list.
---@class octogen.UrlList
---@field url_list_id string
---@field name string
---@field status "provisioning"|"active"|"delete_pending"
---@field url_count integer
---@field created_at string
---@field updated_at string
---@field big_query? octogen.UrlListBigQuery nil while provisioning.

---@class octogen.UrlListBigQuery
---@field exchange_id string
---@field listing_id string
---@field shared_dataset_id string
---@field view_id string
---@field reader_count integer
---@field last_exported_at? string nil until the first daily export.
---@field last_row_count? integer

--- One page of `list_url_lists`, newest first.
---@class octogen.UrlListPage
---@field items octogen.UrlList[]
---@field next_cursor? string

--- One URL of a list.
---@class octogen.UrlListUrl
---@field url string
---@field normalized_url string
---@field added_at string

--- One page of `list_url_list_urls`, in the order the URLs were added.
---@class octogen.UrlListUrlPage
---@field items octogen.UrlListUrl[]
---@field next_cursor? string

--- The merged result of `add_url_list_urls` / `remove_url_list_urls`:
--- every URL given is in accepted, rejected or one of errors' `urls`.
---@class octogen.UrlListMutation
---@field accepted { url: string, normalized_url: string }[] In input order.
---@field rejected { url: string, code: string, message: string }[] In input order; code "invalid_url".
---@field url_count? integer The list's size after the last batch the server answered.
---@field request_ids string[] One per batch the server answered.
---@field batches integer Requests sent.
---@field errors octogen.UrlListBatchError[] One per batch that failed as a whole.

--- A batch that failed as a whole: its URLs were not added, removed or checked.
---@class octogen.UrlListBatchError
---@field code? string The error's code, e.g. "url_list_migrating".
---@field message string
---@field urls string[] The batch's URLs, in input order.
---@field err octogen.Error

--- The merged result of `check_url_list_urls`.
---@class octogen.UrlListCheck
---@field results octogen.UrlListCheckResult[] In input order.
---@field errors octogen.UrlListBatchError[]

---@class octogen.UrlListCheckResult
---@field url string
---@field normalized_url string
---@field present boolean
---@field added_at? string

---------------------------------------------------------------------------
-- octogen.auth

---@class octogen.auth
local auth = {}

--- A token provider for OAuth2 client credentials (RFC 6749 section 4.4):
--- fetches a token with grant_type=client_credentials, keeps it, renews it
--- refresh_margin seconds before it expires, and fetches a new one when the
--- API refuses it.
---@param opts octogen.ClientCredentialsOptions
---@return octogen.TokenProvider
---@nodiscard
function auth.client_credentials(opts) end

---@class octogen.ClientCredentialsOptions
---@field token_url string Required; https unless loopback or allow_insecure_http.
---@field client_id string Required.
---@field client_secret string Required.
---@field scope? string
---@field refresh_margin? number Seconds before expiry to renew (default 60).
---@field auth_method? "body"|"basic" Credentials as form fields (default) or in an HTTP Basic header.
---@field timeout? number Seconds for the token request.
---@field ca_file? string
---@field ca_path? string
---@field allow_insecure_http? boolean

return octogen
