"""Key-Value through nats-py (2.16): the client that uses STREAM.MSG.GET (no allow_direct),
legacy ephemeral consumer creation and `deny_delete` buckets.

Usage: kv_test.py nats://127.0.0.1:PORT   (run by tests/py_clients.rs; exit 0 = pass)

Known nats-py quirks worked around (shared/docs/clients.md): its flush() can overtake pending
SUBs, so every live update is published on the watcher's own connection after the watch is
set up; its watch() may emit the "initial values done" marker (None) early, so initial values
are collected by content, not by the marker's position.
"""

import asyncio
import sys

import nats
import nats.errors
import nats.js.errors
from nats.js.kv import KV_DEL, KV_PURGE

STEP_TIMEOUT = 10.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def expect_raises(exc_type, coro, what):
    try:
        await asyncio.wait_for(coro, STEP_TIMEOUT)
    except exc_type:
        return
    raise AssertionError(f"{what}: expected {exc_type.__name__}")


async def watch_entries(watcher, n, what):
    """The next `n` entries of a watcher, skipping the None marker."""
    out = []
    while len(out) < n:
        e = await watcher.updates(timeout=STEP_TIMEOUT)
        if e is None:
            continue
        out.append(e)
    return out


def summary(e):
    return (e.key, e.value.decode() if e.value else "", e.operation, e.revision)


async def main(url):
    nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    js = nc.jetstream(timeout=STEP_TIMEOUT)

    # Bucket create / status / open.
    kv = await js.create_key_value(bucket="py", history=5, description="nats-py")
    st = await kv.status()
    check(st.bucket == "py", f"status bucket {st.bucket}")
    check(st.history == 5, f"status history {st.history}")
    check(st.values == 0, f"status values {st.values}")
    si = await js.stream_info("KV_py")
    check(si.config.subjects == ["$KV.py.>"], f"subjects {si.config.subjects}")
    check(si.config.max_msgs_per_subject == 5, "max_msgs_per_subject")
    check(si.config.deny_delete is True, "deny_delete")
    check(si.config.allow_rollup_hdrs is True, "allow_rollup_hdrs")
    await expect_raises(nats.js.errors.BucketNotFoundError, js.key_value("nope"), "open missing")
    kv = await js.key_value("py")

    # put / get / get by revision.
    r1 = await kv.put("a", b"v1")
    r2 = await kv.put("b", b"w1")
    r3 = await kv.put("a", b"v2")
    check((r1, r2, r3) == (1, 2, 3), f"revisions {(r1, r2, r3)}")
    e = await kv.get("a")
    check((e.key, e.value, e.revision) == ("a", b"v2", 3), f"get a: {e}")
    e = await kv.get("a", revision=1)
    check(e.value == b"v1", f"get a rev 1: {e}")
    await expect_raises(nats.js.errors.KeyNotFoundError, kv.get("a", revision=2), "rev of b as a")
    await expect_raises(nats.js.errors.KeyNotFoundError, kv.get("missing"), "get missing")
    await kv.put("x.y.z", b"dotted")
    check((await kv.get("x.y.z")).value == b"dotted", "dotted key")

    # create: only if absent; again after delete.
    rc = await kv.create("c", b"c1")
    check(rc == 5, f"create revision {rc}")
    await expect_raises(
        nats.js.errors.KeyWrongLastSequenceError, kv.create("c", b"c2"), "create existing"
    )
    await kv.delete("c")
    await expect_raises(nats.js.errors.KeyNotFoundError, kv.get("c"), "get after delete")
    rc = await kv.create("c", b"c3")
    check(rc == 7, f"create after delete revision {rc}")
    check((await kv.get("c")).value == b"c3", "value after re-create")

    # update with expected revision.
    ru = await kv.update("a", b"v3", last=3)
    check(ru == 8, f"update revision {ru}")
    await expect_raises(
        nats.js.errors.KeyWrongLastSequenceError, kv.update("a", b"v4", last=3), "stale update"
    )
    check((await kv.get("a")).value == b"v3", "value after failed update")

    # delete with expected revision.
    await expect_raises(nats.js.errors.APIError, kv.delete("b", last=1), "delete stale revision")
    await kv.delete("b", last=2)
    await expect_raises(nats.js.errors.KeyNotFoundError, kv.get("b"), "get after delete")

    # history, then purge collapses it.
    hist = await kv.history("a")
    check(
        [summary(h) for h in hist]
        == [("a", "v1", None, 1), ("a", "v2", None, 3), ("a", "v3", None, 8)],
        f"history a: {[summary(h) for h in hist]}",
    )
    await kv.purge("a")
    await expect_raises(nats.js.errors.KeyNotFoundError, kv.get("a"), "get after purge")
    hist = await kv.history("a")
    check(
        [(h.operation, h.revision) for h in hist] == [(KV_PURGE, 10)],
        f"history after purge: {[summary(h) for h in hist]}",
    )

    # keys: live keys only.
    keys = sorted(await kv.keys())
    check(keys == ["c", "x.y.z"], f"keys {keys}")
    st = await kv.status()
    # a: purge marker; b: v, DEL; c: c1, DEL, c3; x.y.z.
    check(st.values == 7, f"values {st.values}")

    # watch: initial values (latest per key), then live updates in order.
    w = await kv.watchall()
    initial = await watch_entries(w, 4, "initial")
    check(
        [summary(x) for x in initial]
        == [
            ("x.y.z", "dotted", None, 4),
            ("c", "c3", None, 7),
            ("b", "", KV_DEL, 9),
            ("a", "", KV_PURGE, 10),
        ],
        f"initial {[summary(x) for x in initial]}",
    )
    await kv.put("d", b"d1")
    await kv.delete("x.y.z")
    await kv.put("c", b"c4")
    live = await watch_entries(w, 3, "live")
    check(
        [summary(x) for x in live]
        == [("d", "d1", None, 11), ("x.y.z", "", KV_DEL, 12), ("c", "c4", None, 13)],
        f"live {[summary(x) for x in live]}",
    )
    await w.stop()

    # watch one key.
    wk = await kv.watch("d")
    first = await watch_entries(wk, 1, "watch d")
    check(summary(first[0]) == ("d", "d1", None, 11), f"watch d initial {summary(first[0])}")
    await kv.put("c", b"c5")
    await kv.put("d", b"d2")
    nxt = await watch_entries(wk, 1, "watch d live")
    check(summary(nxt[0]) == ("d", "d2", None, 15), f"watch d live {summary(nxt[0])}")
    await wk.stop()

    # Empty bucket: keys raises NoKeysError, watch sends only the marker.
    empty = await js.create_key_value(bucket="pyempty")
    await expect_raises(nats.js.errors.NoKeysError, empty.keys(), "keys of empty bucket")
    we = await empty.watchall()
    marker = await we.updates(timeout=STEP_TIMEOUT)
    check(marker is None, f"first update of an empty watch: {marker}")
    await we.stop()

    # Delete the bucket.
    check(await js.delete_key_value("pyempty"), "delete bucket")
    await expect_raises(nats.js.errors.BucketNotFoundError, js.key_value("pyempty"), "deleted")

    await nc.close()
    print("kv_test.py: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: kv_test.py nats://127.0.0.1:PORT", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
    except Exception as e:  # noqa: BLE001 - report any failure as exit 1 with its reason
        import traceback

        traceback.print_exc()
        print(f"kv_test.py: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
