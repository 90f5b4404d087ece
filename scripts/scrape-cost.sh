#!/usr/bin/env bash
# Scrape cost: core pub/sub throughput with /metrics and /varz scraped every 100 ms against
# the same run without scraping (issue 11: "no locks on the message path"). One natrix
# (release build) per run on 127.0.0.1, A (quiet) and B (scraped) alternating, medians and
# ranges printed at the end.
#
#   scripts/scrape-cost.sh                       # 4 rounds of A B, 5 s each
#   SCRAPE_SECS=3 SCRAPE_ROUNDS=3 scripts/scrape-cost.sh
#
# Environment: SCRAPE_SECS (5), SCRAPE_ROUNDS (4), SCRAPE_PERIOD_MS (100), SCRAPE_CORES (2),
# SCRAPE_LOAD ("pubsub --size 16 --pubs 1 --subs 1 --msgs 1000000000": --duration caps it),
# SCRAPE_NATRIX_BIN (default target/release/natrix).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECS=${SCRAPE_SECS:-5}
ROUNDS=${SCRAPE_ROUNDS:-4}
PERIOD_MS=${SCRAPE_PERIOD_MS:-100}
CORES=${SCRAPE_CORES:-2}
read -r -a LOAD <<<"${SCRAPE_LOAD:-pubsub --size 16 --pubs 1 --subs 1 --msgs 1000000000}"
NATRIX=${SCRAPE_NATRIX_BIN:-target/release/natrix}
LOADGEN=target/release/natrix-loadgen
command -v curl >/dev/null || { echo "scrape-cost.sh: curl is needed" >&2; exit 1; }
[[ -x $NATRIX ]] || cargo build --release -p natrix --bin natrix
[[ -x $LOADGEN ]] || cargo build --release -p natrix-loadgen
DATA=$(mktemp -d)
SERVER=
SCRAPER=
cleanup() {
    [[ -n $SCRAPER ]] && kill "$SCRAPER" 2>/dev/null || true
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

start_server() {
    PORT=$((20000 + RANDOM % 20000))
    HTTP=$((PORT + 1))
    rm -rf "$DATA/store"
    "$NATRIX" --port "$PORT" --http-port "$HTTP" --addr 127.0.0.1 --cores "$CORES" \
        --log-level warn --store-dir "$DATA/store" >"$DATA/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "scrape-cost.sh: natrix did not start:" >&2
    cat "$DATA/server.log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=
}

# Scrapes /metrics and /varz every PERIOD_MS (one kept-alive HTTP connection, as Prometheus)
# until killed; writes the number of scrape pairs to $DATA/scrapes.
scraper() {
    exec python3 - "$HTTP" "$PERIOD_MS" "$DATA/scrapes" <<'PY'
import http.client, signal, sys, time
port, period, out = int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[3]
n = 0
def done(*_):
    open(out, "w").write(str(n))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
tick = time.monotonic()
while True:
    for path in ("/metrics", "/varz"):
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        except Exception:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    n += 1
    tick += period
    time.sleep(max(0.0, tick - time.monotonic()))
PY
}

run() { # $1 = A|B ; prints msgs/s
    start_server
    if [[ $1 == B ]]; then
        rm -f "$DATA/scrapes"
        scraper &
        SCRAPER=$!
    fi
    local json
    json=$("$LOADGEN" "${LOAD[@]}" --url "nats://127.0.0.1:$PORT" --duration "$SECS" --json --quiet)
    if [[ -n $SCRAPER ]]; then
        kill "$SCRAPER" 2>/dev/null || true
        wait "$SCRAPER" 2>/dev/null || true
        SCRAPER=
        echo "scrape-cost.sh: B run made $(cat "$DATA/scrapes" 2>/dev/null || echo '?') scrape pairs in ${SECS} s" >&2
    fi
    stop_server
    echo "$json" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["msgs_per_s"])'
}

A=()
B=()
for r in $(seq "$ROUNDS"); do
    a=$(run A)
    b=$(run B)
    A+=("$a")
    B+=("$b")
    printf 'round %d  quiet %12.0f msgs/s   scraped every %d ms %12.0f msgs/s\n' "$r" "$a" "$PERIOD_MS" "$b"
done
python3 - "${A[*]}" "${B[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"median quiet   {ma:12.0f} msgs/s  (min {min(a):.0f}, max {max(a):.0f})")
print(f"median scraped {mb:12.0f} msgs/s  (min {min(b):.0f}, max {max(b):.0f})")
print(f"scraped / quiet = {mb / ma:.3f}; quiet run-to-run spread = {(max(a) - min(a)) / ma:.1%}")
PY
