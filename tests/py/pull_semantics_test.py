"""Pull consumer semantics through nats-py (2.16), as its own test suite exercises them:
max_deliver with NAKs, fetch()'s no_wait + expires first request, expired and abandoned pull
requests taking nothing.

Usage: pull_semantics_test.py nats://127.0.0.1:PORT   (run by tests/js_pull_semantics.rs;
exit 0 = pass)
"""

import asyncio
import json
import sys
import time

import nats
import nats.errors
from nats.js.api import ConsumerConfig

STEP_TIMEOUT = 10.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def max_deliver_with_naks(nc, js):
    """A message NAKed every time is delivered max_deliver (2) times, the next one follows,
    and the max-deliveries advisory is published (nats-server: delivery counts 1, 2)."""
    await js.add_stream(name="PYMD", subjects=["pymd"])
    advisories = []

    async def on_advisory(msg):
        advisories.append(json.loads(msg.data))

    await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.PYMD.md", cb=on_advisory)
    await nc.flush()
    psub = await js.pull_subscribe(
        "pymd", "md", config=ConsumerConfig(max_deliver=2, ack_wait=30)
    )
    await js.publish("pymd", b"bad")
    await js.publish("pymd", b"good")
    seen = []
    for _ in range(8):
        try:
            msgs = await psub.fetch(1, timeout=1)
        except nats.errors.TimeoutError:
            break
        for m in msgs:
            seen.append((m.data.decode(), m.metadata.num_delivered))
            if m.data == b"bad":
                await m.nak()
            else:
                await m.ack()
    bad = [d for (p, d) in seen if p == "bad"]
    check(bad == [1, 2], f"bad delivered {bad} (all: {seen})")
    check(("good", 1) in seen, f"next message never delivered: {seen}")
    deadline = time.monotonic() + 5
    while not advisories and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    check(len(advisories) == 1, f"advisories {advisories}")
    check(advisories[0]["stream_seq"] == 1, f"advisory {advisories[0]}")
    check(advisories[0]["deliveries"] == 2, f"advisory {advisories[0]}")
    info = await psub.consumer_info()
    check(info.num_ack_pending == 0, f"num_ack_pending {info.num_ack_pending}")
    await psub.unsubscribe()


async def fetch_no_wait_first_request(js):
    """fetch(3) with one message available returns it at once (its first request is
    no_wait + expires); messages published later are not taken by that request."""
    await js.add_stream(name="PYNW", subjects=["pynw"])
    psub = await js.pull_subscribe("pynw", "nw")
    await js.publish("pynw", b"one")
    t0 = time.monotonic()
    msgs = await psub.fetch(3, timeout=2)
    took = time.monotonic() - t0
    check([m.data for m in msgs] == [b"one"], f"fetched {msgs}")
    check(took < 1.0, f"fetch took {took:.3f}s (a long poll until expires?)")
    await msgs[0].ack()
    await js.publish("pynw", b"two")
    await js.publish("pynw", b"three")
    info = await psub.consumer_info()
    check(info.num_pending == 2, f"num_pending {info.num_pending}")
    check(info.num_ack_pending == 0, f"num_ack_pending {info.num_ack_pending}")
    msgs = await psub.fetch(2, timeout=2)
    check([m.data for m in msgs] == [b"two", b"three"], f"fetched {msgs}")
    check(all(m.metadata.num_delivered == 1 for m in msgs), "redelivered")
    await psub.unsubscribe()


async def expired_fetch_takes_nothing(js):
    """A message published just after a fetch timed out stays pending (not handed to the
    expired request). A few rounds may lose the race on a loaded machine."""
    await js.add_stream(name="PYEX", subjects=["pyex"])
    psub = await js.pull_subscribe("pyex", "ex")
    taken = 0
    for i in range(10):
        try:
            await psub.fetch(1, timeout=0.2)
            raise AssertionError("fetch on an empty consumer returned messages")
        except nats.errors.TimeoutError:
            pass
        await asyncio.sleep(0.004)
        await js.publish("pyex", f"m{i}".encode())
        info = await psub.consumer_info()
        if info.num_ack_pending:
            taken += 1
        # Take it (a fresh request), ack it.
        msgs = await psub.fetch(1, timeout=2)
        for m in msgs:
            await m.ack()
        await asyncio.sleep(0.05)
    check(taken <= 2, f"{taken} of 10 messages went to an expired request")
    await psub.unsubscribe()


async def abandoned_fetch_takes_nothing(js):
    """nats-py's own test: after unsubscribe() a pending message stays pending (nobody
    listens on the pull subscription's inbox any more)."""
    await js.add_stream(name="PYAB", subjects=["pyab"])
    for _ in range(100):
        await js.publish("pyab", b"test")
    sub = await js.pull_subscribe("pyab", "two", pending_msgs_limit=-1, pending_bytes_limit=-1)
    msgs = await sub.fetch(100, timeout=1)
    for m in msgs:
        await m.ack()
    check(len(msgs) == 100, f"fetched {len(msgs)}")
    await js.publish("pyab", b"last message")
    info = await sub.consumer_info()
    check(info.num_pending == 1, f"num_pending {info.num_pending}")
    await sub.unsubscribe()
    try:
        await sub.fetch(1, timeout=1)
        raise AssertionError("fetch after unsubscribe returned")
    except (nats.errors.TimeoutError, asyncio.TimeoutError):
        pass
    info = await js.consumer_info("PYAB", "two")
    check(info.num_pending == 1, f"num_pending {info.num_pending} after unsubscribe")
    check(info.num_ack_pending == 0, f"num_ack_pending {info.num_ack_pending}")
    check(info.delivered.stream_seq == 100, f"delivered {info.delivered}")


async def main(url):
    nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    js = nc.jetstream(timeout=STEP_TIMEOUT)
    await asyncio.wait_for(max_deliver_with_naks(nc, js), 30)
    await asyncio.wait_for(fetch_no_wait_first_request(js), 30)
    await asyncio.wait_for(expired_fetch_takes_nothing(js), 30)
    await asyncio.wait_for(abandoned_fetch_takes_nothing(js), 30)
    await nc.close()
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
