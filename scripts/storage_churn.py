"""Storage churn on a NATS/JetStream server, for scripts/storage-churn-ab.sh.

Until --seconds have passed: create a file stream, create a few durable pull consumers, publish
to it, fetch and ack (each ack changes consumer state the server persists), delete the
consumers and the stream. Prints how many cycles it ran. 127.0.0.1 only.
"""

import argparse
import asyncio
import time

import nats
from nats.js.api import ConsumerConfig, StreamConfig


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--consumers", type=int, default=4)
    ap.add_argument("--msgs", type=int, default=50)
    args = ap.parse_args()
    nc = await nats.connect(args.url)
    js = nc.jetstream(timeout=10)
    end = time.monotonic() + args.seconds
    cycles = 0
    while time.monotonic() < end:
        name = f"CHURN{cycles}"
        await js.add_stream(StreamConfig(name=name, subjects=[f"churn.{cycles}.>"]))
        subs = []
        for c in range(args.consumers):
            await js.add_consumer(name, ConsumerConfig(durable_name=f"c{c}", ack_policy="explicit"))
            subs.append(await js.pull_subscribe_bind(f"c{c}", stream=name))
        for i in range(args.msgs):
            await js.publish(f"churn.{cycles}.x", b"x" * 64)
        for sub in subs:
            got = 0
            while got < args.msgs:
                for m in await sub.fetch(min(25, args.msgs - got), timeout=5):
                    await m.ack()
                    got += 1
        for c in range(args.consumers):
            await js.delete_consumer(name, f"c{c}")
        await js.delete_stream(name)
        cycles += 1
    await nc.close()
    print(f"churn cycles: {cycles}")


if __name__ == "__main__":
    asyncio.run(main())
