#!/usr/bin/env bash
# Counts what one natrix server spends per consumed message in a js-consume (or js-pub)
# loadgen row, measured with perf on the server process only, over the drain alone (the
# prefill is not counted): a contention-robust companion of scripts/compare.sh, whose
# wall-clock msgs/s move with whatever else the machine runs. The server's CPU time per
# message (task-clock) does not count the time it waits for the CPU; it still moves with
# cache and frequency sharing, so compare runs made side by side. (This VM has no PMU:
# no instruction or cycle counters; where they exist, add instructions:u to EVENTS.)
#
#   scripts/perf-consume.sh <natrix-binary> <row> [runs]
#   PERF_MODE=record scripts/perf-consume.sh target/release/natrix jsc-pull500-explicit 1
#
# Rows: jsc-pull500-explicit, jsc-pull500-none, jsc-push-fc (drain of a prefilled stream;
# counting starts once the durable consumer exists), js-w256-16, js-w1-16 (publishing;
# counted from the first stored message for PERF_PUB_MSGS messages).
# Server: --cores 1 pinned to CPU 0, loadgen on CPU 1 (as compare.sh's one-core budget).
# Output, one line per run: row, msgs/s (loadgen), messages counted, and per message:
# server CPU ns (task-clock), page faults, context switches.
# PERF_MODE=record writes perf.data-<row>-<n> (call graphs) into PERF_OUT instead;
# PERF_MODE=callgrind runs the server under valgrind's callgrind (no PMU needed; ~200×
# slower, so PERF_MSGS=20000) and prints instructions per message over the drain, from a
# dump (callgrind-<row>-<n>.out.<k>) that callgrind_annotate breaks down by function.
# Env: PERF_MSGS (stream size, 500000), PERF_OUT (results dir, /tmp), PERF_MODE (stat|record),
# PERF_EVENTS (perf stat events, default task-clock,page-faults,context-switches).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NATRIX=$(realpath "$1")
ROW=$2
RUNS=${3:-1}
MSGS=${PERF_MSGS:-500000}
MODE=${PERF_MODE:-stat}
EVENTS=${PERF_EVENTS:-task-clock,page-faults,context-switches}
OUT=${PERF_OUT:-/tmp}
LOADGEN=$ROOT/target/release/natrix-loadgen
PY=$ROOT/.venv/bin/python3
[[ -x $LOADGEN ]] || { echo "build natrix-loadgen first: cargo build --release -p natrix-loadgen" >&2; exit 1; }

case $ROW in
jsc-pull500-explicit) ARGS=(js-consume --size 16 --batch 500 --ack explicit --msgs "$MSGS" --duration 60) ;;
jsc-pull500-none) ARGS=(js-consume --size 16 --batch 500 --ack none --msgs "$MSGS" --duration 60) ;;
jsc-push-fc) ARGS=(js-consume --size 16 --push --ack explicit --msgs "$MSGS" --duration 60) ;;
js-w256-16) ARGS=(js-pub --size 16 --window 256 --msgs "$MSGS" --duration 60) ;;
js-w1-16) ARGS=(js-pub --size 16 --window 1 --msgs "$MSGS" --duration 60) ;;
*) echo "unknown row $ROW" >&2; exit 1 ;;
esac

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until the row's measured phase starts, enables the counters (ctl fifo), prints the
# messages already past at that moment, waits for the loadgen to exit, disables them.
WATCH=$(cat <<'EOF'
import asyncio, json, os, sys
import nats
import subprocess
url, ctl, ack, lg_pid, row, mode, spid = sys.argv[1:8]
lg_pid = int(lg_pid)
def send(cmd):
    if mode == "callgrind":
        arg = "--zero" if cmd == "enable" else "--dump=drain"
        subprocess.run(["callgrind_control", arg, spid], check=True, capture_output=True)
        return
    with open(ctl, "w") as f: f.write(cmd + "\n")
    with open(ack) as f: f.readline()
def alive():
    try: os.kill(lg_pid, 0); return True
    except ProcessLookupError: return False
async def main():
    nc = await nats.connect(url)
    consume = row.startswith("jsc-")
    subj = "$JS.API.CONSUMER.INFO.LOADGEN.loadgen" if consume else "$JS.API.STREAM.INFO.LOADGEN"
    def past(info):
        if consume: return info["delivered"]["consumer_seq"]
        return info["state"]["messages"]
    while alive():
        try:
            m = await nc.request(subj, b"", timeout=1)
            info = json.loads(m.data)
            if "error" not in info and (consume or past(info) > 0): break
        except Exception: pass
        await asyncio.sleep(0.002)
    send("enable")
    m = await nc.request(subj, b"", timeout=5)
    print(past(json.loads(m.data)), flush=True)
    await nc.close()
    while alive(): await asyncio.sleep(0.01)
    send("disable")
asyncio.run(main())
EOF
)

for ((run = 1; run <= RUNS; run++)); do
    DIR=$(mktemp -d -t perfc.XXXXXX)
    PORT=$(free_port)
    VG=()
    [[ $MODE == callgrind ]] && VG=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind-$ROW-$run.out")
    taskset -c 0 "${VG[@]}" "$NATRIX" --port "$PORT" --addr 127.0.0.1 --cores 1 --log-level warn \
        --store-dir "$DIR/data" >"$DIR/server.log" 2>&1 &
    SPID=$!
    for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    mkfifo "$DIR/ctl" "$DIR/ack"
    if [[ $MODE == callgrind ]]; then
        sleep 5
        PPID_=""
    elif [[ $MODE == record ]]; then
        perf record -e cpu-clock -g -D -1 --control "fifo:$DIR/ctl,$DIR/ack" -p "$SPID" \
            -o "$OUT/perf.data-$ROW-$run" 2>"$DIR/perf.err" &
    else
        perf stat -x, -e "$EVENTS" \
            -D -1 --control "fifo:$DIR/ctl,$DIR/ack" -p "$SPID" -o "$DIR/stat" &
    fi
    [[ $MODE == callgrind ]] || PPID_=$!
    sleep 0.3
    taskset -c 1 "$LOADGEN" "${ARGS[@]}" --url "nats://127.0.0.1:$PORT" --json --quiet >"$DIR/lg.json" 2>"$DIR/lg.err" &
    LPID=$!
    PAST=$("$PY" -c "$WATCH" "nats://127.0.0.1:$PORT" "$DIR/ctl" "$DIR/ack" "$LPID" "$ROW" "$MODE" "$SPID")
    wait "$LPID" || echo "loadgen failed: $(tail -3 "$DIR/lg.err")" >&2
    if [[ -n $PPID_ ]]; then
        kill -INT "$PPID_"
        wait "$PPID_" || true
    fi
    kill "$SPID"
    wait "$SPID" || true
    RATE=$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["msgs_per_s"]))' "$DIR/lg.json")
    N=$((MSGS - PAST))
    if [[ $MODE == callgrind ]]; then
        F=$(ls -t "$OUT/callgrind-$ROW-$run.out"* | grep -v '\.out$' | head -n1)
        IR=$(sed -n 's/^summary: *//p;s/^totals: *//p' "$F" | head -n1 | cut -d' ' -f1)
        echo "$ROW $NATRIX: $RATE msgs/s, $N msgs, per msg: instructions $((IR / N)) (callgrind, $F)"
    elif [[ $MODE == record ]]; then
        echo "$ROW run $run: $RATE msgs/s, $N msgs recorded -> $OUT/perf.data-$ROW-$run"
    else
        "$PY" - "$DIR/stat" "$ROW" "$RATE" "$N" "$NATRIX" <<'EOF'
import sys
path, row, rate, n, binary = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
v = {}
for line in open(path):
    f = line.strip().split(",")
    if len(f) > 3 and f[0] and f[0][0].isdigit():
        v[f[2]] = float(f[0])
per = lambda k: v.get(k, float("nan")) / n
extra = "".join(f", {k.split(':')[-1]} {per(k):.4f}" for k in v if k not in ("task-clock", "page-faults", "context-switches"))
print(f"{row} {binary}: {rate} msgs/s, {n} msgs, per msg: cpu ns {per('task-clock') * 1e6:.0f}, "
      f"faults {per('page-faults'):.4f}, ctxsw {per('context-switches'):.4f}{extra}")
EOF
    fi
    rm -rf "$DIR"
done
