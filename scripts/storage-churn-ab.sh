#!/usr/bin/env bash
# A/B: JetStream publish latency on one stream while another stream on the SAME core is
# created, filled, consumed (durable consumers acking: consumer state writes), and deleted
# over and over — against the same run without the churn. natrix runs with --cores 1, so
# both streams are owned by one core: any blocking file syscall on it shows up in the
# publisher's p99. Each run also measures core pub/sub latency (paced, 2000 msgs/s) on that
# core first. 127.0.0.1 only; release build; short bounded runs.
#
#   scripts/storage-churn-ab.sh            # A B A B, 10 s each
#   CHURN_SECS=5 CHURN_ROUNDS=3 scripts/storage-churn-ab.sh
#
# js-pub is closed-loop: one publisher, CHURN_WINDOW (1) acks outstanding, so each sample is
# one publish -> fsync -> ack round trip and any stall of the core lands in the percentiles.
#
# Environment: CHURN_SECS (10), CHURN_ROUNDS (2), CHURN_WINDOW (1),
# CHURN_NATRIX_BIN (default target/release/natrix).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECS=${CHURN_SECS:-10}
ROUNDS=${CHURN_ROUNDS:-2}
WINDOW=${CHURN_WINDOW:-1}
NATRIX=${CHURN_NATRIX_BIN:-target/release/natrix}
LOADGEN=target/release/natrix-loadgen
PY=.venv/bin/python
[[ -x $NATRIX && -x $LOADGEN ]] || cargo build --release -p natrix --bin natrix -p natrix-loadgen
PORT=$(( 20000 + RANDOM % 20000 ))
DATA=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
"$NATRIX" --port "$PORT" --addr 127.0.0.1 --cores 1 --log-level warn --store-dir "$DATA" \
    >"$DATA.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
URL="nats://127.0.0.1:$PORT"
SHOW='
import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
l = r.get("latency") or {}
print("%-15s msgs/s %8.0f  p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us  max %7.0f us" % (
    sys.argv[1], r["msgs_per_s"], l.get("p50_us", 0), l.get("p99_us", 0),
    l.get("p999_us", 0), l.get("max_us", 0)))
'

run() { # $1 = label
    local json
    json=$("$LOADGEN" latency --url "$URL" --rate 2000 --duration "$SECS" --size 128 --json --quiet)
    echo "$json" | "$PY" -c "$SHOW" "$1 core"
    json=$("$LOADGEN" js-pub --url "$URL" --stream BENCH --storage file \
        --duration "$SECS" --size 128 --pubs 1 --window "$WINDOW" --json --quiet)
    echo "$json" | "$PY" -c "$SHOW" "$1 js  "
}
for r in $(seq "$ROUNDS"); do
    run "A quiet"
    "$PY" scripts/storage_churn.py --url "$URL" --seconds "$((2 * SECS + 2))" >"$DATA.churn" &
    CHURN=$!
    sleep 1
    run "B churn"
    wait "$CHURN"
    cat "$DATA.churn"
done
