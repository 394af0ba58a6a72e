#!/bin/sh
# make demo: start the bundled mock API, run every example against it,
# stop the mock (by its pid) whatever happens.
set -eu
LUA_BIN=${1:-lua5.4}
BUILD=${2:-build/5.4}
STATE=$(mktemp)
export LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;"
export LUA_CPATH="$BUILD/?.so;;"

stop() { "$LUA_BIN" spec/support/mockctl.lua stop "$STATE" >/dev/null 2>&1 || true; rm -f "$STATE"; }
trap stop EXIT INT TERM

OCTOGEN_BASE_URL=$("$LUA_BIN" spec/support/mockctl.lua start "$STATE")
export OCTOGEN_BASE_URL
export OCTO_API_KEY=octo_demo_key
echo "mock Octogen API at $OCTOGEN_BASE_URL (pid $(cut -d' ' -f1 "$STATE"))"

for ex in quickstart pagination faceted_search lookup domain_coverage url_list refresh_from_file error_handling \
          concurrency game_loop; do
    echo
    echo "=== examples/$ex.lua"
    if [ "$ex" = refresh_from_file ]; then
        "$LUA_BIN" "examples/$ex.lua" examples/urls.txt || true
    else
        "$LUA_BIN" "examples/$ex.lua"
    fi
done

echo
echo "=== examples/openresty (nginx + octogen over cosockets; examples/openresty_demo.lua)"
"$LUA_BIN" examples/openresty_demo.lua

echo
echo "=== examples/cli_session.sh (the octogen command)"
sh examples/cli_session.sh "$LUA_BIN"
