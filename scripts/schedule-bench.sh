#!/usr/bin/env bash
# Message schedule firing accuracy: 10,000 one-shot `@at` schedules pending in one file
# stream, due evenly over 10 s; lateness = stored time of each produced message - its due
# time (p50/p99/max), natrix (release build) vs nats-server 2.15.1, each on a fresh store.
# 127.0.0.1 only.
#
#   scripts/schedule-bench.sh
#   SCHED_COUNT=2000 SCHED_WINDOW=5 SCHED_ROUNDS=1 scripts/schedule-bench.sh
#
# Environment: SCHED_COUNT (10000), SCHED_WINDOW (10 s), SCHED_LEAD (20 s: the first due time
# after the first publish; every schedule is stored before it), SCHED_ROUNDS (2), SCHED_CORES
# (natrix --cores, 2), SCHED_NATRIX_BIN (target/release/natrix).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COUNT=${SCHED_COUNT:-10000}
WINDOW=${SCHED_WINDOW:-10}
LEAD=${SCHED_LEAD:-20}
ROUNDS=${SCHED_ROUNDS:-2}
CORES=${SCHED_CORES:-2}
NATRIX=${SCHED_NATRIX_BIN:-target/release/natrix}
NATS=.venv/bin/nats-server
PY=.venv/bin/python
[[ -x $NATRIX ]] || cargo build --release -p natrix --bin natrix
SERVER=
DATA=
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [[ -n $DATA ]] && rm -rf "$DATA" "$DATA.log"
    return 0
}
trap cleanup EXIT

run() { # $1 = natrix | nats-server
    local port=$(( 20000 + RANDOM % 20000 ))
    DATA=$(mktemp -d)
    if [[ $1 == natrix ]]; then
        "$NATRIX" --port "$port" --addr 127.0.0.1 --cores "$CORES" --log-level warn \
            --store-dir "$DATA" >"$DATA.log" 2>&1 &
    else
        "$NATS" -js -a 127.0.0.1 -p "$port" -sd "$DATA" >"$DATA.log" 2>&1 &
    fi
    SERVER=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    printf '%-12s ' "$1"
    "$PY" scripts/schedule_accuracy.py --url "nats://127.0.0.1:$port" --count "$COUNT" \
        --lead "$LEAD" --window "$WINDOW"
    cleanup
    SERVER=
    DATA=
}

for _ in $(seq "$ROUNDS"); do
    run natrix
    run nats-server
done
