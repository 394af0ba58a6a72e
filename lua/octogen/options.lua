--- octogen.options: the options of octogen.client and of each call, in one
-- place. client.lua checks options against these lists, and the reference
-- (types/octogen.d.lua's option classes, the README's option table) is
-- generated from them by tools/docgen.lua (`make doc`).
--
-- Each entry: { name, type, default (as text), doc }. type is what
-- args.check_type takes ("string", "number", "integer", "table",
-- "function", "boolean"); api_key may also be a function (a token
-- provider), which client.lua allows by name.
local M = {}

M.CLIENT = {
    { "api_key", "string", "$OCTO_API_KEY, then $OCTOGEN_PLATFORM_API_KEY",
      "the API key, or a function(refused) -> token [, expires_in] (octogen.auth.client_credentials)" },
    { "allow_keyless", "boolean", "false",
      "with no key, send no Authorization header (the keyless trial: search, lookup, domains)" },
    { "base_url", "string", "https://api.octogen.ai/v1", "the API's base URL; a trailing slash is fine" },
    { "timeout", "number", "30", "seconds a request may take in all" },
    { "connect_timeout", "number", "10", "seconds to connect" },
    { "headers", "table", "none", "extra headers sent on every request" },
    { "user_agent", "string", "none", "appended to octogen-lua's own User-Agent" },
    { "max_response_bytes", "number", "64 MiB", "larger bodies are refused (ResponseTooLargeError)" },
    { "max_retries", "integer", "2", "retries of a transient failure (see Retries)" },
    { "retry", "table", "{base_delay = 1, max_delay = 30, jitter = 0.5, max_retry_after = 60}",
      "the backoff policy" },
    { "sleep", "function", "blocking (ngx.sleep in nginx)", "function(seconds) used to wait between attempts" },
    { "on_request", "function", "none", "function(info) before every attempt" },
    { "on_response", "function", "none", "function(info) after every attempt" },
    { "proxy", "string", "none", "a proxy libcurl understands (not under the cosocket transport)" },
    { "ca_file", "string", "the system's", "CA bundle file for TLS (libcurl)" },
    { "ca_path", "string", "the system's", "CA directory for TLS (libcurl)" },
    { "insecure", "boolean", "false", "turns TLS verification off; tostring(client) says so" },
    { "allow_insecure_http", "boolean", "false", "permit http:// to a host that is not loopback" },
    { "transport", "string", "\"auto\"", "\"auto\" (cosockets inside nginx, else libcurl), \"curl\" or \"ngx\"" },
    { "store", "table", "in-process",
      "where pauses, the rate-limit bucket and the cache are shared: ngx.shared.DICT, {shared_dict = name} " ..
      "or {redis = {host =, port =, ...}}" },
    { "rate_limit", "table", "none",
      "{per_second = N [, burst = M]}, or \"auto\" (learned from X-RateLimit-Limit): a token bucket in the store" },
    { "cache", "table", "none",
      "{method = seconds or \"max-age\", stale_ttl =, negative_ttl =, lock_ttl =}: cached reads, in the store" },
    { "on_store_error", "function", "none", "function(info) when the store fails (calls go on without it)" },
    { "namespace", "string", "a hash of the API key",
      "the store's key prefix for this key's organization (needed with a token provider and a shared store)" },
}

M.CALL = {
    { "max_retries", "integer", "the client's", "retries for this call" },
    { "retry", "table", "the client's", "backoff policy fields for this call" },
    { "timeout", "number", "the client's", "seconds this call's requests may take" },
    { "sleep", "function", "the client's", "how this call waits between attempts" },
}

--- name -> type, for checking.
local function types(list)
    local t = {}
    for _, o in ipairs(list) do t[o[1]] = o[2] end
    return t
end
M.client_types = types(M.CLIENT)
M.call_types = types(M.CALL)

return M
