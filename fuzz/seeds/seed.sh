#!/usr/bin/env bash
# Regenerates seed inputs into $1 (default /tmp/natrix-seeds): a real nats-py session recorded
# through a proxy in front of a debug natrix (with 4 KiB segments, so sealed segments and
# index files appear), plus the hand-made seeds of tests/fuzz_corpus.rs. Merge them into the
# corpora with `cargo +nightly fuzz cmin <target> $1/<target>` (see README, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/natrix-seeds}
STORE=$(mktemp -d)
CFG=$(mktemp --suffix=.toml)
printf '[jetstream]\nmax_segment_bytes = 4096\n' > "$CFG"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cargo build --bin natrix
./target/debug/natrix --config "$CFG" --addr 127.0.0.1 --port "$PORT" --http-port 0 --cores 1 \
    --store-dir "$STORE" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$STORE" "$CFG"' EXIT
sleep 2
.venv/bin/python fuzz/seeds/capture.py "$PORT" "$OUT" "$STORE"
SEED_DIR="$OUT" cargo test --test fuzz_corpus -- --ignored write_hand_seeds
