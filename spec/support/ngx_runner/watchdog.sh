#!/bin/sh
# Stops what spec/cosocket_spec.lua started if busted dies without running
# its teardown (killed by a timeout, say): nginx processes are stopped only
# by the pids given, each checked to still be an nginx with the given
# prefix, and the mocks the spec files started inside the runner are found
# under the runner's own TMPDIR (RUNNER_PREFIX/tmp).
#
#   watchdog.sh OWNER_PID RUNNER_PREFIX PID:PREFIX...
#
# It waits while OWNER_PID lives (a zombie counts as gone), then sends TERM
# and, two seconds later, KILL (a worker spinning in its event loop never
# ends on QUIT). After a normal teardown everything is gone already, and it
# only exits.
owner=$1
runner_prefix=$2
shift 2

alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^[0-9]* (.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
    [ "$state" != "Z" ] && [ "$state" != "X" ] && [ -n "$state" ]
}

while alive "$owner"; do sleep 1; done

targets="$*"
for pidfile in "$runner_prefix"/tmp/octomock.*/logs/nginx.pid; do
    [ -r "$pidfile" ] || continue
    dir=${pidfile%/logs/nginx.pid}
    targets="$targets $(cat "$pidfile"):$dir"
done

# The masters still running with their prefix, and their workers, listed
# once (a worker's command line does not name the prefix).
victims=
for t in $targets; do
    pid=${t%%:*}
    prefix=${t#*:}
    alive "$pid" || continue
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "nginx.*$prefix" || continue
    victims="$victims $pid $(pgrep -P "$pid" 2>/dev/null)"
done

signal() {
    for pid in $victims; do
        alive "$pid" || continue
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "nginx" || continue
        kill "-$1" "$pid" 2>/dev/null
    done
}

if [ -n "$victims" ]; then
    signal TERM
    sleep 2
    signal KILL
fi
for t in $targets; do
    case ${t#*:} in
        */octomock.*|*/octoresty.*) rm -rf "${t#*:}" ;;
    esac
done
case $runner_prefix in
    */octoresty.*) rm -rf "$runner_prefix" ;;
esac
