#!/usr/bin/env bash
# Broadcast-chat benchmark of the local cloud (issue 5), with the peers' load client.
#
#   export CARGO_TARGET_DIR=...; cargo build --release
#   benches/chat/run.sh                     # everything (≈ 30–40 min on 2 vCPU)
#   STAGES="load rtt" STACKS=fanout NS="10 50" REPS=3 benches/chat/run.sh
#
# Stages: load (N clients × K messages, window W, connects C at a time, per stack and N),
# rtt (2 clients, 100 fresh + 100 warm round trips, per stack), peers (serverless-offline at
# PEER_NS, same client, same load), idle (IDLE_N idle connections to the fan-out stack).
# Every run starts a fresh `chatstack local` (new data dir), deploys one stack, runs one bounded
# client (--deadline, plus an outer `timeout`), and stops the local cloud. Results: one JSON
# line per run in $OUT/{load,rtt,idle,gateway}.jsonl; `python3 benches/chat/summarize.py $OUT`
# prints the tables (medians over the REPS runs).
#
# Needs: node ≥ 18 and npm (the client's `ws@8.23.0` is installed into $WORK, never into the
# repository), python3 with `qcloud_cos` and `requests` (else the local cloud makes its venv),
# the peers' harness at $PEERS_SRC (copied to $WORK; serverless-offline is npm-installed there
# for the peers stage). Loopback only.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${CHATSTACK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/chatstack}"
SHARED="${CHATSTACK_SHARED:-$ROOT/../shared}"
[ -d "$SHARED/bench/peers" ] || { echo "run.sh: no peer harness at $SHARED/bench/peers; set CHATSTACK_SHARED to the shared directory" >&2; exit 2; }
PEERS_SRC="${PEERS_SRC:-$SHARED/bench/peers}"
WORK="${WORK:-/tmp/chatstack-chat-bench}"
OUT="${OUT:-$WORK/results}"
STAGES="${STAGES:-rtt load peers idle}"
STACKS="${STACKS:-fanout seed}"
NS="${NS:-10 50 200 1000}"
K="${K:-20}"
REPS="${REPS:-3}"
LONG_REPS="${LONG_REPS:-1}"          # runs for N >= 200 (each is bounded by DEADLINE)
DEADLINE="${DEADLINE:-120}"          # seconds per load run (the peers' harness uses 120)
PEER_NS="${PEER_NS:-50 200}"
PEER_REPS="${PEER_REPS:-$REPS}"
IDLE_N="${IDLE_N:-10000}"
APPID=1256773370                     # the seed's bucket carries this APPID
export TENCENTCLOUD_SECRET_ID=AKIDchatstackLOCAL00000000000000000
export TENCENTCLOUD_SECRET_KEY=chatstackLocalSecretKey000000000
# The real interpreter, not a pyenv shim (a shim adds ~50 ms to every worker start); the
# peers' emu.sh does the same for their workers.
PY="$(python3 -c 'import sys; print(sys.executable)')"
export CHATSTACK_PYTHON="$PY" PATH="$(dirname "$PY"):$PATH"

[ -x "$BIN" ] || { echo "no release binary at $BIN (cargo build --release)" >&2; exit 2; }
mkdir -p "$WORK" "$OUT"
# 10,000 connections need 10,000+ descriptors in the local cloud and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

setup_client() {
  if [ ! -f "$WORK/client/node_modules/ws/package.json" ]; then
    rm -rf "$WORK/client"; cp -a "$PEERS_SRC/client" "$WORK/client"
    (cd "$WORK/client" && timeout 300 npm install --no-audit --no-fund ws@8.23.0 >/dev/null) || {
      echo "npm install ws@8.23.0 failed" >&2; exit 2; }
  fi
  cp "$PEERS_SRC/client/"*.mjs "$WORK/client/"
  # The article's transport appends "(===Online people:N===)" to every message (so does ours,
  # to stay a drop-in): strip it before the client's JSON.parse. Nothing else changes.
  sed -i 's|try { m = JSON.parse(data) }|try { m = JSON.parse(String(data).replace(/\\(===Online people:\\d+===\\)$/, "")) }|' \
    "$WORK/client/bench.mjs"
  grep -q 'Online people' "$WORK/client/bench.mjs" || { echo "bench.mjs patch failed" >&2; exit 2; }
  cp "$HERE/idle.mjs" "$WORK/client/"
}

CLOUD_PID=""; CLOUD_URL=""
start_cloud() {
  local data; data="$(mktemp -d "$WORK/data.XXXXXX")"
  "$BIN" local --listen 127.0.0.1:0 --data-dir "$data" --appid "$APPID" \
    > "$data.out" 2> "$data.log" < /dev/null &
  CLOUD_PID=$!
  CLOUD_DATA=$data
  for _ in $(seq 200); do
    CLOUD_URL="$(head -1 "$data.out" 2>/dev/null)"
    [ -n "$CLOUD_URL" ] && return 0
    sleep 0.05
  done
  echo "chatstack local did not start: $(cat "$data.log")" >&2; return 1
}
stop_cloud() {
  [ -n "$CLOUD_PID" ] || return 0
  kill -TERM "$CLOUD_PID" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$CLOUD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$CLOUD_PID" 2>/dev/null
  wait "$CLOUD_PID" 2>/dev/null
  rm -rf "$CLOUD_DATA" "$CLOUD_DATA.out"; mv -f "$CLOUD_DATA.log" "$WORK/last-cloud.log" 2>/dev/null
  CLOUD_PID=""
}
trap 'mem_stop; stop_cloud' EXIT

# The article's functions with ONE fix, nothing else: registry keys percent-encoded. An id is
# base64 and may start with `/`, which the COS SDK strips from keys, so unpatched about one
# connection in 64 is listed under an id nobody has and never receives anything (with the
# bench's window every message then waits for its 10 s timeout). SEED_UNPATCHED=1 runs them as
# published.
seed_code() {
  if [ -n "${SEED_UNPATCHED:-}" ]; then echo "$SHARED/seed/code"; return; fi
  rm -rf "$WORK/seed-code"; cp -a "$SHARED/seed/code" "$WORK/seed-code"
  sed -i -e "s|^import os\$|import os\nfrom urllib.parse import quote, unquote|" \
         -e "s|Key=str(connectionID),|Key=quote(str(connectionID), safe=''),|" \
         -e "s|return \[eve\['Key'\] for eve in response\['Contents'\]\]|return [unquote(eve['Key']) for eve in response['Contents']]|" \
         "$WORK/seed-code/"*.py
  [ "$(grep -c "quote" "$WORK/seed-code/"*.py | cut -d: -f2 | paste -sd+ | bc)" -ge 6 ] || { echo "seed patch failed" >&2; exit 2; }
  echo "$WORK/seed-code"
}

stack_file() { # stack_file seed|fanout -> path
  case $1 in
    seed)
      sed -e "s|secret_id: \$|secret_id: $TENCENTCLOUD_SECRET_ID|" \
          -e "s|secret_key: \$|secret_key: $TENCENTCLOUD_SECRET_KEY|" \
          -e "s|codeUri: ./code|codeUri: $SEED_CODE|" \
          "$SHARED/seed/serverless.yml" > "$WORK/seed.yml"
      echo "$WORK/seed.yml" ;;
    fanout) echo "$WORK/fanout/chatstack.yml" ;; # a copy (see below)
  esac
}

WS_URL=""
deploy() { # deploy seed|fanout  (needs a running cloud)
  local doc
  doc="$(timeout 120 "$BIN" -c "$(stack_file "$1")" --endpoint "$CLOUD_URL" --json deploy --yes 2>"$WORK/deploy.err")" || {
    echo "deploy $1 failed: $(cat "$WORK/deploy.err")" >&2; return 1; }
  WS_URL="$(printf '%s' "$doc" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["websocketUrl"])')"
}

fn_prefix() { case $1 in seed) echo Chat ;; fanout) echo Fanout ;; esac; }

# Median duration (ms) the transport function itself reported for its recent invocations.
transport_ms() { # transport_ms stack
  timeout 60 "$BIN" -c "$(stack_file "$1")" --endpoint "$CLOUD_URL" --json logs "$(fn_prefix "$1")Trans" --since 10m 2>/dev/null |
    "$PY" -c '
import json, statistics, sys
text, dec, i, d = sys.stdin.read(), json.JSONDecoder(), 0, []
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    r, i = dec.raw_decode(text, i)
    if r.get("Duration") is not None:
        d.append(float(r["Duration"]))
print(json.dumps({"n": len(d), "p50": statistics.median(d) if d else None}))'
}

client() { # client <script> <args...>
  local script=$1; shift
  timeout $((DEADLINE + 90)) node "$WORK/client/$script" "$@"
}

# Peak PSS (and RSS) of the local cloud's process tree while a client runs: $OUT/mem.jsonl.
# The load client measures connect + messaging, then closes every connection at once (which
# runs N cleanups): memtree reports the peaks of the whole run and, from the client's run_ms,
# of connect + messaging alone.
MEM_PID=""; MEM_T0=""; MEM_LINES=0
mem_start() { # mem_start label n
  rm -f "$WORK/mem.until"
  "$PY" "$HERE/memtree.py" --pid "$CLOUD_PID" --label "$1" --n "$2" --out "$OUT/mem.jsonl" \
    --until-file "$WORK/mem.until" &
  MEM_PID=$!
  MEM_LINES=$(cat "$OUT/load.jsonl" 2>/dev/null | wc -l)
  MEM_T0=$(date +%s.%N)
}
mem_stop() {
  [ -n "$MEM_PID" ] || return 0
  if [ "$(cat "$OUT/load.jsonl" 2>/dev/null | wc -l)" -gt "$MEM_LINES" ]; then
    tail -1 "$OUT/load.jsonl" | "$PY" -c "import json,sys; print($MEM_T0 + json.load(sys.stdin)['run_ms'] / 1000)" \
      > "$WORK/mem.until" 2>/dev/null
  fi
  kill -TERM "$MEM_PID" 2>/dev/null; wait "$MEM_PID" 2>/dev/null; MEM_PID=""
}

stage_load() {
  for stack in $STACKS; do
    for rep in $(seq "$REPS"); do
      for n in $NS; do
        [ "$n" -ge 200 ] && [ "$rep" -gt "$LONG_REPS" ] && continue
        start_cloud && deploy "$stack" && sleep 1 && mem_start "$stack${LABEL_SUFFIX:-}" "$n" &&
          client bench.mjs --url "$WS_URL" --n "$n" --k "$K" --mode window --window 8 \
            --connect-concurrency 8 --deadline "$DEADLINE" --pid "$CLOUD_PID" \
            --label "$stack${LABEL_SUFFIX:-}" --out "$OUT/load.jsonl"
        mem_stop; stop_cloud; sleep 2
      done
    done
  done
}

stage_rtt() {
  for rep in $(seq "$REPS"); do
    for stack in $STACKS; do
      start_cloud && deploy "$stack" && sleep 1 && {
        client rtt.mjs --url "$WS_URL" --reps 100 --pid "$CLOUD_PID" --label "$stack${LABEL_SUFFIX:-}" --out "$OUT/rtt.jsonl"
        echo "{\"label\":\"$stack${LABEL_SUFFIX:-}\",\"transport_function_ms\":$(transport_ms "$stack")}" | tee -a "$OUT/gateway.jsonl"
      }
      stop_cloud; sleep 2
    done
  done
}

stage_peers() {
  local peers="$WORK/peers"
  if [ ! -x "$peers/sls/node_modules/.bin/serverless" ] && [ ! -f "$peers/sls/node_modules/serverless/bin/serverless.js" ]; then
    rm -rf "$peers"; cp -a "$PEERS_SRC" "$peers"; rm -rf "$peers/results"
    (cd "$peers/sls" && timeout 600 npm install --no-audit --no-fund serverless@3.40.0 serverless-offline@13.9.0 > "$WORK/npm-sls.log" 2>&1) || {
      echo "{\"label\":\"sls\",\"error\":\"npm install failed, see $WORK/npm-sls.log\"}" | tee -a "$OUT/load.jsonl"; return; }
  fi
  for rep in $(seq "$PEER_REPS"); do
    for n in $PEER_NS; do
      [ "$n" -ge 200 ] && [ "$rep" -gt "$LONG_REPS" ] && continue
      read -r pid pgid gw < <("$peers/emu.sh" start sls)
      client bench.mjs --url ws://127.0.0.1:3001 --n "$n" --k "$K" --mode window --window 8 \
        --connect-concurrency 8 --deadline "$DEADLINE" --pid "$pid" --pgid "$pgid" --gw-pid "$gw" \
        --store /tmp/peers-bench-store/sls --label sls --out "$OUT/load.jsonl"
      "$peers/emu.sh" stop sls; sleep 2
    done
  done
}

stage_idle() {
  start_cloud && deploy fanout && sleep 1 && mem_start "idle${LABEL_SUFFIX:-}" "$IDLE_N" &&
    timeout 900 node "$WORK/client/idle.mjs" --url "$WS_URL" --n "$IDLE_N" --connect-concurrency 8 \
      --hold 20 --pid "$CLOUD_PID" --deadline 800 --label "fanout${LABEL_SUFFIX:-}" --out "$OUT/idle.jsonl"
  mem_stop; stop_cloud
}

setup_client
SEED_CODE="$(seed_code)"
# Deploy keeps its state (.chatstack/) next to the stack file: use a copy, not the repository.
rm -rf "$WORK/fanout"; cp -a "$ROOT/functions/chat" "$WORK/fanout"; rm -rf "$WORK/fanout/.chatstack"
echo "chatstack $("$BIN" --version) at $BIN; results in $OUT" >&2
for stage in $STAGES; do "stage_$stage"; done
