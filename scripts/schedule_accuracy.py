"""Message schedule firing accuracy, for scripts/schedule-bench.sh.

Publishes --count one-shot schedules (`Nats-Schedule: @at <RFC 3339 with ms>`) to a file stream
with allow_msg_schedules, due evenly over --window seconds starting --lead seconds after the
first publish, so all are pending before the first one is due. Then reads every produced
message (a pull consumer on the targets) and takes its lateness as the stream timestamp of the
produced message minus its due time: when the server stored it, not when a client saw it.
Prints one JSON line: count, p50/p99/max/min lateness in ms, duplicates, missing.
127.0.0.1 only.
"""

import argparse
import asyncio
import datetime
import json
import time

import nats
from nats.js.api import ConsumerConfig


def rfc3339(ns: int) -> str:
    secs, rem = divmod(ns, 1_000_000_000)
    t = datetime.datetime.fromtimestamp(secs, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{rem:09d}Z"


def ack_ts_ns(reply: str) -> int:
    # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (or the v2 form
    # with domain and account hash in front).
    tokens = reply.split(".")
    return int(tokens[7] if len(tokens) == 9 else tokens[9])


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--lead", type=float, default=15.0)
    ap.add_argument("--window", type=float, default=10.0)
    args = ap.parse_args()
    nc = await nats.connect(args.url)
    js = nc.jetstream(timeout=30)
    r = await nc.request(
        "$JS.API.STREAM.CREATE.SCHED",
        json.dumps({"name": "SCHED", "subjects": ["sched.>"], "allow_msg_schedules": True}).encode(),
        timeout=10,
    )
    if b'"error"' in r.data:
        raise SystemExit(f"stream create: {r.data!r}")
    first_due = time.time_ns() + int(args.lead * 1e9)
    step = int(args.window * 1e9 / args.count)
    due = [first_due + i * step for i in range(args.count)]
    inbox = nc.new_inbox()
    acked = 0
    errors = 0
    done = asyncio.Event()

    async def on_ack(msg):
        nonlocal acked, errors
        acked += 1
        if b'"error"' in msg.data:
            errors += 1
        if acked == args.count:
            done.set()

    await nc.subscribe(inbox, cb=on_ack)
    for i in range(args.count):
        await nc.publish(
            f"sched.s.{i}",
            b"x",
            reply=inbox,
            headers={
                "Nats-Schedule": "@at " + rfc3339(due[i]),
                "Nats-Schedule-Target": f"sched.out.{i}",
            },
        )
        if i % 500 == 499:
            await nc.flush()
    await asyncio.wait_for(done.wait(), timeout=60)
    published_by = time.time_ns()
    if errors or published_by >= first_due:
        raise SystemExit(
            f"publish: {errors} errors, done {(published_by - first_due) / 1e9:.1f}s after the first due time"
        )
    await asyncio.sleep((due[-1] - time.time_ns()) / 1e9 + 3)
    sub = await js.pull_subscribe(
        "sched.out.>", durable="lat", stream="SCHED", config=ConsumerConfig(ack_policy="none")
    )
    lateness = []
    seen = set()
    dups = 0
    while True:
        try:
            msgs = await sub.fetch(1000, timeout=2)
        except nats.errors.TimeoutError:
            break
        for m in msgs:
            i = int(m.subject.rsplit(".", 1)[1])
            if i in seen:
                dups += 1
            seen.add(i)
            lateness.append((ack_ts_ns(m.reply) - due[i]) / 1e6)
        if len(seen) == args.count:
            break
    lateness.sort()
    print(
        json.dumps(
            {
                "count": len(lateness),
                "p50_ms": round(pct(lateness, 50), 2),
                "p99_ms": round(pct(lateness, 99), 2),
                "max_ms": round(lateness[-1], 2) if lateness else None,
                "min_ms": round(lateness[0], 2) if lateness else None,
                "duplicates": dups,
                "missing": args.count - len(seen),
            }
        )
    )
    await nc.close()


asyncio.run(main())
