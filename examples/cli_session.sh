#!/bin/sh
# A short session with the octogen command-line tool (bin/octogen) against
# the API at $OCTOGEN_BASE_URL, with the key in $OCTO_API_KEY. `make demo`
# runs it against the bundled mock API:
#
#   OCTOGEN_BASE_URL=http://127.0.0.1:PORT/v1 OCTO_API_KEY=octo_demo_key \
#       sh examples/cli_session.sh [LUA]
#
# Each step prints the command, its output and, when it is not 0, its exit
# status; the script fails if a step exits other than as shown.
set -u
LUA_BIN=${1:-lua5.4}
: "${OCTOGEN_BASE_URL:?set OCTOGEN_BASE_URL to the API base URL (make demo starts a mock)}"
: "${OCTO_API_KEY:?set OCTO_API_KEY}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

# `octogen` on PATH, run by the interpreter asked for, as if installed.
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT INT TERM
printf '#!/bin/sh\nexec %s %s "$@"\n' "$LUA_BIN" "$ROOT/bin/octogen" >"$BIN/octogen"
chmod +x "$BIN/octogen"
PATH=$BIN:$PATH
export PATH COLUMNS=${COLUMNS:-100}

failed=0
# step EXPECTED_STATUS 'command line'
step() {
    printf '\n$ %s\n' "$2"
    sh -c "$2" 2>&1
    status=$?
    [ "$status" -ne 0 ] && echo "[exit status $status]"
    if [ "$status" -ne "$1" ]; then
        echo "!! expected exit status $1" >&2
        failed=1
    fi
}

step 0 'octogen catalogs'
step 0 'octogen search --catalog warrenlotas -q hoodie --facet color_family=Black,Gray --price-max 200 --limit 5'
step 0 'octogen search --catalog warrenlotas -q hoodie --all --format jsonl | wc -l'
step 0 'octogen lookup https://warrenlotas.com/products/everyday-harbor-blue-hoodie-1'
step 9 'octogen refresh --file examples/urls.txt'
step 0 'octogen refresh --catalog tidepool https://tidepool.example/products/new-drop'
step 0 "octogen request POST products/search '{\"catalog\": \"tidepool\", \"q\": \"jacket\", \"limit\": 1}' | cut -c1-100"
step 0 'octogen similar https://warrenlotas.com/products/everyday-harbor-blue-hoodie-1 --limit 3'
step 0 'octogen domains --host https://www.warrenlotas.com/products/x'
step 4 'octogen domains --host shop.nowhere.example'
step 0 'OCTO_API_KEY= octogen domains --format jsonl | wc -l'
step 0 'octogen me'
step 0 'octogen url-lists create "demo list"'
# lists come newest first: the one just created
ID=$(octogen url-lists list --format jsonl | sed -n '1s/.*"url_list_id":"\([^"]*\)".*/\1/p')
step 9 "printf 'https://shop.example/p/1\n# a comment\nnot a url\n' | octogen url-lists add $ID"
step 0 "printf 'https://shop.example/p/1\nhttps://shop.example/p/2\n' | octogen url-lists check $ID"
step 0 "octogen url-lists delete $ID --format json | cut -c1-100"
step 4 'octogen search --catalog no-such-catalog -q hoodie'
step 5 'octogen search --limit 1000'
step 3 'OCTO_API_KEY=octo_not_a_key octogen catalogs'
step 7 'octogen --base-url http://127.0.0.1:9/v1 catalogs'
exit $failed
