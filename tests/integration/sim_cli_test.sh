#!/usr/bin/env bash
# msgflash-sim's command line: usage errors exit 2, a bad config or a port in use exit 1 with a message,
# non-loopback listening needs --allow-remote, SIGINT stops it cleanly (exit 0).
#   sim_cli_test.sh PATH/TO/msgflash-sim
set -euo pipefail

sim=${1:?usage: sim_cli_test.sh PATH/TO/msgflash-sim}
work=$(mktemp -d "${TMPDIR:-/tmp}/msgflash-sim-cli.XXXXXX")
pid=""
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_exit CODE PATTERN ARGS…: msgflash-sim ARGS exits with CODE and says PATTERN on stderr.
expect_exit() {
    local want=$1 pattern=$2
    shift 2
    local got=0
    timeout 10 "$sim" "$@" >"$work/out" 2>"$work/err" || got=$?
    [[ $got -eq $want ]] || fail "msgflash-sim $* exited $got, want $want; stderr: $(cat "$work/err")"
    grep -qi -- "$pattern" "$work/err" || fail "msgflash-sim $*: stderr lacks '$pattern': $(cat "$work/err")"
    echo "ok: msgflash-sim $* -> $want"
}

expect_exit 2 "unrecognised\|unrecognized" --no-such-option
expect_exit 2 "go together" --tls-cert "$work/cert.pem"
expect_exit 2 "HOST:PORT" --listen 127.0.0.1
expect_exit 2 "bad port" --listen 127.0.0.1:99999
expect_exit 2 "allow-remote" --listen 0.0.0.0:0
expect_exit 1 "bad config" --config "$work/missing.toml"
printf '[limits]\nwindow = "soon"\n' >"$work/bad.toml"
expect_exit 1 "window" --config "$work/bad.toml"
expect_exit 1 "certificate" --tls-cert "$work/missing.pem" --tls-key "$work/missing.key"

"$sim" --threads 1 --seed 7 --port-file "$work/port" >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do
    [[ -s $work/port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "msgflash-sim exited before listening: $(cat "$work/stderr")"
    sleep 0.1
done
[[ -s $work/port ]] || fail "no port file after 10 s"
port=$(<"$work/port")

expect_exit 1 "cannot listen" --listen "127.0.0.1:$port"

kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=""
[[ $status -eq 0 ]] || fail "msgflash-sim exited with $status after SIGINT"
echo "ok: SIGINT, exit 0"
