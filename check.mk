# Memory-safety checks, included by the Makefile. All three use Lua 5.4
# (lua5.4), whatever LUA says; .ci/checks runs them in this order.
#
#   make sanitize   csrc/*.c built with AddressSanitizer + UBSan (clang-14;
#                   SAN_CC=gcc works too, see below) into
#                   build/asan/octogen/core.so, then the whole busted suite run
#                   with it. Any ASan, LSan or UBSan report, from the busted
#                   process or from a child lua5.4 a spec starts, fails.
#   make valgrind   spec/support/valgrind_script.lua (every client method, the
#                   error paths, odd JSON) and the security specs under memcheck
#                   with the normal -O2 -g build; a definite or indirect leak
#                   or any error fails.
#   make fuzz       fuzz/fuzz_decode.c under libFuzzer (clang-14, ASan+UBSan)
#                   for FUZZ_SECONDS (default 60), starting from fuzz/corpus/;
#                   inputs that add coverage are merged back into fuzz/corpus/,
#                   a crashing input is saved in fuzz/crashes/ and fails.
#
# Debian packages beyond .ci/install-deps' own list, installed (through it)
# when missing: clang-14 and libclang-rt-14-dev (sanitize and fuzz; the
# latter holds libFuzzer and clang's ASan/UBSan runtimes), valgrind
# (valgrind); with SAN_CC=gcc, libasan8 and libubsan1 instead of the clang
# ones for sanitize.

CHECK_LUA      := lua5.4
CHECK_LUA_PC   := lua5.4
CHECK_RUN_PATH := LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;"

.PHONY: sanitize valgrind fuzz fuzz-build sanitize-build FORCE
FORCE:

# The mock servers the specs (or the valgrind script) start get their
# prefix under TMPDIR, which the targets below point at a directory of
# their own. A run that dies half-way (a sanitizer halts the process, so
# no teardown or finalizer runs) leaves its nginx running: this stops the
# ones under $(1) -- by the pid in their own pid file, and only when that
# process's command line names that prefix -- then removes $(1).
define stop_left_mocks
for pf in $(1)/octomock.*/logs/nginx.pid; do \
  [ -f "$$pf" ] || continue; \
  pid=$$(cat "$$pf"); prefix=$${pf%/logs/nginx.pid}; \
  case "$$pid" in ''|*[!0-9]*) continue;; esac; \
  tr '\0' ' ' < /proc/$$pid/cmdline 2>/dev/null | grep -q -- "-p $$prefix/" || continue; \
  kids=$$(pgrep -P $$pid 2>/dev/null | tr '\n' ' '); \
  echo "stopping mock nginx $$pid $$kids left running in $$prefix" >&2; \
  kill -QUIT $$pid 2>/dev/null; \
  for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $$pid 2>/dev/null || break; sleep 0.3; done; \
  kill -KILL $$pid $$kids 2>/dev/null; \
done; rm -rf $(1)
endef

# ------------------------------------------------------------------ sanitize
#
# lua5.4 itself is not instrumented, so the sanitizer runtimes are preloaded
# into it. LD_PRELOAD must reach only lua5.4 processes: busted's specs run
# nginx (the mock), sh, mktemp, pgrep, ... and those break under a preloaded
# ASan (pgrep deadlocks in it, mktemp "leaks" at exit). So:
#   - build/asan/lua5.4 is a launcher that sets LD_PRELOAD and execs lua5.4;
#   - the last preloaded object, build/asan/preload_shim.so, removes
#     LD_PRELOAD from the environment once the loader has used it, so
#     nothing lua5.4 starts inherits it;
#   - OCTOGEN_TEST_LUA names the launcher, so the child interpreters that
#     spec/support/helpers.lua starts (run_lua) are instrumented too.
# Reports go to files (log_path) rather than to a stderr a spec may capture,
# and the target fails when any report file exists. clang is the default
# because gcc 12's libubsan, preloaded beside libasan, ignores log_path:
# with SAN_CC=gcc a UBSan report from a child lua5.4 only shows as that
# child's failure in the spec that ran it (the busted process's own reports
# still fail the target through its exit status).

SAN_CC      ?= clang-14
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
SAN_DIR     := build/asan
SAN_MODULE  := $(SAN_DIR)/octogen/core.so
SAN_OBJECTS := $(patsubst csrc/%.c,$(SAN_DIR)/obj/%.o,$(SOURCES))
SAN_REPORTS := $(CURDIR)/$(SAN_DIR)/reports
SAN_TMP     := $(CURDIR)/$(SAN_DIR)/tmp
# The instrumented build never uses -Werror (gcc's -Wmaybe-uninitialized
# gives false positives under -fsanitize, as its manual says); the normal
# build is the one held to zero warnings.
SAN_WARN    := $(filter-out -Werror,$(WARN))
# The runtimes to preload: gcc's libasan and libubsan; for SAN_CC=clang,
# clang's shared ASan runtime (which includes UBSan).
ifneq (,$(findstring clang,$(SAN_CC)))
  SAN_PACKAGES := clang-14 libclang-rt-14-dev
  SAN_LINK    := -shared-libsan
  SAN_RUNTIME  = $(shell $(SAN_CC) -print-file-name=libclang_rt.asan-x86_64.so)
else
  SAN_PACKAGES := libasan8 libubsan1
  SAN_LINK    :=
  SAN_WARN    += -Wno-maybe-uninitialized
  SAN_RUNTIME  = $(shell $(SAN_CC) -print-file-name=libasan.so) \
                 $(shell $(SAN_CC) -print-file-name=libubsan.so)
endif

# detect_leaks: LSan at every lua5.4 exit. No LSan suppressions are needed
# (lua5.4 closes its state at exit; libcurl's global init is still
# reachable); if one ever is, it must name third-party code, never octogen.
# fast_unwind_on_malloc=0: lua5.4, liblua and libcurl have no frame
# pointers, and a leak stack through them would stop at the first frame.
SAN_ENV = \
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:fast_unwind_on_malloc=0:print_summary=1:log_path=$(SAN_REPORTS)/report \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_REPORTS)/report \
  $(CHECK_RUN_PATH) LUA_CPATH="$(SAN_DIR)/?.so;;" \
  OCTOGEN_TEST_LUA=$(CURDIR)/$(SAN_DIR)/lua5.4 TMPDIR=$(SAN_TMP)

# Rebuild when the compiler or flags change (SAN_CC=gcc after clang, ...).
SAN_STAMP_TEXT = $(SAN_CC) -O1 -g $(SAN_FLAGS) $(SAN_WARN) $(SAN_LINK)
$(SAN_DIR)/flags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SAN_STAMP_TEXT)' | cmp -s - $@ || echo '$(SAN_STAMP_TEXT)' > $@

$(SAN_DIR)/obj/%.o: csrc/%.c $(HEADERS) $(SAN_DIR)/flags
	@mkdir -p $(dir $@)
	$(SAN_CC) -O1 -g $(SAN_FLAGS) $(SAN_WARN) -fPIC \
	  $(shell pkg-config --cflags $(CHECK_LUA_PC) libcurl yajl libcrypto) -c $< -o $@

$(SAN_MODULE): $(SAN_OBJECTS) $(SAN_DIR)/flags
	@mkdir -p $(dir $@)
	$(SAN_CC) -shared $(SAN_FLAGS) $(SAN_LINK) -o $@ $(SAN_OBJECTS) $(PKG_LIBS)

# The last preloaded object, made here so that it needs no file of its own:
# - a constructor unsetenv()s LD_PRELOAD (the loader has read it by then);
# - dlclose() does nothing, so the modules lua_close() unloads at exit stay
#   mapped and LSan's stacks through octogen/core.so keep their symbols
#   (otherwise they read "<unknown module>").
$(SAN_DIR)/preload_shim.so: check.mk
	@mkdir -p $(dir $@)
	printf '%s\n' '#include <stdlib.h>' \
	  '__attribute__((constructor)) static void octogen_unpreload(void)' \
	  '{ unsetenv("LD_PRELOAD"); }' \
	  'int dlclose(void *handle);' \
	  'int dlclose(void *handle) { (void)handle; return 0; }' > $(SAN_DIR)/preload_shim.c
	$(CC) -shared -fPIC -O2 -o $@ $(SAN_DIR)/preload_shim.c

$(SAN_DIR)/lua5.4: $(SAN_DIR)/preload_shim.so check.mk
	printf '%s\n' '#!/bin/sh' \
	  '# lua5.4 with the sanitizer runtimes preloaded (made by check.mk).' \
	  'LD_PRELOAD="$(strip $(SAN_RUNTIME)) $(CURDIR)/$(SAN_DIR)/preload_shim.so" exec $(CHECK_LUA) "$$@"' > $@
	chmod +x $@

sanitize-build: $(SAN_MODULE) $(SAN_DIR)/lua5.4

# The OpenResty spec loads the module built for LuaJIT into nginx (nginx's
# Lua is LuaJIT, which the sanitizer build does not serve), so that build is
# made here too: the target works on a fresh clone by itself.
sanitize:
	@sh .ci/install-deps $(SAN_PACKAGES)
	@$(MAKE) --no-print-directory sanitize-build
	@$(MAKE) --no-print-directory all LUA=luajit
	@rm -rf $(SAN_REPORTS) $(SAN_TMP) && mkdir -p $(SAN_REPORTS) $(SAN_TMP)
	@status=0; \
	$(SAN_ENV) $(SAN_DIR)/lua5.4 /usr/bin/busted $(BUSTED_ARGS) spec || status=$$?; \
	$(call stop_left_mocks,$(SAN_TMP)); \
	if [ -n "$$(ls -A $(SAN_REPORTS))" ]; then \
	  for f in $(SAN_REPORTS)/*; do echo "--- $$f"; cat "$$f"; done; \
	  echo "make sanitize: sanitizer reports above (kept in $(SAN_DIR)/reports)" >&2; \
	  exit 1; \
	fi; \
	if [ $$status -ne 0 ]; then \
	  echo "make sanitize: busted exited with $$status under ASan/UBSan" >&2; exit $$status; \
	fi; \
	echo "make sanitize: whole suite clean under ASan + LSan + UBSan"

# ------------------------------------------------------------------ valgrind
#
# The normal build (build/5.4, -O2 -g), under memcheck: first
# spec/support/valgrind_script.lua (every client method, the error paths,
# odd JSON), then the security specs (VALGRIND_SPECS: the hostile-server and
# careless-caller regressions) run by busted under memcheck, with the child
# interpreters those specs start (helpers.run_lua) under memcheck as well,
# through a launcher named by OCTOGEN_TEST_LUA. Each process writes its own
# report file (a fork that goes on to exec a shell leaves one with no
# summary); any error or definite/indirect leak in any of them fails.
# The mock's nginx and the shell commands are not run under valgrind.

VALGRIND_SCRIPT := spec/support/valgrind_script.lua
VALGRIND_SPECS  := spec/private_state_spec.lua spec/hostile_core_spec.lua \
                   spec/reentry_spec.lua spec/hostile_calls_spec.lua spec/request_spec.lua
VALGRIND_FLAGS  := --tool=memcheck --leak-check=full \
                   --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
                   --show-leak-kinds=definite,indirect --track-origins=yes \
                   --num-callers=30 --keep-debuginfo=yes \
                   --suppressions=$(CURDIR)/spec/support/valgrind.supp

VALGRIND_DIR     := $(CURDIR)/build/valgrind
VALGRIND_TMP     := $(VALGRIND_DIR)/tmp
VALGRIND_REPORTS := $(VALGRIND_DIR)/reports

$(VALGRIND_DIR)/lua5.4: check.mk
	@mkdir -p $(dir $@)
	printf '%s\n' '#!/bin/sh' \
	  '# lua5.4 under memcheck, one report file per process (made by check.mk).' \
	  'exec valgrind $(VALGRIND_FLAGS) --log-file=$(VALGRIND_REPORTS)/child.%p $(CHECK_LUA) "$$@"' > $@
	chmod +x $@

valgrind:
	@sh .ci/install-deps valgrind
	@$(MAKE) --no-print-directory LUA=5.4 all
	@$(MAKE) --no-print-directory $(VALGRIND_DIR)/lua5.4
	@rm -rf $(VALGRIND_TMP) $(VALGRIND_REPORTS) && mkdir -p $(VALGRIND_TMP) $(VALGRIND_REPORTS)
	@status=0; \
	$(CHECK_RUN_PATH) LUA_CPATH="build/5.4/?.so;;" TMPDIR=$(VALGRIND_TMP) \
	  valgrind $(VALGRIND_FLAGS) $(CHECK_LUA) $(VALGRIND_SCRIPT) || status=$$?; \
	$(CHECK_RUN_PATH) LUA_CPATH="build/5.4/?.so;;" TMPDIR=$(VALGRIND_TMP) \
	  OCTOGEN_TEST_LUA=$(VALGRIND_DIR)/lua5.4 \
	  valgrind $(VALGRIND_FLAGS) --log-file=$(VALGRIND_REPORTS)/busted.%p \
	  $(CHECK_LUA) /usr/bin/busted $(VALGRIND_SPECS) || status=$$?; \
	$(call stop_left_mocks,$(VALGRIND_TMP)); \
	bad=$$(grep -l 'ERROR SUMMARY: [1-9]' $(VALGRIND_REPORTS)/* 2>/dev/null); \
	if [ -n "$$bad" ]; then for f in $$bad; do echo "--- $$f"; cat "$$f"; done; status=1; fi; \
	if [ $$status -ne 0 ]; then echo "make valgrind: memcheck or a spec failed ($$status)" >&2; exit $$status; fi; \
	echo "make valgrind: no error, no definite or indirect leak ($$(grep -l 'ERROR SUMMARY' $(VALGRIND_REPORTS)/* | wc -l) Lua processes under memcheck)"

# ---------------------------------------------------------------------- fuzz
#
# fuzz/fuzz_decode.c (which #includes csrc/convert.c) and csrc/errors.c,
# not the curl side, with liblua5.4; see the comment at its top.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN := 65536
FUZZ_DIR     := build/fuzz
FUZZ_BIN     := $(FUZZ_DIR)/fuzz_decode
FUZZ_SOURCES := fuzz/fuzz_decode.c csrc/errors.c
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
# -timeout: a slow input is a finding too (seconds per input).
FUZZ_RUN_FLAGS := -max_len=$(FUZZ_MAX_LEN) -timeout=10 -rss_limit_mb=2048 -dict=fuzz/json.dict \
                  -print_final_stats=1

$(FUZZ_BIN): $(FUZZ_SOURCES) csrc/convert.c csrc/response.c $(HEADERS) check.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -std=c99 -Wall -Wextra -Icsrc \
	  $(shell pkg-config --cflags $(CHECK_LUA_PC) libcurl yajl) $(FUZZ_SOURCES) -o $@ \
	  $(shell pkg-config --libs $(CHECK_LUA_PC) libcurl yajl) -lm

fuzz-build: $(FUZZ_BIN)

# New inputs land in build/fuzz/new (the first corpus directory); afterwards
# only those that add coverage to fuzz/corpus are merged into it.
fuzz:
	@sh .ci/install-deps clang-14 libclang-rt-14-dev
	@$(MAKE) --no-print-directory fuzz-build
	@rm -rf $(FUZZ_DIR)/new && mkdir -p $(FUZZ_DIR)/new fuzz/corpus fuzz/crashes
	$(FUZZ_BIN) $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=fuzz/crashes/ $(FUZZ_DIR)/new fuzz/corpus
	$(FUZZ_BIN) -merge=1 -max_len=$(FUZZ_MAX_LEN) fuzz/corpus $(FUZZ_DIR)/new
	@echo "make fuzz: no crash in $(FUZZ_SECONDS) s; fuzz/corpus has $$(ls fuzz/corpus | wc -l) inputs"
