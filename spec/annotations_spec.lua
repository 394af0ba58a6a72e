-- types/octogen.d.lua, the LuaCATS annotations for lua-language-server,
-- checked against what the client really returns and accepts:
--
-- * every field the API returns (the contract, shared/octogen-api.md
--   sections 2 to 8) is a ---@field of the right class, under the name the
--   C core gives it (camelCase -> snake_case);
-- * every field the contract's tables and lists name is in this spec's
--   table, so a contract that grows a field fails here. The contract is
--   read from spec/fixtures/octogen-api.md, the repository's snapshot of
--   the API contract (`make contract-sync CONTRACT=...` refreshes it from
--   a newer copy), so the suite depends on nothing outside the repository;
-- * every option octogen.client accepts and every per-call option
--   (lua/octogen/options.lua), search parameter, lookup and refresh option;
-- * the section 11 results (more-like-this, /domains, /me, voyages, URL
--   lists) under their snake_case names, and the coverage object's fields
--   and methods as lua/octogen/coverage.lua builds them;
-- * every public method of the client (core.client_methods) and of errors,
--   and every field of the module tables;
-- * every entry of lua/octogen/methods.lua well formed (absent flags mean
--   false; an operation has http and path; cursor indexes its args);
-- * the API methods listed in lua/octogen/methods.lua: each annotated with
--   the result type the list gives, the startable ones exactly those of
--   octogen.StartableMethod, and every other client method a control
--   method (start, poll, ...), so that a new API method must be listed;
-- * every octogen.* type the annotations use is declared.
--
-- Each check fails with the full list of what is missing.
local core = require "octogen.core"
local octogen = require "octogen"

-- The repository root, from this file's own path (busted runs it as
-- spec/annotations_spec.lua from the root, but need not).
local ROOT = (function()
    local src = debug.getinfo(1, "S").source
    local dir = src:match("^@(.*)[/\\]spec[/\\][^/\\]+$")
    if dir == nil or dir == "" then return "." end
    return dir
end)()

local META = ROOT .. "/types/octogen.d.lua"
local CONTRACT = ROOT .. "/spec/fixtures/octogen-api.md"

local read = require("spec.support.sh").read_file

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    return keys
end

local function lines(text)
    local out = {}
    for line in (text:gsub("\r\n", "\n") .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = line end
    return out
end

-- Fails with one line per missing thing.
local function assert_none_missing(missing, what)
    table.sort(missing)
    assert(#missing == 0, string.format("%d %s:\n    %s", #missing, what, table.concat(missing, "\n    ")))
end

---------------------------------------------------------------------------
-- What the API returns, per annotated class: wire name -> the name the
-- client gives it. Derived from shared/octogen-api.md sections 2 to 8
-- (section 8 gives the Python SDK's names, which are ours except where
-- DIVERGES says otherwise).

local LIST_ITEM = {   -- section 4, MerchantProductListItem (search items[])
    uuid = "uuid",
    catalogKey = "catalog_key",
    productUrl = "product_url",
    title = "title",
    brand = "brand",
    currentPrice = "current_price",
    originalPrice = "original_price",
    imageUrl = "image_url",
    images = "images",
    rating = "rating",
    isActive = "is_active",
    displayMatchScore = "display_match_score",
    rawScore = "raw_score",
    updatedAt = "updated_at",
    primaryImage = "primary_image",        -- section 9.6: newest OpenAPI only
}

local PRODUCT_VIEW_ADDS = {   -- section 4, what MerchantProductView adds
    currency = "currency",
    description = "description",
    inStock = "in_stock",
    sizes = "sizes",
    tags = "tags",
    categories = "categories",
    breadcrumbs = "breadcrumbs",
    colors = "colors",
    variants = "variants",
    details = "details",
    audience = "audience",
    identifiers = "identifiers",
    promotions = "promotions",
    reviews = "reviews",
    videos = "videos",
    enrichment = "enrichment",
}

local PRODUCT_VIEW = {}
for k, v in pairs(LIST_ITEM) do PRODUCT_VIEW[k] = v end
for k, v in pairs(PRODUCT_VIEW_ADDS) do PRODUCT_VIEW[k] = v end

local API_FIELDS = {
    -- section 2: GET /catalogs, MerchantCatalogSummary
    ["octogen.Catalog"] = {
        catalog = "catalog", displayName = "display_name", sourceBaseUrl = "source_base_url",
        productCount = "product_count", lastIndexedAt = "last_indexed_at",
    },
    -- section 3: POST /products/search, MerchantProductListPage
    ["octogen.SearchPage"] = { items = "items", nextCursor = "next_cursor" },
    -- section 4
    ["octogen.ProductListItem"] = LIST_ITEM,
    ["octogen.Brand"] = { name = "name", slug = "slug", url = "url", description = "description" },
    ["octogen.Rating"] = { average = "average", count = "count" },
    ["octogen.Image"] = {   -- section 9.6: the newest OpenAPI's image objects
        url = "url", cdnUrl = "cdn_url", width = "width", height = "height",
        mimeType = "mime_type", sizeBytes = "size_bytes",
    },
    ["octogen.ProductView"] = PRODUCT_VIEW,
    ["octogen.Category"] = { name = "name", url = "url" },
    ["octogen.Breadcrumb"] = { name = "name", url = "url" },
    ["octogen.Color"] = { label = "label", hexCode = "hex_code", swatchUrl = "swatch_url" },
    ["octogen.Variant"] = {
        sku = "sku", productUrl = "product_url", size = "size", imageUrl = "image_url",
        inStock = "in_stock", color = "color",
    },
    ["octogen.Details"] = { materials = "materials", fit = "fit", patterns = "patterns", dimensions = "dimensions" },
    ["octogen.Audience"] = { genders = "genders", ageGroups = "age_groups" },
    ["octogen.Identifiers"] = { productId = "product_id", gtin = "gtin", productGroupId = "product_group_id" },
    ["octogen.Promotion"] = { description = "description", code = "code", promotionId = "promotion_id" },
    ["octogen.Review"] = { author = "author", body = "body", rating = "rating", publishedAt = "published_at" },
    ["octogen.Video"] = { url = "url", thumbnailUrl = "thumbnail_url", name = "name" },
    -- ProductEnrichment: snake_case on the wire, so unchanged.
    ["octogen.Enrichment"] = {
        type = "type", type_synonyms = "type_synonyms", tags = "tags", styles = "styles",
        image_with_single_product = "image_with_single_product", gender = "gender",
        is_activewear = "is_activewear", age_groups = "age_groups", color = "color",
        color_family = "color_family", category_path = "category_path", attributes = "attributes",
        attribute_handles = "attribute_handles", structured_attributes = "structured_attributes",
        brand_id = "brand_id", canonical_brand = "canonical_brand", summary = "summary",
    },
    ["octogen.EnrichmentAttribute"] = { handle = "handle", name = "name", values = "values" },
    ["octogen.EnrichmentAttributeValue"] = { name = "name", handle = "handle" },
    ["octogen.CanonicalBrand"] = {
        brand_uuid = "brand_uuid", brand_name = "brand_name", brand_slug = "brand_slug",
        brand_synonyms = "brand_synonyms", brand_enrichment = "brand_enrichment",
    },
    ["octogen.BrandEnrichment"] = { brand_quality_score = "brand_quality_score" },
    -- section 5: POST /products/lookup, MerchantProductUrlLookupResponse
    ["octogen.LookupResponse"] = {
        requestId = "request_id", source = "source", catalogKey = "catalog_key",
        catalogDisplayName = "catalog_display_name", sourceBaseUrl = "source_base_url",
        product = "product", requestedUrl = "requested_url", normalizedUrl = "normalized_url",
        resolvedUrl = "resolved_url", canonicalUrl = "canonical_url", resolution = "resolution",
        cacheStatus = "cache_status", warnings = "warnings", matchedVia = "matched_via",
    },
    ["octogen.Resolution"] = {
        completeness = "completeness", method = "method", rendered = "rendered", missingFields = "missing_fields",
    },
    -- section 6: POST /products/refresh as the server sends it (what
    -- client:request returns, and err.detail of a refresh 400)
    ["octogen.RefreshResponse"] = {
        requestId = "request_id", submitted = "submitted", workflowId = "workflow_id",
        workflowError = "workflow_error", accepted = "accepted", rejected = "rejected",
        workflowStatus = "workflow_status", workflowAttempts = "workflow_attempts",
    },
    ["octogen.RefreshAccepted"] = { catalog = "catalog", url = "url" },
    ["octogen.RefreshServerRejection"] = { target = "target", code = "code", message = "message" },
    ["octogen.RefreshTarget"] = { url = "url", uuid = "uuid", catalog = "catalog" },
    -- section 7.1: one entry of a 422's validation detail
    ["octogen.ValidationIssue"] = { loc = "loc", msg = "msg", type = "type", input = "input", ctx = "ctx" },
    -- section 11.5: POST /products/more-like-this
    ["octogen.MoreLikeThisPage"] = {
        items = "items", nextCursor = "next_cursor", source = "source", sourceImage = "source_image",
        resolution = "resolution", effectiveQuery = "effective_query",
    },
    ["octogen.MoreLikeThisSource"] = { catalogKey = "catalog_key", productUrl = "product_url", uuid = "uuid", title = "title" },
    -- section 11.7: GET /domains
    ["octogen.DomainEntry"] = { host = "host", catalog = "catalog", catalogDisplayName = "catalog_display_name" },
    -- section 11.8: GET /me
    ["octogen.Me"] = {
        principal = "principal", organization = "organization", key = "key", quotas = "quotas", rateLimit = "rate_limit",
    },
    ["octogen.MeOrganization"] = { id = "id", name = "name", slug = "slug", type = "type" },
    ["octogen.MeKey"] = { id = "id", prefix = "prefix", source = "source" },
    ["octogen.MeRateLimit"] = { limit = "limit", remaining = "remaining", resetAt = "reset_at" },
    -- section 11.9: voyages
    ["octogen.VoyageTask"] = {
        taskId = "task_id", domain = "domain", phaseLabel = "phase_label", progressPercent = "progress_percent",
        status = "status", phase = "phase", createdAt = "created_at", updatedAt = "updated_at",
        completedAt = "completed_at", error = "error", result = "result",
    },
    ["octogen.VoyageResult"] = { catalog = "catalog", productCount = "product_count", endpoints = "endpoints" },
    ["octogen.VoyagePage"] = { items = "items", nextCursor = "next_cursor", quotas = "quotas" },
    ["octogen.VoyageQuotas"] = { concurrent = "concurrent", monthly = "monthly" },
    -- section 11.10: coverage URL lists
    ["octogen.UrlList"] = {
        urlListId = "url_list_id", name = "name", status = "status", urlCount = "url_count",
        createdAt = "created_at", updatedAt = "updated_at", bigQuery = "big_query",
    },
    ["octogen.UrlListBigQuery"] = {
        exchangeId = "exchange_id", listingId = "listing_id", sharedDatasetId = "shared_dataset_id",
        viewId = "view_id", readerCount = "reader_count", lastExportedAt = "last_exported_at",
        lastRowCount = "last_row_count",
    },
    ["octogen.UrlListPage"] = { items = "items", nextCursor = "next_cursor" },
    ["octogen.UrlListUrl"] = { url = "url", normalizedUrl = "normalized_url", addedAt = "added_at" },
    ["octogen.UrlListUrlPage"] = { items = "items", nextCursor = "next_cursor" },
    ["octogen.UrlListCheckResult"] = {
        url = "url", normalizedUrl = "normalized_url", present = "present", addedAt = "added_at",
    },
}

-- Where our name differs from the Python SDK's (section 8): the client
-- renames nothing that has no capitals.
local DIVERGES = {
    ["octogen.Enrichment"] = { type = "type" },   -- Python: product_type
}

-- Shapes the client builds itself (not the API's): name lists.
local CLIENT_FIELDS = {
    ["octogen.RefreshResult"] = { "submitted", "accepted", "rejected", "request_ids", "workflow_ids", "errors" },
    ["octogen.RefreshRejection"] = { "target", "code", "message" },
    ["octogen.Meta"] = { "status", "headers", "request_id", "attempts", "elapsed", "rate_limit", "not_modified" },
    ["octogen.RateLimit"] = { "limit", "remaining", "reset" },
    ["octogen.Error"] = {
        "name", "message", "status_code", "detail", "body", "headers", "request_id", "method", "url",
        "attempts", "cursor", "result", "curl_code", "tls", "retryable", "code", "retry_after", "rate_limit",
    },
    -- section 11 results the client builds or merges
    ["octogen.DomainList"] = { "domains", "etag", "max_age_seconds", "not_modified" },
    ["octogen.VoyageStart"] = { "task", "created" },
    ["octogen.UrlListMutation"] = { "accepted", "rejected", "url_count", "request_ids", "batches", "errors" },
    ["octogen.UrlListBatchError"] = { "code", "message", "urls", "err" },
    ["octogen.UrlListCheck"] = { "results", "errors" },
    -- section 11 parameters
    ["octogen.ProductSource"] = { "url", "uuid" },
    ["octogen.MoreLikeThisParams"] = {
        "catalog", "catalogs", "cursor", "limit", "include_facets", "exclude_facets", "price_preference", "debug",
    },
    ["octogen.ListDomainsOptions"] = { "if_none_match" },
    ["octogen.ListVoyagesParams"] = { "status", "cursor", "limit" },
    ["octogen.PageParams"] = { "cursor", "limit" },
    ["octogen.RequestOptions"] = { "query", "headers" },
    ["octogen.RequestInfo"] = { "method", "url", "headers", "attempt" },
    ["octogen.ResponseInfo"] = { "method", "url", "attempt", "status", "elapsed", "request_id", "error" },
}

---------------------------------------------------------------------------
-- Reading the annotations: ---@class NAME[: PARENT, ...], the ---@field
-- lines under it, `local X = {}` right after the block (X's functions are
-- the class's methods), ---@alias NAME.

local function parse_meta(text)
    local classes, aliases, locals, order = {}, {}, {}, {}
    local current, last_class
    for _, line in ipairs(lines(text)) do
        local cname, rest = line:match("^%-%-%-@class%s+([%w_%.]+)(.*)$")
        if cname then
            local parents = {}
            local plist = rest:match("^%s*:%s*(.-)%s*$")
            if plist then
                for p in plist:gmatch("[%w_%.]+") do parents[#parents + 1] = p end
            end
            classes[cname] = classes[cname] or { parents = parents, fields = {}, methods = {} }
            order[#order + 1] = cname
            current, last_class = classes[cname], cname
        elseif line:match("^%-%-%-@alias%s") then
            aliases[line:match("^%-%-%-@alias%s+([%w_%.]+)")] = true
            current = nil
        elseif line:match("^%-%-%-@field%s") then
            local fname, optional, ftype = line:match("^%-%-%-@field%s+([%a_][%w_]*)(%??)%s+(.*)$")
            if current and fname then
                current.fields[fname] = { optional = optional == "?", type = ftype }
            end
        elseif line:match("^%-%-") or line:match("^%s*$") then
            -- other annotations and comments keep the block open;
            -- a blank line ends it
            if line:match("^%s*$") then current = nil end
        else
            local var = line:match("^local%s+([%a_][%w_]*)%s*=%s*{%s*}")
            if var and current then locals[var] = last_class end
            local obj, fn = line:match("^function%s+([%a_][%w_]*)[:.]([%a_][%w_]*)%s*%(")
            if obj and locals[obj] then classes[locals[obj]].methods[fn] = true end
            current = nil
        end
    end
    return { classes = classes, aliases = aliases, order = order }
end

-- Does class `cname` (or a parent) have field or method `name`?
local function has(meta, cname, name, seen)
    seen = seen or {}
    local c = meta.classes[cname]
    if not c or seen[cname] then return false end
    seen[cname] = true
    if c.fields[name] or c.methods[name] then return true end
    for _, p in ipairs(c.parents) do
        if has(meta, p, name, seen) then return true end
    end
    return false
end

local meta_text = read(META)
local meta = meta_text and parse_meta(meta_text)

-- The missing names of `names` on class `cname`, as "class.name" lines.
local function missing_on(cname, names, why)
    local out = {}
    if not meta.classes[cname] then
        return { string.format("---@class %s (%s)", cname, why or "not declared") }
    end
    for _, n in ipairs(names) do
        if not has(meta, cname, n) then
            out[#out + 1] = string.format("%s.%s%s", cname, n, why and (" (" .. why .. ")") or "")
        end
    end
    return out
end

local function append(dst, src)
    for _, v in ipairs(src) do dst[#dst + 1] = v end
    return dst
end

---------------------------------------------------------------------------
-- Reading the contract: the field tables of sections 2 to 6, the nested
-- object shapes written in them, section 4's lists, and section 8's names.

-- Backticked identifiers in s.
local function ticked(s)
    local out = {}
    for id in s:gmatch("`([%a_][%w_]*)`") do out[#out + 1] = id end
    return out
end

-- The leading identifier of each comma-separated member of a `{...}` shape
-- written in the contract: "{name: string (req), slug, url}" -> name, slug, url.
local function shape_members(braces)
    local inner = braces:sub(2, -2):gsub("%b()", "")
    local out = {}
    for piece in (inner .. ","):gmatch("([^,]*),") do
        local id = piece:gsub("`", ""):match("^%s*([%a_][%w_]*)")
        if id then out[#out + 1] = id end
    end
    return out
end

local function split_sections(text)
    local sections, n = {}, nil
    for _, line in ipairs(lines(text)) do
        local num = line:match("^##%s+(%d+)%.")
        if num then
            n = tonumber(num)
            sections[n] = {}
        elseif n then
            local sec = sections[n]
            sec[#sec + 1] = line
        end
    end
    return sections
end

-- Section -> class of its "| Field |" response tables.
local TABLE_CLASS = {
    [2] = "octogen.Catalog",
    [4] = "octogen.ProductListItem",
    [5] = "octogen.LookupResponse",
    [6] = "octogen.RefreshResponse",
}

-- A `{...}` shape in a table row: the class of that field's objects.
local ROW_SHAPE = {
    ["octogen.ProductListItem"] = { brand = "octogen.Brand", rating = "octogen.Rating" },
    ["octogen.LookupResponse"] = { resolution = "octogen.Resolution" },
    ["octogen.RefreshResponse"] = { accepted = "octogen.RefreshAccepted", rejected = "octogen.RefreshServerRejection" },
}

-- Section 4's bullets about MerchantProductView: names outside braces are
-- ProductView fields, names inside are fields of one of these classes.
local VIEW_PARTS = {
    "octogen.Category", "octogen.Breadcrumb", "octogen.Color", "octogen.Variant", "octogen.Details",
    "octogen.Audience", "octogen.Identifiers", "octogen.Promotion", "octogen.Review", "octogen.Video",
}
local ENRICHMENT_PARTS = {
    "octogen.Enrichment", "octogen.EnrichmentAttribute", "octogen.EnrichmentAttributeValue",
    "octogen.CanonicalBrand", "octogen.BrandEnrichment",
}

-- Section 8's model names -> our classes.
local MODEL_CLASS = {
    MerchantCatalogSummary = { "octogen.Catalog" },
    MerchantProductListPage = { "octogen.SearchPage" },
    MerchantProductListItem = { "octogen.ProductListItem" },
    MerchantProductView = { "octogen.ProductView" },
    ColorView = { "octogen.Color" },
    AudienceView = { "octogen.Audience" },
    IdentifiersView = { "octogen.Identifiers" },
    MerchantVariantView = { "octogen.Variant" },
    ReviewView = { "octogen.Review" },
    VideoView = { "octogen.Video" },
    ProductEnrichment = { "octogen.Enrichment" },
    MerchantProductUrlLookupResponse = { "octogen.LookupResponse" },
    ProductResolutionMetadata = { "octogen.Resolution" },
    ProgrammaticProductRefreshResponse = { "octogen.RefreshResponse" },
    OctogenAPIError = {},   -- not a response body: octogen.Error is checked on its own
}

local function in_any(classes, wire)
    for _, c in ipairs(classes) do
        if API_FIELDS[c] and API_FIELDS[c][wire] then return true end
    end
    return false
end

--- Everything the contract names that API_FIELDS lacks, as lines; and
--- how many names were read (so a contract the parser no longer
--- understands fails instead of passing on nothing).
local function contract_drift(text)
    local sections = split_sections(text)
    local missing, seen = {}, 0
    local function need(classes, wire, where)
        seen = seen + 1
        if not in_any(classes, wire) then
            missing[#missing + 1] = string.format("%s (contract %s) is in no API_FIELDS entry of %s",
                wire, where, table.concat(classes, " or "))
        end
    end

    -- 1. "| Field |" tables of sections 2 to 6.
    for n = 2, 6 do
        local in_table = false
        for _, line in ipairs(sections[n] or {}) do
            if line:match("^|%s*Field%s*|") then
                in_table = true
                if not TABLE_CLASS[n] then
                    missing[#missing + 1] = string.format("section %d has a field table this spec maps to no class", n)
                end
            elseif in_table and line:match("^|") then
                local cls = TABLE_CLASS[n]
                local first, rest = line:match("^|([^|]*)|(.*)$")
                if cls and first and not first:match("^%s*%-+%s*$") then
                    local names = ticked(first)
                    for _, wire in ipairs(names) do need({ cls }, wire, "section " .. n) end
                    local braces = rest:match("%b{}")
                    if braces then
                        local nested = ROW_SHAPE[cls] and ROW_SHAPE[cls][names[1]]
                        if not nested then
                            missing[#missing + 1] = string.format("section %d row %s has an object shape " ..
                                "this spec maps to no class", n, tostring(names[1]))
                        else
                            for _, wire in ipairs(shape_members(braces)) do
                                need({ nested }, wire, "section " .. n .. ", " .. names[1])
                            end
                        end
                    end
                end
            else
                in_table = false
            end
        end
    end

    -- 2. Section 3's result object, written inline: {"items": ..., "nextCursor": ...}.
    local found_page = false
    for _, line in ipairs(sections[3] or {}) do
        local obj = line:match('`(%{"items".-)`')
        if obj then
            for key in obj:gmatch('"([%a_][%w_]*)"%s*:') do
                found_page = true
                need({ "octogen.SearchPage" }, key, "section 3")
            end
        end
    end
    if not found_page then missing[#missing + 1] = 'section 3: the {"items": ..., "nextCursor": ...} shape was not found' end

    -- 3. Section 4's MerchantProductView bullets and ProductEnrichment paragraph.
    local mode, bullets, enrichment = nil, 0, 0
    for _, line in ipairs(sections[4] or {}) do
        if line:match("^%*%*MerchantProductView%*%*") then
            mode = "view"
        elseif line:match("^%*%*ProductEnrichment") then
            mode = "enrichment"
        elseif line:match("^%s*$") then
            mode = nil
        end
        if mode == "view" and line:match("^%- ") then
            bullets = bullets + 1
            local body = line:gsub("%b()", "")
            for braces in body:gmatch("%b{}") do
                for _, wire in ipairs(ticked(braces)) do need(VIEW_PARTS, wire, "section 4 list") end
            end
            for _, wire in ipairs(ticked((body:gsub("%b{}", "")))) do
                need({ "octogen.ProductView" }, wire, "section 4 list")
            end
        elseif mode == "enrichment" then
            for _, wire in ipairs(ticked(line)) do
                enrichment = enrichment + 1
                need(ENRICHMENT_PARTS, wire, "section 4 enrichment")
            end
        end
    end
    if bullets == 0 then missing[#missing + 1] = "section 4: the MerchantProductView list was not found" end
    if enrichment == 0 then missing[#missing + 1] = "section 4: the ProductEnrichment keys were not found" end

    -- 4. Section 8: the Python SDK's names, ours unless DIVERGES says so.
    local rows = 0
    for _, line in ipairs(sections[8] or {}) do
        local model, mapping = line:match("^|%s*([^|]-)%s*|%s*(.-)%s*|%s*$")
        if model and mapping:find("\226\134\144", 1, true) then   -- U+2190, the arrow
            rows = rows + 1
            local classes = {}
            for name in model:gmatch("[%a_][%w_]*") do
                if MODEL_CLASS[name] then
                    append(classes, MODEL_CLASS[name])
                elseif name ~= "adds" then
                    missing[#missing + 1] = "section 8: model " .. name .. " is mapped to no class in this spec"
                end
            end
            for snake, wire in mapping:gmatch("`([%a_][%w_]*)`\226\134\144`([%a_][%w_]*)`") do
                if #classes > 0 then need(classes, wire, "section 8") end
                for _, c in ipairs(classes) do
                    local ours = API_FIELDS[c] and API_FIELDS[c][wire]
                    local expected = DIVERGES[c] and DIVERGES[c][wire] or snake
                    if ours and ours ~= expected then
                        missing[#missing + 1] = string.format("%s: %s is %s here, %s in section 8", c, wire, ours, expected)
                    end
                end
            end
        end
    end
    if rows == 0 then missing[#missing + 1] = "section 8: no name mapping rows were found" end
    return missing, seen
end

---------------------------------------------------------------------------
-- Source files read as text.

-- The keys of the table constructor that starts at `start_pattern` in
-- `text` (top-level `name =` entries only).
local function table_keys(text, start_pattern)
    local s = text:find(start_pattern)
    assert(s, "cannot find " .. start_pattern)
    local body = text:match("%b{}", s)
    local inner = body:sub(2, -2):gsub("%b{}", "{}"):gsub("%-%-[^\n]*", "")
    local keys = {}
    for k in inner:gmatch("([%a_][%w_]*)%s*=") do keys[#keys + 1] = k end
    return keys
end

local function method_names(t, skip)
    local out = {}
    for k, v in pairs(t) do
        if type(k) == "string" and type(v) == "function" and not k:match("^_") and not (skip and skip[k]) then
            out[#out + 1] = k
        end
    end
    table.sort(out)
    return out
end

---------------------------------------------------------------------------

describe("types/octogen.d.lua", function()
    it("exists and is valid Lua that declares classes", function()
        assert(meta_text, "cannot read " .. META)
        assert(loadstring and loadstring(meta_text, "=octogen.d.lua") or load(meta_text, "=octogen.d.lua"))
        assert.truthy(meta_text:match("^%-%-%-@meta octogen\n"), "the file must start with ---@meta octogen")
        assert.truthy(meta.classes["octogen.Client"], "no ---@class octogen.Client")
        for _, f in ipairs { "types/octogen/auth.d.lua" } do
            local t = assert(read(ROOT .. "/" .. f), "cannot read " .. f)
            assert(loadstring and loadstring(t, "=" .. f) or load(t, "=" .. f))
        end
    end)

    it("declares every octogen.* type it uses", function()
        local missing, seen = {}, {}
        -- The type part of an annotation: up to the first space outside
        -- brackets (the rest is the name or description).
        local function type_part(s)
            local depth = 0
            for i = 1, #s do
                local ch = s:sub(i, i)
                if ch == "(" or ch == "{" or ch == "[" or ch == "<" then
                    depth = depth + 1
                elseif ch == ")" or ch == "}" or ch == "]" or ch == ">" then
                    depth = depth - 1
                elseif ch == " " and depth == 0 and not s:sub(1, i):match("[:,|]%s*$") then
                    return s:sub(1, i - 1)
                end
            end
            return s
        end
        for _, line in ipairs(lines(meta_text)) do
            local t
            local rest = line:match("^%-%-%-@field%s+%S+%s+(.*)$") or line:match("^%-%-%-@type%s+(.*)$")
                or line:match("^%-%-%-@return%s+(.*)$") or line:match("^%-%-%-@return_cast%s+%S+%s+(.*)$")
            if rest then t = type_part(rest) end
            local prest = line:match("^%-%-%-@param%s+%S+%s+(.*)$")
            if prest then t = type_part(prest) end
            local arest = line:match("^%-%-%-@alias%s+%S+%s+(.*)$")
            if arest then t = arest end
            local cls = line:match("^%-%-%-@class%s+[%w_%.]+%s*:%s*(.*)$")
            if cls then t = cls end
            for name in (t or ""):gmatch("octogen[%w_%.]*[%w_]") do
                if not (meta.classes[name] or meta.aliases[name] or seen[name]) then
                    seen[name] = true
                    missing[#missing + 1] = name .. "  (in: " .. line .. ")"
                end
            end
        end
        assert_none_missing(missing, "octogen.* types used but never declared by ---@class or ---@alias")
    end)

    it("names every API field as the C core converts it", function()
        local wrong = {}
        for _, cname in ipairs(sorted_keys(API_FIELDS)) do
            for _, wire in ipairs(sorted_keys(API_FIELDS[cname])) do
                local t = assert(core.decode('{"' .. wire .. '":1}'))
                local got = next(t)
                if got ~= API_FIELDS[cname][wire] then
                    wrong[#wrong + 1] = string.format("%s: %s becomes %s, the spec says %s", cname, wire,
                        tostring(got), API_FIELDS[cname][wire])
                end
            end
        end
        assert_none_missing(wrong, "names in this spec's API_FIELDS that the client does not produce")
    end)

    it("annotates every field the API returns on its class, under its snake_case name", function()
        local missing = {}
        for _, cname in ipairs(sorted_keys(API_FIELDS)) do
            local names = {}
            for _, wire in ipairs(sorted_keys(API_FIELDS[cname])) do names[#names + 1] = API_FIELDS[cname][wire] end
            append(missing, missing_on(cname, names))
        end
        assert_none_missing(missing, "API fields not annotated in types/octogen.d.lua")
    end)

    it("has every field the API contract names in this spec's table", function()
        local text = assert(read(CONTRACT), "no " .. CONTRACT)
        local missing, seen = contract_drift(text)
        assert_none_missing(missing, "contract fields missing from API_FIELDS in spec/annotations_spec.lua")
        assert.is_true(seen > 100, "only " .. seen .. " field names read from the contract: has its layout changed?")
    end)

    it("annotates the shapes the client builds: meta, errors, refresh result, hook arguments", function()
        local missing = {}
        for _, cname in ipairs(sorted_keys(CLIENT_FIELDS)) do
            append(missing, missing_on(cname, CLIENT_FIELDS[cname]))
        end
        -- What the C core sets on meta and on errors, read from its source.
        local response = assert(read(ROOT .. "/csrc/response.c"))
        local push_meta = assert(response:match("static void push_meta(%b()%s*%b{})"))
        local fields = {}
        for f in push_meta:gmatch('lua_setfield%(L,%s*%-2,%s*"([%w_]+)"%)') do fields[#fields + 1] = f end
        append(missing, missing_on("octogen.Meta", fields, "set in csrc/response.c"))
        local rate = assert(response:match("push_rate_limit(%b()%s*%b{})"))
        fields = {}
        for f in rate:gmatch('{"x%-ratelimit%-[%w-]+",%s*"([%w_]+)"}') do fields[#fields + 1] = f end
        assert.is_true(#fields == 3, "X-RateLimit fields not found in csrc/response.c")
        append(missing, missing_on("octogen.RateLimit", fields, "set in csrc/response.c"))
        local errors_c = assert(read(ROOT .. "/csrc/errors.c"))
        fields = {}
        for f in errors_c:gmatch('lua_setfield%(L,%s*[%w_%-]+,%s*"([%w_]+)"%)') do
            if not f:match("_metatable$") then fields[#fields + 1] = f end
        end
        append(missing, missing_on("octogen.Error", fields, "set in csrc/errors.c"))
        assert_none_missing(missing, "fields not annotated in types/octogen.d.lua")
    end)

    it("annotates every option octogen.client accepts (lua/octogen/options.lua)", function()
        local options = sorted_keys(require("octogen.options").client_types)
        assert.is_true(#options > 10, "client_types not found in lua/octogen/options.lua")
        local missing = missing_on("octogen.ClientOptions", options, "CLIENT in lua/octogen/options.lua")
        for _, name in ipairs(options) do
            local f = meta.classes["octogen.ClientOptions"] and meta.classes["octogen.ClientOptions"].fields[name]
            if f and not f.optional then missing[#missing + 1] = "octogen.ClientOptions." .. name .. " must be optional (name?)" end
        end
        assert_none_missing(missing, "client options not annotated")
    end)

    it("annotates per-call options, retry policy, search, lookup, refresh, all and auth options", function()
        local products_src = assert(read(ROOT .. "/lua/octogen/products.lua"))
        local refresh_src = assert(read(ROOT .. "/lua/octogen/refresh.lua"))
        local async_src = assert(read(ROOT .. "/lua/octogen/async.lua"))
        local auth_src = assert(read(ROOT .. "/lua/octogen/auth.lua"))
        local missing = {}
        append(missing, missing_on("octogen.CallOptions", sorted_keys(require("octogen.options").call_types),
            "CALL in lua/octogen/options.lua"))
        append(missing, missing_on("octogen.RetryPolicy", sorted_keys(require("octogen.retry").DEFAULTS), "retry.DEFAULTS"))
        append(missing, missing_on("octogen.SearchParams", sorted_keys(require("octogen.search").PARAMS), "search.PARAMS"))
        local pager_src = assert(read(ROOT .. "/lua/octogen/pager.lua"))
        -- pages/items' own parameters: the ones the walk takes out of the
        -- method's params before calling it (`own.max_pages = nil`).
        local extra = {}
        for name in pager_src:gmatch("own%.([%a_][%w_]*)%s*=%s*nil") do extra[#extra + 1] = name end
        assert.is_true(#extra > 0, "pages/items' own parameters not found in lua/octogen/pager.lua")
        append(missing, missing_on("octogen.PagesParams", extra, "lua/octogen/pager.lua"))
        append(missing, missing_on("octogen.LookupOptions", table_keys(products_src, "local LOOKUP_OPTIONS%s*=%s*{"),
            "LOOKUP_OPTIONS"))
        local refresh_extra = refresh_src:match('call_options%(opts,%s*"refresh_products",%s*(%b{})%)')
        assert(refresh_extra, "refresh_products' own options not found in lua/octogen/refresh.lua")
        append(missing, missing_on("octogen.RefreshOptions", table_keys(refresh_extra, "{"), "refresh_products"))
        local all_opts = async_src:match('check_keys%("all option",%s*opts,%s*(%b{})%)')
        assert(all_opts, "all()'s options not found in lua/octogen/async.lua")
        append(missing, missing_on("octogen.AllOptions", table_keys(all_opts, "{"), "all"))
        append(missing, missing_on("octogen.ClientCredentialsOptions", table_keys(auth_src, "local OPTIONS%s*=%s*{"),
            "OPTIONS in lua/octogen/auth.lua"))
        assert_none_missing(missing, "options not annotated")
    end)

    it("annotates every public method of the client (core.client_methods)", function()
        local names = method_names(core.client_methods)
        assert.is_true(#names >= 14, "core.client_methods has only: " .. table.concat(names, ", "))
        assert_none_missing(missing_on("octogen.Client", names, "core.client_methods"), "client methods not annotated")
    end)

    -- What is wrong with one entry of lua/octogen/methods.lua (absent flags
    -- mean false; an API operation names its HTTP method and path).
    local HTTP = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
    local function is_int(v) return type(v) == "number" and v == math.floor(v) end
    local function malformed(m)
        local bad = {}
        local function check(ok, what)
            if not ok then bad[#bad + 1] = "lua/octogen/methods.lua: " .. tostring(m.name) .. ": " .. what end
        end
        check(type(m.name) == "string" and m.name:match("^[a-z][a-z0-9_]*$"), "name must be a snake_case string")
        check(type(m.returns) == "string", "returns must be a type name")
        check(type(m.summary) == "string" and m.summary ~= "", "summary must be a non-empty string")
        for _, flag in ipairs { "startable", "paged", "keyless" } do
            check(m[flag] == nil or type(m[flag]) == "boolean", flag .. " must be true, false or absent")
        end
        check(m.retired == nil or type(m.retired) == "string", "retired must be a string or absent")
        check(type(m.args) == "table", "args must be a list")
        for i, a in ipairs(type(m.args) == "table" and m.args or {}) do
            check(type(a) == "table" and type(a[1]) == "string" and type(a[2]) == "string"
                and (a[3] == nil or type(a[3]) == "string"), "args[" .. i .. "] must be { name, type, doc }")
        end
        if m.operation ~= nil then
            check(type(m.operation) == "string" and m.operation:match("^%l%w*$"), "operation must be an operationId")
            check(HTTP[m.http], "http must be an HTTP method, got " .. tostring(m.http))
            check(type(m.path) == "string" and m.path:sub(1, 1) == "/", "path must start with /")
        else
            check(m.http == nil and m.path == nil, "http and path need an operation")
            check(not m.keyless, "keyless needs an operation")
        end
        if m.cursor ~= nil then
            local n = type(m.args) == "table" and #m.args or 0
            check(is_int(m.cursor) and m.cursor >= 1 and m.cursor <= n,
                "cursor must be the index of one of its args")
            check(m.items == "items", 'a cursor-paged method needs items = "items"')
            check(not m.paged, "pages/items themselves are not cursor-paged")
        end
        check(m.batch == nil or (is_int(m.batch) and m.batch > 0),
            "batch must be a positive integer")
        return bad
    end

    it("annotates the API methods of lua/octogen/methods.lua with their result types", function()
        local list = require "octogen.methods"
        local missing = {}
        -- The first ---@return of each `function Methods:NAME(` in the file.
        local first_return, pending = {}, nil
        for _, line in ipairs(lines(meta_text)) do
            local t = line:match("^%-%-%-@return%s+(%S+)")
            if t and not pending then pending = t end
            local fn = line:match("^function%s+[%a_][%w_]*[:.]([%a_][%w_]*)%s*%(")
            if fn then
                first_return[fn] = first_return[fn] or pending
                pending = nil
            elseif not line:match("^%-%-") then
                pending = nil
            end
        end
        local listed = {}
        for _, m in ipairs(list) do
            listed[m.name] = true
            append(missing, malformed(m))
            if type(core.client_methods[m.name]) ~= "function" then
                missing[#missing + 1] = m.name .. " is listed in lua/octogen/methods.lua but is no client method"
            end
            append(missing, missing_on("octogen.Client", { m.name }, "lua/octogen/methods.lua"))
            local got = first_return[m.name]
            if got and got ~= m.returns and got ~= m.returns .. "|nil" then
                missing[#missing + 1] = string.format("%s returns %s in types/octogen.d.lua, %s in lua/octogen/methods.lua",
                    m.name, got, m.returns)
            end
        end
        -- What is not an API method: the client's own controls.
        local CONTROL = { start = true, poll = true, pending = true, all = true, close = true, is_closed = true,
            base_url = true }
        for _, name in ipairs(method_names(core.client_methods)) do
            if not listed[name] and not CONTROL[name] then
                missing[#missing + 1] = name .. " is a client method missing from lua/octogen/methods.lua"
            end
        end
        -- octogen.StartableMethod is exactly the startable ones.
        local alias = meta_text:match("%-%-%-@alias octogen%.StartableMethod%s+([^\n]*)") or ""
        local in_alias = {}
        for n in alias:gmatch('"([%w_]+)"') do in_alias[n] = true end
        for _, m in ipairs(list) do
            if m.startable and not in_alias[m.name] then
                missing[#missing + 1] = "octogen.StartableMethod lacks \"" .. m.name .. "\""
            elseif not m.startable and in_alias[m.name] then
                missing[#missing + 1] = "octogen.StartableMethod has \"" .. m.name .. "\", which cannot be started"
            end
            in_alias[m.name] = nil
        end
        for n in pairs(in_alias) do missing[#missing + 1] = "octogen.StartableMethod has unknown \"" .. n .. "\"" end
        assert_none_missing(missing, "differences between lua/octogen/methods.lua and types/octogen.d.lua")
    end)

    it("lets client:start take exactly the startable methods of lua/octogen/methods.lua", function()
        local c = octogen.client { api_key = "k", base_url = "http://127.0.0.1:9" }
        local wrong = {}
        for _, m in ipairs(require "octogen.methods") do
            -- Each started with no arguments: a startable method raises an
            -- argument error of its own (or starts), never "not a method that can be started".
            local ok, err = pcall(c.start, c, m.name)
            local refused = not ok
                and tostring(type(err) == "table" and err.message or err):find("not a method that can be started", 1, true) ~= nil
            if m.startable == refused then
                wrong[#wrong + 1] = m.name .. (m.startable and " is refused by start()" or " is taken by start()")
            end
        end
        c:close()
        assert_none_missing(wrong, "methods start() treats unlike lua/octogen/methods.lua")
    end)

    it("annotates the coverage object's fields and methods (lua/octogen/coverage.lua)", function()
        local coverage = require "octogen.coverage"
        local cov = coverage.new({ { host = "shop.example", catalog = "a", catalog_display_name = "A" } },
            { etag = '"e"', max_age_seconds = 300 })
        local names = sorted_keys(cov)
        for _, k in ipairs(method_names(coverage.Coverage)) do names[#names + 1] = k end
        assert.is_true(#names >= 8, "coverage object has only: " .. table.concat(names, ", "))
        assert_none_missing(missing_on("octogen.DomainCoverage", names, "lua/octogen/coverage.lua"),
            "coverage object fields not annotated")
    end)

    it("annotates every method of errors and started requests", function()
        local missing = {}
        append(missing, missing_on("octogen.Error", method_names(core.error_metatable.__index), "error methods"))
        append(missing, missing_on("octogen.Request", { "done", "result" }, "lua/octogen/async.lua"))
        assert_none_missing(missing, "methods not annotated")
    end)

    it("annotates every field of the octogen and octogen.auth modules", function()
        local missing = {}
        append(missing, missing_on("octogen", sorted_keys(octogen), "require 'octogen'"))
        append(missing, missing_on("octogen.auth", sorted_keys(require "octogen.auth"), "require 'octogen.auth'"))
        -- and every error class in the octogen.ErrorName alias
        local names = { "OctogenError" }
        append(names, sorted_keys(octogen.error_classes))
        local alias = meta_text:match("%-%-%-@alias octogen%.ErrorName\n(.-)\n[^%-]") or ""
        for _, n in ipairs(names) do
            if not alias:find('"' .. n .. '"', 1, true) then
                missing[#missing + 1] = "octogen.ErrorName lacks \"" .. n .. "\""
            end
        end
        assert_none_missing(missing, "module fields or error classes not annotated")
    end)
end)
