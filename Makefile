# octogen-lua. `make` builds the C module for Lua 5.4; LUA=5.1, 5.3 or
# luajit builds it for another interpreter (pkg-config names the headers).

LUA ?= 5.4
ifeq ($(LUA),luajit)
  LUA_PC  := luajit
  LUA_BIN := luajit
else
  LUA_PC  := lua$(LUA)
  LUA_BIN := lua$(LUA)
endif

BUILD   := build/$(LUA)
MODULE  := $(BUILD)/octogen/core.so
SOURCES := $(wildcard csrc/*.c)
OBJECTS := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(SOURCES))
HEADERS := $(wildcard csrc/*.h)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -pedantic -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes
ifdef CI
  WARN  += -Werror
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(LUA_PC) libcurl yajl libcrypto)
PKG_LIBS   = $(shell pkg-config --libs libcurl yajl libcrypto)

# What the specs, examples and benchmarks need to find the module in the
# checkout, without installing it.
RUN_ENV = LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="$(BUILD)/?.so;;"
BUSTED  = $(RUN_ENV) OCTOGEN_TEST_LUA=$(LUA_BIN) $(LUA_BIN) /usr/bin/busted

.PHONY: all deps test test-all demo bench bench-fleet soak lint doc clean rock rock-check dist dist-check install contract-sync

all: $(MODULE)

$(BUILD)/obj/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC $(PKG_CFLAGS) -c $< -o $@

$(MODULE): $(OBJECTS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -o $@ $(OBJECTS) $(PKG_LIBS)

deps:
	@sh .ci/install-deps

# The OpenResty spec runs the module inside nginx, whose Lua is LuaJIT.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory all LUA=luajit
	$(BUSTED) $(BUSTED_ARGS) spec

# The suite under every Lua the module supports (Debian's busted runs on
# all four).
LUAS := 5.4 5.3 5.1 luajit
test-all: deps
	@sh .ci/install-deps lua5.1 liblua5.1-0-dev lua5.3 liblua5.3-dev luajit2 libluajit2-5.1-dev
	@set -e; for v in $(LUAS); do echo "=== Lua $$v"; $(MAKE) --no-print-directory test LUA=$$v; done

# The OpenResty example loads the module built for nginx's LuaJIT.
demo: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory all LUA=luajit
	@sh examples/run-demo.sh "$(LUA_BIN)" "$(BUILD)"

# Client and mock pinned to one core: a wake-up across cores costs tens of
# microseconds here and would measure the scheduler, not the client.
PIN := $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c 0)

# make bench: bench/throughput.lua; bench/convert.lua (the conversion against
# cjson) under Lua 5.4 and under LuaJIT; then bench/openresty/run.lua: octogen
# inside nginx (the LuaJIT build) against a plain cosocket handler under wrk,
# with the mock and wrk on CPU 0 and the nginx under test on CPU 1.
bench: deps
	@sh .ci/install-deps wrk
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory all LUA=luajit
	$(RUN_ENV) $(PIN) $(LUA_BIN) bench/throughput.lua
	$(RUN_ENV) $(PIN) lua5.4 bench/convert.lua
	LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="build/luajit/?.so;;" $(PIN) luajit bench/convert.lua
	$(RUN_ENV) $(PIN) $(LUA_BIN) bench/openresty/run.lua

# make bench-fleet: bench/fleet/run.lua: 2 nginx x 4 workers against the
# mock's per-organization limit, without and with a shared Redis store
# (about 30 s; printed, never asserted).
bench-fleet: deps
	@sh .ci/install-deps wrk redis-server
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory all LUA=luajit
	$(RUN_ENV) $(LUA_BIN) bench/fleet/run.lua

soak: deps
	@$(MAKE) --no-print-directory all
	$(RUN_ENV) $(PIN) $(LUA_BIN) bench/soak.lua $(SOAK_REQUESTS)

# The generated reference (README.md's method and option tables and
# types/octogen.d.lua's generated region, from lua/octogen/methods.lua and
# options.lua; spec/docs_spec.lua fails when they drift), then the LDoc
# reference into doc/ (config.ld).
doc:
	@sh .ci/install-deps lua-ldoc lua-discount lua5.1   # Debian's ldoc runs on 5.1 or 5.2 only
	$(LUA_BIN) tools/docgen.lua
	ldoc .

# luacheck over every Lua file (.luacheckrc), cppcheck over the C core.
lint:
	@sh .ci/install-deps lua-check cppcheck
	luacheck . bin/octogen
	cppcheck --enable=warning,style,performance,portability --std=c99 --force \
	  --inline-suppr --error-exitcode=1 --quiet --suppress=missingIncludeSystem \
	  -I csrc $(shell pkg-config --cflags-only-I $(LUA_PC) libcurl yajl) csrc/

# Install the rock into build/rock, offline, as a user would from a checkout,
# then load it from outside the checkout.
rock:
	luarocks --lua-version=5.4 make --deps-mode=none --tree build/rock rockspec/octogen-scm-1.rockspec
	rm -rf octogen csrc/*.o

rock-check: rock
	cd / && LUA_PATH="$(CURDIR)/build/rock/share/lua/5.4/?.lua;$(CURDIR)/build/rock/share/lua/5.4/?/init.lua" \
	  LUA_CPATH="$(CURDIR)/build/rock/lib/lua/5.4/?.so" \
	  lua5.4 -e 'local o = require "octogen"; assert(o.client { api_key = "k" }); print("installed rock loads: " .. o.USER_AGENT)'

# A release: the committed tree as build/dist/octogen-VERSION.tar.gz, beside
# its rockspec. Tag first (git tag vVERSION); the version is the C core's.
VERSION := $(shell sed -n 's/^\#define OCTOGEN_VERSION "\(.*\)"/\1/p' csrc/octogen.h)
DIST    := build/dist

dist:
	@grep -q '^version = "$(VERSION)-1"' rockspec/octogen-$(VERSION)-1.rockspec || \
	  { echo "rockspec/octogen-$(VERSION)-1.rockspec does not match version $(VERSION)"; exit 1; }
	@mkdir -p $(DIST)
	git archive --format=tar.gz --prefix=octogen-$(VERSION)/ -o $(DIST)/octogen-$(VERSION).tar.gz HEAD
	cp rockspec/octogen-$(VERSION)-1.rockspec $(DIST)/
	@echo "$(DIST)/octogen-$(VERSION).tar.gz"

# What a user of the release does: build the rock from the tarball, offline,
# into a fresh tree, and load it from outside any checkout.
dist-check: dist
	rm -rf $(DIST)/tree
	cd $(DIST) && luarocks --lua-version=5.4 build --deps-mode=none --tree tree octogen-$(VERSION)-1.rockspec
	cd / && LUA_PATH="$(CURDIR)/$(DIST)/tree/share/lua/5.4/?.lua;$(CURDIR)/$(DIST)/tree/share/lua/5.4/?/init.lua" \
	  LUA_CPATH="$(CURDIR)/$(DIST)/tree/lib/lua/5.4/?.so" \
	  lua5.4 -e 'local o = require "octogen"; assert(o.VERSION == "$(VERSION)"); print("release rock loads: " .. o.USER_AGENT)'

# For those who do not use luarocks: make install PREFIX=/usr/local
PREFIX  ?= /usr/local
LUA_ABI := $(if $(filter luajit,$(LUA)),5.1,$(LUA))
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)/octogen
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)/octogen/core.so
	@cd lua && find octogen -name '*.lua' | while read f; do \
	  install -D -m 644 "$$f" "$(DESTDIR)$(PREFIX)/share/lua/$(LUA_ABI)/$$f" || exit 1; done
	@if [ -f bin/octogen ]; then install -d $(DESTDIR)$(PREFIX)/bin && \
	  install -m 755 bin/octogen $(DESTDIR)$(PREFIX)/bin/octogen; fi

# The specs read the API contract from the repository's own snapshot;
# this refreshes it from a newer copy of the contract:
#   make contract-sync CONTRACT=path/to/octogen-api.md
contract-sync:
	@[ -n "$(CONTRACT)" ] || { echo "usage: make contract-sync CONTRACT=path/to/octogen-api.md"; exit 2; }
	@cmp -s "$(CONTRACT)" spec/fixtures/octogen-api.md && echo "spec/fixtures/octogen-api.md is current" || \
	  { cp "$(CONTRACT)" spec/fixtures/octogen-api.md && echo "spec/fixtures/octogen-api.md updated"; }

clean:
	rm -rf build

# Sanitizers, valgrind and the fuzzer live in their own file.
include check.mk
