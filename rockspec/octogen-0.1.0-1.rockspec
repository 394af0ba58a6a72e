-- The 0.1.0 release. Its source is the tarball `make dist` writes to
-- build/dist/; from there:
--   luarocks --lua-version=5.4 build --deps-mode=none octogen-0.1.0-1.rockspec
-- or, inside the unpacked tarball:
--   luarocks --lua-version=5.4 make --deps-mode=none rockspec/octogen-0.1.0-1.rockspec
rockspec_format = "3.0"
package = "octogen"
version = "0.1.0-1"
source = {
   -- Relative to the directory luarocks runs in: build/dist/ after make dist.
   url = "file://octogen-0.1.0.tar.gz",
   dir = "octogen-0.1.0",
}
description = {
   summary = "Client for the Octogen commerce API: catalogs, product search, lookup and refresh",
   detailed = [[
A Lua extension module with a C core over libcurl (keep-alive connections,
TLS, gzip) and yajl (one-pass JSON to Lua tables), and a thin Lua layer with
cursor iterators, facet shaping and batched product refresh.
]],
   license = "MIT",
   labels = { "http", "api", "commerce", "libcurl" },
}
dependencies = {
   "lua >= 5.1",
   -- for bin/octogen only; the library does not need it
   "argparse",
}
external_dependencies = {
   -- Debian keeps curl.h in a per-architecture directory, so a header
   -- check fails there: the libraries are what is checked.
   CURL = { library = "curl" },
   YAJL = { library = "yajl" },
   CRYPTO = { library = "crypto" },   -- OpenSSL's libcrypto (libssl-dev), for core.sha256
}
build = {
   type = "builtin",
   modules = {
      ["octogen.core"] = {
         sources = {
            "csrc/client.c", "csrc/compat.c", "csrc/convert.c",
            "csrc/core.c", "csrc/digest.c", "csrc/errors.c", "csrc/http.c",
            "csrc/response.c", "csrc/transfer.c", "csrc/wire.c",
         },
         libraries = { "curl", "yajl", "crypto" },
         incdirs = { "$(CURL_INCDIR)", "$(YAJL_INCDIR)", "$(CRYPTO_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)", "$(YAJL_LIBDIR)", "$(CRYPTO_LIBDIR)" },
         defines = {},
      },
      ["octogen"] = "lua/octogen/init.lua",
      ["octogen.account"] = "lua/octogen/account.lua",
      ["octogen.args"] = "lua/octogen/args.lua",
      ["octogen.async"] = "lua/octogen/async.lua",
      ["octogen.auth"] = "lua/octogen/auth.lua",
      ["octogen.cache"] = "lua/octogen/cache.lua",
      ["octogen.client"] = "lua/octogen/client.lua",
      ["octogen.coverage"] = "lua/octogen/coverage.lua",
      ["octogen.domains"] = "lua/octogen/domains.lua",
      ["octogen.errors"] = "lua/octogen/errors.lua",
      ["octogen.methods"] = "lua/octogen/methods.lua",
      ["octogen.operation"] = "lua/octogen/operation.lua",
      ["octogen.options"] = "lua/octogen/options.lua",
      ["octogen.pacing"] = "lua/octogen/pacing.lua",
      ["octogen.pager"] = "lua/octogen/pager.lua",
      ["octogen.products"] = "lua/octogen/products.lua",
      ["octogen.query"] = "lua/octogen/query.lua",
      ["octogen.refresh"] = "lua/octogen/refresh.lua",
      ["octogen.retry"] = "lua/octogen/retry.lua",
      ["octogen.search"] = "lua/octogen/search.lua",
      ["octogen.url_lists"] = "lua/octogen/url_lists.lua",
      ["octogen.voyage"] = "lua/octogen/voyage.lua",
      -- the command line (bin/octogen is its entry)
      ["octogen.cli"] = "lua/octogen/cli/init.lua",
      ["octogen.cli.common"] = "lua/octogen/cli/common.lua",
      ["octogen.cli.output"] = "lua/octogen/cli/output.lua",
      ["octogen.cli.errors"] = "lua/octogen/cli/errors.lua",
      ["octogen.cli.parser"] = "lua/octogen/cli/parser.lua",
      ["octogen.cli.client"] = "lua/octogen/cli/client.lua",
      ["octogen.cli.input"] = "lua/octogen/cli/input.lua",
      ["octogen.cli.paging"] = "lua/octogen/cli/paging.lua",
      ["octogen.cli.commands.catalogs"] = "lua/octogen/cli/commands/catalogs.lua",
      ["octogen.cli.commands.search"] = "lua/octogen/cli/commands/search.lua",
      ["octogen.cli.commands.lookup"] = "lua/octogen/cli/commands/lookup.lua",
      ["octogen.cli.commands.similar"] = "lua/octogen/cli/commands/similar.lua",
      ["octogen.cli.commands.domains"] = "lua/octogen/cli/commands/domains.lua",
      ["octogen.cli.commands.me"] = "lua/octogen/cli/commands/me.lua",
      ["octogen.cli.commands.refresh"] = "lua/octogen/cli/commands/refresh.lua",
      ["octogen.cli.commands.url_lists"] = "lua/octogen/cli/commands/url_lists.lua",
      ["octogen.cli.commands.voyage"] = "lua/octogen/cli/commands/voyage.lua",
      ["octogen.cli.commands.request"] = "lua/octogen/cli/commands/request.lua",
      ["octogen.store"] = "lua/octogen/store/init.lua",
      ["octogen.store.local"] = "lua/octogen/store/local.lua",
      ["octogen.store.redis"] = "lua/octogen/store/redis.lua",
      ["octogen.store.shared_dict"] = "lua/octogen/store/shared_dict.lua",
      ["octogen.transport.curl"] = "lua/octogen/transport/curl.lua",
      ["octogen.transport.ngx"] = "lua/octogen/transport/ngx.lua",
   },
   install = {
      bin = { octogen = "bin/octogen" },
   },
   -- lua-language-server annotations (types/octogen.d.lua), kept with the rock
   copy_directories = { "types" },
}
