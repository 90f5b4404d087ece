"""Seeds the fuzz corpora from real traffic: runs a nats-py workload (core pub/sub, headers,
JetStream streams, consumers, pull/fetch, message get/delete, purge, KV) through a recording
proxy in front of a server, and writes what the client sent as protocol_parser seeds, its
CONNECT JSON as connect_json seeds, its $JS.API bodies as js_api_request seeds and its header
blocks as headers seeds. Against natrix with a store dir, the segment and index files it
wrote become record_decoder seeds.

Usage: capture.py UPSTREAM_PORT CORPUS_DIR [STORE_DIR]
(run by fuzz/seeds/seed.sh; nats-py 2.16 from .venv)
"""

import asyncio
import hashlib
import os
import re
import sys

import nats

UP_PORT = int(sys.argv[1])
CORPUS = sys.argv[2]
STORE = sys.argv[3] if len(sys.argv) > 3 else None
captured = []


def save(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


async def proxy_conn(reader, writer):
    up_r, up_w = await asyncio.open_connection("127.0.0.1", UP_PORT)
    log = bytearray()
    captured.append(log)

    async def pump(src, dst, record):
        try:
            while True:
                b = await src.read(65536)
                if not b:
                    break
                if record:
                    log.extend(b)
                dst.write(b)
                await dst.drain()
        except Exception:
            pass
        finally:
            dst.close()

    await asyncio.gather(pump(reader, up_w, True), pump(up_r, writer, False))


async def workload(url):
    nc = await nats.connect(url, name="seed")
    sub = await nc.subscribe("seed.>", queue="q")
    await nc.publish("seed.a", b"hello", reply="seed.reply")
    await nc.publish("seed.h", b"with headers", headers={"X-Foo": "bar", "Nats-Msg-Id": "m1"})
    await nc.flush()
    await sub.unsubscribe()
    js = nc.jetstream()
    await js.add_stream(name="SEED", subjects=["seed.js.>"], max_msgs=1000, max_age=3600,
                        allow_direct=True, description="seed stream")
    await js.update_stream(name="SEED", subjects=["seed.js.>"], max_msgs=2000,
                           allow_direct=True)
    for i in range(40):
        await js.publish(f"seed.js.{i % 2}", f"m{i}".encode() * (i + 1),
                         headers={"Nats-Msg-Id": f"id{i}"})
    await js.publish("seed.js.ttl", b"x", headers={"Nats-Expected-Last-Sequence": "40"})
    await js.stream_info("SEED")
    await js.get_msg("SEED", seq=1)
    await js.get_msg("SEED", subject="seed.js.1")
    await js.get_msg("SEED", seq=1, subject="seed.js.>", next=True)
    await js.get_msg("SEED", seq=1, direct=True)
    await js.delete_msg("SEED", 2)
    await js.add_consumer("SEED", durable_name="pull", ack_policy="explicit",
                          max_ack_pending=10, filter_subject="seed.js.>")
    psub = await js.pull_subscribe("seed.js.>", durable="pull", stream="SEED")
    msgs = await psub.fetch(3, timeout=2)
    for m in msgs:
        await m.ack()
    try:
        await psub.fetch(100, timeout=0.5)
    except Exception:
        pass
    push = await js.subscribe("seed.js.0", stream="SEED", ordered_consumer=True)
    await push.next_msg(timeout=2)
    await push.unsubscribe()
    await js.consumer_info("SEED", "pull")
    await js.delete_consumer("SEED", "pull")
    snapshot_store()
    await js.purge_stream("SEED", subject="seed.js.1")
    await js.purge_stream("SEED", keep=1)
    kv = await js.create_key_value(bucket="SEEDKV", history=3)
    await kv.put("k1", b"v1")
    await kv.put("k1", b"v2")
    await kv.get("k1")
    await kv.delete("k1")
    await kv.purge("k1")
    try:
        await js.stream_info("NOPE")
    except Exception:
        pass
    await nc.close()
    await asyncio.sleep(0.3)
    snapshot_store()


def snapshot_store():
    """The store's segment and index files as they are now."""
    if not STORE:
        return
    for root, _, files in os.walk(STORE):
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            if f.endswith(".seg") and len(data) < 64 * 1024:
                save("record_decoder", b"\x00" + data)
            elif f.endswith(".idx"):
                save("record_decoder", b"\x02" + data)


def extract(log):
    """Walks the client's bytes: CONNECT JSON, $JS.API bodies, header blocks."""
    pos = 0
    while pos < len(log):
        nl = log.find(b"\n", pos)
        if nl < 0:
            return
        line = bytes(log[pos:nl]).rstrip(b"\r")
        pos = nl + 1
        parts = line.split()
        if not parts:
            continue
        op = parts[0].upper()
        if op == b"CONNECT":
            save("connect_json", line[len(b"CONNECT "):])
        elif op in (b"PUB", b"HPUB"):
            size = int(parts[-1])
            hdr = int(parts[-2]) if op == b"HPUB" else 0
            msg = bytes(log[pos:pos + size])
            pos += size + 2
            headers, body = msg[:hdr], msg[hdr:]
            subject = parts[1]
            if hdr:
                save("headers", b"\x00\x0bNats-Msg-Id" + headers)
            if subject.startswith(b"$JS.API."):
                save("js_api_request", b"\x0c" + subject + b"\n" + body)
                sel = selector(subject)
                if sel is not None:
                    save("js_api_request", bytes([sel]) + body)


def selector(subject):
    s = subject.decode()
    for pat, sel in [
        (r"\$JS\.API\.STREAM\.CREATE\.", 2),
        (r"\$JS\.API\.STREAM\.UPDATE\.", 1),
        (r"\$JS\.API\.STREAM\.INFO\.", 3),
        (r"\$JS\.API\.STREAM\.PURGE\.", 4),
        (r"\$JS\.API\.STREAM\.MSG\.DELETE\.", 5),
        (r"\$JS\.API\.STREAM\.MSG\.GET\.", 6),
        (r"\$JS\.API\.DIRECT\.GET\.", 7),
        (r"\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.", 8),
        (r"\$JS\.API\.CONSUMER\.MSG\.NEXT\.", 10),
        (r"\$JS\.API\.CONSUMER\.(NAMES|LIST)\.", 11),
    ]:
        if re.match(pat, s):
            return sel
    return None


async def main():
    server = await asyncio.start_server(proxy_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await workload(f"nats://127.0.0.1:{port}")
    await asyncio.sleep(0.3)
    server.close()
    for log in captured:
        # limits byte 8 = 4096-byte control lines, 1 MiB payloads; no extra chunking.
        save("protocol_parser", b"\x08\x00" + bytes(log))
        # The same bytes in 7-byte chunks.
        save("protocol_parser", b"\x08\x01\x07" + bytes(log))
        extract(log)


asyncio.run(main())
