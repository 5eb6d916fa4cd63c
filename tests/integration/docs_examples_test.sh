#!/usr/bin/env bash
# The MsgFlash documentation's curl examples (docs: api-overview.txt, instances.txt), verbatim but for the
# host and the key (and -sS: no progress meter, errors still shown), against a msgflash-sim binary on an
# ephemeral loopback port; the answers must have the documented shapes. Then SIGTERM: the simulator must
# exit 0.
#   docs_examples_test.sh PATH/TO/msgflash-sim
set -euo pipefail

sim=${1:?usage: docs_examples_test.sh PATH/TO/msgflash-sim}
key="msgf_live_FAKE_shop_key"  # the built-in world's personal key (fake)

work=$(mktemp -d "${TMPDIR:-/tmp}/msgflash-docs-examples.XXXXXX")
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
    echo "--- msgflash-sim stderr:" >&2
    cat "$work/stderr" >&2 || true
    exit 1
}

"$sim" --listen 127.0.0.1:0 --port-file "$work/port" >"$work/stdout" 2>"$work/stderr" &
pid=$!

# Bounded wait for the port file (written atomically once the listener is up).
for _ in $(seq 100); do
    [[ -s $work/port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "msgflash-sim exited before listening"
    sleep 0.1
done
[[ -s $work/port ]] || fail "no port file after 10 s"
port=$(<"$work/port")
[[ $port =~ ^[0-9]+$ ]] || fail "port file holds '$port'"
grep -qx "msgflash-sim listening on http://127.0.0.1:$port" "$work/stdout" || fail "unexpected banner: $(cat "$work/stdout")"

# check NAME PYTHON-ASSERTIONS: the JSON on stdin must satisfy the assertions (variable `doc`).
check() {
    local name=$1 code=$2
    python3 -c "
import json, sys
doc = json.load(sys.stdin)
$code
" || fail "$name: answer does not have the documented shape"
    echo "ok: $name"
}

# docs: instances.txt, "Listr les instances"
list=$(curl -sS http://127.0.0.1:$port/api/v1/instances \
  -H "x-api-key: $key")
check "GET /api/v1/instances" '
data = doc["data"]
assert isinstance(data, list) and data, data
for inst in data:
    for field in ("id", "name", "waNumber", "status", "webhook", "meta", "deletedAt", "createdAt", "updatedAt"):
        assert field in inst, (field, inst)
    assert inst["status"] in ("disconnected", "connecting", "connected"), inst
' <<<"$list"
instance_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])' <<<"$list")

# docs: instances.txt, "Instance details"
details=$(curl -sS http://127.0.0.1:$port/api/v1/instances/$instance_id \
  -H "x-api-key: $key")
check "GET /api/v1/instances/{id}" '
data = doc["data"]
for field in ("id", "name", "waNumber", "status", "createdAt", "updatedAt"):
    assert field in data, (field, data)
' <<<"$details"

# docs: instances.txt, "État live"
state=$(curl -sS http://127.0.0.1:$port/api/v1/instances/$instance_id/state \
  -H "x-api-key: $key")
check "GET /api/v1/instances/{id}/state" "
data = doc['data']
assert set(('instanceId', 'status', 'providerState')) <= set(data), data
assert data['instanceId'] == '$instance_id', data
" <<<"$state"

# docs: instances.txt, "Instance health" (fields: SPEC §11)
health=$(curl -sS http://127.0.0.1:$port/api/v1/instances/$instance_id/health \
  -H "x-api-key: $key")
check "GET /api/v1/instances/{id}/health" '
data = doc["data"]
for field in ("safetyState", "safetyScore", "warmupPolicy", "usageWindowSummary", "recommendations"):
    assert field in data, (field, data)
' <<<"$health"

# docs: api-overview.txt, "Authentication"
usage=$(curl -sS http://127.0.0.1:$port/api/v1/usage \
  -H "x-api-key: $key")
check "GET /api/v1/usage" '
assert isinstance(doc["data"], dict), doc
' <<<"$usage"

# docs: api-overview.txt, "Error": an unknown key gets the error envelope.
unauthorized=$(curl -sS http://127.0.0.1:$port/api/v1/usage \
  -H "x-api-key: msgf_live_FAKE_wrong_key")
check "GET /api/v1/usage with a wrong key" '
assert doc["error"]["code"] == "UNAUTHORIZED", doc
assert isinstance(doc["error"]["message"], str), doc
' <<<"$unauthorized"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[[ $status -eq 0 ]] || fail "msgflash-sim exited with $status after SIGTERM"
echo "ok: SIGTERM, exit 0"
