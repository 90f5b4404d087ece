"""The newer JetStream headers through nats-py: `Nats-TTL` (accepted, refused with 10165,
expiry), `Nats-Incr` counters (the ack's `val`, refusals) and `Nats-Required-Api-Level`.

Usage: newer_test.py nats://127.0.0.1:PORT   (run by tests/py_clients.rs; exit 0 = pass)
"""

import asyncio
import json
import sys
import time

import nats
import nats.js.errors

STEP_TIMEOUT = 10.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def main(url):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=STEP_TIMEOUT)

    async def api(subject, body=None, headers=None):
        payload = json.dumps(body).encode() if body is not None else b""
        r = await nc.request("$JS.API." + subject, payload, timeout=STEP_TIMEOUT, headers=headers)
        return json.loads(r.data)

    async def publish(subject, payload=b"", headers=None):
        r = await nc.request(subject, payload, timeout=STEP_TIMEOUT, headers=headers)
        return json.loads(r.data)

    level = nc._server_info.get("api_lvl")
    check(isinstance(level, int) and level >= 1, f"INFO api_lvl {level!r}")
    info = await api("INFO")
    check(info["api"]["level"] == level, f"api.level {info}")

    # Per-message TTL.
    r = await api("STREAM.CREATE.PT", {"name": "PT", "subjects": ["pt.>"], "allow_msg_ttl": True})
    check("error" not in r, f"create: {r}")
    ack = await js.publish("pt.a", b"x", headers={"Nats-TTL": "1s"})
    check(ack.seq == 1, f"ttl ack {ack}")
    for bad in ("500ms", "0", "-1"):
        try:
            await js.publish("pt.a", b"x", headers={"Nats-TTL": bad})
            raise AssertionError(f"Nats-TTL {bad} accepted")
        except nats.js.errors.APIError as e:
            check(e.err_code == 10165, f"Nats-TTL {bad}: {e}")
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        st = await js.stream_info("PT")
        if st.state.messages == 0:
            break
        check(time.monotonic() < deadline, "ttl message never expired")
        await asyncio.sleep(0.1)

    # Counters.
    r = await api("STREAM.CREATE.PK", {"name": "PK", "subjects": ["pk.>"], "allow_msg_counter": True})
    check("error" not in r, f"create counter: {r}")
    ack = await publish("pk.a", headers={"Nats-Incr": "41"})
    check(ack == {"stream": "PK", "seq": 1, "val": "41"}, f"incr ack {ack}")
    ack = await publish("pk.a", headers={"Nats-Incr": "1"})
    check(ack.get("val") == "42", f"incr ack {ack}")
    ack = await js.publish("pk.a", b"", headers={"Nats-Incr": "-2"})
    check(ack.seq == 3, f"js.publish of an increment {ack}")
    ack = await publish("pk.a", b"x", headers={"Nats-Incr": "1"})
    check(ack["error"]["err_code"] == 10170, f"payload {ack}")
    ack = await publish("pk.a", b"", headers={"Nats-Incr": "one"})
    check(ack["error"]["err_code"] == 10171, f"invalid {ack}")

    # The required API level.
    r = await api("STREAM.INFO.PK", headers={"Nats-Required-Api-Level": str(level + 1)})
    check(r.get("error", {}).get("err_code") == 10185, f"level {level + 1}: {r}")
    r = await api("STREAM.INFO.PK", headers={"Nats-Required-Api-Level": str(level)})
    check(r["state"]["messages"] == 3, f"level {level}: {r}")

    await nc.close()
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
