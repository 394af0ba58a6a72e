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

--- Options of `octogen.client{...}`. An unknown name raises an
--- InvalidArgumentError naming it.
---@class octogen.ClientOptions
---@field api_key? string|octogen.TokenProvider The API key (default: $OCTO_API_KEY, then $OCTOGEN_PLATFORM_API_KEY; an empty string counts as not given), or a token provider function such as `octogen.auth.client_credentials{...}`.
---@field base_url? string Default "https://api.octogen.ai/v1"; a trailing slash is fine. http:// only for a loopback host unless allow_insecure_http.
---@field timeout? number Seconds for a whole attempt, connect to last byte (default 30); over nginx cosockets also the send and read timeout.
---@field connect_timeout? number Seconds for the TCP connect (default 10).
---@field headers? table<string, string|number> Extra headers sent on every request. Authorization, Accept, Content-Type, User-Agent, Host and Content-Length are refused (each has its option or follows from the request).
---@field user_agent? string Appended to the default User-Agent ("octogen-lua/0.1.0 (Lua 5.4; libcurl/7.88.1) my-app/1.0").
---@field max_response_bytes? number Larger response bodies are refused with an APIError (default 64 MiB).
---@field max_retries? integer Retries after the first try (default 2, so at most 3 attempts).
---@field retry? octogen.RetryPolicy Backoff settings; the fields given replace the defaults.
---@field sleep? fun(seconds: number) How to wait between tries (default: ngx.sleep inside an nginx handler, else a sleep that blocks the thread).
---@field on_request? fun(info: octogen.RequestInfo) Called before every attempt.
---@field on_response? fun(info: octogen.ResponseInfo) Called after every attempt.
---@field proxy? string Any proxy URL libcurl understands ("http://proxy:3128", "socks5h://..."). libcurl only: refused with an InvalidArgumentError over the ngx transport.
---@field ca_file? string CA bundle file for TLS verification (libcurl; under nginx, lua_ssl_trusted_certificate).
---@field ca_path? string CA certificate directory for TLS verification (libcurl; under nginx, lua_ssl_trusted_certificate).
---@field insecure? boolean Turns TLS certificate and host verification off (default false); tostring(client) then says so.
---@field allow_insecure_http? boolean Permits an http:// base_url whose host is not loopback (default false).
---@field transport? octogen.Transport How requests travel (default "auto").

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

--- Per-call options: the last table of every method (merged into
--- `octogen.LookupOptions` and `octogen.RefreshOptions`).
---@class octogen.CallOptions
---@field max_retries? integer Overrides the client's max_retries for this call.
---@field retry? octogen.RetryPolicy Fields given replace the client's policy for this call.
---@field timeout? number Seconds for each attempt of this call.
---@field sleep? fun(seconds: number) How this call waits between tries.

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

--- The methods `client:start` and `client:all` can run.
---@alias octogen.StartableMethod "list_catalogs"|"search_products"|"lookup_product"|"refresh_products"|"request"

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

--- What `pages` returns, for a generic `for`: each page and its meta.
---@alias octogen.PageIterator fun(): octogen.SearchPage, octogen.Meta

--- What `items` returns, for a generic `for`: each item and its page's meta.
---@alias octogen.ItemIterator fun(): octogen.ProductListItem, octogen.Meta

--- The API methods of a client (lua/octogen/methods.lua lists them).
--- Each returns its result and an `octogen.Meta` on success, and
--- `nil, err` on any API or network failure. Mistakes in the call itself
--- raise an InvalidArgumentError before anything is sent.
---@class octogen.ClientMethods
local Methods = {}

--- GET /catalogs: the catalogs granted to the key.
---@param call_opts? octogen.CallOptions
---@return octogen.Catalog[]|nil catalogs
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:list_catalogs(call_opts) end

--- POST /products/search: one page of results.
---@param params? octogen.SearchParams
---@param call_opts? octogen.CallOptions
---@return octogen.SearchPage|nil page
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:search_products(params, call_opts) end

--- Iterates over the pages of a search, following next_cursor (max_pages
--- stops early). A failure raises the error object, with `err.cursor` set
--- to the cursor of the page that failed.
---
---     for page, meta in client:pages { catalog = "tidepool", q = "jacket" } do ... end
---@param params? octogen.PagesParams
---@param call_opts? octogen.CallOptions
---@return octogen.PageIterator
function Methods:pages(params, call_opts) end

--- Iterates over the items of every page of a search (see `pages`).
---
---     for item in client:items { catalog = "tidepool", q = "jacket" } do print(item.title) end
---@param params? octogen.PagesParams
---@param call_opts? octogen.CallOptions
---@return octogen.ItemIterator
function Methods:items(params, call_opts) end

--- POST /products/lookup: a product by its page URL.
---@param url string
---@param opts? octogen.LookupOptions
---@return octogen.LookupResponse|nil res
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:lookup_product(url, opts) end

--- POST /products/refresh, in batches of at most 500, merged into one
--- result. When nothing was accepted it returns `nil, err` with
--- `err.result` holding the merged result.
---@param targets octogen.RefreshTargetInput[]
---@param opts? octogen.RefreshOptions
---@return octogen.RefreshResult|nil res
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:refresh_products(targets, opts) end

--- Any other endpoint, with the same authentication, retries, error mapping
--- and result conversion. A table body is encoded as JSON, a string body is
--- sent as it is; a 204 returns true. `path` is relative to base_url.
---@param method string An upper-case HTTP method: "GET", "POST", ...
---@param path string
---@param body? table|string
---@param call_opts? octogen.CallOptions
---@return any|nil result
---@return octogen.Meta|octogen.Error meta_or_err
function Methods:request(method, path, body, call_opts) end

--- Frees the connection. Harmless when called twice; a closed client
--- raises "octogen.client is closed" when used.
function Methods:close() end

---@return boolean
function Methods:is_closed() end

--- A client of `octogen.client()`: libcurl handles and their keep-alive
--- connections, or (inside nginx) nginx's cosocket pool, which it holds no
--- socket of between calls; usable with `<close>` on Lua 5.4.
---@class octogen.Client: octogen.ClientMethods
local Client = {}

--- The base URL requests go to, without trailing slash.
---@return string
function Client:base_url() end

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
