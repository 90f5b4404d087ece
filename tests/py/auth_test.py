"""Authentication and permissions through nats-py: user/password, token, refused credentials,
and the error callback for a permissions violation (the connection stays usable).

Usage: auth_test.py USERS_URL TOKEN_URL   (run by tests/py_clients.rs; exit 0 = pass)
USERS_URL serves users alice/alice-pw and reader/reader-pw (publish denied, subscribe a.>);
TOKEN_URL requires the token s3cr3t.
"""

import asyncio
import sys

import nats
import nats.errors

STEP_TIMEOUT = 10.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def refused(url, what, **kw):
    try:
        nc = await asyncio.wait_for(
            nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **kw),
            STEP_TIMEOUT,
        )
    except asyncio.TimeoutError:
        raise AssertionError(f"{what}: connect timed out instead of being refused")
    except Exception as e:  # nats-py raises AuthorizationError or NoServersError around it
        text = f"{type(e).__name__}: {e}"
        check("authorization" in text.lower() or isinstance(e, nats.errors.NoServersError), f"{what}: {text}")
        return
    await nc.close()
    raise AssertionError(f"{what}: connection was accepted")


async def main(users_url, token_url):
    # user/password: a round trip works.
    nc = await nats.connect(users_url, user="alice", password="alice-pw")
    sub = await nc.subscribe("greet")
    await nc.flush()
    await nc.publish("greet", b"hi")
    msg = await sub.next_msg(timeout=STEP_TIMEOUT)
    check(msg.data == b"hi", f"greeting: {msg.data!r}")
    await refused(users_url, "wrong password", user="alice", password="nope")

    # A permissions violation reaches the error callback; the connection stays open.
    errors = []
    got_error = asyncio.Event()

    async def on_error(e):
        errors.append(str(e))
        got_error.set()

    reader = await nats.connect(
        users_url, user="reader", password="reader-pw", error_cb=on_error
    )
    await reader.publish("a.b", b"x")
    await asyncio.wait_for(got_error.wait(), STEP_TIMEOUT)
    check(
        # nats-py lowercases the server's text.
        any('permissions violation for publish to "a.b"' in e.lower() for e in errors),
        f"error callback got {errors}",
    )
    rsub = await reader.subscribe("a.>")
    await reader.flush()
    # nats-py's flush() can overtake a pending SUB (shared/docs/clients.md), and the reader
    # may not publish: publish from alice until the subscription is in place.
    msg = None
    for _ in range(40):
        await nc.publish("a.c", b"ok")
        await nc.flush()
        try:
            msg = await rsub.next_msg(timeout=0.25)
            break
        except nats.errors.TimeoutError:
            continue
    check(msg is not None and msg.data == b"ok", "reader receives on a.>")
    check(reader.is_connected, "reader still connected")
    await reader.close()
    await nc.close()

    # token
    tc = await nats.connect(token_url, token="s3cr3t")
    await tc.flush()
    await tc.close()
    await refused(token_url, "wrong token", token="nope")
    print("ok")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 60))
