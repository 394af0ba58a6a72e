--- octogen: the Lua client for the Octogen commerce API.
--
--     local octogen = require "octogen"
--     local client = octogen.client()          -- key from OCTO_API_KEY
--     for item in client:items{catalog = "warrenlotas", q = "hoodie"} do
--         print(item.title, item.current_price)
--     end
local core = require "octogen.core"
local errors = require "octogen.errors"
local client = require "octogen.client"
require "octogen.search"
require "octogen.pager"
require "octogen.refresh"
require "octogen.products"
require "octogen.account"
require "octogen.voyage"
require "octogen.url_lists"
require "octogen.async"
local auth = require "octogen.auth"
local coverage = require "octogen.coverage"
require "octogen.domains"

return {
    VERSION = core.VERSION,
    DEFAULT_BASE_URL = client.DEFAULT_BASE_URL,
    USER_AGENT = client.DEFAULT_USER_AGENT,
    DEFAULT_MAX_RETRIES = require("octogen.retry").DEFAULT_MAX_RETRIES,
    --- A JSON null kept in place inside an array (null members are dropped).
    null = core.null,
    --- Mark a table as a JSON array, so that an empty one encodes as [].
    array = core.array,
    --- octogen.client([opts]) -> client
    client = client.new,
    --- The host a URL or host names, as the API's /domains lists hosts
    -- (lower case, no port, no trailing dot, one leading "www." dropped);
    -- nil for what names no host.
    normalize_host = coverage.normalize_host,
    --- Token providers for the api_key option (client_credentials).
    auth = auth,
    --- True when v is an octogen error object.
    is_error = errors.is_error,
    --- Class name -> parent class name, for code that walks the hierarchy.
    error_classes = errors.PARENT,
}
