"""Operator-mode JWT auth through nats-py's `user_credentials=` (.creds files): a valid user
round-trips, each broken chain link is refused, and a permissions violation of the user JWT
reaches the error callback while the connection stays usable.

Usage: jwt_test.py URL FIXTURES_DIR   (run by tests/jwt_auth.rs; exit 0 = pass)
nats-py needs the `nkeys` package for .creds (`make test-deps` installs it).
"""

import asyncio
import os
import sys

try:
    import nkeys  # noqa: F401  (nats-py signs the nonce with it)
except ImportError:
    if os.environ.get("LOADGEN_REQUIRE_SERVER"):
        raise
    print("SKIP: python package nkeys missing (run `make test-deps`)")
    sys.exit(0)

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
    except Exception as e:
        text = f"{type(e).__name__}: {e}"
        check("authorization violation" in text.lower(), f"{what}: {text}")
        return
    await nc.close()
    raise AssertionError(f"{what}: connection was accepted")


async def main(url, fixtures):
    creds = lambda name: os.path.join(fixtures, name + ".creds")

    nc = await nats.connect(url, user_credentials=creds("alice"))
    sub = await nc.subscribe("greet")
    await nc.flush()
    await nc.publish("greet", b"hi")
    msg = await sub.next_msg(timeout=STEP_TIMEOUT)
    check(msg.data == b"hi", f"greeting: {msg.data!r}")
    await nc.close()

    for name in ["expired", "not_yet_valid", "revoked", "untrusted", "wrong_issuer_account"]:
        await refused(url, name, user_credentials=creds(name))

    errors = []
    got_error = asyncio.Event()

    async def on_error(e):
        errors.append(str(e))
        got_error.set()

    limited = await nats.connect(url, user_credentials=creds("limited"), error_cb=on_error)
    await limited.publish("nope", b"x")
    await asyncio.wait_for(got_error.wait(), STEP_TIMEOUT)
    check(
        any('permissions violation for publish to "nope"' in e.lower() for e in errors),
        f"errors: {errors}",
    )
    sub = await limited.subscribe("ok.>")
    await limited.flush()
    await limited.publish("ok.1", b"fine")
    msg = await sub.next_msg(timeout=STEP_TIMEOUT)
    check(msg.data == b"fine", f"allowed subject: {msg.data!r}")
    await limited.close()
    print("ok")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 60))
